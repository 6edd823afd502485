//! `[sandbox] auto = "high"` runs out of process every plugin at or above
//! that risk label *or with a scan mismatch*: a low plugin whose library
//! imports a road around the gateway its manifest does not declare (the
//! raw-net fixture dials out with `TcpStream::connect` and declares no
//! network) is booted in a sandboxed child, and the reason names the
//! imports; a clean plugin of the same label (the echo example) stays in
//! process; an explicit `isolation = "in-process"` wins; a library whose
//! imports cannot be read is run out of process (fail closed).

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use sharelife_core::host::isolation::IsolationReason;
use sharelife_core::host::{HostConfig, Isolation};
use sharelife_core::loader::{PluginFile, is_mapped};
use sharelife_core::manifest::RiskLevel;
use sharelife_core::manifest::roads::{Road, Undeclared};
use sharelife_core::{Host, PluginState};
use sharelife_sandbox::{Feature, Provider};
use support::{built_library, kernel_gives};

const BOTH: [Feature; 2] = [Feature::Landlock, Feature::Seccomp];
const RAW: &str = "fixture.raw-net";
const ECHO: &str = "examples.echo";

/// A plugin folder holding copies of the raw-net fixture and the echo
/// example, the copies' paths (raw-net, echo), and a config scanning the
/// folder with `rest` appended.
fn setup(rest: &str) -> (tempfile::TempDir, [PathBuf; 2], HostConfig) {
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let plugins = dirs.path().join("plugins");
    std::fs::create_dir(&plugins).expect("the plugin folder");
    let copies = ["fixture-raw-net", "example-echo"].map(|name| {
        let library = built_library(name);
        let copy = plugins.join(library.file_name().expect("a file name"));
        std::fs::copy(&library, &copy).expect("the library copied");
        copy
    });
    let text = format!(
        "plugin_paths = [{:?}]\ndata_dir = {:?}\ntemp_dir = {:?}\n{rest}",
        plugins.display().to_string(),
        dirs.path().join("data").display().to_string(),
        dirs.path().join("tmp").display().to_string(),
    );
    let config = HostConfig::parse(&text, None, &|_| None).expect("the config parses");
    (dirs, copies, config)
}

fn booted_host(config: HostConfig) -> Host {
    Host::builder()
        .config(config)
        .isolation_provider(Arc::new(Provider::new()))
        .build()
        .expect("a host")
}

/// The network road the raw-net fixture's library opens, as the loader
/// reads it from the file.
fn raw_net_road(file: &PluginFile) -> Undeclared {
    let roads = file.undeclared_roads().expect("its imports read");
    let [road] = roads.as_slice() else {
        panic!("one undeclared road expected: {roads:?}");
    };
    assert_eq!(road.road, Road::Network, "{road:?}");
    road.clone()
}

