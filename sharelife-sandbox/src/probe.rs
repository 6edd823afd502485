//! What the kernel can give a sandbox: [`probe`] and [`SandboxSupport`],
//! and the [`Requirements`] a host sets with `require = [...]`.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A restriction the sandbox tier enforces and a host may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Feature {
    /// Landlock: the child gets no filesystem access at all.
    Landlock,
    /// Landlock ABI 4 or later: TCP bind and connect denied by Landlock
    /// too (seccomp denies creating sockets either way).
    LandlockNetwork,
    /// A seccomp-BPF syscall allowlist.
    Seccomp,
}

impl Feature {
    /// Every feature, in the order `sharelife doctor` lists them.
    pub const ALL: [Feature; 3] = [
        Feature::Landlock,
        Feature::LandlockNetwork,
        Feature::Seccomp,
    ];
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::Landlock => "landlock",
            Feature::LandlockNetwork => "landlock-network",
            Feature::Seccomp => "seccomp",
        })
    }
}

/// What a host insists on before it runs a plugin out of process
/// (`require = ["landlock", "seccomp"]`). A plugin whose requirements
/// the kernel cannot meet is refused with
/// [`SandboxError::Unsupported`](crate::SandboxError::Unsupported), never
/// run under weaker restrictions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// The features that must be enforced.
    #[serde(default)]
    pub require: Vec<Feature>,
}

impl Requirements {
    /// Requires `features`.
    pub fn new(features: impl IntoIterator<Item = Feature>) -> Self {
        Requirements {
            require: features.into_iter().collect(),
        }
    }
}

/// The kernel's Landlock support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum LandlockSupport {
    /// Landlock works; `abi` is the version this crate uses (the lower of
    /// the kernel's and the newest the `landlock` crate knows),
    /// `kernel_abi` the kernel's when it is newer still.
    Available {
        /// The ABI version in use.
        abi: u32,
        /// The kernel's own version, when newer than `abi`.
        kernel_abi: Option<u32>,
    },
    /// Built into the kernel but not enabled (not in the `lsm=` list).
    NotEnabled,
    /// Not built into the kernel.
    NotImplemented,
}

impl LandlockSupport {
    /// The ABI version in use, 0 when Landlock is unavailable.
    pub fn abi(&self) -> u32 {
        match self {
            LandlockSupport::Available { abi, .. } => *abi,
            _ => 0,
        }
    }
}

/// The cgroup v2 group this process is in, and what it may do there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupSupport {
    /// The group's directory under the cgroup v2 mount.
    pub path: PathBuf,
    /// The controllers available in the group (`cgroup.controllers`).
    pub controllers: Vec<String>,
    /// Whether this process may manage the group (it can write
    /// `cgroup.procs` and `cgroup.subtree_control`): the host could make
    /// child groups with memory, cpu and pids limits. Not used by this
    /// crate yet.
    pub delegated: bool,
}

/// What the kernel can give a sandbox, as [`probe`] found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSupport {
    /// Landlock.
    pub landlock: LandlockSupport,
    /// seccomp filters with the `errno` action.
    pub seccomp: bool,
    /// Whether unprivileged processes may create user namespaces (not
    /// used by this tier: it needs none).
    pub user_namespaces: bool,
    /// The cgroup v2 group, when the unified hierarchy is mounted.
    pub cgroup: Option<CgroupSupport>,
}

impl SandboxSupport {
    /// Whether `feature` is available.
    pub fn has(&self, feature: Feature) -> bool {
        match feature {
            Feature::Landlock => self.landlock.abi() >= 1,
            Feature::LandlockNetwork => self.landlock.abi() >= 4,
            Feature::Seccomp => self.seccomp,
        }
    }

    /// The features of `required` the kernel cannot give, in the order
    /// given, each once.
    pub fn missing(&self, required: &[Feature]) -> Vec<Feature> {
        let mut missing: Vec<Feature> = Vec::new();
        for feature in required {
            if !self.has(*feature) && !missing.contains(feature) {
                missing.push(*feature);
            }
        }
        missing
    }
}

