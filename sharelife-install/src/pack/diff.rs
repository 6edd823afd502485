//! What applying a pack changes on this machine besides its plugins: the
//! policy (grants widened, highlighted with their risk), config keys
//! (secret values never shown), pipelines, and the inputs it needs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sharelife_core::capability::{Effect, Policy, Rule};
use sharelife_manifest::{Manifest, RiskLevel};
use toml::{Table, Value};

use super::redact::MACHINE_KEYS;
use super::{InputKind, RequiredInput};
use crate::config::PacksConfig;

/// A capability the new policy grants a plugin that the old one did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantWidened {
    /// The plugin.
    pub plugin: String,
    /// The capability, in plain words.
    pub capability: String,
    /// Its risk.
    pub risk: RiskLevel,
}

/// One config key that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    /// The key (`plugins."acme.bot".config.greeting`, `health_check_interval`).
    pub key: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// The value before (never for a secret-looking key).
    pub before: Option<String>,
    /// The value after (never for a secret-looking key).
    pub after: Option<String>,
    /// Whether the key looks secret (its values are not shown).
    pub secret: bool,
}

/// A required input and whether this environment has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequiredInputStatus {
    /// The variable.
    pub var: String,
    /// The config key it stands in.
    pub key: String,
    /// Why it is needed.
    pub kind: InputKind,
    /// Whether it is set here now.
    pub set: bool,
}

/// The diff of a pack against this machine, besides the plugin actions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackDiff {
    /// Policy rules the pack adds, in words.
    pub policy_rules_added: Vec<String>,
    /// Policy rules it drops, in words.
    pub policy_rules_removed: Vec<String>,
    /// Capabilities of the resulting plugins the new policy grants and the
    /// old one did not.
    pub grants_widened: Vec<GrantWidened>,
    /// Config keys that differ.
    pub config: Vec<ConfigChange>,
    /// Pipelines new on this machine.
    pub pipelines_added: Vec<String>,
    /// Pipelines whose file differs.
    pub pipelines_changed: Vec<String>,
    /// Pipelines the current generation has and the pack does not.
    pub pipelines_removed: Vec<String>,
    /// The inputs the pack's host config needs.
    pub required_inputs: Vec<RequiredInputStatus>,
}

impl PackDiff {
    /// Whether the new policy may grant more than the old one: a new
    /// allow rule, a deny rule dropped, or a capability of a resulting
    /// plugin newly granted.
    pub fn widens_policy(&self) -> bool {
        !self.grants_widened.is_empty()
            || self
                .policy_rules_added
                .iter()
                .any(|r| r.starts_with("allow "))
            || self
                .policy_rules_removed
                .iter()
                .any(|r| r.starts_with("deny "))
    }

    /// The required inputs not set in this environment.
    pub fn missing_inputs(&self) -> Vec<&str> {
        self.required_inputs
            .iter()
            .filter(|i| !i.set)
            .map(|i| i.var.as_str())
            .collect()
    }
}

/// What the diff compares.
pub(crate) struct DiffInput<'a> {
    pub(crate) old_host: &'a str,
    pub(crate) new_host: &'a str,
    pub(crate) old_pipelines: &'a BTreeMap<String, Vec<u8>>,
    pub(crate) new_pipelines: &'a BTreeMap<String, String>,
    pub(crate) plugins: &'a [Manifest],
    pub(crate) inputs: &'a [RequiredInput],
    pub(crate) packs: &'a PacksConfig,
}

