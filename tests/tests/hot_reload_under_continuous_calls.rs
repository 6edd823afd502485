//! Calls from other threads never stop during a run of hot reloads, and
//! none of them fails: each reaches whichever version is bound when it
//! starts, and every replaced library is closed once its calls return.
//! An async call in flight across a reload finishes on the old version.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sharelife_core::loader::is_mapped;
use sharelife_core::{Buffer, PluginState};
use sharelife_tests::Scratch;

const ID: &str = "fixtures.versioned";
const CALLERS: usize = 3;
const RELOADS: usize = 20;

#[derive(Default, Debug)]
struct Tally {
    v1: u64,
    v2: u64,
    failures: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_call_fails_while_versions_are_swapped() {
    let dir = Scratch::new();
    let host = dir.host();
    let first = dir.copy_library("fixture-versioned-v1", "v-0.so");
    host.load(&first).await.unwrap();
    host.start(ID).await.unwrap();
    let handle = host.handle(ID).unwrap();
    let version = handle.handler("version").unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let handle = handle.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                let mut out = Buffer::new();
                while !done.load(Ordering::Relaxed) {
                    out.clear();
                    match handle.call(version, b"", &mut out) {
                        Ok(()) if out.as_slice() == b"v1" => tally.v1 += 1,
                        Ok(()) if out.as_slice() == b"v2" => tally.v2 += 1,
                        Ok(()) => tally.failures.push(format!("odd output {out:?}")),
                        Err(e) => tally.failures.push(e.to_string()),
                    }
                }
                tally
            })
        })
        .collect();

    let mut libraries = vec![first];
    for i in 1..=RELOADS {
        // Let the callers run on each version for a moment.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let krate = if i % 2 == 1 {
            "fixture-versioned-v2"
        } else {
            "fixture-versioned-v1"
        };
        let path = dir.copy_library(krate, &format!("v-{i}.so"));
        let report = host.reload(ID, &path).await.unwrap();
        assert!(report.retired.closed, "reload {i}: {report:?}");
        libraries.push(path);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    done.store(true, Ordering::Relaxed);

    let mut total = Tally::default();
    for caller in callers {
        let t = caller.join().unwrap();
        total.v1 += t.v1;
        total.v2 += t.v2;
        total.failures.extend(t.failures);
    }
    assert!(
        total.failures.is_empty(),
        "{} failed calls, first: {:?}",
        total.failures.len(),
        total.failures.first()
    );
    assert!(
        total.v1 > 0 && total.v2 > 0,
        "both versions answered: {total:?}"
    );
    // Every library but the last one bound was closed for real.
    let (last, replaced) = libraries.split_last().unwrap();
    for path in replaced {
        assert_eq!(
            is_mapped(path),
            Some(false),
            "{} is still mapped",
            path.display()
        );
    }
    assert_eq!(is_mapped(last), Some(true));
    assert_eq!(host.plugins().state(ID), Some(PluginState::Active));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_in_flight_finishes_on_the_old_version() {
    let dir = Scratch::new();
    let host = dir.host();
    let old = dir.copy_library("example-timer", "timer-1.so");
    host.load(&old).await.unwrap();
    host.start("examples.timer").await.unwrap();
    let handle = host.handle("examples.timer").unwrap();
    let wait = handle.handler("wait").unwrap();

    let in_flight = {
        let handle = handle.clone();
        tokio::spawn(async move {
            let mut out = Buffer::new();
            handle
                .call_async(wait, b"300", &mut out)
                .await
                .map(|()| out)
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!in_flight.is_finished());

    let reload = host.reload(
        "examples.timer",
        dir.copy_library("example-timer", "timer-2.so"),
    );
    let report = reload.await.unwrap();
    // The reload waited for the call before closing the old library: the
    // call returned the old version's answer, and the library was closed
    // after it. (Whether the spawned task has been marked finished by the
    // time `reload` returns is the scheduler's business, not the host's.)
    let out = in_flight
        .await
        .unwrap()
        .expect("the call in flight succeeded");
    assert!(out.starts_with(br#"{"requested_ms":300,"#), "{out:?}");
    assert!(report.retired.closed, "{report:?}");
    assert_eq!(is_mapped(&old), Some(false));
    // New calls reach the new version meanwhile and after.
    let mut out = Buffer::new();
    handle.call_async(wait, b"1", &mut out).await.unwrap();
}
