//! The seed's `astr-agent.v1` example loads unchanged and runs end to end
//! with the example plugins: `hello world` → `HELLO WORLD ::verified`.
//!
//! `tests/data/seed/` holds verbatim copies of the seed files, so the test
//! runs in a checkout without `shared/`; where `shared/` sits beside the
//! repository, the copies are checked to be byte for byte the seed's.

use std::path::{Path, PathBuf};

use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::pipeline::{
    CapabilityClass, CapabilityGrant, Dialect, FinalPolicy, OnFailure, Pipeline, PipelineFile,
    RunStatus, StepStatus, selects,
};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::load;

fn copy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/seed")
        .join(name)
}

#[test]
fn the_copies_are_the_seed_files() {
    let seeds =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds/sharelife-contracts");
    if !seeds.is_dir() {
        eprintln!("{} is not here; checking the copies only", seeds.display());
        return;
    }
    for name in ["astr-agent.example.yaml", "astr-agent.v1.schema.json"] {
        assert_eq!(
            std::fs::read(copy(name)).unwrap(),
            std::fs::read(seeds.join(name)).unwrap(),
            "tests/data/seed/{name} differs from the seed's"
        );
    }
}

#[test]
fn the_seed_example_maps_onto_the_pipeline_format() {
    let file = PipelineFile::from_path(copy("astr-agent.example.yaml")).unwrap();
    assert_eq!(file.dialect(), Dialect::AstrAgentV1);
    file.check().unwrap();
    let spec = file.spec();
    assert_eq!(spec.agent.as_ref().unwrap().id, "sharelife-agent-demo");
    assert_eq!(
        spec.agent.as_ref().unwrap().objective.as_deref(),
        Some("convert user text to uppercase and append deployment-safe suffix")
    );
    let plugins: Vec<_> = spec
        .plugins
        .iter()
        .map(|p| (p.alias.as_str(), p.plugin.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(
        plugins,
        [("upper", "upper", "*"), ("suffix", "suffix", "*")]
    );
    assert_eq!(
        spec.plugins[0].capabilities,
        [CapabilityGrant::Class(CapabilityClass::FileRead)]
    );
    assert_eq!(spec.plugins[1].config["suffix"], " ::verified");
    let steps: Vec<_> = spec
        .steps
        .iter()
        .map(|s| {
            (
                s.step_id.as_str(),
                s.handler.as_str(),
                s.input_from.as_str(),
                s.on_failure,
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("step_upper", "run", "$input", OnFailure::Abort),
            ("step_suffix", "run", "step_upper", OnFailure::Retry),
        ]
    );
    let retry = spec.steps[1].retry.as_ref().unwrap();
    assert_eq!((retry.retries, retry.then), (1, FinalPolicy::Abort));
    assert!(spec.steps[0].retry.is_none());
    let runtime = spec.runtime.as_ref().unwrap();
    assert!(!runtime.requires_admin_confirmation);
    assert_eq!(runtime.compatibility["sharelife"], ">=0.2.0");
}

#[tokio::test]
async fn the_seed_example_runs_end_to_end() {
    let dir = Scratch::new();
    let file = PipelineFile::from_path(copy("astr-agent.example.yaml")).unwrap();

    // The host configures each plugin with the config the file gives it.
    let ids = ["examples.upper", "examples.suffix"];
    // The seed declares `file.read` for both plugins: the host grants it.
    let policy = Policy::new().allow(
        "examples.*",
        Capability::File {
            access: FileAccess::Read,
            path: "**".into(),
        },
    );
    let host = dir.host_with(|mut b| {
        b = b.policy(policy);
        for (selector, config) in file.plugins() {
            for id in ids.iter().filter(|id| selects(selector, id)) {
                b = b.plugin_config(*id, config.clone());
            }
        }
        b
    });
    load(&host, &dir, "example-upper").await;
    load(&host, &dir, "example-suffix").await;

    let pipeline = Pipeline::compile(&file, &host).unwrap();
    let report = pipeline.run(b"hello world").await;

    assert_eq!(report.status(), RunStatus::Completed, "{report}");
    assert_eq!(report.output("upper_result"), Some(&b"HELLO WORLD"[..]));
    assert_eq!(report.output("final"), Some(&b"HELLO WORLD ::verified"[..]));
    assert_eq!(report.agent().unwrap().id, "sharelife-agent-demo");
    for step in report.steps() {
        assert_eq!(step.status(), StepStatus::Completed);
        assert!(step.decision().unwrap().allowed);
    }
    assert_eq!(
        pipeline.run_sync(b"again").unwrap().final_output(),
        Some(&b"AGAIN ::verified"[..])
    );
}
