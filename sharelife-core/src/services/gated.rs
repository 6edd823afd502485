//! Host services that ask the gateway first and audit every decision.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{
    CommandOutput, CommandRequest, FsOp, FsOutput, HttpRequest, HttpResponse, McpBackend,
    ProviderBackend,
};
use crate::audit::{AuditFailure, AuditSink};
use crate::capability::{Decision, Gateway, KeyMap, Request, RuleRef};
use crate::context::{BoxFuture, HostServices, LocalServices};
use crate::event::EventBus;
use crate::manifest::ProviderAccess;
use crate::{ErrorKind, PluginError};

/// The providers and MCP servers a host offers.
#[derive(Clone, Default)]
pub struct Backends {
    // Looked up on every call: hashed with the gateway's key hasher.
    providers: KeyMap<Arc<dyn ProviderBackend>>,
    mcp: KeyMap<Arc<dyn McpBackend>>,
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
///
/// The services of one plugin *version*: every clone of its context
/// reaches the same services, and [`revoke`](Self::revoke) (which the host
/// calls when the version is unloaded or replaced) denies every later
/// request from any of them.
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
    pub(super) temp_dir: Option<PathBuf>,
    backends: Backends,
    revoked: AtomicBool,
    on_audit_failure: AuditFailure,
    events: Option<Arc<EventBus>>,
    tasks: super::tasks::Tasks,
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
                temp_dir: None,
                backends,
                revoked: AtomicBool::new(false),
                on_audit_failure: AuditFailure::Deny,
                events: None,
                tasks: super::tasks::Tasks::default(),
            }),
        }
    }

    /// What a decision does when its audit record cannot be written
    /// (default [`AuditFailure::Deny`]). Set before the services are
    /// shared.
    #[must_use]
    pub fn on_audit_failure(mut self, what: AuditFailure) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.on_audit_failure = what;
        }
        self
    }

    /// The plugin's temp directory: where commands run when the request
    /// names no working directory. Set before the services are shared.
    #[must_use]
    pub fn temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.temp_dir = Some(dir.into());
        }
        self
    }

    /// The event bus the plugin publishes on (without one, every publish
    /// is denied). Set before the services are shared.
    #[must_use]
    pub fn events(mut self, bus: Arc<EventBus>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.events = Some(bus);
        }
        self
    }

    /// Denies every later request through these services (from any clone
    /// of the plugin's context, on any thread), each audited with the rule
    /// `revoked`, and stops the tasks the plugin spawned: when this
    /// returns, their futures are dropped, so the plugin's library can be
    /// closed. The host calls this when the plugin version is unloaded or
    /// replaced by a reload.
    pub fn revoke(&self) {
        self.inner.revoked.store(true, Ordering::Release);
        self.inner.tasks.revoke();
    }

    /// Whether [`revoke`](Self::revoke) was called.
    pub fn is_revoked(&self) -> bool {
        self.inner.revoked.load(Ordering::Acquire)
    }
}

impl Inner {
    /// Asks the gateway (consuming rate limit and budget), records the
    /// decision, and turns a denial into an error naming the rule.
    pub(super) fn check(&self, req: &Request<'_>) -> Result<RuleRef, PluginError> {
        let decision = if self.revoked.load(Ordering::Acquire) {
            Decision::deny(RuleRef::Revoked)
        } else if crate::capability::declared::current()
            .is_some_and(|declared| !declared.allows(req.class()))
        {
            Decision::deny(RuleRef::Undeclared)
        } else {
            self.gateway.check(req)
        };
        self.settle(req, decision)
    }

    /// Records a refusal made before the gateway could be asked (the
    /// request is not well formed: an empty path, a host that is not a
    /// host name, a URL that is not http): every request is audited.
    pub(super) fn refuse(&self, req: &Request<'_>, why: PluginError) -> PluginError {
        let rule = if self.revoked.load(Ordering::Acquire) {
            RuleRef::Revoked
        } else {
            RuleRef::Malformed
        };
        match self.settle(req, Decision::deny(rule)) {
            Err(e) if rule == RuleRef::Revoked => e,
            _ => why,
        }
    }

