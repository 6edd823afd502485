//! `cargo-sharelife`: the `sharelife` command line as a cargo subcommand,
//! so that `cargo sharelife new foo` works once it is installed
//! (`cargo install sharelife-cli` installs both binaries).
//!
//! Cargo runs `cargo sharelife ARGS` as `cargo-sharelife sharelife ARGS`;
//! the shared entry point drops that `sharelife` (and accepts the
//! arguments without it too, for running this binary directly).

/// The whole `sharelife` command line, compiled into this binary too.
#[path = "../main.rs"]
mod sharelife;

// The command modules name `crate::Failure` and `crate::progress`: here
// the crate root is this file, so bring main.rs's `pub(crate)` items to it.
use sharelife::*;

fn main() -> std::process::ExitCode {
    sharelife::main()
}
