//! `sharelife run`: boot a host from its config file, run a pipeline file
//! or call one handler, print what happened, and shut the host down.
//!
//! ```text
//! sharelife run [--config FILE] --pipeline FILE [--input JSON|@FILE] [--json]
//! sharelife run [--config FILE] --call ID HANDLER [--input JSON|@FILE] [--json]
//! sharelife run ... --follow
//! ```
//!
//! * **The host** is built from the host config (`--config`, default
//!   `./sharelife.toml`): its plugin folders are scanned, the enabled
//!   plugins loaded and started (a spinner on stderr while that happens,
//!   on a terminal only). A plugin that fails is a warning on stderr,
//!   unless the config says `strict = true`: then the run stops there.
//!   The config's `audit_log` records the run's gateway decisions and
//!   lifecycle changes; the host is always shut down at the end, which
//!   flushes it. Without `data_dir` / `temp_dir` in the config, plugins
//!   get fresh directories that are removed after the run.
//! * **A pipeline** (`--pipeline`; YAML, or JSON when the name ends in
//!   `.json`) is checked on its own before the host boots, then against
//!   the host, then run once on the input. Each plugin use's `config` in
//!   the file is handed to that plugin when it loads, unless the host
//!   config gives the plugin a config of its own (the host config wins).
//!   Steps are checked against the config's `[policy]`. Ctrl-C cancels the
//!   run at its next step boundary (twice quits at once).
//! * **A call** (`--call ID HANDLER`) calls one handler, sync or async.
//! * **The input** (`--input`) is passed as bytes, as written: JSON or
//!   any other text. `@FILE` passes a file's bytes, `@-` standard input.
//!   No `--input` is an empty input.
//! * **Output**: the report (each step's id, handler, status, attempts
//!   and duration, then the final output) or the handler's output, on
//!   stdout. Outputs are printed as text when they are UTF-8, else as hex
//!   (up to 64 bytes) or as a byte count. `--json` prints one JSON object
//!   instead: the pipeline report (`status`, `steps`, `outputs`, plus
//!   `final_output` and `boot`), or `plugin`, `handler`, `status`,
//!   `output`, `error` and `boot` for a call (outputs as strings when
//!   UTF-8, else as arrays of bytes).
//! * **Exit code** 0 when the pipeline ran to its end (`completed`, or
//!   `completed_with_skips`: skipping is a policy the file chose) or the
//!   handler returned; 1 when the run `failed` or was `cancelled`, the
//!   handler failed or does not exist, strict mode refused a plugin, or a
//!   file is missing or invalid.
//! * **`--follow`** keeps the host serving after the first run: it watches
//!   each plugin folder's symlinked ancestor (the install root's
//!   `current` link, for `~/.sharelife/current/plugins`) or, without one,
//!   the folder itself; when the link points elsewhere (an install,
//!   upgrade, removal or rollback flipped it), the host follows it with
//!   `Host::sync_generation` (new versions hot-swapped under live
//!   handles, removed plugins unloaded, added ones started; a failed swap
//!   keeps the old version serving), prints the sync report (`--json`: one
//!   JSON line), and runs the pipeline or call again. Ctrl-C stops it.
//! * **Isolation**: a plugin the config runs out of process
//!   (`isolation = "process"` under `[plugins."ID"]`, or `[sandbox] auto`
//!   at or below its risk label or a scan mismatch) is started by `sharelife_sandbox::Provider`
//!   in a sandboxed child, under its `limits` and `[sandbox] require`;
//!   when that cannot be done (runner missing, a requirement unmet) it
//!   fails like any plugin that does not load: a warning, or the end of
//!   the run under `strict = true`. It never runs in process instead.
//! * **Logs** of the host and the plugins are off; `RUST_LOG=info` (or
//!   any `tracing` filter) writes them to stderr.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use sharelife_core::audit::{AuditSink, Durability, FileSink};
use sharelife_core::host::discovery::discover;
use sharelife_core::host::{BootReport, ConfigError, HostConfig, ShutdownReport};
use sharelife_core::manifest::Problem;
use sharelife_core::pipeline::{
    CancelToken, Pipeline, PipelineError, PipelineFile, RunReport, RunStatus, StepStatus,
    human_duration as duration, output_text, selects,
};
use sharelife_core::{Host, HostBuilder, HostError, PluginState};

