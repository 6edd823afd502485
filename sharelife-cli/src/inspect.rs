//! `sharelife inspect`: what a built plugin is, needs and asks for, read
//! from the file without loading it: ids, API, dependencies, handlers,
//! capabilities with their risk, the event topics it subscribes to and
//! its config schema (each top-level field; `--json` has the schema).
//!
//! Given a `.slpkg` package, it opens and verifies the package, scans it
//! (`sharelife_registry::scan`, no advisory database) and shows the label
//! with the scan's evidence: declared capabilities against the raw
//! imports, and a `WARNING` line on a mismatch. A bare library is not
//! scanned (the scan reads a package); package it to see its evidence.
//!
//! `--config FILE` reads a host config too and says whether the plugin
//! would run sandboxed (out of process) under it, and why: its own
//! `isolation`, or `[sandbox] auto` by its risk label or, below it, by a
//! scan mismatch (the library imports a road its manifest does not
//! declare: its imports are read as the host reads them), with the limits
//! and `[sandbox] require` that would apply. Not for `--format seed-v2`.
//!
//! `--format seed-v2` prints the record the seed market's
//! `plugin.manifest.v2` schema accepts, as every catalog entry carries it
//! (see `sharelife_registry::seed` for the field mapping).

use std::path::Path;

use serde_json::json;
use sharelife_core::loader::{LoadError, PluginFile};
use sharelife_registry::package::Package;
use sharelife_registry::{label, scan, seed};

use crate::Failure;

/// What `inspect` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Lines for a person.
    Human,
    /// One JSON object.
    Json,
    /// The seed market's `plugin.manifest.v2` record (JSON).
    #[value(name = "seed-v2")]
    SeedV2,
}

/// Where the plugin would run under the host config at `config`, as
/// (human line, JSON).
fn isolation(config: &Path, file: &PluginFile) -> Result<(String, serde_json::Value), Failure> {
    use sharelife_core::host::isolation::IsolationReason;
    use sharelife_core::host::{HostConfig, Isolation};
    let host = HostConfig::load(config).map_err(|e| Failure::new(e.to_string()))?;
    let m = file.manifest();
    let (isolation, reason) = host.isolation_for(file);
    let (mode, reason_key) = (
        match isolation {
            Isolation::InProcess => "in-process",
            _ => "process",
        },
        match reason {
            IsolationReason::Explicit => "explicit",
            IsolationReason::AutoByRisk { .. } => "auto-by-risk",
            IsolationReason::AutoByScan { .. } => "auto-by-scan",
            IsolationReason::AutoScanFailed { .. } => "auto-scan-failed",
            _ => "default",
        },
    );
    let why = match reason {
        IsolationReason::Explicit => format!(
            "isolation = \"{mode}\" under [plugins.\"{}\"] in {}",
            m.id,
            config.display()
        ),
        other => other.to_string(),
    };
    let (line, limits, require) = match isolation {
        Isolation::Process(limits) => {
            let mut shown = Vec::new();
            if let Some(m) = limits.memory {
                shown.push(format!("memory {m}"));
            }
            for (name, d) in [
                ("cpu_time", limits.cpu_time),
                ("call_timeout", limits.call_timeout),
            ] {
                if let Some(d) = d {
                    shown.push(format!("{name} {}", humantime::format_duration(d)));
                }
            }
            if let Some(n) = limits.open_files {
                shown.push(format!("open_files {n}"));
            }
            let line = format!(
                "sandboxed, out of process: {why}; limits {}; require {}",
                if shown.is_empty() {
                    "none".to_owned()
                } else {
                    shown.join(", ")
                },
                if host.sandbox.require.is_empty() {
                    "nothing".to_owned()
                } else {
                    host.sandbox.require.join(", ")
                }
            );
            (
                line,
                serde_json::to_value(limits).ok(),
                host.sandbox.require,
            )
        }
        _ => (format!("in process: {why}"), None, Vec::new()),
    };
    let value = json!({
        "config": config.display().to_string(),
        "mode": mode,
        "sandboxed": mode == "process",
        "reason": reason_key,
        "why": why,
        "limits": limits,
        "require": require,
    });
    Ok((line, value))
}

