//! `isolation = "process"` as a host config's user writes it: a host
//! booted from config text with [`sharelife_sandbox::Provider`] runs the
//! escape fixture in a sandboxed child (its escape is denied), `[sandbox]
//! auto` picks plugins by their risk label (below it, a plugin whose
//! library imports no undeclared road runs in process), and without a
//! provider the plugin is refused with a typed error, never run in
//! process.

mod support;

use std::sync::Arc;

use sharelife_core::host::isolation::{IsolationError, IsolationReason};
use sharelife_core::host::{BootError, HostConfig, Isolation, Stage};
use sharelife_core::{Host, HostError, PluginState};
use sharelife_sandbox::{Feature, Provider};
use support::{escape_library, kernel_gives};

const BOTH: [Feature; 2] = [Feature::Landlock, Feature::Seccomp];
const ID: &str = "fixture.escape";

/// A plugin folder holding a copy of the escape fixture, and a config
/// text scanning it with `rest` appended.
fn setup(rest: &str) -> (tempfile::TempDir, HostConfig) {
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let plugins = dirs.path().join("plugins");
    std::fs::create_dir(&plugins).expect("the plugin folder");
    let library = escape_library();
    std::fs::copy(
        &library,
        plugins.join(library.file_name().expect("a file name")),
    )
    .expect("the fixture copied");
    let text = format!(
        "plugin_paths = [{:?}]\ndata_dir = {:?}\ntemp_dir = {:?}\n{rest}",
        plugins.display().to_string(),
        dirs.path().join("data").display().to_string(),
        dirs.path().join("tmp").display().to_string(),
    );
    let config = HostConfig::parse(&text, None, &|_| None).expect("the config parses");
    (dirs, config)
}

fn booted_host(config: HostConfig, provider: bool) -> Host {
    let mut builder = Host::builder().config(config);
    if provider {
        builder = builder.isolation_provider(Arc::new(Provider::new()));
    }
    builder.build().expect("a host")
}

