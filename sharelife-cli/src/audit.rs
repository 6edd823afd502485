//! `sharelife audit`: read any hash-chained audit log (a host's
//! `audit_log`, or an install root's `audit.log`).
//!
//! ```text
//! sharelife audit verify FILE [--json]           the hash chain; exit 1 naming the first bad record
//! sharelife audit show FILE [FILTERS] [--json]   the records that pass the filters
//! sharelife audit tail FILE [FILTERS] [-n N]     the last N, then each new record as it is written
//!               [--json]                         (until Ctrl-C)
//! FILTERS: --plugin ID --capability KIND|ACTION --outcome allow|deny|info --since 1h|RFC3339
//! ```
//!
//! Records print one a line: `seq time plugin version event capability
//! outcome request [rule]`. `show --json` prints one object (`file`,
//! `count`, `records`); `tail --json` prints each record as one JSON line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::{Args, Subcommand, ValueEnum};
use notify::{RecursiveMode, Watcher};
use serde_json::json;
use sharelife_core::audit::{AuditError, AuditQuery, AuditRecord, Outcome, read_log, verify};

use crate::Failure;

/// `sharelife audit …`.
#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Check the log's hash chain; names the first bad record.
    Verify {
        /// The audit log.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the records that pass the filters.
    Show {
        /// The audit log.
        file: PathBuf,
        #[command(flatten)]
        filter: Filter,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the last records, then follow the log as it grows (Ctrl-C stops).
    Tail {
        /// The audit log.
        file: PathBuf,
        #[command(flatten)]
        filter: Filter,
        /// How many of the existing records to print first.
        #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
        lines: usize,
        /// Print each record as one JSON line.
        #[arg(long)]
        json: bool,
    },
}

/// The outcome filter.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OutcomeArg {
    /// Allowed decisions, completed operations.
    Allow,
    /// Denied decisions, refused operations.
    Deny,
    /// Lifecycle changes, errors, informational operations.
    Info,
}

/// Which records to print.
#[derive(Args, Debug, Clone)]
pub(crate) struct Filter {
    /// Only this plugin (or tool, e.g. `sharelife.install`).
    #[arg(long, value_name = "ID")]
    plugin: Option<String>,
    /// Only this capability kind (network, file, command, provider, mcp, publish) or operation (plan, approve, apply, install, remove, rollback).
    #[arg(long, value_name = "KIND")]
    capability: Option<String>,
    /// Only this outcome.
    #[arg(long, value_enum)]
    outcome: Option<OutcomeArg>,
    /// Only records at or after this: a duration ago (`90s`, `1h`, `2days`) or an RFC 3339 time.
    #[arg(long, value_name = "1h|RFC3339")]
    since: Option<String>,
}

/// A compiled filter: the library's query plus the capability as written
/// (a kind or an operation's action).
struct Matcher {
    query: AuditQuery,
    capability: Option<String>,
}

impl Matcher {
    fn matches(&self, r: &AuditRecord) -> bool {
        self.query.matches(r)
            && self
                .capability
                .as_ref()
                .is_none_or(|c| r.capability.as_deref() == Some(c.as_str()))
    }
}

impl Filter {
    fn compile(&self) -> Result<Matcher, Failure> {
        let since = match &self.since {
            None => None,
            Some(text) => Some(since(text)?),
        };
        Ok(Matcher {
            query: AuditQuery {
                plugin: self.plugin.clone(),
                capability: None,
                outcome: self.outcome.map(|o| match o {
                    OutcomeArg::Allow => Outcome::Allow,
                    OutcomeArg::Deny => Outcome::Deny,
                    OutcomeArg::Info => Outcome::Info,
                }),
                since,
                until: None,
            },
            capability: self.capability.clone(),
        })
    }
}

/// `--since` as the log writes times (RFC 3339, UTC, nanoseconds), so that
/// text order is time order.
fn since(text: &str) -> Result<String, Failure> {
    let at = if let Ok(ago) = humantime::parse_duration(text) {
        SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    } else {
        let t: jiff::Timestamp = text.parse().map_err(|e| {
            Failure::new(format!(
                "--since {text}: neither a duration nor an RFC 3339 time ({e})"
            ))
            .hint("write a duration ago like 90s, 1h, 2days, or a time like 2026-05-01T12:00:00Z")
        })?;
        SystemTime::from(t)
    };
    let at = at.max(SystemTime::UNIX_EPOCH);
    Ok(humantime::format_rfc3339_nanos(at).to_string())
}

/// Runs `sharelife audit …`.
pub(crate) fn run(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify { file, json } => run_verify(&file, json),
        AuditCommand::Show { file, filter, json } => show(&file, &filter, json),
        AuditCommand::Tail {
            file,
            filter,
            lines,
            json,
        } => tail(&file, &filter, lines, json),
    }
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value serializes")
    );
}

