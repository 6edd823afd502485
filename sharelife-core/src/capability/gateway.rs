//! One plugin's compiled grants: manifest requests ∩ policy allows, minus
//! policy denies.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::limits::{Limiter, Refusal};
use super::pattern::{HostPattern, PathGlob, argv_has_prefix, is_internal};
use super::policy::selects;
use super::{Decision, Effect, Policy, PolicyError, Request, RuleRef};
#[cfg(feature = "pipeline")]
use crate::audit::RecordedRequest;
use crate::manifest::{Capability, FileAccess, Manifest, ProviderAccess};

pub use crate::manifest::Kind;

/// A capability compiled for matching.
#[derive(Debug)]
enum Scope {
    Net {
        host: HostPattern,
        ports: Vec<u16>,
    },
    File {
        access: FileAccess,
        root: PathBuf,
        glob: PathGlob,
    },
    Command {
        argv: Vec<String>,
    },
    Provider {
        name: String,
        access: ProviderAccess,
    },
    Mcp {
        server: String,
        tool: String,
        sha256: Option<String>,
    },
    Event {
        topic: String,
    },
}

impl Scope {
    fn compile(cap: &Capability, data_dir: &Path) -> Option<Scope> {
        Some(match cap {
            Capability::Network { host, ports } => Scope::Net {
                host: HostPattern::parse(host)?,
                ports: ports.clone(),
            },
            Capability::File { access, path } => {
                let (root, glob) = split_glob(path, data_dir)?;
                Scope::File {
                    access: *access,
                    root,
                    glob,
                }
            }
            Capability::Command { argv } => Scope::Command { argv: argv.clone() },
            Capability::Provider { name, access } => Scope::Provider {
                name: name.clone(),
                access: *access,
            },
            Capability::Mcp {
                server,
                tool,
                sha256,
            } => Scope::Mcp {
                server: server.clone(),
                tool: tool.clone(),
                sha256: sha256.clone(),
            },
            Capability::Event { topic } => Scope::Event {
                topic: topic.clone(),
            },
        })
    }

    /// The exact key this scope is indexed under, if any.
    fn key(&self) -> Option<&str> {
        match self {
            Scope::Net {
                host: HostPattern::Name(n),
                ..
            } => Some(n),
            Scope::Command { argv } => argv.first().map(String::as_str),
            Scope::Provider { name, .. } => Some(name),
            Scope::Mcp { server, .. } => Some(server),
            _ => None,
        }
    }

    /// Whether the scope covers the request. For connections, `by_name`
    /// selects name patterns and otherwise address patterns.
    fn covers(&self, req: &Request<'_>, by_name: bool) -> bool {
        match (self, req) {
            (Scope::Net { host, ports }, Request::Connect { name, ip, port }) => {
                (ports.is_empty() || ports.contains(port))
                    && if by_name {
                        name.is_some_and(|n| host.matches_name(n))
                    } else {
                        ip.is_some_and(|ip| host.matches_ip(ip))
                    }
            }
            (Scope::File { access, root, glob }, Request::File { access: a, path }) => {
                access == a
                    && path
                        .strip_prefix(root)
                        .ok()
                        .and_then(Path::to_str)
                        .is_some_and(|rel| glob.matches(rel))
            }
            (Scope::Command { argv }, Request::Command { argv: a }) => argv_has_prefix(a, argv),
            (Scope::Provider { name, access }, Request::Provider { name: n, access: a }) => {
                name == n && access == a
            }
            (
                Scope::Mcp { server, tool, .. },
                Request::Mcp {
                    server: s, tool: t, ..
                },
            ) => server == s && tool == t,
            (Scope::Event { topic }, Request::Publish { topic: t }) => {
                crate::manifest::topic_matches(topic, t)
            }
            _ => false,
        }
    }

    /// A deny scope covers a connection by name *or* by address.
    fn covers_any(&self, req: &Request<'_>) -> bool {
        self.covers(req, true) || self.covers(req, false)
    }

