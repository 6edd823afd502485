//! The host config as written: the serde shape, which refuses unknown
//! keys, and the type the config's JSON Schema is generated from.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::event::Overflow;
use crate::host::DependentPolicy;

/// The host config file (TOML).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "sharelife host config v1",
    description = "Where a sharelife host finds plugins, which it runs, with what config, in what order, and how it watches them. `${VAR}` and `${VAR:-default}` in plugin_paths, data_dir, temp_dir and every string under plugins.<id>.config are replaced from the environment."
)]
pub struct RawHostConfig {
    /// Folders scanned for plugin libraries (not recursively). `~` is the
    /// home directory; relative paths are relative to this file's folder.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub plugin_paths: Vec<Spanned<String>>,
    /// Load every plugin found in `plugin_paths` unless `plugins.<id>.enabled`
    /// is false (default true). When false, only plugins listed under
    /// `plugins` with `enabled = true` are loaded.
    #[serde(default)]
    pub auto_load: Option<bool>,
    /// Time between health checks of active plugins: whole seconds, or a
    /// string like "500ms", "30s", "5m". No periodic checks when absent.
    #[serde(default)]
    #[schemars(with = "Option<RawDuration>")]
    pub health_check_interval: Option<Spanned<RawDuration>>,
    /// How long one health check may take before it counts as failed
    /// (default 5s).
    #[serde(default)]
    #[schemars(with = "Option<RawDuration>")]
    pub health_check_timeout: Option<Spanned<RawDuration>>,
    /// What to do with a plugin whose health check failed.
    #[serde(default)]
    pub restart: Option<RawRestart>,
    /// Refuse to start when any enabled plugin cannot be loaded or started
    /// (default false: start the others and report).
    #[serde(default)]
    pub strict: Option<bool>,
    /// How long each plugin may take to stop at shutdown (default 5s).
    #[serde(default)]
    #[schemars(with = "Option<RawDuration>")]
    pub shutdown_timeout: Option<Spanned<RawDuration>>,
    /// Stopping or unloading a plugin others depend on: "cascade" stops
    /// its dependents first (default), "refuse" refuses.
    #[serde(default)]
    pub on_dependents: Option<DependentPolicy>,
    /// Where each plugin's data directory is created (`<data_dir>/<id>`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub data_dir: Option<Spanned<String>>,
    /// Where each plugin's temp directory is created (`<temp_dir>/<id>`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub temp_dir: Option<Spanned<String>>,
    /// The event bus.
    #[serde(default)]
    pub events: Option<RawEvents>,
    /// Per-plugin settings, keyed by plugin id.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawPlugin>")]
    pub plugins: BTreeMap<Spanned<String>, RawPlugin>,
    /// The capability policy: `[[policy.rules]]` allowing or denying
    /// capabilities to plugins. Absent or empty: everything is denied.
    #[serde(default)]
    pub policy: Option<RawPolicy>,
    /// The audit log (hash-chained JSON Lines) every gateway decision and
    /// lifecycle change is appended to; relative to this file's folder.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub audit_log: Option<Spanned<String>>,
    /// What a gateway decision does when its audit record cannot be
    /// written (disk full, file size limit, read-only): "deny" (default,
    /// fail closed) or "allow-and-alert" (the decision stands and an error
    /// is logged for each record lost).
    #[serde(default)]
    pub audit_failure: Option<crate::audit::AuditFailure>,
    /// Which plugins run out of process without being named, and what the
    /// kernel must give them.
    #[serde(default)]
    pub sandbox: Option<RawSandbox>,
}

/// The `[sandbox]` table.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSandbox {
    /// Run every plugin whose manifest risk label is at or above this
    /// ("low", "medium" or "high"), or whose library imports a road
    /// around the gateway its manifest does not declare (a scan mismatch:
    /// `connect` without a network capability, `dlopen`...), out of
    /// process, unless its own `isolation` says otherwise.
    #[serde(default)]
    pub auto: Option<crate::manifest::RiskLevel>,
    /// Refuse to start a plugin out of process unless the kernel gives
    /// these: "landlock", "landlock-network", "seccomp".
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub require: Vec<Spanned<String>>,
}

