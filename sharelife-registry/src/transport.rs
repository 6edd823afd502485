//! How registry files travel: `file://` and `http(s)://`, each download
//! bounded in time and size.
//!
//! `tough` verifies every byte it is handed against signed lengths and
//! hashes; this transport adds the limits a hostile or broken server could
//! otherwise exploit (a slow trickle, an endless body), and reports a
//! missing file as such so TUF's root-update walk works over HTTP.

use std::io::Read;
use std::time::Duration;

use tough::{Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

/// Limits applied to every download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferLimits {
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (headers and body).
    pub timeout: Duration,
    /// The largest body accepted, in bytes; a larger one is refused, not
    /// truncated.
    pub max_bytes: u64,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The transport a registry client uses: `file://` through `tough`'s
/// filesystem transport, `http(s)://` through `ureq` with [`TransferLimits`].
#[derive(Debug, Clone)]
pub struct RegistryTransport {
    limits: TransferLimits,
    agent: ureq::Agent,
}

impl RegistryTransport {
    /// A transport with these limits.
    pub fn new(limits: TransferLimits) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(limits.connect_timeout)
            .timeout(limits.timeout)
            .redirects(5)
            .build();
        RegistryTransport { limits, agent }
    }

    /// Fetches `url` whole, within the limits (blocking).
    pub fn get(&self, url: &Url) -> Result<Vec<u8>, TransportError> {
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| TransportError::new(TransportErrorKind::Other, url.as_str()))?;
                let file = std::fs::File::open(&path).map_err(|e| {
                    let kind = if e.kind() == std::io::ErrorKind::NotFound {
                        TransportErrorKind::FileNotFound
                    } else {
                        TransportErrorKind::Other
                    };
                    TransportError::new_with_cause(kind, url.as_str(), e)
                })?;
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                if size > self.limits.max_bytes {
                    return Err(too_large(url, self.limits.max_bytes));
                }
                read_limited_sized(file, self.limits.max_bytes, url, size)
            }
            "http" | "https" => {
                let response = self.agent.request_url("GET", url).call().map_err(|e| {
                    let kind = match &e {
                        ureq::Error::Status(404 | 410, _) => TransportErrorKind::FileNotFound,
                        _ => TransportErrorKind::Other,
                    };
                    TransportError::new_with_cause(kind, url.as_str(), e)
                })?;
                if let Some(length) = response
                    .header("content-length")
                    .and_then(|v| v.parse::<u64>().ok())
                    && length > self.limits.max_bytes
                {
                    return Err(too_large(url, self.limits.max_bytes));
                }
                read_limited(response.into_reader(), self.limits.max_bytes, url)
            }
            _ => Err(TransportError::new(
                TransportErrorKind::UnsupportedUrlScheme,
                url.as_str(),
            )),
        }
    }
}

impl Default for RegistryTransport {
    fn default() -> Self {
        RegistryTransport::new(TransferLimits::default())
    }
}

fn too_large(url: &Url, max: u64) -> TransportError {
    TransportError::new_with_cause(
        TransportErrorKind::Other,
        url.as_str(),
        std::io::Error::other(format!("the body is larger than the {max}-byte limit")),
    )
}

fn read_limited(reader: impl Read, max: u64, url: &Url) -> Result<Vec<u8>, TransportError> {
    read_limited_sized(reader, max, url, 0)
}

fn read_limited_sized(
    reader: impl Read,
    max: u64,
    url: &Url,
    expected: u64,
) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::with_capacity(usize::try_from(expected.min(max)).unwrap_or(0) + 1);
    reader
        .take(max + 1)
        .read_to_end(&mut body)
        .map_err(|e| TransportError::new_with_cause(TransportErrorKind::Other, url.as_str(), e))?;
    if body.len() as u64 > max {
        return Err(too_large(url, max));
    }
    Ok(body)
}

#[tough::async_trait]
impl Transport for RegistryTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        // The runtime driving tough is a current-thread runtime owned by
        // one blocking call (see `trust::block_on`), so a blocking read
        // here stalls nothing else. Files are read whole rather than
        // through `tokio::fs` (one blocking-pool round trip per 8 KiB made
        // a 10 MB summary cost 70 ms); `tough` still checks every byte
        // against the signed length and hash.
        let body = self.get(&url)?;
        let chunk: Result<tough::Bytes, TransportError> = Ok(tough::Bytes::from(body));
        Ok(Box::pin(futures::stream::once(std::future::ready(chunk))))
    }
}