use crate::follow::{Follower, sync_json};
use crate::{Failure, progress};

/// The host config `run` reads when `--config` is not given.
const DEFAULT_CONFIG: &str = "sharelife.toml";

/// The command line of `sharelife run`.
#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("target")
        .required(true)
        .args(["pipeline", "call"])
))]
pub(crate) struct RunArgs {
    /// The host config (TOML) [default: ./sharelife.toml].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run this pipeline file (YAML, or JSON when it ends in .json).
    #[arg(long, value_name = "FILE")]
    pipeline: Option<PathBuf>,
    /// Call handler HANDLER of plugin ID.
    #[arg(long, num_args = 2, value_names = ["ID", "HANDLER"])]
    call: Option<Vec<String>>,
    /// The input, as written (JSON or any text), or @FILE for a file's bytes (@- for stdin) [default: empty].
    #[arg(long, value_name = "JSON|@FILE")]
    input: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Keep serving: follow each flip of the plugin folders' `current` link
    /// (sync the host, print the report, run the pipeline or call again) until Ctrl-C.
    #[arg(long)]
    follow: bool,
}

/// What to do once the host is up.
enum Target {
    /// Run this pipeline.
    Pipeline(Box<PipelineFile>),
    /// Call this handler.
    Call {
        /// The plugin's id.
        id: String,
        /// The handler's name.
        handler: String,
    },
}

/// Runs `sharelife run`.
pub(crate) fn run(args: RunArgs) -> Result<(), Failure> {
    init_logs();
    let config_path = config_path(args.config)?;
    let config = read_config(&config_path)?;
    let target = match (args.pipeline, args.call) {
        (Some(path), _) => Target::Pipeline(Box::new(read_pipeline(&path)?)),
        (None, Some(call)) => {
            let [id, handler]: [String; 2] = call
                .try_into()
                .map_err(|_| Failure::new("--call takes two values: ID HANDLER"))?;
            Target::Call { id, handler }
        }
        (None, None) => return Err(Failure::new("give --pipeline FILE or --call ID HANDLER")),
    };
    let input = read_input(args.input.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(execute(config, target, &input, args.json, args.follow))
}

/// `tracing` output to stderr, off unless `RUST_LOG` asks for it.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    // Fails only if a subscriber is set already, which is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .compact()
        .try_init();
}

/// `--config`, or `./sharelife.toml` when it exists.
fn config_path(given: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(path) = given {
        return Ok(path);
    }
    let default = Path::new(".").join(DEFAULT_CONFIG);
    if default.is_file() {
        Ok(default)
    } else {
        Err(Failure::new(format!(
            "no host config: {} does not exist",
            default.display()
        ))
        .hint("pass --config FILE (a host config TOML; `sharelife validate FILE` checks one)"))
    }
}

/// Reads and checks the host config.
fn read_config(path: &Path) -> Result<HostConfig, Failure> {
    HostConfig::load(path).map_err(|e| match e {
        ConfigError::Io { .. } => Failure::new(e.to_string())
            .hint("check the path given to --config (a host config TOML)"),
        ConfigError::Invalid { file, problems } => Failure::new(format!(
            "invalid host config {file}: {}",
            count(problems.len(), "problem")
        ))
        .details(problems.iter().map(ToString::to_string).collect())
        .hint("fix the config; `sharelife validate FILE` checks it without running anything"),
        other => Failure::new(format!("invalid host config {other}"))
            .hint("fix the config; `sharelife validate FILE` checks it without running anything"),
    })
}

