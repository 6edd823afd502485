use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A capability a plugin asks the host for.
///
/// A manifest only *requests*; the host's policy *grants*, and the
/// effective permission is the intersection of the two. This type is the
/// shared vocabulary of both sides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Capability {
    /// Outbound network connections to `host` (a DNS name, `*.suffix`, an
    /// IP address or a CIDR block), optionally limited to `ports`.
    Network {
        /// The destination.
        host: String,
        /// Allowed ports; empty means any port.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ports: Vec<u16>,
    },
    /// Reading or writing files matching `path` (a root plus globs).
    File {
        /// Read or write.
        access: FileAccess,
        /// Path glob, e.g. `data/**/*.json`; relative paths are under the
        /// plugin's data dir.
        path: String,
    },
    /// Running a program whose argv starts with `argv` (never through a
    /// shell).
    Command {
        /// The program and its leading arguments.
        argv: Vec<String>,
    },
    /// Using a named model or service provider.
    Provider {
        /// The provider's name as the host registers it.
        name: String,
        /// What may be done with it.
        access: ProviderAccess,
    },
    /// Calling a tool of an MCP server, pinned to a hash of the tool's
    /// definition when `sha256` is given.
    Mcp {
        /// The server's name as the host registers it.
        server: String,
        /// The tool's name.
        tool: String,
        /// Lowercase hex SHA-256 of the tool definition approved.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    /// Publishing events on topics matching `topic`: a topic name
    /// (`orders.created`), a prefix ending in `.*` (`orders.*`: every topic
    /// under `orders.`) or `*` (every topic). See [`topic_matches`].
    Event {
        /// The topic pattern.
        topic: String,
    },
}

/// File access modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileAccess {
    /// Open, read and list.
    Read,
    /// Create, write and remove (implies nothing about reading).
    Write,
}

/// Provider access modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderAccess {
    /// Use the provider.
    Read,
    /// Change the provider's settings.
    Write,
    /// Rotate the provider's credentials.
    Rotate,
}

// An access mode sits inside an internally tagged `Capability`: serde's
// derived error ("unknown variant `raed`, expected `read` or `write`")
// names neither the key nor the kind, and reads like an unknown capability
// kind. These say which key holds the bad value and what it may be.
impl<'de> Deserialize<'de> for FileAccess {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        access(
            d,
            &[("read", FileAccess::Read), ("write", FileAccess::Write)],
        )
    }
}

impl<'de> Deserialize<'de> for ProviderAccess {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        access(
            d,
            &[
                ("read", ProviderAccess::Read),
                ("write", ProviderAccess::Write),
                ("rotate", ProviderAccess::Rotate),
            ],
        )
    }
}

/// An `access` value, one of `modes`; otherwise an error naming the key,
/// the value found and the values allowed.
fn access<'de, D: serde::Deserializer<'de>, T: Copy>(
    d: D,
    modes: &[(&'static str, T)],
) -> Result<T, D::Error> {
    struct Access<'m, T>(&'m [(&'static str, T)]);

    impl<T> Access<'_, T> {
        /// `` `read` or `write` ``.
        fn allowed(&self) -> String {
            let names: Vec<String> = self.0.iter().map(|(n, _)| format!("`{n}`")).collect();
            match names.split_last() {
                Some((last, rest)) if !rest.is_empty() => {
                    format!("{} or {last}", rest.join(", "))
                }
                _ => names.concat(),
            }
        }
    }

    impl<T: Copy> serde::de::Visitor<'_> for Access<'_, T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an `access` of {}", self.allowed())
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
            self.0
                .iter()
                .find(|(name, _)| *name == value)
                .map(|(_, mode)| *mode)
                .ok_or_else(|| {
                    E::custom(format!(
                        "`access` must be {}, found {value:?}",
                        self.allowed()
                    ))
                })
        }
    }

    d.deserialize_str(Access(modes))
}

/// How much harm a capability can do in the wrong hands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Reads within narrow scopes.
    Low,
    /// Writes, outbound network, tool calls.
    Medium,
    /// Running programs, reaching internal networks, rotating secrets.
    High,
}

impl std::fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        })
    }
}

