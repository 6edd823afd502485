//! Stress: eight threads — six callers, a reloader and an unloader that
//! loads the plugin again — for a bounded number of rounds. Invariants
//! checked afterwards: every call was answered by one of the versions or
//! refused with a typed "not active" error (no call lost, none answered
//! by a library after its unload), every replaced or unloaded library is
//! unmapped, and the audit log's hash chain verifies.
//!
//! `SHARELIFE_STRESS_ROUNDS` sets the rounds (default 40). To run it
//! under Valgrind (see the closing note of issue 11 for results):
//! `cargo test -p sharelife-tests --test stress_calls_reloads_unloads --no-run`,
//! then `SHARELIFE_STRESS_ROUNDS=10 valgrind --error-exitcode=1
//! --leak-check=no target/debug/deps/stress_calls_reloads_unloads-*`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sharelife_core::loader::is_mapped;
use sharelife_core::{Buffer, ErrorKind};
use sharelife_tests::Scratch;

const ID: &str = "fixtures.versioned";
const CALLERS: usize = 6;

#[derive(Default, Debug)]
struct Tally {
    attempts: u64,
    v1: u64,
    v2: u64,
    refused: BTreeMap<String, u64>,
    wrong: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_survive_reloads_unloads_and_reloads() {
    let rounds: usize = std::env::var("SHARELIFE_STRESS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    let host = Arc::new(dir.host_with(|b| b.audit_log(&log)));
    let first = dir.copy_library("fixture-versioned-v1", "v-0.so");
    host.load(&first).await.unwrap();
    host.start(ID).await.unwrap();
    let handle = host.handle(ID).unwrap();
    let version = handle.handler("version").unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let handle = handle.clone();
            let done = Arc::clone(&done);
            let started = Arc::clone(&started);
            std::thread::spawn(move || {
                let mut t = Tally::default();
                let mut out = Buffer::new();
                started.fetch_add(1, Ordering::SeqCst);
                while !done.load(Ordering::Relaxed) {
                    out.clear();
                    t.attempts += 1;
                    match handle.call(version, b"", &mut out) {
                        Ok(()) if out.as_slice() == b"v1" => t.v1 += 1,
                        Ok(()) if out.as_slice() == b"v2" => t.v2 += 1,
                        Ok(()) => t.wrong.push(format!("odd output {out:?}")),
                        Err(e) if e.kind() == ErrorKind::NotActive => {
                            *t.refused.entry(format!("{:?}", e.kind())).or_default() += 1;
                        }
                        Err(e) => t.wrong.push(format!("{:?}: {e}", e.kind())),
                    }
                }
                t
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < CALLERS as u64 {
        std::thread::yield_now();
    }

    // First the reloader alone, so that both versions surely answer...
    let libraries = Arc::new(std::sync::Mutex::new(vec![first]));
    for i in 0..4 {
        let krate = if i % 2 == 0 { "v2" } else { "v1" };
        let path = dir.copy_library(&format!("fixture-versioned-{krate}"), &format!("s-{i}.so"));
        libraries.lock().unwrap().push(path.clone());
        host.reload(ID, &path).await.unwrap();
        let answer = host.call(ID, "version", b"").unwrap();
        assert_eq!(answer.as_slice(), krate.as_bytes());
    }
    // ...then the reloader swaps versions while the unloader takes the
    // plugin out and loads it again: the two race on purpose.
    let reloader = {
        let host = Arc::clone(&host);
        let libraries = Arc::clone(&libraries);
        let dir = dir.path().to_owned();
        tokio::spawn(async move {
            let mut swapped = 0;
            for i in 0..rounds {
                let krate = if i % 2 == 0 { "v2" } else { "v1" };
                let path = dir.join(format!("r-{i}.so"));
                std::fs::copy(
                    sharelife_tests::built_library(&format!("fixture-versioned-{krate}")),
                    &path,
                )
                .unwrap();
                libraries.lock().unwrap().push(path.clone());
                if host.reload(ID, &path).await.is_ok() {
                    swapped += 1;
                }
                tokio::task::yield_now().await;
            }
            swapped
        })
    };
    let unloader = {
        let host = Arc::clone(&host);
        let libraries = Arc::clone(&libraries);
        let dir = dir.path().to_owned();
        tokio::spawn(async move {
            let mut cycles = 0;
            for i in 0..rounds / 2 {
                if host.unload(ID).await.is_ok() {
                    cycles += 1;
                }
                let path = dir.join(format!("u-{i}.so"));
                std::fs::copy(
                    sharelife_tests::built_library("fixture-versioned-v1"),
                    &path,
                )
                .unwrap();
                libraries.lock().unwrap().push(path.clone());
                if host.load(&path).await.is_ok() {
                    let _ = host.start(ID).await;
                }
                tokio::task::yield_now().await;
            }
            cycles
        })
    };
    let swapped = reloader.await.unwrap();
    let cycles = unloader.await.unwrap();
    done.store(true, Ordering::Relaxed);

    let mut total = Tally::default();
    for caller in callers {
        let t = caller.join().unwrap();
        total.attempts += t.attempts;
        total.v1 += t.v1;
        total.v2 += t.v2;
        for (k, n) in t.refused {
            *total.refused.entry(k).or_default() += n;
        }
        total.wrong.extend(t.wrong);
    }
    let refused: u64 = total.refused.values().sum();
    assert!(
        total.wrong.is_empty(),
        "{:?}",
        &total.wrong[..total.wrong.len().min(5)]
    );

    // Take it out for good: then no library of any round is mapped.
    let _ = host.unload(ID).await;
    for path in libraries.lock().unwrap().iter() {
        assert_ne!(
            is_mapped(path),
            Some(true),
            "{} is still mapped",
            path.display()
        );
    }
    assert!(host.plugins().lingering_libraries().is_empty());
    host.audit().flush().unwrap();
    let verified = sharelife_core::audit::verify(&log).unwrap();
    assert!(verified.records > 0);
    eprintln!(
        "stress: {} calls ({} v1, {} v2, {refused} refused while unloaded), {swapped} reloads, {cycles} unload/load cycles, {} audit records verified",
        total.attempts, total.v1, total.v2, verified.records
    );
}
