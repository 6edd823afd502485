//! Host services that ask the gateway first and audit every decision.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{
    CommandOutput, CommandRequest, FsOp, FsOutput, HttpRequest, HttpResponse, McpBackend,
    ProviderBackend,
};
use crate::audit::{AuditEvent, AuditSink, RecordedRequest, What};
use crate::capability::{Gateway, Request, RuleRef};
use crate::context::{BoxFuture, HostServices, LocalServices};
use crate::manifest::ProviderAccess;
use crate::{ErrorKind, PluginError};

/// The providers and MCP servers a host offers.
#[derive(Clone, Default)]
pub struct Backends {
    providers: HashMap<String, Arc<dyn ProviderBackend>>,
    mcp: HashMap<String, Arc<dyn McpBackend>>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("mcp", &self.mcp.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Backends {
    /// No backends.
    pub fn new() -> Self {
        Backends::default()
    }

    /// Registers provider `name`.
    pub fn provider(mut self, name: impl Into<String>, backend: Arc<dyn ProviderBackend>) -> Self {
        self.providers.insert(name.into(), backend);
        self
    }

    /// Registers MCP server `name`.
    pub fn mcp(mut self, name: impl Into<String>, backend: Arc<dyn McpBackend>) -> Self {
        self.mcp.insert(name.into(), backend);
        self
    }
}

/// One plugin's services: every use asks its [`Gateway`] and is recorded
/// in the audit sink, allowed or not.
#[derive(Clone, Debug)]
pub struct GatedServices {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) plugin: Arc<str>,
    pub(super) version: Arc<str>,
    pub(super) gateway: Arc<Gateway>,
    audit: Arc<dyn AuditSink>,
    pub(super) data_dir: PathBuf,
    backends: Backends,
}

impl GatedServices {
    /// Services for the plugin `gateway` was compiled for.
    pub fn new(
        gateway: Arc<Gateway>,
        audit: Arc<dyn AuditSink>,
        data_dir: impl Into<PathBuf>,
        backends: Backends,
    ) -> Self {
        GatedServices {
            inner: Arc::new(Inner {
                plugin: gateway.plugin().into(),
                version: gateway.version().into(),
                gateway,
                audit,
                data_dir: data_dir.into(),
                backends,
            }),
        }
    }
}

impl Inner {
    /// Asks the gateway (consuming rate limit and budget), records the
    /// decision, and turns a denial into an error naming the rule.
    pub(super) fn check(&self, req: &Request<'_>) -> Result<RuleRef, PluginError> {
        let decision = self.gateway.check(req);
        self.audit.record(AuditEvent {
            at: SystemTime::now(),
            plugin: Arc::clone(&self.plugin),
            version: Arc::clone(&self.version),
            what: What::Decision {
                request: RecordedRequest::of(req),
                decision,
            },
        });
        if decision.allowed {
            Ok(decision.rule)
        } else {
            Err(denied(req, decision.rule))
        }
    }

    /// Charges bytes to the allowing rule's budget; a refusal is audited.
    pub(super) fn charge(
        &self,
        rule: RuleRef,
        bytes: usize,
        req: &Request<'_>,
    ) -> Result<(), PluginError> {
        let decision = self.gateway.charge_bytes(rule, bytes as u64);
        if decision.allowed {
            return Ok(());
        }
        self.audit.record(AuditEvent {
            at: SystemTime::now(),
            plugin: Arc::clone(&self.plugin),
            version: Arc::clone(&self.version),
            what: What::Decision {
                request: RecordedRequest::of(req),
                decision,
            },
        });
        Err(denied(req, decision.rule))
    }

    /// The time limit for a call allowed by `rule`.
    pub(super) fn call_time(&self, rule: RuleRef, asked: Duration) -> Duration {
        self.gateway
            .max_call_time(rule)
            .map_or(asked, |max| max.min(asked))
    }

    pub(super) fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

fn denied(req: &Request<'_>, rule: RuleRef) -> PluginError {
    PluginError::with_kind(ErrorKind::Denied, format!("{req} denied by {rule}"))
}

impl HostServices for GatedServices {
    fn log(&self, plugin_id: &str, level: tracing::Level, target: &str, message: &str) {
        LocalServices.log(plugin_id, level, target, message);
    }

    fn max_level(&self) -> tracing::Level {
        LocalServices.max_level()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        LocalServices.sleep(duration)
    }

    fn fs(&self, op: FsOp<'_>, path: &str) -> Result<FsOutput, PluginError> {
        super::fs::run(&self.inner, op, path)
    }

    fn http(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, PluginError>> {
        let this = self.clone();
        Box::pin(async move { blocking(move || super::net::http(&this.inner, request)).await })
    }

    fn connect(&self, host: &str, port: u16) -> Result<std::net::TcpStream, PluginError> {
        super::net::connect(&self.inner, host, port)
    }

    fn command(
        &self,
        request: CommandRequest,
    ) -> BoxFuture<'static, Result<CommandOutput, PluginError>> {
        let this = self.clone();
        Box::pin(async move {
            let rule = this.inner.check(&Request::Command {
                argv: &request.argv,
            })?;
            let timeout = this.inner.call_time(rule, request.timeout);
            let dir = this.inner.data_dir.clone();
            blocking(move || super::command::run(&request, timeout, &dir)).await
        })
    }

    fn provider(
        &self,
        name: &str,
        access: ProviderAccess,
        input: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        let req = Request::Provider { name, access };
        let rule = self.inner.check(&req)?;
        self.inner.charge(rule, input.len(), &req)?;
        let backend = self.inner.backends.providers.get(name).ok_or_else(|| {
            PluginError::new(format!(
                "the host has no provider {name:?} (it is granted but not registered)"
            ))
        })?;
        backend.call(access, input)
    }

    fn mcp(&self, server: &str, tool: &str, args: &[u8]) -> Result<Vec<u8>, PluginError> {
        let backend = self.inner.backends.mcp.get(server);
        let definition = backend.and_then(|b| b.definition(tool));
        let sha = definition
            .as_deref()
            .map_or_else(|| "unknown".to_owned(), super::definition_sha256);
        let req = Request::Mcp {
            server,
            tool,
            definition_sha256: &sha,
        };
        let rule = self.inner.check(&req)?;
        self.inner.charge(rule, args.len(), &req)?;
        match (backend, definition) {
            (Some(b), Some(_)) => b.call(tool, args),
            _ => Err(PluginError::new(format!(
                "the host's MCP server {server:?} has no tool {tool:?}"
            ))),
        }
    }
}

/// Runs blocking I/O off the async runtime when there is one.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
) -> Result<T, PluginError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|e| Err(PluginError::new(format!("the host's I/O task failed: {e}"))))
    } else {
        f()
    }
}
