//! `sharelife`: the plugin author's and operator's command line.
//!
//! ```text
//! sharelife new NAME [--async] [--path DIR] [--force]   scaffold a plugin crate
//! sharelife validate FILE... [--json]                  check manifests, host configs and pipelines
//!               [--config FILE] [--plugins DIR]...     (pipelines also against real plugins and a policy)
//! sharelife inspect LIB|PKG.slpkg [--json]             read a built plugin or a package without running it
//!               [--format human|json|seed-v2]          (seed-v2: the seed market's manifest record)
//! sharelife run [--config FILE] --pipeline FILE        boot a host, run a pipeline on --input
//!               [--input JSON|@FILE] [--json]
//! sharelife run [--config FILE] --call ID HANDLER      boot a host, call one handler with --input
//!               [--input JSON|@FILE] [--json]
//! sharelife dev [PATH] [--config FILE] [--call HANDLER] hot-reload loop: rebuild on change, swap in
//!               [--input TEXT] [--release] [--json]
//! sharelife key generate --out PATH [--json]           PATH.key (secret, 0600) and PATH.pub
//! sharelife registry init DIR --root-key KEY           a new registry and its TUF root
//!               [--name NAME] [--json]
//! sharelife registry delegate DIR --root-key KEY       let a publisher key publish some ids
//!               --publisher PUB --ids GLOB... [--role NAME] [--json]
//! sharelife registry add NAME URL --root ROOT.json     add a registry, pinning its root
//!               [--json]                               (URL: file://, http(s)://, or a directory)
//! sharelife registry list [--json]                     the added registries
//! sharelife registry refresh DIR [--json]              re-sign snapshot and timestamp (cron)
//! sharelife registry site DIR --out SITE               the web market: a static site from the
//!               [--name NAME] [--host-api V]           verified index (works from file://)
//!               [--host-triple TRIPLE] [--json]
//! sharelife package [--path DIR] [--out DIR]           build release and write DIR/ID-VERSION.slpkg
//!               [--library FILE] [--target TRIPLE] [--json]
//! sharelife publish PKG --registry DIR --key KEY       validate, package, scan, label, catalog
//!               [--advisory-db DIR] [--json]
//! sharelife search [QUERY] [--registry NAME] [--json]  plugins in a registry (one request)
//! sharelife info ID [--registry NAME] [--json]         versions, risk, compatibility, evidence
//! sharelife verify ID[@VERSION|@RANGE]                 download and verify, install nothing
//!               [--registry NAME] [--out DIR] [--json]
//! sharelife yank ID@VERSION --registry DIR --key KEY   withdraw (or --undo) a version
//!               [--undo] [--json]
//! sharelife registry rekey DIR --root-key KEY          replace a publisher role's key
//!               --role NAME --publisher PUB [--json]
//! sharelife install ID[@RANGE]... [--registry NAME]    plan, show, confirm (y/N or --yes), apply
//!               [--yes] [--plan-out FILE]              (--plan-out: write the plan file only)
//! sharelife upgrade [ID...] [--yes] [--plan-out FILE]  installed plugins to their newest versions
//! sharelife remove ID... [--yes] [--plan-out FILE]     remove installed plugins
//! sharelife approve PLAN --key ADMIN_KEY               an admin signs exactly that plan
//! sharelife apply PLAN [--yes]                         apply a plan file (refused when stale)
//! sharelife list --installed                           the current generation's plugins
//! sharelife generations                                every generation, the current one marked
//! sharelife rollback [--to N]                          make the parent (or N) current again
//! sharelife open-url sharelife://install/ID@VERSION?registry=NAME
//!               [--plan-out FILE]                      a market deep link as an install plan
//!                                                      (never installs; apply it to install)
//!               (each install command: [--root DIR] [--json])
//! sharelife audit verify FILE [--json]                 check an audit log's hash chain
//! sharelife audit show FILE [--plugin ID]              the records that pass the filters
//!               [--capability KIND] [--outcome allow|deny|info] [--since 1h|RFC3339] [--json]
//! sharelife audit tail FILE [FILTERS] [-n N] [--json]  the last N records, then follow the log
//! sharelife run ... --follow                           keep serving; sync with each flip of the
//!                                                      plugin folder's `current` link
//! ```
//!
//! Client state (added registries, pinned roots, trusted metadata) lives
//! in `SHARELIFE_HOME` (default `~/.sharelife`). `--registry` is a
//! directory for the operator's and publisher's commands (`publish`,
//! `yank`) and an added registry's name for the user's (`search`,
//! `info`, `verify`; default: the only one added).
//!
//! The install commands work on an install root (`--root`, else
//! `SHARELIFE_HOME`, else `~/.sharelife`): generations, `current`, its
//! `install.toml` and audit log, and the registries added to it. `--yes`
//! never stands in for an admin: a plan that needs one is refused until
//! an admin approved its file (`--plan-out`, `approve`, `apply`).
//!
//! The same commands run as `cargo sharelife <command>` (the
//! `cargo-sharelife` binary drops the `sharelife` argument cargo adds).
//!
//! Exit codes: 0 success; 1 the input was refused or the run failed (an
//! invalid file, not a plugin, a missing host config, a pipeline that
//! `failed` or was `cancelled`, a handler that failed or does not exist,
//! a plugin that did not start in strict mode, a publish refused at a
//! stage, a registry refused for an attack, an unknown registry or plugin);
//! 2 the command line itself was wrong.
//!
//! Errors are one line on stderr, `error: ...`, sometimes followed by the
//! problems one per line and a `hint: ...` saying what to do.

