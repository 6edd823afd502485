//! Per plugin and per handler: calls, errors, panics and a latency
//! histogram, read from the host and emitted through `tracing`.

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
async fn each_handler_counts_its_calls_errors_panics_and_latency() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["example-echo", "example-panicky", "example-timer"],
    );
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    host.boot().await.unwrap();

    for _ in 0..3 {
        host.call("examples.echo", "upper", b"abc").unwrap();
    }
    host.call("examples.echo", "upper", &[0xff]).unwrap_err();
    host.call("examples.panicky", "boom", b"").unwrap_err();
    host.call_async("examples.timer", "wait", b"1")
        .await
        .unwrap();

    let echo = host.metrics().of("examples.echo").unwrap();
    let upper = echo.handler("upper").unwrap();
    assert_eq!((upper.calls, upper.errors, upper.panics), (4, 1, 0));
    assert_eq!(upper.latency.count(), 4);
    assert!(upper.latency.quantile(0.5).is_some());
    assert_eq!(echo.handler("echo").unwrap().calls, 0);

    let boom = host.metrics().of("examples.panicky").unwrap();
    let boom = boom.handler("boom").unwrap();
    assert_eq!((boom.calls, boom.errors, boom.panics), (1, 1, 1));

    let wait = host.metrics().of("examples.timer").unwrap();
    let wait = wait.handler("wait").unwrap();
    assert_eq!(wait.calls, 1);
    assert!(
        wait.latency.sum >= std::time::Duration::from_millis(1),
        "it slept 1 ms"
    );

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || host.metrics().emit());
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("handler=\"upper\""))
        .unwrap_or_else(|| panic!("no metrics line for upper in:\n{text}"));
    assert!(line.contains("plugin metrics"), "{line}");
    assert!(line.contains("plugin=examples.echo"), "{line}");
    assert!(line.contains("calls=4 errors=1 panics=0"), "{line}");
    assert!(
        !text.contains("handler=\"echo\""),
        "handlers never called are not emitted"
    );
}
