//! The runner restricting itself, in Firecracker's jailer order: rlimits,
//! capabilities dropped, `no_new_privs`, Landlock (filesystem, network, scopes), then the
//! seccomp filter last (the steps before it need syscalls it denies).
//!
//! Everything here goes through safe wrappers (`rustix`, `landlock`,
//! `seccompiler`) except [`close_inherited_descriptors`], the crate's one
//! `unsafe` block.
#![deny(unsafe_code)]

use std::collections::BTreeMap;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset,
    RulesetAttr, RulesetStatus, Scope,
};
use rustix::process::{Resource, Rlimit, setrlimit};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::{Deserialize, Serialize};

use crate::Limits;

/// The Landlock ABI whose access rights the runner handles: every
/// filesystem right up to ABI 5, TCP bind and connect (ABI 4), and the
/// signal and abstract-socket scopes (ABI 6). On an older kernel the
/// rights it knows are handled (best effort) and the report says
/// `partially-enforced`.
const LANDLOCK_TARGET: ABI = ABI::V6;

/// What the runner actually enforced before any plugin code ran: sent to
/// the host in the `READY` frame and checked against the
/// [`Requirements`](crate::Requirements) by the runner itself before it
/// creates the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enforced {
    /// The plugin's id, from its manifest.
    pub plugin_id: String,
    /// The plugin's version.
    pub plugin_version: String,
    /// Whether Landlock restricts the child, and how completely.
    pub landlock: LandlockOutcome,
    /// The Landlock ABI in effect (0 without Landlock).
    pub landlock_abi: u32,
    /// Whether Landlock also denies TCP bind and connect (ABI 4 or later).
    pub landlock_network: bool,
    /// Whether the seccomp allowlist is installed.
    pub seccomp: bool,
    /// Whether every capability (effective, permitted, inheritable,
    /// ambient) was dropped: a runner started as root keeps uid 0 but no
    /// privilege.
    pub capabilities_dropped: bool,
    /// Whether `PR_SET_NO_NEW_PRIVS` is set.
    pub no_new_privs: bool,
    /// The resource limits set, as `name=value`.
    pub rlimits: Vec<String>,
}

/// How Landlock ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LandlockOutcome {
    /// Every right the runner handles is denied.
    FullyEnforced,
    /// Every right the kernel knows is denied; the kernel is older than
    /// Landlock ABI 6 and lacks some.
    PartiallyEnforced,
    /// Landlock is not available: nothing is restricted by it.
    NotEnforced,
}

impl Enforced {
    /// The required features this falls short of.
    pub fn missing(&self, required: &[crate::Feature]) -> Vec<crate::Feature> {
        use crate::Feature;
        let mut missing = Vec::new();
        for feature in required {
            let has = match feature {
                Feature::Landlock => self.landlock != LandlockOutcome::NotEnforced,
                Feature::LandlockNetwork => self.landlock_network,
                Feature::Seccomp => self.seccomp,
            };
            if !has && !missing.contains(feature) {
                missing.push(*feature);
            }
        }
        missing
    }
}

/// Which of the two walls the runner raises. Both, always, except in
/// this crate's tests, which prove each wall alone.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layers {
    /// Landlock.
    pub landlock: bool,
    /// The seccomp allowlist.
    pub seccomp: bool,
}

impl Default for Layers {
    fn default() -> Self {
        Layers {
            landlock: true,
            seccomp: true,
        }
    }
}

