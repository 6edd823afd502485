//! Host services over a byte channel: the plugin's services in one process
//! ([`remote_services`]), performed by the host's own services in another
//! ([`serve`]).
//!
//! The sandbox tier runs a plugin in a child process whose kernel
//! restrictions leave it no road out but its socket to the host. The
//! child gives the plugin a context over [`remote_services`]; every
//! request goes over a [`ServiceChannel`] to the host, which [`serve`]s
//! it through the context it gave that plugin — so the *same* gateway
//! decides, with the same policy, and writes the same hash-chained audit
//! records as for a plugin loaded in the host's process. A refusal comes
//! back as the same [`ErrorKind::Denied`] error.
//!
//! # Encoding
//!
//! A request and its answer are one JSON object each; byte strings are
//! lowercase hex.
//!
//! | `service` | fields | answer |
//! |---|---|---|
//! | `fs` | `op` (`read`, `write`, `list`, `remove`), `path`, `bytes` (for `write`) | `bytes` (read), `names` (list), `unit` |
//! | `http` | `method`, `url`, `headers`, `body`, `timeout_ms` | `http`: `status`, `headers`, `body` |
//! | `command` | `argv`, `stdin`, `timeout_ms`, `max_output`, `cwd` | `command`: `status`, `stdout`, `stderr`, `timed_out`, `truncated` |
//! | `provider` | `name`, `access`, `input` | `bytes` |
//! | `mcp` | `server`, `tool`, `args` | `bytes` |
//! | `publish` | `topic`, `payload` | `unit` |
//! | `connect` | `host`, `port` | `socket`, the connected descriptor passed beside the answer |
//! | `log` | `level`, `target`, `message` | `unit` |
//! | `max_level` | — | `level` |
//!
//! An answer is `{"ok": <output>}` or `{"err": {"kind", "retryable",
//! "message"}}`, the error kind by its stable code.
//!
//! # What stays in the child
//!
//! * **Timers**: [`sleep`](HostServices::sleep) blocks the child's one
//!   thread (`nanosleep`), which serves one call at a time anyway; no
//!   round trip.
//! * **`connect`** is brokered only over a channel that passes
//!   descriptors ([`ServiceChannel::round_trip_passing`], a Unix socket's
//!   `SCM_RIGHTS`): the host's gateway decides and opens the connection
//!   ([`serve_passing`]), and the child gets the connected socket, which
//!   it may use but could not have opened. Over any other channel it
//!   fails with [`ErrorKind::Denied`] saying so.
//! * **Background tasks** ([`spawn`](HostServices::spawn)) are refused:
//!   the child has one thread.
//! * The plugin's id in a log record is the host's, never the child's
//!   claim.
#![forbid(unsafe_code)]

use std::os::fd::OwnedFd;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::Level;

use super::{CommandOutput, CommandRequest, FsOp, FsOutput, HttpRequest, HttpResponse};
use crate::context::{BoxFuture, HostServices};
use crate::manifest::ProviderAccess;
use crate::{ErrorKind, PluginContext, PluginError};

/// A byte channel to the host: sends one encoded request and returns the
/// encoded answer (the sandbox tier's socket).
pub trait ServiceChannel: Send + Sync + 'static {
    /// One request, one answer.
    ///
    /// # Errors
    ///
    /// The channel's own failure (the host is gone); the service's own
    /// errors are in the answer.
    fn round_trip(&self, request: &[u8]) -> Result<Vec<u8>, PluginError>;

    /// Like [`round_trip`](Self::round_trip), also receiving a descriptor
    /// passed beside the answer (a `connect`'s socket). The default passes
    /// none, so `connect` is refused.
    ///
    /// # Errors
    ///
    /// As [`round_trip`](Self::round_trip).
    fn round_trip_passing(
        &self,
        request: &[u8],
    ) -> Result<(Vec<u8>, Option<OwnedFd>), PluginError> {
        self.round_trip(request).map(|answer| (answer, None))
    }
}

/// Byte strings as lowercase hex in the JSON encoding.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// A file-system operation's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FsKind {
    Read,
    Write,
    List,
    Remove,
}

