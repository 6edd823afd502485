//! The capability check at each step's start: what the host's policy
//! grants the plugin (through its [`Gateway`]), narrowed by what the
//! pipeline allows it.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{CapabilityGrant, describe};
use crate::audit::{AuditSink, NullSink, RecordedRequest, What};
use crate::capability::{Decision, Effect, Gateway, Policy, RuleRef};
use crate::manifest::{Capability, Manifest, PluginId};

/// What the host grants, for pipelines: its capability [`Policy`], where
/// plugins' data directories are (relative file capabilities are under
/// them) and the audit sink that step decisions are written to.
#[derive(Debug, Clone)]
pub struct Grants {
    policy: Arc<Policy>,
    data_root: PathBuf,
    audit: Arc<dyn AuditSink>,
}

impl Grants {
    /// The grants of `policy` for plugins whose data directories are
    /// `<data_root>/<id>` (relative file capabilities are under them), with
    /// no audit sink. For a [`Host`](crate::Host) there is nothing to build:
    /// [`Pipeline::compile`](super::Pipeline::compile) takes the host's own.
    pub fn new(policy: Policy, data_root: impl Into<PathBuf>) -> Self {
        Grants {
            policy: Arc::new(policy),
            data_root: data_root.into(),
            audit: Arc::new(NullSink),
        }
    }

    /// A host's grants: the very policy, data root and audit sink its
    /// plugins' gateways use.
    pub(crate) fn of_host(
        policy: Arc<Policy>,
        data_root: PathBuf,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        Grants {
            policy,
            data_root,
            audit,
        }
    }

    /// Where the host creates each plugin's data directory
    /// (`<root>/<id>`); give the same root as to the host.
    pub fn data_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.data_root = root.into();
        self
    }

    /// Where step decisions are recorded.
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub(crate) fn sink(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    pub(crate) fn data_dir(&self, id: &str) -> PathBuf {
        self.data_root.join(id)
    }

    /// The plugin's gateway under these grants. A policy that does not
    /// compile grants nothing (fail closed); hosts refuse such a policy
    /// when they are built, so this arises only for a `Grants` built by
    /// hand from an unchecked policy.
    pub(crate) fn gateway(&self, manifest: &Manifest) -> Gateway {
        Gateway::compile(manifest, &self.policy, &self.data_dir(manifest.id.as_str()))
            .unwrap_or_else(|_| Gateway::deny_all(manifest))
    }

    /// Whether some allow rule of the policy grants plugin `id` the
    /// capability `cap` (or, for a class, any capability of the class).
    pub(crate) fn grants(&self, id: &PluginId, grant: &CapabilityGrant) -> bool {
        let granted = |cap: &Capability| {
            // The gateway's own matching decides: a plugin that requested
            // exactly `cap` would have it granted.
            let mut probe = Manifest::new(
                id.clone(),
                semver::Version::new(0, 0, 0),
                semver::VersionReq::STAR,
            );
            probe.capabilities.push(cap.clone());
            self.gateway(&probe).ungranted().is_empty()
        };
        match grant {
            CapabilityGrant::Exact(cap) => granted(cap),
            CapabilityGrant::Class(class) => self
                .policy
                .rules
                .iter()
                .filter(|r| r.effect == Effect::Allow && class.covers(&r.capability))
                .any(|r| granted(&r.capability)),
        }
    }
}

/// The rule a step's capability decision rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateRule {
    /// The plugin's manifest requests no capability: nothing to decide.
    NothingRequested,
    /// Every request is granted; this is the host rule that granted the
    /// first one.
    Host(RuleRef),
    /// Every request is granted by the host (by an allow rule that
    /// overlaps it; the rule is decided at each use).
    Granted,
    /// The host's gateway denies a request.
    HostDenied(RuleRef),
    /// The host grants a request but this pipeline does not allow it
    /// (`plugins[plugin_use].capabilities`). [`Pipeline::compile`](super::Pipeline::compile)
    /// refuses a step with this decision, so no compiled step has it.
    NotInPipeline {
        /// Index of the plugin use in the file.
        plugin_use: usize,
    },
}

/// A step's capability decision, made when the pipeline is compiled and
/// applied (and audited) at each start of the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDecision {
    /// Whether the step may run.
    pub allowed: bool,
    /// Why.
    pub rule: GateRule,
    /// The request that decided a denial.
    pub capability: Option<Capability>,
}

