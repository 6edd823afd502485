//! The policy rules target.

use std::fmt::Display;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sharelife_core::capability::{Decision, Effect, Gateway, Policy, Request, RuleRef};
use sharelife_core::manifest::{Capability, FileAccess, Manifest, PluginId, ProviderAccess};

/// At most this many distinct capabilities are requested per input (the
/// decisions grow with their square).
const MAX_CAPABILITIES: usize = 12;

/// Fuzzes capability policies: the text is read as TOML and as JSON
/// ([`Policy`]); each policy that parses round-trips through JSON, is
/// compiled into [`Gateway`]s for plugins its rules name (requesting
/// every capability the rules mention, and nothing), and each gateway
/// decides requests made from those capabilities — names, addresses
/// (loopback, private, IPv4-mapped), ports, paths, argvs. The decider
/// never panics; an allowed request rests on an allow rule of the policy;
/// [`Gateway::check`] allows no more than [`Gateway::decide`]; a plugin
/// that requests nothing is allowed nothing.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = toml::from_str::<Policy>(text) {
        exercise(&policy);
    }
    if let Ok(policy) = serde_json::from_str::<Policy>(text) {
        exercise(&policy);
    }
}

fn exercise(policy: &Policy) {
    round_trip(policy);

    let mut capabilities: Vec<Capability> = Vec::new();
    for rule in &policy.rules {
        if capabilities.len() < MAX_CAPABILITIES && !capabilities.contains(&rule.capability) {
            capabilities.push(rule.capability.clone());
        }
    }
    let mut ids: Vec<PluginId> = Vec::new();
    for rule in &policy.rules {
        if let Some(id) = plugin_named_by(&rule.plugin)
            && ids.len() < 2
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    let requests: Vec<Owned> = capabilities.iter().flat_map(requests_for).collect();

    for id in &ids {
        let data_dir = Path::new("/nonexistent/sharelife-fuzz/data").join(id.as_str());
        let mut manifest = Manifest::new(
            id.clone(),
            "1.0.0".parse().expect("a version"),
            "*".parse().expect("a range"),
        );
        if let Some(gateway) = Gateway::compile(&manifest, policy, &data_dir).into_gateway() {
            for request in &requests {
                let decision = gateway.decide(&request.as_request());
                assert!(
                    !decision.allowed,
                    "{id} requested nothing, yet {} is allowed by {}",
                    request.as_request(),
                    decision.rule
                );
            }
        }
        manifest.capabilities.clone_from(&capabilities);
        let Some(gateway) = Gateway::compile(&manifest, policy, &data_dir).into_gateway() else {
            continue;
        };
        let _ = gateway.ungranted().len();
        for request in &requests {
            let request = request.as_request();
            let _ = request.to_string();
            let decided = gateway.decide(&request);
            check_decision(policy, &request, decided);
            let checked = gateway.check(&request);
            check_decision(policy, &request, checked);
            assert!(
                decided.allowed || !checked.allowed,
                "check allowed what decide denied: {request}"
            );
            let _ = decided.rule.to_string();
            let _ = gateway.charge_bytes(checked.rule, 1 << 20);
            let _ = gateway.file_root(decided.rule);
            let _ = gateway.max_call_time(decided.rule);
        }
    }
}

fn check_decision(policy: &Policy, request: &Request<'_>, decision: Decision) {
    if decision.allowed {
        let RuleRef::Allow(i) = decision.rule else {
            panic!(
                "{request} is allowed by {}, not by an allow rule",
                decision.rule
            );
        };
        let rule = policy.rules.get(i).unwrap_or_else(|| {
            panic!("{request} is allowed by rule {i} of {}", policy.rules.len())
        });
        assert_eq!(rule.effect, Effect::Allow, "{request} allowed by rule {i}");
    }
}

/// `parse(json(p))` is a fixed point: serializing it again reads back the
/// same JSON (compared as text: NaN limits have no equality).
fn round_trip(policy: &Policy) {
    let Ok(json) = serde_json::to_string(policy) else {
        return;
    };
    let Ok(once) = serde_json::from_str::<Policy>(&json) else {
        // A limit that JSON cannot hold (NaN, infinity) serializes as null.
        return;
    };
    let json = serde_json::to_string(&once).expect("a read policy serializes");
    let twice: Policy = serde_json::from_str(&json).expect("its own JSON reads back");
    assert_eq!(
        serde_json::to_string(&twice).expect("serializes"),
        json,
        "policy JSON round trip"
    );
}

/// A plugin id the rule selector `plugin` selects, if any.
fn plugin_named_by(plugin: &str) -> Option<PluginId> {
    if plugin == "*" {
        return PluginId::new("fuzz.any").ok();
    }
    if let Some(prefix) = plugin.strip_suffix(".*") {
        return PluginId::new(format!("{prefix}.fuzz")).ok();
    }
    PluginId::new(plugin).ok()
}

/// A request with owned parts.
enum Owned {
    Connect(Option<String>, Option<IpAddr>, u16),
    File(FileAccess, PathBuf),
    Command(Vec<String>),
    Provider(String, ProviderAccess),
    Mcp(String, String, String),
    Publish(String),
}

impl Owned {
    fn as_request(&self) -> Request<'_> {
        match self {
            Owned::Connect(name, ip, port) => Request::Connect {
                name: name.as_deref(),
                ip: *ip,
                port: *port,
            },
            Owned::File(access, path) => Request::File {
                access: *access,
                path,
            },
            Owned::Command(argv) => Request::Command { argv },
            Owned::Provider(name, access) => Request::Provider {
                name,
                access: *access,
            },
            Owned::Mcp(server, tool, sha) => Request::Mcp {
                server,
                tool,
                definition_sha256: sha,
            },
            Owned::Publish(topic) => Request::Publish { topic },
        }
    }
}

