//! The capability gateway at work: the fetcher plugin may read its notes
//! and run `echo`; everything else it asks for is denied, and every
//! decision lands in the audit log.

use std::path::Path;

use anyhow::{Context, Result};
use sharelife_core::Host;
use sharelife_core::audit::{Outcome, read_log, verify};

use crate::{section, show};

const FETCHER: &str = "examples.fetcher";

pub(crate) async fn run(host: &Host, work: &Path) -> Result<()> {
    section("gateway: default deny, scoped grants, every decision audited");
    let notes = work.join("data").join(FETCHER).join("notes");
    std::fs::create_dir_all(&notes)?;
    std::fs::write(notes.join("hello.txt"), "notes are readable")?;
    std::fs::write(notes.join("private-diary.txt"), "a deny rule covers this")?;
    std::fs::write(work.join("secret.txt"), "outside the grant")?;

    let ungranted = host.plugins().ungranted(FETCHER);
    println!(
        "  {FETCHER} requests {} capabilities the policy does not grant (they will be denied)",
        ungranted.len()
    );
    show(
        FETCHER,
        "read",
        "notes/hello.txt",
        host.call(FETCHER, "read", b"notes/hello.txt"),
    );
    show(
        FETCHER,
        "read",
        "notes/private-diary.txt",
        host.call(FETCHER, "read", b"notes/private-diary.txt"),
    );
    show(
        FETCHER,
        "read",
        "../../secret.txt",
        host.call(FETCHER, "read", b"../../secret.txt"),
    );
    let echo = br#"["echo","allowed by an argv-prefix grant"]"#;
    show(
        FETCHER,
        "run",
        "echo ...",
        host.call_async(FETCHER, "run", echo).await,
    );
    show(
        FETCHER,
        "run",
        "rm -rf /",
        host.call_async(FETCHER, "run", br#"["rm","-rf","/"]"#)
            .await,
    );
    show(
        FETCHER,
        "fetch",
        "http://169.254.169.254/",
        host.call_async(FETCHER, "fetch", b"http://169.254.169.254/")
            .await,
    );
    Ok(())
}

/// Prints the decisions in the audit log and verifies its hash chain.
pub(crate) fn show_audit_log(log: &Path) -> Result<()> {
    section("audit log: the gateway's decisions, hash-chained");
    let report = verify(log).with_context(|| format!("verifying {}", log.display()))?;
    for r in read_log(log)?.iter().filter(|r| r.event == "decision") {
        let outcome = match r.outcome {
            Outcome::Allow => "ALLOW",
            Outcome::Deny => "DENY ",
            Outcome::Info => "     ",
        };
        println!(
            "  #{:<3} {outcome} {:<17} {:<50} {}",
            r.seq, r.plugin, r.request, r.rule
        );
    }
    println!(
        "  {} records in {}; hash chain verified",
        report.records,
        log.display()
    );
    Ok(())
}