fn call(host: &Host, handler: &str) -> String {
    let out = host.call(ID, handler, b"").expect("the call answers");
    String::from_utf8(out.to_vec()).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_process_in_the_config_runs_it_in_a_child() {
    if !kernel_gives("isolation_process_in_the_config_runs_it_in_a_child", &BOTH) {
        return;
    }
    let (_dirs, config) = setup(
        r#"
[plugins."fixture.escape"]
isolation = "process"
limits = { memory = "512MiB", cpu_time = "60s", call_timeout = "30s", open_files = 64 }

[sandbox]
require = ["landlock", "seccomp"]
"#,
    );
    let host = booted_host(config, true);
    let report = host.boot().await.expect("boots");
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.started.len(), 1, "{report}");
    assert_eq!(
        report.sandboxed,
        [(ID.parse().unwrap(), IsolationReason::Explicit)]
    );
    assert!(
        report
            .to_string()
            .contains("sandboxed fixture.escape (out of process): isolation set for the plugin\n"),
        "{report}"
    );
    assert_eq!(host.plugins().state(ID), Some(PluginState::Active));
    assert_eq!(
        host.call(ID, "noop", b"").expect("noop answers").as_slice(),
        b""
    );
    let hostname = call(&host, "read_hostname");
    assert!(hostname.starts_with("denied: "), "{hostname}");
    assert!(
        !support::children().is_empty(),
        "the plugin runs in a child of this process"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_auto_picks_plugins_by_their_risk_label() {
    if !kernel_gives("sandbox_auto_picks_plugins_by_their_risk_label", &BOTH) {
        return;
    }
    // The fixture requests 127.0.0.1 (for the broker's tests): its risk
    // label is "high".
    let (_dirs, config) = setup("[sandbox]\nauto = \"high\"\n");
    let file = sharelife_core::loader::PluginFile::read(escape_library()).expect("a manifest");
    let (isolation, why) = config.isolation_for(&file);
    assert!(matches!(isolation, Isolation::Process(_)), "{isolation:?}");
    assert_eq!(
        why.to_string(),
        "its risk label high is at or above [sandbox] auto = \"high\""
    );
    assert!(matches!(why, IsolationReason::AutoByRisk { .. }));
    let host = booted_host(config, true);
    let report = host.boot().await.expect("boots");
    assert!(report.is_complete(), "{report}");
    let hostname = call(&host, "read_hostname");
    assert!(hostname.starts_with("denied: "), "{hostname}");
    host.shutdown().await;

    // A plugin below it whose library imports no undeclared road stays in
    // process: the echo example requests nothing, its label is "low" (a
    // low plugin that dials out itself does not: see
    // auto_sandboxes_a_scan_mismatch.rs).
    let low = sharelife_core::loader::PluginFile::read(support::built_library("example-echo"))
        .expect("a manifest");
    assert_eq!(low.manifest().risk().to_string(), "low");
    for auto in ["medium", "high"] {
        let (_dirs, config) = setup(&format!("[sandbox]\nauto = \"{auto}\"\n"));
        assert_eq!(
            config.isolation_for(&low),
            (Isolation::InProcess, IsolationReason::Default),
            "{auto}"
        );
    }
    // And with the fixture in process explicitly, the same escape goes
    // through: the sandbox, not the fixture, denied it above.
    let (_dirs, config) = setup(
        "[plugins.\"fixture.escape\"]\nisolation = \"in-process\"\n[sandbox]\nauto = \"high\"\n",
    );
    let host = booted_host(config, true);
    let report = host.boot().await.expect("boots");
    assert!(report.is_complete(), "{report}");
    let hostname = call(&host, "read_hostname");
    assert!(hostname.starts_with("ok: "), "{hostname}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_in_process_wins_over_auto() {
    let (_dirs, config) = setup(
        "[plugins.\"fixture.escape\"]\nisolation = \"in-process\"\n[sandbox]\nauto = \"low\"\n",
    );
    let file = sharelife_core::loader::PluginFile::read(escape_library()).expect("a manifest");
    assert_eq!(
        config.isolation_for(&file),
        (Isolation::InProcess, IsolationReason::Explicit)
    );
}

fn is_no_provider(error: &HostError) -> bool {
    matches!(
        error,
        HostError::Isolation { id, error: IsolationError::NoProvider } if id.as_str() == ID
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_provider_it_is_refused_never_run_in_process() {
    let text = "[plugins.\"fixture.escape\"]\nisolation = \"process\"\n";
    let (_dirs, config) = setup(text);
    let host = booted_host(config, false);
    let report = host.boot().await.expect("boots the others");
    assert!(report.started.is_empty(), "{report}");
    let [failure] = report.failed.as_slice() else {
        panic!("one failure expected: {report}");
    };
    assert_eq!(failure.stage, Stage::Load);
    assert!(
        matches!(&failure.error, BootError::Host(e) if is_no_provider(e)),
        "{:?}",
        failure.error
    );
    assert!(
        failure
            .to_string()
            .contains("no isolation provider is registered"),
        "{failure}"
    );
    assert_ne!(host.plugins().state(ID), Some(PluginState::Active));
    assert!(host.call(ID, "noop", b"").is_err());
    host.shutdown().await;

    // Strict mode refuses to start.
    let (_dirs, config) = setup(&format!("strict = true\n{text}"));
    let host = booted_host(config, false);
    let refused = host.boot().await.expect_err("strict refuses");
    assert!(
        matches!(&refused, HostError::Strict { failures } if failures.len() == 1),
        "{refused:?}"
    );

    // From code, too.
    let host = booted_host(HostConfig::default(), false);
    let refused = host
        .load_with(escape_library(), Isolation::Process(support::limits()))
        .await
        .expect_err("refused without a provider");
    assert!(is_no_provider(&refused), "{refused:?}");
    assert!(host.plugins().state(ID).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_process_isolation_from_code() {
    if !kernel_gives("load_with_process_isolation_from_code", &BOTH) {
        return;
    }
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let host = Host::builder()
        .data_root(dirs.path().join("data"))
        .temp_root(dirs.path().join("tmp"))
        .isolation_provider(Arc::new(Provider::new()))
        .build()
        .expect("a host");
    let id = host
        .load_with(escape_library(), Isolation::Process(support::limits()))
        .await
        .expect("loads in a child");
    host.start(&id).await.expect("starts");
    let hostname = call(&host, "read_hostname");
    assert!(hostname.starts_with("denied: "), "{hostname}");
    host.shutdown().await;
}

/// A provider standing for a kernel that lacks what is asked: it reports
/// every required feature as missing.
#[derive(Debug)]
struct KernelLacks;

impl sharelife_core::host::IsolationProvider for KernelLacks {
    fn spawn(
        &self,
        _path: &std::path::Path,
        _manifest: &sharelife_core::manifest::Manifest,
        _limits: &sharelife_core::host::ProcessLimits,
        require: &[String],
    ) -> Result<Box<dyn sharelife_core::Plugin>, IsolationError> {
        Err(IsolationError::Unmet {
            missing: require.to_vec(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requirement_the_provider_reports_unmet_refuses_the_plugin() {
    let (_dirs, config) = setup(
        "[plugins.\"fixture.escape\"]\nisolation = \"process\"\n[sandbox]\nrequire = [\"landlock-network\"]\n",
    );
    let host = Host::builder()
        .config(config)
        .isolation_provider(Arc::new(KernelLacks))
        .build()
        .expect("a host");
    let report = host.boot().await.expect("boots the others");
    let [failure] = report.failed.as_slice() else {
        panic!("one failure expected: {report}");
    };
    assert!(
        matches!(
            &failure.error,
            BootError::Host(HostError::Isolation { error: IsolationError::Unmet { missing }, .. })
                if missing == &["landlock-network".to_owned()]
        ),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.to_string(),
        "fixture.escape (load): plugin \"fixture.escape\" must run out of process, but the kernel cannot give what [sandbox] require asks for: landlock-network missing"
    );
    assert_ne!(host.plugins().state(ID), Some(PluginState::Active));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_plugin_is_reloaded_hot_and_cold_in_a_new_child_never_in_process() {
    if !kernel_gives(
        "a_sandboxed_plugin_is_reloaded_hot_and_cold_in_a_new_child_never_in_process",
        &BOTH,
    ) {
        return;
    }
    let (dirs, config) = setup("[plugins.\"fixture.escape\"]\nisolation = \"process\"\n");
    let host = booted_host(config, true);
    let report = host.boot().await.expect("boots");
    assert!(report.is_complete(), "{report}");

    // A sync of the unchanged folder leaves it alone (no reload tried).
    let sync = host.sync_generation().await.expect("syncs");
    assert!(sync.failed.is_empty(), "{sync:?}");
    assert_eq!(sync.unchanged, [ID.parse().unwrap()], "{sync:?}");

    // A cold reload starts a new child through the provider.
    host.reload_in_place(ID).await.expect("reloads in place");
    assert_eq!(host.plugins().state(ID), Some(PluginState::Active));
    let hostname = call(&host, "read_hostname");
    assert!(hostname.starts_with("denied: "), "{hostname}");

    // So does a hot reload: the new build runs in a new child, never in
    // the host's process, and is as walled in as the old one.
    let copy = dirs.path().join("libfixture_escape_v2.so");
    std::fs::copy(escape_library(), &copy).expect("a second copy");
    let report = host.reload(ID, &copy).await.expect("hot-reloaded");
    assert_eq!(report.library, copy);
    assert_eq!(sharelife_core::loader::is_mapped(&copy), Some(false));
    let hostname = call(&host, "read_hostname");
    assert!(hostname.starts_with("denied: "), "{hostname}");
    host.shutdown().await;
}
