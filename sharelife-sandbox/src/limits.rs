//! [`Limits`]: what a sandboxed plugin may consume, in the host
//! configuration's form (`memory = "256MiB"`, `cpu_time = "10s"`,
//! `call_timeout = "2s"`, `open_files = 64`).
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The resources a sandboxed plugin's child may use. Every limit is
/// optional; `None` leaves it unlimited (`Limits::default()` limits
/// nothing).
///
/// | field | enforced by | when it is hit |
/// |---|---|---|
/// | `memory` | `RLIMIT_AS` (address space) in the child | allocations fail; Rust's allocator aborts: [`SIGABRT`](crate::ExitCause::Signaled) |
/// | `cpu_time` | `RLIMIT_CPU` (soft = the limit, hard = one second later) | `SIGXCPU`, then `SIGKILL` |
/// | `call_timeout` | the host, per call | the whole child is killed, the call returns [`SandboxError::Timeout`](crate::SandboxError::Timeout) |
/// | `open_files` | `RLIMIT_NOFILE` in the child | opening more descriptors fails with `EMFILE` |
///
/// ```
/// use std::time::Duration;
/// use sharelife_sandbox::{ByteSize, Limits};
///
/// let limits = Limits::from_toml(
///     r#"memory = "256MiB"
///        cpu_time = "10s"
///        call_timeout = "2s"
///        open_files = 64"#,
/// )?;
/// assert_eq!(limits.memory, Some(ByteSize(256 << 20)));
/// assert_eq!(limits.call_timeout, Some(Duration::from_secs(2)));
/// # Ok::<(), sharelife_sandbox::LimitsError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawLimits", into = "RawLimits")]
pub struct Limits {
    /// The child's address space.
    pub memory: Option<ByteSize>,
    /// CPU time the child may use over its whole life.
    pub cpu_time: Option<Duration>,
    /// How long one call may take, from the moment it holds the
    /// connection to its answer.
    pub call_timeout: Option<Duration>,
    /// How many file descriptors the child may hold (the highest number
    /// plus one).
    pub open_files: Option<u64>,
}

impl Limits {
    /// Reads limits from a TOML table (the inline table of the host
    /// configuration, or its body).
    ///
    /// # Errors
    ///
    /// [`LimitsError::Toml`] when the text is not TOML or names a field
    /// that does not exist; [`LimitsError::Field`] naming the field whose
    /// value does not parse.
    pub fn from_toml(text: &str) -> Result<Self, LimitsError> {
        let raw: RawLimits = toml::from_str(text).map_err(|e| LimitsError::Toml {
            reason: e.message().to_owned(),
        })?;
        Limits::try_from(raw)
    }
}

/// Why limits did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// A field's value is not of its form.
    #[error("limit `{field}` = {value:?}: {reason}")]
    Field {
        /// The field: `memory`, `cpu_time`, `call_timeout` or `open_files`.
        field: &'static str,
        /// The value as written.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The text is not a TOML table of the known fields.
    #[error(
        "limits are not a valid TOML table of memory, cpu_time, call_timeout, open_files: {reason}"
    )]
    Toml {
        /// The TOML reader's message.
        reason: String,
    },
}

/// A size in bytes, written with a unit: `B`, `KiB`, `MiB`, `GiB`, `TiB`
/// (powers of 1024) or `KB`, `MB`, `GB`, `TB` (powers of 1000); a bare
/// integer in TOML is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a size such as \"256MiB\" or \"512KB\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), found {found:?}"
)]
pub struct ByteSizeError {
    found: String,
}

const UNITS: [(&str, u64); 9] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("B", 1),
];

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ByteSizeError {
            found: s.to_owned(),
        };
        let text = s.trim();
        let (number, factor) = UNITS
            .iter()
            .find_map(|(unit, factor)| text.strip_suffix(unit).map(|n| (n.trim_end(), *factor)))
            .unwrap_or((text, 1));
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error());
        }
        let number: u64 = number.parse().map_err(|_| error())?;
        number.checked_mul(factor).map(ByteSize).ok_or_else(error)
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, factor) = UNITS
            .iter()
            .filter(|(unit, _)| unit.ends_with("iB") || *unit == "B")
            .find(|(_, factor)| self.0 != 0 && self.0.is_multiple_of(*factor))
            .copied()
            .unwrap_or(("B", 1));
        write!(f, "{}{unit}", self.0 / factor)
    }
}