/// A request, as the child sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "service", rename_all = "snake_case")]
enum Request {
    Fs {
        op: FsKind,
        path: String,
        #[serde(default, with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    Http {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        #[serde(with = "hex_bytes")]
        body: Vec<u8>,
        timeout_ms: u64,
    },
    Command {
        argv: Vec<String>,
        #[serde(with = "hex_bytes")]
        stdin: Vec<u8>,
        timeout_ms: u64,
        max_output: u64,
        cwd: Option<String>,
    },
    Provider {
        name: String,
        access: ProviderAccess,
        #[serde(with = "hex_bytes")]
        input: Vec<u8>,
    },
    Mcp {
        server: String,
        tool: String,
        #[serde(with = "hex_bytes")]
        args: Vec<u8>,
    },
    Publish {
        topic: String,
        #[serde(with = "hex_bytes")]
        payload: Vec<u8>,
    },
    Connect {
        host: String,
        port: u16,
    },
    Log {
        level: String,
        target: String,
        message: String,
    },
    MaxLevel,
}

/// What a request produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Output {
    Unit,
    Bytes(#[serde(with = "hex_bytes")] Vec<u8>),
    Names(Vec<String>),
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        #[serde(with = "hex_bytes")]
        body: Vec<u8>,
    },
    Command {
        status: Option<i32>,
        #[serde(with = "hex_bytes")]
        stdout: Vec<u8>,
        #[serde(with = "hex_bytes")]
        stderr: Vec<u8>,
        timed_out: bool,
        truncated: bool,
    },
    Level(String),
    /// A connected socket, passed beside the answer.
    Socket,
}

/// An error, its kind by code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WireError {
    kind: u8,
    retryable: bool,
    message: String,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Ok(Output),
    Err(WireError),
}

impl From<&PluginError> for WireError {
    fn from(e: &PluginError) -> Self {
        WireError {
            kind: e.kind().code(),
            retryable: e.is_retryable(),
            message: e.message().to_owned(),
        }
    }
}