impl From<&SandboxSupport> for sharelife_core::host::isolation::SandboxSupport {
    /// The host's view ([`Host::sandbox_support`](sharelife_core::Host::sandbox_support)):
    /// the Landlock ABI in use, seccomp, user namespaces, the controllers
    /// of a delegated cgroup, and the [`Feature`]s available.
    fn from(found: &SandboxSupport) -> Self {
        let mut support = Self::default();
        support.landlock_abi = Some(found.landlock.abi()).filter(|abi| *abi >= 1);
        support.seccomp = found.seccomp;
        support.user_namespaces = found.user_namespaces;
        support.delegated_controllers = match &found.cgroup {
            Some(group) if group.delegated => group.controllers.clone(),
            _ => Vec::new(),
        };
        support.features = Feature::ALL
            .into_iter()
            .filter(|f| found.has(*f))
            .map(|f| f.to_string())
            .collect();
        support
    }
}

impl fmt::Display for SandboxSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.landlock {
            LandlockSupport::Available { abi, kernel_abi } => {
                write!(f, "landlock: abi {abi}")?;
                if let Some(kernel) = kernel_abi {
                    write!(f, " (kernel abi {kernel})")?;
                }
                if abi >= 4 {
                    f.write_str(", tcp bind/connect restricted")?;
                }
                writeln!(f)?;
            }
            LandlockSupport::NotEnabled => writeln!(f, "landlock: built in but not enabled")?,
            LandlockSupport::NotImplemented => writeln!(f, "landlock: not in this kernel")?,
        }
        writeln!(
            f,
            "seccomp: {}",
            if self.seccomp {
                "available"
            } else {
                "unavailable"
            }
        )?;
        writeln!(
            f,
            "unprivileged user namespaces: {}",
            if self.user_namespaces {
                "allowed"
            } else {
                "not allowed"
            }
        )?;
        match &self.cgroup {
            Some(group) => write!(
                f,
                "cgroup v2: {} [{}], {}",
                group.path.display(),
                group.controllers.join(" "),
                if group.delegated {
                    "delegated"
                } else {
                    "not delegated"
                }
            ),
            None => write!(f, "cgroup v2: not mounted"),
        }
    }
}

/// Finds out what the kernel can give a sandbox. Only reads: files under
/// `/proc` and `/sys`, and a Landlock ruleset applied to a throwaway
/// thread of this process (Landlock restricts only the thread that asks,
/// and the thread ends at once), which is how the `landlock` crate
/// reports the kernel's ABI.
pub fn probe() -> SandboxSupport {
    SandboxSupport {
        landlock: probe_landlock(),
        seccomp: probe_seccomp(),
        user_namespaces: probe_user_namespaces(),
        cgroup: probe_cgroup(),
    }
}

fn probe_landlock() -> LandlockSupport {
    use landlock::{ABI, Access, AccessFs, LandlockStatus, Ruleset, RulesetAttr};

    let asked = std::thread::spawn(|| {
        // The weakest possible ruleset (only `execute` handled, so only
        // executing files is restricted), with `no_new_privs`, both on
        // this thread only, which ends at once.
        Ruleset::default()
            .handle_access(AccessFs::from_all(ABI::V1) & AccessFs::Execute)
            .and_then(|r| r.create())
            .and_then(|r| r.restrict_self())
            .map(|status| status.landlock)
    })
    .join();
    match asked {
        Ok(Ok(LandlockStatus::Available {
            effective_abi,
            kernel_abi,
        })) => LandlockSupport::Available {
            abi: effective_abi as u32,
            kernel_abi: kernel_abi.and_then(|v| u32::try_from(v).ok()),
        },
        Ok(Ok(LandlockStatus::NotEnabled)) => LandlockSupport::NotEnabled,
        _ => LandlockSupport::NotImplemented,
    }
}