    /// Whether this scope and `other` (same kind) can both cover some
    /// request; used to report ungranted manifest requests at load time.
    fn overlaps(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Net { host: a, ports: pa }, Scope::Net { host: b, ports: pb }) => {
                let ports = pa.is_empty() || pb.is_empty() || pa.iter().any(|p| pb.contains(p));
                ports && hosts_overlap(a, b)
            }
            (
                Scope::File {
                    access: a,
                    root: ra,
                    ..
                },
                Scope::File {
                    access: b,
                    root: rb,
                    ..
                },
            ) => a == b && (ra.starts_with(rb) || rb.starts_with(ra)),
            (Scope::Command { argv: a }, Scope::Command { argv: b }) => {
                argv_has_prefix(a, b) || argv_has_prefix(b, a)
            }
            (Scope::Provider { name: a, access: x }, Scope::Provider { name: b, access: y }) => {
                a == b && x == y
            }
            (
                Scope::Mcp {
                    server: a, tool: x, ..
                },
                Scope::Mcp {
                    server: b, tool: y, ..
                },
            ) => a == b && x == y,
            (Scope::Event { topic: a }, Scope::Event { topic: b }) => topics_overlap(a, b),
            _ => false,
        }
    }
}

/// Whether some topic matches both topic patterns.
fn topics_overlap(a: &str, b: &str) -> bool {
    match (a.strip_suffix('*'), b.strip_suffix('*')) {
        (Some(""), _) | (_, Some("")) => true,
        // Both `prefix.*`: one prefix lies under the other.
        (Some(x), Some(y)) => x.starts_with(y) || y.starts_with(x),
        (Some(_), None) => crate::manifest::topic_matches(a, b),
        (None, Some(_)) => crate::manifest::topic_matches(b, a),
        (None, None) => a == b,
    }
}

fn hosts_overlap(a: &HostPattern, b: &HostPattern) -> bool {
    use HostPattern::*;
    match (a, b) {
        (Name(x), other) | (other, Name(x)) if !other.is_address() => {
            other.matches_name(x) || matches!(other, Name(y) if x == y)
        }
        (Below(x), Below(y)) => {
            x == y || Below(y.clone()).matches_name(x) || Below(x.clone()).matches_name(y)
        }
        (Ip(ip), other) | (other, Ip(ip)) => other.matches_ip(*ip),
        (Cidr(n), Cidr(m)) => n.contains(&m.network()) || m.contains(&n.network()),
        _ => false,
    }
}

/// Splits a file capability into its literal root and the glob below it,
/// compiled here, once per gateway; a relative root is under the plugin's
/// data directory. `None` for a glob too large to compile.
fn split_glob(path: &str, data_dir: &Path) -> Option<(PathBuf, PathGlob)> {
    let mut root = PathBuf::new();
    let mut rest = Vec::new();
    for (i, part) in path.split('/').enumerate() {
        if rest.is_empty() && !part.contains(['*', '?', '[']) {
            if i == 0 && part.is_empty() {
                root.push("/");
            } else if !part.is_empty() {
                root.push(part);
            }
        } else {
            rest.push(part);
        }
    }
    let root = if root.is_absolute() {
        root
    } else {
        data_dir.join(root)
    };
    let root = normalize_lexically(&root);
    // Resolve symlinks in the root itself (e.g. /tmp -> /private/tmp), so
    // that canonical request paths compare against a canonical root.
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    Some((root, PathGlob::try_new(&rest.join("/"))?))
}

