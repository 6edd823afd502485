//! The distribution commands: `key generate`, `package`, `publish`,
//! `registry init|delegate|rekey|add|list|refresh|site`, `search`, `info`, `verify`
//! and `yank`, each a thin layer over `sharelife_registry`.
//!
//! Every command takes `--json`: on success it prints one JSON object on
//! stdout; on a refusal it prints `{"ok": false, "error": …, "details": […],
//! "hint": …}` (plus `stage`, `attack`, `file` when the error has them) on
//! stdout *and* the usual `error: …` lines on stderr, and exits 1.
//!
//! Progress (building, publish stages, downloading) is a spinner on
//! stderr, drawn only on a terminal and never with `--json`.

mod errors;
pub(crate) mod evidence;
mod key;
mod operator;
mod package;
mod site;
mod user;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use serde_json::{Map, Value, json};

use crate::Failure;

pub(crate) use errors::Refusal;

/// `sharelife key …`.
#[derive(Subcommand, Debug)]
pub(crate) enum KeyCommand {
    /// Generate an Ed25519 key pair: OUT.key (secret, mode 0600) and OUT.pub.
    Generate {
        /// Path of the pair without extension: `keys/acme` writes
        /// `keys/acme.key` and `keys/acme.pub`. Existing files are never
        /// overwritten.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept packs signed by this public key in the install root (`sharelife pack apply`).
    Trust(super::install::pack::TrustArgs),
}

/// `sharelife registry …`.
#[derive(Subcommand, Debug)]
pub(crate) enum RegistryCommand {
    /// Create a registry (and its TUF root) in a new or empty directory.
    Init {
        /// The registry directory to create.
        dir: PathBuf,
        /// The offline root key (from `sharelife key generate`).
        #[arg(long, value_name = "FILE")]
        root_key: PathBuf,
        /// The registry's display name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Let a publisher key publish the ids matching the given globs.
    Delegate {
        /// The registry directory.
        dir: PathBuf,
        /// The registry's root key.
        #[arg(long, value_name = "FILE")]
        root_key: PathBuf,
        /// The publisher's public key (`NAME.pub`).
        #[arg(long, value_name = "FILE")]
        publisher: PathBuf,
        /// Id globs the publisher may publish, e.g. `acme.*` (repeatable).
        #[arg(long, value_name = "GLOB", required = true)]
        ids: Vec<String>,
        /// The publisher role's name (default: the public key file's stem).
        #[arg(long, value_name = "NAME")]
        role: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a registry to this client, pinning its root (never trust on first use).
    Add {
        /// A name for it (letters, digits, `-`, `_`, `.`).
        name: String,
        /// Its URL: `file://…`, `http(s)://…`, or a directory path.
        url: String,
        /// The registry's `root.json`, obtained from its operator out of band.
        #[arg(long, value_name = "FILE")]
        root: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the registries added to this client.
    List {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the key of a publisher role (a lost or rotated key); what it published stays valid.
    Rekey {
        /// The registry directory.
        dir: PathBuf,
        /// The registry's root key.
        #[arg(long, value_name = "FILE")]
        root_key: PathBuf,
        /// The publisher role (as `registry delegate` named it).
        #[arg(long, value_name = "NAME")]
        role: String,
        /// The role's new public key (`NAME.pub`).
        #[arg(long, value_name = "FILE")]
        publisher: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-sign the catalog, snapshot and timestamp with fresh expiry (run it from cron).
    Refresh {
        /// The registry directory.
        dir: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate the web market: a static site (catalogue and plugin pages) from the verified index.
    Site(SiteArgs),
}

/// `sharelife registry site`.
#[derive(Args, Debug)]
pub(crate) struct SiteArgs {
    /// The registry directory (with its `root.json`); only what verifies is shown.
    pub(crate) dir: PathBuf,
    /// Where to write the site (`index.html`, `plugins/`, `market.css`, `market.js`).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// The name users add the registry under, for install commands and links [default: the directory's name].
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// The default host's plugin-API version for "compatible with your host" [default: this build's].
    #[arg(long, value_name = "VERSION")]
    pub(crate) host_api: Option<String>,
    /// The default host's target triple [default: this machine's].
    #[arg(long, value_name = "TRIPLE")]
    pub(crate) host_triple: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `sharelife package`.
#[derive(Args, Debug)]
pub(crate) struct PackageArgs {
    /// The plugin crate's directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) path: PathBuf,
    /// Where to write `{id}-{version}.slpkg`.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub(crate) out: PathBuf,
    /// Package this built library instead of running `cargo build --release`.
    #[arg(long, value_name = "FILE")]
    pub(crate) library: Option<PathBuf>,
    /// The target triple to build for (and to file the library under).
    #[arg(long, value_name = "TRIPLE")]
    pub(crate) target: Option<String>,
    /// Also carry the crate's source (`source/`), so hosts of other target
    /// triples can build it at install when their install root allows it.
    #[arg(long)]
    pub(crate) include_source: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `sharelife publish`.
#[derive(Args, Debug)]
pub(crate) struct PublishArgs {
    /// The package file (`{id}-{version}.slpkg`).
    pub(crate) package: PathBuf,
    /// The registry directory (the operator's copy, with `private/`).
    #[arg(long, value_name = "DIR")]
    pub(crate) registry: PathBuf,
    /// The publisher's secret key.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// A RustSec advisory database directory to check the package's Cargo.lock against.
    #[arg(long, value_name = "DIR")]
    pub(crate) advisory_db: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `sharelife search`.
#[derive(Args, Debug)]
pub(crate) struct SearchArgs {
    /// Matched against ids, names, descriptions and keywords (empty: everything).
    #[arg(default_value = "")]
    pub(crate) query: String,
    /// The registry's name (default: the only one added).
    #[arg(long, value_name = "NAME")]
    pub(crate) registry: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `sharelife info`.
#[derive(Args, Debug)]
pub(crate) struct InfoArgs {
    /// The plugin id.
    pub(crate) id: String,
    /// The registry's name (default: the only one added).
    #[arg(long, value_name = "NAME")]
    pub(crate) registry: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `sharelife verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// `ID`, `ID@VERSION` or `ID@RANGE` (newest non-yanked match; an exact
    /// version may name a yanked one).
    pub(crate) spec: String,
    /// The registry's name (default: the only one added).
    #[arg(long, value_name = "NAME")]
    pub(crate) registry: Option<String>,
    /// Write the verified package into DIR (only after it verified).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `sharelife yank`.
#[derive(Args, Debug)]
pub(crate) struct YankArgs {
    /// `ID@VERSION`.
    pub(crate) spec: String,
    /// The registry directory (the operator's copy).
    #[arg(long, value_name = "DIR")]
    pub(crate) registry: PathBuf,
    /// The publisher's secret key.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Un-yank the version instead.
    #[arg(long)]
    pub(crate) undo: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `sharelife key …`.
pub(crate) fn key(command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Generate { out, json } => finish(json, key::generate(&out, json)),
        KeyCommand::Trust(args) => super::install::pack::trust(args),
    }
}

/// Runs `sharelife registry …`.
pub(crate) fn registry(command: RegistryCommand) -> Result<(), Failure> {
    match command {
        RegistryCommand::Init {
            dir,
            root_key,
            name,
            json,
        } => finish(json, operator::init(&dir, &root_key, name, json)),
        RegistryCommand::Delegate {
            dir,
            root_key,
            publisher,
            ids,
            role,
            json,
        } => finish(
            json,
            operator::delegate(&dir, &root_key, &publisher, &ids, role, json),
        ),
        RegistryCommand::Add {
            name,
            url,
            root,
            json,
        } => finish(json, user::add(&name, &url, &root, json)),
        RegistryCommand::Rekey {
            dir,
            root_key,
            role,
            publisher,
            json,
        } => finish(
            json,
            operator::rekey(&dir, &root_key, &role, &publisher, json),
        ),
        RegistryCommand::List { json } => finish(json, user::list(json)),
        RegistryCommand::Refresh { dir, json } => finish(json, operator::refresh(&dir, json)),
        RegistryCommand::Site(args) => finish(args.json, site::run(&args)),
    }
}

/// Runs `sharelife package`.
pub(crate) fn package(args: PackageArgs) -> Result<(), Failure> {
    let json = args.json;
    finish(json, package::run(&args))
}

/// Runs `sharelife publish`.
pub(crate) fn publish(args: PublishArgs) -> Result<(), Failure> {
    let json = args.json;
    finish(json, operator::publish(&args))
}

/// Runs `sharelife yank`.
pub(crate) fn yank(args: YankArgs) -> Result<(), Failure> {
    let json = args.json;
    finish(json, operator::yank(&args))
}

/// Runs `sharelife search`.
pub(crate) fn search(args: SearchArgs) -> Result<(), Failure> {
    let json = args.json;
    finish(json, user::search(&args))
}

/// Runs `sharelife info`.
pub(crate) fn info(args: InfoArgs) -> Result<(), Failure> {
    let json = args.json;
    finish(json, user::info(&args))
}

/// Runs `sharelife verify`.
pub(crate) fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let json = args.json;
    finish(json, user::verify(&args))
}

/// Turns a command's refusal into the CLI's [`Failure`], printing it as
/// JSON on stdout first when `--json` was given.
fn finish(json: bool, result: Result<(), Refusal>) -> Result<(), Failure> {
    result.map_err(|refusal| {
        if json {
            let mut object = Map::new();
            object.insert("ok".into(), Value::Bool(false));
            object.insert("error".into(), json!(refusal.failure.message));
            object.insert("details".into(), json!(refusal.failure.details));
            object.insert("hint".into(), json!(refusal.failure.hint));
            object.extend(refusal.fields);
            print_json(&Value::Object(object));
        }
        refusal.failure
    })
}

/// Prints `value` as pretty JSON on stdout.
fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value serializes")
    );
}

/// A spinner on stderr, hidden with `--json` (and off a terminal).
fn spinner(json: bool, message: String) -> ProgressBar {
    if json {
        ProgressBar::hidden()
    } else {
        crate::progress::spinner(message)
    }
}