/// The six capability kinds: the one list every room (manifest, macro,
/// gateway, audit records, pipelines, inspect) names kinds by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Kind {
    /// Outbound network.
    Network = 0,
    /// Files.
    File = 1,
    /// Running programs.
    Command = 2,
    /// Model and service providers.
    Provider = 3,
    /// MCP tools.
    Mcp = 4,
    /// Publishing events.
    Event = 5,
}

impl Kind {
    /// Every kind, in order.
    pub const ALL: [Kind; 6] = [
        Kind::Network,
        Kind::File,
        Kind::Command,
        Kind::Provider,
        Kind::Mcp,
        Kind::Event,
    ];

    /// The kind's name as in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::File => "file",
            Kind::Command => "command",
            Kind::Provider => "provider",
            Kind::Mcp => "mcp",
            Kind::Event => "event",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a capability kind; use one of network, file, command, provider, mcp, event"
                )
            })
    }
}

/// The seed's coarse capability classes, which pipelines list and the
/// registry's summaries use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CapabilityClass {
    /// Any outbound network request.
    #[serde(rename = "network.outbound")]
    NetworkOutbound,
    /// Any file read.
    #[serde(rename = "file.read")]
    FileRead,
    /// Any file write.
    #[serde(rename = "file.write")]
    FileWrite,
    /// Any command.
    #[serde(rename = "command.exec")]
    CommandExec,
    /// Any provider use.
    #[serde(rename = "provider.access")]
    ProviderAccess,
    /// Any MCP tool.
    #[serde(rename = "mcp.invoke")]
    McpInvoke,
    /// Any event publish.
    #[serde(rename = "event.publish")]
    EventPublish,
}

impl CapabilityClass {
    /// Every class name, as written in files.
    pub const NAMES: [&'static str; 7] = [
        "network.outbound",
        "file.read",
        "file.write",
        "command.exec",
        "provider.access",
        "mcp.invoke",
        "event.publish",
    ];

    /// The name as written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            CapabilityClass::NetworkOutbound => "network.outbound",
            CapabilityClass::FileRead => "file.read",
            CapabilityClass::FileWrite => "file.write",
            CapabilityClass::CommandExec => "command.exec",
            CapabilityClass::ProviderAccess => "provider.access",
            CapabilityClass::McpInvoke => "mcp.invoke",
            CapabilityClass::EventPublish => "event.publish",
        }
    }

    /// The class of a capability (or request) of `kind`; file access is
    /// split by `file_access` (read when not given).
    pub fn of(kind: Kind, file_access: Option<FileAccess>) -> CapabilityClass {
        match kind {
            Kind::Network => CapabilityClass::NetworkOutbound,
            Kind::File if file_access == Some(FileAccess::Write) => CapabilityClass::FileWrite,
            Kind::File => CapabilityClass::FileRead,
            Kind::Command => CapabilityClass::CommandExec,
            Kind::Provider => CapabilityClass::ProviderAccess,
            Kind::Mcp => CapabilityClass::McpInvoke,
            Kind::Event => CapabilityClass::EventPublish,
        }
    }

    /// Whether `capability` belongs to this class.
    pub fn covers(self, capability: &Capability) -> bool {
        capability.class() == self
    }
}

impl std::str::FromStr for CapabilityClass {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| ())
    }
}

impl std::fmt::Display for Capability {
    /// A capability in a few words, for messages and `sharelife inspect`:
    /// `network api.example.com ports [443]`, `file read "notes/*.txt"`,
    /// `command ["git", "status"]`, `mcp web/search pinned 3f2a…`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Capability::Network { host, ports } if ports.is_empty() => write!(f, "network {host}"),
            Capability::Network { host, ports } => write!(f, "network {host} ports {ports:?}"),
            Capability::File { access, path } => write!(
                f,
                "file {} {path:?}",
                match access {
                    FileAccess::Read => "read",
                    FileAccess::Write => "write",
                }
            ),
            Capability::Command { argv } => write!(f, "command {argv:?}"),
            Capability::Provider { name, access } => write!(
                f,
                "provider {name} {}",
                match access {
                    ProviderAccess::Read => "read",
                    ProviderAccess::Write => "write",
                    ProviderAccess::Rotate => "rotate",
                }
            ),
            Capability::Mcp {
                server,
                tool,
                sha256: Some(pin),
            } => write!(
                f,
                "mcp {server}/{tool} pinned {}",
                &pin[..pin.len().min(12)]
            ),
            Capability::Mcp { server, tool, .. } => write!(f, "mcp {server}/{tool}"),
            Capability::Event { topic } => write!(f, "event publish {topic:?}"),
        }
    }
}

