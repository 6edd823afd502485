//! `sharelife doctor [--json]`: what this machine's kernel can give the
//! sandbox tier (`sharelife_sandbox::probe`: Landlock ABI, seccomp,
//! unprivileged user namespaces, the cgroup v2 group and its controllers)
//! and whether the sandbox runner binary is found, and where.
//!
//! The runner (`sharelife-sandbox-runner`) is found as
//! `sharelife_sandbox::locate_runner` finds it: the path in
//! `SHARELIFE_SANDBOX_RUNNER` when that is set, otherwise next to this
//! executable, otherwise one directory up. It is a binary of the
//! `sharelife-sandbox` crate: `cargo build -p sharelife-sandbox` puts it in
//! `target/<profile>/` beside `sharelife`, and `cargo install --path
//! sharelife-sandbox` beside an installed `sharelife`. Only reads; exits 0
//! whatever it finds.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use sharelife_sandbox::{RUNNER_ENV, SandboxError};

use crate::Failure;

/// `sharelife doctor`.
#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Where the runner is, or where it was looked for.
enum Runner {
    Found(PathBuf),
    Missing(Vec<PathBuf>),
}

fn runner() -> Result<Runner, Failure> {
    match sharelife_sandbox::locate_runner() {
        Ok(path) => Ok(Runner::Found(path)),
        Err(SandboxError::RunnerNotFound { searched }) => Ok(Runner::Missing(searched)),
        Err(e) => Err(Failure::new(format!("looking for the sandbox runner: {e}"))),
    }
}

/// Runs `sharelife doctor`.
pub(crate) fn run(args: DoctorArgs) -> Result<(), Failure> {
    let support = sharelife_sandbox::probe();
    let runner = runner()?;
    if args.json {
        let mut report = serde_json::to_value(&support)?;
        report["runner"] = match &runner {
            Runner::Found(path) => json!({
                "found": true,
                "path": path,
                "env": RUNNER_ENV,
            }),
            Runner::Missing(searched) => json!({
                "found": false,
                "path": null,
                "searched": searched,
                "env": RUNNER_ENV,
            }),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("{support}");
    match runner {
        Runner::Found(path) => println!("sandbox runner: {}", path.display()),
        Runner::Missing(searched) => {
            let looked: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
            println!(
                "sandbox runner: not found (looked at {})\n  build it with `cargo build -p sharelife-sandbox` \
                 (or `cargo install --path sharelife-sandbox` beside an installed sharelife), or set {RUNNER_ENV}",
                looked.join(", ")
            );
        }
    }
    Ok(())
}