pub(crate) fn run(library: &Path, format: Format, config: Option<&Path>) -> Result<(), Failure> {
    if library
        .extension()
        .is_some_and(|e| e == sharelife_registry::package::EXTENSION)
    {
        return run_package(library, format);
    }
    let file = PluginFile::read(library).map_err(|e| {
        let hint = match &e {
            LoadError::NotAPlugin { .. } => {
                "build the crate with #[plugin] and crate-type = [\"cdylib\"]"
            }
            LoadError::NotALibrary { .. } | LoadError::Malformed { .. } => {
                "point at the built library (target/debug/lib<name>.so)"
            }
            _ => "rebuild the plugin against this sharelife",
        };
        Failure::new(e.to_string()).hint(hint)
    })?;
    let m = file.manifest();
    if format == Format::SeedV2 {
        let entry = seed::Entry::of_library(library)?;
        let label = label::label(m, &[], &[]);
        // The typed record keeps the schema's field order.
        let record = seed::seed_manifest(m, &label, &entry);
        println!("{}", serde_json::to_string_pretty(&record).expect("json"));
        return Ok(());
    }
    let compatible = file.check_compatible();
    let isolation = config.map(|c| isolation(c, &file)).transpose()?;
    if format == Format::Json {
        let value = json!({
            "file": library.display().to_string(),
            "id": m.id,
            "version": m.version.to_string(),
            "name": m.name,
            "description": m.description,
            "api": m.api.to_string(),
            "compatible": compatible.is_ok(),
            "incompatibility": compatible.as_ref().err().map(ToString::to_string),
            "dependencies": m.dependencies.iter().map(|d| json!({"id": d.id, "version": d.version.to_string()})).collect::<Vec<_>>(),
            "handlers": m.handlers.iter().map(|h| json!({"name": h.name, "async": h.is_async})).collect::<Vec<_>>(),
            "capabilities": m.capabilities.iter().map(|c| json!({"capability": c, "risk": c.risk()})).collect::<Vec<_>>(),
            "risk": m.risk(),
            "subscriptions": m.subscriptions,
            "config_schema": m.config_schema,
        });
        let mut value = value;
        if let Some((_, i)) = &isolation {
            value["isolation"] = i.clone();
        }
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
        return Ok(());
    }
    println!("{} {}", m.id, m.version);
    if let Some(name) = &m.name {
        println!("  name         {name}");
    }
    if let Some(d) = &m.description {
        println!("  description  {d}");
    }
    println!(
        "  plugin api   {} ({})",
        m.api,
        match &compatible {
            Ok(()) => "this host can load it".to_owned(),
            Err(e) => format!("not loadable here: {e}"),
        }
    );
    if m.dependencies.is_empty() {
        println!("  depends on   nothing");
    }
    for d in &m.dependencies {
        println!("  depends on   {} {}", d.id, d.version);
    }
    let handlers: Vec<String> = m
        .handlers
        .iter()
        .map(|h| {
            if h.is_async {
                format!("{} (async)", h.name)
            } else {
                h.name.clone()
            }
        })
        .collect();
    println!(
        "  handlers     {}",
        if handlers.is_empty() {
            "none".to_owned()
        } else {
            handlers.join(", ")
        }
    );
    if m.capabilities.is_empty() {
        println!("  capabilities none");
    }
    for c in &m.capabilities {
        println!("  capability   {:<6} {}", c.risk(), c);
    }
    println!("  risk label   {}", m.risk());
    if let Some((line, _)) = &isolation {
        println!("  runs         {line}");
    }
    println!(
        "  subscribes   {}",
        if m.subscriptions.is_empty() {
            "nothing".to_owned()
        } else {
            m.subscriptions.join(", ")
        }
    );
    match &m.config_schema {
        None => println!("  config       no schema (any config is accepted)"),
        Some(schema) => {
            let fields = config_fields(schema);
            if fields.is_empty() {
                println!("  config       schema {schema}");
            } else {
                for field in fields {
                    println!("  config       {field}");
                }
            }
        }
    }
    Ok(())
}

