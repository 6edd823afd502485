//! Process isolation as the host sees it: [`Isolation`] (in the host's
//! process, or out of it under [`ProcessLimits`]), the
//! [`IsolationProvider`] that starts a plugin out of process (the
//! `sharelife-sandbox` crate implements it; core cannot depend on it), and
//! the limits' one parser, shared by the host config
//! (`[plugins."ID"] limits = { … }`) and `sharelife_sandbox::Limits`
//! (the same type).
//!
//! A plugin is run out of process when [`Host::load_with`](super::Host::load_with)
//! is given [`Isolation::Process`], or when the host config says so for
//! it at boot: `isolation = "process"` under `[plugins."ID"]`, or
//! `[sandbox] auto = "high"` and the plugin's manifest risk label is at
//! or above it, or is below it but its library imports a road around the
//! gateway its manifest does not declare (a *scan mismatch*: `connect`
//! without a `network` capability, `dlopen` at all; the registry's scan
//! and this rule share [`roads`](crate::manifest::roads)). An explicit
//! `isolation = "in-process"` wins over `auto`: that is the operator's
//! decision.
//!
//! The library's imports are read (its dynamic symbol table, from the
//! file: [`PluginFile::undeclared_roads`]) only when `auto` is set, the
//! plugin has no `isolation` of its own and its risk label alone does not
//! put it out of process. When they cannot be read then, the rule fails
//! closed: the plugin runs out of process, and the reason says why
//! ([`IsolationReason::AutoScanFailed`]).
//! The host then reads the library's manifest (no plugin code runs in the
//! host), asks the registered provider for a [`Plugin`] standing for the
//! child, and adds it like any other. Without a provider, or when the
//! provider cannot meet `[sandbox] require`, the plugin is refused with
//! [`HostError::Isolation`](super::HostError::Isolation): never run in
//! process instead.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Plugin;
use crate::loader::{LoadError, PluginFile};
use crate::manifest::roads::Undeclared;
use crate::manifest::{Manifest, RiskLevel};

/// Where a plugin runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// In the host's process, opened with `dlopen` (the default).
    #[default]
    InProcess,
    /// In a child process started by the host's [`IsolationProvider`],
    /// restricted by these limits.
    Process(ProcessLimits),
}

/// Why a plugin runs where it runs, as the host decided it from its
/// config ([`HostConfig::isolation_for`](super::HostConfig::isolation_for)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IsolationReason {
    /// Nothing asks for process isolation.
    Default,
    /// `isolation = "..."` under `[plugins."ID"]`.
    Explicit,
    /// `[sandbox] auto`: the manifest's risk label is at or above it.
    AutoByRisk {
        /// The plugin's risk label.
        risk: RiskLevel,
        /// The `auto` threshold.
        auto: RiskLevel,
    },
    /// `[sandbox] auto`: the manifest's risk label is below it, but the
    /// library imports roads around the gateway the manifest does not
    /// declare (a scan mismatch).
    AutoByScan {
        /// The plugin's risk label.
        risk: RiskLevel,
        /// The `auto` threshold.
        auto: RiskLevel,
        /// The undeclared roads, each with its imports.
        roads: Vec<Undeclared>,
    },
    /// `[sandbox] auto`: the manifest's risk label is below it, and the
    /// library's imports could not be read to look for a scan mismatch;
    /// it runs out of process rather than unchecked in the host's.
    AutoScanFailed {
        /// The `auto` threshold.
        auto: RiskLevel,
        /// Why the imports could not be read.
        error: String,
    },
}

impl fmt::Display for IsolationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsolationReason::Default => f.write_str("the default"),
            IsolationReason::Explicit => f.write_str("isolation set for the plugin"),
            IsolationReason::AutoByRisk { risk, auto } => {
                write!(
                    f,
                    "its risk label {risk} is at or above [sandbox] auto = \"{auto}\""
                )
            }
            IsolationReason::AutoByScan { risk, auto, roads } => {
                f.write_str("it imports ")?;
                for (i, road) in roads.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; and ")?;
                    }
                    write!(f, "{road}")?;
                }
                write!(
                    f,
                    " (a scan mismatch: [sandbox] auto = \"{auto}\" sandboxes it although its risk label is {risk})"
                )
            }
            IsolationReason::AutoScanFailed { auto, error } => write!(
                f,
                "[sandbox] auto = \"{auto}\" needs its imports checked for a scan mismatch and they cannot be read ({error}), so it runs out of process"
            ),
        }
    }
}

