//! One plugin out of process: `examples.upper` loaded with
//! `Isolation::Process` runs in a child of this very binary (the demo's
//! `main` calls `sharelife_sandbox::run_if_runner` first, so it is its
//! own sandbox runner), restricted by what the kernel gives, and answers
//! the host's calls from there. Where the kernel gives less (no Landlock,
//! no seccomp) the demo says so; where the child cannot start at all it
//! says why and goes on: the plugin is refused, never run in process.

use std::path::Path;

use anyhow::{Context, Result};
use sharelife_core::Host;
use sharelife_core::host::{Isolation, ProcessLimits};

use crate::{section, show};

const UPPER: &str = "examples.upper";

pub(crate) async fn run(host: &Host, work: &Path) -> Result<()> {
    section("sandbox: one plugin in a restricted child process");
    match host.sandbox_support() {
        Some(support) => println!("  the kernel gives: {support}"),
        None => println!("  no isolation provider is registered"),
    }
    let weaker: Vec<&str> = ["landlock", "seccomp"]
        .into_iter()
        .filter(|f| {
            host.sandbox_support()
                .is_none_or(|s| !s.features.iter().any(|have| have == f))
        })
        .collect();
    if !weaker.is_empty() {
        println!(
            "  (weaker here: without {} the child runs without that wall; a host config \
             with [sandbox] require = [\"landlock\", \"seccomp\"] would refuse it instead)",
            weaker.join(" and ")
        );
    }

    // Its own folder: the boot above loads every library of the plugin
    // folder in process.
    let library = stage_upper(&work.join("sandboxed"))?;
    let limits = ProcessLimits::from_toml(
        r#"memory = "1GiB"
        call_timeout = "10s"
        open_files = 64"#,
    )?;
    let before = children();
    if let Err(e) = host.load_with(&library, Isolation::Process(limits)).await {
        println!("  skipped: {UPPER} could not be started out of process: {e}");
        println!("  (it was refused, not run in the host's process)");
        return Ok(());
    }
    if let Err(e) = host.start(UPPER).await {
        println!("  skipped: {UPPER} did not start in its child: {e}");
        return Ok(());
    }
    let answer = host.call(UPPER, "run", b"from a child process");
    let answered = answer.is_ok();
    show(UPPER, "run", "from a child process", answer);
    if !answered {
        return Ok(());
    }
    let host_pid = std::process::id();
    match children().into_iter().find(|pid| !before.contains(pid)) {
        Some(child) => {
            println!(
                "  answered by pid {child} ({}), a child of the demo (pid {host_pid})",
                command_line(child)
            );
            let status =
                std::fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map_or("unknown".to_owned(), |v| v.trim().to_owned())
            };
            let seccomp = match field("Seccomp:").as_str() {
                "2" => "a seccomp filter".to_owned(),
                "0" => "no seccomp filter".to_owned(),
                other => format!("seccomp mode {other}"),
            };
            println!(
                "  the kernel says the child runs with {seccomp}, no_new_privs = {}, capabilities {}",
                field("NoNewPrivs:"),
                field("CapEff:")
            );
        }
        None => println!("  (the child's pid could not be read from /proc here)"),
    }
    Ok(())
}

/// Copies the `examples.upper` library cargo built next to the demo into
/// `dir`.
fn stage_upper(dir: &Path) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let file = format!(
        "{}example_upper{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe()?;
    let from = exe
        .parent()
        .context("the demo's directory")?
        .join("deps")
        .join(&file);
    let to = dir.join(&file);
    std::fs::copy(&from, &to).with_context(|| {
        format!(
            "{} is missing: run the demo with `cargo run -p sharelife-demo`",
            from.display()
        )
    })?;
    Ok(to)
}

/// The pids whose parent is this process (from `/proc/*/stat`).
fn children() -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid …`; comm may hold spaces and parens.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(me)
        })
        .collect()
}

/// The first two words of a process's command line (its program and the
/// runner's reserved argument).
fn command_line(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .take(2)
        .map(|w| {
            let word = String::from_utf8_lossy(w);
            Path::new(&*word)
                .file_name()
                .map_or(word.to_string(), |n| n.to_string_lossy().into_owned())
        })
        .collect();
    if words.is_empty() {
        "command line unreadable".to_owned()
    } else {
        words.join(" ")
    }
}