/// A TOML value as written: a string with a unit or a bare integer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Integer(i64),
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Integer(n) => write!(f, "{n}"),
            Scalar::Text(s) => f.write_str(s),
        }
    }
}

/// The written form, before each field is checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cpu_time: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    call_timeout: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open_files: Option<Scalar>,
}

fn field_error(field: &'static str, value: &Scalar, reason: impl fmt::Display) -> LimitsError {
    LimitsError::Field {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn size(field: &'static str, value: &Scalar) -> Result<ByteSize, LimitsError> {
    match value {
        Scalar::Integer(n) => u64::try_from(*n)
            .map(ByteSize)
            .map_err(|_| field_error(field, value, "expected a size of zero bytes or more")),
        Scalar::Text(text) => text.parse().map_err(|e| field_error(field, value, e)),
    }
}

fn duration(field: &'static str, value: &Scalar) -> Result<Duration, LimitsError> {
    let Scalar::Text(text) = value else {
        return Err(field_error(
            field,
            value,
            "expected a duration with a unit, such as \"2s\" or \"500ms\"",
        ));
    };
    let parsed = humantime::parse_duration(text).map_err(|e| {
        field_error(
            field,
            value,
            format!("expected a duration such as \"2s\" or \"500ms\" ({e})"),
        )
    })?;
    if parsed.is_zero() {
        return Err(field_error(field, value, "expected a duration above zero"));
    }
    Ok(parsed)
}

fn count(field: &'static str, value: &Scalar) -> Result<u64, LimitsError> {
    match value {
        Scalar::Integer(n) if *n > 0 => Ok(n.unsigned_abs()),
        _ => Err(field_error(
            field,
            value,
            "expected a whole number above zero",
        )),
    }
}

impl TryFrom<RawLimits> for Limits {
    type Error = LimitsError;

    fn try_from(raw: RawLimits) -> Result<Self, Self::Error> {
        Ok(Limits {
            memory: raw.memory.as_ref().map(|v| size("memory", v)).transpose()?,
            cpu_time: raw
                .cpu_time
                .as_ref()
                .map(|v| duration("cpu_time", v))
                .transpose()?,
            call_timeout: raw
                .call_timeout
                .as_ref()
                .map(|v| duration("call_timeout", v))
                .transpose()?,
            open_files: raw
                .open_files
                .as_ref()
                .map(|v| count("open_files", v))
                .transpose()?,
        })
    }
}

impl From<Limits> for RawLimits {
    fn from(limits: Limits) -> Self {
        let text = |d: Duration| Scalar::Text(humantime::format_duration(d).to_string());
        RawLimits {
            memory: limits.memory.map(|m| Scalar::Text(m.to_string())),
            cpu_time: limits.cpu_time.map(text),
            call_timeout: limits.call_timeout.map(text),
            open_files: limits
                .open_files
                .map(|n| Scalar::Integer(i64::try_from(n).unwrap_or(i64::MAX))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_every_unit() {
        assert_eq!("256MiB".parse(), Ok(ByteSize(256 << 20)));
        assert_eq!("1 GiB".parse(), Ok(ByteSize(1 << 30)));
        assert_eq!("512KB".parse(), Ok(ByteSize(512_000)));
        assert_eq!("42".parse(), Ok(ByteSize(42)));
        assert_eq!("42B".parse(), Ok(ByteSize(42)));
        assert!("256XB".parse::<ByteSize>().is_err());
        assert!("MiB".parse::<ByteSize>().is_err());
        assert!("-1MiB".parse::<ByteSize>().is_err());
        assert!("99999999999TiB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(256 << 20).to_string(), "256MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }

    #[test]
    fn round_trips_through_serde() {
        let limits = Limits {
            memory: Some(ByteSize(3 << 30)),
            cpu_time: Some(Duration::from_secs(10)),
            call_timeout: Some(Duration::from_millis(1500)),
            open_files: Some(64),
        };
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(serde_json::from_str::<Limits>(&json).unwrap(), limits);
    }
}
