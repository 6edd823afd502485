//! `sharelife doctor [--json]`: what this machine's kernel can give the
//! sandbox tier (`sharelife_sandbox::probe`: Landlock ABI, seccomp,
//! unprivileged user namespaces, the cgroup v2 group and its controllers),
//! the features a host's `[sandbox] require` may therefore ask for (the
//! host's own view, `sharelife_core::host::SandboxSupport`, which
//! `Host::sandbox_support` returns and the audit log records), and which
//! sandbox runner is used, and where.
//!
//! The runner is found as `sharelife_sandbox::Runner::locate` finds it:
//! the path in `SHARELIFE_SANDBOX_RUNNER` when that is set, otherwise this
//! executable (`sharelife` calls `sharelife_sandbox::run_if_runner` first
//! in `main`, so it is its own runner), otherwise a
//! `sharelife-sandbox-runner` binary next to it or one directory up (`cargo
//! build -p sharelife-sandbox` puts it in `target/<profile>/`). Only reads;
//! exits 0 whatever it finds.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use sharelife_core::host::SandboxSupport;
use sharelife_sandbox::{RUNNER_ENV, Runner, RunnerSource, SandboxError};

use crate::Failure;

/// `sharelife doctor`.
#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Where the runner is, or where it was looked for.
enum Found {
    Found(Runner),
    Missing(Vec<PathBuf>),
}

fn runner() -> Result<Found, Failure> {
    match Runner::locate() {
        Ok(runner) => Ok(Found::Found(runner)),
        Err(SandboxError::RunnerNotFound { searched }) => Ok(Found::Missing(searched)),
        Err(e) => Err(Failure::new(format!("looking for the sandbox runner: {e}"))),
    }
}

/// How the runner was found, as the JSON report names it.
fn source_name(source: RunnerSource) -> &'static str {
    match source {
        RunnerSource::Environment => "environment",
        RunnerSource::ThisExecutable => "this-executable",
        _ => "beside",
    }
}

/// Runs `sharelife doctor`.
pub(crate) fn run(args: DoctorArgs) -> Result<(), Failure> {
    let support = sharelife_sandbox::probe();
    let host_view = SandboxSupport::from(&support);
    let runner = runner()?;
    if args.json {
        let mut report = serde_json::to_value(&support)?;
        report["features"] = json!(host_view.features);
        report["runner"] = match &runner {
            Found::Found(runner) => json!({
                "found": true,
                "path": runner.path,
                "source": source_name(runner.source),
                "env": RUNNER_ENV,
            }),
            Found::Missing(searched) => json!({
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
    if host_view.features.is_empty() {
        println!("[sandbox] require may ask for: nothing (the kernel gives no sandbox feature)");
    } else {
        println!(
            "[sandbox] require may ask for: {}",
            host_view.features.join(", ")
        );
    }
    match runner {
        Found::Found(runner) => println!(
            "sandbox runner: {} ({})",
            runner.path.display(),
            runner.source
        ),
        Found::Missing(searched) => {
            let looked: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
            let hint = if std::env::var_os(RUNNER_ENV).is_some() {
                format!(
                    "{RUNNER_ENV} names no file: unset it (sharelife is its own runner), or point it \
                     at a runner built with `cargo build -p sharelife-sandbox`"
                )
            } else {
                format!(
                    "build it with `cargo build -p sharelife-sandbox` (or `cargo install --path \
                     sharelife-sandbox` beside an installed sharelife), or set {RUNNER_ENV}"
                )
            };
            println!(
                "sandbox runner: not found (looked at {})\n  {hint}",
                looked.join(", ")
            );
        }
    }
    Ok(())
}
