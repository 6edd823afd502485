//! The scan on real packaged plugins: a plugin that dials out itself vs.
//! one that goes through the gateway, advisories from a fixture RustSec
//! database, and a plain plugin with nothing to report.

use std::path::{Path, PathBuf};

use sharelife_manifest::RiskLevel;
use sharelife_registry::package::{self, Package, PackageOptions};
use sharelife_registry::scan::{self, Road, ScanError};

fn built_library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn advisory_db() -> PathBuf {
    workspace().join("tests/fixtures/advisory-db")
}

/// Packages crate `name` (at `dir` in the workspace) from its built
/// library and opens the package.
fn packaged(name: &str, dir: &str) -> (tempfile::TempDir, Package) {
    let scratch = tempfile::tempdir().unwrap();
    let built = package::build(&PackageOptions {
        crate_dir: workspace().join(dir),
        out_dir: scratch.path().to_owned(),
        library: Some(built_library(name)),
        ..PackageOptions::default()
    })
    .unwrap();
    let pkg = Package::open(&built.path).unwrap();
    (scratch, pkg)
}

#[test]
fn a_plugin_dialing_out_itself_is_a_mismatch_the_gateway_plugin_is_not() {
    let (_a, raw) = packaged("fixture-raw-net", "tests/fixtures/raw-net");
    let (_b, fetcher) = packaged("example-fetcher", "examples/plugins/fetcher");
    let raw = scan::scan(&raw, None).unwrap();
    let fetcher = scan::scan(&fetcher, None).unwrap();

    // The raw imports: raw-net opens sockets and resolves names itself.
    let imports = |r: &scan::ScanReport, road: Road| -> Vec<String> {
        r.libraries[0]
            .imports
            .iter()
            .filter(|i| i.road == road && !i.std_runtime)
            .map(|i| i.symbol.clone())
            .collect()
    };
    let raw_net = imports(&raw, Road::Network);
    for symbol in ["socket", "connect", "getaddrinfo"] {
        assert!(
            raw_net.iter().any(|s| s == symbol),
            "{symbol} in {raw_net:?}"
        );
    }
    // fetcher only reads and writes the stream the gateway hands it.
    let fetcher_net = imports(&fetcher, Road::Network);
    assert!(
        !fetcher_net.iter().any(|s| s == "socket" || s == "connect"),
        "{fetcher_net:?}"
    );

    // raw-net declares no network: a mismatch, raised to high.
    assert_eq!(raw.mismatches.len(), 1, "{:?}", raw.mismatches);
    let mismatch = &raw.mismatches[0];
    assert_eq!(mismatch.road, Road::Network);
    assert!(mismatch.symbols.iter().any(|s| s == "connect"));
    assert!(
        mismatch
            .message
            .starts_with("declares no network, imports "),
        "{}",
        mismatch.message
    );
    assert!(
        mismatch.message.contains("`connect`"),
        "{}",
        mismatch.message
    );
    let raises = raw.raises();
    assert_eq!(raises.len(), 1);
    assert_eq!(raises[0].to, RiskLevel::High);
    assert_eq!(raises[0].reason, mismatch.message);

    // fetcher declares network, file and command: nothing to raise.
    assert!(fetcher.mismatches.is_empty(), "{:?}", fetcher.mismatches);
    assert!(fetcher.raises().is_empty());

    // Both: std's runtime `open64` is reported, flagged, not a mismatch.
    for report in [&raw, &fetcher] {
        let lib = &report.libraries[0];
        if package::host_triple().contains("linux-gnu") {
            let open64 = lib.imports.iter().find(|i| i.symbol == "open64").unwrap();
            assert_eq!(open64.road, Road::Filesystem);
            assert!(open64.std_runtime);
        }
        assert!(
            lib.rustc.as_deref().unwrap().starts_with("rustc version "),
            "{:?}",
            lib.rustc
        );
        assert_eq!(lib.target, package::host_triple());
        assert_eq!(lib.sha256.len(), 64);
        assert_eq!(report.abi_stable.as_deref(), Some("0.11.3"));
    }

    // The report round-trips through JSON (it goes into the catalog).
    let json = serde_json::to_string(&raw).unwrap();
    assert!(json.contains("\"road\":\"network\""), "{json}");
    let back: scan::ScanReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, raw);
}

#[test]
fn the_echo_plugin_has_nothing_to_report() {
    let (_s, echo) = packaged("example-echo", "examples/plugins/echo");
    let report = scan::scan(&echo, None).unwrap();
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert!(report.advisories.is_empty());
    assert!(report.raises().is_empty());
    // Its only classified imports are std's runtime.
    assert!(
        report.libraries[0].imports.iter().all(|i| i.std_runtime),
        "{:?}",
        report.libraries[0].imports
    );
}

#[test]
fn an_advisory_against_a_locked_crate_is_found_and_raises() {
    let (_s, raw) = packaged("fixture-raw-net", "tests/fixtures/raw-net");
    let report = scan::scan(&raw, Some(&advisory_db())).unwrap();
    assert_eq!(report.advisories.len(), 1, "{:?}", report.advisories);
    let advisory = &report.advisories[0];
    assert_eq!(advisory.id, "RUSTSEC-2099-0001");
    assert_eq!(advisory.package, "serde_json");
    assert_eq!(advisory.patched, vec![">=1.0.999".to_owned()]);
    assert!(advisory.version.starts_with("1.0."));
    assert!(
        advisory.title.contains("Fixture advisory"),
        "{}",
        advisory.title
    );
    assert!(advisory.informational.is_none());
    let raises = report.raises();
    // The network mismatch and the advisory.
    assert_eq!(raises.len(), 2, "{raises:?}");
    assert!(raises.iter().all(|r| r.to == RiskLevel::High));
    assert!(
        raises[1].reason.contains("RUSTSEC-2099-0001"),
        "{}",
        raises[1].reason
    );
}

#[test]
fn an_unreadable_advisory_database_is_an_error_naming_it() {
    let (_s, echo) = packaged("example-echo", "examples/plugins/echo");
    let missing = workspace().join("tests/fixtures/no-such-advisory-db");
    let err = scan::scan(&echo, Some(&missing)).unwrap_err();
    assert!(
        matches!(err, ScanError::AdvisoryDb { ref path, .. } if *path == missing),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-advisory-db"), "{err}");
}

#[test]
fn classification_covers_each_road() {
    assert_eq!(scan::classify("connect"), Some(Road::Network));
    assert_eq!(scan::classify("posix_spawnp"), Some(Road::Process));
    assert_eq!(scan::classify("openat"), Some(Road::Filesystem));
    assert_eq!(scan::classify("dlopen"), Some(Road::DynamicLoading));
    assert_eq!(scan::classify("malloc"), None);
    assert_eq!(scan::classify("dl_iterate_phdr"), None);
    assert!(scan::is_std_runtime("x86_64-unknown-linux-gnu", "open64"));
    assert!(!scan::is_std_runtime("x86_64-unknown-linux-gnu", "openat"));
}
