//! A hot reload of a sandboxed plugin starts the new version in a new
//! child (through the same provider, under the same limits) beside the
//! old one, swaps it in while a caller keeps calling (no call fails), and
//! ends and reaps the old child; the host's process never maps the new
//! version. (One test in this file, so no other test's children are
//! counted.)

#[path = "support/reload.rs"]
mod reload;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reload::child_pids;
use sharelife_core::audit::{read_log, verify};
use sharelife_core::loader::is_mapped;
use sharelife_core::{Buffer, PluginState};
use sharelife_sandbox::Feature;
use support::{children, kernel_gives, limits};

const ID: &str = "fixtures.versioned";

#[derive(Debug)]
enum Seen {
    V1,
    V2,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_version_answers_from_a_new_child_and_the_old_child_is_reaped() {
    if !kernel_gives(
        "the_new_version_answers_from_a_new_child_and_the_old_child_is_reaped",
        &[Feature::Landlock, Feature::Seccomp],
    ) {
        return;
    }
    let before = child_pids();
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let host = reload::sandboxing_host(dirs.path(), |b| b);
    let v1 = reload::copy(dirs.path(), "fixture-versioned-v1", "v1.so");
    let v2 = reload::copy(dirs.path(), "fixture-versioned-v2", "v2.so");

    reload::load_sandboxed(&host, &v1, &limits()).await;
    assert_eq!(host.call(ID, "version", b"").unwrap().as_slice(), b"v1");
    let first = child_pids();
    assert_eq!(first.len(), before.len() + 1, "one child: {first:?}");
    let old_pid = *first
        .iter()
        .find(|pid| !before.contains(pid))
        .expect("the old child");
    assert_eq!(is_mapped(&v1), Some(false), "v1 runs in the child only");

    // A caller keeps calling through a handle taken before the reload.
    let handle = host.handle(ID).unwrap();
    let version = handle.handler("version").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let caller = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let (mut v1, mut v2, mut failures) = (0_u64, 0_u64, Vec::new());
            let mut out = Buffer::new();
            while !done.load(Ordering::Relaxed) {
                out.clear();
                match handle.call(version, b"", &mut out) {
                    Ok(()) if out.as_slice() == b"v1" => {
                        if v2 > 0 {
                            failures.push("v1 answered after v2".to_owned());
                        }
                        if v1 == 0 {
                            let _ = seen_tx.send(Seen::V1);
                        }
                        v1 += 1;
                    }
                    Ok(()) if out.as_slice() == b"v2" => {
                        if v2 == 0 {
                            let _ = seen_tx.send(Seen::V2);
                        }
                        v2 += 1;
                    }
                    Ok(()) => failures.push(format!("odd output {out:?}")),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (v1, v2, failures)
        })
    };
    assert!(matches!(seen.recv().await, Some(Seen::V1)));

    let report = host.reload(ID, &v2).await.expect("hot-reloaded");
    println!("{report:?}");
    assert_eq!(report.old_version.to_string(), "1.0.0");
    assert_eq!(report.new_version.to_string(), "2.0.0");
    assert_eq!(report.library, v2);
    assert_eq!(report.state, None, "the versioned fixture keeps no state");
    assert!(report.retired.closed, "{report:?}");
    assert!(report.retired.hook_error.is_none(), "{report:?}");

    // The old child is gone, reaped (no zombie), before the reload
    // returned; the new version runs in one new child, never in the host.
    let now = children();
    assert_eq!(now.len(), before.len() + 1, "one child: {now:?}");
    let (new_pid, state) = *now
        .iter()
        .find(|(pid, _)| !before.contains(pid))
        .expect("the new child");
    assert_ne!(new_pid, old_pid, "a new child");
    assert_ne!(state, 'Z', "the new child runs");
    assert!(
        !now.iter().any(|(pid, _)| *pid == old_pid),
        "the old child is reaped, no zombie: {now:?}"
    );
    assert_eq!(is_mapped(&v2), Some(false), "v2 never opened in the host");

    assert!(matches!(seen.recv().await, Some(Seen::V2)));
    done.store(true, Ordering::Relaxed);
    let (v1_calls, v2_calls, failures) = caller.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed calls, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(v1_calls > 0 && v2_calls > 0, "v1 {v1_calls}, v2 {v2_calls}");
    assert_eq!(host.call(ID, "version", b"").unwrap().as_slice(), b"v2");
    assert_eq!(
        host.call(ID, "since", b"").unwrap().as_slice(),
        b"new in v2"
    );
    assert_eq!(host.plugins().state(ID), Some(PluginState::Active));

    // Still out of process: a cold reload and an unload go through a
    // child too, and leave none behind.
    host.reload_in_place(ID).await.expect("reloaded in place");
    assert_eq!(host.call(ID, "version", b"").unwrap().as_slice(), b"v2");
    assert_eq!(child_pids().len(), before.len() + 1);
    host.unload(ID).await.expect("unloaded");
    assert_eq!(child_pids(), before, "after unload");
    host.shutdown().await;

    let log = reload::audit_log(dirs.path());
    let verified = verify(&log).expect("the audit log's chain holds");
    println!("audit log: {verified:?}");
    let moves: Vec<(String, String)> = read_log(&log)
        .expect("the audit log reads")
        .into_iter()
        .filter(|r| r.plugin == ID && r.event == "lifecycle")
        .map(|r| (r.version, r.request))
        .collect();
    println!("{moves:?}");
    let moved = |version: &str, needle: &str| {
        moves
            .iter()
            .any(|(v, request)| v == version && request.to_lowercase().ends_with(needle))
    };
    assert!(
        moved("1.0.0", "-> unloaded"),
        "the old version retired: {moves:?}"
    );
    assert!(
        moved("2.0.0", "-> active"),
        "the new version started: {moves:?}"
    );
}
