//! `sharelife dev [PATH]`: the hot-reload loop for a plugin crate.
//!
//! Builds the crate with cargo, loads the library into a host and starts
//! it, then watches the crate's files. Each change (debounced) rebuilds it
//! (compiler errors shown as cargo shows them), copies the new library to
//! a fresh path (so `dlopen` cannot hand back the old one), and swaps it
//! in with [`Host::reload`]: the old version serves until the new one has
//! started, carries its state over through `save_state`/`restore_state`,
//! and is closed once its calls in flight return. A failed build, check
//! or `start` leaves the old version running and says why.
//!
//! Output is one line per event on stdout (`--json`: one JSON object per
//! line, with an `event` field: `watching`, `built`, `loaded`, `change`,
//! `build-failed`, `reloaded`, `reload-failed`, `call`, `stopped`).
//! `q` + Enter or Ctrl-C stops; `r` + Enter rebuilds without a change.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify_debouncer_mini::notify::RecursiveMode;
use serde_json::{Value, json};
use sharelife_core::host::HostConfig;
use sharelife_core::{Host, HostError};
use tokio::sync::mpsc;

use crate::{Failure, progress};

/// What `sharelife dev` was asked to do.
#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    /// The plugin crate (a directory with a Cargo.toml whose `[lib]` builds a cdylib).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// A host config (TOML) for the host the plugin runs in: policy, plugin
    /// config, other plugins to boot. Default: an empty host that denies
    /// every capability.
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

/// The crate being developed, as cargo describes it.
#[derive(Debug)]
struct Crate {
    name: String,
    /// Cargo's package id, which its build messages name.
    package_id: String,
    root: PathBuf,
    manifest: PathBuf,
    target_dir: PathBuf,
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
            let mut object = json!({ "event": event });
            if let (Some(o), Value::Object(f)) = (object.as_object_mut(), fields) {
                o.extend(f);
            }
            println!("{object}");
        } else {
            println!("{text}");
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 1e2
}

