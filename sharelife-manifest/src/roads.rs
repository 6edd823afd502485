//! Roads around the capability gateway: the one vocabulary the registry's
//! scan and the host's `[sandbox] auto` rule classify a library's dynamic
//! symbol imports with.
//!
//! A native library can do whatever its code does; the gateway only sees
//! what goes through the plugin's context. A library whose imports include
//! `connect` can dial out without asking. So an import is classified onto
//! a [`Road`] ([`classify`]): the network (`socket`, `connect`,
//! `getaddrinfo`...), processes (`execve`, `fork`, `posix_spawn`,
//! `system`...), the filesystem (`open`, `openat`, `unlink`...) and
//! dynamic loading (`dlopen`). A road is declared by a capability kind
//! ([`Road::declared_by`]: network ↔ `network`, process ↔ `command`,
//! filesystem ↔ `file`; dynamic loading can never be declared). A road a
//! library's imports open that its manifest does not declare is
//! *undeclared* ([`undeclared`]): a scan mismatch.
//!
//! Every Rust cdylib imports some of these symbols for std's own runtime
//! (`open64` on glibc targets: std's backtrace opens `/proc/self/exe`);
//! [`is_std_runtime`] names them, and they never make a road undeclared.
//! The measurement behind that baseline is in `sharelife_registry::scan`.
//!
//! ```
//! use sharelife_manifest::Manifest;
//! use sharelife_manifest::roads::{self, Road};
//!
//! let manifest = Manifest::new("acme.raw".parse()?, "1.0.0".parse()?, "^0.1".parse()?);
//! let found = roads::undeclared(
//!     &manifest,
//!     "x86_64-unknown-linux-gnu",
//!     ["malloc", "open64", "socket", "connect"],
//! );
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].road, Road::Network);
//! assert_eq!(found[0].symbols, ["connect", "socket"]);
//! assert_eq!(found[0].to_string(), "connect, socket (network) without declaring network");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Kind, Manifest};

/// A road around the gateway that a library's imports open.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Road {
    /// Sockets and name resolution: declared by a `network` capability.
    Network,
    /// Starting programs: declared by a `command` capability.
    Process,
    /// Opening, creating, removing files: declared by a `file` capability.
    Filesystem,
    /// Loading more native code at run time: never declarable.
    DynamicLoading,
}

impl Road {
    /// Every road, in order.
    pub const ALL: [Road; 4] = [
        Road::Network,
        Road::Process,
        Road::Filesystem,
        Road::DynamicLoading,
    ];

    /// The road's name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Road::Network => "network",
            Road::Process => "process",
            Road::Filesystem => "filesystem",
            Road::DynamicLoading => "dynamic_loading",
        }
    }

    /// The capability kind that declares this road, if any.
    pub fn declared_by(self) -> Option<Kind> {
        match self {
            Road::Network => Some(Kind::Network),
            Road::Process => Some(Kind::Command),
            Road::Filesystem => Some(Kind::File),
            Road::DynamicLoading => None,
        }
    }

    /// The symbols that open this road.
    pub fn symbols(self) -> &'static [&'static str] {
        match self {
            Road::Network => NETWORK,
            Road::Process => PROCESS,
            Road::Filesystem => FILESYSTEM,
            Road::DynamicLoading => DYNAMIC_LOADING,
        }
    }
}

impl fmt::Display for Road {
    /// In words: `network`, `process`, `filesystem`, `dynamic loading`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Road::DynamicLoading => "dynamic loading",
            other => other.as_str(),
        })
    }
}

/// Network symbols (BSD sockets and name resolution).
const NETWORK: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "getaddrinfo",
    "freeaddrinfo",
    "gai_strerror",
    "getnameinfo",
    "gethostbyname",
    "gethostbyname2",
    "gethostbyname_r",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "WSAStartup",
    "WSASocketW",
    "WSAConnect",
    "GetAddrInfoW",
];

/// Process symbols (exec, fork, spawn, shells).
const PROCESS: &[&str] = &[
    "execve",
    "execv",
    "execvp",
    "execvpe",
    "execl",
    "execlp",
    "execle",
    "fexecve",
    "execveat",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "posix_spawn",
    "posix_spawnp",
    "system",
    "popen",
    "CreateProcessW",
    "CreateProcessA",
    "ShellExecuteW",
];

/// Filesystem symbols (opening, creating, removing, renaming).
const FILESYSTEM: &[&str] = &[
    "open",
    "open64",
    "openat",
    "openat64",
    "creat",
    "creat64",
    "fopen",
    "fopen64",
    "freopen",
    "freopen64",
    "unlink",
    "unlinkat",
    "remove",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "opendir",
    "fdopendir",
    "truncate",
    "truncate64",
    "chmod",
    "fchmodat",
    "chown",
    "lchown",
    "fchownat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "CreateFileW",
    "CreateFileA",
    "DeleteFileW",
    "MoveFileExW",
];

/// Dynamic-loading symbols.
const DYNAMIC_LOADING: &[&str] = &[
    "dlopen",
    "dlmopen",
    "LoadLibraryW",
    "LoadLibraryA",
    "LoadLibraryExW",
];

/// The road `symbol` opens, if any.
pub fn classify(symbol: &str) -> Option<Road> {
    Road::ALL
        .into_iter()
        .find(|road| road.symbols().contains(&symbol))
}

/// Whether `symbol` is imported by every Rust cdylib for `target` (a Rust
/// target triple) for std's own runtime, and so never a mismatch.
pub fn is_std_runtime(target: &str, symbol: &str) -> bool {
    if target.contains("windows") {
        // std opens files for nothing of its own on Windows that we have
        // measured; keep the baseline empty rather than guessed.
        return false;
    }
    if target.contains("linux-gnu") {
        symbol == "open64"
    } else {
        symbol == "open"
    }
}

