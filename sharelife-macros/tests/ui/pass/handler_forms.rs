// Every handler shape: sync and async, each input form, and a renamed
// handler. `main` calls each one through the test harness.
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use sharelife_sdk::prelude::*;
use sharelife_sdk::testing::TestHost;

#[derive(Default)]
struct Forms;

#[plugin(id = "acme.forms")]
impl Plugin for Forms {
    #[handler]
    fn none(&self) -> &'static str {
        "none"
    }

    #[handler]
    fn ctx_only(&self, ctx: &PluginContext) -> String {
        ctx.plugin_id().to_owned()
    }

    #[handler]
    fn ctx_and_input(&self, ctx: &PluginContext, text: &str) -> String {
        format!("{}:{text}", ctx.plugin_id())
    }

    #[handler]
    fn text(&self, text: &str) -> String {
        text.to_uppercase()
    }

    #[handler]
    fn bytes<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input
    }

    #[handler]
    fn json(&self, Json(n): Json<u64>) -> Json<u64> {
        Json(n * 2)
    }

    #[handler(name = "renamed")]
    fn original_name(&self) -> &'static str {
        "renamed"
    }

    #[handler]
    async fn async_none(&self) -> &'static str {
        "none"
    }

    #[handler]
    async fn async_ctx_only(&self, ctx: &PluginContext) -> String {
        ctx.plugin_id().to_owned()
    }

    #[handler]
    async fn async_ctx_and_input(&self, ctx: &PluginContext, text: &str) -> String {
        format!("{}:{text}", ctx.plugin_id())
    }

    #[handler]
    async fn async_text(&self, text: &str) -> String {
        text.to_uppercase()
    }

    #[handler]
    async fn async_bytes<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input
    }

    #[handler]
    async fn async_json(&self, Json(n): Json<u64>) -> Result<Json<u64>, PluginError> {
        Ok(Json(n + 1))
    }

    #[handler(name = "async_renamed")]
    async fn async_original_name(&self) -> &'static str {
        "renamed"
    }
}

/// The handlers above never wait, so polling once finishes them.
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future did not finish at once"),
    }
}

fn main() {
    let host = TestHost::<Forms>::new();
    now(host.start()).unwrap();
    let call = |name: &str, input: &[u8]| String::from_utf8(host.call(name, input).unwrap()).unwrap();
    let call_async = |name: &str, input: &[u8]| String::from_utf8(now(host.call_async(name, input)).unwrap()).unwrap();

    assert_eq!(call("none", b""), "none");
    assert_eq!(call("ctx_only", b""), "acme.forms");
    assert_eq!(call("ctx_and_input", b"x"), "acme.forms:x");
    assert_eq!(call("text", b"abc"), "ABC");
    assert_eq!(call("bytes", b"raw"), "raw");
    assert_eq!(call("json", b"21"), "42");
    assert_eq!(call("renamed", b""), "renamed");

    assert_eq!(call_async("async_none", b""), "none");
    assert_eq!(call_async("async_ctx_only", b""), "acme.forms");
    assert_eq!(call_async("async_ctx_and_input", b"x"), "acme.forms:x");
    assert_eq!(call_async("async_text", b"abc"), "ABC");
    assert_eq!(call_async("async_bytes", b"raw"), "raw");
    assert_eq!(call_async("async_json", b"41"), "42");
    assert_eq!(call_async("async_renamed", b""), "renamed");

    let names: Vec<_> = host.manifest().handlers.iter().map(|h| (h.name.as_str(), h.is_async)).collect();
    assert!(names.contains(&("renamed", false)) && !names.iter().any(|(n, _)| *n == "original_name"));
    assert!(names.contains(&("async_none", true)));
    assert_eq!(host.call("async_none", b"").unwrap_err().kind(), ErrorKind::AsyncHandler);
}
