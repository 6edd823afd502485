//! From [`RawHostConfig`] to [`HostConfig`]: every value checked, every
//! problem collected with its line.

use std::ops::Range;

use semver::VersionReq;

use super::env::{EnvProblem, expand};
use super::raw::{RawDuration, RawEvents, RawPlugin, RawRestart, RawRestartKind};
use super::{Check, HostConfig, Path, PathBuf, PluginSettings, Spanned, key_part, line_col};
use crate::event::check_topic;
use crate::host::RestartPolicy;
use crate::host::isolation::{LimitsError, ProcessLimits, SANDBOX_FEATURES};
use crate::manifest::{Dependency, PluginId, Problem};

impl Check<'_> {
    fn problem(&mut self, span: Option<Range<usize>>, key: &str, message: String) {
        let line = span.map(|s| line_col(self.text, s.start).0);
        self.problems.push(Problem::new(key, message).at_line(line));
    }

    fn env_problem(&mut self, key: &str, problem: &EnvProblem) {
        let line = self
            .text
            .find(&problem.needle())
            .map(|at| line_col(self.text, at).0);
        self.problems
            .push(Problem::new(key, problem.message()).at_line(line));
    }

    pub(super) fn config(&mut self, raw: super::RawHostConfig, file: Option<&Path>) -> HostConfig {
        let mut c = HostConfig {
            source: file.map(Path::to_owned),
            auto_load: raw.auto_load,
            strict: raw.strict,
            on_dependents: raw.on_dependents,
            ..HostConfig::default()
        };
        for (i, p) in raw.plugin_paths.iter().enumerate() {
            if let Some(path) = self.path(p, &format!("plugin_paths[{i}]")) {
                c.plugin_paths.push(path);
            }
        }
        c.data_dir = raw.data_dir.as_ref().and_then(|p| self.path(p, "data_dir"));
        c.audit_log = raw
            .audit_log
            .as_ref()
            .and_then(|p| self.path(p, "audit_log"));
        c.policy = raw.policy.map(|p| self.policy(p));
        c.audit_failure = raw.audit_failure;
        c.temp_dir = raw.temp_dir.as_ref().and_then(|p| self.path(p, "temp_dir"));
        c.health_check_interval = raw
            .health_check_interval
            .as_ref()
            .and_then(|d| self.duration(d, "health_check_interval"));
        c.health_check_timeout = raw
            .health_check_timeout
            .as_ref()
            .and_then(|d| self.duration(d, "health_check_timeout"));
        c.shutdown_timeout = raw
            .shutdown_timeout
            .as_ref()
            .and_then(|d| self.duration(d, "shutdown_timeout"));
        c.restart = raw.restart.map(|r| self.restart(&r));
        if let Some(sandbox) = raw.sandbox {
            c.sandbox.auto = sandbox.auto;
            for (i, name) in sandbox.require.iter().enumerate() {
                if SANDBOX_FEATURES.contains(&name.get_ref().as_str()) {
                    c.sandbox.require.push(name.get_ref().clone());
                } else {
                    self.problem(
                        Some(name.span()),
                        &format!("sandbox.require[{i}]"),
                        format!(
                            "{:?} is not a sandbox feature; write one of {}",
                            name.get_ref(),
                            SANDBOX_FEATURES.map(|f| format!("{f:?}")).join(", ")
                        ),
                    );
                }
            }
        }
        if let Some(events) = raw.events {
            self.events(events, &mut c);
        }
        for (id, plugin) in raw.plugins {
            let key = format!("plugins.{}", key_part(id.get_ref()));
            let parsed = PluginId::new(id.get_ref().as_str());
            let settings = self.plugin(plugin, &key);
            match parsed {
                Ok(id) => {
                    c.plugins.insert(id, settings);
                }
                Err(e) => self.problem(
                    Some(id.span()),
                    &key,
                    format!(
                        "{e}; plugin tables are keyed by plugin id, e.g. [plugins.\"acme.echo\"]"
                    ),
                ),
            }
        }
        c
    }

    /// Every rule is compiled here, so that a rule that does not compile
    /// is an error naming its line and index, never skipped.
    fn policy(&mut self, raw: super::raw::RawPolicy) -> crate::capability::Policy {
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, rule) in raw.rules.into_iter().enumerate() {
            let span = rule.span();
            let rule = rule.into_inner();
            for p in rule.problems(i) {
                self.problem(
                    Some(span.clone()),
                    &format!("policy.rules[{i}].{}", p.field),
                    p.message,
                );
            }
            rules.push(rule);
        }
        crate::capability::Policy {
            rules,
            ungranted: raw.ungranted,
        }
    }

    fn path(&mut self, raw: &Spanned<String>, key: &str) -> Option<PathBuf> {
        let text = match expand(raw.get_ref(), self.env) {
            Ok(text) => text.into_owned(),
            Err(p) => {
                self.env_problem(key, &p);
                return None;
            }
        };
        let path = if text == "~" || text.starts_with("~/") {
            let Some(home) = (self.env)("HOME").or_else(|| (self.env)("USERPROFILE")) else {
                self.problem(
                    Some(raw.span()),
                    key,
                    "`~` needs the HOME environment variable, which is not set; write an absolute path".into(),
                );
                return None;
            };
            PathBuf::from(home).join(text.trim_start_matches('~').trim_start_matches('/'))
        } else {
            PathBuf::from(text)
        };
        // Interior `.` parts add nothing (`./plugins` beside `./host.toml`
        // is `./plugins`, not `././plugins`): `components()` drops them and
        // keeps a leading one. `..` is kept, as the file system resolves it
        // through symlinks.
        let path = match &self.base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        };
        Some(path.components().collect())
    }

    fn duration(&mut self, raw: &Spanned<RawDuration>, key: &str) -> Option<std::time::Duration> {
        use std::time::Duration;
        let parsed = match raw.get_ref() {
            RawDuration::Seconds(s) => Some(Duration::from_secs(*s)),
            // "500ms", "30s", "5m", "1h", and spans like "1h 30m".
            RawDuration::Text(t) => humantime::parse_duration(t).ok(),
        };
        match parsed {
            Some(d) if !d.is_zero() => Some(d),
            Some(_) => {
                self.problem(Some(raw.span()), key, "must be longer than zero".into());
                None
            }
            None => {
                self.problem(
                    Some(raw.span()),
                    key,
                    "is not a duration; write whole seconds (30) or a number with a unit: \"500ms\", \"30s\", \"5m\", \"1h\"".into(),
                );
                None
            }
        }
    }

    fn restart(&mut self, raw: &RawRestart) -> RestartPolicy {
        let defaults = RestartPolicy::default_backoff();
        let RestartPolicy::Backoff {
            max_restarts,
            backoff,
            max_backoff,
        } = defaults
        else {
            unreachable!("the default restart policy is a backoff")
        };
        let backoff = raw
            .backoff
            .as_ref()
            .and_then(|d| self.duration(d, "restart.backoff"))
            .unwrap_or(backoff);
        let max_backoff = raw
            .max_backoff
            .as_ref()
            .and_then(|d| self.duration(d, "restart.max_backoff"))
            .unwrap_or(max_backoff)
            .max(backoff);
        match raw.policy {
            Some(RawRestartKind::Leave) => RestartPolicy::Leave,
            _ => RestartPolicy::Backoff {
                max_restarts: raw.max_restarts.unwrap_or(max_restarts),
                backoff,
                max_backoff,
            },
        }
    }

    fn events(&mut self, raw: RawEvents, c: &mut HostConfig) {
        if let Some(capacity) = &raw.queue_capacity {
            match usize::try_from(*capacity.get_ref()) {
                Ok(n) if n >= 1 => c.queue_capacity = Some(n),
                _ => self.problem(
                    Some(capacity.span()),
                    "events.queue_capacity",
                    format!("must be at least 1; found {}", capacity.get_ref()),
                ),
            }
        }
        c.overflow = raw.overflow;
        for (topic, settings) in raw.topics {
            let key = format!("events.topics.{}", key_part(topic.get_ref()));
            match check_topic(topic.get_ref()) {
                Ok(()) => {
                    c.topics.insert(topic.into_inner(), settings.overflow);
                }
                Err(e) => self.problem(Some(topic.span()), &key, e.to_string()),
            }
        }
    }

    fn plugin(&mut self, raw: RawPlugin, key: &str) -> PluginSettings {
        let mut s = PluginSettings {
            enabled: raw.enabled,
            isolation: raw.isolation,
            ..PluginSettings::default()
        };
        if let Some(limits) = raw.limits {
            let span = limits.span();
            match ProcessLimits::try_from(limits.into_inner()) {
                Ok(l) => s.limits = Some(l),
                Err(LimitsError::Field {
                    field,
                    value,
                    reason,
                }) => self.problem(
                    Some(span),
                    &format!("{key}.limits.{field}"),
                    format!("{value:?}: {reason}"),
                ),
                Err(e) => self.problem(Some(span), &format!("{key}.limits"), e.to_string()),
            }
        }
        if let Some(priority) = &raw.priority {
            match u8::try_from(*priority.get_ref()) {
                Ok(p @ 1..=100) => s.priority = Some(p),
                _ => self.problem(
                    Some(priority.span()),
                    &format!("{key}.priority"),
                    format!(
                        "must be 1 to 100 (1 starts first, 100 last); found {}",
                        priority.get_ref()
                    ),
                ),
            }
        }
        for (i, dep) in raw.dependencies.iter().enumerate() {
            let dep_key = format!("{key}.dependencies[{i}]");
            match parse_dependency(dep.get_ref()) {
                Ok(d) => s.dependencies.push(d),
                Err(why) => self.problem(
                    Some(dep.span()),
                    &dep_key,
                    format!(
                        "{:?} is not a dependency: {why}; write \"acme.store\" or \"acme.store@^1.2\"",
                        dep.get_ref()
                    ),
                ),
            }
        }
        for (i, topic) in raw.subscriptions.iter().enumerate() {
            match check_topic(topic.get_ref()) {
                Ok(()) => s.subscriptions.push(topic.get_ref().clone()),
                Err(e) => self.problem(
                    Some(topic.span()),
                    &format!("{key}.subscriptions[{i}]"),
                    e.to_string(),
                ),
            }
        }
        if let Some(config) = raw.config {
            let config_key = format!("{key}.config");
            let span = config.span();
            let mut config = config.into_inner();
            if config.is_object() {
                self.expand_value(&mut config, &config_key);
                s.config = Some(config);
            } else {
                self.problem(
                    Some(span),
                    &config_key,
                    "must be a table, e.g. `config = { greeting = \"hi\" }`".into(),
                );
            }
        }
        s
    }

    /// Expands `${VAR}` in every string, and turns TOML dates into strings.
    fn expand_value(&mut self, value: &mut serde_json::Value, key: &str) {
        use serde_json::Value;
        match value {
            Value::String(text) => match expand(text, self.env) {
                Ok(expanded) => {
                    if let std::borrow::Cow::Owned(new) = expanded {
                        *text = new;
                    }
                }
                Err(p) => self.env_problem(key, &p),
            },
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.expand_value(item, &format!("{key}[{i}]"));
                }
            }
            Value::Object(map) => {
                if let Some(Value::String(date)) = map.get(TOML_DATETIME)
                    && map.len() == 1
                {
                    *value = Value::String(date.clone());
                    return;
                }
                for (k, v) in map.iter_mut() {
                    self.expand_value(v, &format!("{key}.{}", key_part(k)));
                }
            }
            _ => {}
        }
    }
}