// The `cargo-sharelife` binary includes this file as a module and
// glob-imports it at its root, so `crate::Failure` and `crate::progress`
// name the same items in both binaries: what the command modules use from
// here must be `pub(crate)`.
mod audit;
mod dev;
mod doctor;
pub(crate) mod follow;
mod inspect;
mod install;
mod new;
mod open_url;
pub(crate) mod progress;
mod registry;
mod run;
mod validate;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// sharelife: scaffold, validate, inspect and run native plugins.
#[derive(Parser, Debug)]
#[command(name = "sharelife", version, about, long_about = None, bin_name = "sharelife")]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new plugin crate (cdylib + rlib) with a handler, a README and a test.
    New {
        /// Crate name: lowercase letters, digits, '-' and '_', starting with a letter.
        name: String,
        /// Generate an async handler that uses the host's timer.
        #[arg(long = "async")]
        is_async: bool,
        /// Create the crate in DIR/NAME instead of ./NAME.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// Overwrite the directory if it exists.
        #[arg(long)]
        force: bool,
        /// Path to the sharelife-sdk crate to depend on (default: the one this CLI was built from).
        #[arg(long, value_name = "DIR")]
        sdk_path: Option<PathBuf>,
    },
    /// Validate plugin manifests, seed-format manifests (`plugin.manifest.v2`, a JSON object with `plugin_id`), host configs (`*.toml`) and pipelines (`*.yaml`, `*.yml`, pipeline `*.json`); every problem with file, line and path.
    Validate {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also check pipelines against the plugins this host config loads (read from the built libraries, not run) and its `[policy]`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Also check pipelines against the built plugins in DIR (repeatable).
        #[arg(long, value_name = "DIR")]
        plugins: Vec<PathBuf>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read a built plugin library, or a `.slpkg` package, without running its code.
    Inspect {
        /// The library (`.so`, `.dylib`, `.dll`) or package (`.slpkg`: also
        /// shows its label and scan evidence).
        library: PathBuf,
        /// Print the result as JSON (the same as `--format json`).
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// What to print: `human`, `json`, or `seed-v2` (the record the
        /// seed market's `plugin.manifest.v2` schema accepts).
        #[arg(long, value_enum, default_value_t = inspect::Format::Human)]
        format: inspect::Format,
        /// A host config: also say whether the plugin would run sandboxed
        /// (out of process) under it, and why (its `isolation`, or
        /// `[sandbox] auto` by its risk label or a scan mismatch).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Boot a host from its config, then run a pipeline or call one handler.
    Run(run::RunArgs),
    /// Watch a plugin crate: rebuild it on each change and hot-swap the new
    /// library into a running host; a failed build or start keeps the old one.
    Dev(dev::DevArgs),
    /// Signing keys for registries and publishers.
    #[command(subcommand)]
    Key(registry::KeyCommand),
    /// Run a registry (init, delegate, refresh) or add one to this client (add, list).
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Build a plugin crate (release) and write its deterministic `.slpkg`.
    Package(registry::PackageArgs),
    /// Publish a package to a registry directory: validate, package, scan, label, catalog.
    Publish(registry::PublishArgs),
    /// Search an added registry's plugins.
    Search(registry::SearchArgs),
    /// Show a plugin's versions, risk, capabilities, compatibility and scan evidence.
    Info(registry::InfoArgs),
    /// Download a plugin's package and verify it against the trusted metadata; install nothing.
    Verify(registry::VerifyArgs),
    /// Yank (or --undo) a published version.
    Yank(registry::YankArgs),
    /// Install plugins from a registry: plan, show, confirm, apply into a new generation.
    Install(install::InstallArgs),
    /// Move installed plugins (all, by default) to their newest compatible versions.
    Upgrade(install::UpgradeArgs),
    /// Remove installed plugins.
    Remove(install::RemoveArgs),
    /// Approve a plan file with an admin's key (binds exactly that plan).
    Approve(install::ApproveArgs),
    /// Apply a plan file (approved, when it needs an admin); refuses a stale one.
    Apply(install::ApplyArgs),
    /// List the installed plugins (the current generation's).
    List(install::ListArgs),
    /// List the install root's generations.
    Generations(install::GenerationsArgs),
    /// Make the current generation's parent (or --to N) current again.
    Rollback(install::RollbackArgs),
    /// Extension packs: export the current setup as one file, inspect one, apply one (--dry-run first).
    #[command(subcommand)]
    Pack(install::pack::PackCommand),
    /// Turn a web market link (`sharelife://install/ID@VERSION?registry=NAME`) into an install plan; installs nothing.
    OpenUrl(open_url::OpenUrlArgs),
    /// Verify, query or follow an audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// What the kernel gives the sandbox tier (Landlock, seccomp, user namespaces, cgroup v2) and where the sandbox runner is.
    Doctor(doctor::DoctorArgs),
}

/// A failure to report: one line, the problems behind it (if several),
/// plus a hint saying what to do.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The error line, printed after `error: `.
    pub(crate) message: String,
    /// Lines printed under it, indented: one problem each.
    pub(crate) details: Vec<String>,
    /// What to do, printed after `hint: `.
    pub(crate) hint: Option<String>,
}