/// `isolation = "in-process" | "process"` under `[plugins."ID"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IsolationKind {
    /// In the host's process (the default).
    InProcess,
    /// Out of process, through the host's [`IsolationProvider`].
    Process,
}

/// The host config's `[sandbox]` table: which plugins run out of process
/// without being named, and what the kernel must give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxSettings {
    /// Plugins whose manifest risk label is at or above this, or whose
    /// library imports a road its manifest does not declare (a scan
    /// mismatch), run out of process (unless their own `isolation` says
    /// otherwise).
    pub auto: Option<RiskLevel>,
    /// What the kernel must give every plugin run out of process (names
    /// from [`SANDBOX_FEATURES`]); unmet, the plugin is refused.
    pub require: Vec<String>,
}

/// Where the host runs the plugin of `file`, given its settings (the
/// plugin's `isolation` and `limits`) and the `[sandbox]` table: an
/// explicit `isolation` wins; then `[sandbox] auto`, by the manifest's
/// risk label, else, below it, by a scan of the library's imports (out of
/// process when they open a road the manifest does not declare, or cannot
/// be read); else in process. The limits are the plugin's `limits` (none
/// when absent).
///
/// The library's imports are read only when that scan decides (`auto`
/// set, no `isolation`, the risk label below `auto`): otherwise nothing
/// but `file`'s manifest is looked at.
pub fn decide(
    settings: Option<&super::PluginSettings>,
    sandbox: &SandboxSettings,
    file: &PluginFile,
) -> (Isolation, IsolationReason) {
    decide_with(settings, sandbox, file.manifest(), || {
        file.undeclared_roads()
    })
}

/// [`decide`] with the scan given as a function, called at most once and
/// only when it decides.
fn decide_with(
    settings: Option<&super::PluginSettings>,
    sandbox: &SandboxSettings,
    manifest: &Manifest,
    scan: impl FnOnce() -> Result<Vec<Undeclared>, LoadError>,
) -> (Isolation, IsolationReason) {
    let limits = settings.and_then(|s| s.limits).unwrap_or_default();
    match settings.and_then(|s| s.isolation) {
        Some(IsolationKind::Process) => (Isolation::Process(limits), IsolationReason::Explicit),
        Some(IsolationKind::InProcess) => (Isolation::InProcess, IsolationReason::Explicit),
        None => match sandbox.auto {
            None => (Isolation::InProcess, IsolationReason::Default),
            Some(auto) if manifest.risk() >= auto => (
                Isolation::Process(limits),
                IsolationReason::AutoByRisk {
                    risk: manifest.risk(),
                    auto,
                },
            ),
            Some(auto) => match scan() {
                Ok(roads) if roads.is_empty() => (Isolation::InProcess, IsolationReason::Default),
                Ok(roads) => (
                    Isolation::Process(limits),
                    IsolationReason::AutoByScan {
                        risk: manifest.risk(),
                        auto,
                        roads,
                    },
                ),
                Err(error) => (
                    Isolation::Process(limits),
                    IsolationReason::AutoScanFailed {
                        auto,
                        error: error.to_string(),
                    },
                ),
            },
        },
    }
}

/// The names `[sandbox] require` accepts: what the kernel must give a
/// sandboxed plugin (`sharelife_sandbox::Feature` spells them the same).
pub const SANDBOX_FEATURES: [&str; 3] = ["landlock", "landlock-network", "seccomp"];

/// What the kernel gives a sandbox, as the host's [`IsolationProvider`]
/// found it ([`IsolationProvider::support`]); the host probes once when it
/// is built, records it in the audit log and answers
/// [`Host::sandbox_support`](super::Host::sandbox_support) with it.
///
/// ```
/// use sharelife_core::host::isolation::SandboxSupport;
///
/// let mut support = SandboxSupport::default();
/// support.landlock_abi = Some(4);
/// support.features = vec!["landlock".into(), "landlock-network".into()];
/// assert_eq!(support.missing(&["landlock".into(), "seccomp".into()]), ["seccomp"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SandboxSupport {
    /// The Landlock ABI version the provider uses (the lower of the
    /// kernel's and the newest it knows); `None` when Landlock is not
    /// available.
    pub landlock_abi: Option<u32>,
    /// Whether seccomp filters are available.
    pub seccomp: bool,
    /// Whether unprivileged processes may create user namespaces.
    pub user_namespaces: bool,
    /// The cgroup v2 controllers of a group this process may manage
    /// (delegated to it); empty when it may manage none.
    pub delegated_controllers: Vec<String>,
    /// The names of [`SANDBOX_FEATURES`] the provider can enforce here:
    /// what `[sandbox] require` may ask for.
    pub features: Vec<String>,
}