/// How the `toml` crate hands a date-time to a format-agnostic value.
const TOML_DATETIME: &str = "$__toml_private_datetime";

fn parse_dependency(text: &str) -> Result<Dependency, String> {
    let (id, range) = match text.split_once('@') {
        Some((id, range)) => (id.trim(), range.trim()),
        None => (text.trim(), "*"),
    };
    let id = PluginId::new(id).map_err(|e| e.to_string())?;
    let version =
        VersionReq::parse(range).map_err(|_| format!("{range:?} is not a version range"))?;
    Ok(Dependency { id, version })
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigError, HostConfig};

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/ada".into()),
            "TOKEN" => Some("s3cret-value".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<HostConfig, ConfigError> {
        HostConfig::parse(text, Some(std::path::Path::new("/etc/app/host.toml")), &env)
    }

    #[test]
    fn the_seed_shape_parses() {
        let c = parse(
            r#"
plugin_paths = ["/opt/plugins", "~/.app/plugins", "./plugins"]
auto_load = true
health_check_interval = 60

[plugins."acme.cli"]
enabled = true
priority = 10
config = { default_agent_type = "chat", max_agents = 100, token = "${TOKEN}", model = "${MODEL:-small}" }

[plugins."acme.translate"]
enabled = false
priority = 30
dependencies = ["acme.cli", "acme.store@^1.2"]
"#,
        )
        .unwrap();
        assert_eq!(
            c.plugin_paths,
            ["/opt/plugins", "/home/ada/.app/plugins", "/etc/app/plugins"]
                .map(std::path::PathBuf::from)
        );
        assert_eq!(
            c.health_check_interval,
            Some(std::time::Duration::from_secs(60))
        );
        let cli = &c.plugins["acme.cli"];
        assert_eq!(cli.priority(), 10);
        let config = cli.config.as_ref().unwrap();
        assert_eq!(config["token"], "s3cret-value");
        assert_eq!(config["model"], "small");
        assert_eq!(config["max_agents"], 100);
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        let t = &c.plugins["acme.translate"];
        assert_eq!(t.enabled, Some(false));
        assert_eq!(t.dependencies[1].version.to_string(), "^1.2");
    }

    #[test]
    fn every_invalid_value_is_listed_with_its_line() {
        let err = parse(
            r#"health_check_interval = "soon"
[plugins."acme.cli"]
priority = 0
dependencies = ["acme.store@^x"]
[plugins."Bad Id"]
config = { key = "${NOT_SET}" }
"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            [
                r#"/etc/app/host.toml:1: health_check_interval: is not a duration; write whole seconds (30) or a number with a unit: "500ms", "30s", "5m", "1h""#,
                r#"/etc/app/host.toml:3: plugins."acme.cli".priority: must be 1 to 100 (1 starts first, 100 last); found 0"#,
                r#"/etc/app/host.toml:4: plugins."acme.cli".dependencies[0]: "acme.store@^x" is not a dependency: "^x" is not a version range; write "acme.store" or "acme.store@^1.2""#,
                r#"/etc/app/host.toml:5: plugins."Bad Id": "Bad Id" is not a plugin id: it must start with a lowercase letter or a digit; plugin tables are keyed by plugin id, e.g. [plugins."acme.echo"]"#,
                r#"/etc/app/host.toml:6: plugins."Bad Id".config.key: environment variable `NOT_SET` is not set; set it, or give a default with `${NOT_SET:-default}`"#,
            ]
            .join("\n")
        );
    }

    #[test]
    fn an_unknown_key_names_file_line_table_and_the_likely_fix() {
        let err = parse("auto_load = true\n[plugins.\"acme.cli\"]\nenabeld = true\n").unwrap_err();
        match &err {
            ConfigError::Syntax { line, message, .. } => {
                assert_eq!(*line, 3);
                assert!(
                    message.starts_with(r#"unknown key `enabeld` in [plugins."acme.cli"]; allowed here: enabled, priority, config, dependencies, subscriptions, isolation, limits; did you mean `enabled`?"#),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().starts_with("/etc/app/host.toml:3:1: "),
            "{err}"
        );
    }

    #[test]
    fn isolation_limits_and_the_sandbox_table_parse() {
        let c = parse(
            r#"
[plugins."acme.scraper"]
isolation = "process"
limits = { memory = "256MiB", cpu_time = "10s", call_timeout = "2s", open_files = 64 }

[sandbox]
auto = "high"
require = ["landlock", "seccomp"]
"#,
        )
        .unwrap();
        let scraper = &c.plugins["acme.scraper"];
        assert_eq!(
            scraper.isolation,
            Some(crate::host::isolation::IsolationKind::Process)
        );
        let limits = scraper.limits.unwrap();
        assert_eq!(
            limits.memory,
            Some(crate::host::isolation::ByteSize(256 << 20))
        );
        assert_eq!(limits.call_timeout, Some(std::time::Duration::from_secs(2)));
        assert_eq!(limits.open_files, Some(64));
        assert_eq!(c.sandbox.auto, Some(crate::manifest::RiskLevel::High));
        assert_eq!(c.sandbox.require, ["landlock", "seccomp"]);
    }

    #[test]
    fn bad_limits_and_requirements_are_listed_with_key_and_line() {
        let err = parse(
            r#"[plugins."acme.scraper"]
isolation = "process"
limits = { memory = "256XB", call_timeout = "2s" }
[sandbox]
require = ["landlock", "apparmor"]
"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            [
                r#"/etc/app/host.toml:3: plugins."acme.scraper".limits.memory: "256XB": expected a size such as "256MiB" or "512KB" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), found "256XB""#,
                r#"/etc/app/host.toml:5: sandbox.require[1]: "apparmor" is not a sandbox feature; write one of "landlock", "landlock-network", "seccomp""#,
            ]
            .join("\n")
        );
        let err = parse("[plugins.\"acme.scraper\"]\nisolation = \"container\"\n").unwrap_err();
        assert!(
            err.to_string().starts_with("/etc/app/host.toml:2:"),
            "{err}"
        );
        let err = parse("[sandbox]\nauto = \"extreme\"\n").unwrap_err();
        assert!(
            err.to_string().starts_with("/etc/app/host.toml:2:"),
            "{err}"
        );
    }
}
