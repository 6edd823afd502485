//! The web market: a static site generated from a registry built here
//! (echo, fetcher with a hostile README, raw-net whose scan mismatches),
//! checked as files and then in a real headless Chromium, from `file://`
//! and from a static server on 127.0.0.1.
//!
//! The browser tests need Debian's `chromium` (`apt-get install chromium`;
//! `.ci/run` installs it) and fail, saying so, without it. They keep one
//! screenshot per page type under `target/market-screenshots/`. With
//! `SHARELIFE_SCREENSHOT=1` they also rewrite `docs/market.png`:
//!
//! ```text
//! SHARELIFE_SCREENSHOT=1 cargo test -p sharelife-registry --test site
//! ```

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use sharelife_registry::package::{self, PackageOptions};
use sharelife_registry::site::{self, PAGE_BUDGET, SiteOptions, SiteReport};
use support::{Fixture, StaticServer, built_library};

const HOSTILE_README: &str = "# Fetcher\n\nFetches <script>alert('pwned')</script> things.\n\n- read [the docs](https://example.com/docs)\n- not [this](javascript:alert(1))\n\n```\n<img src=x onerror=alert(1)>\n```\n";

struct Site {
    _scratch: tempfile::TempDir,
    dir: PathBuf,
    report: SiteReport,
}

/// The site, generated once for every test here.
fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let f = Fixture::new();
        f.publish_echo().unwrap();
        // Yanked: still listed, marked as such.
        f.registry
            .yank(
                &"examples.echo".parse().unwrap(),
                &semver::Version::new(1, 0, 0),
                &f.acme,
                true,
            )
            .unwrap();
        let fetcher = packaged(&f, "example-fetcher", Some(HOSTILE_README));
        f.publish(&fetcher, &f.acme).unwrap();
        let fixtures = f.key("fixtures");
        f.registry
            .delegate(
                &f.root,
                fixtures.public(),
                "fixtures",
                &["fixture.*".to_owned()],
            )
            .unwrap();
        let raw = packaged(&f, "fixture-raw-net", None);
        f.publish(&raw, &fixtures).unwrap();

        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("site");
        let report = site::generate(
            f.registry.dir(),
            &dir,
            &SiteOptions {
                registry_name: Some("test".to_owned()),
                host_triple: host_triple(),
                ..SiteOptions::default()
            },
        )
        .unwrap();
        Site {
            _scratch: scratch,
            dir,
            report,
        }
    })
}

/// The triple the test libraries were filed under.
fn host_triple() -> String {
    site::default_host_triple()
}

fn packaged(f: &Fixture, krate: &str, readme: Option<&str>) -> PathBuf {
    let crate_dir = f.dir.join(format!("{krate}-crate"));
    fs::create_dir_all(&crate_dir).unwrap();
    if let Some(readme) = readme {
        fs::write(crate_dir.join("README.md"), readme).unwrap();
    }
    package::build(&PackageOptions {
        crate_dir,
        out_dir: f.dir.join("dist"),
        library: Some(built_library(krate)),
        ..PackageOptions::default()
    })
    .unwrap()
    .path
}

fn read(rel: &str) -> String {
    fs::read_to_string(site().dir.join(rel)).unwrap()
}

#[test]
fn every_page_is_written_within_budget() {
    let s = site();
    assert_eq!(
        s.report.plugins,
        ["examples.echo", "examples.fetcher", "fixture.raw-net"]
    );
    assert!(s.report.skipped.is_empty(), "{:?}", s.report.skipped);
    for f in [
        "index.html",
        "market.css",
        "market.js",
        "plugins/examples.echo.html",
        "plugins/examples.fetcher.html",
        "plugins/fixture.raw-net.html",
    ] {
        assert!(s.dir.join(f).is_file(), "{f}");
    }
    assert_eq!(s.report.pages.len(), 4);
    for page in &s.report.pages {
        let on_disk = fs::metadata(s.dir.join(&page.path)).unwrap().len() as usize;
        assert_eq!(on_disk, page.bytes, "{}", page.path);
        assert!(
            page.bytes - page.readme_bytes < PAGE_BUDGET,
            "{}: {} bytes before the README",
            page.path,
            page.bytes - page.readme_bytes
        );
    }
    let assets = fs::metadata(s.dir.join("market.css")).unwrap().len()
        + fs::metadata(s.dir.join("market.js")).unwrap().len();
    assert!(assets < 32 * 1024, "{assets}");
}

