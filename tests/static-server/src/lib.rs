//! Tests only: a static file server on 127.0.0.1 serving a directory, as
//! any static host (a CDN, an object store, `python -m http.server`) would
//! serve a registry or the web market's site.
//!
//! * the query and fragment are ignored (`index.html?q=fetch` is
//!   `index.html`), as every static host does: they are for the page's
//!   script;
//! * the path is percent-decoded, and one with a `..` component, or under
//!   a `private/` directory (a registry's keys: documented as never to be
//!   served), is a 404;
//! * `Content-Type` follows the extension (`.html`, `.css`, `.js`, `.json`);
//! * every request's target (path and query) is recorded, in order.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("static-server-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("hello.txt"), "hi").unwrap();
//! let server = sharelife_static_server::StaticServer::serve(&dir);
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Serves a directory on 127.0.0.1 until the process ends.
pub struct StaticServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl StaticServer {
    /// Starts serving `root` on a free port of 127.0.0.1.
    ///
    /// # Panics
    ///
    /// When no port of 127.0.0.1 can be bound.
    pub fn serve(root: &Path) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let port = listener.local_addr().expect("a bound address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let root = root.to_owned();
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let root = root.clone();
                let log = Arc::clone(&log);
                std::thread::spawn(move || handle(stream, &root, &log));
            }
        });
        StaticServer { port, requests }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The targets requested so far (paths with their queries), in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn handle(stream: TcpStream, root: &Path, log: &Mutex<Vec<String>>) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
    }
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(target.clone());
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let decoded = percent_decode(path.trim_start_matches('/'));
    let allowed = !decoded.split('/').any(|c| c == ".." || c == "private");
    let file = root.join(&decoded);
    let mime = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    let mut stream = stream;
    match fs::read(&file).ok().filter(|_| allowed && file.is_file()) {
        Some(body) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
        None => {
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    }
}

/// `%XX` escapes decoded; anything else kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn escapes_are_decoded_and_the_rest_kept() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("%2e%2e/x"), "../x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