/// The request a capability's literal scope makes (a name below a
/// `*.suffix` pattern, the first address of a block, the first port, a
/// path relative to `data_dir`); `None` where there is no single such
/// request (an unpinned MCP tool, a topic pattern). Pipelines decide a
/// step by asking the gateway about it.
#[cfg(feature = "pipeline")]
pub(crate) fn representative(cap: &Capability, data_dir: &Path) -> Option<RecordedRequest> {
    Some(match cap {
        Capability::Network { host, ports } => {
            let port = ports.first().copied().unwrap_or(443);
            let (name, ip) = match HostPattern::parse(host)? {
                HostPattern::Ip(ip) => (None, Some(ip)),
                HostPattern::Cidr(net) => (None, Some(net.network())),
                HostPattern::Name(name) => (Some(name), None),
                HostPattern::Below(suffix) => (Some(format!("any.{suffix}")), None),
            };
            RecordedRequest::Connect { name, ip, port }
        }
        Capability::File { access, path } => {
            let p = Path::new(path);
            let full = if p.is_absolute() {
                p.to_owned()
            } else {
                data_dir.join(p)
            };
            RecordedRequest::File {
                access: *access,
                path: normalize_lexically(&full),
            }
        }
        Capability::Command { argv } => RecordedRequest::Command { argv: argv.clone() },
        Capability::Provider { name, access } => RecordedRequest::Provider {
            name: name.clone(),
            access: *access,
        },
        Capability::Mcp {
            server,
            tool,
            sha256: Some(sha),
        } => RecordedRequest::Mcp {
            server: server.clone(),
            tool: tool.clone(),
            definition_sha256: sha.clone(),
        },
        Capability::Mcp { sha256: None, .. } => return None,
        Capability::Event { topic } if !topic.ends_with('*') => RecordedRequest::Publish {
            topic: topic.clone(),
        },
        Capability::Event { .. } => return None,
    })
}

/// Removes `.` and resolves `..` without touching the file system.
pub(crate) fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Scopes of one kind and one list (requested, allowed or denied); those
/// indexed by an exact key are found through [`KindRules::keyed`].
#[derive(Debug, Default)]
struct Indexed {
    entries: Vec<(Scope, usize)>,
    unkeyed: Vec<u32>,
}

impl Indexed {
    /// Adds a scope; its position, for the key index.
    fn push(&mut self, scope: Scope, rule: usize) -> u32 {
        let at = u32::try_from(self.entries.len()).expect("fewer than 2^32 rules");
        if scope.key().is_none() {
            self.unkeyed.push(at);
        }
        self.entries.push((scope, rule));
        at
    }

    /// The lowest rule index among scopes covering `req`, looking at the
    /// scopes `keyed` (those indexed under the request's key) and every
    /// unkeyed one.
    #[inline]
    fn first(&self, keyed: &[u32], covers: impl Fn(&Scope) -> bool) -> Option<(usize, &Scope)> {
        let mut best: Option<(usize, &Scope)> = None;
        for &i in keyed.iter().chain(&self.unkeyed) {
            let Some((scope, rule)) = self.entries.get(i as usize) else {
                continue;
            };
            if best.is_none_or(|(b, _)| *rule < b) && covers(scope) {
                best = Some((*rule, scope));
            }
        }
        best
    }

    fn iter(&self) -> impl Iterator<Item = &(Scope, usize)> {
        self.entries.iter()
    }
}

/// Positions of the scopes indexed under one key, per list.
#[derive(Debug, Default)]
struct Keyed {
    requested: Vec<u32>,
    allow: Vec<u32>,
    deny: Vec<u32>,
}

static NO_KEYED: Keyed = Keyed {
    requested: Vec::new(),
    allow: Vec::new(),
    deny: Vec::new(),
};

#[derive(Debug, Clone, Copy)]
enum List {
    Requested,
    Allow,
    Deny,
}

/// The rules of one kind. Scopes with an exact key (a host name, a
/// program, a provider, an MCP server) are indexed in one map for the
/// three lists, so a decision hashes its key once.
#[derive(Debug, Default)]
struct KindRules {
    requested: Indexed,
    allow: Indexed,
    deny: Indexed,
    by_key: HashMap<Box<str>, Keyed, BuildHasherDefault<KeyHasher>>,
}

impl KindRules {
    fn push(&mut self, list: List, scope: Scope, rule: usize) {
        let key: Option<Box<str>> = scope.key().map(Into::into);
        let (indexed, positions): (_, fn(&mut Keyed) -> &mut Vec<u32>) = match list {
            List::Requested => (&mut self.requested, |k| &mut k.requested),
            List::Allow => (&mut self.allow, |k| &mut k.allow),
            List::Deny => (&mut self.deny, |k| &mut k.deny),
        };
        let at = indexed.push(scope, rule);
        if let Some(key) = key {
            positions(self.by_key.entry(key).or_default()).push(at);
        }
    }

