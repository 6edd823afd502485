//! The capability gateway: the only sanctioned road from a plugin to the
//! outside world.
//!
//! A plugin *requests* capabilities in its manifest; the host *grants* them
//! with a [`Policy`]; the [`Gateway`] compiled for one plugin allows a
//! request only if the manifest requested it **and** an allow rule grants
//! it **and** no deny rule matches it. No grant means deny. Every decision
//! names the rule that made it, and the services that ask the gateway write
//! each decision to the audit log.
//!
//! Network grants are scoped by name and by address: a name grant
//! (`api.example.com`, `*.example.com`) covers only public addresses the
//! name resolves to; loopback and internal addresses need an explicit
//! address grant (`127.0.0.1`, `10.0.0.0/8`). File grants are a root plus
//! globs, checked after symlinks and `..` are resolved. Command grants are
//! argv prefixes; there is never a shell.
//!
//! A native plugin runs in the host's process: it *can* bypass these
//! services with raw `std` calls. The gateway governs the sanctioned road;
//! only the sandbox tier (a later issue) closes the others.
#![forbid(unsafe_code)]

#[cfg(feature = "host")]
pub(crate) mod declared;
mod gateway;
mod limits;
pub mod pattern;
mod policy;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

#[cfg(feature = "host")]
pub(crate) use self::gateway::KeyMap;
#[cfg(feature = "host")]
pub(crate) use self::gateway::normalize_lexically;
#[cfg(feature = "pipeline")]
pub(crate) use self::gateway::representative;
pub use self::gateway::{Gateway, Kind};
pub use self::policy::{Effect, Limits, Policy, PolicyError, Rule, RuleProblem, Ungranted};
use crate::manifest::{FileAccess, ProviderAccess};

/// A normalized request for one use of a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Connecting to `port` on `name` and/or `ip`.
    ///
    /// A request by name is decided twice: before resolution with `ip:
    /// None` (is the name granted at all? — no DNS query for names the
    /// plugin may not reach), then once per resolved address.
    Connect {
        /// The host name the plugin asked for, normalized; `None` for an
        /// address literal.
        name: Option<&'a str>,
        /// The address connected to; `None` before resolution.
        ip: Option<IpAddr>,
        /// The port.
        port: u16,
    },
    /// Reading or writing a file (absolute, with symlinks and `..`
    /// resolved).
    File {
        /// Read or write.
        access: FileAccess,
        /// The resolved path.
        path: &'a Path,
    },
    /// Running a program.
    Command {
        /// The full argv.
        argv: &'a [String],
    },
    /// Using a provider.
    Provider {
        /// The provider's name.
        name: &'a str,
        /// What is done with it.
        access: ProviderAccess,
    },
    /// Calling an MCP tool whose current definition hashes to
    /// `definition_sha256`.
    Mcp {
        /// The server.
        server: &'a str,
        /// The tool.
        tool: &'a str,
        /// Lowercase hex SHA-256 of the tool's current definition.
        definition_sha256: &'a str,
    },
    /// Publishing an event on a topic.
    Publish {
        /// The topic.
        topic: &'a str,
    },
}

impl Request<'_> {
    /// The capability kind.
    pub fn kind(&self) -> Kind {
        match self {
            Request::Connect { .. } => Kind::Network,
            Request::File { .. } => Kind::File,
            Request::Command { .. } => Kind::Command,
            Request::Provider { .. } => Kind::Provider,
            Request::Mcp { .. } => Kind::Mcp,
            Request::Publish { .. } => Kind::Event,
        }
    }

    /// The coarse class, as handlers declare what they use.
    pub fn class(&self) -> crate::manifest::CapabilityClass {
        let access = match self {
            Request::File { access, .. } => Some(*access),
            _ => None,
        };
        crate::manifest::CapabilityClass::of(self.kind(), access)
    }
}

