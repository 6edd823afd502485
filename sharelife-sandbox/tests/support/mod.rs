//! Shared by the sandbox tests: where the fixture libraries are, limits
//! for tests, the same plugin loaded in-process through the normal host,
//! and skipping (with a message) where the kernel lacks a feature.

#![allow(dead_code, reason = "each test file uses part of this module")]
#![allow(unreachable_pub, reason = "a module of test helpers")]

use std::path::PathBuf;
use std::time::Duration;

use sharelife_core::Host;
use sharelife_sandbox::{Feature, Limits, Requirements, Sandboxed, probe};

/// A library built as a dev-dependency: cargo puts its `cdylib` in
/// `target/<profile>/deps/`, next to the test executable.
pub fn built_library(crate_name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its executable");
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let path = exe.parent().expect("a directory").join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The escape fixture.
pub fn escape_library() -> PathBuf {
    built_library("fixture-escape")
}

/// Limits for tests: generous, with a call timeout as an upper bound on
/// a hung test (never a timing assertion).
pub fn limits() -> Limits {
    Limits {
        memory: Some(sharelife_sandbox::ByteSize(512 << 20)),
        cpu_time: Some(Duration::from_secs(60)),
        call_timeout: Some(Duration::from_secs(30)),
        open_files: Some(64),
        poll: None,
    }
}

/// Whether the kernel gives `features`; prints which are missing (the
/// test then skips) when it does not.
pub fn kernel_gives(test: &str, features: &[Feature]) -> bool {
    let missing = probe().missing(features);
    if missing.is_empty() {
        return true;
    }
    let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
    println!(
        "SKIPPED {test}: this kernel lacks {} (probe: {})",
        names.join(", "),
        probe()
    );
    false
}

/// The escape fixture in a sandbox with Landlock and seccomp required.
pub fn sandboxed(limits: &Limits) -> Sandboxed {
    Sandboxed::spawn(
        escape_library(),
        limits,
        &Requirements::new([Feature::Landlock, Feature::Seccomp]),
    )
    .expect("the escape fixture starts in a sandbox")
}

/// The output of a call as text.
pub fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("the fixture answers in UTF-8")
}

/// The escape fixture loaded in-process by the normal host, for showing
/// that an attempt works there.
pub struct InProcess {
    host: Host,
    id: String,
    runtime: tokio::runtime::Runtime,
    _dirs: tempfile::TempDir,
}

impl InProcess {
    pub fn load() -> Self {
        let dirs = tempfile::tempdir().expect("a scratch directory");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let host = Host::builder()
            .data_root(dirs.path().join("data"))
            .temp_root(dirs.path().join("tmp"))
            .build()
            .expect("a host");
        let id = runtime.block_on(async {
            let id = host.load(escape_library()).await.expect("loads in-process");
            host.start(&id).await.expect("starts");
            id
        });
        InProcess {
            host,
            id: id.to_string(),
            runtime,
            _dirs: dirs,
        }
    }

    pub fn call(&self, handler: &str, input: &[u8]) -> String {
        let _guard = self.runtime.enter();
        let out = self
            .host
            .call(&self.id, handler, input)
            .expect("the in-process call answers");
        String::from_utf8(out.to_vec()).expect("UTF-8")
    }
}

/// A host for the tests that add a sandboxed plugin, with its scratch
/// directories (kept as long as the host).
pub fn host(
    builder: impl FnOnce(sharelife_core::HostBuilder) -> sharelife_core::HostBuilder,
) -> (Host, tempfile::TempDir) {
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let host = builder(
        Host::builder()
            .data_root(dirs.path().join("data"))
            .temp_root(dirs.path().join("tmp")),
    )
    .build()
    .expect("a host");
    (host, dirs)
}

/// The escape fixture added to `host` as a sandboxed plugin (Landlock and
/// seccomp required), started.
pub async fn add_sandboxed(host: &Host, limits: &Limits) -> String {
    let id = sharelife_sandbox::load(
        host,
        escape_library(),
        limits,
        &Requirements::new([Feature::Landlock, Feature::Seccomp]),
    )
    .await
    .expect("the escape fixture is added in a sandbox");
    host.start(&id).await.expect("the sandboxed plugin starts");
    id.to_string()
}

/// This process's children, zombies included (pid and state), from
/// `/proc`.
pub fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if fields.next().and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            found.push((pid, state));
        }
    }
    found
}