    /// The scopes indexed under `req`'s key.
    #[inline]
    fn keyed(&self, req: &Request<'_>) -> &Keyed {
        if self.by_key.is_empty() {
            return &NO_KEYED;
        }
        request_key(req)
            .and_then(|k| self.by_key.get(k))
            .unwrap_or(&NO_KEYED)
    }
}

/// The key a request is looked up by (see [`Scope::key`]).
#[inline]
fn request_key<'r>(req: &Request<'r>) -> Option<&'r str> {
    match req {
        Request::Connect { name, .. } => *name,
        Request::Command { argv } => argv.first().map(String::as_str),
        Request::Provider { name, .. } => Some(name),
        Request::Mcp { server, .. } => Some(server),
        Request::File { .. } | Request::Publish { .. } => None,
    }
}

/// A multiply-rotate hash (the `FxHash` recipe) for the key index: a few
/// ns for a host name where SipHash takes ~20. Flooding resistance is not
/// needed here: the table's keys come from the host's policy and the
/// plugin's manifest, and a plugin choosing lookup keys cannot make the
/// probe sequences of a table it did not fill any longer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.add(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak; the table indexes by them.
        self.0.rotate_left(26)
    }
}

/// A map keyed by names with [`KeyHasher`].
#[cfg(feature = "host")]
pub(crate) type KeyMap<V> = HashMap<String, V, BuildHasherDefault<KeyHasher>>;

/// The grants of one plugin, compiled from its manifest and the host
/// policy. Cheap to query from many threads.
#[derive(Debug)]
pub struct Gateway {
    plugin: String,
    version: String,
    /// Bit `k` set when kind `k` has at least one requested-and-allowed
    /// rule: the category-level fast path.
    granted_kinds: u8,
    kinds: [KindRules; Kind::ALL.len()],
    /// The limiters of limited allow rules, by rule index, sorted.
    limiters: Vec<(usize, Limiter)>,
    ungranted: Vec<Capability>,
}

