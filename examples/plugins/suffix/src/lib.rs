//! An example pipeline plugin: `run` appends the configured `suffix` to
//! UTF-8 text; `verify` fails unless the text already ends with it (a
//! step that can fail, for pipelines that skip it).

use std::sync::OnceLock;

use serde::Deserialize;
use sharelife_sdk::prelude::*;

/// Appends or checks a suffix.
#[derive(Default)]
pub struct Suffix {
    suffix: OnceLock<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    suffix: String,
}

impl Suffix {
    fn suffix(&self) -> &str {
        self.suffix.get().map_or("", String::as_str)
    }
}

#[plugin(id = "examples.suffix", keywords("example", "pipeline", "text"))]
impl Plugin for Suffix {
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let suffix = match ctx.config() {
            serde_json::Value::Null => String::new(),
            _ => ctx.config_as::<Config>()?.suffix,
        };
        let _ = self.suffix.set(suffix);
        Ok(())
    }

    /// Appends the suffix.
    #[handler]
    fn run(&self, text: &str) -> String {
        format!("{text}{}", self.suffix())
    }

    /// Returns the text if it ends with the suffix, fails otherwise.
    #[handler]
    fn verify<'a>(&self, text: &'a str) -> Result<&'a str, PluginError> {
        if text.ends_with(self.suffix()) {
            Ok(text)
        } else {
            Err(PluginError::new(format!(
                "{text:?} does not end with {:?}",
                self.suffix()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharelife_sdk::testing::TestHost;

    #[tokio::test]
    async fn appends_and_verifies_the_configured_suffix() {
        let host = TestHost::<Suffix>::with_config(serde_json::json!({ "suffix": " ::verified" }));
        host.start().await.unwrap();
        assert_eq!(host.call("run", b"HI").unwrap(), b"HI ::verified");
        assert_eq!(
            host.call("verify", b"HI ::verified").unwrap(),
            b"HI ::verified"
        );
        let err = host.call("verify", b"HI").unwrap_err();
        assert_eq!(err.message(), r#""HI" does not end with " ::verified""#);
    }
}
