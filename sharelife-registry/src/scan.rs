//! Review evidence: what a package's libraries can reach around the
//! capability gateway, and what its `Cargo.lock` is known to be
//! vulnerable to.
//!
//! A native library can do whatever its code does; the gateway only sees
//! what goes through the plugin's context. So the scan reads each
//! library's dynamic symbol imports and classifies the ones that open a
//! *road around the gateway* ([`Road`]): the network (`socket`,
//! `connect`, `getaddrinfo`...), processes (`execve`, `fork`,
//! `posix_spawn`, `system`...), the filesystem (`open`, `openat`,
//! `unlink`...) and dynamic loading (`dlopen`). A road the manifest does
//! not declare (network ↔ a `network` capability, process ↔ `command`,
//! filesystem ↔ `file`; dynamic loading can never be declared) is a
//! [`Mismatch`].
//!
//! # The measured baseline
//!
//! Every Rust cdylib imports some of these symbols for std's own runtime
//! (panics, allocation, backtraces), whatever the plugin does. Measured
//! with `nm -D --undefined-only` and this module on our example plugins
//! (`example-echo`, `example-upper`, `example-fetcher`, rustc 1.95.0,
//! `x86_64-unknown-linux-gnu`, debug and release builds):
//!
//! | imported by | symbols (classified ones in **bold**) |
//! | --- | --- |
//! | every plugin (the same 57 symbols in echo and upper, debug and release) | **`open64`** (std's backtrace opens `/proc/self/exe` and debug info), `close`, `read`, `write`, `writev`, `lseek64`, `fstat64`, `stat64`, `statx`, `readlink`, `realpath`, `getcwd`, `getenv`, `mmap64`, `munmap`, `dl_iterate_phdr`, `getauxval`, `syscall`, `gettid`, `sigaltstack`, `pause`, `abort`, `exit`, the allocator (`malloc`, `calloc`, `realloc`, `free`, `posix_memalign`), `pthread_key_*`, `__cxa_*`, `__tls_get_addr`, `_Unwind_*`, `mem*`, `bcmp`, `strlen`, `__errno_location`, `__xpg_strerror_r` |
//! | `example-fetcher` in addition (uses `ctx.connect()`, reads and writes the stream the gateway hands it) | **`send`**, **`recv`** (and `fcntl` in the debug build) |
//! | `fixture-raw-net` in addition (`TcpStream::connect` itself) | **`socket`**, **`connect`**, **`getaddrinfo`**, **`freeaddrinfo`**, **`gai_strerror`**, **`send`**, **`recv`**, `fcntl`, `__res_init`, `gnu_get_libc_version` |
//!
//! So on the filesystem road `open64` is std's runtime on glibc targets
//! (and, by the same code in std, `open` on other Unix targets: not
//! measured here). Such an import is reported with its road and
//! `std_runtime: true` and is never a mismatch. The price: a plugin that
//! opens files itself with `std::fs::File::open` imports nothing beyond
//! that baseline, so the scan cannot see plain file reads; it does see
//! `openat`, `creat`, `unlink`, `rename`, `mkdir`, `fopen`... No symbol
//! on the network, process or dynamic-loading roads is in the baseline.
//!
//! # Dependencies
//!
//! With an advisory database (a directory in RustSec's format:
//! `crates/<crate>/RUSTSEC-….md`), the package's `Cargo.lock` is checked
//! with the `rustsec` crate, offline. Every matching, non-withdrawn
//! advisory is recorded as [`AdvisoryEvidence`]; informational ones
//! (unmaintained, unsound, notice) are recorded too.
//!
//! # Raises
//!
//! [`ScanReport::raises`]: each mismatch raises the label to **high**; an
//! advisory raises it to **high**, an informational advisory to
//! **medium**.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use object::{Object, ObjectSection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sharelife_core::loader::{LoadError, PluginFile};
use sharelife_manifest::roads;
use sharelife_manifest::{Manifest, RiskLevel};

use crate::label::Raise;
use crate::package::{LOCKFILE, Package};

/// The road vocabulary lives in `sharelife-manifest`, next to the
/// capability kinds that declare roads, so that the host's `[sandbox]
/// auto` rule classifies imports with the very same tables.
pub use sharelife_manifest::roads::{Road, classify, is_std_runtime};

/// One classified import of a library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RawImport {
    /// The imported symbol, without version or Mach-O underscore.
    pub symbol: String,
    /// The road it opens.
    pub road: Road,
    /// Whether every Rust cdylib imports it for std's runtime; such an
    /// import is never a mismatch.
    pub std_runtime: bool,
}

/// The evidence about one library of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LibraryEvidence {
    /// The Rust target triple.
    pub target: String,
    /// Its path inside the package.
    pub path: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The compiler recorded in the library's `.comment` section, e.g.
    /// `rustc version 1.95.0 (59807616e 2026-04-14)`.
    pub rustc: Option<String>,
    /// Its classified imports, sorted by symbol.
    pub imports: Vec<RawImport>,
}