impl SandboxSupport {
    /// The names of `require` not in [`features`](Self::features), in
    /// the order given, each once.
    pub fn missing(&self, require: &[String]) -> Vec<String> {
        let mut missing: Vec<String> = Vec::new();
        for name in require {
            if !self.features.contains(name) && !missing.contains(name) {
                missing.push(name.clone());
            }
        }
        missing
    }
}

impl fmt::Display for SandboxSupport {
    /// One line: `landlock abi 6, seccomp, no unprivileged user
    /// namespaces, no delegated cgroup controllers; can enforce:
    /// landlock, landlock-network, seccomp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.landlock_abi {
            Some(abi) => write!(f, "landlock abi {abi}")?,
            None => f.write_str("no landlock")?,
        }
        f.write_str(if self.seccomp {
            ", seccomp"
        } else {
            ", no seccomp"
        })?;
        f.write_str(if self.user_namespaces {
            ", unprivileged user namespaces"
        } else {
            ", no unprivileged user namespaces"
        })?;
        if self.delegated_controllers.is_empty() {
            f.write_str(", no delegated cgroup controllers")?;
        } else {
            write!(
                f,
                ", delegated cgroup controllers: {}",
                self.delegated_controllers.join(" ")
            )?;
        }
        if self.features.is_empty() {
            f.write_str("; can enforce none of ")?;
            f.write_str(&SANDBOX_FEATURES.join(", "))
        } else {
            write!(f, "; can enforce: {}", self.features.join(", "))
        }
    }
}

/// Starts a plugin out of the host's process. Registered with
/// [`HostBuilder::isolation_provider`](super::HostBuilder::isolation_provider);
/// `sharelife_sandbox::Provider` is the project's.
///
/// `spawn` blocks (it starts a process and waits until the plugin is
/// ready in it); the host calls it on tokio's blocking pool.
pub trait IsolationProvider: Send + Sync + fmt::Debug {
    /// Starts the plugin library at `path` (whose manifest the host has
    /// read and checked: `manifest`) in a child restricted by `limits`,
    /// refusing unless the kernel gives every feature in `require` (names
    /// from [`SANDBOX_FEATURES`]); returns the [`Plugin`] the host drives
    /// (it forwards calls to the child).
    ///
    /// # Errors
    ///
    /// [`IsolationError::Unmet`] naming what the kernel lacks,
    /// [`IsolationError::Failed`] for anything else.
    fn spawn(
        &self,
        path: &Path,
        manifest: &Manifest,
        limits: &ProcessLimits,
        require: &[String],
    ) -> Result<Box<dyn Plugin>, IsolationError>;

    /// What the kernel gives this provider's sandbox. The host asks once,
    /// when it is built, and records the answer in its audit log. The
    /// default says nothing is available (a provider that cannot tell
    /// claims nothing).
    fn support(&self) -> SandboxSupport {
        SandboxSupport::default()
    }
}

/// Why a plugin that must run out of process was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IsolationError {
    /// The host has no [`IsolationProvider`].
    #[error(
        "no isolation provider is registered (HostBuilder::isolation_provider, e.g. sharelife_sandbox::Provider), so it is refused rather than run in the host's process"
    )]
    NoProvider,
    /// The kernel cannot give what `[sandbox] require` asks for.
    #[error("the kernel cannot give what [sandbox] require asks for: {} missing", missing.join(", "))]
    Unmet {
        /// The missing features, by name.
        missing: Vec<String>,
    },
    /// The provider could not start it (runner missing, the plugin failed
    /// in the child…).
    #[error("the sandbox could not start it: {0}")]
    Failed(String),
}

