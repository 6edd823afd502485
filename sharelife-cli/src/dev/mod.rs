//! `sharelife dev [PATH]`: the hot-reload loop for a plugin crate.
//!
//! Builds the crate with cargo, loads the library into a host and starts
//! it, then watches the crate's sources. Each change to their content
//! (debounced; see [`watch`] for what counts as one, and why reads,
//! `touch` and the build's own writes do not) rebuilds it (compiler errors
//! shown as cargo shows them, once per change), copies the new library to
//! a fresh path (so `dlopen` cannot hand back the old one), and swaps it
//! in with [`Host::reload`]: the old version serves until the new one has
//! started, carries its state over through `save_state`/`restore_state`,
//! and is closed once its calls in flight return. A failed build, check
//! or `start` leaves the old version running and says why.
//!
//! With `--config` the host boots from that config first. If it loaded
//! the plugin being developed (from its plugin folder), the first build
//! *takes it over*: that plugin is hot-reloaded from the new build, not
//! loaded a second time beside it.
//!
//! With `--config` whose config has plugin folders, `dev` also follows
//! the install generations, as `sharelife run --follow` does: it watches
//! each folder's symlinked ancestor (the install root's `current` link,
//! for `~/.sharelife/current/plugins`) or, without one, the folder itself;
//! when the link points elsewhere (an install, upgrade, removal or
//! rollback flipped it; for a plain folder: when anything in it changed),
//! it brings the host in line with [`Host::sync_generation`]: new
//! versions swapped in under live handles, removed plugins stopped and
//! unloaded, added ones started; a failed swap keeps the old version
//! serving and says so.
//! Only plugins that came from the folders are reconciled: the plugin
//! being developed (loaded from this session's builds, or taken over) is
//! left alone. A folder that cannot be watched is a warning on stderr,
//! and `dev` goes on without following.
//!
//! A plugin the config runs out of process (`isolation = "process"`, or
//! `[sandbox] auto` at or below its risk label, or a scan mismatch of its
//! library's imports) is loaded in a sandboxed
//! child (`sharelife_sandbox::Provider`), never in process; each rebuild
//! is hot-swapped into a new child, with the old child's state handed
//! across.
//!
//! Output is one line per event on stdout (`--json`: one JSON object per
//! line, with an `event` field: `watching` (`following`: the directories
//! watched for generation flips, empty without), `change`, `built` (JSON
//! only; each build ends in one `built` or one `build-failed`),
//! `build-failed`, `loaded`, `reloaded` (`took_over`: true for the
//! take-over), `reload-failed`, `call`, `synced` (after a flip: the sync
//! report's `folders`, `swapped`, `added`, `removed`, `unchanged` and
//! `failed`, as `run --follow --json` prints them; as text, the report
//! itself), `sync-failed` (`error`: the folders could not be read,
//! nothing changed), `stopped`).
//! `q` + Enter or Ctrl-C stops; `r` + Enter rebuilds without a change.

mod cargo;
mod watch;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sharelife_core::host::HostConfig;
use sharelife_core::{Host, HostError};
use tokio::sync::mpsc;

use self::cargo::Crate;
use self::watch::{Fingerprint, Scanner, Sources, Watch};
use crate::follow::{FollowError, Follower, sync_json};
use crate::{Failure, progress};

/// What `sharelife dev` was asked to do.
#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    /// The plugin crate (a directory with a Cargo.toml whose `[lib]` builds a cdylib).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// A host config (TOML) for the host the plugin runs in: policy, plugin
    /// config, other plugins to boot. If its plugin folder holds the plugin
    /// being developed, the first build takes that one over (hot-reloads
    /// it). Its plugin folders are followed: when their `current` link
    /// flips to another install generation, the host syncs with it.
    /// Default: an empty host that denies every capability.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// After each load, call this handler and print its output.
    #[arg(long, value_name = "HANDLER")]
    call: Option<String>,
    /// The input for --call (bytes as given).
    #[arg(long, value_name = "TEXT", default_value = "", requires = "call")]
    input: String,
    /// Build with --release.
    #[arg(long)]
    release: bool,
    /// Quiet period after a change before rebuilding, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 150)]
    debounce: u64,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: DevArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dev(args))
}

