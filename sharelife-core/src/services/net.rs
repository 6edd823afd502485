//! Network access: every address a destination resolves to is checked,
//! and the connection goes only to checked addresses (no second lookup
//! for a rebinding DNS server to answer differently).

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::gated::Inner;
use super::{HttpRequest, HttpResponse};
use crate::capability::pattern::normalize_name;
use crate::capability::{Request, RuleRef};
use crate::{ErrorKind, PluginError};

/// Responses larger than this are cut (and the call fails).
const MAX_BODY: u64 = 16 << 20;

/// Resolves `host` (a name or an address literal) and returns the
/// addresses the gateway allows, recording a decision for each.
fn vetted(s: &Inner, host: &str, port: u16) -> Result<(Vec<SocketAddr>, RuleRef), PluginError> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        let rule = s.check(&Request::Connect {
            name: None,
            ip: Some(ip),
            port,
        })?;
        return Ok((vec![SocketAddr::new(ip, port)], rule));
    }
    let name = normalize_name(host).ok_or_else(|| {
        PluginError::with_kind(
            ErrorKind::Denied,
            format!("{host:?} is not a lowercase ASCII host name (use punycode)"),
        )
    })?;
    // Is the name granted at all? Decided before any DNS query.
    s.check(&Request::Connect {
        name: Some(&name),
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
        match s.check(&Request::Connect {
            name: Some(&name),
            ip: Some(addr.ip()),
            port,
        }) {
            Ok(r) => {
                rule.get_or_insert(r);
                allowed.push(addr);
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
    let (addrs, rule) = vetted(s, host, port)?;
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
    let url = url::Url::parse(&req.url)
        .map_err(|e| PluginError::invalid_input(format!("{:?} is not a URL: {e}", req.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(PluginError::invalid_input(format!(
            "only http and https URLs are supported, not {:?}",
            url.scheme()
        )));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => {
            return Err(PluginError::invalid_input(format!(
                "{:?} names no host",
                req.url
            )));
        }
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let (addrs, rule) = vetted(s, &host, port)?;
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