impl Gateway {
    /// Compiles the grants of the plugin described by `manifest`, whose
    /// relative file paths are under `data_dir`.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] when any rule of `policy` does not compile (checked
    /// for every rule, not only those selecting this plugin): a rule is
    /// never skipped.
    pub fn compile(
        manifest: &Manifest,
        policy: &Policy,
        data_dir: &Path,
    ) -> Result<Gateway, PolicyError> {
        policy.validate()?;
        let mut kinds: [KindRules; Kind::ALL.len()] = Default::default();
        for cap in &manifest.capabilities {
            // A validated manifest's scopes compile; one that does not is
            // dropped from the *requests*, which can only deny more.
            if let Some(scope) = Scope::compile(cap, data_dir) {
                kinds[cap.kind() as usize].push(List::Requested, scope, usize::MAX);
            }
        }
        let mut limiters = Vec::new();
        for (i, rule) in policy
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| selects(&r.plugin, manifest.id.as_str()))
        {
            let Some(scope) = Scope::compile(&rule.capability, data_dir) else {
                // `validate` accepted it, so its scope parses; should the
                // two ever disagree, refuse rather than skip the rule.
                return Err(PolicyError {
                    problems: vec![super::RuleProblem {
                        index: i,
                        field: "capability".to_owned(),
                        message: "does not compile".to_owned(),
                    }],
                });
            };
            let rules = &mut kinds[rule.capability.kind() as usize];
            match rule.effect {
                Effect::Allow => {
                    if !rule.limits.is_unlimited() {
                        limiters.push((i, Limiter::new(rule.limits.clone())));
                    }
                    rules.push(List::Allow, scope, i);
                }
                Effect::Deny => rules.push(List::Deny, scope, i),
            }
        }
        let mut granted_kinds = 0u8;
        let mut ungranted = Vec::new();
        for (k, rules) in kinds.iter().enumerate() {
            for (requested, _) in rules.requested.iter() {
                if rules
                    .allow
                    .iter()
                    .any(|(allowed, _)| requested.overlaps(allowed))
                {
                    granted_kinds |= 1 << k;
                }
            }
        }
        for cap in &manifest.capabilities {
            let rules = &kinds[cap.kind() as usize];
            let granted = Scope::compile(cap, data_dir)
                .is_some_and(|s| rules.allow.iter().any(|(allowed, _)| s.overlaps(allowed)));
            if !granted {
                ungranted.push(cap.clone());
            }
        }
        Ok(Gateway {
            plugin: manifest.id.to_string(),
            version: manifest.version.to_string(),
            granted_kinds,
            kinds,
            limiters,
            ungranted,
        })
    }

    /// A gateway that grants `manifest`'s plugin nothing: every request is
    /// denied (`NoGrantOfKind`). What a caller falls back to when the
    /// policy does not compile: fail closed.
    pub fn deny_all(manifest: &Manifest) -> Gateway {
        Gateway {
            plugin: manifest.id.to_string(),
            version: manifest.version.to_string(),
            granted_kinds: 0,
            kinds: Default::default(),
            limiters: Vec::new(),
            ungranted: manifest.capabilities.clone(),
        }
    }

    /// The plugin this gateway serves.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// That plugin's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Manifest requests that no allow rule grants (reported at load time).
    pub fn ungranted(&self) -> &[Capability] {
        &self.ungranted
    }

    /// Whether the plugin holds any grant of `kind`.
    #[inline]
    pub fn grants_kind(&self, kind: Kind) -> bool {
        self.granted_kinds & (1 << kind as u8) != 0
    }

    /// Decides `req` without consuming any rate limit or budget.
    ///
    /// The category test (does the plugin hold any grant of the kind?) is
    /// inlined into the caller; the scoped decision is not.
    #[inline(always)]
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let kind = req.kind();
        if !self.grants_kind(kind) {
            return Decision::deny(RuleRef::NoGrantOfKind);
        }
        self.decide_scoped(req, kind)
    }

    /// Decides `req`, of a kind the plugin holds some grant of.
    #[inline(never)]
    fn decide_scoped(&self, req: &Request<'_>, kind: Kind) -> Decision {
        let rules = &self.kinds[kind as usize];
        let keyed = rules.keyed(req);
        if let Some((i, _)) = rules.deny.first(&keyed.deny, |s| s.covers_any(req)) {
            return Decision::deny(RuleRef::Deny(i));
        }
        match req {
            Request::Connect { name, ip, .. } => {
                Self::decide_connect(rules, keyed, req, *name, *ip)
            }
            Request::Mcp {
                definition_sha256, ..
            } => {
                if rules
                    .requested
                    .first(&keyed.requested, |s| {
                        s.covers(req, true) && pin_matches(s, definition_sha256)
                    })
                    .is_none()
                {
                    return Decision::deny(RuleRef::NotRequested);
                }
                match rules.allow.first(&keyed.allow, |s| s.covers(req, true)) {
                    Some((i, scope)) if !pin_matches(scope, definition_sha256) => {
                        Decision::deny(RuleRef::DefinitionChanged(i))
                    }
                    Some((i, _)) => Decision {
                        allowed: true,
                        rule: RuleRef::Allow(i),
                    },
                    None => Decision::deny(RuleRef::NotGranted),
                }
            }
            _ => {
                if rules
                    .requested
                    .first(&keyed.requested, |s| s.covers(req, true))
                    .is_none()
                {
                    return Decision::deny(RuleRef::NotRequested);
                }
                match rules.allow.first(&keyed.allow, |s| s.covers(req, true)) {
                    Some((i, _)) => Decision {
                        allowed: true,
                        rule: RuleRef::Allow(i),
                    },
                    None => Decision::deny(RuleRef::NotGranted),
                }
            }
        }
    }

    /// A name needs a name grant (manifest and policy); each address it
    /// resolves to must then be public or address-granted. An address
    /// literal needs an address grant.
    fn decide_connect(
        rules: &KindRules,
        keyed: &Keyed,
        req: &Request<'_>,
        name: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Decision {
        let by_address = || {
            let requested = rules
                .requested
                .first(&keyed.requested, |s| s.covers(req, false))
                .is_some();
            (
                requested,
                rules
                    .allow
                    .first(&keyed.allow, |s| s.covers(req, false))
                    .map(|(i, _)| i),
            )
        };
        if name.is_none() {
            return match by_address() {
                (true, Some(i)) => Decision {
                    allowed: true,
                    rule: RuleRef::Allow(i),
                },
                (true, None) => Decision::deny(RuleRef::NotGranted),
                (false, _) => Decision::deny(RuleRef::NotRequested),
            };
        }
        if rules
            .requested
            .first(&keyed.requested, |s| s.covers(req, true))
            .is_none()
        {
            return Decision::deny(RuleRef::NotRequested);
        }
        let Some((by_name, _)) = rules.allow.first(&keyed.allow, |s| s.covers(req, true)) else {
            return Decision::deny(RuleRef::NotGranted);
        };
        match ip {
            Some(ip) if is_internal(ip) => match by_address() {
                (true, Some(i)) => Decision {
                    allowed: true,
                    rule: RuleRef::Allow(i),
                },
                _ => Decision::deny(RuleRef::InternalAddress),
            },
            _ => Decision {
                allowed: true,
                rule: RuleRef::Allow(by_name),
            },
        }
    }

    /// Decides `req` and, when allowed, takes one call from the deciding
    /// rule's rate limit and budget.
    #[inline]
    pub fn check(&self, req: &Request<'_>) -> Decision {
        let decision = self.decide(req);
        match decision.rule {
            RuleRef::Allow(i) => match self.limiter(i).map(Limiter::acquire) {
                Some(Err(Refusal::Rate)) => Decision::deny(RuleRef::RateLimited(i)),
                Some(Err(Refusal::Budget)) => Decision::deny(RuleRef::BudgetExhausted(i)),
                _ => decision,
            },
            _ => decision,
        }
    }

    /// The limiter of allow rule `i`, if it is limited.
    #[inline]
    fn limiter(&self, i: usize) -> Option<&Limiter> {
        if self.limiters.is_empty() {
            return None;
        }
        self.limiters
            .binary_search_by_key(&i, |(rule, _)| *rule)
            .ok()
            .map(|at| &self.limiters[at].1)
    }

    /// Charges `bytes` to the byte budget of the rule that allowed a call.
    pub fn charge_bytes(&self, allowed_by: RuleRef, bytes: u64) -> Decision {
        match allowed_by {
            RuleRef::Allow(i) => match self.limiter(i).map(|l| l.charge_bytes(bytes)) {
                Some(Err(_)) => Decision::deny(RuleRef::BudgetExhausted(i)),
                _ => Decision {
                    allowed: true,
                    rule: allowed_by,
                },
            },
            other => Decision::deny(other),
        }
    }

    /// The root directory of the file rule `rule` (for acting through a
    /// handle rooted there).
    pub fn file_root(&self, rule: RuleRef) -> Option<&Path> {
        let RuleRef::Allow(i) = rule else { return None };
        self.kinds[Kind::File as usize]
            .allow
            .iter()
            .find_map(|(scope, r)| match scope {
                Scope::File { root, .. } if *r == i => Some(root.as_path()),
                _ => None,
            })
    }

    /// The index of the allowing rule when it has a byte budget: what it
    /// grants must be metered byte by byte.
    pub fn meters_bytes(&self, allowed_by: RuleRef) -> Option<usize> {
        match allowed_by {
            RuleRef::Allow(i) => self
                .limiter(i)
                .is_some_and(Limiter::meters_bytes)
                .then_some(i),
            _ => None,
        }
    }

    /// The longest a call allowed by `rule` may take, if limited.
    pub fn max_call_time(&self, allowed_by: RuleRef) -> Option<Duration> {
        match allowed_by {
            RuleRef::Allow(i) => self.limiter(i).and_then(Limiter::max_call_time),
            _ => None,
        }
    }
}

fn pin_matches(scope: &Scope, sha: &str) -> bool {
    match scope {
        Scope::Mcp {
            sha256: Some(pin), ..
        } => pin == sha,
        _ => true,
    }
}
