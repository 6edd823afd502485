//! The host config as a pack carries it: as written (never expanded),
//! without this machine's paths, with the values of secret-looking keys
//! replaced by placeholders.

use toml::{Table, Value};

use super::{InputKind, RequiredInput};
use crate::config::PacksConfig;

/// Settings that are paths on this machine: a pack leaves them out, and
/// apply keeps the importing machine's own.
pub(crate) const MACHINE_KEYS: &[&str] = &["plugin_paths", "data_dir", "audit_log", "temp_dir"];

/// The exported host config.
pub(crate) struct Exported {
    pub(crate) text: String,
    pub(crate) inputs: Vec<RequiredInput>,
}

/// Exports host config `text` (TOML as written).
pub(crate) fn export_host_config(text: &str, packs: &PacksConfig) -> Result<Exported, String> {
    let mut table: Table = toml::from_str(text).map_err(|e| e.to_string())?;
    for key in MACHINE_KEYS {
        table.remove(*key);
    }
    let mut inputs = Vec::new();
    for (key, value) in table.iter_mut() {
        if key == "policy" {
            // The policy travels as it is: it is what the pack grants.
            continue;
        }
        if key == "plugins"
            && let Value::Table(plugins) = value
        {
            for (id, settings) in plugins.iter_mut() {
                let Value::Table(settings) = settings else {
                    continue;
                };
                for (k, v) in settings.iter_mut() {
                    let path = format!("plugins.{}.{k}", quote(id));
                    if k == "config" {
                        walk(v, &path, &env_id(id), "", false, packs, &mut inputs);
                    } else {
                        walk(v, &path, &env_id(id), k, false, packs, &mut inputs);
                    }
                }
            }
            continue;
        }
        walk(value, key, "HOST", key, false, packs, &mut inputs);
    }
    inputs.sort_by(|a, b| a.var.cmp(&b.var).then(a.key.cmp(&b.key)));
    inputs.dedup();
    Ok(Exported {
        text: toml::to_string(&table).map_err(|e| e.to_string())?,
        inputs,
    })
}

/// Redacts `value` (at config key `path`; `var_key` is the placeholder's
/// key part so far) in place, collecting the inputs it needs.
fn walk(
    value: &mut Value,
    path: &str,
    id: &str,
    var_key: &str,
    secret: bool,
    packs: &PacksConfig,
    inputs: &mut Vec<RequiredInput>,
) {
    match value {
        Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                let child_key = if var_key.is_empty() {
                    k.clone()
                } else {
                    format!("{var_key}_{k}")
                };
                walk(
                    v,
                    &format!("{path}.{}", quote(k)),
                    id,
                    &child_key,
                    secret || packs.is_secret(k),
                    packs,
                    inputs,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                walk(
                    v,
                    &format!("{path}[{i}]"),
                    id,
                    &format!("{var_key}_{i}"),
                    secret,
                    packs,
                    inputs,
                );
            }
        }
        Value::String(s) if s.contains("${") => {
            // A reference stays a reference: its value never came in. (A
            // placeholder an earlier export made stays what it was, so a
            // setup exports the same however often it travels.)
            for var in references(s) {
                let kind = if var.starts_with("SHARELIFE_PACK_") {
                    InputKind::Redacted
                } else {
                    InputKind::Reference
                };
                inputs.push(RequiredInput {
                    var,
                    key: path.to_owned(),
                    kind,
                });
            }
        }
        _ if secret => {
            let var = format!("SHARELIFE_PACK_{id}_{}", env_id(var_key));
            *value = Value::String(format!("${{{var}}}"));
            inputs.push(RequiredInput {
                var,
                key: path.to_owned(),
                kind: InputKind::Redacted,
            });
        }
        _ => {}
    }
}

/// A bare TOML key as is, anything else quoted.
fn quote(key: &str) -> String {
    if !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// `acme.bot-x` → `ACME_BOT_X`.
fn env_id(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The variables `${VAR}` and `${VAR:-default}` in `text` names (`$${`
/// is a literal).
pub(crate) fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            rest = tail;
            continue;
        }
        if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').unwrap_or(tail.len());
            let inner = &tail[..end];
            let name = inner.split(":-").next().unwrap_or("");
            if !name.is_empty() {
                out.push(name.to_owned());
            }
            rest = &tail[end.min(tail.len())..];
        } else {
            rest = &after[1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_literals() {
        assert_eq!(references("a ${X} b ${Y:-d} $${Z}"), ["X", "Y"]);
        assert!(references("plain $ text").is_empty());
    }

    #[test]
    fn secrets_are_placeholders_and_references_stay() {
        let text = r#"
plugin_paths = ["/home/me/.sharelife/current/plugins"]
audit_log = "/var/log/x"
health_check_interval = "30s"

[[policy.rules]]
effect = "allow"
plugin = "acme.bot"
kind = "file.read"
path = "notes/*.txt"

[plugins."acme.bot".config]
greeting = "hi"
token = "${BOT_TOKEN}"
api_key = "literal-secret"
nested = { password = 1234, name = "x" }
"#;
        let out = export_host_config(text, &PacksConfig::default()).unwrap();
        assert!(!out.text.contains("literal-secret"), "{}", out.text);
        assert!(!out.text.contains("1234"), "{}", out.text);
        assert!(!out.text.contains("/home/me"), "{}", out.text);
        assert!(!out.text.contains("audit_log"), "{}", out.text);
        assert!(out.text.contains("${BOT_TOKEN}"), "{}", out.text);
        assert!(
            out.text.contains("${SHARELIFE_PACK_ACME_BOT_API_KEY}"),
            "{}",
            out.text
        );
        assert!(
            out.text
                .contains("${SHARELIFE_PACK_ACME_BOT_NESTED_PASSWORD}"),
            "{}",
            out.text
        );
        assert!(out.text.contains("notes/*.txt"));
        let vars: Vec<(&str, InputKind)> = out
            .inputs
            .iter()
            .map(|i| (i.var.as_str(), i.kind))
            .collect();
        assert_eq!(
            vars,
            [
                ("BOT_TOKEN", InputKind::Reference),
                ("SHARELIFE_PACK_ACME_BOT_API_KEY", InputKind::Redacted),
                (
                    "SHARELIFE_PACK_ACME_BOT_NESTED_PASSWORD",
                    InputKind::Redacted
                ),
            ]
        );
        assert_eq!(out.inputs[1].key, "plugins.\"acme.bot\".config.api_key");
    }
}