/// Reads a pipeline file and checks what needs no host.
fn read_pipeline(path: &Path) -> Result<PipelineFile, Failure> {
    let file = PipelineFile::from_path(path).and_then(|file| file.check().map(|()| file));
    file.map_err(|e| match e {
        PipelineError::Io { .. } => {
            Failure::new(e.to_string()).hint("check the path given to --pipeline")
        }
        PipelineError::Invalid { origin, problems } => Failure::new(format!(
            "invalid pipeline {origin}: {}",
            count(problems.len(), "problem")
        ))
        .details(problem_lines(&origin, &problems))
        .hint("fix the file; `sharelife validate FILE` checks it without running anything"),
        other => Failure::new(other.to_string())
            .hint("fix the file; `sharelife validate FILE` checks it without running anything"),
    })
}

/// The input bytes: the argument itself, `@FILE`, or `@-` (stdin).
fn read_input(input: Option<&str>) -> Result<Vec<u8>, Failure> {
    let hint = "--input takes the input itself, or @FILE for a file's bytes (@- for stdin)";
    match input {
        None => Ok(Vec::new()),
        Some("@-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| Failure::new(format!("cannot read the input from stdin: {e}")))?;
            Ok(bytes)
        }
        Some(text) => match text.strip_prefix('@') {
            Some(file) => std::fs::read(file).map_err(|e| {
                Failure::new(format!("cannot read input file {file}: {e}")).hint(hint)
            }),
            None => Ok(text.as_bytes().to_vec()),
        },
    }
}

/// The host's settings and the directory to remove after.
struct Setup {
    /// The host's builder, configured.
    builder: HostBuilder,
    /// The plugin folders, named in hints.
    folders: Vec<PathBuf>,
    /// Data and temp directories made for this run, removed when dropped.
    _scratch: Option<tempfile::TempDir>,
}

impl Setup {
    /// Builds the host's settings from `config` and, for a pipeline, the
    /// plugin configs the file gives.
    fn new(mut config: HostConfig, target: &Target) -> Result<Self, Failure> {
        // The config joins each relative folder to its own folder: `./`
        // (the default config) and `./plugins` made `././plugins`, which
        // discovery, warnings and hints then showed. `components()` drops
        // every `.` but a leading one, lexically: the same folders.
        config.plugin_paths = config
            .plugin_paths
            .iter()
            .map(|p| p.components().collect())
            .collect();
        let folders = config.plugin_paths.clone();
        // The plugins the host config configures itself: it wins.
        let configured: BTreeSet<String> = config
            .plugins
            .iter()
            .filter(|(_, s)| s.config.is_some())
            .map(|(id, _)| id.to_string())
            .collect();
        let audit_log = config.audit_log.take();
        let (data_dir, temp_dir) = (config.data_dir.clone(), config.temp_dir.clone());
        // `isolation = "process"` and `[sandbox] auto` start plugins in a
        // sandboxed child; the runner is found at each start.
        let mut builder = Host::builder()
            .config(config)
            .isolation_provider(Arc::new(sharelife_sandbox::Provider::new()));

        let scratch = if data_dir.is_none() || temp_dir.is_none() {
            Some(
                tempfile::Builder::new()
                    .prefix("sharelife-run-")
                    .tempdir()
                    .map_err(|e| {
                        Failure::new(format!("cannot create a scratch directory: {e}"))
                            .hint("set data_dir and temp_dir in the host config")
                    })?,
            )
        } else {
            None
        };
        match (data_dir, &scratch) {
            (Some(_), _) => {}
            (None, Some(scratch)) => builder = builder.data_root(scratch.path().join("data")),
            (None, None) => unreachable!("a scratch directory is made when data_dir is unset"),
        }
        if let (None, Some(scratch)) = (temp_dir, &scratch) {
            builder = builder.temp_root(scratch.path().join("tmp"));
        }

        // One sink for the host, and so for its pipelines' step decisions.
        if let Some(log) = audit_log {
            let sink: Arc<dyn AuditSink> =
                Arc::new(FileSink::open(&log, Durability::GroupCommit).map_err(|e| {
                    Failure::new(format!("cannot open the audit log {}: {e}", log.display()))
                        .hint("the log is verified when opened: move a damaged one aside")
                })?);
            builder = builder.audit_sink(Arc::clone(&sink));
        }

        if let Target::Pipeline(file) = target
            && file.plugins().any(|(_, c)| !c.is_null())
        {
            // Manifests only: no plugin code runs here.
            for found in discover(&folders).found {
                let id = found.manifest().id.to_string();
                if configured.contains(&id) {
                    continue;
                }
                if let Some((_, c)) = file
                    .plugins()
                    .find(|(selector, c)| selects(selector, &id) && !c.is_null())
                {
                    builder = builder.plugin_config(id, c.clone());
                }
            }
        }
        Ok(Setup {
            builder,
            folders,
            _scratch: scratch,
        })
    }
}