impl Capability {
    /// The capability's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Capability::Network { .. } => Kind::Network,
            Capability::File { .. } => Kind::File,
            Capability::Command { .. } => Kind::Command,
            Capability::Provider { .. } => Kind::Provider,
            Capability::Mcp { .. } => Kind::Mcp,
            Capability::Event { .. } => Kind::Event,
        }
    }

    /// The capability in plain words for a user deciding whether to install
    /// the plugin (the market and `sharelife info` show these): "reads files
    /// under notes/*.txt", "writes files under out/", "runs `git status…`"
    /// (the program and its leading arguments; `…` stands for whatever
    /// arguments follow), "connects to api.example.com:443", "calls MCP
    /// tool search on server web", "uses the provider openai". A network
    /// destination that the one address classification calls internal says
    /// so ("(an internal address)").
    pub fn plain(&self) -> String {
        match self {
            Capability::Network { host, ports } => {
                let pattern = crate::address::HostPattern::parse(host);
                let target = match &pattern {
                    Some(crate::address::HostPattern::Below(suffix)) => {
                        format!("any host under {suffix}")
                    }
                    Some(crate::address::HostPattern::Cidr(net)) => {
                        format!("any address in {net}")
                    }
                    _ => host.clone(),
                };
                // An IPv6 address takes brackets before a port.
                let bracketed = if matches!(
                    pattern,
                    Some(crate::address::HostPattern::Ip(std::net::IpAddr::V6(_)))
                ) {
                    format!("[{host}]")
                } else {
                    target.clone()
                };
                let place = match ports.as_slice() {
                    [] => format!("{target} on any port"),
                    [port] if target == *host => format!("{bracketed}:{port}"),
                    [port] => format!("{target} on port {port}"),
                    many => format!(
                        "{target} on ports {}",
                        many.iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                let internal = if is_internal_host(host) {
                    " (an internal address)"
                } else {
                    ""
                };
                format!("connects to {place}{internal}")
            }
            Capability::File {
                access: FileAccess::Read,
                path,
            } => format!("reads files under {path}"),
            Capability::File {
                access: FileAccess::Write,
                path,
            } => format!("writes files under {path}"),
            Capability::Command { argv } => {
                let words: Vec<String> = argv
                    .iter()
                    .map(|a| {
                        if a.is_empty() || a.contains(char::is_whitespace) {
                            format!("'{a}'")
                        } else {
                            a.clone()
                        }
                    })
                    .collect();
                format!("runs `{}…`", words.join(" "))
            }
            Capability::Provider { name, access } => match access {
                ProviderAccess::Read => format!("uses the provider {name}"),
                ProviderAccess::Write => format!("changes the settings of the provider {name}"),
                ProviderAccess::Rotate => format!("rotates the credentials of the provider {name}"),
            },
            Capability::Mcp {
                server,
                tool,
                sha256,
            } => match sha256 {
                Some(pin) => format!(
                    "calls MCP tool {tool} on server {server} (only the definition {}…)",
                    &pin[..pin.len().min(12)]
                ),
                None => format!("calls MCP tool {tool} on server {server}"),
            },
            Capability::Event { topic } if topic == "*" => {
                "publishes events on any topic".to_owned()
            }
            Capability::Event { topic } => match topic.strip_suffix(".*") {
                Some(prefix) => format!("publishes events on topics under {prefix}."),
                None => format!("publishes events on {topic}"),
            },
        }
    }

    /// The coarse class the capability belongs to.
    pub fn class(&self) -> CapabilityClass {
        let access = match self {
            Capability::File { access, .. } => Some(*access),
            _ => None,
        };
        CapabilityClass::of(self.kind(), access)
    }

    /// The risk of this request.
    pub fn risk(&self) -> RiskLevel {
        match self {
            Capability::Network { host, .. } if is_internal_host(host) => RiskLevel::High,
            Capability::Network { .. } => RiskLevel::Medium,
            Capability::File {
                access: FileAccess::Read,
                ..
            } => RiskLevel::Low,
            Capability::File {
                access: FileAccess::Write,
                ..
            } => RiskLevel::Medium,
            Capability::Command { .. } => RiskLevel::High,
            Capability::Provider {
                access: ProviderAccess::Read,
                ..
            } => RiskLevel::Low,
            Capability::Provider {
                access: ProviderAccess::Write,
                ..
            } => RiskLevel::Medium,
            Capability::Provider {
                access: ProviderAccess::Rotate,
                ..
            } => RiskLevel::High,
            Capability::Mcp { .. } => RiskLevel::Medium,
            // Reaches only the host's own bus, whose subscribers chose
            // the topic; it cannot leave the process.
            Capability::Event { .. } => RiskLevel::Low,
        }
    }

    /// Every problem with the values, each with its path relative to
    /// `path` (e.g. `capabilities[2]` gives `capabilities[2].host`). The
    /// manifest and the host's policy rules are checked by this one
    /// function, so both accept exactly the same scopes.
    pub fn problems(&self, path: &str) -> Vec<crate::Problem> {
        let mut out = Vec::new();
        self.check(path, &mut out);
        out
    }

    /// Checks the values; each problem is reported relative to `path`.
    pub(crate) fn check(&self, path: &str, out: &mut Vec<crate::Problem>) {
        let mut bad = |field: &str, message: String| {
            out.push(crate::Problem::new(format!("{path}.{field}"), message));
        };
        match self {
            Capability::Network { host, ports } => {
                if !is_valid_host(host) {
                    bad(
                        "host",
                        format!(
                            "{host:?} is not a lowercase host name, `*.suffix`, IP address or CIDR block (ports go in `ports`)"
                        ),
                    );
                }
                if ports.contains(&0) {
                    bad("ports", "port 0 is not a destination port".to_owned());
                }
            }
            Capability::File { path: p, .. } => {
                if p.is_empty() {
                    bad("path", "the path must not be empty".to_owned());
                }
            }
            Capability::Command { argv } => match argv.first() {
                None => bad("argv", "name at least the program to run".to_owned()),
                Some(p) if p.is_empty() => {
                    bad("argv[0]", "the program must not be empty".to_owned())
                }
                Some(_) => {}
            },
            Capability::Provider { name, .. } => {
                if name.is_empty() {
                    bad("name", "the provider name must not be empty".to_owned());
                }
            }
            Capability::Mcp {
                server,
                tool,
                sha256,
            } => {
                if server.is_empty() {
                    bad("server", "the server name must not be empty".to_owned());
                }
                if tool.is_empty() {
                    bad("tool", "the tool name must not be empty".to_owned());
                }
                if let Some(h) = sha256
                    && (h.len() != 64
                        || !h
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
                {
                    bad("sha256", format!("{h:?} is not 64 lowercase hex digits"));
                }
            }
            Capability::Event { topic } => {
                if let Err(reason) = check_topic_pattern(topic) {
                    bad("topic", format!("{topic:?} {reason}"));
                }
            }
        }
    }
}

/// A destination pattern the one host grammar accepts.
fn is_valid_host(host: &str) -> bool {
    crate::address::HostPattern::parse(host).is_some()
}

/// Whether a network request can reach internal destinations, by the one
/// address classification the gateway uses.
fn is_internal_host(host: &str) -> bool {
    crate::address::HostPattern::parse(host).is_some_and(|p| p.is_internal())
}

/// Checks an event topic pattern: a topic name (see
/// [`check_topic`](crate::check_topic)), a topic name followed by `.*`, or
/// `*` alone.
///
/// # Errors
///
/// The rule the pattern breaks, worded to follow the quoted pattern.
pub fn check_topic_pattern(pattern: &str) -> Result<(), &'static str> {
    if pattern == "*" {
        return Ok(());
    }
    let name = pattern.strip_suffix(".*").unwrap_or(pattern);
    if name.contains('*') {
        return Err("is not a topic pattern: `*` may only stand alone or end the pattern as `.*`");
    }
    crate::check_topic(name)
}

/// Whether `topic` matches the topic `pattern`: equal to it; under it
/// when the pattern ends in `.*` (`orders.*` matches `orders.created` and
/// `orders.eu.created`, not `orders`); anything for `*`. Linear in the
/// pattern's length.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('.') => {
            topic.len() > prefix.len() && topic.starts_with(prefix)
        }
        _ => pattern == topic,
    }
}

