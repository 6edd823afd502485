//! A loaded plugin's `tracing` events (it has its own copy of `tracing`)
//! land in the host's subscriber, with the plugin id as a field.

use std::io::Write;
use std::sync::{Arc, Mutex};

use sharelife_tests::Scratch;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_plugin_tracing_event_arrives_with_its_plugin_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = Scratch::new();
    let host = dir.host();
    host.load(dir.copy_library("example-timer", "timer.so"))
        .await
        .unwrap();
    host.start("examples.timer").await.unwrap();
    host.call_async("examples.timer", "wait", b"1")
        .await
        .unwrap();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("sleeping on the host timer"))
        .unwrap_or_else(|| panic!("the plugin's event is missing from:\n{text}"));
    assert!(line.contains("plugin=\"examples.timer\""), "{line}");
    assert!(line.contains("module=\"example_timer\""), "{line}");
    assert!(line.contains("ms=1"), "{line}");
    // Lifecycle transitions are tracing events too.
    assert!(
        text.contains("lifecycle transition") && text.contains("to=active"),
        "{text}"
    );
}