/// Boots the host, does the work, shuts the host down.
async fn execute(
    config: HostConfig,
    target: Target,
    input: &[u8],
    as_json: bool,
    follow: bool,
) -> Result<(), Failure> {
    let spinner = progress::spinner("scanning the plugin folders");
    let setup = Setup::new(config, &target).inspect_err(|_| spinner.finish_and_clear())?;
    // Watching from before the boot: a flip while it boots is followed too.
    let follower = if follow {
        Some(Follower::new(&setup.folders).map_err(|e| {
            spinner.finish_and_clear();
            Failure::from(e)
        })?)
    } else {
        None
    };
    let host = setup.builder.build().map_err(|e| {
        spinner.finish_and_clear();
        Failure::new(format!("cannot build the host: {e}"))
    })?;
    spinner.set_message("loading and starting plugins");
    let boot = match host.boot().await {
        Ok(boot) => boot,
        Err(e) => {
            spinner.finish_and_clear();
            host.shutdown().await;
            return Err(boot_failure(e));
        }
    };
    let t = &boot.timings;
    progress::done(
        &spinner,
        format!(
            "started {} in {}",
            count(boot.started.len(), "plugin"),
            duration(t.discover + t.resolve + t.load + t.start)
        ),
    );
    warn_boot(&boot);

    let mut outcome = run_target(&host, &target, &setup.folders, input, &boot, as_json).await;
    if let Some(follower) = follower {
        if let Err(f) = &outcome {
            print_failure(f);
        }
        outcome = follow_folders(
            &host,
            &target,
            &setup.folders,
            input,
            &boot,
            as_json,
            follower,
        )
        .await;
    }
    warn_shutdown(&host.shutdown().await);
    outcome
}

/// Runs the pipeline or makes the call, once.
async fn run_target(
    host: &Host,
    target: &Target,
    folders: &[PathBuf],
    input: &[u8],
    boot: &BootReport,
    as_json: bool,
) -> Result<(), Failure> {
    match target {
        Target::Pipeline(file) => run_pipeline(host, file, folders, input, boot, as_json).await,
        Target::Call { id, handler } => {
            call(host, id, handler, folders, input, boot, as_json).await
        }
    }
}

/// A failure printed as `main` prints one, for a run that goes on.
fn print_failure(f: &Failure) {
    eprintln!("error: {}", f.message);
    for line in &f.details {
        eprintln!("  {line}");
    }
    if let Some(hint) = &f.hint {
        eprintln!("hint: {hint}");
    }
}

/// `--follow`: syncs the host whenever a plugin folder resolves to another
/// directory (or, for a folder reached through no symlink, changes), then
/// runs the target again; until Ctrl-C.
async fn follow_folders(
    host: &Host,
    target: &Target,
    folders: &[PathBuf],
    input: &[u8],
    boot: &BootReport,
    as_json: bool,
    mut follower: Follower,
) -> Result<(), Failure> {
    eprintln!("following {} (Ctrl-C stops)", follower.watched_text());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            changed = follower.changed() => changed?,
        }
        match host.sync_generation().await {
            Ok(report) => {
                if as_json {
                    println!("{}", json!({ "sync": sync_json(&report) }));
                } else {
                    print!("{report}");
                }
            }
            Err(e) => eprintln!("warning: the host did not sync, nothing changed: {e}"),
        }
        if let Err(f) = run_target(host, target, folders, input, boot, as_json).await {
            print_failure(&f);
        }
    }
}

