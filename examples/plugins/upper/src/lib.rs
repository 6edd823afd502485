//! An example pipeline plugin: its `run` handler changes the case of
//! UTF-8 text, as its config's `transform` says (`uppercase`, the
//! default, or `lowercase`). With `suffix`, it runs the seed's
//! `astr-agent.example.yaml` end to end.

use std::sync::OnceLock;

use serde::Deserialize;
use sharelife_sdk::prelude::*;

/// Changes the case of text.
#[derive(Default)]
pub struct Upper {
    transform: OnceLock<Transform>,
}

/// What `run` does.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// `hello` → `HELLO`.
    #[default]
    Uppercase,
    /// `HELLO` → `hello`.
    Lowercase,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    transform: Transform,
}

#[plugin(id = "examples.upper", keywords("example", "pipeline", "text"))]
impl Plugin for Upper {
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let transform = match ctx.config() {
            serde_json::Value::Null => Transform::default(),
            _ => ctx.config_as::<Config>()?.transform,
        };
        let _ = self.transform.set(transform);
        Ok(())
    }

    /// Upper- or lower-cases the text.
    #[handler]
    fn run(&self, text: &str) -> String {
        match self.transform.get().copied().unwrap_or_default() {
            Transform::Uppercase => text.to_uppercase(),
            Transform::Lowercase => text.to_lowercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharelife_sdk::testing::TestHost;

    #[tokio::test]
    async fn transforms_as_configured() {
        let host = TestHost::<Upper>::new();
        host.start().await.unwrap();
        assert_eq!(host.call("run", b"hello world").unwrap(), b"HELLO WORLD");
        let host = TestHost::<Upper>::with_config(serde_json::json!({ "transform": "lowercase" }));
        host.start().await.unwrap();
        assert_eq!(host.call("run", b"Hello").unwrap(), b"hello");
    }
}
