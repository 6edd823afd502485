//! Shared by the pipeline benches: a host with the `bench.noop` library
//! loaded for real, and pipelines compiled against it.

use std::path::PathBuf;

use sharelife_core::pipeline::{Pipeline, PipelineFile};
use sharelife_core::{Host, PluginHandle};

/// A current-thread runtime with a timer: one core, as the targets say.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
}

/// The `bench.noop` library cargo built next to this bench.
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its path");
    let path = exe.parent().expect("in a directory").join(format!(
        "{}bench_noop{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        path.exists(),
        "{} was not built; run `cargo bench`",
        path.display()
    );
    path
}

/// A host with `bench.noop` loaded from its library and started.
pub(crate) fn host(rt: &tokio::runtime::Runtime) -> (Host, PluginHandle) {
    let root = std::env::temp_dir().join(format!("sharelife-bench-{}", std::process::id()));
    let host = Host::builder()
        .data_root(root.join("data"))
        .temp_root(root.join("tmp"))
        .build()
        .expect("a host");
    rt.block_on(async {
        let id = host.load(library()).await.expect("bench.noop loads");
        host.start(&id).await.expect("bench.noop starts");
    });
    let handle = host.handle("bench.noop").expect("loaded");
    (host, handle)
}

/// A chain of `handlers` of `bench.noop`, each step reading the one
/// before.
pub(crate) fn chain(host: &Host, handlers: &[&str]) -> Pipeline {
    let mut text = String::from(
        "schema_version: sharelife.pipeline.v1\nplugins: [ { alias: n, plugin: bench.noop } ]\nsteps:\n",
    );
    for (i, handler) in handlers.iter().enumerate() {
        let input = if i == 0 {
            "$input".to_owned()
        } else {
            format!("s{}", i - 1)
        };
        text.push_str(&format!(
            "  - {{ step_id: s{i}, plugin_ref: n, handler: {handler}, input_from: {input:?} }}\n"
        ));
    }
    let file = PipelineFile::from_yaml("bench.yaml", &text).expect("the bench pipeline parses");
    Pipeline::compile(&file, host).expect("it compiles")
}