impl From<WireError> for PluginError {
    fn from(e: WireError) -> Self {
        let kind = ErrorKind::from_code(e.kind);
        if e.retryable && kind == ErrorKind::Failed {
            PluginError::retryable(e.message)
        } else {
            PluginError::with_kind(kind, e.message)
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn encode_answer(answer: &Answer) -> Vec<u8> {
    serde_json::to_vec(answer).unwrap_or_else(|e| {
        // Cannot happen for these types; answered as an error all the same.
        format!(
            r#"{{"err":{{"kind":0,"retryable":false,"message":"cannot encode the answer: {}"}}}}"#,
            e.to_string().replace(['"', '\\'], "'")
        )
        .into_bytes()
    })
}

/// The encoded answer carrying `error`: what a broker answers when it
/// cannot serve a request at all (no context for the plugin yet).
pub fn refusal(error: &PluginError) -> Vec<u8> {
    encode_answer(&Answer::Err(error.into()))
}

/// Performs one encoded request through `ctx`'s own services — the
/// gateway, policy and audit log of the plugin `ctx` belongs to — and
/// returns the encoded answer, errors included with their kind (a denial
/// stays [`ErrorKind::Denied`]). An undecodable request is answered with
/// an [`ErrorKind::InvalidInput`] error. Log records are written with
/// `ctx`'s plugin id.
///
/// A `connect` request is refused here ([`ErrorKind::Denied`]): its
/// answer is a descriptor, which only [`serve_passing`] hands back.
pub async fn serve(ctx: &PluginContext, request: &[u8]) -> Vec<u8> {
    serve_inner(ctx, request, false).await.0
}

/// Like [`serve`], and a `connect` request is performed too: the gateway
/// decides, the host connects, and the connected socket is returned
/// beside the answer, for the caller to pass to the plugin's process
/// (`SCM_RIGHTS`).
pub async fn serve_passing(ctx: &PluginContext, request: &[u8]) -> (Vec<u8>, Option<OwnedFd>) {
    serve_inner(ctx, request, true).await
}

async fn serve_inner(
    ctx: &PluginContext,
    request: &[u8],
    passing: bool,
) -> (Vec<u8>, Option<OwnedFd>) {
    let mut descriptor = None;
    let answer = match serde_json::from_slice::<Request>(request) {
        Ok(request) => match perform(ctx, request, passing.then_some(&mut descriptor)).await {
            Ok(output) => Answer::Ok(output),
            Err(e) => Answer::Err((&e).into()),
        },
        Err(e) => Answer::Err(
            (&PluginError::invalid_input(format!("an undecodable service request: {e}"))).into(),
        ),
    };
    (encode_answer(&answer), descriptor)
}

/// The error for `connect` where no descriptor can be passed.
fn no_passing(host: &str, port: u16) -> PluginError {
    PluginError::with_kind(
        ErrorKind::Denied,
        format!(
            "connect {host}:{port} is not available here: this channel to the host \
             cannot pass a connected socket (use http)"
        ),
    )
}

async fn perform(
    ctx: &PluginContext,
    request: Request,
    descriptor: Option<&mut Option<OwnedFd>>,
) -> Result<Output, PluginError> {
    Ok(match request {
        Request::Connect { host, port } => {
            let Some(descriptor) = descriptor else {
                return Err(no_passing(&host, port));
            };
            *descriptor = Some(OwnedFd::from(ctx.connect(&host, port)?));
            Output::Socket
        }
        Request::Fs { op, path, bytes } => match op {
            FsKind::Read => Output::Bytes(ctx.fs().read(&path)?),
            FsKind::Write => {
                ctx.fs().write(&path, &bytes)?;
                Output::Unit
            }
            FsKind::List => Output::Names(ctx.fs().list(&path)?),
            FsKind::Remove => {
                ctx.fs().remove(&path)?;
                Output::Unit
            }
        },
        Request::Http {
            method,
            url,
            headers,
            body,
            timeout_ms,
        } => {
            let response = ctx
                .http(HttpRequest {
                    method,
                    url,
                    headers,
                    body,
                    timeout: Duration::from_millis(timeout_ms),
                })
                .await?;
            Output::Http {
                status: response.status,
                headers: response.headers,
                body: response.body,
            }
        }
        Request::Command {
            argv,
            stdin,
            timeout_ms,
            max_output,
            cwd,
        } => {
            let out = ctx
                .run(CommandRequest {
                    argv,
                    stdin,
                    timeout: Duration::from_millis(timeout_ms),
                    max_output: usize::try_from(max_output).unwrap_or(usize::MAX),
                    cwd,
                })
                .await?;
            Output::Command {
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
                timed_out: out.timed_out,
                truncated: out.truncated,
            }
        }
        Request::Provider {
            name,
            access,
            input,
        } => Output::Bytes(ctx.provider(&name, access, &input)?),
        Request::Mcp { server, tool, args } => Output::Bytes(ctx.mcp(&server, &tool, &args)?),
        Request::Publish { topic, payload } => {
            ctx.publish(&topic, &payload)?;
            Output::Unit
        }
        Request::Log {
            level,
            target,
            message,
        } => {
            let level = level
                .parse::<Level>()
                .map_err(|e| PluginError::invalid_input(format!("log level {level:?}: {e}")))?;
            ctx.log_with_target(level, &target, &message);
            Output::Unit
        }
        Request::MaxLevel => Output::Level(ctx.max_log_level().to_string()),
    })
}

/// The services of a plugin whose host is at the other end of `channel`:
/// every request is encoded, sent with [`ServiceChannel::round_trip`] and
/// answered by [`serve`] there. See the [module docs](self) for what stays
/// local.
pub fn remote_services(channel: Arc<dyn ServiceChannel>) -> Arc<dyn HostServices> {
    Arc::new(ChannelServices {
        inner: Arc::new(Link {
            channel,
            max_level: OnceLock::new(),
        }),
    })
}

/// [`HostServices`] over a [`ServiceChannel`].
pub(crate) struct ChannelServices {
    inner: Arc<Link>,
}

struct Link {
    channel: Arc<dyn ServiceChannel>,
    /// The host's most verbose level, asked once.
    max_level: OnceLock<Level>,
}

impl Link {
    fn ask(&self, request: &Request) -> Result<Output, PluginError> {
        let answer = self.channel.round_trip(&encode(request)?)?;
        decode(&answer)
    }
}

fn encode(request: &Request) -> Result<Vec<u8>, PluginError> {
    serde_json::to_vec(request)
        .map_err(|e| PluginError::invalid_input(format!("cannot encode the service request: {e}")))
}

fn decode(answer: &[u8]) -> Result<Output, PluginError> {
    match serde_json::from_slice::<Answer>(answer) {
        Ok(Answer::Ok(output)) => Ok(output),
        Ok(Answer::Err(e)) => Err(e.into()),
        Err(e) => Err(PluginError::new(format!(
            "an undecodable answer from the host: {e}"
        ))),
    }
}

fn unexpected(what: &str, output: &Output) -> PluginError {
    PluginError::new(format!(
        "the host answered a {what} request with {output:?}"
    ))
}

impl HostServices for ChannelServices {
    fn log(&self, _plugin_id: &str, level: Level, target: &str, message: &str) {
        // A record the host cannot take is lost, as a full log pipe's would be.
        let _ = self.inner.ask(&Request::Log {
            level: level.to_string(),
            target: target.to_owned(),
            message: message.to_owned(),
        });
    }

    fn max_level(&self) -> Level {
        if let Some(level) = self.inner.max_level.get() {
            return *level;
        }
        match self.inner.ask(&Request::MaxLevel) {
            Ok(Output::Level(text)) => match text.parse::<Level>() {
                Ok(level) => *self.inner.max_level.get_or_init(|| level),
                Err(_) => Level::INFO,
            },
            // Not cached: asked again once the host answers.
            _ => Level::INFO,
        }
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move { std::thread::sleep(duration) })
    }

    fn fs(&self, op: FsOp<'_>, path: &str) -> Result<FsOutput, PluginError> {
        let (kind, bytes) = match op {
            FsOp::Read => (FsKind::Read, Vec::new()),
            FsOp::Write(bytes) => (FsKind::Write, bytes.to_vec()),
            FsOp::List => (FsKind::List, Vec::new()),
            FsOp::Remove => (FsKind::Remove, Vec::new()),
        };
        match self.inner.ask(&Request::Fs {
            op: kind,
            path: path.to_owned(),
            bytes,
        })? {
            Output::Bytes(bytes) => Ok(FsOutput {
                bytes,
                names: Vec::new(),
            }),
            Output::Names(names) => Ok(FsOutput {
                bytes: Vec::new(),
                names,
            }),
            Output::Unit => Ok(FsOutput::default()),
            other => Err(unexpected("file", &other)),
        }
    }

    fn http(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, PluginError>> {
        let link = Arc::clone(&self.inner);
        Box::pin(async move {
            match link.ask(&Request::Http {
                method: request.method,
                url: request.url,
                headers: request.headers,
                body: request.body,
                timeout_ms: millis(request.timeout),
            })? {
                Output::Http {
                    status,
                    headers,
                    body,
                } => Ok(HttpResponse {
                    status,
                    headers,
                    body,
                }),
                other => Err(unexpected("http", &other)),
            }
        })
    }

    fn connect(&self, host: &str, port: u16) -> Result<std::net::TcpStream, PluginError> {
        let (answer, descriptor) =
            self.inner
                .channel
                .round_trip_passing(&encode(&Request::Connect {
                    host: host.to_owned(),
                    port,
                })?)?;
        match (decode(&answer)?, descriptor) {
            (Output::Socket, Some(socket)) => Ok(std::net::TcpStream::from(socket)),
            (Output::Socket, None) => Err(no_passing(host, port)),
            (other, _) => Err(unexpected("connect", &other)),
        }
    }

    fn command(
        &self,
        request: CommandRequest,
    ) -> BoxFuture<'static, Result<CommandOutput, PluginError>> {
        let link = Arc::clone(&self.inner);
        Box::pin(async move {
            match link.ask(&Request::Command {
                argv: request.argv,
                stdin: request.stdin,
                timeout_ms: millis(request.timeout),
                max_output: request.max_output as u64,
                cwd: request.cwd,
            })? {
                Output::Command {
                    status,
                    stdout,
                    stderr,
                    timed_out,
                    truncated,
                } => Ok(CommandOutput {
                    status,
                    stdout,
                    stderr,
                    timed_out,
                    truncated,
                }),
                other => Err(unexpected("command", &other)),
            }
        })
    }

    fn provider(
        &self,
        name: &str,
        access: ProviderAccess,
        input: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        match self.inner.ask(&Request::Provider {
            name: name.to_owned(),
            access,
            input: input.to_vec(),
        })? {
            Output::Bytes(bytes) => Ok(bytes),
            other => Err(unexpected("provider", &other)),
        }
    }

    fn mcp(&self, server: &str, tool: &str, args: &[u8]) -> Result<Vec<u8>, PluginError> {
        match self.inner.ask(&Request::Mcp {
            server: server.to_owned(),
            tool: tool.to_owned(),
            args: args.to_vec(),
        })? {
            Output::Bytes(bytes) => Ok(bytes),
            other => Err(unexpected("mcp", &other)),
        }
    }

    fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        match self.inner.ask(&Request::Publish {
            topic: topic.to_owned(),
            payload: payload.to_vec(),
        })? {
            Output::Unit => Ok(()),
            other => Err(unexpected("publish", &other)),
        }
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), PluginError> {
        drop(task);
        Err(PluginError::with_kind(
            ErrorKind::Denied,
            "spawn denied: background tasks are not available in the sandbox (its process has one thread)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContextData;

    /// Polls `future` to completion on this thread.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }

    /// A channel that serves each request right here through `ctx`.
    struct Loopback(PluginContext);

    impl ServiceChannel for Loopback {
        fn round_trip(&self, request: &[u8]) -> Result<Vec<u8>, PluginError> {
            Ok(block_on(serve(&self.0, request)))
        }
    }

    fn local() -> PluginContext {
        PluginContext::local(ContextData {
            plugin_id: "t".into(),
            config: serde_json::Value::Null,
            data_dir: std::path::PathBuf::new(),
            temp_dir: std::path::PathBuf::new(),
        })
    }

    #[test]
    fn a_denial_comes_back_denied() {
        let services = remote_services(Arc::new(Loopback(local())));
        let e = services.fs(FsOp::Read, "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
        let e = services
            .provider("llm", ProviderAccess::Read, b"q")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
        // No descriptor passing over this channel, and `serve` passes none.
        assert_eq!(
            services.connect("127.0.0.1", 1).unwrap_err().kind(),
            ErrorKind::Denied
        );
        let (answer, fd) = block_on(serve_passing(
            &local(),
            br#"{"service":"connect","host":"127.0.0.1","port":1}"#,
        ));
        assert!(fd.is_none());
        let Answer::Err(e) = serde_json::from_slice(&answer).unwrap() else {
            panic!()
        };
        assert_eq!(PluginError::from(e).kind(), ErrorKind::Denied);
    }

    #[test]
    fn requests_and_answers_round_trip() {
        let request = Request::Fs {
            op: FsKind::Write,
            path: "a".into(),
            bytes: vec![0, 255, 7],
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            text,
            r#"{"service":"fs","op":"write","path":"a","bytes":"00ff07"}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), request);
        let answer = Answer::Err((&PluginError::retryable("again")).into());
        let back: Answer = serde_json::from_slice(&encode_answer(&answer)).unwrap();
        let Answer::Err(e) = back else { panic!() };
        assert!(PluginError::from(e).is_retryable());
        let garbage = block_on(serve(&local(), b"{"));
        let Answer::Err(e) = serde_json::from_slice(&garbage).unwrap() else {
            panic!()
        };
        assert_eq!(PluginError::from(e).kind(), ErrorKind::InvalidInput);
    }
}
