//! The install flow's one error type.

use std::path::PathBuf;

use sharelife_manifest::RiskLevel;

/// Why an install, approval, apply, rollback or removal was refused or
/// failed. Nothing is ever half-installed: whatever the error, `current`
/// still points at the complete generation it pointed at before.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A file of the install root could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `install.toml` (or a file it names) is invalid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The registry refused or failed (verification, unknown plugin…).
    #[error(transparent)]
    Registry(#[from] sharelife_registry::ClientError),
    /// A key file.
    #[error(transparent)]
    Key(#[from] sharelife_registry::keys::KeyError),
    /// A requested plugin could not be parsed (`ID[@RANGE]`).
    #[error(
        "`{request}` is not a plugin request: {reason} (write ID or ID@RANGE, e.g. acme.upper@^1)"
    )]
    BadRequest {
        /// What was given.
        request: String,
        /// Why.
        reason: String,
    },
    /// The host's resolver found no consistent set of versions.
    #[error("cannot resolve the plugins to install:\n  {}", problems.join("\n  "))]
    Unresolved {
        /// One line per problem, from the host's resolver.
        problems: Vec<String>,
    },
    /// A chosen version cannot run on this host.
    #[error("{id} {version} cannot run here: {reason}")]
    Incompatible {
        /// The plugin.
        id: String,
        /// The version.
        version: String,
        /// Why (API range, platform, no library for this triple and no source).
        reason: String,
    },
    /// The plugin is not installed.
    #[error("{0} is not installed")]
    NotInstalled(String),
    /// The plan needs an admin's approval and has none that counts.
    #[error("plan {digest} needs an admin's approval ({}): run `sharelife approve PLAN --key ADMIN_KEY` with a key listed in install.toml [admin] keys; --yes never stands in for an admin", reasons.join("; "))]
    NeedsAdmin {
        /// The plan's digest.
        digest: String,
        /// Why: plugins at or above the threshold, widened capabilities.
        reasons: Vec<String>,
        /// The configured threshold.
        threshold: RiskLevel,
    },
    /// An approval was made with a key that is not an admin's.
    #[error("key {key_id} is not an admin key of this install root (install.toml [admin] keys)")]
    NotAnAdmin {
        /// The key id.
        key_id: String,
    },
    /// The plan file's contents do not match its digest, or an approval's
    /// signature does not verify over it: the plan was edited.
    #[error("{}: the plan was changed after it was made or approved ({reason}); make and approve a new plan", path.display())]
    PlanTampered {
        /// The plan file.
        path: PathBuf,
        /// What did not match.
        reason: String,
    },
    /// The plan was made against a registry snapshot or a generation that
    /// is no longer the current one.
    #[error("the plan is stale: {what_moved}; make a new plan")]
    StalePlan {
        /// What moved, in words.
        what_moved: String,
    },
    /// A build step is needed but execution is off in install.toml.
    #[error(
        "{id} has no library for {triple} and needs a build step, but install.toml [execution] enabled = false"
    )]
    ExecutionDisabled {
        /// The plugin.
        id: String,
        /// This host's triple.
        triple: String,
    },
    /// A step's command does not start with any allowed argv prefix.
    #[error("`{}` is not allowed by install.toml [execution] allow ({})", argv.join(" "), allowed.iter().map(|a| a.join(" ")).collect::<Vec<_>>().join(" | "))]
    CommandNotAllowed {
        /// The command.
        argv: Vec<String>,
        /// The allowed prefixes.
        allowed: Vec<Vec<String>>,
    },
    /// A step failed or timed out; nothing was applied.
    #[error("step `{}` {outcome}; nothing was applied (evidence: {})", argv.join(" "), evidence.display())]
    StepFailed {
        /// The command.
        argv: Vec<String>,
        /// "exited with status 101", "was killed after its 10s timeout".
        outcome: String,
        /// Where its evidence was kept.
        evidence: PathBuf,
    },
    /// A plugin of the new generation did not pass its smoke load;
    /// nothing was applied.
    #[error("{id} failed its smoke load ({stage}): {reason}; nothing was applied")]
    SmokeFailed {
        /// The plugin.
        id: String,
        /// Where: load, health, unload.
        stage: String,
        /// The host's error.
        reason: String,
    },
    /// A downloaded or built file is not what the plan names.
    #[error("{}: {reason}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// No such generation.
    #[error("generation {0} does not exist")]
    UnknownGeneration(u64),
    /// Rollback from a generation without a parent.
    #[error("generation {0} has no parent to roll back to")]
    NoParent(u64),
    /// The install root's audit log.
    #[error("audit log: {0}")]
    Audit(#[from] sharelife_core::audit::AuditError),
    /// The install root was opened read-only (a dry run) and something
    /// tried to change it.
    #[error("the install root is open read-only (a dry run); nothing may change")]
    ReadOnly,
    /// The plan was made from a pack: it is applied with that pack.
    #[error(
        "the plan applies pack {digest}; apply it with the pack file (`sharelife apply PLAN --pack FILE`)"
    )]
    PackNeeded {
        /// The pack's sha256.
        digest: String,
    },
    /// The pack file is not a well-formed pack, or a byte of it changed
    /// since it was made.
    #[error("{origin}: not a valid pack: {reason}")]
    PackInvalid {
        /// The pack file.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The pack carries no signature and install.toml does not allow that.
    #[error(
        "{origin} is not signed; packs must be signed by a key this root trusts (`sharelife pack export --key`, `sharelife key trust`), or set install.toml [packs] allow_unsigned = true"
    )]
    PackUnsigned {
        /// The pack file.
        origin: String,
    },
    /// The pack's signature does not verify, or its key is not trusted.
    #[error("{origin}: {reason}")]
    PackSignature {
        /// The pack file.
        origin: String,
        /// The key id, and whether the signature failed or the key is unknown.
        reason: String,
        /// The signing key's id.
        key_id: String,
    },
    /// The pack names a registry (by its root keys) this root does not trust.
    #[error(
        "{id} comes from registry `{registry}` with root keys [{}], which this root does not trust; add that registry (`sharelife registry add NAME URL --root ROOT.json`) and pin its root first",
        root_key_ids.join(", ")
    )]
    PackRegistryUntrusted {
        /// The plugin.
        id: String,
        /// The registry's name where the pack was made.
        registry: String,
        /// Its root key ids.
        root_key_ids: Vec<String>,
    },
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.into();
    move |source| InstallError::Io { path, source }
}
