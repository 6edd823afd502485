//! The demo pipeline (examples/pipelines/demo.yaml on the host of
//! examples/host.toml) against the same handler calls made directly, with
//! `sharelife-bench`: the file a host author writes, plus staging the
//! example plugins cargo built next to this bench.

use criterion::{Criterion, criterion_group, criterion_main};
use sharelife_bench::{PipelineBench, stage_built_plugins};

fn demo_pipeline(c: &mut Criterion) {
    let plugins =
        std::env::temp_dir().join(format!("sharelife-demo-plugins-{}", std::process::id()));
    let crates = ["example-upper", "example-suffix", "example-fetcher"];
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    PipelineBench::new("demo_pipeline")
        .host_config(format!("{examples}/host.toml"))
        .env(
            "SHARELIFE_PLUGINS",
            stage_built_plugins(&plugins, &crates).display().to_string(),
        )
        .env("SHARELIFE_AUDIT_LOG", "{scratch}/audit.jsonl")
        .pipeline(format!("{examples}/pipelines/demo.yaml"))
        .input("hello world")
        .bench(c);
    let _ = std::fs::remove_dir_all(plugins);
}

criterion_group!(benches, demo_pipeline);
criterion_main!(benches);