impl Failure {
    /// A failure saying `message`.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }

    /// Adds what to do about it.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds the problems behind it, one line each.
    pub(crate) fn details(mut self, lines: Vec<String>) -> Self {
        self.details = lines;
        self
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::new(e.to_string())
    }
}

/// The name cargo gives this binary when it runs as `cargo sharelife`.
const CARGO_SUBCOMMAND: &str = "cargo-sharelife";

/// The arguments as the parser should see them: when this binary is
/// `cargo-sharelife` and cargo ran it as `cargo-sharelife sharelife ARGS`,
/// the `sharelife` cargo inserted is dropped.
fn arguments(bin_name: &str, mut args: Vec<OsString>) -> Vec<OsString> {
    if bin_name == CARGO_SUBCOMMAND && args.get(1).is_some_and(|a| a == "sharelife") {
        args.remove(1);
    }
    args
}

/// Parses the command line and runs the command (also the entry point of
/// the `cargo-sharelife` binary, which includes this file).
pub(crate) fn main() -> ExitCode {
    // Started by this binary as the runner of a sandboxed plugin: be it
    // (and exit). Otherwise this binary is its own runner, so a build of
    // sharelife-cli alone sandboxes. First, before any thread exists.
    sharelife_sandbox::run_if_runner();
    let bin_name = env!("CARGO_BIN_NAME");
    let args = arguments(bin_name, std::env::args_os().collect());
    let mut command = Cli::command();
    if bin_name == CARGO_SUBCOMMAND {
        command = command.bin_name("cargo sharelife");
    }
    let cli = Cli::from_arg_matches(&command.get_matches_from(args)).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::New {
            name,
            is_async,
            path,
            force,
            sdk_path,
        } => new::run(&name, is_async, path, force, sdk_path),
        Command::Validate {
            files,
            config,
            plugins,
            json,
        } => validate::run(&files, config.as_deref(), &plugins, json),
        Command::Inspect {
            library,
            json,
            format,
            config,
        } => inspect::run(
            &library,
            if json { inspect::Format::Json } else { format },
            config.as_deref(),
        ),
        Command::Run(args) => run::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Key(command) => registry::key(command),
        Command::Registry(command) => registry::registry(command),
        Command::Package(args) => registry::package(args),
        Command::Publish(args) => registry::publish(args),
        Command::Search(args) => registry::search(args),
        Command::Info(args) => registry::info(args),
        Command::Verify(args) => registry::verify(args),
        Command::Yank(args) => registry::yank(args),
        Command::Install(args) => install::install(args),
        Command::Upgrade(args) => install::upgrade(args),
        Command::Remove(args) => install::remove(args),
        Command::Approve(args) => install::approve(args),
        Command::Apply(args) => install::apply(args),
        Command::List(args) => install::list(args),
        Command::Generations(args) => install::generations(args),
        Command::Rollback(args) => install::rollback(args),
        Command::Pack(command) => install::pack::run(command),
        Command::OpenUrl(args) => open_url::run(args),
        Command::Audit(command) => audit::run(command),
        Command::Doctor(args) => doctor::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            for line in &f.details {
                eprintln!("  {line}");
            }
            if let Some(hint) = f.hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(1)
        }
    }
}
