use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A plugin id: 3 to 121 characters of lowercase ASCII letters, digits,
/// `.`, `_` and `-`, starting with a letter or digit, with no empty
/// `.`-separated segment and no trailing separator. Reverse-DNS style ids
/// (`acme.text.upper`) are the convention.
///
/// The id doubles as a directory name (data and temp dirs), which is why
/// `/` and uppercase letters are not allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginId(String);

/// Why a string is not a [`PluginId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a plugin id: {reason}")]
pub struct InvalidPluginId {
    /// The rejected text.
    pub value: String,
    /// What rule it breaks, e.g. `it must be 3 to 121 characters long`.
    pub reason: &'static str,
}

impl PluginId {
    /// The longest id accepted.
    pub const MAX_LEN: usize = 121;

    /// Validates `value` as a plugin id.
    ///
    /// # Errors
    ///
    /// [`InvalidPluginId`] naming the rule that `value` breaks.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidPluginId> {
        let value = value.into();
        match Self::check(&value) {
            Ok(()) => Ok(PluginId(value)),
            Err(reason) => Err(InvalidPluginId { value, reason }),
        }
    }

    fn check(value: &str) -> Result<(), &'static str> {
        if value.len() < 3 || value.len() > Self::MAX_LEN {
            return Err("it must be 3 to 121 characters long");
        }
        let bytes = value.as_bytes();
        if !bytes[0].is_ascii_lowercase() && !bytes[0].is_ascii_digit() {
            return Err("it must start with a lowercase letter or a digit");
        }
        if let Some(c) = value.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Err(if c.is_ascii_uppercase() {
                "it must be lowercase"
            } else {
                "only a-z, 0-9, '.', '_' and '-' are allowed"
            });
        }
        if value.split('.').any(str::is_empty) {
            return Err("'.' must separate non-empty segments");
        }
        if value.ends_with(['-', '_']) {
            return Err("it must not end with '-' or '_'");
        }
        Ok(())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl std::ops::Deref for PluginId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Lookups by `&str` in maps keyed by `PluginId` (the derived `Ord`, `Eq`
/// and `Hash` are the string's).
impl std::borrow::Borrow<str> for PluginId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for PluginId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PluginId {
    type Err = InvalidPluginId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PluginId::new(s)
    }
}

impl Serialize for PluginId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PluginId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PluginId::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_reverse_dns_ids() {
        for ok in [
            "acme.echo",
            "abc",
            "sharelife.demo.pipeline.uppercase",
            "a1-b_c.d2",
            "0ab",
        ] {
            assert!(PluginId::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_each_rule_with_its_reason() {
        let cases = [
            ("ab", "it must be 3 to 121 characters long"),
            (
                "Acme.echo",
                "it must start with a lowercase letter or a digit",
            ),
            ("acme.Echo", "it must be lowercase"),
            ("acme/echo", "only a-z, 0-9, '.', '_' and '-' are allowed"),
            ("acme..echo", "'.' must separate non-empty segments"),
            ("acme.echo.", "'.' must separate non-empty segments"),
            ("acme-", "it must not end with '-' or '_'"),
            (".acme", "it must start with a lowercase letter or a digit"),
        ];
        for (bad, reason) in cases {
            let err = PluginId::new(bad).unwrap_err();
            assert_eq!(err.reason, reason, "{bad}");
        }
        assert!(PluginId::new("a".repeat(122)).is_err());
        assert!(PluginId::new("a".repeat(121)).is_ok());
    }
}
