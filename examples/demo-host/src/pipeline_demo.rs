//! The demo's pipeline section: the example plugins chained by a pipeline
//! file, with one step denied by the gateway and one that fails and is
//! skipped; then the seed's `astr-agent.v1` example, unchanged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use sharelife_core::Host;
use sharelife_core::audit::MemorySink;
use sharelife_core::capability::Policy;
use sharelife_core::loader::PluginFile;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::pipeline::{Pipeline, PipelineFile, selects};

use crate::section;

const DEMO: &str = include_str!("../../pipelines/demo.yaml");
const SEED: &str = include_str!("../../../tests/data/seed/astr-agent.example.yaml");
const LIBRARIES: [&str; 3] = ["example_upper", "example_suffix", "example_fetcher"];

/// Runs the pipeline demo in `work`.
pub(crate) async fn run(work: &Path) -> Result<()> {
    section("pipelines: a file of steps, run with retry/skip/abort and a gateway check per step");
    let libraries = stage(&work.join("pipeline-plugins"))?;
    let demo = PipelineFile::from_yaml("examples/pipelines/demo.yaml", DEMO)?;
    let seed = PipelineFile::from_yaml("astr-agent.example.yaml", SEED)?;

    // The host grants the fetcher file reads of its notes, nothing more;
    // the seed asks `file.read` for upper and suffix, so grant them that.
    // Pipelines compiled against this host use this very policy and audit
    // sink: there is no second one.
    let policy = Policy::new()
        .allow(
            "examples.fetcher",
            Capability::File {
                access: FileAccess::Read,
                path: "notes/*.txt".into(),
            },
        )
        .allow(
            "examples.*",
            Capability::File {
                access: FileAccess::Read,
                path: "public/**".into(),
            },
        );
    let audit = Arc::new(MemorySink::new());

    // A host holds one configured instance per plugin: configure each with
    // what the file gives it, matched by id without running plugin code.
    let mut builder = Host::builder()
        .data_root(work.join("pipeline-data"))
        .temp_root(work.join("pipeline-tmp"))
        .policy(policy)
        .audit_sink(audit.clone());
    for path in &libraries {
        let id = PluginFile::read(path)?.manifest().id.to_string();
        for (selector, config) in demo.plugins() {
            if selects(selector, &id) && !config.is_null() {
                builder = builder.plugin_config(id.clone(), config.clone());
            }
        }
    }
    let host = builder.build()?;
    for path in &libraries {
        let id = host.load(path).await?;
        host.start(&id).await?;
    }

    let pipeline = Pipeline::compile(&demo, &host)?;
    let report = pipeline.run(b"hello world").await;
    print!("{}", indent(&report.to_string()));
    println!("  audit records of the run:");
    for r in audit
        .records()
        .into_iter()
        .filter(|r| r.event == "decision")
    {
        println!(
            "    #{} {} {} {:?} {} -> {:?}{}",
            r.seq,
            r.plugin,
            r.event,
            r.outcome,
            r.request,
            r.rule,
            r.capability.map(|c| format!(" ({c})")).unwrap_or_default()
        );
    }

    println!("  the seed's astr-agent.example.yaml, loaded unchanged:");
    let seeded = Pipeline::compile(&seed, &host)?;
    let report = seeded.run(b"hello world").await;
    println!(
        "    {} -> {:?}",
        report.status(),
        String::from_utf8_lossy(report.output("final").unwrap_or_default())
    );

    // A compiled pipeline holds handles to its plugins: drop it first, so
    // that unloading closes the libraries at once.
    drop((pipeline, seeded));
    for p in host.plugins().list() {
        let unloaded = host.unload(&p.id).await?;
        println!("  {:<18} closed = {}", unloaded.id, unloaded.closed);
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// Copies the pipeline plugins cargo built next to the demo into `dir`.
fn stage(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("the demo's directory")?.join("deps");
    LIBRARIES
        .iter()
        .map(|name| {
            let file = format!(
                "{}{name}{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            );
            let to = dir.join(&file);
            std::fs::copy(deps.join(&file), &to).with_context(|| {
                format!("{file} is missing: run the demo with `cargo run -p sharelife-demo`")
            })?;
            Ok(to)
        })
        .collect()
}
