//! The host config file: TOML with the seed's shape, `${VAR}` expansion,
//! unknown keys refused with file, line and key, and a JSON Schema.
//!
//! ```toml
//! plugin_paths = ["./plugins", "~/.sharelife/plugins"]
//! auto_load = true
//! health_check_interval = 60          # seconds, or "500ms", "5m"
//!
//! [plugins."acme.translate"]
//! enabled = true
//! priority = 10                       # 1 starts first, 100 last
//! dependencies = ["acme.store@^1"]    # added to the manifest's
//! subscriptions = ["chat.message"]    # added to the manifest's
//! config = { api_key = "${OPENAI_API_KEY}", model = "${MODEL:-small}" }
//!
//! [plugins."acme.scraper"]
//! isolation = "process"               # or "in-process" (default)
//! limits = { memory = "256MiB", cpu_time = "10s", call_timeout = "2s", open_files = 64 }
//!
//! [sandbox]
//! auto = "high"                       # plugins at or above this risk run out of process
//! require = ["landlock", "seccomp"]   # refused when the kernel cannot give these
//! ```
//!
//! Out-of-process plugins need an isolation provider on the host
//! ([`HostBuilder::isolation_provider`](super::HostBuilder::isolation_provider));
//! see [`isolation`](super::isolation).
//!
//! [`HostConfig::load`] reads and checks a file;
//! [`HostBuilder::config`](super::HostBuilder::config) applies it. Every
//! setting also has a builder method, so a host needs no file at all.

mod env;
mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

pub use self::raw::{
    RawDuration, RawEvents, RawHostConfig, RawPlugin, RawRestart, RawRestartKind, RawSandbox,
    RawTopic,
};
use super::isolation::{Isolation, IsolationKind, IsolationReason, ProcessLimits, SandboxSettings};
use super::{DependentPolicy, RestartPolicy};
use crate::event::Overflow;
use crate::manifest::{Dependency, PluginId, Problem};

/// A checked host config. Every field is optional: what is absent keeps
/// the builder's default.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct HostConfig {
    /// The file it was read from, named in later errors about it.
    pub source: Option<PathBuf>,
    /// Folders scanned for plugin libraries.
    pub plugin_paths: Vec<PathBuf>,
    /// Load every plugin found unless disabled.
    pub auto_load: Option<bool>,
    /// Time between health checks.
    pub health_check_interval: Option<Duration>,
    /// Time one health check may take.
    pub health_check_timeout: Option<Duration>,
    /// What to do after a failed health check.
    pub restart: Option<RestartPolicy>,
    /// Refuse to start when an enabled plugin fails.
    pub strict: Option<bool>,
    /// Time each plugin may take to stop at shutdown.
    pub shutdown_timeout: Option<Duration>,
    /// Cascade to, or refuse because of, dependents.
    pub on_dependents: Option<DependentPolicy>,
    /// Root of the plugins' data directories.
    pub data_dir: Option<PathBuf>,
    /// The capability policy.
    pub policy: Option<crate::capability::Policy>,
    /// The audit log file.
    pub audit_log: Option<PathBuf>,
    /// What a decision does when its audit record cannot be written.
    pub audit_failure: Option<crate::audit::AuditFailure>,
    /// Root of the plugins' temp directories.
    pub temp_dir: Option<PathBuf>,
    /// Events each subscriber can have waiting.
    pub queue_capacity: Option<usize>,
    /// Overflow policy of topics not listed in `topics`.
    pub overflow: Option<Overflow>,
    /// Per-topic overflow policies.
    pub topics: BTreeMap<String, Overflow>,
    /// Per-plugin settings.
    pub plugins: BTreeMap<PluginId, PluginSettings>,
    /// The `[sandbox]` table.
    pub sandbox: SandboxSettings,
}

/// What the host config says about one plugin.
///
/// `Debug` shows the config's keys, never its values: they may hold
/// secrets expanded from the environment.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PluginSettings {
    /// Whether to load it (`None`: the host's `auto_load` decides).
    pub enabled: Option<bool>,
    /// 1 (starts first) to 100 (starts last); default 50.
    pub priority: Option<u8>,
    /// The config handed to the plugin.
    pub config: Option<serde_json::Value>,
    /// Dependencies added to the manifest's.
    pub dependencies: Vec<Dependency>,
    /// Topics added to the manifest's subscriptions.
    pub subscriptions: Vec<String>,
    /// Where it runs (`None`: in process, unless `[sandbox] auto` picks
    /// it).
    pub isolation: Option<IsolationKind>,
    /// Its limits when it runs out of process.
    pub limits: Option<ProcessLimits>,
}

/// The priority of a plugin the config says nothing about.
pub const DEFAULT_PRIORITY: u8 = 50;

impl PluginSettings {
    /// The priority, or [`DEFAULT_PRIORITY`].
    pub fn priority(&self) -> u8 {
        self.priority.unwrap_or(DEFAULT_PRIORITY)
    }
}

