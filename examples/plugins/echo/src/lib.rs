//! A synchronous example plugin: bytes in, bytes out.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sharelife_sdk::prelude::*;

/// Echoes, upper-cases and counts.
#[derive(Default)]
pub struct Echo {
    calls: AtomicU64,
    greeting: std::sync::OnceLock<String>,
}

/// The plugin's config.
#[derive(Deserialize)]
struct Config {
    greeting: String,
}

/// What `count` returns.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct Count {
    /// Calls of `count` so far, this one included.
    pub calls: u64,
}

#[plugin(id = "examples.echo", keywords("example", "text"))]
impl Plugin for Echo {
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let greeting = match ctx.config() {
            serde_json::Value::Null => "hello".to_owned(),
            _ => ctx.config_as::<Config>()?.greeting,
        };
        let _ = self.greeting.set(greeting);
        sharelife_sdk::tracing::info!(data_dir = %ctx.data_dir().display(), "echo initialized");
        Ok(())
    }

    /// Hands the call counter to the next version on a hot reload.
    async fn save_state(&self, _: &PluginContext) -> Result<Vec<u8>, PluginError> {
        Ok(self.calls.load(Ordering::Relaxed).to_le_bytes().to_vec())
    }

    async fn restore_state(&self, _: &PluginContext, state: &[u8]) -> Result<(), PluginError> {
        let bytes: [u8; 8] = state.try_into().map_err(|_| {
            PluginError::invalid_input(format!(
                "expected an 8-byte counter, got {} bytes",
                state.len()
            ))
        })?;
        self.calls
            .store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        Ok(())
    }

    /// Returns the input unchanged (no allocation).
    #[handler]
    fn echo<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input
    }

    /// Upper-cases UTF-8 text.
    #[handler]
    fn upper(&self, text: &str) -> String {
        text.to_uppercase()
    }

    /// Greets with the configured greeting.
    #[handler]
    fn greet(&self, name: &str) -> String {
        format!(
            "{}, {name}",
            self.greeting.get().map_or("hello", String::as_str)
        )
    }

    /// Counts its own calls.
    #[handler]
    fn count(&self) -> Json<Count> {
        Json(Count {
            calls: self.calls.fetch_add(1, Ordering::Relaxed) + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharelife_sdk::testing::TestHost;

    #[tokio::test]
    async fn handlers_work_in_the_harness() {
        let host = TestHost::<Echo>::with_config(serde_json::json!({ "greeting": "hi" }));
        host.start().await.unwrap();
        assert_eq!(host.call("echo", b"abc").unwrap(), b"abc");
        assert_eq!(host.call("upper", b"abc").unwrap(), b"ABC");
        assert_eq!(host.call("greet", b"ada").unwrap(), b"hi, ada");
        let c: Count = host.call_json("count", &()).await.unwrap();
        assert_eq!(c, Count { calls: 1 });
        let err = host.call("upper", &[0xff]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}
