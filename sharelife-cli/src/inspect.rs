//! `sharelife inspect`: what a built plugin is, needs and asks for, read
//! from the file without loading it.

use std::path::Path;

use serde_json::json;
use sharelife_core::loader::{LoadError, PluginFile};
use sharelife_core::manifest::Capability;

use crate::Failure;

pub(crate) fn run(library: &Path, as_json: bool) -> Result<(), Failure> {
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
    let compatible = file.check_compatible();
    if as_json {
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
        });
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
        println!("  capability   {:<6} {}", c.risk(), describe(c));
    }
    println!("  risk label   {}", m.risk());
    Ok(())
}

fn describe(c: &Capability) -> String {
    match c {
        Capability::Network { host, ports } if ports.is_empty() => format!("network {host}"),
        Capability::Network { host, ports } => format!("network {host} ports {ports:?}"),
        Capability::File { access, path } => format!("file {access:?} {path}").to_lowercase(),
        Capability::Command { argv } => format!("command {argv:?}"),
        Capability::Provider { name, access } => {
            format!("provider {name} {access:?}").to_lowercase()
        }
        Capability::Mcp {
            server,
            tool,
            sha256: Some(h),
        } => format!("mcp {server}/{tool} pinned {}", &h[..12.min(h.len())]),
        Capability::Mcp {
            server,
            tool,
            sha256: None,
        } => format!("mcp {server}/{tool}"),
    }
}
