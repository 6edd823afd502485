//! `sharelife audit` on a real hash-chained log written by the core's
//! `FileSink`: verify (and the first bad record named when one was
//! edited), show with filters, tail following records appended while it
//! runs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde_json::Value;
use sharelife_core::audit::{AuditEvent, AuditSink, Durability, FileSink, Outcome, What};

fn sl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Appends one operation record to the log at `path`.
fn append(path: &Path, plugin: &str, action: &str, detail: &str, outcome: Outcome) {
    let sink = FileSink::open(path, Durability::Sync).unwrap();
    sink.try_record(AuditEvent {
        at: SystemTime::now(),
        plugin: plugin.into(),
        version: "1.0.0".into(),
        what: What::Operation {
            action: action.to_owned(),
            detail: detail.to_owned(),
            outcome,
        },
    })
    .unwrap();
    sink.flush().unwrap();
}

fn sample(dir: &Path) -> std::path::PathBuf {
    let log = dir.join("audit.log");
    append(&log, "acme.upper", "install", "first", Outcome::Allow);
    append(&log, "sharelife.install", "apply", "second", Outcome::Deny);
    append(&log, "acme.upper", "remove", "third", Outcome::Allow);
    append(&log, "acme.other", "install", "fourth", Outcome::Info);
    log
}

#[test]
fn verify_names_the_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample(dir.path());
    let (code, out, err) = sl(&["audit", "verify", s(&log)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("4 records, the hash chain holds"), "{out}");
    let (code, out, _) = sl(&["audit", "verify", s(&log), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["records"].clone()),
        (true.into(), 4.into())
    );

    // Record 2 edited.
    let text = fs::read_to_string(&log).unwrap();
    fs::write(&log, text.replacen("second", "SECOND", 1)).unwrap();
    let (code, out, err) = sl(&["audit", "verify", s(&log)]);
    assert_eq!(code, 1, "{out}\n{err}");
    // Record 3's `prev` no longer matches record 2.
    assert!(err.contains("record 3 (line 3) breaks the chain"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let (code, out, _) = sl(&["audit", "verify", s(&log), "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["record"].clone()),
        (false.into(), 3.into())
    );
}

#[test]
fn show_filters() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample(dir.path());
    let count = |extra: &[&str]| -> (u64, Vec<String>) {
        let mut args = vec!["audit", "show", s(&log), "--json"];
        args.extend_from_slice(extra);
        let (code, out, err) = sl(&args);
        assert_eq!(code, 0, "{extra:?}: {out}\n{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let requests = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["request"].as_str().unwrap().to_owned())
            .collect();
        (v["count"].as_u64().unwrap(), requests)
    };
    assert_eq!(count(&[]).0, 4);
    assert_eq!(count(&["--plugin", "acme.upper"]).1, ["first", "third"]);
    assert_eq!(count(&["--outcome", "deny"]).1, ["second"]);
    assert_eq!(count(&["--capability", "install"]).1, ["first", "fourth"]);
    assert_eq!(
        count(&["--plugin", "acme.upper", "--capability", "remove"]).1,
        ["third"]
    );
    assert_eq!(count(&["--since", "1h"]).0, 4);
    assert_eq!(count(&["--since", "2999-01-01T00:00:00Z"]).0, 0);
    let (code, out, _) = sl(&["audit", "show", s(&log), "--outcome", "info"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1);
    assert!(
        out.contains("acme.other 1.0.0 operation install info fourth"),
        "{out}"
    );
    let (code, _, err) = sl(&["audit", "show", s(&log), "--since", "yesterday-ish"]);
    assert_eq!(code, 1);
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn tail_follows_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args([
            "audit",
            "tail",
            s(&log),
            "-n",
            "2",
            "--plugin",
            "acme.upper",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The last two of acme.upper's records…
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("first"), "{first}");
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains("third"), "{second}");
    // … then what is appended: another plugin's (filtered out), then one of its.
    append(&log, "acme.other", "install", "skipped", Outcome::Allow);
    append(&log, "acme.upper", "upgrade", "appended", Outcome::Allow);
    let next = lines.next().unwrap().unwrap();
    assert!(
        next.contains("acme.upper") && next.contains("upgrade") && next.contains("appended"),
        "{next}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