/// What a plugin running out of process may consume. Every limit is
/// optional; `None` leaves it unlimited (`ProcessLimits::default()`
/// limits nothing). `sharelife_sandbox::Limits` is this type.
///
/// | field | enforced by (`sharelife-sandbox`) | when it is hit |
/// |---|---|---|
/// | `memory` | `RLIMIT_AS` (address space) in the child | allocations fail; Rust's allocator aborts (`SIGABRT`) |
/// | `cpu_time` | `RLIMIT_CPU` (soft = the limit, hard = one second later) | `SIGXCPU`, then `SIGKILL` |
/// | `call_timeout` | the host, per call | the whole child is killed, the call is a timeout error |
/// | `open_files` | `RLIMIT_NOFILE` in the child | opening more descriptors fails with `EMFILE` |
///
/// and one setting that limits nothing: `poll`, how long each side of the
/// child's socket busy-polls for the other's next message before it
/// sleeps in the kernel ([`DEFAULT_POLL`] when absent, `"0s"` never). A
/// side whose polls keep finding nothing backs off (sleeps at once for up
/// to 1024 waits), so it pays where host and child run on different CPUs
/// and costs little where they share one (`sharelife-sandbox`'s
/// `benches/IPC.md` has the numbers).
///
/// ```
/// use std::time::Duration;
/// use sharelife_core::host::isolation::{ByteSize, ProcessLimits};
///
/// let limits = ProcessLimits::from_toml(
///     r#"memory = "256MiB"
///        cpu_time = "10s"
///        call_timeout = "2s"
///        open_files = 64"#,
/// )?;
/// assert_eq!(limits.memory, Some(ByteSize(256 << 20)));
/// assert_eq!(limits.call_timeout, Some(Duration::from_secs(2)));
/// # Ok::<(), sharelife_core::host::isolation::LimitsError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawLimits", into = "RawLimits")]
pub struct ProcessLimits {
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
    /// How long each side busy-polls for the other's next message before
    /// it sleeps; `None` is [`DEFAULT_POLL`], zero never polls. See
    /// [`poll_budget`](Self::poll_budget).
    pub poll: Option<Duration>,
}

/// The poll budget when [`ProcessLimits::poll`] is not set: longer than a
/// small call's round trip across CPUs (about 6 µs), so such a call's
/// answer is caught without a wake-up; a side whose polls find nothing
/// backs off, so an idle child or a host sharing the child's CPU spends
/// about one budget per 1024 waits.
pub const DEFAULT_POLL: Duration = Duration::from_micros(50);

impl ProcessLimits {
    /// How long each side of the child's socket busy-polls for the
    /// other's next message before it sleeps in the kernel:
    /// [`poll`](Self::poll), or [`DEFAULT_POLL`] when unset; zero never
    /// polls.
    pub fn poll_budget(&self) -> Duration {
        self.poll.unwrap_or(DEFAULT_POLL)
    }

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
        ProcessLimits::try_from(raw)
    }
}

/// Why limits did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// A field's value is not of its form.
    #[error("limit `{field}` = {value:?}: {reason}")]
    Field {
        /// The field: `memory`, `cpu_time`, `call_timeout`, `open_files` or
        /// `poll`.
        field: &'static str,
        /// The value as written.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The text is not a TOML table of the known fields.
    #[error(
        "limits are not a valid TOML table of memory, cpu_time, call_timeout, open_files, poll: {reason}"
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
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// A bare integer.
    Integer(i64),
    /// A number with a unit.
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

/// [`ProcessLimits`] as written (`limits = { memory = "256MiB", … }`),
/// before each field is checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// The child's address space: "256MiB", "1GiB", "512MB", or bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Scalar>,
    /// CPU time over the child's whole life: "10s", "1m".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time: Option<Scalar>,
    /// How long one call may take before the child is killed: "2s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_timeout: Option<Scalar>,
    /// How many file descriptors the child may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<Scalar>,
    /// How long each side busy-polls for the other's next message before
    /// it sleeps: "50us" (the default when absent); "0s" never polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Scalar>,
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
    let parsed = duration_or_zero(field, value)?;
    if parsed.is_zero() {
        return Err(field_error(field, value, "expected a duration above zero"));
    }
    Ok(parsed)
}

