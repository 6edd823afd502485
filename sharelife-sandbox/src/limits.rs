//! [`Limits`]: what a sandboxed plugin may consume, in the host
//! configuration's form (`memory = "256MiB"`, `cpu_time = "10s"`,
//! `call_timeout = "2s"`, `open_files = 64`).
//!
//! The type and its one parser live in `sharelife-core`
//! ([`sharelife_core::host::isolation::ProcessLimits`]) so that the host
//! config reads `[plugins."ID"] limits = { … }` with it; this crate
//! re-exports it as [`Limits`].
//!
//! | field | enforced by | when it is hit |
//! |---|---|---|
//! | `memory` | `RLIMIT_AS` (address space) in the child | allocations fail; Rust's allocator aborts: [`SIGABRT`](crate::ExitCause::Signaled) |
//! | `cpu_time` | `RLIMIT_CPU` (soft = the limit, hard = one second later) | `SIGXCPU`, then `SIGKILL` |
//! | `call_timeout` | the host, per call | the whole child is killed, the call returns [`SandboxError::Timeout`](crate::SandboxError::Timeout) |
//! | `open_files` | `RLIMIT_NOFILE` in the child | opening more descriptors fails with `EMFILE` |
//!
//! ```
//! use std::time::Duration;
//! use sharelife_sandbox::{ByteSize, Limits};
//!
//! let limits = Limits::from_toml(
//!     r#"memory = "256MiB"
//!        cpu_time = "10s"
//!        call_timeout = "2s"
//!        open_files = 64"#,
//! )?;
//! assert_eq!(limits.memory, Some(ByteSize(256 << 20)));
//! assert_eq!(limits.call_timeout, Some(Duration::from_secs(2)));
//! # Ok::<(), sharelife_sandbox::LimitsError>(())
//! ```
#![forbid(unsafe_code)]

pub use sharelife_core::host::isolation::{
    ByteSize, ByteSizeError, DEFAULT_POLL, LimitsError, ProcessLimits as Limits,
};