/// Strict mode's refusal (or another boot error) as one line and details.
fn boot_failure(e: HostError) -> Failure {
    match e {
        HostError::Strict { failures } => Failure::new(format!(
            "strict mode: the host did not start because {} failed",
            count(failures.len(), "enabled plugin")
        ))
        .details(failures.iter().map(ToString::to_string).collect())
        .hint("fix or disable them ([plugins.\"ID\"] enabled = false), or set strict = false in the host config"),
        other => Failure::new(format!("the host did not start: {other}")),
    }
}

/// Plugins that did not come up, and files that are not plugins.
fn warn_boot(boot: &BootReport) {
    for s in &boot.skipped {
        eprintln!("warning: skipped {}: {}", s.path.display(), s.reason);
    }
    for f in &boot.failed {
        eprintln!(
            "warning: plugin {} did not start ({}): {}",
            f.id, f.stage, f.error
        );
    }
    for (id, reason) in &boot.held {
        eprintln!("warning: plugin {id} is inactive: {reason}");
    }
}

/// Plugins that did not stop or unload cleanly.
fn warn_shutdown(report: &ShutdownReport) {
    for id in &report.timed_out {
        eprintln!("warning: plugin {id} did not stop in time at shutdown");
    }
    for (id, error) in &report.failed {
        eprintln!("warning: plugin {id} failed at shutdown: {error}");
    }
}

/// The boot report as JSON.
fn boot_json(boot: &BootReport) -> Value {
    json!({
        "started": boot.started.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        "sandboxed": boot.sandboxed.iter().map(|(id, why)| json!({
            "plugin": id.as_str(),
            "why": why.to_string(),
        })).collect::<Vec<_>>(),
        "failed": boot.failed.iter().map(|f| json!({
            "plugin": f.id.as_str(),
            "stage": f.stage.to_string(),
            "error": f.error.to_string(),
        })).collect::<Vec<_>>(),
        "skipped": boot.skipped.iter().map(|s| json!({
            "path": s.path.display().to_string(),
            "reason": s.reason.to_string(),
        })).collect::<Vec<_>>(),
    })
}