impl fmt::Display for StepDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cap = self.capability.as_ref().map(describe).unwrap_or_default();
        match self.rule {
            GateRule::NothingRequested => f.write_str("allowed: the plugin requests no capability"),
            GateRule::Host(rule) => write!(f, "allowed by {rule}"),
            GateRule::Granted => f.write_str("allowed: every request is granted"),
            GateRule::HostDenied(rule) => write!(f, "denied: {cap} by {rule}"),
            GateRule::NotInPipeline { plugin_use } => write!(
                f,
                "denied: {cap} is not among the capabilities this pipeline allows (plugins[{plugin_use}].capabilities)"
            ),
        }
    }
}

/// Decides whether a step may run: `needed` are the requests its handler
/// may use (the plugin's requests of the classes the handler declares in
/// `uses`, or all of them). Returns the decision and what to audit at each
/// start (nothing when the step needs nothing).
pub(crate) fn decide(
    needed: &[Capability],
    gateway: &Gateway,
    data_dir: &Path,
    allowed_here: &[CapabilityGrant],
    plugin_use: usize,
) -> (StepDecision, Option<What>) {
    let mut first_rule = None;
    for cap in needed {
        let (decision, request) = host_decision(gateway, cap, data_dir);
        if !decision.allowed {
            let what = match request {
                Some(request) => What::Decision { request, decision },
                None => What::Error {
                    message: format!(
                        "pipeline step denied: {} by {}",
                        describe(cap),
                        decision.rule
                    ),
                },
            };
            return (
                StepDecision {
                    allowed: false,
                    rule: GateRule::HostDenied(decision.rule),
                    capability: Some(cap.clone()),
                },
                Some(what),
            );
        }
        if !allowed_here.iter().any(|g| g.covers(cap)) {
            let decision = StepDecision {
                allowed: false,
                rule: GateRule::NotInPipeline { plugin_use },
                capability: Some(cap.clone()),
            };
            let what = What::Error {
                message: format!("pipeline step {decision}"),
            };
            return (decision, Some(what));
        }
        first_rule.get_or_insert((decision.rule, request));
    }
    match first_rule {
        None => (
            StepDecision {
                allowed: true,
                rule: GateRule::NothingRequested,
                capability: None,
            },
            None,
        ),
        Some((rule @ RuleRef::Allow(_), Some(request))) => (
            StepDecision {
                allowed: true,
                rule: GateRule::Host(rule),
                capability: None,
            },
            Some(What::Decision {
                request,
                decision: Decision {
                    allowed: true,
                    rule,
                },
            }),
        ),
        Some(_) => (
            StepDecision {
                allowed: true,
                rule: GateRule::Granted,
                capability: None,
            },
            None,
        ),
    }
}

/// The gateway's decision on a manifest request, through a request that
/// stands for it (its literal scope).
fn host_decision(
    gateway: &Gateway,
    cap: &Capability,
    data_dir: &Path,
) -> (Decision, Option<RecordedRequest>) {
    let kind = cap.kind();
    let request = crate::capability::representative(cap, data_dir);
    let recorded = request.clone();
    if gateway.ungranted().contains(cap) {
        let rule = if gateway.grants_kind(kind) {
            RuleRef::NotGranted
        } else {
            RuleRef::NoGrantOfKind
        };
        return (
            Decision {
                allowed: false,
                rule,
            },
            recorded,
        );
    }
    let decision = request.as_ref().map(|r| gateway.decide(&r.as_request()));
    match decision {
        // A deny rule beats the grant; an allow names its rule.
        Some(
            d @ Decision {
                rule: RuleRef::Deny(_) | RuleRef::Allow(_),
                ..
            },
        ) => (d, recorded),
        // Granted by overlap; the exact rule is decided at each use.
        _ => (
            Decision {
                allowed: true,
                rule: RuleRef::NotRequested,
            },
            None,
        ),
    }
}

/// The audit sink and what a step's start records.
pub(crate) fn record(sink: &dyn AuditSink, plugin: &Arc<str>, version: &Arc<str>, what: &What) {
    sink.record(crate::audit::AuditEvent {
        at: std::time::SystemTime::now(),
        plugin: Arc::clone(plugin),
        version: Arc::clone(version),
        what: what.clone(),
    });
}