fn duration_or_zero(field: &'static str, value: &Scalar) -> Result<Duration, LimitsError> {
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

impl TryFrom<RawLimits> for ProcessLimits {
    type Error = LimitsError;

    fn try_from(raw: RawLimits) -> Result<Self, Self::Error> {
        Ok(ProcessLimits {
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
            poll: raw
                .poll
                .as_ref()
                .map(|v| duration_or_zero("poll", v))
                .transpose()?,
        })
    }
}

impl From<ProcessLimits> for RawLimits {
    fn from(limits: ProcessLimits) -> Self {
        let text = |d: Duration| Scalar::Text(humantime::format_duration(d).to_string());
        RawLimits {
            memory: limits.memory.map(|m| Scalar::Text(m.to_string())),
            cpu_time: limits.cpu_time.map(text),
            call_timeout: limits.call_timeout.map(text),
            open_files: limits
                .open_files
                .map(|n| Scalar::Integer(i64::try_from(n).unwrap_or(i64::MAX))),
            poll: limits.poll.map(|d| {
                if d.is_zero() {
                    Scalar::Text("0s".to_owned())
                } else {
                    text(d)
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::roads::{self, Road};

    fn manifest(capabilities: &str) -> Manifest {
        Manifest::from_json(&format!(
            r#"{{"manifest_version": "2", "id": "acme.scanned", "version": "1.0.0", "api": "^0.1",
                "capabilities": [{capabilities}]}}"#
        ))
        .expect("a valid manifest")
    }

    fn auto(level: RiskLevel) -> SandboxSettings {
        SandboxSettings {
            auto: Some(level),
            require: Vec::new(),
        }
    }

    fn explicit(kind: IsolationKind) -> super::super::PluginSettings {
        super::super::PluginSettings {
            isolation: Some(kind),
            ..Default::default()
        }
    }

    /// The roads `symbols` open that `manifest` does not declare, as the
    /// host computes them for a library of its own platform.
    fn scan_of<'a>(
        manifest: &'a Manifest,
        symbols: &'a [&'a str],
    ) -> impl FnOnce() -> Result<Vec<Undeclared>, LoadError> + 'a {
        move || {
            Ok(roads::undeclared(
                manifest,
                roads::HOST_TARGET,
                symbols.iter().copied(),
            ))
        }
    }

    fn never() -> Result<Vec<Undeclared>, LoadError> {
        panic!("the scan must not run when it does not decide")
    }

    #[test]
    fn below_auto_a_scan_mismatch_runs_out_of_process_and_names_the_road() {
        let low = manifest("");
        assert_eq!(low.risk(), RiskLevel::Low);
        let (isolation, why) = decide_with(
            None,
            &auto(RiskLevel::High),
            &low,
            scan_of(&low, &["malloc", "socket", "connect"]),
        );
        assert_eq!(isolation, Isolation::Process(ProcessLimits::default()));
        assert_eq!(
            why,
            IsolationReason::AutoByScan {
                risk: RiskLevel::Low,
                auto: RiskLevel::High,
                roads: vec![Undeclared {
                    road: Road::Network,
                    symbols: vec!["connect".into(), "socket".into()],
                }],
            }
        );
        assert_eq!(
            why.to_string(),
            "it imports connect, socket (network) without declaring network (a scan mismatch: [sandbox] auto = \"high\" sandboxes it although its risk label is low)"
        );

        // Two roads, one of them never declarable.
        let (_, why) = decide_with(
            None,
            &auto(RiskLevel::Medium),
            &low,
            scan_of(&low, &["execve", "dlopen"]),
        );
        assert_eq!(
            why.to_string(),
            "it imports execve (process) without declaring command; and dlopen (dynamic loading), which no manifest can declare (a scan mismatch: [sandbox] auto = \"medium\" sandboxes it although its risk label is low)"
        );
    }

    #[test]
    fn below_auto_a_clean_or_declared_library_stays_in_process() {
        let low = manifest("");
        let baseline: &[&str] = if roads::HOST_TARGET == "linux-gnu" {
            &["malloc", "open64", "write"]
        } else {
            &["malloc", "write"]
        };
        assert_eq!(
            decide_with(None, &auto(RiskLevel::High), &low, scan_of(&low, baseline)),
            (Isolation::InProcess, IsolationReason::Default)
        );
        // `connect` with a network capability declared is no mismatch.
        let net = manifest(r#"{"kind": "network", "host": "example.com"}"#);
        assert_eq!(net.risk(), RiskLevel::Medium);
        assert_eq!(
            decide_with(
                None,
                &auto(RiskLevel::High),
                &net,
                scan_of(&net, &["connect", "socket"])
            ),
            (Isolation::InProcess, IsolationReason::Default)
        );
    }

    #[test]
    fn an_unreadable_library_fails_closed() {
        let low = manifest("");
        let (isolation, why) = decide_with(None, &auto(RiskLevel::High), &low, || {
            Err(LoadError::Malformed {
                path: "libx.so".into(),
                reason: "it has no dynamic symbol table".into(),
            })
        });
        assert_eq!(isolation, Isolation::Process(ProcessLimits::default()));
        assert!(
            matches!(&why, IsolationReason::AutoScanFailed { auto: RiskLevel::High, error } if error.contains("no dynamic symbol table")),
            "{why:?}"
        );
        assert!(
            why.to_string().contains("so it runs out of process"),
            "{why}"
        );

        // Through `decide`: a file not on disk cannot be scanned either.
        let file = PluginFile::described("/nonexistent/libgone.so", low);
        let (isolation, why) = decide(None, &auto(RiskLevel::High), &file);
        assert!(matches!(isolation, Isolation::Process(_)), "{isolation:?}");
        assert!(
            matches!(why, IsolationReason::AutoScanFailed { .. }),
            "{why:?}"
        );
    }

    #[test]
    fn the_scan_runs_only_when_it_decides() {
        let low = manifest("");
        let high = manifest(r#"{"kind": "network", "host": "127.0.0.1"}"#);
        assert_eq!(high.risk(), RiskLevel::High);
        // No `auto`: in process, unscanned.
        assert_eq!(
            decide_with(None, &SandboxSettings::default(), &low, never),
            (Isolation::InProcess, IsolationReason::Default)
        );
        // The risk label alone decides.
        assert_eq!(
            decide_with(None, &auto(RiskLevel::High), &high, never),
            (
                Isolation::Process(ProcessLimits::default()),
                IsolationReason::AutoByRisk {
                    risk: RiskLevel::High,
                    auto: RiskLevel::High
                }
            )
        );
        // The operator's `isolation` wins, in-process included.
        for (kind, isolation) in [
            (IsolationKind::InProcess, Isolation::InProcess),
            (
                IsolationKind::Process,
                Isolation::Process(ProcessLimits::default()),
            ),
        ] {
            assert_eq!(
                decide_with(Some(&explicit(kind)), &auto(RiskLevel::Low), &low, never),
                (isolation, IsolationReason::Explicit)
            );
        }
    }

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
        let limits = ProcessLimits {
            memory: Some(ByteSize(3 << 30)),
            cpu_time: Some(Duration::from_secs(10)),
            call_timeout: Some(Duration::from_millis(1500)),
            open_files: Some(64),
            poll: Some(Duration::from_micros(20)),
        };
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(
            serde_json::from_str::<ProcessLimits>(&json).unwrap(),
            limits
        );
        let off = ProcessLimits {
            poll: Some(Duration::ZERO),
            ..ProcessLimits::default()
        };
        let json = serde_json::to_string(&off).unwrap();
        assert_eq!(serde_json::from_str::<ProcessLimits>(&json).unwrap(), off);
    }

    #[test]
    fn poll_is_a_duration_zero_allowed_and_defaults_when_absent() {
        assert_eq!(ProcessLimits::default().poll_budget(), DEFAULT_POLL);
        let set = ProcessLimits::from_toml(r#"poll = "20us""#).unwrap();
        assert_eq!(set.poll_budget(), Duration::from_micros(20));
        let off = ProcessLimits::from_toml(r#"poll = "0s""#).unwrap();
        assert_eq!(off.poll_budget(), Duration::ZERO);
        // The limits proper still refuse zero.
        assert!(matches!(
            ProcessLimits::from_toml(r#"call_timeout = "0s""#),
            Err(LimitsError::Field {
                field: "call_timeout",
                ..
            })
        ));
        assert!(matches!(
            ProcessLimits::from_toml("poll = 5"),
            Err(LimitsError::Field { field: "poll", .. })
        ));
    }
}