/// One line per top-level property of a config schema: name, type and
/// whether it is required (`--json` has the whole schema).
fn config_fields(schema: &serde_json::Value) -> Vec<String> {
    let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    properties
        .iter()
        .map(|(name, property)| {
            let kind = match property.get("type") {
                Some(serde_json::Value::String(t)) => t.clone(),
                Some(serde_json::Value::Array(ts)) => ts
                    .iter()
                    .filter_map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                _ => "any".to_owned(),
            };
            let need = if required.contains(&name.as_str()) {
                "required"
            } else {
                "optional"
            };
            format!("{name:<12} {kind}, {need}")
        })
        .collect()
}

/// `inspect` of a `.slpkg`: the manifest as the package carries it, the
/// label, and the scan's evidence.
fn run_package(path: &Path, format: Format) -> Result<(), Failure> {
    let package = Package::open(path).map_err(|e| {
        Failure::new(e.to_string()).hint("rebuild the package with `sharelife package`")
    })?;
    let report = scan::scan(&package, None).map_err(|e| {
        Failure::new(e.to_string()).hint("package a library built for a supported target")
    })?;
    let m = package.manifest();
    let targets: Vec<String> = package.libraries().map(|(t, _, _)| t.to_owned()).collect();
    let label = label::label(m, &targets, &report.raises());
    let declared: Vec<_> = m.capabilities.iter().map(|c| c.kind()).collect();
    if format == Format::SeedV2 {
        let (_, entry_path, bytes) = package
            .libraries()
            .next()
            .expect("an opened package has a library");
        let file = entry_path.rsplit('/').next().unwrap_or(entry_path);
        let entry = seed::Entry::of_library_bytes(file, bytes)?;
        let record = seed::seed_manifest(m, &label, &entry);
        println!("{}", serde_json::to_string_pretty(&record).expect("json"));
        return Ok(());
    }
    if format == Format::Json {
        let value = json!({
            "file": path.display().to_string(),
            "package": {
                "sha256": package.sha256(),
                "size": package.size(),
                "files": package.file_list().files,
                "libraries": package.file_list().libraries,
            },
            "id": m.id,
            "version": m.version.to_string(),
            "name": m.name,
            "description": m.description,
            "api": m.api.to_string(),
            "dependencies": m.dependencies.iter().map(|d| json!({"id": d.id, "version": d.version.to_string()})).collect::<Vec<_>>(),
            "handlers": m.handlers.iter().map(|h| json!({"name": h.name, "async": h.is_async})).collect::<Vec<_>>(),
            "capabilities": m.capabilities.iter().map(|c| json!({"capability": c, "risk": c.risk()})).collect::<Vec<_>>(),
            "risk": label.risk,
            "label": label,
            "scan": report,
            "evidence": super::registry::evidence::to_json(&declared, &report),
            "config_schema": m.config_schema,
        });
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
        return Ok(());
    }
    println!("{} {} (package {})", m.id, m.version, path.display());
    if let Some(name) = &m.name {
        println!("  name         {name}");
    }
    if let Some(d) = &m.description {
        println!("  description  {d}");
    }
    println!(
        "  archive      {} bytes, sha256 {}, {} files",
        package.size(),
        package.sha256(),
        package.file_list().files.len() + 1
    );
    let handlers: Vec<&str> = m.handlers.iter().map(|h| h.name.as_str()).collect();
    println!(
        "  handlers     {}",
        if handlers.is_empty() {
            "none".to_owned()
        } else {
            handlers.join(", ")
        }
    );
    super::registry::evidence::print_label(&label);
    super::registry::evidence::print_scan(&declared, &report);
    Ok(())
}
