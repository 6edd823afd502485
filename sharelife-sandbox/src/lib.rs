//! # sharelife-sandbox
//!
//! The out-of-process tier: the same plugin library the in-process tier
//! loads, run in a child process that restricts itself with the kernel's
//! own mechanisms before any plugin code runs, and called over a Unix
//! socket.
//!
//! ```no_run
//! use sharelife_sandbox::{Feature, Limits, Requirements, Sandboxed};
//!
//! // What the kernel can give, as `sharelife doctor` will print it.
//! println!("{}", sharelife_sandbox::probe());
//!
//! let limits = Limits::from_toml(
//!     r#"memory = "256MiB"
//!        cpu_time = "10s"
//!        call_timeout = "2s"
//!        open_files = 64"#,
//! )?;
//! let require = Requirements::new([Feature::Landlock, Feature::Seccomp]);
//! let plugin = Sandboxed::spawn("plugins/libacme_scraper.so", &limits, &require)?;
//! println!("{:?}", plugin.enforced());
//! let output = plugin.call("scrape", b"https://example.org")?;
//! # let _ = output;
//! drop(plugin); // kills and reaps the child
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## In a host
//!
//! [`load`] reads the library's manifest (no plugin code runs in the
//! host), starts the child and adds a [`SandboxedPlugin`] — a
//! [`Plugin`](sharelife_core::Plugin) forwarding handler calls over the
//! socket — to a [`Host`](sharelife_core::Host), which then drives it like
//! any other: `host.call`, handles and pipelines reach it, its handlers are
//! counted in `host.metrics()`, its health check reports a dead child as
//! unhealthy with the cause, and a restart (`host.start` from `Error`, or
//! the restart policy) starts a new child. Stop, unload and shutdown end
//! and reap the child.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sharelife_sandbox::{Feature, Limits, Requirements};
//!
//! let host = sharelife_core::Host::builder().build()?;
//! let limits = Limits::from_toml(r#"call_timeout = "2s""#)?;
//! let require = Requirements::new([Feature::Landlock, Feature::Seccomp]);
//! let id = sharelife_sandbox::load(&host, "plugins/libacme_scraper.so", &limits, &require).await?;
//! host.start(&id).await?;
//! let page = host.call(&id, "scrape", b"https://example.org")?;
//! # let _ = page;
//! # Ok(())
//! # }
//! ```
//!
//! ## From the host config
//!
//! Register a [`Provider`] on the host and its config decides which
//! plugins run here — `isolation = "process"` under `[plugins."ID"]`
//! with their `limits`, or every plugin at or above `[sandbox] auto`'s
//! risk label or with a scan mismatch (its library imports a road its
//! manifest does not declare) — and `[sandbox] require` what the kernel
//! must give them;
//! [`Host::boot`](sharelife_core::Host::boot) and
//! [`Host::load_with`](sharelife_core::Host::load_with) then start them
//! through it. Without a provider such a plugin is refused
//! ([`HostError::Isolation`](sharelife_core::HostError::Isolation)),
//! never run in process.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use sharelife_core::host::{Host, HostConfig};
//!
//! let config = HostConfig::parse(
//!     r#"plugin_paths = ["./plugins"]
//!        [plugins."acme.scraper"]
//!        isolation = "process"
//!        limits = { memory = "256MiB", cpu_time = "10s", call_timeout = "2s", open_files = 64 }
//!        [sandbox]
//!        auto = "high"
//!        require = ["landlock", "seccomp"]"#,
//!     None,
//!     &|var| std::env::var(var).ok(),
//! )?;
//! let host = Host::builder()
//!     .config(config)
//!     .isolation_provider(Arc::new(sharelife_sandbox::Provider::new()))
//!     .build()?;
//! println!("{}", host.boot().await?);
//! # Ok(())
//! # }
//! ```
//!
//! ## The gateway is the broker
//!
//! In the child the plugin's context services go to the host: `ctx.fs()`,
//! `ctx.http()`, `ctx.connect()`, `ctx.run()`, `ctx.provider()`,
//! `ctx.mcp()`, `ctx.publish()` and its logs are `SERVICE` frames (see the wire
//! format) that the host answers through the context it gave the plugin
//! ([`sharelife_core::services::remote::serve_passing`]): the same gateway decides
//! with the same policy and writes the same hash-chained audit records as
//! for a plugin in the host's process, and a refusal reaches the plugin as
//! the same `Denied` error. Its own walls leave it no other road: reading
//! a granted file by hand still fails with `EPERM`.
//!
//! What works across the boundary, and what does not yet:
//!
//! | in the child | |
//! |---|---|
//! | `ctx.fs()` (read, write, list, remove), `ctx.http()`, `ctx.run()`, `ctx.provider()`, `ctx.mcp()`, `ctx.publish()` | brokered: the host's gateway decides and audits |
//! | logs (`ctx.log`, `tracing` through the SDK) | forwarded to the host's subscriber under the host's plugin id |
//! | `ctx.sleep()` | local: blocks the child's one thread (`nanosleep`) |
//! | `ctx.connect()` | brokered: the host's gateway decides and audits, the host connects, and the connected socket is passed to the child with `SCM_RIGHTS` in the `ANSWER` frame — the child may use it (`read`, `write`, `close`) but could not have opened it |
//! | `ctx.spawn()` | refused (`Denied`): the child has one thread |
//! | events it subscribed to | delivered to its `handle_event` in the child (`EVENT` frames; its service requests brokered as a call's) |
//! | `ctx.config()`, `ctx.data_dir()`, `ctx.temp_dir()` | the host's for the plugin, brought by the `INIT` (or `START`) frame (the directories are host paths, reached through `ctx.fs()`) |
//! | state across a hot reload | handed over: the old child's `save_state` to the host (`SAVE`), the host to the new child's `restore_state` (`RESTORE`, between `INIT` and `START`), at most [`MAX_STATE`] bytes |
//! | state across a restart or a stop | none: a new child starts afresh |
//!
//! Service requests count against the call's `call_timeout`. The plugin's
//! own `initialize` and `start` run in the child when the host initializes
//! (or starts) the [`SandboxedPlugin`] — the runner only loads and
//! restricts before `READY`; the host's `INIT` frame creates and
//! initializes the plugin (its `initialize`) and `START` starts it
//! (or, first, does all three) — so
//! their requests too are answered through the host's context (a plugin
//! may read its files or log while it initializes). Outside a host,
//! [`Sandboxed::spawn`] starts the plugin and [`Sandboxed::call`] answers
//! with every request denied; [`Sandboxed::call_brokered`] takes a
//! [`Broker`].
//!
//! ## One binary or two
//!
//! The child is a *runner*: a host executable that calls
//! [`run_if_runner`] first thing in its `main` serves as its own (`sharelife`
//! and the demo host do), so `cargo build -p sharelife-cli` or `cargo
//! install --path sharelife-cli` alone is enough for `sharelife run` to
//! sandbox. A host that cannot change its `main` ships the
//! `sharelife-sandbox-runner` binary instead: `cargo build -p
//! sharelife-sandbox` puts it in `target/<profile>/`, `cargo install --path
//! sharelife-sandbox` in the same `bin/` as the host.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     // Runs the runner and exits when the host started this executable
//!     // as one; otherwise returns at once. Before any thread exists.
//!     sharelife_sandbox::run_if_runner();
//!     // … build the tokio runtime and the host (with
//!     // `sharelife_sandbox::Provider`) here …
//! #   std::process::ExitCode::SUCCESS
//! }
//! ```
//!
//! [`locate_runner`] (and [`Runner::locate`], which also says how)
//! finds it: `SHARELIFE_SANDBOX_RUNNER` when set (and only it), else this
//! executable when it called [`run_if_runner`] (started again as
//! `/proc/self/exe`, the very image the host runs, with [`RUNNER_ARG`]
//! first), else `sharelife-sandbox-runner` next to the executable (or
//! one directory up). None found is [`SandboxError::RunnerNotFound`]: the
//! plugin is refused, never run in the host's process. `sharelife
//! doctor` says which runner is used, and where.
//!
//! The trade-off: re-executed, the whole host binary is the child, so its
//! ELF initializers (constructors, the `inventory` registrations of
//! plugins linked into it) run there before the restrictions — as the
//! plugin library's own initializers do in either case — and a larger
//! image is mapped (only the pages touched are read). The separate
//! runner runs this crate and nothing else before restricting itself, at
//! the cost of a second binary to build, ship and keep at the same
//! version. Both refuse to restrict themselves unless they have a single
//! thread, since Landlock would not reach threads already running:
//! call [`run_if_runner`] before a tokio runtime exists (not inside
//! `#[tokio::main]`).
//!
//! ## How
//!
//! [`Sandboxed::spawn`] starts the runner (found by [`locate_runner`],
//! above) with the library's path, the limits and the requirements,
//! and one end of a `socketpair(2)` as its standard input; the
//! environment is cleared. The runner ([`runner`] documents its steps):
//!
//! 1. closes every descriptor it inherited but its socket and standard
//!    streams, reads and checks the library with the host's loader
//!    ([`sharelife_core::loader`]) and opens it;
//! 2. sets rlimits (`core` 0, `nproc` 0, address space = `memory`, CPU
//!    time, open files), drops every capability, sets `no_new_privs`, a Landlock ruleset that allows no
//!    path and no TCP port (handled rights up to ABI 6: every filesystem
//!    right, TCP bind/connect, signal and abstract-socket scopes), then a
//!    seccomp allowlist (the syscalls and the `EPERM` classes are listed
//!    on `restrict::allowed` in the source; `clone` only with
//!    `CLONE_THREAD`, signals only to itself);
//! 3. refuses to go on when that falls short of the [`Requirements`];
//! 4. sends `READY`; on the host's `INIT` and `START` creates,
//!    initializes and starts the plugin with a context whose services
//!    are the host's (the
//!    broker, above), and serves calls, one at a time, over the wire
//!    format below.
//!
//! ## Wire format
//!
//! One connected `SOCK_STREAM` Unix socket (the runner's standard input)
//! carries length-prefixed frames: a 9-byte header — a tag (1 byte) and
//! the body's length (`u64`, little-endian) — then the body.
//!
//! | tag | direction | body |
//! |---|---|---|
//! | `CALL` (1) | host → runner | handler name length (`u32` LE), the name (UTF-8), the payload (the rest) |
//! | `START` (3) | host → runner, once, before any `CALL` | empty, or JSON of the host's context for the plugin (`config`, `data_dir`, `temp_dir`): create, initialize and start the plugin; after `INIT`, empty: start it; answered like a call (a failed one is the runner's last frame) |
//! | `INIT` (5) | host → runner, once, instead of a first `START` | as `START`'s: create and initialize the plugin without starting it (the host's `initialize`); answered like a call (a failed one is the runner's last frame) |
//! | `RESTORE` (6) | host → runner, after `INIT`, before `START` | the state the plugin's predecessor saved (at most [`MAX_STATE`] bytes): its `restore_state`; answered like a call |
//! | `SAVE` (7) | host → runner, once the plugin is initialized | empty: its `save_state`; answered with `OK` carrying the state (a state over [`MAX_STATE`] is an `ERROR` of kind `InvalidInput`; an `OK` announcing more is a protocol error, the child is killed) |
//! | `READY` (16) | runner → host, once | JSON [`Enforced`]: loaded and checked, restricted (the plugin is created on `START`) |
//! | `FAILED` (17) | runner → host, instead of `READY` | JSON [`StartFailure`]; the runner exits |
//! | `OK` (18) | runner → host | the handler's output |
//! | `ERROR` (19) | runner → host | error kind (`u8`), retryable (`u8`), the message (UTF-8) |
//! | `SERVICE` (20) | runner → host, while a call is in flight or before `READY` | a service request: JSON, as [`sharelife_core::services::remote`] encodes it |
//! | `EVENT` (4) | host → runner | topic length (`u32` LE), the topic, the payload; answered like a call (`OK` empty) |
//! | `ANSWER` (2) | host → runner, after each `SERVICE` | the encoded answer (output, or error with its kind); a `connect`'s socket rides with its first byte (`SCM_RIGHTS`) |
//!
//! Exactly one answer follows each `INIT`, `START`, `RESTORE`, `SAVE`, `CALL` or `EVENT`, in order; the host
//! sends the next only after it. Before that answer the runner may send any
//! number of `SERVICE` frames, each followed by the host's `ANSWER`
//! before the plugin goes on (one request in flight). 64-bit lengths carry payloads of any size in
//! one frame; readers grow their buffers as bytes arrive (at most 1 MiB
//! ahead), never trusting a length for an allocation. The host closing
//! its end asks the runner to stop and clean up the plugin and exit.
//!
//! ## What this tier guarantees
//!
//! From before the plugin is created (only the library's ELF initializers
//! run earlier), code in the child cannot open any file
//! (not even to `stat` it), create a socket, connect or bind, start a
//! process or `exec`, trace or signal another process, or load another
//! library; it holds no descriptor but its socket to the host, standard
//! error (a pipe to the host), `/dev/null` as standard output, and the
//! connected sockets the host's gateway opened for it (`ctx.connect()`). It
//! cannot exceed its address-space, CPU-time and descriptor limits, and a
//! call cannot outlast `call_timeout`: the whole child is killed. A
//! segfault, `abort()`, stack overflow, allocation failure, `exit()` or
//! kill in the child is a typed [`SandboxError`] with its [`ExitCause`]
//! for the call in flight and every later call; the host process goes on.
//! Dropping a [`Sandboxed`] kills and reaps the child (no zombie).
//!
//! ## What it does not guarantee yet
//!
//! * **The library's ELF initializers run before the restrictions**:
//!   opening a library runs them, and the library must be opened (and
//!   checked) before the filesystem is closed. For `#[plugin]` libraries
//!   they only register statics. A host re-executed as its own runner
//!   ([`run_if_runner`]) runs its own initializers there too.
//! * **Part of the context is not brokered yet** (see the table above):
//!   background tasks (`ctx.spawn()`). Threads cannot be created
//!   (`nproc` 0) unless the runner runs as root.
//! * **Partly integrated in the host**: on a sandboxed plugin handles,
//!   pipelines, metrics, health and restarts work; one started through
//!   the [`Provider`] (config or `Host::load_with`) is cold-reloaded
//!   (`Host::reload_in_place`) in a new child, and hot-reloaded
//!   (`Host::reload`) into a new child started through the provider under
//!   the same limits beside the old one, its state handed over across
//!   the boundary, then swapped in (the old child is ended and reaped);
//!   the new version is never opened in the host's process. One added
//!   with [`load`] is a plugin "added in code": both reloads refuse it
//!   (use the provider). No state crosses a restart or a stop (the
//!   child ends); `sharelife dev` runs a plugin sandboxed where its
//!   `--config` says, and hot-swaps each rebuild into a new child.
//! * One call at a time per child (concurrent callers queue on a mutex).
//! * No cgroup limits ([`probe`] reports whether the host could use
//!   them), no namespaces: the child sees the host's process list
//!   (without access to their files) and keeps the host's uid (with no
//!   capability left, even as root).
//! * Linux on x86_64 and aarch64 only; elsewhere [`Sandboxed::spawn`]
//!   fails at the runner's restrict step.
//!
//! ## What it costs
//!
//! Measured with `cargo bench -p sharelife-sandbox` on the project's
//! 2-vCPU build machine (a VM; medians). A no-op call through the sandbox
//! takes 9.9–11.3 µs when the host thread and the child run on the same CPU
//! and ~40 µs when they do not (waking a halted vCPU costs an
//! inter-processor interrupt and a VM exit each way); which one happens
//! is the scheduler's choice. The same call in-process: 64–70 ns. A bare
//! blocking Unix-socket round trip between two threads: 8.6–9.0 µs, so
//! the tier itself (framing, the second process, the seccomp filter on
//! the child's two syscalls) adds about 1 µs. A 64 KiB payload echoed:
//! 117–123 µs; 1 MiB: 1.05–1.07 ms. Starting a sandboxed plugin (spawn,
//! load and check, restrict, create, initialize, start; then kill and
//! reap): 2.5 ms, against 0.17–0.18 ms to load, start and unload it
//! in-process.
//!
//! Busy-polling the socket for 50 µs before sleeping, on both sides, was
//! tried and made things worse on this shared 2-vCPU machine (111 µs on
//! one CPU, 38–62 µs across two): the spinner takes the CPU its peer
//! needs. Shared memory with a futex wake-up is the next candidate to
//! measure against this baseline.
//!
//! The crate's one `unsafe` block closes the descriptors the runner
//! inherited (the `restrict` module); every other module forbids it.

#![deny(unsafe_code)]

mod channel;
mod error;
mod frame;
mod limits;
mod locate;
mod poll;
mod probe;
mod provider;
mod proxy;
mod restrict;
pub mod runner;
mod sandboxed;

pub use error::{ExitCause, SandboxError};
pub use frame::{MAX_FRAME, MAX_STATE, StartFailure, StartStage};
pub use limits::{ByteSize, ByteSizeError, DEFAULT_POLL, Limits, LimitsError};
pub use locate::{
    RUNNER_ARG, RUNNER_ENV, RUNNER_NAME, Runner, RunnerSource, locate_runner, run_if_runner,
};
pub use probe::{CgroupSupport, Feature, LandlockSupport, Requirements, SandboxSupport, probe};
pub use provider::Provider;
pub use proxy::{LoadSandboxedError, SandboxedPlugin, load};
pub use restrict::{Enforced, LandlockOutcome, Layers};
pub use sandboxed::{Broker, Sandboxed};