    /// Audits `decision` and turns it into the service's answer. A
    /// decision whose record the sink does not accept is denied unless the
    /// host chose [`AuditFailure::AllowAndAlert`].
    pub(super) fn settle(
        &self,
        req: &Request<'_>,
        decision: Decision,
    ) -> Result<RuleRef, PluginError> {
        let recorded = self
            .audit
            .try_record_decision(&self.plugin, &self.version, req, decision);
        if let Err(e) = recorded {
            match self.on_audit_failure {
                AuditFailure::Deny => {
                    return Err(PluginError::with_kind(
                        ErrorKind::Denied,
                        format!(
                            "{req} denied: its audit record cannot be written ({e}); decisions fail closed"
                        ),
                    ));
                }
                AuditFailure::AllowAndAlert => {
                    tracing::error!(target: "sharelife::audit", plugin = %self.plugin, request = %req, error = %e, "audit record lost; the decision stands (audit_failure = allow-and-alert)");
                }
            }
        }
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
        self.settle(req, decision).map(drop)
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

    /// Where a command runs: `cwd` when the gateway lets the plugin read
    /// that directory (checked on its resolved path, like any read), else
    /// the plugin's temp directory. Never the data directory by default:
    /// that would let `ls` or `git status` list names the plugin may not
    /// read.
    fn working_dir(&self, cwd: Option<&str>) -> Result<PathBuf, PluginError> {
        let Some(cwd) = cwd else {
            return self.temp_dir.clone().ok_or_else(|| {
                PluginError::with_kind(
                    ErrorKind::Denied,
                    "running a command needs a working directory: name one (`cwd`) that the policy lets the plugin read",
                )
            });
        };
        let resolved = super::fs::resolve(&self.data_dir, cwd).map_err(|e| {
            self.refuse(
                &Request::File {
                    access: crate::manifest::FileAccess::Read,
                    path: Path::new(cwd),
                },
                e,
            )
        })?;
        self.check(&Request::File {
            access: crate::manifest::FileAccess::Read,
            path: &resolved,
        })?;
        Ok(resolved)
    }
}

fn denied(req: &Request<'_>, rule: RuleRef) -> PluginError {
    PluginError::with_kind(ErrorKind::Denied, format!("{req} denied by {rule}"))
}

impl HostServices for GatedServices {
    fn revoke(&self) {
        GatedServices::revoke(self);
    }

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
            let req = Request::Command {
                argv: &request.argv,
            };
            if request.argv.first().is_none_or(String::is_empty) {
                return Err(this.inner.refuse(
                    &req,
                    PluginError::invalid_input("an empty argv names no program"),
                ));
            }
            let dir = this.inner.working_dir(request.cwd.as_deref())?;
            let rule = this.inner.check(&req)?;
            let timeout = this.inner.call_time(rule, request.timeout);
            // Dropping this future (a cancelled call) kills the program's
            // whole process group, as the time limit does.
            let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
            let flag = Arc::clone(&cancel.0);
            blocking(move || super::command::run(&request, timeout, &dir, &flag)).await
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

    fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        let req = Request::Publish { topic };
        if let Err(e) = crate::event::check_topic(topic) {
            return Err(self
                .inner
                .refuse(&req, PluginError::invalid_input(e.to_string())));
        }
        if topic.starts_with("sharelife.") {
            return Err(self.inner.refuse(
                &req,
                PluginError::with_kind(
                    ErrorKind::Denied,
                    format!("publish {topic} denied: topics under `sharelife.` are the host's"),
                ),
            ));
        }
        let rule = self.inner.check(&req)?;
        self.inner.charge(rule, payload.len(), &req)?;
        let bus = self.inner.events.as_ref().ok_or_else(|| {
            PluginError::new(format!(
                "publish {topic}: the host gave this plugin no event bus"
            ))
        })?;
        bus.publish_bytes(topic, payload)
            .map(drop)
            .map_err(|e| PluginError::invalid_input(e.to_string()))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), PluginError> {
        // Checked here as well as in `tasks`: a revoked context spawns
        // nothing, even between the flag and the tasks' own revocation.
        if self.is_revoked() {
            return Err(PluginError::with_kind(
                ErrorKind::Denied,
                "spawn denied: the plugin version was unloaded or replaced",
            ));
        }
        self.inner.tasks.spawn(task)
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

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
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
