//! Network access: every address a destination resolves to is checked,
//! and the connection goes only to checked addresses (no second lookup
//! for a rebinding DNS server to answer differently).

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::gated::Inner;
use super::{HttpRequest, HttpResponse};
use crate::capability::pattern::{canonical_ip, normalize_name};
use crate::capability::{Decision, Request, RuleRef};
use crate::{ErrorKind, PluginError};

/// Responses larger than this are cut (and the call fails).
const MAX_BODY: u64 = 16 << 20;

/// A destination, read one way for `connect()` and `http()`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dest {
    /// An address literal, canonical (IPv4-mapped IPv6 is IPv4).
    Ip(IpAddr),
    /// A host name, normalized.
    Name(String),
}

/// Reads `host` as `http()` reads the host of its URL: the URL standard's
/// host parser, so `0x7f.0.0.1`, `2130706433` and `127.1` are the address
/// 127.0.0.1 on both roads, never a name handed to the resolver (whose
/// `inet_aton` would reach the same address by another spelling).
/// Non-ASCII names are refused, not folded into punycode.
fn destination(host: &str) -> Option<Dest> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Some(Dest::Ip(canonical_ip(ip)));
    }
    if !host.is_ascii() || host.is_empty() {
        return None;
    }
    match url::Host::parse(host).ok()? {
        url::Host::Ipv4(v4) => Some(Dest::Ip(IpAddr::V4(v4))),
        url::Host::Ipv6(v6) => Some(Dest::Ip(canonical_ip(IpAddr::V6(v6)))),
        url::Host::Domain(d) => normalize_name(&d).map(Dest::Name),
    }
}

/// What a plugin asked for, as recorded when the request is refused
/// before the gateway (at most 256 characters of it).
fn as_asked(text: &str) -> &str {
    match text.char_indices().nth(256) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// Checks `dest` and returns the addresses the gateway allows, recording a
/// decision for each.
fn vetted(s: &Inner, dest: &Dest, port: u16) -> Result<(Vec<SocketAddr>, RuleRef), PluginError> {
    let name = match dest {
        Dest::Ip(ip) => {
            let rule = s.check(&Request::Connect {
                name: None,
                ip: Some(*ip),
                port,
            })?;
            return Ok((vec![SocketAddr::new(*ip, port)], rule));
        }
        Dest::Name(name) => name,
    };
    // Is the name granted at all? Decided before any DNS query.
    s.check(&Request::Connect {
        name: Some(name),
        ip: None,
        port,
    })?;
    let resolved: Vec<SocketAddr> = (name.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| PluginError::retryable(format!("cannot resolve {name}: {e}")))?
        .collect();
    let mut allowed = Vec::new();
    let mut first_denial = None;
    let mut rule = None;
    for addr in resolved {
        let ip = canonical_ip(addr.ip());
        match s.check(&Request::Connect {
            name: Some(name),
            ip: Some(ip),
            port,
        }) {
            Ok(r) => {
                rule.get_or_insert(r);
                allowed.push(SocketAddr::new(ip, port));
            }
            Err(e) => {
                first_denial.get_or_insert(e);
            }
        }
    }
    match rule {
        Some(rule) => Ok((allowed, rule)),
        None => Err(first_denial
            .unwrap_or_else(|| PluginError::retryable(format!("{name} resolved to no address")))),
    }
}

pub(super) fn connect(s: &Inner, host: &str, port: u16) -> Result<TcpStream, PluginError> {
    let dest = destination(host).ok_or_else(|| {
        s.refuse(
            &Request::Connect {
                name: Some(as_asked(host)),
                ip: None,
                port,
            },
            PluginError::with_kind(
                ErrorKind::Denied,
                format!("{host:?} is not an ASCII host name or an address (use punycode)"),
            ),
        )
    })?;
    let (addrs, rule) = vetted(s, &dest, port)?;
    // A raw stream moves bytes the host never sees, so it cannot be
    // charged to a byte budget: a rule that meters bytes grants its
    // destinations to `http()` only.
    if let Some(metered) = s.gateway.meters_bytes(rule) {
        let req = Request::Connect {
            name: match &dest {
                Dest::Name(n) => Some(n),
                Dest::Ip(_) => None,
            },
            ip: addrs.first().map(SocketAddr::ip),
            port,
        };
        s.settle(&req, Decision::deny(RuleRef::Unmetered(metered)))?;
    }
    let timeout = s.call_time(rule, Duration::from_secs(10));
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(PluginError::retryable(format!(
        "cannot connect to {host}:{port}: {}",
        last.map_or_else(|| "no address".to_owned(), |e| e.to_string())
    )))
}

pub(super) fn http(s: &Inner, req: HttpRequest) -> Result<HttpResponse, PluginError> {
    // Refusals before the gateway are audited too, with what was asked.
    let refuse = |name: &str, port: u16, why: String| {
        s.refuse(
            &Request::Connect {
                name: Some(as_asked(name)),
                ip: None,
                port,
            },
            PluginError::invalid_input(why),
        )
    };
    let url = url::Url::parse(&req.url)
        .map_err(|e| refuse(&req.url, 0, format!("{:?} is not a URL: {e}", req.url)))?;
    let port = url.port_or_known_default().unwrap_or(0);
    let host_text = url.host_str().unwrap_or_default().to_owned();
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(
            url.as_str(),
            port,
            format!(
                "only http and https URLs are supported, not {:?}",
                url.scheme()
            ),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Recorded without the credentials.
        return Err(refuse(
            &host_text,
            port,
            format!("{host_text:?}: credentials in a URL are refused (send them in a header)"),
        ));
    }
    let dest = match url.host() {
        Some(url::Host::Domain(d)) => normalize_name(d).map(Dest::Name),
        Some(url::Host::Ipv4(ip)) => Some(Dest::Ip(IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) => Some(Dest::Ip(canonical_ip(IpAddr::V6(ip)))),
        None => None,
    }
    .ok_or_else(|| {
        refuse(
            &host_text,
            port,
            format!("{:?} names no host name or address", req.url),
        )
    })?;
    let (addrs, rule) = vetted(s, &dest, port)?;
    let sent = Request::Connect {
        name: None,
        ip: Some(addrs[0].ip()),
        port,
    };
    s.charge(rule, req.body.len(), &sent)?;

    // One agent per request, whose resolver only knows the checked
    // addresses, and which never follows a redirect to somewhere else.
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(s.call_time(rule, req.timeout))
        .resolver(move |_: &str| Ok(addrs.clone()))
        .build();
    let mut call = agent.request(&req.method, url.as_str());
    for (k, v) in &req.headers {
        call = call.set(k, v);
    }
    let result = if req.body.is_empty() {
        call.call()
    } else {
        call.send_bytes(&req.body)
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => {
            return Err(PluginError::retryable(format!(
                "{} {}: {e}",
                req.method, req.url
            )));
        }
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_owned())))
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| PluginError::retryable(format!("reading the response of {}: {e}", req.url)))?;
    if body.len() as u64 > MAX_BODY {
        return Err(PluginError::new(format!(
            "the response of {} is larger than {MAX_BODY} bytes",
            req.url
        )));
    }
    s.charge(rule, body.len(), &sent)?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