#[cfg(test)]
mod topic_tests {
    use super::{check_topic_pattern, topic_matches};

    #[test]
    fn patterns() {
        assert!(topic_matches("orders.created", "orders.created"));
        assert!(!topic_matches("orders.created", "orders.created.eu"));
        assert!(topic_matches("orders.*", "orders.created"));
        assert!(topic_matches("orders.*", "orders.eu.created"));
        assert!(!topic_matches("orders.*", "orders"));
        assert!(!topic_matches("orders.*", "ordersx.created"));
        assert!(topic_matches("*", "anything"));
        assert!(check_topic_pattern("orders.*").is_ok());
        assert!(check_topic_pattern("*").is_ok());
        assert!(check_topic_pattern("orders*").is_err());
        assert!(check_topic_pattern("*.created").is_err());
        assert!(check_topic_pattern("").is_err());
    }
}

#[cfg(test)]
mod plain_tests {
    use super::{Capability, FileAccess, ProviderAccess};

    fn network(host: &str, ports: &[u16]) -> Capability {
        Capability::Network {
            host: host.to_owned(),
            ports: ports.to_vec(),
        }
    }

    #[test]
    fn network_destinations_in_plain_words() {
        assert_eq!(
            network("api.example.com", &[443]).plain(),
            "connects to api.example.com:443"
        );
        assert_eq!(
            network("api.example.com", &[]).plain(),
            "connects to api.example.com on any port"
        );
        assert_eq!(
            network("api.example.com", &[80, 443]).plain(),
            "connects to api.example.com on ports 80, 443"
        );
        assert_eq!(
            network("*.example.com", &[443]).plain(),
            "connects to any host under example.com on port 443"
        );
        assert_eq!(
            network("10.0.0.0/8", &[]).plain(),
            "connects to any address in 10.0.0.0/8 on any port (an internal address)"
        );
        assert_eq!(
            network("::1", &[8080]).plain(),
            "connects to [::1]:8080 (an internal address)"
        );
        assert_eq!(
            network("localhost", &[8080]).plain(),
            "connects to localhost:8080 (an internal address)"
        );
    }

