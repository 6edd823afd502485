//! The sandbox runner: started by a sharelife host with a plugin library
//! and a connected Unix socket as standard input; loads, restricts itself,
//! and serves the plugin's handlers. See `sharelife_sandbox::runner`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sharelife_sandbox::runner::main()
}