/// A road the libraries take that the manifest does not declare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Mismatch {
    /// The road.
    pub road: Road,
    /// The imports on it (outside std's runtime), sorted.
    pub symbols: Vec<String>,
    /// In plain words: "declares no network, imports `connect`, `socket`".
    pub message: String,
}

/// One advisory that matches a locked dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AdvisoryEvidence {
    /// The advisory id, e.g. `RUSTSEC-2024-0001`.
    pub id: String,
    /// The affected crate.
    pub package: String,
    /// The locked version of it.
    pub version: String,
    /// The version requirements that are patched.
    pub patched: Vec<String>,
    /// The advisory's title.
    pub title: String,
    /// Where to read more (the advisory's `url`, else its rustsec.org page).
    pub url: String,
    /// For an informational advisory, its kind (`unmaintained`,
    /// `unsound`, `notice`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub informational: Option<String>,
}

/// What the scan found: the review evidence of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScanReport {
    /// One entry per library, in the file list's order.
    pub libraries: Vec<LibraryEvidence>,
    /// The abi_stable version locked in the package's `Cargo.lock`.
    pub abi_stable: Option<String>,
    /// Roads taken but not declared.
    pub mismatches: Vec<Mismatch>,
    /// Advisories against locked dependencies (empty without a database).
    pub advisories: Vec<AdvisoryEvidence>,
}