/// Requests in, at the edge of and just outside what `capability` names.
fn requests_for(capability: &Capability) -> Vec<Owned> {
    let mut out = Vec::new();
    match capability {
        Capability::Network { host, ports } => {
            let mut names = vec![host.to_ascii_lowercase()];
            if let Some(suffix) = host.strip_prefix("*.") {
                names.push(format!("a.{suffix}"));
                names.push(suffix.to_owned());
            }
            let mut ips: Vec<IpAddr> = [
                "127.0.0.1",
                "10.1.2.3",
                "93.184.216.34",
                "::1",
                "::ffff:10.1.2.3",
                "2001:db8::1",
            ]
            .iter()
            .map(|ip| ip.parse().expect("an address"))
            .collect();
            if let Ok(ip) = host.split('/').next().unwrap_or(host).parse() {
                ips.push(ip);
            }
            let mut ports: Vec<u16> = ports.iter().copied().take(1).collect();
            ports.push(443);
            for &port in &ports {
                for name in &names {
                    out.push(Owned::Connect(Some(name.clone()), None, port));
                    for &ip in &ips {
                        out.push(Owned::Connect(Some(name.clone()), Some(ip), port));
                    }
                }
                for &ip in &ips {
                    out.push(Owned::Connect(None, Some(ip), port));
                }
            }
        }
        Capability::File { access, path } => {
            let filled = path.replace("**", "a/b").replace(['*', '?', '['], "x");
            for p in [path.as_str(), filled.as_str()] {
                let full = Path::new("/nonexistent/sharelife-fuzz/data/fuzz.any").join(p);
                out.push(Owned::File(*access, full.clone()));
                out.push(Owned::File(other_access(*access), full));
            }
        }
        Capability::Command { argv } => {
            out.push(Owned::Command(argv.clone()));
            let mut longer = argv.clone();
            longer.push("--fuzz".into());
            out.push(Owned::Command(longer));
            out.push(Owned::Command(
                argv.iter()
                    .take(argv.len().saturating_sub(1))
                    .cloned()
                    .collect(),
            ));
        }
        Capability::Provider { name, .. } => {
            for access in [
                ProviderAccess::Read,
                ProviderAccess::Write,
                ProviderAccess::Rotate,
            ] {
                out.push(Owned::Provider(name.clone(), access));
            }
        }
        Capability::Mcp {
            server,
            tool,
            sha256,
        } => {
            let pinned = sha256.clone().unwrap_or_default();
            out.push(Owned::Mcp(server.clone(), tool.clone(), pinned));
            out.push(Owned::Mcp(server.clone(), tool.clone(), "00".repeat(32)));
        }
        Capability::Event { topic } => {
            let name = topic.strip_suffix(".*").unwrap_or(topic);
            for t in [
                topic.replace('*', "x"),
                name.to_owned(),
                format!("{name}.a.b"),
                format!("{name}x"),
            ] {
                out.push(Owned::Publish(t));
            }
        }
    }
    out
}

fn other_access(access: FileAccess) -> FileAccess {
    match access {
        FileAccess::Read => FileAccess::Write,
        FileAccess::Write => FileAccess::Read,
    }
}

/// [`Gateway::compile`] returns a gateway, or a `Result` of one when a
/// malformed rule is an error: the target takes either.
trait IntoGateway {
    fn into_gateway(self) -> Option<Gateway>;
}

impl IntoGateway for Gateway {
    fn into_gateway(self) -> Option<Gateway> {
        Some(self)
    }
}

impl<E: Display> IntoGateway for Result<Gateway, E> {
    fn into_gateway(self) -> Option<Gateway> {
        self.map_err(|e| e.to_string()).ok()
    }
}