#[test]
fn pages_are_semantic_and_self_contained() {
    for rel in [
        "index.html",
        "plugins/examples.echo.html",
        "plugins/examples.fetcher.html",
        "plugins/fixture.raw-net.html",
    ] {
        let html = read(rel);
        for tag in ["<header>", "<nav", "<main", "<h1>", "<footer>"] {
            assert!(html.contains(tag), "{rel}: no {tag}");
        }
        // Only relative links and resources, except README links to http(s).
        for attr in ["src=\"", "href=\""] {
            for (i, _) in html.match_indices(attr) {
                let value = &html[i + attr.len()..];
                let value = &value[..value.find('"').unwrap()];
                let external = value.contains("://") || value.starts_with("//");
                let allowed = value.starts_with("sharelife://install/")
                    || (html[..i].contains("class=\"readme\"")
                        && (value.starts_with("https://") || value.starts_with("http://")));
                assert!(!external || allowed, "{rel}: external {attr}{value}");
            }
        }
        assert!(
            !html.contains("@import") && !html.contains("fetch("),
            "{rel}"
        );
    }
    let index = read("index.html");
    for label in [
        "for=\"q\"",
        "for=\"risk\"",
        "for=\"kind\"",
        "for=\"api\"",
        "for=\"triple\"",
        "for=\"sort\"",
    ] {
        assert!(index.contains(label), "{label}");
    }
    let js = read("market.js");
    assert!(!js.contains("fetch(") && !js.contains("XMLHttpRequest"));
}

#[test]
fn a_hostile_readme_is_inert() {
    let html = read("plugins/examples.fetcher.html");
    assert!(
        html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("javascript:"));
    assert!(html.contains("<a href=\"https://example.com/docs\""));
    // The only script is the market's own.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"../market.js\"></script>"));
}

#[test]
fn plugin_pages_show_risk_evidence_trust_and_install() {
    let raw = read("plugins/fixture.raw-net.html");
    assert!(raw.contains("WARNING"), "no mismatch warning");
    assert!(raw.contains("role=\"alert\""));
    assert!(raw.contains("declares no network"), "{raw}");
    assert!(raw.contains("risk-high"));
    assert!(raw.contains("<strong id=\"publisher\">fixtures</strong>"));
    assert!(raw.contains("href=\"sharelife://install/fixture.raw-net@1.0.0?registry=test\""));
    assert!(raw.contains("sharelife install fixture.raw-net@1.0.0 --registry test"));
    let root_key = raw
        .split("<code id=\"root-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(root_key.len(), 64, "{root_key}");

    let echo = read("plugins/examples.echo.html");
    assert!(
        echo.contains("<tr class=\"yanked\"><th scope=\"row\">1.0.0</th><td>yanked"),
        "{echo}"
    );
    assert!(read("index.html").contains("every version is yanked"));

    let fetcher = read("plugins/examples.fetcher.html");
    assert!(fetcher.contains("connects to api.example.com"), "{fetcher}");
    assert!(fetcher.contains("<th scope=\"col\">Risk</th>"));
    assert!(
        !fetcher.contains("role=\"alert\""),
        "fetcher declares what it does"
    );
    assert!(fetcher.contains("<strong id=\"publisher\">acme</strong>"));
    assert!(fetcher.contains("href=\"sharelife://install/examples.fetcher@1.0.0?registry=test\""));

    // Recommendations say their rule.
    assert!(fetcher.contains("Rule: the other plugins that share a keyword or a capability kind"));
    assert!(fetcher.contains("Rule: the other plugins whose API range accepts"));
    let index = read("index.html");
    assert!(index.contains("id=\"rules\""));
}

// ---- the browser -------------------------------------------------------

/// Debian's `chromium`, or a failure saying how to get it.
fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the web market's browser tests need Chromium and found no `chromium` on PATH; \
             install it with `sudo apt-get install -y chromium` (Debian; `.ci/run` installs it in CI)"
        )
    })
}