/// Why a scan failed; each variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// A library is in a format whose imports cannot be read.
    #[error("{origin}: library `{entry}`: unsupported format ({format})")]
    UnsupportedFormat {
        /// The package.
        origin: String,
        /// The library entry.
        entry: String,
        /// What it is.
        format: String,
    },
    /// A library could not be parsed.
    #[error("{origin}: library `{entry}` is malformed: {reason}")]
    Malformed {
        /// The package.
        origin: String,
        /// The library entry.
        entry: String,
        /// The parser's error.
        reason: String,
    },
    /// The package's `Cargo.lock` does not parse.
    #[error("{origin}: `{LOCKFILE}` does not parse: {reason}")]
    Lockfile {
        /// The package.
        origin: String,
        /// The parser's error.
        reason: String,
    },
    /// The advisory database could not be read.
    #[error("{}: not a readable RustSec advisory database: {reason}", path.display())]
    AdvisoryDb {
        /// The database directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Scans `package`: each library's imports and compiler, the lockfile's
/// abi_stable version, mismatches against the manifest, and, given an
/// advisory database directory, advisories against the lockfile.
///
/// # Errors
///
/// [`ScanError::UnsupportedFormat`], [`ScanError::Malformed`],
/// [`ScanError::Lockfile`], [`ScanError::AdvisoryDb`].
pub fn scan(package: &Package, advisory_db: Option<&Path>) -> Result<ScanReport, ScanError> {
    let origin = package.origin();
    let mut libraries = Vec::new();
    for (target, path, bytes) in package.libraries() {
        libraries.push(library_evidence(origin, target, path, bytes)?);
    }
    let mismatches = mismatches(package.manifest(), &libraries);

    let lockfile = package
        .lockfile()
        .map(|text| {
            rustsec::Lockfile::from_str(text).map_err(|e| ScanError::Lockfile {
                origin: origin.to_owned(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    let abi_stable = lockfile.as_ref().and_then(|lock| {
        lock.packages
            .iter()
            .filter(|p| p.name.as_str() == "abi_stable")
            .map(|p| &p.version)
            .max()
            .map(ToString::to_string)
    });
    let advisories = match (advisory_db, &lockfile) {
        (Some(db), Some(lock)) => advisories(db, lock)?,
        (Some(db), None) => {
            // Still check that the database is readable: a bad path is an
            // error, not "no advisories".
            open_db(db)?;
            Vec::new()
        }
        (None, _) => Vec::new(),
    };
    Ok(ScanReport {
        libraries,
        abi_stable,
        mismatches,
        advisories,
    })
}

fn library_evidence(
    origin: &str,
    target: &str,
    entry: &str,
    bytes: &[u8],
) -> Result<LibraryEvidence, ScanError> {
    // The host's own reader (`PluginFile::imports`, which its
    // `[sandbox] auto` rule uses), on the bytes in memory.
    let names = PluginFile::parse_imports(bytes, entry).map_err(|e| match e {
        LoadError::NotALibrary { reason, .. } => ScanError::UnsupportedFormat {
            origin: origin.to_owned(),
            entry: entry.to_owned(),
            format: reason,
        },
        LoadError::Malformed { reason, .. } => ScanError::Malformed {
            origin: origin.to_owned(),
            entry: entry.to_owned(),
            reason,
        },
        other => ScanError::Malformed {
            origin: origin.to_owned(),
            entry: entry.to_owned(),
            reason: other.to_string(),
        },
    })?;
    let mut found = BTreeMap::new();
    for name in &names {
        // ELF version suffixes (`connect@GLIBC_2.2.5`) are not part of
        // the names read, but strip them should a format add one.
        let name = name.split('@').next().unwrap_or(name);
        if let Some(road) = classify(name) {
            found.insert(
                name.to_owned(),
                RawImport {
                    symbol: name.to_owned(),
                    road,
                    std_runtime: is_std_runtime(target, name),
                },
            );
        }
    }
    let rustc = object::File::parse(bytes).ok().and_then(|file| {
        file.section_by_name(".comment")
            .and_then(|s| s.data().ok())
            .and_then(|data| {
                data.split(|b| *b == 0)
                    .filter_map(|s| std::str::from_utf8(s).ok())
                    .find(|s| s.starts_with("rustc version"))
                    .map(str::to_owned)
            })
    });
    Ok(LibraryEvidence {
        target: target.to_owned(),
        path: entry.to_owned(),
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
        rustc,
        imports: found.into_values().collect(),
    })
}

fn mismatches(manifest: &Manifest, libraries: &[LibraryEvidence]) -> Vec<Mismatch> {
    // Each library against the manifest, with its own target's std
    // runtime baseline; then one mismatch per road over all of them.
    let mut by_road: BTreeMap<Road, BTreeSet<String>> = BTreeMap::new();
    for library in libraries {
        let symbols = library.imports.iter().map(|i| i.symbol.as_str());
        for undeclared in roads::undeclared(manifest, &library.target, symbols) {
            by_road
                .entry(undeclared.road)
                .or_default()
                .extend(undeclared.symbols);
        }
    }
    by_road
        .into_iter()
        .map(|(road, symbols)| {
            let list = symbols
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let message = match road {
                Road::Network => format!("declares no network, imports {list}"),
                Road::Process => format!("declares no command, imports {list}"),
                Road::Filesystem => format!("declares no file access, imports {list}"),
                Road::DynamicLoading => {
                    format!(
                        "loads native code around the host (cannot be declared), imports {list}"
                    )
                }
            };
            Mismatch {
                road,
                symbols: symbols.into_iter().collect(),
                message,
            }
        })
        .collect()
}

fn open_db(path: &Path) -> Result<rustsec::Database, ScanError> {
    if !path.join("crates").is_dir() {
        return Err(ScanError::AdvisoryDb {
            path: path.to_owned(),
            reason: "no `crates` directory".into(),
        });
    }
    rustsec::Database::open(path).map_err(|e| ScanError::AdvisoryDb {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn advisories(db: &Path, lock: &rustsec::Lockfile) -> Result<Vec<AdvisoryEvidence>, ScanError> {
    let database = open_db(db)?;
    let query = rustsec::database::Query::new()
        .collection(rustsec::Collection::Crates)
        .withdrawn(false);
    let mut found: Vec<AdvisoryEvidence> = database
        .query_vulnerabilities(lock, &query)
        .into_iter()
        .map(|v| AdvisoryEvidence {
            id: v.advisory.id.to_string(),
            package: v.package.name.to_string(),
            version: v.package.version.to_string(),
            patched: v
                .versions
                .patched()
                .iter()
                .map(ToString::to_string)
                .collect(),
            title: v.advisory.title.clone(),
            url: v.advisory.url.as_ref().map_or_else(
                || format!("https://rustsec.org/advisories/{}.html", v.advisory.id),
                ToString::to_string,
            ),
            informational: v.advisory.informational.as_ref().map(ToString::to_string),
        })
        .collect();
    found.sort_by(|a, b| (&a.id, &a.package, &a.version).cmp(&(&b.id, &b.package, &b.version)));
    found.dedup();
    Ok(found)
}

impl ScanReport {
    /// What this evidence raises the plugin's risk label to.
    ///
    /// The rule: every [`Mismatch`] raises to [`RiskLevel::High`] (the
    /// library reaches past the gateway where its manifest says it does
    /// not); every advisory raises to [`RiskLevel::High`], except an
    /// informational one (unmaintained, unsound, notice), which raises to
    /// [`RiskLevel::Medium`]. Imports on declared roads and std's runtime
    /// raise nothing.
    pub fn raises(&self) -> Vec<Raise> {
        let mut raises: Vec<Raise> = self
            .mismatches
            .iter()
            .map(|m| Raise {
                to: RiskLevel::High,
                reason: m.message.clone(),
            })
            .collect();
        raises.extend(self.advisories.iter().map(|a| {
            let what = a
                .informational
                .as_deref()
                .map_or_else(|| "advisory".to_owned(), |kind| format!("{kind} advisory"));
            Raise {
                to: if a.informational.is_some() {
                    RiskLevel::Medium
                } else {
                    RiskLevel::High
                },
                reason: format!(
                    "locks {} {}: {what} {}: {}",
                    a.package, a.version, a.id, a.title
                ),
            }
        }));
        raises
    }
}