fn run_verify(file: &Path, json: bool) -> Result<(), Failure> {
    match verify(file) {
        Ok(report) => {
            if json {
                print_json(&json!({
                    "ok": true,
                    "file": file,
                    "records": report.records,
                    "last_hash": report.last_hash,
                }));
            } else {
                println!(
                    "{}: {} records, the hash chain holds (last hash {})",
                    file.display(),
                    report.records,
                    report.last_hash
                );
            }
            Ok(())
        }
        Err(AuditError::Tampered { line, reason, .. }) => {
            let failure = Failure::new(format!(
                "{}: record {line} (line {line}) breaks the chain: {reason}",
                file.display()
            ))
            .hint(format!(
                "records from {line} on cannot be trusted; keep the file as evidence (hosts and install roots refuse to append to it: move it aside to go on)"
            ));
            if json {
                print_json(&json!({
                    "ok": false,
                    "file": file,
                    "record": line,
                    "reason": reason,
                    "error": failure.message,
                    "hint": failure.hint,
                }));
            }
            Err(failure)
        }
        Err(e) => {
            let failure = Failure::new(e.to_string()).hint("check the path to the audit log");
            if json {
                print_json(&json!({
                    "ok": false,
                    "file": file,
                    "error": failure.message,
                    "hint": failure.hint,
                }));
            }
            Err(failure)
        }
    }
}

fn read(file: &Path) -> Result<Vec<AuditRecord>, Failure> {
    read_log(file).map_err(|e| {
        Failure::new(e.to_string())
            .hint("check the path; `sharelife audit verify FILE` checks the whole chain")
    })
}

/// One record on one line.
fn line(r: &AuditRecord) -> String {
    let mut out = format!(
        "{:>5} {} {} {} {} {} {} {}",
        r.seq,
        r.time,
        r.plugin,
        if r.version.is_empty() {
            "-"
        } else {
            &r.version
        },
        r.event,
        r.capability.as_deref().unwrap_or("-"),
        match r.outcome {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Info => "info",
        },
        r.request
    );
    if !r.rule.is_empty() {
        out.push_str(&format!(" [{}]", r.rule));
    }
    out
}

fn show(file: &Path, filter: &Filter, json: bool) -> Result<(), Failure> {
    let matcher = filter.compile()?;
    let records: Vec<AuditRecord> = read(file)?
        .into_iter()
        .filter(|r| matcher.matches(r))
        .collect();
    if json {
        print_json(&json!({
            "file": file,
            "count": records.len(),
            "records": records,
        }));
    } else {
        for r in &records {
            println!("{}", line(r));
        }
    }
    Ok(())
}

fn print_record(r: &AuditRecord, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).expect("a record serializes"));
    } else {
        println!("{}", line(r));
    }
}

/// Prints the last `n` matching records, then follows the file: a watch
/// on its directory wakes the loop, which reads the complete lines
/// appended since.
fn tail(file: &Path, filter: &Filter, n: usize, json: bool) -> Result<(), Failure> {
    let matcher = filter.compile()?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    // Watch before reading, so nothing written in between is missed.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .map_err(|e| Failure::new(format!("cannot watch {}: {e}", dir.display())))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| Failure::new(format!("cannot watch {}: {e}", dir.display())))?;

    let mut follower = Follower {
        path: file.to_owned(),
        offset: 0,
        partial: Vec::new(),
    };
    let existing: Vec<AuditRecord> = follower
        .read_new()?
        .into_iter()
        .filter(|r| matcher.matches(r))
        .collect();
    for r in &existing[existing.len().saturating_sub(n)..] {
        print_record(r, json);
    }
    loop {
        // Each event in the directory (the log appended, its head anchor
        // replaced, …) reads whatever was appended.
        if rx.recv().is_err() {
            return Err(Failure::new(format!("stopped watching {}", file.display())));
        }
        while rx.try_recv().is_ok() {}
        for r in follower.read_new()? {
            if matcher.matches(&r) {
                print_record(&r, json);
            }
        }
    }
}

/// Where `tail` is in the file.
struct Follower {
    path: PathBuf,
    offset: u64,
    /// An incomplete last line, kept until its newline arrives.
    partial: Vec<u8>,
}

impl Follower {
    /// The records of the complete lines appended since the last call
    /// (from the start again if the file was replaced by a shorter one).
    fn read_new(&mut self) -> Result<Vec<AuditRecord>, Failure> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Failure::new(format!(
                    "cannot read {}: {e}",
                    self.path.display()
                )));
            }
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        f.seek(SeekFrom::Start(self.offset))
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", self.path.display())))?;
        let mut bytes = std::mem::take(&mut self.partial);
        let read = f
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", self.path.display())))?;
        self.offset += read as u64;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(complete);
        let mut out = Vec::new();
        for l in BufReader::new(&bytes[..]).lines() {
            let l = l.unwrap_or_default();
            if l.is_empty() {
                continue;
            }
            match serde_json::from_str::<AuditRecord>(&l) {
                Ok(r) => out.push(r),
                Err(e) => eprintln!("warning: not an audit record: {e}"),
            }
        }
        Ok(out)
    }
}