/// Compiles `file` against the host, runs it once, prints the report.
async fn run_pipeline(
    host: &Host,
    file: &PipelineFile,
    folders: &[PathBuf],
    input: &[u8],
    boot: &BootReport,
    as_json: bool,
) -> Result<(), Failure> {
    let origin = file.origin();
    let pipeline: Pipeline = Pipeline::compile(file, host).map_err(|e| {
        let problems = e.problems();
        Failure::new(format!(
            "pipeline {origin} cannot run on this host: {}",
            count(problems.len(), "problem")
        ))
        .details(problem_lines(origin, &problems))
        .hint(format!(
            "every plugin it uses must be in the plugin folders ({}) and start; `sharelife validate {origin}` checks the file alone",
            folders
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;

    let token = CancelToken::new();
    let interrupt = tokio::spawn(cancel_on_ctrl_c(token.clone()));
    // Owned: the report outlives the pipeline, dropped next.
    let report = pipeline.run_with(input, Some(&token)).await.into_owned();
    interrupt.abort();
    // The compiled pipeline holds handles to its plugins: drop it so that
    // the shutdown closes their libraries at once.
    drop(pipeline);

    if as_json {
        let mut value = report.to_json();
        value["final_output"] = report.final_output().map_or(Value::Null, output_json);
        value["boot"] = boot_json(boot);
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    } else {
        print!("{report}");
    }
    match run_failure(&report) {
        None => Ok(()),
        Some(failure) => Err(failure),
    }
}

/// What a run that did not reach its end reports: the step that stopped
/// it and what to do about it; `None` when it ran to its end.
fn run_failure(report: &RunReport<'_>) -> Option<Failure> {
    let origin = report.origin();
    match report.status() {
        RunStatus::Completed | RunStatus::CompletedWithSkips => None,
        RunStatus::Failed => {
            // The step that stopped the run: the last one that failed or
            // was denied (the steps after it did not run).
            let stopped = report
                .steps()
                .filter(|s| matches!(s.status(), StepStatus::Failed | StepStatus::Denied))
                .last();
            let message = match &stopped {
                Some(step) => match step.error() {
                    Some(error) => format!(
                        "pipeline {origin} failed at step {:?}: {error}",
                        step.step_id()
                    ),
                    None => format!("pipeline {origin} failed at step {:?}", step.step_id()),
                },
                None => format!("pipeline {origin} failed"),
            };
            let hint = match &stopped {
                // A denial is never retried and no on_failure makes the
                // step run: only a grant does.
                Some(step) if step.status() == StepStatus::Denied => format!(
                    "the host's policy denied a capability plugin {} requests, so the step was not called (a denial is never retried); grant it in the host config's [policy] (`sharelife inspect` lists a plugin's requests)",
                    step.plugin_id()
                ),
                _ => "the step's on_failure stopped the run; `on_failure: skip` or `retry` goes on past it".to_owned(),
            };
            Some(Failure::new(message).hint(hint))
        }
        RunStatus::Cancelled => Some(Failure::new(format!("pipeline {origin} was cancelled"))),
    }
}

/// Cancels `token` on Ctrl-C; a second Ctrl-C quits at once.
async fn cancel_on_ctrl_c(token: CancelToken) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("interrupted: the run stops at its next step boundary (Ctrl-C again quits at once)");
    token.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// Calls `handler` of plugin `id` and prints its output.
async fn call(
    host: &Host,
    id: &str,
    handler: &str,
    folders: &[PathBuf],
    input: &[u8],
    boot: &BootReport,
    as_json: bool,
) -> Result<(), Failure> {
    let handlers: Vec<String> = match (host.plugins().state(id), host.handle(id)) {
        (Some(PluginState::Active), Ok(handle)) => handle
            .manifest()
            .handlers
            .iter()
            .map(|h| h.name.clone())
            .collect(),
        _ => return Err(not_running(host, id, folders)),
    };
    if !handlers.iter().any(|h| h == handler) {
        return Err(
            Failure::new(format!("plugin {id:?} has no handler {handler:?}")).hint(
                if handlers.is_empty() {
                    "it has no handlers".to_owned()
                } else {
                    format!("its handlers: {}", handlers.join(", "))
                },
            ),
        );
    }
    let result = host.call_async(id, handler, input).await;
    if as_json {
        let (status, output, error) = match &result {
            Ok(out) => ("completed", output_json(out), Value::Null),
            Err(e) => ("failed", Value::Null, Value::String(call_error(e))),
        };
        let value = json!({
            "plugin": id,
            "handler": handler,
            "status": status,
            "output": output,
            "error": error,
            "boot": boot_json(boot),
        });
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    }
    match result {
        Ok(out) => {
            if !as_json && !out.is_empty() {
                let text = output_text(&out);
                if text.ends_with('\n') {
                    print!("{text}");
                } else {
                    println!("{text}");
                }
            }
            Ok(())
        }
        Err(e) => Err(Failure::new(format!(
            "{id}.{handler} failed: {}",
            call_error(&e)
        ))),
    }
}

/// What a failed call says: the plugin's error without the host's prefix.
fn call_error(e: &HostError) -> String {
    match e {
        HostError::Call { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

/// Why plugin `id` cannot be called, and what is there instead.
fn not_running(host: &Host, id: &str, folders: &[PathBuf]) -> Failure {
    if let Some(status) = host.plugins().status(id) {
        let why = status
            .reason
            .map(|r| r.to_string())
            .or_else(|| status.last_error.map(|e| e.to_string()))
            .unwrap_or_else(|| "it did not start".to_owned());
        return Failure::new(format!(
            "plugin {id:?} is not running ({}): {why}",
            status.state
        ))
        .hint("the warnings above say why it did not start");
    }
    let loaded: Vec<String> = host
        .plugins()
        .list()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    let folders = folders
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Failure::new(format!("no plugin {id:?} is loaded")).hint(if loaded.is_empty() {
        format!("no plugin was found in the plugin folders ({folders}); put built plugin libraries there")
    } else {
        format!("loaded: {}", loaded.join(", "))
    })
}

/// Pipeline problems as `file:line: path: message`.
fn problem_lines(origin: &str, problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| p.clone().in_file(origin).to_string())
        .collect()
}

/// An output in JSON: a string when it is UTF-8, else an array of bytes
/// (as in [`RunReport::to_json`](sharelife_core::pipeline::RunReport::to_json)).
fn output_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!(bytes),
    }
}

/// `1 problem`, `2 problems`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use sharelife_core::manifest::{Capability, FileAccess, Handler, Manifest};
    use sharelife_core::pipeline::{Pipeline, PipelineFile};
    use sharelife_core::{Buffer, HandlerId, Host, Plugin, PluginContext, PluginError};

    use super::run_failure;

    /// Echoes; its manifest requests a file read.
    struct Reader;

    impl Plugin for Reader {
        fn call(
            &self,
            _: &PluginContext,
            _: HandlerId,
            input: &[u8],
            out: &mut Buffer,
        ) -> Result<(), PluginError> {
            out.extend_from_slice(input);
            Ok(())
        }
    }

    /// The run of a pipeline whose step `read` (with `on_failure`) is
    /// denied by the host's policy (it grants nothing).
    async fn denied_run(on_failure: &str) -> Option<crate::Failure> {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = Manifest::new(
            "acme.reader".parse().unwrap(),
            "1.0.0".parse().unwrap(),
            "^0.1".parse().unwrap(),
        );
        manifest.handlers.push(Handler::new("run", false));
        manifest.capabilities.push(Capability::File {
            access: FileAccess::Read,
            path: "notes/*.txt".into(),
        });
        let host = Host::builder()
            .data_root(dir.path().join("data"))
            .temp_root(dir.path().join("tmp"))
            .build()
            .unwrap();
        let id = host.add(manifest, Box::new(Reader)).await.unwrap();
        host.start(&id).await.unwrap();
        let file = PipelineFile::from_yaml(
            "denied.yaml",
            &format!(
                "schema_version: sharelife.pipeline.v1\nplugins:\n  - {{ alias: reader, plugin: acme.reader }}\nsteps:\n  - {{ step_id: read, plugin_ref: reader, {on_failure} }}\n"
            ),
        )
        .unwrap();
        let pipeline: Pipeline = Pipeline::compile(&file, &host).unwrap();
        let report = pipeline.run(b"x").await.into_owned();
        drop(pipeline);
        let failure = run_failure(&report);
        host.unload(&id).await.unwrap();
        failure
    }

    #[tokio::test]
    async fn a_denied_step_is_named_and_the_hint_is_a_grant_not_a_retry() {
        for policy in [
            "on_failure: abort",
            "on_failure: retry, retry: { retries: 2, backoff_ms: 1 }",
        ] {
            let failure = denied_run(policy).await.expect("the run failed");
            assert_eq!(
                failure.message,
                "pipeline denied.yaml failed at step \"read\": denied: step \"read\" may not run: file read \"notes/*.txt\" by default deny: no grant of this kind",
                "{policy}"
            );
            let hint = failure.hint.unwrap();
            assert_eq!(
                hint,
                "the host's policy denied a capability plugin acme.reader requests, so the step was not called (a denial is never retried); grant it in the host config's [policy] (`sharelife inspect` lists a plugin's requests)"
            );
            assert!(!hint.contains("on_failure"), "{hint}");
        }
        // Skipping goes on past the denial: the run is no failure.
        assert!(denied_run("on_failure: skip").await.is_none());
    }
}