    #[test]
    fn files_commands_providers_tools_and_events_in_plain_words() {
        let file = |access, path: &str| Capability::File {
            access,
            path: path.to_owned(),
        };
        assert_eq!(
            file(FileAccess::Read, "notes/*.txt").plain(),
            "reads files under notes/*.txt"
        );
        assert_eq!(
            file(FileAccess::Write, "out/").plain(),
            "writes files under out/"
        );
        let command = Capability::Command {
            argv: vec!["git".into(), "status".into()],
        };
        assert_eq!(command.plain(), "runs `git status…`");
        let spaced = Capability::Command {
            argv: vec!["grep".into(), "a b".into()],
        };
        assert_eq!(spaced.plain(), "runs `grep 'a b'…`");
        let provider = |access| Capability::Provider {
            name: "openai".into(),
            access,
        };
        assert_eq!(
            provider(ProviderAccess::Read).plain(),
            "uses the provider openai"
        );
        assert_eq!(
            provider(ProviderAccess::Write).plain(),
            "changes the settings of the provider openai"
        );
        assert_eq!(
            provider(ProviderAccess::Rotate).plain(),
            "rotates the credentials of the provider openai"
        );
        let mcp = Capability::Mcp {
            server: "x".into(),
            tool: "search".into(),
            sha256: None,
        };
        assert_eq!(mcp.plain(), "calls MCP tool search on server x");
        let pinned = Capability::Mcp {
            server: "x".into(),
            tool: "search".into(),
            sha256: Some("3f2a".repeat(16)),
        };
        assert_eq!(
            pinned.plain(),
            "calls MCP tool search on server x (only the definition 3f2a3f2a3f2a…)"
        );
        let event = |topic: &str| Capability::Event {
            topic: topic.to_owned(),
        };
        assert_eq!(
            event("orders.created").plain(),
            "publishes events on orders.created"
        );
        assert_eq!(
            event("orders.*").plain(),
            "publishes events on topics under orders."
        );
        assert_eq!(event("*").plain(), "publishes events on any topic");
    }
}
