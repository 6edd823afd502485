//! `sharelife`: the plugin author's and operator's command line.
//!
//! ```text
//! sharelife new NAME [--async] [--path DIR] [--force]   scaffold a plugin crate
//! sharelife validate FILE...                           check manifests (and more)
//! sharelife inspect LIB [--json]                       read a built plugin without running it
//! ```
//!
//! Exit codes: 0 success; 1 the input was refused (invalid file, not a
//! plugin, a failed run); 2 the command line itself was wrong.

mod inspect;
mod new;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sharelife: scaffold, validate, inspect and run native plugins.
#[derive(Parser, Debug)]
#[command(name = "sharelife", version, about, long_about = None, bin_name = "sharelife")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new plugin crate (cdylib + rlib) with a handler, a README and a test.
    New {
        /// Crate name: lowercase letters, digits, '-' and '_', starting with a letter.
        name: String,
        /// Generate an async handler that uses the host's timer.
        #[arg(long = "async")]
        is_async: bool,
        /// Create the crate in DIR/NAME instead of ./NAME.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// Overwrite the directory if it exists.
        #[arg(long)]
        force: bool,
        /// Path to the sharelife-sdk crate to depend on (default: the one this CLI was built from).
        #[arg(long, value_name = "DIR")]
        sdk_path: Option<PathBuf>,
    },
    /// Validate plugin manifests (`*.json`) and host configs (`*.toml`); every problem with file, line and path.
    Validate {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read a built plugin library without running its code.
    Inspect {
        /// The library (`.so`, `.dylib`, `.dll`).
        library: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A failure to report: one line, plus a hint saying what to do.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::new(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::New {
            name,
            is_async,
            path,
            force,
            sdk_path,
        } => new::run(&name, is_async, path, force, sdk_path),
        Command::Validate { files, json } => validate::run(&files, json),
        Command::Inspect { library, json } => inspect::run(&library, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(hint) = f.hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(1)
        }
    }
}
