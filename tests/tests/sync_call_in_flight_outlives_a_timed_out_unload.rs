//! A synchronous call holds its version by hazard pointer, not by a
//! reference count. An unload that times out while such a call is in
//! flight leaves the version to it, and the version is dropped when that
//! call returns, with nothing else done by the host: the last reader frees
//! it, as a counted reference would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sharelife_core::manifest::{Handler, Manifest};
use sharelife_core::{Buffer, HandlerId, Plugin, PluginContext, PluginError};
use sharelife_tests::Scratch;

/// A plugin whose one synchronous handler tells the test it entered, then
/// waits until the test lets it return; it records its own drop.
struct Gate {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
    dropped: Arc<AtomicBool>,
}

impl Plugin for Gate {
    fn call(
        &self,
        _: &PluginContext,
        _: HandlerId,
        _: &[u8],
        out: &mut Buffer,
    ) -> Result<(), PluginError> {
        self.entered.lock().unwrap().send(()).unwrap();
        self.release.lock().unwrap().recv().unwrap();
        out.extend_from_copy_slice(b"done");
        Ok(())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_is_dropped_when_the_last_sync_call_returns() {
    let dir = Scratch::new();
    let host = dir.host_with(|b| b.unload_timeout(Duration::from_millis(50)));
    let mut manifest = Manifest::new(
        "acme.gate".parse().unwrap(),
        "1.0.0".parse().unwrap(),
        "^0.1".parse().unwrap(),
    );
    manifest.handlers.push(Handler::new("pass", false));
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let dropped = Arc::new(AtomicBool::new(false));
    let gate = Gate {
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
        dropped: Arc::clone(&dropped),
    };
    host.add(manifest, Box::new(gate)).await.unwrap();
    host.start("acme.gate").await.unwrap();
    let handle = host.handle("acme.gate").unwrap();
    let pass = handle.handler("pass").unwrap();

    let caller = std::thread::spawn(move || {
        let mut out = Buffer::new();
        handle.call(pass, b"", &mut out).map(|()| out)
    });
    entered.recv().unwrap();
    // The call is inside the plugin and stays there until released, so
    // the unload's wait for calls in flight runs out, however fast or
    // slow this machine is.
    let report = host.unload("acme.gate").await.unwrap();
    assert!(!report.closed, "a call is in flight: {report:?}");
    assert!(!dropped.load(Ordering::SeqCst), "the call still runs on it");

    release.send(()).unwrap();
    let out = caller.join().unwrap().expect("the call in flight finished");
    assert_eq!(out.as_slice(), b"done");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the call that returned last dropped the version"
    );
}
