//! What `sharelife dev` asks cargo: what the crate is, and to build it.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{Failure, progress};

/// The crate being developed, as cargo describes it.
#[derive(Debug)]
pub(super) struct Crate {
    pub(super) name: String,
    /// Cargo's package id, which its build messages name.
    pub(super) package_id: String,
    /// The directory of its Cargo.toml.
    pub(super) root: PathBuf,
    pub(super) manifest: PathBuf,
    /// The root of its workspace (`root` itself for a crate that is its
    /// own workspace).
    pub(super) workspace_root: PathBuf,
    pub(super) target_dir: PathBuf,
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Asks cargo what the crate at `path` is: its package name, its root,
/// and its target directory; refuses a crate that builds no cdylib.
pub(super) fn describe(path: &Path) -> Result<Crate, Failure> {
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
    let root = manifest.parent().map(Path::to_owned).unwrap_or_default();
    Ok(Crate {
        package_id: package["id"].as_str().unwrap_or_default().to_owned(),
        name,
        workspace_root: metadata["workspace_root"]
            .as_str()
            .map_or_else(|| root.clone(), PathBuf::from),
        root,
        target_dir: PathBuf::from(metadata["target_directory"].as_str().unwrap_or("target")),
        manifest,
    })
}

/// Builds the crate's library; returns the cdylib's path, or why not
/// (the compiler's messages were printed to stderr as cargo prints them).
pub(super) fn build(
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