#[test]
fn the_loader_reads_the_imports_and_finds_the_undeclared_roads() {
    let raw = PluginFile::read(built_library("fixture-raw-net")).expect("a manifest");
    let imports = raw.imports().expect("its imports read");
    for symbol in ["socket", "connect", "getaddrinfo"] {
        assert!(
            imports.iter().any(|s| s == symbol),
            "{symbol} in {imports:?}"
        );
    }
    let road = raw_net_road(&raw);
    for symbol in ["socket", "connect", "getaddrinfo"] {
        assert!(road.symbols.iter().any(|s| s == symbol), "{road:?}");
    }

    // The echo example goes through the gateway only: std's runtime
    // imports (`open64` on glibc) are no mismatch.
    let echo = PluginFile::read(built_library("example-echo")).expect("a manifest");
    assert_eq!(echo.undeclared_roads().expect("its imports read"), []);

    // The escape fixture declares network, command and file; `dlopen`
    // can never be declared.
    let escape = PluginFile::read(support::escape_library()).expect("a manifest");
    assert_eq!(
        escape.undeclared_roads().expect("its imports read"),
        [Undeclared {
            road: Road::DynamicLoading,
            symbols: vec!["dlopen".into()],
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_plugin_dialing_out_itself_boots_out_of_process_a_clean_one_in_process() {
    let (_dirs, [raw_copy, echo_copy], config) = setup("[sandbox]\nauto = \"high\"\n");
    let raw = PluginFile::read(&raw_copy).expect("a manifest");
    let echo = PluginFile::read(&echo_copy).expect("a manifest");
    assert_eq!(raw.manifest().risk(), RiskLevel::Low);
    assert_eq!(echo.manifest().risk(), RiskLevel::Low);

    // What `sharelife inspect --config` shows, and what the host applies.
    let expected = IsolationReason::AutoByScan {
        risk: RiskLevel::Low,
        auto: RiskLevel::High,
        roads: vec![raw_net_road(&raw)],
    };
    let (isolation, why) = config.isolation_for(&raw);
    assert!(matches!(isolation, Isolation::Process(_)), "{isolation:?}");
    assert_eq!(why, expected);
    let text = why.to_string();
    assert!(text.starts_with("it imports "), "{text}");
    assert!(text.contains("connect"), "{text}");
    assert!(
        text.contains("(network) without declaring network (a scan mismatch: [sandbox] auto = \"high\" sandboxes it although its risk label is low)"),
        "{text}"
    );
    assert_eq!(
        config.isolation_for(&echo),
        (Isolation::InProcess, IsolationReason::Default)
    );

    if !kernel_gives(
        "a_low_plugin_dialing_out_itself_boots_out_of_process_a_clean_one_in_process",
        &BOTH,
    ) {
        return;
    }
    let host = booted_host(config);
    let report = host.boot().await.expect("boots");
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.started.len(), 2, "{report}");
    assert_eq!(report.sandboxed, [(RAW.parse().unwrap(), expected)]);
    assert!(
        report
            .to_string()
            .contains("sandboxed fixture.raw-net (out of process): it imports "),
        "{report}"
    );
    for id in [RAW, ECHO] {
        assert_eq!(host.plugins().state(id), Some(PluginState::Active), "{id}");
    }
    // raw-net runs in a child: its library is not open in this process;
    // echo's is.
    assert_eq!(is_mapped(&raw_copy), Some(false));
    assert_eq!(is_mapped(&echo_copy), Some(true));
    assert!(
        !support::children().is_empty(),
        "raw-net runs in a child of this process"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_in_process_wins_over_a_scan_mismatch() {
    let (_dirs, [raw_copy, _], config) = setup(
        "[plugins.\"fixture.raw-net\"]\nisolation = \"in-process\"\n[sandbox]\nauto = \"high\"\n",
    );
    let raw = PluginFile::read(&raw_copy).expect("a manifest");
    assert_eq!(
        config.isolation_for(&raw),
        (Isolation::InProcess, IsolationReason::Explicit)
    );
    let host = booted_host(config);
    let report = host.boot().await.expect("boots");
    assert!(report.is_complete(), "{report}");
    assert!(report.sandboxed.is_empty(), "{report}");
    assert_eq!(host.plugins().state(RAW), Some(PluginState::Active));
    assert_eq!(is_mapped(&raw_copy), Some(true));
    host.shutdown().await;
}

#[test]
fn a_library_whose_imports_cannot_be_read_runs_out_of_process() {
    let (_dirs, [_, echo_copy], config) = setup("[sandbox]\nauto = \"high\"\n");
    let echo = PluginFile::read(&echo_copy).expect("a manifest");
    // Gone between the manifest read and the scan.
    std::fs::remove_file(&echo_copy).expect("removed");
    let (isolation, why) = config.isolation_for(&echo);
    assert!(matches!(isolation, Isolation::Process(_)), "{isolation:?}");
    assert!(
        matches!(&why, IsolationReason::AutoScanFailed { auto: RiskLevel::High, error } if error.contains("cannot read")),
        "{why:?}"
    );
    assert!(
        why.to_string().ends_with(", so it runs out of process"),
        "{why}"
    );
}