impl fmt::Display for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Connect {
                name: Some(n),
                ip: Some(ip),
                port,
            } => write!(f, "connect {n}:{port} ({ip})"),
            Request::Connect {
                name: Some(n),
                ip: None,
                port,
            } => write!(f, "connect {n}:{port}"),
            Request::Connect {
                name: None,
                ip: Some(ip @ IpAddr::V6(_)),
                port,
            } => write!(f, "connect [{ip}]:{port}"),
            Request::Connect {
                name: None,
                ip: Some(ip),
                port,
            } => write!(f, "connect {ip}:{port}"),
            Request::Connect {
                name: None,
                ip: None,
                port,
            } => write!(f, "connect <nothing>:{port}"),
            Request::File { access, path } => {
                write!(f, "{} {}", access_name(*access), path.display())
            }
            Request::Command { argv } => write!(f, "exec {argv:?}"),
            Request::Provider { name, access } => write!(f, "provider {name} {access:?}"),
            Request::Mcp {
                server,
                tool,
                definition_sha256,
            } => {
                write!(
                    f,
                    "mcp {server}/{tool} (definition {})",
                    &definition_sha256[..definition_sha256.len().min(12)]
                )
            }
            Request::Publish { topic } => write!(f, "publish {topic}"),
        }
    }
}

fn access_name(access: FileAccess) -> &'static str {
    match access {
        FileAccess::Read => "read",
        FileAccess::Write => "write",
    }
}

/// The rule a decision rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleRef {
    /// Allowed by `policy.rules[i]`.
    Allow(usize),
    /// Denied by `policy.rules[i]`.
    Deny(usize),
    /// The plugin holds no grant of this kind at all.
    NoGrantOfKind,
    /// The plugin's manifest did not request this.
    NotRequested,
    /// Requested, but no allow rule grants it.
    NotGranted,
    /// A name grant matched, but the name resolved to a loopback or
    /// internal address, which needs an address grant.
    InternalAddress,
    /// `policy.rules[i]` pins an MCP tool definition that has changed.
    DefinitionChanged(usize),
    /// `policy.rules[i]`'s rate limit was exceeded.
    RateLimited(usize),
    /// `policy.rules[i]`'s budget (calls or bytes per window) is spent.
    BudgetExhausted(usize),
    /// `policy.rules[i]` meters bytes, and a raw stream could not be
    /// metered: a connection under a byte budget goes through `http()`.
    Unmetered(usize),
    /// The plugin version these services belong to was unloaded or
    /// replaced: its contexts are revoked.
    Revoked,
    /// The handler running on this thread declared the capability classes
    /// it uses (`#[handler(uses(..))]`), and this is not one of them.
    Undeclared,
    /// The request is not well formed (an empty path, a host that is not
    /// a host name, a URL that is not http); refused before any rule.
    Malformed,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleRef::Allow(i) => write!(f, "policy.rules[{i}] (allow)"),
            RuleRef::Deny(i) => write!(f, "policy.rules[{i}] (deny)"),
            RuleRef::NoGrantOfKind => f.write_str("default deny: no grant of this kind"),
            RuleRef::NotRequested => f.write_str("manifest: not requested"),
            RuleRef::NotGranted => f.write_str("default deny: requested but no allow rule matches"),
            RuleRef::InternalAddress => f.write_str("name grant does not cover internal address"),
            RuleRef::DefinitionChanged(i) => write!(
                f,
                "policy.rules[{i}]: MCP tool definition changed; re-approve"
            ),
            RuleRef::RateLimited(i) => write!(f, "policy.rules[{i}]: rate limit"),
            RuleRef::BudgetExhausted(i) => write!(f, "policy.rules[{i}]: budget exhausted"),
            RuleRef::Unmetered(i) => write!(
                f,
                "policy.rules[{i}]: has a byte budget, which a raw stream cannot be metered against (use http)"
            ),
            RuleRef::Revoked => f.write_str("revoked: the plugin version was unloaded or replaced"),
            RuleRef::Undeclared => {
                f.write_str("undeclared: the calling handler does not declare this class in `uses`")
            }
            RuleRef::Malformed => f.write_str("malformed request"),
        }
    }
}

/// A gateway decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The rule that decided.
    pub rule: RuleRef,
}

impl Decision {
    pub(crate) const fn deny(rule: RuleRef) -> Self {
        Decision {
            allowed: false,
            rule,
        }
    }
}
