//! File access through the gateway with real files: allowed operations
//! work, and each escape attempt is denied and audited.

mod common;

use common::*;
use sharelife_core::ErrorKind;
use sharelife_core::audit::Outcome;
use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::services::Backends;

fn file(access: FileAccess, path: &str) -> Capability {
    Capability::File {
        access,
        path: path.into(),
    }
}

/// A plugin allowed to read and write `files/**` under its data dir, with
/// a secret next door.
fn setup(
    dir: &Scratch,
) -> (
    sharelife_core::PluginContext,
    std::sync::Arc<sharelife_core::audit::MemorySink>,
) {
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("files/sub")).unwrap();
    std::fs::write(data.join("files/hello.txt"), "hello").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
    let m = manifest(vec![
        file(FileAccess::Read, "files/**"),
        file(FileAccess::Write, "files/**"),
    ]);
    let policy = Policy::new()
        .allow(PLUGIN, file(FileAccess::Read, "files/**"))
        .allow(PLUGIN, file(FileAccess::Write, "files/out/*.txt"));
    let (ctx, audit, _) = gated(&m, &policy, &data, Backends::new());
    (ctx, audit)
}

fn assert_denied(result: Result<impl std::fmt::Debug, sharelife_core::PluginError>) -> String {
    match result {
        Err(e) if e.kind() == ErrorKind::Denied => e.message().to_owned(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn allowed_reads_writes_lists_and_removes_work() {
    let dir = Scratch::new();
    let (ctx, audit) = setup(&dir);
    assert_eq!(ctx.fs().read("files/hello.txt").unwrap(), b"hello");
    ctx.fs().write("files/out/report.txt", b"done").unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("data/files/out/report.txt")).unwrap(),
        b"done"
    );
    assert_eq!(ctx.fs().list("files").unwrap(), ["hello.txt", "out", "sub"]);
    ctx.fs().remove("files/out/report.txt").unwrap();
    assert!(!dir.path().join("data/files/out/report.txt").exists());
    assert_eq!(
        decisions(&audit)
            .iter()
            .filter(|(o, _)| *o == Outcome::Allow)
            .count(),
        4
    );
}

#[test]
fn write_outside_the_write_grant_is_denied() {
    let dir = Scratch::new();
    let (ctx, audit) = setup(&dir);
    let why = assert_denied(ctx.fs().write("files/hello.txt", b"overwritten"));
    assert!(
        why.contains("write") && why.contains("files/hello.txt"),
        "{why}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("data/files/hello.txt")).unwrap(),
        b"hello"
    );
    // `*` does not cross `/`.
    assert_denied(ctx.fs().write("files/out/deeper/x.txt", b"x"));
    assert_denied(ctx.fs().write("files/out/x.txt.sh", b"x"));
    let last = last(&audit);
    assert_eq!(
        (last.outcome, last.capability.as_deref()),
        (Outcome::Deny, Some("file"))
    );
}

#[test]
fn dot_dot_escapes_are_denied() {
    let dir = Scratch::new();
    let (ctx, _) = setup(&dir);
    for path in [
        "../secret.txt",
        "files/../../secret.txt",
        "files/sub/../../../secret.txt",
        "./files/../../secret.txt",
    ] {
        assert_denied(ctx.fs().read(path));
    }
    let abs = dir.path().join("secret.txt");
    assert_denied(ctx.fs().read(abs.to_str().unwrap()));
}

#[test]
fn symlinks_out_of_the_root_are_denied() {
    let dir = Scratch::new();
    let (ctx, _) = setup(&dir);
    let data = dir.path().join("data");
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), data.join("files/link.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path(), data.join("files/up")).unwrap();
    let why = assert_denied(ctx.fs().read("files/link.txt"));
    assert!(
        why.contains("secret.txt"),
        "the decision names the resolved target: {why}"
    );
    assert_denied(ctx.fs().read("files/up/secret.txt"));
    assert_denied(ctx.fs().list("files/up"));
}

#[test]
fn look_alike_paths_are_different_paths() {
    let dir = Scratch::new();
    let (ctx, _) = setup(&dir);
    let data = dir.path().join("data");
    // "fіles" with a Cyrillic 'і' is not "files".
    std::fs::create_dir_all(data.join("f\u{0456}les")).unwrap();
    std::fs::write(data.join("f\u{0456}les/hello.txt"), "x").unwrap();
    assert_denied(ctx.fs().read("f\u{0456}les/hello.txt"));
    assert_denied(ctx.fs().read("FILES/hello.txt"));
}

#[test]
fn without_a_gateway_every_service_is_denied() {
    let ctx = sharelife_core::PluginContext::local(sharelife_core::ContextData {
        plugin_id: PLUGIN.into(),
        config: serde_json::Value::Null,
        data_dir: std::env::temp_dir(),
        temp_dir: std::env::temp_dir(),
    });
    let why = assert_denied(ctx.fs().read("anything"));
    assert!(why.contains("default deny"), "{why}");
    assert_denied(ctx.connect("127.0.0.1", 1));
}
