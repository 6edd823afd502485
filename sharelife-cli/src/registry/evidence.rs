//! How `info` and `inspect` show a label and the scan's evidence: each
//! capability with its risk in plain words, the compatibility matrix, the
//! declared roads against the raw imports, and a `WARNING` line for each
//! mismatch or advisory.

use serde_json::{Value, json};
use sharelife_core::manifest::Kind;
use sharelife_registry::label::Label;
use sharelife_registry::scan::{Road, ScanReport};

/// The roads around the gateway, in the order they are shown.
const ROADS: [Road; 4] = [
    Road::Network,
    Road::Process,
    Road::Filesystem,
    Road::DynamicLoading,
];

/// One road: whether the manifest declares it and what the libraries
/// import on it.
struct RoadEvidence {
    road: Road,
    declared: bool,
    /// Imports outside std's runtime (the plugin's own).
    imports: Vec<String>,
    /// Imports every Rust cdylib has (never a mismatch).
    std_runtime: Vec<String>,
}

fn roads(declared: &[Kind], scan: &ScanReport) -> Vec<RoadEvidence> {
    ROADS
        .iter()
        .map(|&road| {
            let mut imports = Vec::new();
            let mut std_runtime = Vec::new();
            for lib in &scan.libraries {
                for import in lib.imports.iter().filter(|i| i.road == road) {
                    let list = if import.std_runtime {
                        &mut std_runtime
                    } else {
                        &mut imports
                    };
                    if !list.contains(&import.symbol) {
                        list.push(import.symbol.clone());
                    }
                }
            }
            imports.sort();
            std_runtime.sort();
            RoadEvidence {
                road,
                declared: road.declared_by().is_some_and(|k| declared.contains(&k)),
                imports,
                std_runtime,
            }
        })
        .collect()
}

/// The `WARNING` lines: one per mismatch and per advisory.
pub(crate) fn warnings(scan: &ScanReport) -> Vec<String> {
    let mut out: Vec<String> = scan
        .mismatches
        .iter()
        .map(|m| format!("WARNING: {} (raises the risk label to high)", m.message))
        .collect();
    out.extend(scan.advisories.iter().map(|a| {
        let what = a
            .informational
            .as_deref()
            .map_or_else(|| "advisory".to_owned(), |k| format!("{k} advisory"));
        format!(
            "WARNING: locks {} {}: {what} {}: {} (patched: {})",
            a.package,
            a.version,
            a.id,
            a.title,
            if a.patched.is_empty() {
                "none".to_owned()
            } else {
                a.patched.join(", ")
            }
        )
    }));
    out
}

/// The evidence as JSON: `{"roads": [{road, declared, imports,
/// std_runtime}], "warnings": [...]}`.
pub(crate) fn to_json(declared: &[Kind], scan: &ScanReport) -> Value {
    json!({
        "roads": roads(declared, scan).iter().map(|r| json!({
            "road": r.road,
            "declared": r.declared,
            "imports": r.imports,
            "std_runtime": r.std_runtime,
        })).collect::<Vec<_>>(),
        "warnings": warnings(scan),
    })
}

/// Prints the label: risk (and what raised it), capabilities, compatibility.
pub(crate) fn print_label(label: &Label) {
    if label.risk == label.declared_risk {
        println!("  risk label   {}", label.risk);
    } else {
        println!(
            "  risk label   {} (the capabilities alone say {}; raised by the evidence below)",
            label.risk, label.declared_risk
        );
    }
    for raise in &label.raised_by {
        println!("               raised to {}: {}", raise.to, raise.reason);
    }
    if label.capabilities.is_empty() {
        println!(
            "  capabilities none (it cannot reach the network, files or programs through the host)"
        );
    }
    for c in &label.capabilities {
        println!("  capability   {:<6} {}", c.risk.to_string(), c.plain);
    }
    let compat = &label.compatibility;
    let hosts: Vec<String> = compat
        .host_api
        .iter()
        .map(|h| format!("{} {}", h.version, if h.compatible { "yes" } else { "no" }))
        .collect();
    println!(
        "  plugin api   {} (host API versions: {})",
        compat.plugin_api,
        hosts.join(", ")
    );
    println!(
        "  host version min {}, max {}",
        compat.min_host_version,
        compat.max_host_version.as_deref().unwrap_or("none")
    );
    println!(
        "  targets      {}",
        if compat.targets.is_empty() {
            "none".to_owned()
        } else {
            compat.targets.join(", ")
        }
    );
    println!(
        "  platforms    {}",
        if compat.platforms.is_empty() {
            "any".to_owned()
        } else {
            compat.platforms.join(", ")
        }
    );
}

/// Prints the scan's evidence: libraries, declared roads against raw
/// imports, advisories, and the `WARNING` lines.
pub(crate) fn print_scan(declared: &[Kind], scan: &ScanReport) {
    for lib in &scan.libraries {
        println!(
            "  library      {} ({} bytes, sha256 {}{})",
            lib.path,
            lib.size,
            lib.sha256,
            lib.rustc
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default()
        );
    }
    if let Some(v) = &scan.abi_stable {
        println!("  abi_stable   {v}");
    }
    println!("  evidence     road             declared  raw imports");
    for r in roads(declared, scan) {
        let declared = match r.road.declared_by() {
            None => "never",
            Some(_) if r.declared => "yes",
            Some(_) => "no",
        };
        let mut shown = r
            .imports
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>();
        if !r.std_runtime.is_empty() {
            shown.push(format!("std runtime only: {}", r.std_runtime.join(", ")));
        }
        println!(
            "               {:<16} {:<9} {}",
            r.road.as_str(),
            declared,
            if shown.is_empty() {
                "none".to_owned()
            } else {
                shown.join(", ")
            }
        );
    }
    if scan.advisories.is_empty() {
        println!("  advisories   none recorded");
    }
    for a in &scan.advisories {
        println!(
            "  advisory     {} {} {}: {} ({})",
            a.id, a.package, a.version, a.title, a.url
        );
    }
    let warnings = warnings(scan);
    if warnings.is_empty() {
        println!("  mismatches   none: the raw imports match the declared capabilities");
    }
    for w in warnings {
        println!("{w}");
    }
}
