//! An example plugin that reaches the outside world only through the
//! context's services, each checked by the host's capability gateway and
//! audited. Its manifest requests a few capabilities; the host's policy
//! decides which it actually gets.

use serde::{Deserialize, Serialize};
use sharelife_sdk::prelude::*;
use sharelife_sdk::services::{CommandRequest, HttpRequest};

/// Reads notes, fetches URLs, runs `echo`, asks a provider, calls a tool.
#[derive(Default)]
pub struct Fetcher;

/// Input of `write`.
#[derive(Serialize, Deserialize)]
pub struct WriteNote {
    /// Path under the data dir.
    pub path: String,
    /// Text to write.
    pub text: String,
}

/// Output of `fetch`.
#[derive(Serialize, Deserialize, Debug)]
pub struct Fetched {
    /// HTTP status.
    pub status: u16,
    /// Body as text.
    pub body: String,
}

/// Output of `run`.
#[derive(Serialize, Deserialize, Debug)]
pub struct Ran {
    /// Exit code.
    pub status: Option<i32>,
    /// Standard output as text.
    pub stdout: String,
}

/// Input of `connect`.
#[derive(Serialize, Deserialize)]
pub struct Dial {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Bytes to send.
    pub send: String,
}

#[plugin(
    id = "examples.fetcher",
    capability(file, access = "read", path = "notes/*.txt"),
    capability(file, access = "write", path = "notes/*.txt"),
    capability(network, host = "127.0.0.1"),
    capability(network, host = "api.example.com", ports = [443]),
    capability(command, argv = ["echo"]),
    capability(command, argv = ["rm"]),
    capability(provider, name = "llm", access = "read"),
    capability(mcp, server = "web", tool = "search")
)]
impl Plugin for Fetcher {
    /// Reads a file.
    #[handler]
    fn read(&self, ctx: &PluginContext, path: &str) -> Result<Vec<u8>, PluginError> {
        ctx.fs().read(path)
    }

    /// Writes a file.
    #[handler]
    fn write(&self, ctx: &PluginContext, Json(note): Json<WriteNote>) -> Result<(), PluginError> {
        ctx.fs().write(&note.path, note.text.as_bytes())
    }

    /// GETs a URL.
    #[handler]
    async fn fetch(&self, ctx: &PluginContext, url: String) -> Result<Json<Fetched>, PluginError> {
        let resp = ctx.http(HttpRequest::get(url)).await?;
        Ok(Json(Fetched {
            status: resp.status,
            body: String::from_utf8_lossy(&resp.body).into_owned(),
        }))
    }

    /// Runs a program.
    #[handler]
    async fn run(
        &self,
        ctx: &PluginContext,
        Json(argv): Json<Vec<String>>,
    ) -> Result<Json<Ran>, PluginError> {
        let out = ctx.run(CommandRequest::new(argv)).await?;
        Ok(Json(Ran {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        }))
    }

    /// Asks the `llm` provider.
    #[handler]
    fn ask(&self, ctx: &PluginContext, question: &[u8]) -> Result<Vec<u8>, PluginError> {
        ctx.provider(
            "llm",
            sharelife_sdk::manifest::ProviderAccess::Read,
            question,
        )
    }

    /// Calls the `web/search` MCP tool.
    #[handler]
    fn search(&self, ctx: &PluginContext, query: &[u8]) -> Result<Vec<u8>, PluginError> {
        ctx.mcp("web", "search", query)
    }

    /// Opens a raw TCP connection, sends bytes, returns the answer.
    #[handler]
    fn connect(&self, ctx: &PluginContext, Json(dial): Json<Dial>) -> Result<String, PluginError> {
        use std::io::{Read, Write};
        let mut stream = ctx.connect(&dial.host, dial.port)?;
        stream.write_all(dial.send.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use sharelife_sdk::audit::Outcome;
    use sharelife_sdk::capability::Policy;
    use sharelife_sdk::manifest::{Capability, FileAccess};
    use sharelife_sdk::services::Backends;
    use sharelife_sdk::testing::TestHost;

    use super::*;

    #[tokio::test]
    async fn reads_what_is_granted_and_the_audit_shows_every_decision() {
        let policy = Policy::new().allow(
            "examples.fetcher",
            Capability::File {
                access: FileAccess::Read,
                path: "notes/*.txt".into(),
            },
        );
        let host =
            TestHost::<Fetcher>::with_policy(serde_json::Value::Null, &policy, Backends::new());
        std::fs::create_dir_all(host.data_dir().join("notes")).unwrap();
        std::fs::write(host.data_dir().join("notes/a.txt"), "note").unwrap();
        host.start().await.unwrap();

        assert_eq!(host.call("read", b"notes/a.txt").unwrap(), b"note");
        let err = host
            .call("write", br#"{"path":"notes/b.txt","text":"x"}"#)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied);

        let audit = host.audit();
        let outcomes: Vec<(Outcome, &str)> =
            audit.iter().map(|r| (r.outcome, r.rule.as_str())).collect();
        assert_eq!(
            outcomes,
            [
                (Outcome::Allow, "policy.rules[0] (allow)"),
                (
                    Outcome::Deny,
                    "default deny: requested but no allow rule matches"
                )
            ]
        );
    }
}