impl fmt::Debug for PluginSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.config.as_ref().map(|c| match c.as_object() {
            Some(map) => format!(
                "{{{}: <redacted>}}",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            None => "<redacted>".to_owned(),
        });
        f.debug_struct("PluginSettings")
            .field("enabled", &self.enabled)
            .field("priority", &self.priority)
            .field("config", &config)
            .field("dependencies", &self.dependencies)
            .field("subscriptions", &self.subscriptions)
            .field("isolation", &self.isolation)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Why a host config could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read host config {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::sync::Arc<std::io::Error>,
    },
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file (or `<host config>` for text).
        file: String,
        /// Line, 1-based.
        line: usize,
        /// Column, 1-based.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Values that parse but are not valid; every problem is listed.
    #[error("{}", lines(problems))]
    Invalid {
        /// The file (or `<host config>` for text).
        file: String,
        /// The problems, in file order. Each names the file, its line when
        /// known, and the key as a dotted TOML path
        /// (`plugins."acme.echo".priority`) as its `path`.
        problems: Vec<Problem>,
    },
}

fn lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The individual problems: one for a syntax error (with its file,
    /// line and column), none for I/O.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Io { .. } => Vec::new(),
            ConfigError::Syntax {
                file,
                line,
                column,
                message,
            } => vec![
                Problem::new("", message.clone())
                    .in_file(file.clone())
                    .at_line(Some(*line))
                    .at_column(Some(*column)),
            ],
            ConfigError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

/// The host config's JSON Schema (draft 2020-12), pretty-printed. The
/// repository keeps a copy in `schemas/host.config.v1.schema.json`; a test
/// fails when it is out of date.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawHostConfig);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

impl HostConfig {
    /// Where a host built from this config runs the plugin library
    /// `file`, and why: its `isolation`, else `[sandbox] auto` by the
    /// manifest's risk label or, below it, by a scan of the library's
    /// imports for roads its manifest does not declare, else in process
    /// ([`decide`](super::isolation::decide), the rule the host applies).
    pub fn isolation_for(&self, file: &crate::loader::PluginFile) -> (Isolation, IsolationReason) {
        super::isolation::decide(self.plugins.get(&file.manifest().id), &self.sandbox, file)
    }

    /// The root of the plugins' data directories a host built from this
    /// config uses: `data_dir`, or the host's default.
    pub fn data_root(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(crate::host::builder::default_data_root)
    }

    /// Reads and checks the config file at `path`, expanding `${VAR}` from
    /// this process's environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Io`], [`ConfigError::Syntax`] or
    /// [`ConfigError::Invalid`], naming the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source: source.into(),
        })?;
        Self::parse(&text, Some(path), &|var| std::env::var(var).ok())
    }

    /// Checks config text. `file` names it in errors and anchors relative
    /// paths (without it they stay relative to the working directory);
    /// `env` looks variables up.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] or [`ConfigError::Invalid`].
    pub fn parse(
        text: &str,
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let label = file.map_or_else(|| "<host config>".to_owned(), |f| f.display().to_string());
        let raw: RawHostConfig = toml::from_str(text).map_err(|e| syntax(&label, text, &e))?;
        let mut check = Check {
            text,
            env,
            base: file.and_then(Path::parent).map(Path::to_owned),
            problems: Vec::new(),
        };
        let config = check.config(raw, file);
        if check.problems.is_empty() {
            Ok(config)
        } else {
            check.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
            let problems = check
                .problems
                .into_iter()
                .map(|p| p.in_file(label.clone()))
                .collect();
            Err(ConfigError::Invalid {
                file: label,
                problems,
            })
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// A serde error, said for people: an unknown key names the table it is in
/// and the keys allowed there.
fn syntax(file: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
    let mut message = e.message().trim().to_owned();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed: Vec<&str> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty())
            .collect();
        let table = text
            .lines()
            .take(line)
            .filter(|l| l.trim_start().starts_with('['))
            .last()
            .map_or_else(
                || "at the top level".to_owned(),
                |h| format!("in {}", h.trim()),
            );
        let hint = closest(key, &allowed)
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        message = format!(
            "unknown key `{key}` {table}; allowed here: {}{hint}",
            allowed.join(", ")
        );
    } else if message.contains("untagged enum RawDuration") {
        message = "expected whole seconds (like 30) or a duration like \"500ms\", \"30s\", \"5m\", \"1h\"".into();
    }
    ConfigError::Syntax {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let next = (diagonal + usize::from(ca != *cb))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                diagonal = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    };
    allowed
        .iter()
        .map(|a| (distance(key, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// A TOML key for messages: `plugins."acme.echo"`.
fn key_part(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// Turns the raw config into the checked one, collecting every problem.
struct Check<'a> {
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    base: Option<PathBuf>,
    problems: Vec<Problem>,
}

mod check;