/// What [`is_std_runtime`] needs to know of the platform this crate is
/// built for, in place of its full target triple (which std does not
/// give at run time): the host's libraries are of that platform.
pub const HOST_TARGET: &str = if cfg!(windows) {
    "windows"
} else if cfg!(all(target_os = "linux", target_env = "gnu")) {
    "linux-gnu"
} else {
    "unix"
};

/// One road a library's imports open that its manifest does not declare:
/// a scan mismatch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Undeclared {
    /// The road.
    pub road: Road,
    /// The imports on it (outside std's runtime), sorted, each once.
    pub symbols: Vec<String>,
}

impl fmt::Display for Undeclared {
    /// `connect, socket (network) without declaring network`, or for
    /// dynamic loading `dlopen (dynamic loading), which no manifest can
    /// declare`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.symbols.join(", "), self.road)?;
        match self.road.declared_by() {
            Some(kind) => write!(f, " without declaring {}", kind.as_str()),
            None => f.write_str(", which no manifest can declare"),
        }
    }
}

/// The roads that `symbols`, the dynamic symbols a library for `target`
/// imports (names without version or Mach-O underscore), open and that
/// `manifest` does not declare, by road, each with its symbols sorted.
/// Std's runtime imports ([`is_std_runtime`]) and symbols on no road are
/// left out; an empty answer means no mismatch.
pub fn undeclared<'a>(
    manifest: &Manifest,
    target: &str,
    symbols: impl IntoIterator<Item = &'a str>,
) -> Vec<Undeclared> {
    let declared: BTreeSet<Kind> = manifest.capabilities.iter().map(|c| c.kind()).collect();
    let mut by_road: BTreeMap<Road, BTreeSet<&str>> = BTreeMap::new();
    for symbol in symbols {
        let Some(road) = classify(symbol) else {
            continue;
        };
        if is_std_runtime(target, symbol)
            || road.declared_by().is_some_and(|k| declared.contains(&k))
        {
            continue;
        }
        by_road.entry(road).or_default().insert(symbol);
    }
    by_road
        .into_iter()
        .map(|(road, symbols)| Undeclared {
            road,
            symbols: symbols.into_iter().map(str::to_owned).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(capabilities: &str) -> Manifest {
        Manifest::from_json(&format!(
            r#"{{"manifest_version": "2", "id": "acme.roads", "version": "1.0.0", "api": "^0.1",
                "capabilities": [{capabilities}]}}"#
        ))
        .expect("a valid manifest")
    }

    const GNU: &str = "x86_64-unknown-linux-gnu";

    #[test]
    fn every_symbol_is_on_one_road() {
        for road in Road::ALL {
            for symbol in road.symbols() {
                assert_eq!(classify(symbol), Some(road), "{symbol}");
            }
        }
        assert_eq!(classify("malloc"), None);
        assert_eq!(classify("connect"), Some(Road::Network));
        assert_eq!(classify("posix_spawnp"), Some(Road::Process));
        assert_eq!(classify("openat"), Some(Road::Filesystem));
        assert_eq!(classify("dlopen"), Some(Road::DynamicLoading));
    }

    #[test]
    fn undeclared_roads_are_the_imports_the_manifest_does_not_cover() {
        let imports = [
            "malloc", "open64", "connect", "socket", "connect", "execve", "openat", "dlopen",
        ];
        let none = undeclared(&manifest(""), GNU, imports);
        assert_eq!(
            none,
            [
                Undeclared {
                    road: Road::Network,
                    symbols: vec!["connect".into(), "socket".into()],
                },
                Undeclared {
                    road: Road::Process,
                    symbols: vec!["execve".into()],
                },
                Undeclared {
                    road: Road::Filesystem,
                    symbols: vec!["openat".into()],
                },
                Undeclared {
                    road: Road::DynamicLoading,
                    symbols: vec!["dlopen".into()],
                },
            ]
        );
        assert_eq!(
            none.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "connect, socket (network) without declaring network",
                "execve (process) without declaring command",
                "openat (filesystem) without declaring file",
                "dlopen (dynamic loading), which no manifest can declare",
            ]
        );

        // Declaring network, command and file leaves only dynamic loading.
        let all = manifest(
            r#"{"kind": "network", "host": "example.com"},
               {"kind": "command", "argv": ["echo"]},
               {"kind": "file", "access": "read", "path": "data/*"}"#,
        );
        let left = undeclared(&all, GNU, imports);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].road, Road::DynamicLoading);
    }

    #[test]
    fn std_runtime_imports_are_no_mismatch() {
        let m = manifest("");
        // glibc: std's `open64`; elsewhere on Unix, `open`.
        assert!(undeclared(&m, GNU, ["open64", "malloc"]).is_empty());
        assert_eq!(undeclared(&m, GNU, ["open"]).len(), 1);
        assert!(undeclared(&m, "x86_64-unknown-linux-musl", ["open"]).is_empty());
        assert_eq!(
            undeclared(&m, "x86_64-unknown-linux-musl", ["open64"]).len(),
            1
        );
        // Windows: nothing is baseline.
        assert_eq!(undeclared(&m, "x86_64-pc-windows-msvc", ["open"]).len(), 1);
        // The host's own platform keeps its baseline.
        let baseline = if HOST_TARGET == "linux-gnu" {
            "open64"
        } else {
            "open"
        };
        assert_eq!(
            undeclared(&m, HOST_TARGET, [baseline]).is_empty(),
            HOST_TARGET != "windows"
        );
    }
}
