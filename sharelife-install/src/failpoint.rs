//! Failpoints for crash-consistency tests: `SHARELIFE_FAILPOINT=<step>`
//! makes the process send itself `SIGKILL` when it reaches that step
//! boundary, as a power cut or an OOM kill would.
//!
//! The steps, in the order an apply reaches them: `planned`, `staged`
//! (libraries written), `built` (build steps done), `smoke_loaded`,
//! `manifest_written`, `committed` (the generation renamed into
//! `generations/`), `symlink_created`, `flipped`, `recorded` (the audit
//! record written), `collected` (old generations removed). A rollback
//! reaches `symlink_created`, `flipped` and `recorded`.

/// Kills the process with `SIGKILL` if `SHARELIFE_FAILPOINT` names `step`.
pub fn hit(step: &str) {
    if std::env::var("SHARELIFE_FAILPOINT").is_ok_and(|v| v == step) {
        #[cfg(unix)]
        {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
        std::process::abort();
    }
}