/// Runs headless Chromium with `args` on `url`; its stdout.
fn browser(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Chromium exits by itself once its virtual-time budget is spent; the
    // watchdog only keeps a hung browser from hanging the suite. The wait
    // runs on its own thread and reports over a channel: no polling.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("chromium did not finish on {url}; killed it");
        }
    };
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dump(url: &str) -> String {
    let dom = browser(&["--dump-dom"], url);
    assert!(
        dom.contains("</html>"),
        "chromium dumped no page for {url}: {dom}"
    );
    dom
}

/// The catalogue's plugins as the browser left them: (id, visible), in
/// the order shown.
fn catalogue(dom: &str) -> Vec<(String, bool)> {
    let start = dom.find("id=\"catalogue\"").expect("the catalogue list");
    let end = start + dom[start..].find("</ul>").unwrap();
    items(&dom[start..end])
}

fn items(html: &str) -> Vec<(String, bool)> {
    html.match_indices("<li ")
        .filter_map(|(i, _)| {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            let id = tag.split("data-id=\"").nth(1)?.split('"').next()?;
            Some((id.to_owned(), !tag.contains(" hidden")))
        })
        .collect()
}

fn visible(dom: &str) -> Vec<String> {
    catalogue(dom)
        .into_iter()
        .filter(|(_, v)| *v)
        .map(|(id, _)| id)
        .collect()
}

fn file_url(rel: &str) -> String {
    url::Url::from_file_path(site().dir.join(rel))
        .unwrap()
        .to_string()
}

fn check_catalogue(base: &str) {
    let all = ["examples.echo", "examples.fetcher", "fixture.raw-net"];
    let dom = dump(&format!("{base}index.html"));
    assert_eq!(visible(&dom), all, "{base}: everything without a query");
    assert!(dom.contains("3 of 3 plugins shown"), "the script ran");

    let cases: &[(&str, &[&str])] = &[
        ("q=fetch", &["examples.fetcher"]),
        ("q=ECHO", &["examples.echo"]),
        ("q=nothing-like-this", &[]),
        ("risk=high", &["examples.fetcher", "fixture.raw-net"]),
        ("risk=low", &["examples.echo"]),
        ("kind=network", &["examples.fetcher", "fixture.raw-net"]),
        ("kind=command", &["examples.fetcher"]),
        ("risk=high&kind=command", &["examples.fetcher"]),
        ("api=0.1.0", &all),
        ("api=9.0.0", &[]),
        ("triple=riscv64gc-unknown-none-elf", &[]),
    ];
    for (query, expected) in cases {
        let dom = dump(&format!("{base}index.html?{query}"));
        assert_eq!(visible(&dom), *expected, "{base}index.html?{query}");
        // Hidden ones are still in the DOM, marked `hidden`.
        assert_eq!(catalogue(&dom).len(), 3, "{query}");
    }
    let triple = host_triple();
    let dom = dump(&format!("{base}index.html?api=0.1.0&triple={triple}"));
    assert_eq!(visible(&dom), all);
}

#[test]
fn browser_filters_the_catalogue_from_file_urls() {
    let base = file_url("index.html")
        .trim_end_matches("index.html")
        .to_owned();
    check_catalogue(&base);
}

#[test]
fn browser_filters_the_catalogue_over_http() {
    let server = StaticServer::serve(&site().dir);
    check_catalogue(&server.url());
    let requests = server.requests();
    assert!(requests.iter().any(|r| r == "/market.js"), "{requests:?}");
    assert!(
        requests.iter().any(|r| r == "/index.html?q=fetch"),
        "{requests:?}"
    );
    assert!(requests.iter().all(|r| !r.contains("..")), "{requests:?}");
}