/// A restriction that could not be applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestrictError {
    #[error("setting rlimit {resource} to {value}: {source}")]
    Rlimit {
        resource: &'static str,
        value: u64,
        source: rustix::io::Errno,
    },
    #[error("dropping capabilities: {0}")]
    Capabilities(rustix::io::Errno),
    #[error("setting no_new_privs: {0}")]
    NoNewPrivs(rustix::io::Errno),
    #[error("landlock: {0}")]
    Landlock(#[from] landlock::RulesetError),
    #[error("building the seccomp filter: {0}")]
    Seccomp(#[from] seccompiler::Error),
    #[error("building the seccomp filter: {0}")]
    SeccompBackend(#[from] seccompiler::BackendError),
}

/// Applies every restriction to this process (single-threaded: the
/// runner calls it before it creates the plugin). Landlock and seccomp
/// missing from the kernel are reported in the result, not errors; the
/// caller compares the result with the requirements.
pub(crate) fn restrict_self(
    limits: &Limits,
    layers: Layers,
    enforced: &mut Enforced,
) -> Result<(), RestrictError> {
    enforced.rlimits = set_rlimits(limits)?;
    drop_capabilities()?;
    enforced.capabilities_dropped = true;
    rustix::thread::set_no_new_privs(true).map_err(RestrictError::NoNewPrivs)?;
    enforced.no_new_privs = true;
    if layers.landlock {
        landlock_deny_all(enforced)?;
    }
    if layers.seccomp {
        enforced.seccomp = install_seccomp()?;
    }
    Ok(())
}

fn set_rlimits(limits: &Limits) -> Result<Vec<String>, RestrictError> {
    let mut set = Vec::new();
    let mut limit = |resource: Resource, name: &'static str, soft: u64, hard: u64| {
        // Only ever lowered: a hard limit already below the one asked for
        // stays (raising it would need a privilege the runner drops).
        let hard = match rustix::process::getrlimit(resource).maximum {
            Some(current) => hard.min(current),
            None => hard,
        };
        let soft = soft.min(hard);
        setrlimit(
            resource,
            Rlimit {
                current: Some(soft),
                maximum: Some(hard),
            },
        )
        .map_err(|source| RestrictError::Rlimit {
            resource: name,
            value: soft,
            source,
        })?;
        set.push(format!("{name}={soft}"));
        Ok::<(), RestrictError>(())
    };
    // No core dumps: a crash must not write the plugin's memory anywhere.
    limit(Resource::Core, "core", 0, 0)?;
    // No new processes (seccomp denies them too) and no new threads: the
    // runner serves on its one thread. Not enforced for root, which
    // bypasses RLIMIT_NPROC; seccomp still denies process creation.
    limit(Resource::Nproc, "nproc", 0, 0)?;
    if let Some(memory) = limits.memory {
        limit(Resource::As, "as", memory.0, memory.0)?;
    }
    if let Some(cpu) = limits.cpu_time {
        // Rounded up to whole seconds; SIGXCPU at the soft limit, SIGKILL
        // a second later.
        let secs = cpu.as_secs() + u64::from(cpu.subsec_nanos() > 0);
        limit(Resource::Cpu, "cpu", secs, secs + 1)?;
    }
    if let Some(files) = limits.open_files {
        limit(Resource::Nofile, "nofile", files, files)?;
    }
    Ok(set)
}

/// Closes every descriptor above standard error that the runner
/// inherited (a host that opened something without close-on-exec would
/// otherwise hand it to the plugin). Called first thing in the runner's
/// `main`.
#[expect(
    unsafe_code,
    reason = "closing descriptors that no Rust object owns takes a raw close"
)]
pub(crate) fn close_inherited_descriptors() -> std::io::Result<()> {
    // SAFETY: at the top of the runner's `main` nothing in this process
    // has opened a descriptor it keeps: every descriptor above 2 was
    // inherited, no Rust object owns one, so none is left dangling.
    // `close_range` takes plain integers.
    let closed = unsafe { libc::syscall(libc::SYS_close_range, 3_u32, u32::MAX, 0_u32) };
    if closed == 0 {
        return Ok(());
    }
    // Kernels before 5.9: one by one, from the list taken first (the
    // listing's own descriptor is closed when the listing is dropped,
    // before the loop, and nothing opens another meanwhile).
    let inherited: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in inherited {
        // SAFETY: as above; a number that is no longer open (the
        // listing's) fails with EBADF, which is ignored.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Drops every capability this process holds (a host running as root
/// passes them on): none is needed to serve calls.
fn drop_capabilities() -> Result<(), RestrictError> {
    use rustix::thread::{CapabilitySet, CapabilitySets, clear_ambient_capability_set};
    clear_ambient_capability_set().map_err(RestrictError::Capabilities)?;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(RestrictError::Capabilities)
}

fn landlock_deny_all(enforced: &mut Enforced) -> Result<(), RestrictError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(LANDLOCK_TARGET))?
        .handle_access(AccessNet::from_all(LANDLOCK_TARGET))?;
    ruleset = ruleset.scope(Scope::from_all(LANDLOCK_TARGET))?;
    // No rule is added: nothing under any path, no port, is allowed.
    // Descriptors already open (the host's socket, the mapped library)
    // are not affected.
    let status = ruleset.create()?.restrict_self()?;
    enforced.landlock = match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockOutcome::FullyEnforced,
        RulesetStatus::PartiallyEnforced => LandlockOutcome::PartiallyEnforced,
        RulesetStatus::NotEnforced => LandlockOutcome::NotEnforced,
    };
    enforced.landlock_abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. }
            if enforced.landlock != LandlockOutcome::NotEnforced =>
        {
            effective_abi as u32
        }
        _ => 0,
    };
    enforced.landlock_network = enforced.landlock_abi >= 4;
    Ok(())
}

/// Installs the allowlist. `Ok(false)` when the kernel has no seccomp.
fn install_seccomp() -> Result<bool, RestrictError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let allowlist: BpfProgram =
        SeccompFilter::new(allowed()?, errno(libc::EPERM), SeccompAction::Allow, arch)?
            .try_into()?;
    // `clone3` passes its flags in memory, where a filter cannot look, so
    // it cannot be allowed for threads only. A filter of its own answers
    // ENOSYS, which makes glibc fall back to `clone`, whose flags the
    // allowlist checks. It is installed first: installing the allowlist
    // needs `prctl` and `seccomp`, which the allowlist then denies. (The
    // allowlist lets `clone3` through; of the two answers the stricter
    // one, ENOSYS, wins.)
    let no_clone3: BpfProgram = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        errno(libc::ENOSYS),
        arch,
    )?
    .try_into()?;
    match seccompiler::apply_filter_all_threads(&no_clone3) {
        Ok(()) => {}
        Err(seccompiler::Error::Seccomp(e)) if e.raw_os_error() == Some(libc::EINVAL) => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    seccompiler::apply_filter_all_threads(&allowlist)?;
    Ok(true)
}