fn probe_seccomp() -> bool {
    // The `Seccomp:` line exists only in kernels built with seccomp, and
    // `actions_avail` lists the actions the filter may return.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let built_in = status.lines().any(|l| l.starts_with("Seccomp:"));
    let actions = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail");
    built_in
        && actions
            .map(|a| a.split_whitespace().any(|w| w == "errno"))
            .unwrap_or(true)
}

fn read_number(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn probe_user_namespaces() -> bool {
    let max = read_number("/proc/sys/user/max_user_namespaces").unwrap_or(0);
    // Debian's switch, and Ubuntu's AppArmor restriction (23.10+).
    let debian = read_number("/proc/sys/kernel/unprivileged_userns_clone").unwrap_or(1);
    let apparmor =
        read_number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").unwrap_or(0);
    max > 0 && debian == 1 && apparmor == 0
}

fn probe_cgroup() -> Option<CgroupSupport> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = membership.lines().find_map(|l| l.strip_prefix("0::"))?;
    // Where the unified (v2) hierarchy is mounted: `/sys/fs/cgroup`, or
    // `/sys/fs/cgroup/unified` on hybrid systems.
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let root = mounts.lines().find_map(|l| {
        let mut fields = l.split_whitespace();
        let (_, dir, kind) = (fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(dir))
    })?;
    let relative = relative.trim_start_matches('/');
    let path = if relative.is_empty() {
        root
    } else {
        root.join(relative)
    };
    let controllers = std::fs::read_to_string(path.join("cgroup.controllers")).ok()?;
    // Opening for writing without writing anything changes nothing.
    let writable = |file: &str| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path.join(file))
            .is_ok()
    };
    let delegated = writable("cgroup.procs") && writable("cgroup.subtree_control");
    Some(CgroupSupport {
        controllers: controllers.split_whitespace().map(str::to_owned).collect(),
        delegated,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_each_unmet_feature_once() {
        let support = SandboxSupport {
            landlock: LandlockSupport::Available {
                abi: 3,
                kernel_abi: None,
            },
            seccomp: false,
            user_namespaces: false,
            cgroup: None,
        };
        assert_eq!(
            support.missing(&[
                Feature::Landlock,
                Feature::Seccomp,
                Feature::LandlockNetwork,
                Feature::Seccomp
            ]),
            vec![Feature::Seccomp, Feature::LandlockNetwork]
        );
    }

    #[test]
    fn the_hosts_view_lists_what_is_available() {
        let found = SandboxSupport {
            landlock: LandlockSupport::Available {
                abi: 3,
                kernel_abi: Some(7),
            },
            seccomp: true,
            user_namespaces: false,
            cgroup: Some(CgroupSupport {
                path: PathBuf::from("/sys/fs/cgroup/user.slice"),
                controllers: vec!["cpu".into(), "memory".into()],
                delegated: true,
            }),
        };
        let host = sharelife_core::host::isolation::SandboxSupport::from(&found);
        assert_eq!(host.landlock_abi, Some(3));
        assert!(host.seccomp && !host.user_namespaces);
        assert_eq!(host.delegated_controllers, ["cpu", "memory"]);
        assert_eq!(host.features, ["landlock", "seccomp"]);

        let none = SandboxSupport {
            landlock: LandlockSupport::NotEnabled,
            seccomp: false,
            user_namespaces: true,
            cgroup: Some(CgroupSupport {
                delegated: false,
                ..found.cgroup.clone().unwrap()
            }),
        };
        let host = sharelife_core::host::isolation::SandboxSupport::from(&none);
        assert_eq!(host.landlock_abi, None);
        assert!(host.delegated_controllers.is_empty());
        assert!(host.features.is_empty());
        assert_eq!(
            host.missing(&["landlock".into(), "seccomp".into(), "landlock".into()]),
            ["landlock", "seccomp"]
        );
    }

    #[test]
    fn requirements_read_the_config_form() {
        let r: Requirements = toml::from_str(r#"require = ["landlock", "seccomp"]"#).unwrap();
        assert_eq!(r.require, vec![Feature::Landlock, Feature::Seccomp]);
        assert!(toml::from_str::<Requirements>(r#"require = ["apparmor"]"#).is_err());
    }
}