/// Prints events, as text or JSON lines.
struct Out {
    json: bool,
}

impl Out {
    fn emit(&self, event: &str, text: String, fields: Value) {
        if self.json {
            self.emit_json(event, fields);
        } else {
            println!("{text}");
        }
    }

    /// An event only JSON output shows (the text lines say it otherwise).
    fn emit_json(&self, event: &str, fields: Value) {
        if !self.json {
            return;
        }
        let mut object = json!({ "event": event });
        if let (Some(o), Value::Object(f)) = (object.as_object_mut(), fields) {
            o.extend(f);
        }
        println!("{object}");
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 1e2
}

async fn dev(args: DevArgs) -> Result<(), Failure> {
    let out = Out { json: args.json };
    let krate = cargo::describe(&args.path)?;
    let stage = tempfile::Builder::new()
        .prefix("sharelife-dev-")
        .tempdir()
        .map_err(|e| Failure::new(format!("cannot create a staging directory: {e}")))?;
    let config = match &args.config {
        Some(path) => Some(HostConfig::load(path).map_err(|e| Failure::new(e.to_string()))?),
        None => None,
    };
    // Watching from before the boot: a flip while it boots is followed too.
    let mut follower = config.as_ref().and_then(follow);
    let (host, config) = make_host(config, stage.path()).await?;
    let host = Arc::new(host);

    let sources = Sources::new(&krate.root, &krate.target_dir, &krate.workspace_root);
    let mut watch = Watch::start(&sources).map_err(Failure::new)?;
    out.emit(
        "watching",
        format!(
            "watching {} ({}){}; q + Enter to quit, r + Enter to rebuild",
            krate.root.display(),
            krate.name,
            follower
                .as_ref()
                .map(|f| format!(", following {}", f.watched_text()))
                .unwrap_or_default()
        ),
        json!({
            "crate": krate.name,
            "path": krate.root,
            "following": follower.as_ref().map_or(&[][..], Follower::watched),
        }),
    );

    let (keys_tx, mut keys) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if keys_tx.send(line.trim().to_owned()).is_err() {
                break;
            }
        }
    });

    let mut dev = Session {
        out,
        args,
        krate,
        stage: stage.path().to_owned(),
        host: Arc::clone(&host),
        config,
        loaded: None,
        builds: 0,
        scanner: Scanner::new(sources),
        built_from: Fingerprint::default(),
    };
    dev.cycle(None).await;
    loop {
        tokio::select! {
            Some(()) = watch.hint() => {
                let noticed = Instant::now();
                watch.settle(Duration::from_millis(dev.args.debounce)).await;
                let now = dev.fingerprint();
                let paths = dev.built_from.changes(&now);
                if paths.is_empty() {
                    // Read, touched, or written as it was: nothing to build.
                    continue;
                }
                dev.out.emit(
                    "change",
                    format!("change: {}", paths.iter().map(|p| p.strip_prefix(&dev.krate.root).unwrap_or(p).display().to_string()).collect::<Vec<_>>().join(", ")),
                    json!({ "paths": paths }),
                );
                dev.cycle(Some(noticed)).await;
            }
            Some(key) = keys.recv() => match key.as_str() {
                "q" | "quit" => break,
                "r" => dev.cycle(None).await,
                "" => {}
                other => eprintln!("unknown key {other:?}: q quits, r rebuilds"),
            },
            flip = flipped(&mut follower) => match flip {
                Ok(()) => dev.sync().await,
                Err(e) => {
                    eprintln!("warning: {e}; no longer following them");
                    follower = None;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(follower);
    drop(watch);
    let report = host.shutdown().await;
    dev.out.emit(
        "stopped",
        format!("stopped ({} plugin(s) unloaded)", report.unloaded.len()),
        json!({ "unloaded": report.unloaded.len() }),
    );
    Ok(())
}

/// A follower for the config's plugin folders, if it has any; a folder
/// that cannot be watched is a warning, and no follower.
fn follow(config: &HostConfig) -> Option<Follower> {
    if config.plugin_paths.is_empty() {
        return None;
    }
    Follower::new(&config.plugin_paths)
        .inspect_err(|e| eprintln!("warning: {e}; install generations are not followed"))
        .ok()
}

/// Resolves when the followed folders flipped to another generation;
/// never without a follower.
async fn flipped(follower: &mut Option<Follower>) -> Result<(), FollowError> {
    match follower {
        Some(f) => f.changed().await,
        None => std::future::pending().await,
    }
}

/// What a new build replaces.
enum Previous {
    /// An earlier build of this session, from this library copy.
    Ours(PathBuf),
    /// The version the host config loaded (from this library, if any).
    Host(Option<PathBuf>),
}

struct Session {
    out: Out,
    args: DevArgs,
    krate: Crate,
    stage: PathBuf,
    host: Arc<Host>,
    /// The host config (empty without `--config`): where the plugin runs.
    config: HostConfig,
    /// The plugin loaded now, and its library copy.
    loaded: Option<(String, PathBuf)>,
    /// Successful builds (they name the library copies).
    builds: u32,
    scanner: Scanner,
    /// The sources as the last build saw them: a change is a difference
    /// from this.
    built_from: Fingerprint,
}

impl Session {
    /// The sources' fingerprint now.
    fn fingerprint(&mut self) -> Fingerprint {
        tokio::task::block_in_place(|| self.scanner.fingerprint())
    }

    /// Build, then load (the first time) or hot-reload. `noticed` is when
    /// the change that caused it was noticed.
    async fn cycle(&mut self, noticed: Option<Instant>) {
        let before = self.fingerprint();
        let kept = self.loaded.as_ref().map(|(id, _)| self.version_of(id));
        let started = Instant::now();
        let spinner = progress::spinner(format!("building {}", self.krate.name));
        let built = {
            let krate = self.krate.manifest.clone();
            let release = self.args.release;
            let package = self.krate.package_id.clone();
            let bar = spinner.clone();
            tokio::task::spawn_blocking(move || cargo::build(&krate, &package, release, &bar))
                .await
                .unwrap_or_else(|e| Err(format!("the build task failed: {e}")))
        };
        let build_time = started.elapsed();
        spinner.finish_and_clear();
        let after = self.fingerprint();
        self.built_from = Fingerprint::after_build(&before, after);
        let library = match built {
            Ok(library) => library,
            Err(why) => {
                let kept_text = kept
                    .as_ref()
                    .map_or("nothing is loaded yet".to_owned(), |k| {
                        format!("{k} keeps running")
                    });
                self.out.emit(
                    "build-failed",
                    format!("build failed ({why}); {kept_text}"),
                    json!({ "error": why, "build_ms": ms(build_time), "kept": kept }),
                );
                // Show that the old version still serves.
                self.smoke_call().await;
                return;
            }
        };
        self.builds += 1;
        let copy = match self.stage_copy(&library) {
            Ok(copy) => copy,
            Err(why) => {
                self.out.emit(
                    "build-failed",
                    why.clone(),
                    json!({ "error": why, "kept": kept }),
                );
                return;
            }
        };
        self.out.emit_json(
            "built",
            json!({ "library": library, "copy": copy, "build_ms": ms(build_time) }),
        );
        match self.loaded.clone() {
            None => self.first_load(copy, build_time).await,
            Some((id, old_copy)) => {
                self.swap_in(id, copy, Previous::Ours(old_copy), build_time, noticed)
                    .await;
            }
        }
    }

    /// Hot-reloads plugin `id` from `copy`, replacing `previous`.
    async fn swap_in(
        &mut self,
        id: String,
        copy: PathBuf,
        previous: Previous,
        build_time: Duration,
        noticed: Option<Instant>,
    ) {
        let kept = self.version_of(&id);
        let reloading = Instant::now();
        match self.host.reload(&id, &copy).await {
            Ok(report) => {
                let reload_time = reloading.elapsed();
                let (took_over, replaced) = match previous {
                    Previous::Ours(old_copy) => {
                        if report.retired.closed {
                            let _ = std::fs::remove_file(&old_copy);
                        }
                        (false, Some(old_copy))
                    }
                    Previous::Host(library) => (true, library),
                };
                let take_over_text = if took_over {
                    format!(
                        "took over {id}, which the host config loaded{}: ",
                        replaced
                            .as_ref()
                            .map(|l| format!(" from {}", l.display()))
                            .unwrap_or_default()
                    )
                } else {
                    String::new()
                };
                let since_change = noticed.map(|n| n.elapsed());
                self.out.emit(
                    "reloaded",
                    format!(
                        "{take_over_text}reloaded {id} {} -> {} (build {:.2}s, reload {:.1}ms, swap {:.1}µs{}{})",
                        report.old_version,
                        report.new_version,
                        build_time.as_secs_f64(),
                        ms(reload_time),
                        report.swap.as_secs_f64() * 1e6,
                        report.state.map(|b| format!(", state {b} bytes")).unwrap_or_default(),
                        since_change.map(|d| format!("; edit to new code {:.2}s", d.as_secs_f64())).unwrap_or_default(),
                    ),
                    json!({
                        "id": id,
                        "from": report.old_version.to_string(),
                        "to": report.new_version.to_string(),
                        "library": copy,
                        "took_over": took_over,
                        "replaced": replaced,
                        "build_ms": ms(build_time),
                        "reload_ms": ms(reload_time),
                        "swap_us": report.swap.as_secs_f64() * 1e6,
                        "state_bytes": report.state,
                        "edit_to_new_code_ms": since_change.map(ms),
                    }),
                );
                self.loaded = Some((id, copy));
                self.smoke_call().await;
            }
            Err(e) => {
                let _ = std::fs::remove_file(&copy);
                self.out.emit(
                    "reload-failed",
                    format!("reload failed: {e}"),
                    json!({ "error": e.to_string(), "kept": kept }),
                );
                self.smoke_call().await;
            }
        }
    }

    async fn first_load(&mut self, copy: PathBuf, build_time: Duration) {
        let loading = Instant::now();
        let id = sharelife_core::loader::PluginFile::read(&copy)
            .ok()
            .map(|f| f.manifest().id.to_string());
        if let Some(id) = &id {
            // The host config loaded this plugin already (from its plugin
            // folder): take that one over rather than fail to load it twice.
            if self.host.handle(id).is_ok() {
                let library = self.host.plugins().status(id).and_then(|s| s.library);
                return self
                    .swap_in(id.clone(), copy, Previous::Host(library), build_time, None)
                    .await;
            }
        }
        // A plugin whose initialize or start failed stays listed: take it
        // out, so that the next build can try again.
        // Where the config runs it: in process, or in a sandboxed child.
        let isolation = sharelife_core::loader::PluginFile::read(&copy)
            .ok()
            .map(|f| self.config.isolation_for(&f).0)
            .unwrap_or_default();
        let loaded = match self.host.load_with(&copy, isolation).await {
            Ok(id) => match self.host.start(&id).await {
                Ok(()) => Ok(id),
                Err(e) => {
                    let _ = self.host.unload(&id).await;
                    Err(e)
                }
            },
            Err(e @ HostError::Hook { .. }) => {
                if let Some(id) = id {
                    let _ = self.host.unload(&id).await;
                }
                Err(e)
            }
            Err(e) => Err(e),
        };
        match loaded {
            Ok(id) => {
                let version = self.version_of(&id);
                self.out.emit(
                    "loaded",
                    format!(
                        "loaded {version} (build {:.2}s, load {:.1}ms)",
                        build_time.as_secs_f64(),
                        ms(loading.elapsed())
                    ),
                    json!({ "id": id.to_string(), "version": version, "library": copy, "build_ms": ms(build_time) }),
                );
                self.loaded = Some((id.to_string(), copy));
                self.smoke_call().await;
            }
            Err(e) => {
                let _ = std::fs::remove_file(&copy);
                self.out.emit(
                    "reload-failed",
                    format!("load failed: {e}; waiting for a change"),
                    json!({ "error": e.to_string(), "kept": Value::Null }),
                );
            }
        }
    }

    fn version_of(&self, id: &str) -> String {
        self.host
            .handle(id)
            .map(|h| format!("{id} {}", h.manifest().version))
            .unwrap_or_else(|_| id.to_owned())
    }

    /// Brings the host in line with the generation its plugin folders
    /// resolve to now (this session's plugin is not theirs: left alone).
    async fn sync(&self) {
        match self.host.sync_generation().await {
            Ok(report) => self.out.emit(
                "synced",
                report.to_string().trim_end().to_owned(),
                sync_json(&report),
            ),
            Err(e) => self.out.emit(
                "sync-failed",
                format!("sync failed, nothing changed: {e}"),
                json!({ "error": e.to_string() }),
            ),
        }
    }

    /// Copies the built library to a path no library was loaded from.
    fn stage_copy(&self, library: &Path) -> Result<PathBuf, String> {
        let extension = library.extension().and_then(|e| e.to_str()).unwrap_or("so");
        let name = format!("{}-{}.{extension}", self.krate.name, self.builds);
        let copy = self.stage.join(&name);
        let partial = self.stage.join(format!(".{name}.partial"));
        std::fs::copy(library, &partial)
            .and_then(|_| std::fs::rename(&partial, &copy))
            .map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                format!(
                    "cannot copy {} to {}: {e}",
                    library.display(),
                    copy.display()
                )
            })?;
        Ok(copy)
    }

    async fn smoke_call(&self) {
        let (Some(handler), Some((id, _))) = (&self.args.call, &self.loaded) else {
            return;
        };
        match self
            .host
            .call_async(id, handler, self.args.input.as_bytes())
            .await
        {
            Ok(output) => {
                let text = String::from_utf8_lossy(&output).into_owned();
                self.out.emit(
                    "call",
                    format!("{handler}: {text}"),
                    json!({ "handler": handler, "ok": true, "output": text }),
                );
            }
            Err(e) => self.out.emit(
                "call",
                format!("{handler} failed: {e}"),
                json!({ "handler": handler, "ok": false, "error": e.to_string() }),
            ),
        }
    }
}

async fn make_host(
    config: Option<HostConfig>,
    stage: &Path,
) -> Result<(Host, HostConfig), Failure> {
    let booted = config.is_some();
    let (builder, settings) = match config {
        Some(config) => (Host::builder().config(config.clone()), config),
        None => (
            Host::builder()
                .data_root(stage.join("data"))
                .temp_root(stage.join("tmp")),
            HostConfig::default(),
        ),
    };
    // `isolation = "process"` and `[sandbox] auto` in the config start
    // plugins in a sandboxed child.
    let host = builder
        .isolation_provider(Arc::new(sharelife_sandbox::Provider::new()))
        .build()
        .map_err(|e| Failure::new(format!("cannot build the host: {e}")))?;
    if booted {
        host.boot()
            .await
            .map_err(|e| Failure::new(format!("the host did not boot: {e}")))?;
    }
    Ok((host, settings))
}