/// The capability policy as written; each rule keeps its place in the
/// file so that a rule that does not compile is reported with its line.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// The rules; their indices name them in decisions and audit records.
    #[serde(default)]
    #[schemars(with = "Vec<crate::capability::Rule>")]
    pub rules: Vec<Spanned<crate::capability::Rule>>,
    /// What to do with requests no rule grants.
    #[serde(default)]
    pub ungranted: crate::capability::Ungranted,
}

/// A duration: whole seconds, or numbers with units, added up: "500ms",
/// "30s", "5m", "1h", "1h 30m" (also `ns`, `us`, `d`, `w`, and long names
/// such as `minutes`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawDuration {
    /// Whole seconds.
    Seconds(#[schemars(range(min = 1))] u64),
    /// Numbers with units, e.g. "250ms", "30s", "1h 30m".
    Text(
        #[schemars(regex(
            pattern = r"^\s*([0-9]+(\.[0-9]+)?\s*(nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y)\s*)+$"
        ))]
        String,
    ),
}

/// The restart policy after a failed health check.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    /// "backoff" restarts the plugin after a growing delay (default);
    /// "leave" leaves it in the error state.
    #[serde(default)]
    pub policy: Option<RawRestartKind>,
    /// Consecutive restarts without a healthy check in between before the
    /// host gives up (default 3).
    #[serde(default)]
    pub max_restarts: Option<u32>,
    /// The delay before the first restart; it doubles with each further
    /// one (default "1s").
    #[serde(default)]
    #[schemars(with = "Option<RawDuration>")]
    pub backoff: Option<Spanned<RawDuration>>,
    /// The longest delay (default "60s").
    #[serde(default)]
    #[schemars(with = "Option<RawDuration>")]
    pub max_backoff: Option<Spanned<RawDuration>>,
}

/// Restart policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawRestartKind {
    /// Restart with backoff.
    Backoff,
    /// Leave in `Error`.
    Leave,
}

/// Event bus settings.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEvents {
    /// Events each subscriber can have waiting (default 256).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub queue_capacity: Option<Spanned<i64>>,
    /// Overflow policy of topics not listed under `topics` (default
    /// "drop-oldest").
    #[serde(default)]
    pub overflow: Option<Overflow>,
    /// Per-topic settings, keyed by topic name.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawTopic>")]
    pub topics: BTreeMap<Spanned<String>, RawTopic>,
}

/// One topic's settings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    /// "drop-oldest" or "reject".
    pub overflow: Overflow,
}

/// One plugin's settings.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    /// Whether the host loads it (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Start order among plugins whose dependencies allow either order:
    /// 1 starts first, 100 last (default 50). Stop order is the reverse.
    #[serde(default)]
    #[schemars(with = "Option<u8>", range(min = 1, max = 100))]
    pub priority: Option<Spanned<i64>>,
    /// Handed to the plugin; checked against the plugin's config schema
    /// when its manifest declares one.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub config: Option<Spanned<serde_json::Value>>,
    /// Dependencies added to the manifest's: "acme.store" or
    /// "acme.store@^1.2".
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub dependencies: Vec<Spanned<String>>,
    /// Event topics the plugin receives, added to its manifest's.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub subscriptions: Vec<Spanned<String>>,
    /// Where it runs: "in-process" (default; `[sandbox] auto` may move it)
    /// or "process" (a sandboxed child through the host's isolation
    /// provider; refused when there is none).
    #[serde(default)]
    pub isolation: Option<crate::host::isolation::IsolationKind>,
    /// What it may consume when it runs out of process: `{ memory =
    /// "256MiB", cpu_time = "10s", call_timeout = "2s", open_files = 64 }`.
    #[serde(default)]
    #[schemars(with = "Option<crate::host::isolation::RawLimits>")]
    pub limits: Option<Spanned<crate::host::isolation::RawLimits>>,
}