fn errno(code: i32) -> SeccompAction {
    SeccompAction::Errno(code as u32)
}

fn when(index: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, RestrictError> {
    Ok(SeccompCondition::new(
        index,
        SeccompCmpArgLen::Qword,
        op,
        value,
    )?)
}

/// The syscalls the runner, the plugin's std runtime and glibc need once
/// the plugin runs, each justified; every other syscall fails with
/// `EPERM`. In particular denied:
///
/// * files by path: `open`, `openat`, `openat2`, `creat`, `stat` and
///   `statx` by path, `mkdir`, `unlink`, `rename`, `chdir`… (Landlock
///   denies them too; `newfstatat`/`statx` are denied because seccomp
///   cannot tell an empty path from a real one, and Landlock does not
///   cover reading metadata);
/// * network: `socket`, `socketpair`, `connect`, `bind`, `listen`,
///   `accept` (only the inherited socket is used);
/// * processes: `fork`, `vfork`, `execve`, `execveat`, `clone` without
///   `CLONE_THREAD`, `clone3` (`ENOSYS`, see `install_seccomp`), `kill` and `tgkill`
///   of other processes, `wait4`;
/// * inspection and privilege: `ptrace`, `process_vm_readv`/`writev`,
///   `mount`, `umount2`, `pivot_root`, `chroot`, `unshare`, `setns`,
///   `setuid` and friends, `bpf`, `perf_event_open`, `keyctl`, `ioctl`,
///   `prctl` beyond thread names, raising rlimits, `seccomp`,
///   `userfaultfd`.
///
/// `EPERM` rather than killing: the plugin sees an ordinary error (and the
/// escape tests can see it fail from inside), while nothing it reaches
/// through an allowed syscall is outside the process.
fn allowed() -> Result<BTreeMap<i64, Vec<SeccompRule>>, RestrictError> {
    let always = Vec::new;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // I/O on descriptors already open: the host's socket (fd 0), stderr.
    for nr in [
        libc::SYS_read,
        libc::SYS_readv,
        libc::SYS_write,
        libc::SYS_writev,
        libc::SYS_recvfrom,
        libc::SYS_recvmsg,
        libc::SYS_sendto,
        libc::SYS_sendmsg,
        libc::SYS_close,
        libc::SYS_fstat,
        libc::SYS_fcntl,
        libc::SYS_ppoll,
    ] {
        rules.insert(nr, always());
    }
    // Memory: the allocator, thread stacks and their guard pages.
    for nr in [
        libc::SYS_brk,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_mprotect,
        libc::SYS_madvise,
    ] {
        rules.insert(nr, always());
    }
    // Threads and their synchronisation, signals within the process.
    for nr in [
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        libc::SYS_restart_syscall,
        libc::SYS_exit,
        libc::SYS_exit_group,
    ] {
        rules.insert(nr, always());
    }
    // Clocks, sleeping, randomness (HashMap seeds).
    for nr in [
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_getrandom,
    ] {
        rules.insert(nr, always());
    }
    // Turned into ENOSYS by the filter of its own (see install_seccomp).
    rules.insert(libc::SYS_clone3, always());
    // A new thread (CLONE_THREAD set), never a new process.
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![SeccompRule::new(vec![when(
            0,
            SeccompCmpOp::MaskedEq(thread),
            thread,
        )?])?],
    );
    // Signals only to this process: abort() raises SIGABRT with tgkill.
    let me = u64::from(std::process::id());
    rules.insert(
        libc::SYS_tgkill,
        vec![SeccompRule::new(vec![when(0, SeccompCmpOp::Eq, me)?])?],
    );
    // Naming threads (std names its threads).
    rules.insert(
        libc::SYS_prctl,
        vec![
            SeccompRule::new(vec![when(0, SeccompCmpOp::Eq, libc::PR_SET_NAME as u64)?])?,
            SeccompRule::new(vec![when(0, SeccompCmpOp::Eq, libc::PR_GET_NAME as u64)?])?,
        ],
    );
    // Reading this process's limits (glibc sizes thread stacks with it);
    // never setting them: `new_limit` must be null.
    rules.insert(
        libc::SYS_prlimit64,
        vec![SeccompRule::new(vec![
            when(0, SeccompCmpOp::Eq, 0)?,
            when(2, SeccompCmpOp::Eq, 0)?,
        ])?],
    );
    #[cfg(target_arch = "x86_64")]
    {
        rules.insert(libc::SYS_getrlimit, always());
        rules.insert(libc::SYS_poll, always());
    }
    Ok(rules)
}