async fn dev(args: DevArgs) -> Result<(), Failure> {
    let out = Out { json: args.json };
    let krate = describe(&args.path)?;
    let stage = tempfile::Builder::new()
        .prefix("sharelife-dev-")
        .tempdir()
        .map_err(|e| Failure::new(format!("cannot create a staging directory: {e}")))?;
    let host = Arc::new(make_host(args.config.as_deref(), stage.path()).await?);

    let (tx, mut changes) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let ignored = [krate.target_dir.clone(), krate.root.join(".git")];
    let mut debouncer = notify_debouncer_mini::new_debouncer(
        Duration::from_millis(args.debounce),
        move |result: notify_debouncer_mini::DebounceEventResult| {
            if let Ok(events) = result {
                let paths: Vec<PathBuf> = events
                    .into_iter()
                    .map(|e| e.path)
                    .filter(|p| !ignored.iter().any(|i| p.starts_with(i)) && !is_editor_noise(p))
                    .collect();
                if !paths.is_empty() {
                    let _ = tx.send(paths);
                }
            }
        },
    )
    .map_err(|e| Failure::new(format!("cannot watch files: {e}")))?;
    debouncer
        .watcher()
        .watch(&krate.root, RecursiveMode::Recursive)
        .map_err(|e| Failure::new(format!("cannot watch {}: {e}", krate.root.display())))?;
    out.emit(
        "watching",
        format!(
            "watching {} ({}); q + Enter to quit, r + Enter to rebuild",
            krate.root.display(),
            krate.name
        ),
        json!({ "crate": krate.name, "path": krate.root }),
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
        loaded: None,
        builds: 0,
    };
    dev.cycle(None).await;
    loop {
        tokio::select! {
            Some(paths) = changes.recv() => {
                let noticed = Instant::now();
                // Coalesce what else arrived meanwhile.
                let mut paths = paths;
                while let Ok(more) = changes.try_recv() {
                    paths.extend(more);
                }
                paths.sort();
                paths.dedup();
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
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(debouncer);
    let report = host.shutdown().await;
    dev.out.emit(
        "stopped",
        format!("stopped ({} plugin(s) unloaded)", report.unloaded.len()),
        json!({ "unloaded": report.unloaded.len() }),
    );
    Ok(())
}

/// Editor swap and backup files are not changes to the crate.
fn is_editor_noise(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
}

struct Session {
    out: Out,
    args: DevArgs,
    krate: Crate,
    stage: PathBuf,
    host: Arc<Host>,
    /// The plugin loaded now, and its library copy.
    loaded: Option<(String, PathBuf)>,
    builds: u32,
}

impl Session {
    /// Build, then load (the first time) or hot-reload. `noticed` is when
    /// the change that caused it was noticed.
    async fn cycle(&mut self, noticed: Option<Instant>) {
        let kept = self.loaded.as_ref().map(|(id, _)| self.version_of(id));
        let started = Instant::now();
        let spinner = progress::spinner(format!("building {}", self.krate.name));
        let built = {
            let krate = self.krate.manifest.clone();
            let release = self.args.release;
            let package = self.krate.package_id.clone();
            let bar = spinner.clone();
            tokio::task::spawn_blocking(move || build(&krate, &package, release, &bar))
                .await
                .unwrap_or_else(|e| Err(format!("the build task failed: {e}")))
        };
        let build_time = started.elapsed();
        spinner.finish_and_clear();
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
        match self.loaded.clone() {
            None => self.first_load(copy, build_time).await,
            Some((id, old_copy)) => {
                let reloading = Instant::now();
                match self.host.reload(&id, &copy).await {
                    Ok(report) => {
                        let reload_time = reloading.elapsed();
                        if report.retired.closed {
                            let _ = std::fs::remove_file(&old_copy);
                        }
                        let since_change = noticed
                            .map(|n| n.elapsed() + Duration::from_millis(self.args.debounce));
                        self.out.emit(
                            "reloaded",
                            format!(
                                "reloaded {id} {} -> {} (build {:.2}s, reload {:.1}ms, swap {:.1}µs{}{})",
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
                        let kept = kept.unwrap_or_default();
                        self.out.emit(
                            "reload-failed",
                            format!("reload failed: {e}"),
                            json!({ "error": e.to_string(), "kept": kept }),
                        );
                        self.smoke_call().await;
                    }
                }
            }
        }
    }

    async fn first_load(&mut self, copy: PathBuf, build_time: Duration) {
        let loading = Instant::now();
        let id = sharelife_core::loader::PluginFile::read(&copy)
            .ok()
            .map(|f| f.manifest().id.to_string());
        // A plugin whose initialize or start failed stays listed: take it
        // out, so that the next build can try again.
        let loaded = match self.host.load(&copy).await {
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

async fn make_host(config: Option<&Path>, stage: &Path) -> Result<Host, Failure> {
    let builder = match config {
        Some(path) => {
            let config = HostConfig::load(path).map_err(|e| Failure::new(e.to_string()))?;
            Host::builder().config(config)
        }
        None => Host::builder()
            .data_root(stage.join("data"))
            .temp_root(stage.join("tmp")),
    };
    let host = builder
        .build()
        .map_err(|e| Failure::new(format!("cannot build the host: {e}")))?;
    if config.is_some() {
        host.boot()
            .await
            .map_err(|e| Failure::new(format!("the host did not boot: {e}")))?;
    }
    Ok(host)
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Asks cargo what the crate at `path` is: its package name, its root,
/// and its target directory; refuses a crate that builds no cdylib.
fn describe(path: &Path) -> Result<Crate, Failure> {
    let manifest = if path.is_dir() {
        path.join("Cargo.toml")
    } else {
        path.to_owned()
    };
    let manifest = std::fs::canonicalize(&manifest).map_err(|e| {
        Failure::new(format!("{}: {e}", manifest.display()))
            .hint("pass the directory of a plugin crate (one with a Cargo.toml)")
    })?;
    let output = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Failure::new(format!("cannot run cargo: {e}")).hint("is cargo on PATH?"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Failure::new(format!(
            "cargo cannot read {}: {}",
            manifest.display(),
            stderr.trim()
        )));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Failure::new(format!("cargo metadata printed something unexpected: {e}")))?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        .ok_or_else(|| {
            Failure::new(format!(
                "{} is a workspace, not a crate",
                manifest.display()
            ))
            .hint("pass the directory of the plugin crate itself")
        })?;
    let name = package["name"].as_str().unwrap_or_default().to_owned();
    let has_cdylib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
        });
    if !has_cdylib {
        return Err(Failure::new(format!(
            "{name} builds no cdylib, so there is no library to load"
        ))
        .hint("add crate-type = [\"cdylib\", \"rlib\"] to its [lib] section"));
    }
    Ok(Crate {
        package_id: package["id"].as_str().unwrap_or_default().to_owned(),
        name,
        root: manifest.parent().map(Path::to_owned).unwrap_or_default(),
        target_dir: PathBuf::from(metadata["target_directory"].as_str().unwrap_or("target")),
        manifest,
    })
}

/// Builds the crate's library; returns the cdylib's path, or why not
/// (the compiler's messages were printed to stderr as cargo prints them).
fn build(
    manifest: &Path,
    package: &str,
    release: bool,
    bar: &indicatif::ProgressBar,
) -> Result<PathBuf, String> {
    let colour = if progress::is_visible() {
        "json-diagnostic-rendered-ansi"
    } else {
        "json-render-diagnostics"
    };
    let mut command = cargo();
    command
        .args([
            "build",
            "--lib",
            "--message-format",
            colour,
            "--manifest-path",
        ])
        .arg(manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if release {
        command.arg("--release");
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stderr = child.stderr.take().map(|stderr| {
        // Cargo's own lines (status, "could not compile"), kept for a
        // failure; its progress is the spinner's.
        std::thread::spawn(move || {
            std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .filter(|l| {
                    let l = l.trim_start();
                    !(l.starts_with("Compiling")
                        || l.starts_with("Finished")
                        || l.starts_with("Blocking")
                        || l.starts_with("Building"))
                })
                .collect::<Vec<_>>()
        })
    });
    let mut library = None;
    let mut success = false;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            match message["reason"].as_str() {
                Some("compiler-message") => {
                    if let Some(rendered) = message["message"]["rendered"].as_str() {
                        bar.suspend(|| eprint!("{rendered}"));
                    }
                }
                Some("compiler-artifact") => {
                    bar.set_message(format!(
                        "building: {}",
                        message["target"]["name"].as_str().unwrap_or("")
                    ));
                    let is_ours = message["package_id"].as_str() == Some(package)
                        && message["target"]["kind"]
                            .as_array()
                            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
                    if is_ours {
                        library = message["filenames"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(PathBuf::from)
                            .find(|p| {
                                matches!(
                                    p.extension().and_then(|e| e.to_str()),
                                    Some("so" | "dylib" | "dll")
                                )
                            });
                    }
                }
                Some("build-finished") => success = message["success"] == true,
                _ => {}
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo did not finish: {e}"))?;
    let cargo_lines = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if !(status.success() && success) {
        bar.suspend(|| {
            for line in &cargo_lines {
                eprintln!("{line}");
            }
        });
        return Err("cargo build failed".into());
    }
    library.ok_or_else(|| "cargo built no cdylib".to_owned())
}
