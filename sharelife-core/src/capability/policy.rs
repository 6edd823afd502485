//! The host's side of a grant: rules that allow or deny capabilities to
//! plugins, with optional rate limits and budgets.
#![forbid(unsafe_code)]

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::manifest::Capability;

/// Allow or deny.
#[cfg_attr(feature = "host", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Grants what the rule describes (if the manifest requested it).
    Allow,
    /// Refuses what the rule describes, whatever else allows it.
    Deny,
}

/// One policy rule.
#[cfg_attr(feature = "host", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// No `deny_unknown_fields` here: serde cannot combine it with `flatten`.
// The flattened `Capability` refuses unknown keys itself.
pub struct Rule {
    /// Allow or deny.
    pub effect: Effect,
    /// Which plugins: an exact id, `*` for all, or `prefix.*`.
    pub plugin: String,
    /// What: the same vocabulary manifests request in.
    #[serde(flatten)]
    pub capability: Capability,
    /// Rate limits and budgets for what this rule allows.
    #[serde(default, skip_serializing_if = "Limits::is_unlimited")]
    pub limits: Limits,
}

/// Rate limits and budgets of an allow rule, per plugin.
#[cfg_attr(feature = "host", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Sustained calls per second (a token bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_second: Option<f64>,
    /// Burst size of the token bucket (default: one second's worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// At most this many calls per `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<u64>,
    /// At most this many bytes (read, written, sent, received) per `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The budget window (default 60 s).
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "host", schemars(with = "Option<f64>"))]
    pub window_secs: Option<Duration>,
    /// Longest a single call may take (commands, HTTP).
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "host", schemars(with = "Option<f64>"))]
    pub max_call_secs: Option<Duration>,
}

impl Limits {
    /// No limit at all.
    pub fn is_unlimited(&self) -> bool {
        *self == Limits::default()
    }
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        secs.map(|s| Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// What to do with a plugin whose manifest requests something no allow
/// rule grants.
#[cfg_attr(feature = "host", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ungranted {
    /// Load it; the ungranted requests are reported and denied at use.
    #[default]
    Report,
    /// Refuse to load it.
    Refuse,
}

/// The host's capability policy: an ordered list of rules. The empty
/// policy denies everything.
#[cfg_attr(feature = "host", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The rules; their indices name them in decisions and audit records.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What to do with requests no rule grants.
    #[serde(default)]
    pub ungranted: Ungranted,
}

impl Policy {
    /// The empty policy: everything denied.
    pub fn new() -> Self {
        Policy::default()
    }

    /// Adds an allow rule for `plugin` (id, `*`, or `prefix.*`).
    pub fn allow(mut self, plugin: impl Into<String>, capability: Capability) -> Self {
        self.rules.push(Rule {
            effect: Effect::Allow,
            plugin: plugin.into(),
            capability,
            limits: Limits::default(),
        });
        self
    }

    /// Adds an allow rule with limits.
    pub fn allow_limited(
        mut self,
        plugin: impl Into<String>,
        capability: Capability,
        limits: Limits,
    ) -> Self {
        self.rules.push(Rule {
            effect: Effect::Allow,
            plugin: plugin.into(),
            capability,
            limits,
        });
        self
    }

    /// Adds a deny rule.
    pub fn deny(mut self, plugin: impl Into<String>, capability: Capability) -> Self {
        self.rules.push(Rule {
            effect: Effect::Deny,
            plugin: plugin.into(),
            capability,
            limits: Limits::default(),
        });
        self
    }

    /// Sets what happens to plugins with ungranted requests.
    pub fn on_ungranted(mut self, what: Ungranted) -> Self {
        self.ungranted = what;
        self
    }
}

/// One reason a policy rule does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy.rules[{index}].{field}: {message}")]
pub struct RuleProblem {
    /// The rule's index in [`Policy::rules`].
    pub index: usize,
    /// The offending field, e.g. `host` or `limits.per_second`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// A policy with rules that do not compile. A rule is never skipped: a
/// deny rule that matched nothing would let through what it was written
/// to stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid capability policy: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PolicyError {
    /// Every problem, in rule order.
    pub problems: Vec<RuleProblem>,
}

impl Rule {
    /// Every reason this rule (at `index`) does not compile; empty when
    /// it does.
    pub fn problems(&self, index: usize) -> Vec<RuleProblem> {
        let mut out = Vec::new();
        let mut bad = |field: &str, message: String| {
            out.push(RuleProblem {
                index,
                field: field.to_owned(),
                message,
            });
        };
        if !is_selector(&self.plugin) {
            bad(
                "plugin",
                format!(
                    "{:?} is not a plugin id, `*` or `prefix.*` (e.g. \"acme.echo\", \"acme.*\")",
                    self.plugin
                ),
            );
        }
        for p in self.capability.problems("") {
            bad(p.path.trim_start_matches('.'), p.message);
        }
        let l = &self.limits;
        if l.per_second.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            bad(
                "limits.per_second",
                "must be a positive number of calls per second".to_owned(),
            );
        }
        if l.burst == Some(0) {
            bad("limits.burst", "must be at least 1".to_owned());
        }
        if l.window_secs.is_some_and(|w| w.is_zero()) {
            bad("limits.window_secs", "must be longer than zero".to_owned());
        }
        if l.max_call_secs.is_some_and(|w| w.is_zero()) {
            bad(
                "limits.max_call_secs",
                "must be longer than zero".to_owned(),
            );
        }
        if self.effect == Effect::Deny && !l.is_unlimited() {
            bad(
                "limits",
                "a deny rule takes no limits (they apply to what an allow rule grants)".to_owned(),
            );
        }
        out
    }
}

impl Policy {
    /// Compiles every rule's scope and limits, reporting every rule that
    /// does not compile. The host runs this when it is built (from the
    /// builder or a config file), and [`Gateway::compile`](super::Gateway::compile)
    /// refuses a policy that fails it.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] listing each rule index, field and problem.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let problems: Vec<RuleProblem> = self
            .rules
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.problems(i))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyError { problems })
        }
    }
}

/// `*`, `prefix.*` with a valid id prefix, or a valid plugin id.
fn is_selector(selector: &str) -> bool {
    if selector == "*" {
        return true;
    }
    match selector.strip_suffix(".*") {
        Some(prefix) => crate::manifest::PluginId::new(format!("{prefix}.x")).is_ok(),
        None => crate::manifest::PluginId::new(selector).is_ok(),
    }
}

/// Whether a rule's plugin selector matches `id`.
pub(crate) fn selects(selector: &str, id: &str) -> bool {
    match selector.strip_suffix('*') {
        _ if selector == "*" => true,
        Some(prefix) => id.starts_with(prefix) && prefix.ends_with('.'),
        None => selector == id,
    }
}