pub(crate) fn diff(input: &DiffInput<'_>) -> Result<PackDiff, String> {
    let old_policy =
        super::policy_of(input.old_host).map_err(|e| format!("current host config: {e}"))?;
    let new_policy =
        super::policy_of(input.new_host).map_err(|e| format!("the pack's host config: {e}"))?;
    let mut d = PackDiff {
        policy_rules_added: rules_not_in(&new_policy, &old_policy),
        policy_rules_removed: rules_not_in(&old_policy, &new_policy),
        ..PackDiff::default()
    };
    for m in input.plugins {
        let before = crate::plan::verdicts(&old_policy, m);
        let after = crate::plan::verdicts(&new_policy, m);
        for (c, (b, a)) in m.capabilities.iter().zip(before.iter().zip(after.iter())) {
            if a.granted && !b.granted {
                d.grants_widened.push(GrantWidened {
                    plugin: m.id.to_string(),
                    capability: c.plain(),
                    risk: c.risk(),
                });
            }
        }
    }

    let old = flatten(input.old_host)?;
    let new = flatten(input.new_host)?;
    for key in old
        .keys()
        .chain(new.keys().filter(|k| !old.contains_key(*k)))
    {
        let (b, a) = (old.get(key), new.get(key));
        if b == a {
            continue;
        }
        let last = key
            .rsplit(['.', '['])
            .next()
            .unwrap_or(key)
            .trim_matches('"');
        let secret = input.packs.is_secret(last)
            || key
                .split('.')
                .any(|part| input.packs.is_secret(part.trim_matches('"')));
        let show = |v: Option<&String>| if secret { None } else { v.cloned() };
        d.config.push(ConfigChange {
            key: key.clone(),
            change: match (b, a) {
                (None, _) => "added",
                (_, None) => "removed",
                _ => "changed",
            }
            .to_owned(),
            before: show(b),
            after: show(a),
            secret,
        });
    }

    for (name, text) in input.new_pipelines {
        match input.old_pipelines.get(name) {
            None => d.pipelines_added.push(name.clone()),
            Some(old) if old != text.as_bytes() => d.pipelines_changed.push(name.clone()),
            Some(_) => {}
        }
    }
    d.pipelines_removed = input
        .old_pipelines
        .keys()
        .filter(|n| !input.new_pipelines.contains_key(*n))
        .cloned()
        .collect();
    d.required_inputs = input
        .inputs
        .iter()
        .map(|i| RequiredInputStatus {
            var: i.var.clone(),
            key: i.key.clone(),
            kind: i.kind,
            set: std::env::var_os(&i.var).is_some(),
        })
        .collect();
    Ok(d)
}

/// Whether `new` may grant what `old` does not: an allow rule `old` lacks,
/// or a deny rule `new` lacks. (A grant only widens by one of the two.)
pub(crate) fn rules_widen(old: &Policy, new: &Policy) -> bool {
    new.rules
        .iter()
        .any(|r| r.effect == Effect::Allow && !old.rules.contains(r))
        || old
            .rules
            .iter()
            .any(|r| r.effect == Effect::Deny && !new.rules.contains(r))
}

fn rules_not_in(a: &Policy, b: &Policy) -> Vec<String> {
    a.rules
        .iter()
        .filter(|r| !b.rules.contains(r))
        .map(describe)
        .collect()
}

pub(crate) fn describe(rule: &Rule) -> String {
    let effect = match rule.effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    };
    let limits = if rule.limits.is_unlimited() {
        String::new()
    } else {
        format!(
            " (limits {})",
            serde_json::to_string(&rule.limits).unwrap_or_default()
        )
    };
    format!(
        "{effect} {}: {} [{} risk]{limits}",
        rule.plugin,
        rule.capability.plain(),
        rule.capability.risk()
    )
}

/// Every leaf of a host config but the policy and this machine's paths,
/// by its key path, as TOML.
fn flatten(text: &str) -> Result<BTreeMap<String, String>, String> {
    fn walk(v: &Value, path: String, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Table(t) => {
                for (k, v) in t {
                    let key = if k
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        k.clone()
                    } else {
                        format!("{k:?}")
                    };
                    let p = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(v, p, out);
                }
            }
            other => {
                out.insert(path, other.to_string());
            }
        }
    }
    let mut table: Table = toml::from_str(text).map_err(|e| e.to_string())?;
    table.remove("policy");
    for k in MACHINE_KEYS {
        table.remove(*k);
    }
    let mut out = BTreeMap::new();
    walk(&Value::Table(table), String::new(), &mut out);
    Ok(out)
}