#[test]
fn browser_shows_a_plugin_page_and_takes_screenshots() {
    let server = StaticServer::serve(&site().dir);
    let raw = dump(&format!("{}plugins/fixture.raw-net.html", server.url()));
    assert!(raw.contains("WARNING"));
    assert!(raw.contains("risk-high"));
    assert!(raw.contains("<h2 id=\"caps-h\">Capabilities</h2>"));
    let link = raw
        .split("id=\"install-link\"")
        .nth(1)
        .unwrap()
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        link,
        "sharelife://install/fixture.raw-net@1.0.0?registry=test"
    );

    // "Compatible with your host": the default host shows the others; a
    // host from the URL that nothing runs on shows none.
    let fetcher = dump(&file_url("plugins/examples.fetcher.html"));
    let start = fetcher.find("id=\"host-compatible\"").unwrap();
    let list = &fetcher[start..start + fetcher[start..].find("</ul>").unwrap()];
    let shown: Vec<String> = items(list)
        .into_iter()
        .filter(|(_, v)| *v)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(shown, ["examples.echo", "fixture.raw-net"]);
    let none = dump(&format!(
        "{}?api=9.0.0",
        file_url("plugins/examples.fetcher.html")
    ));
    let start = none.find("id=\"host-compatible\"").unwrap();
    let list = &none[start..start + none[start..].find("</ul>").unwrap()];
    assert!(items(list).iter().all(|(_, v)| !v), "{list}");
    assert!(none.contains("<code id=\"host-api\">9.0.0</code>"));

    // One screenshot per page type, kept as test artifacts.
    let shots = target_dir().join("market-screenshots");
    fs::create_dir_all(&shots).unwrap();
    for (name, url) in [
        ("catalogue.png", format!("{}index.html", server.url())),
        (
            "plugin.png",
            format!("{}plugins/fixture.raw-net.html", server.url()),
        ),
    ] {
        let path = shots.join(name);
        let _ = fs::remove_file(&path);
        browser(
            &[
                &format!("--screenshot={}", path.display()),
                "--window-size=1200,900",
            ],
            &url,
        );
        let bytes = fs::read(&path).unwrap_or_else(|_| panic!("no screenshot {}", path.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{name}");
        assert!(bytes.len() > 10_000, "{name}: {} bytes", bytes.len());
    }
    if std::env::var_os("SHARELIFE_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        fs::create_dir_all(&docs).unwrap();
        fs::copy(shots.join("catalogue.png"), docs.join("market.png")).unwrap();
    }
}

/// `target/` (the test executable is in `target/<profile>/deps/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// The page from `start` up to the first `end` after it.
fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in the page"));
    let rest = &html[at..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[test]
fn recommendations_list_lower_risk_plugins_like_this_one() {
    // fetcher (file, network, command, provider, MCP: high) and guarded
    // (file read and one network host: lower) share the file and network
    // kinds; echo shares neither with them.
    let f = Fixture::new();
    f.publish_echo().unwrap();
    let fetcher = packaged(&f, "example-fetcher", None);
    f.publish(&fetcher, &f.acme).unwrap();
    let fixtures = f.key("fixtures");
    f.registry
        .delegate(
            &f.root,
            fixtures.public(),
            "fixtures",
            &["fixtures.*".to_owned()],
        )
        .unwrap();
    let guarded = packaged(&f, "fixture-guarded", None);
    f.publish(&guarded, &fixtures).unwrap();
    let out = f.dir.join("site");
    site::generate(
        f.registry.dir(),
        &out,
        &SiteOptions {
            registry_name: Some("test".to_owned()),
            host_triple: host_triple(),
            ..SiteOptions::default()
        },
    )
    .unwrap();
    let page = |id: &str| fs::read_to_string(out.join(format!("plugins/{id}.html"))).unwrap();

    let fetcher = page("examples.fetcher");
    let lower = section(&fetcher, "<ul id=\"lower-risk\">", "</ul>");
    assert!(lower.contains("fixtures.guarded"), "{lower}");
    assert!(
        !lower.contains("examples.echo"),
        "echo is not like it: {lower}"
    );

    // Strictly lower only: guarded's page does not offer the riskier
    // fetcher, and echo's offers nothing.
    for id in ["fixtures.guarded", "examples.echo"] {
        let html = page(id);
        assert!(html.contains("<p id=\"lower-risk-none\">"), "{id}");
        assert!(!html.contains("<ul id=\"lower-risk\">"), "{id}");
    }
}
