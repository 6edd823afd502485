//! The web market: a static site generated from a registry's verified
//! index (`sharelife registry site DIR --out SITE`).
//!
//! ```text
//! SITE/
//!   index.html            the catalogue: search, filters (risk, capability
//!                         kind, host API version, target triple), sort
//!   plugins/<id>.html     one page per plugin: versions, capabilities and
//!                         their risk, compatibility, review evidence, trust,
//!                         recommendations, README, install command and link
//!   market.css            the one stylesheet
//!   market.js             search / filter / sort (reading needs no script)
//! ```
//!
//! The site is generated from what a [`Client`] verified: the summary and
//! each plugin's index lines come through TUF, and each plugin's newest
//! package is downloaded and verified (its README is rendered from it). A
//! plugin whose index or package does not verify is left out and listed in
//! [`SiteReport::skipped`].
//!
//! Everything is relative and local: no server code, no `fetch()`, no
//! external fonts, scripts or stylesheets, so the site works from
//! `file://`, any static host, an object store or a CDN. The catalogue's
//! data lives in the page itself (`data-*` attributes); the script only
//! sets `hidden` on the entries a search or filter leaves out, and reads
//! the same parameters from the URL (`index.html?q=fetch&risk=high&kind=
//! network&api=0.1.0&triple=x86_64-unknown-linux-gnu&sort=newest`).
//!
//! ## Recommendations
//!
//! Computed when the site is generated:
//!
//! - **Like this, with lower risk**: the other plugins that share a keyword
//!   or a capability kind with this one and whose risk label is strictly
//!   lower.
//! - **Compatible with your host**: the other plugins whose API range
//!   accepts the host's plugin-API version and that ship a library for the
//!   host's target triple. Without script, the default host
//!   ([`SiteOptions::host_api`], [`SiteOptions::host_triple`]) decides;
//!   `?api=…&triple=…` in the page's URL chooses another.

mod markdown;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use semver::{Op, Version, VersionReq};
use sharelife_manifest::{Kind, PLUGIN_API_VERSION, PluginId, RiskLevel};

use crate::client::{Client, ClientError};
use crate::index::{IndexLine, SummaryEntry};
use crate::scan::Road;

const CSS: &str = include_str!("market.css");
const JS: &str = include_str!("market.js");

/// The page budget the site is built to (bytes, before the README).
pub const PAGE_BUDGET: usize = 100 * 1024;

/// The URL scheme of the install deep link.
pub const DEEP_LINK_SCHEME: &str = "sharelife";

/// Why a site could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// Reading the registry or writing the site failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The registry did not verify (its metadata or summary).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The registry directory has no `root.json` to verify against.
    #[error("{0}: no root.json here; is this a registry directory?")]
    NoRoot(PathBuf),
    /// The host API version in the options is not a version.
    #[error("`{0}` is not a host API version (e.g. {PLUGIN_API_VERSION})")]
    BadHostApi(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SiteError + '_ {
    move |source| SiteError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where the site's data comes from.
#[derive(Debug, Clone, Copy)]
pub enum SiteSource<'a> {
    /// A registry directory (with its `root.json`): loaded and verified
    /// against that root.
    Dir(&'a Path),
    /// A client that verified the registry already.
    Client(&'a Client),
}

impl<'a> From<&'a Path> for SiteSource<'a> {
    fn from(dir: &'a Path) -> Self {
        SiteSource::Dir(dir)
    }
}

impl<'a> From<&'a PathBuf> for SiteSource<'a> {
    fn from(dir: &'a PathBuf) -> Self {
        SiteSource::Dir(dir)
    }
}

impl<'a> From<&'a Client> for SiteSource<'a> {
    fn from(client: &'a Client) -> Self {
        SiteSource::Client(client)
    }
}

/// How to generate.
#[derive(Debug, Clone)]
pub struct SiteOptions {
    /// The name users add the registry under, used in the install command
    /// and the deep link (default: the client's name; for a directory, the
    /// directory's name).
    pub registry_name: Option<String>,
    /// The default host's plugin-API version (default:
    /// [`PLUGIN_API_VERSION`]).
    pub host_api: String,
    /// The default host's target triple (default: [`default_host_triple`]).
    pub host_triple: String,
}

impl Default for SiteOptions {
    fn default() -> Self {
        SiteOptions {
            registry_name: None,
            host_api: PLUGIN_API_VERSION.to_owned(),
            host_triple: default_host_triple(),
        }
    }
}

/// The target triple of the machine this was built for, in the form
/// packages file libraries under (`x86_64-unknown-linux-gnu`).
pub fn default_host_triple() -> String {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "macos" => format!("{arch}-apple-darwin"),
        "windows" => format!("{arch}-pc-windows-msvc"),
        "linux" => format!("{arch}-unknown-linux-gnu"),
        other => format!("{arch}-unknown-{other}"),
    }
}

/// One written page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePage {
    /// Its path relative to the site's root (`index.html`,
    /// `plugins/<id>.html`).
    pub path: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// The part of it that is the rendered README.
    pub readme_bytes: usize,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct SiteReport {
    /// The site's directory.
    pub out_dir: PathBuf,
    /// The registry name the install commands use.
    pub registry: String,
    /// Every page written (the stylesheet and script not included).
    pub pages: Vec<SitePage>,
    /// The plugins on the site.
    pub plugins: Vec<String>,
    /// Plugins left out because their index or package did not verify,
    /// with why.
    pub skipped: Vec<(String, String)>,
}

/// The data of one plugin, verified.
struct Plugin {
    entry: SummaryEntry,
    lines: Vec<IndexLine>,
    newest: IndexLine,
    readme: Option<String>,
    /// Declared kinds and the kinds of the roads the scan found undeclared.
    kinds: BTreeSet<&'static str>,
    api: Option<VersionReq>,
}

impl Plugin {
    fn risk(&self) -> RiskLevel {
        self.newest.label.risk
    }

    fn title(&self) -> &str {
        self.entry.display_name.as_deref().unwrap_or(&self.entry.id)
    }

    fn runs_on(&self, api: &Version, triple: &str) -> bool {
        self.api.as_ref().is_some_and(|r| r.matches(api))
            && self.newest.targets.iter().any(|t| t == triple)
    }
}

/// Generates the site for a registry into `out` (created; existing pages
/// are overwritten).
pub fn generate<'a>(
    source: impl Into<SiteSource<'a>>,
    out: &Path,
    options: &SiteOptions,
) -> Result<SiteReport, SiteError> {
    let host_api = Version::parse(&options.host_api)
        .map_err(|_| SiteError::BadHostApi(options.host_api.clone()))?;
    let loaded;
    let client = match source.into() {
        SiteSource::Client(c) => c,
        SiteSource::Dir(dir) => {
            let root_path = dir.join("root.json");
            if !root_path.is_file() {
                return Err(SiteError::NoRoot(dir.to_owned()));
            }
            let root = fs::read(&root_path).map_err(io_err(&root_path))?;
            let abs = dir.canonicalize().map_err(io_err(dir))?;
            let url = url::Url::from_directory_path(&abs)
                .map_err(|()| SiteError::NoRoot(dir.to_owned()))?;
            let name = options.registry_name.clone().unwrap_or_else(|| {
                abs.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "registry".to_owned())
            });
            loaded = Client::load(&name, url.as_str(), &root)?;
            &loaded
        }
    };
    let registry = options
        .registry_name
        .clone()
        .unwrap_or_else(|| client.name().to_owned());
    let summary = client.summary()?;
    let mut plugins = Vec::new();
    let mut skipped = Vec::new();
    for entry in summary.plugins {
        match load_plugin(client, entry.clone()) {
            Ok(p) => plugins.push(p),
            Err(why) => skipped.push((entry.id.clone(), why)),
        }
    }
    plugins.sort_by(|a, b| a.entry.id.cmp(&b.entry.id));

    let trust = Trust {
        root_key_ids: root_key_ids(client),
        snapshot: client.snapshot_version(),
    };
    let ctx = Context {
        registry: &registry,
        host_api: &host_api,
        host_triple: &options.host_triple,
        plugins: &plugins,
        trust: &trust,
    };

    let plugin_dir = out.join("plugins");
    fs::create_dir_all(&plugin_dir).map_err(io_err(&plugin_dir))?;
    let write = |rel: &str, text: &str| -> Result<(), SiteError> {
        let path = out.join(rel);
        fs::write(&path, text).map_err(io_err(&path))
    };
    write("market.css", CSS)?;
    write("market.js", JS)?;
    let mut pages = Vec::new();
    let index = render_index(&ctx);
    write("index.html", &index)?;
    pages.push(SitePage {
        path: "index.html".to_owned(),
        bytes: index.len(),
        readme_bytes: 0,
    });
    for p in &plugins {
        let (page, readme_bytes) = render_plugin(&ctx, p);
        let rel = format!("plugins/{}.html", p.entry.id);
        write(&rel, &page)?;
        pages.push(SitePage {
            path: rel,
            bytes: page.len(),
            readme_bytes,
        });
    }
    Ok(SiteReport {
        out_dir: out.to_owned(),
        registry,
        pages,
        plugins: plugins.iter().map(|p| p.entry.id.clone()).collect(),
        skipped,
    })
}

fn load_plugin(client: &Client, entry: SummaryEntry) -> Result<Plugin, String> {
    // The id names a file: it must be a plugin id (no `/`, no `..`).
    PluginId::new(entry.id.clone()).map_err(|e| e.to_string())?;
    let lines = client.info(&entry.id).map_err(|e| e.to_string())?;
    let newest = lines
        .iter()
        .find(|l| l.vers.to_string() == entry.version)
        .cloned()
        .ok_or_else(|| {
            format!(
                "the summary's version {} is not in the index",
                entry.version
            )
        })?;
    let req = VersionReq::parse(&format!("={}", newest.vers)).map_err(|e| e.to_string())?;
    let verified = client
        .verify(&entry.id, Some(&req))
        .map_err(|e| e.to_string())?;
    let readme = verified.package.readme().map(str::to_owned);
    let mut kinds: BTreeSet<&'static str> = newest
        .label
        .capabilities
        .iter()
        .map(|c| c.kind.as_str())
        .collect();
    for m in &newest.scan.mismatches {
        if let Some(k) = m.road.declared_by() {
            kinds.insert(k.as_str());
        }
    }
    let api = VersionReq::parse(&newest.api).ok();
    Ok(Plugin {
        entry,
        lines,
        newest,
        readme,
        kinds,
        api,
    })
}

struct Trust {
    root_key_ids: Vec<String>,
    snapshot: u64,
}

fn root_key_ids(client: &Client) -> Vec<String> {
    client
        .repository()
        .root()
        .signed
        .roles
        .get(&tough::schema::RoleType::Root)
        .map(|r| r.keyids.iter().map(hex::encode).collect())
        .unwrap_or_default()
}

struct Context<'a> {
    registry: &'a str,
    host_api: &'a Version,
    host_triple: &'a str,
    plugins: &'a [Plugin],
    trust: &'a Trust,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The deep link that asks a local `sharelife open-url` for an install
/// plan: `sharelife://install/<id>@<version>?registry=<name>`.
pub fn deep_link(id: &str, version: &str, registry: &str) -> String {
    format!("{DEEP_LINK_SCHEME}://install/{id}@{version}?registry={registry}")
}

/// The install command a page shows.
pub fn install_command(id: &str, version: &str, registry: &str) -> String {
    format!("sharelife install {id}@{version} --registry {registry}")
}

/// A risk level in plain words.
pub fn risk_words(risk: RiskLevel) -> &'static str {
    match risk {
        RiskLevel::Low => "low risk: reads within narrow scopes",
        RiskLevel::Medium => "medium risk: writes files, reaches the network or calls tools",
        RiskLevel::High => {
            "high risk: runs programs, reaches internal networks or goes around the gateway"
        }
    }
}

fn risk_badge(risk: RiskLevel) -> String {
    format!(r#"<span class="risk risk-{risk}">{risk} risk</span>"#)
}

/// The API range as `[op, major, minor, patch]` tuples for the script
/// (missing parts `null`), `[]` for `*`.
fn api_json(api: Option<&VersionReq>) -> String {
    let Some(api) = api else {
        return "[[\"never\",0,null,null]]".to_owned();
    };
    let parts: Vec<String> = api
        .comparators
        .iter()
        .map(|c| {
            let op = match c.op {
                Op::Exact => "=",
                Op::Greater => ">",
                Op::GreaterEq => ">=",
                Op::Less => "<",
                Op::LessEq => "<=",
                Op::Tilde => "~",
                Op::Caret => "^",
                Op::Wildcard => "*",
                _ => "never",
            };
            let opt = |v: Option<u64>| v.map_or_else(|| "null".to_owned(), |v| v.to_string());
            format!("[\"{op}\",{},{},{}]", c.major, opt(c.minor), opt(c.patch))
        })
        .collect();
    format!("[{}]", parts.join(","))
}

/// The data attributes the script filters on.
fn data_attrs(p: &Plugin) -> String {
    let search = std::iter::once(p.entry.id.as_str())
        .chain(p.entry.display_name.as_deref())
        .chain(std::iter::once(p.entry.description.as_str()))
        .chain(p.entry.tags.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    format!(
        r#"data-id="{}" data-search="{}" data-risk="{}" data-kinds="{}" data-targets="{}" data-api="{}" data-published="{}""#,
        escape(&p.entry.id),
        escape(&search),
        p.risk(),
        p.kinds.iter().copied().collect::<Vec<_>>().join(" "),
        escape(&p.newest.targets.join(" ")),
        escape(&api_json(p.api.as_ref())),
        escape(&p.newest.published),
    )
}

fn head(out: &mut String, title: &str, up: &str) {
    let _ = write!(
        out,
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{up}market.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
"##,
        title = escape(title),
    );
}

fn header(out: &mut String, ctx: &Context<'_>, up: &str) {
    let _ = write!(
        out,
        r#"<header>
<p class="brand"><a href="{up}index.html">sharelife market</a></p>
<p>Registry <code>{reg}</code>: {n} plugin{s}, verified against its signed metadata (snapshot {snap}).</p>
<nav aria-label="Site"><ul><li><a href="{up}index.html">Catalogue</a></li><li><a href="{up}index.html#rules">How filters and recommendations work</a></li></ul></nav>
</header>
"#,
        reg = escape(ctx.registry),
        n = ctx.plugins.len(),
        s = if ctx.plugins.len() == 1 { "" } else { "s" },
        snap = ctx.trust.snapshot,
    );
}

fn footer(out: &mut String, up: &str) {
    let _ = write!(
        out,
        r#"<footer><p>Generated by <code>sharelife registry site</code>. Reading needs no script; <code>market.js</code> only searches, filters and sorts.</p></footer>
<script src="{up}market.js"></script>
</body>
</html>
"#
    );
}

fn option_list(out: &mut String, values: &[&str]) {
    for v in values {
        let _ = write!(out, r#"<option value="{v}">{v}</option>"#);
    }
}

fn render_index(ctx: &Context<'_>) -> String {
    let mut out = String::new();
    head(
        &mut out,
        &format!("{} · sharelife market", ctx.registry),
        "",
    );
    header(&mut out, ctx, "");
    out.push_str("<main id=\"main\">\n");
    let _ = writeln!(
        out,
        "<h1>Plugins in <code>{}</code></h1>",
        escape(ctx.registry)
    );
    out.push_str(
        r#"<form id="filters" class="filters" method="get" action="index.html" role="search" aria-label="Search and filter plugins">
<p><label for="q">Search</label> <input id="q" name="q" type="search" placeholder="name, description, keyword"></p>
<p><label for="risk">Risk label</label> <select id="risk" name="risk"><option value="">any</option>"#,
    );
    option_list(&mut out, &["low", "medium", "high"]);
    out.push_str(
        r#"</select></p>
<p><label for="kind">Capability kind</label> <select id="kind" name="kind"><option value="">any</option>"#,
    );
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    option_list(&mut out, &kinds);
    let _ = write!(
        out,
        r#"</select></p>
<p><label for="api">Host API version</label> <input id="api" name="api" placeholder="{api}" size="8"></p>
<p><label for="triple">Target triple</label> <input id="triple" name="triple" placeholder="{triple}" size="26"></p>
<p><label for="sort">Sort by</label> <select id="sort" name="sort"><option value="name">name</option><option value="newest">newest</option></select></p>
<p><button type="submit">Apply</button></p>
</form>
<p id="count" aria-live="polite">{n} plugin{s}</p>
<ul id="catalogue" class="cards">
"#,
        api = escape(&ctx.host_api.to_string()),
        triple = escape(ctx.host_triple),
        n = ctx.plugins.len(),
        s = if ctx.plugins.len() == 1 { "" } else { "s" },
    );
    for p in ctx.plugins {
        let _ = write!(
            out,
            r#"<li class="plugin" {attrs}>
<h2><a href="plugins/{id}.html">{title}</a></h2>
<p class="meta">{badge} <code>{id}</code> {version} · published {published}</p>
<p>{desc}</p>
<p class="meta">Capabilities: {kinds} · targets: {targets}</p>
{yanked}{warn}</li>
"#,
            attrs = data_attrs(p),
            id = escape(&p.entry.id),
            title = escape(p.title()),
            badge = risk_badge(p.risk()),
            version = escape(&p.entry.version),
            published = escape(&p.newest.published),
            desc = escape(&p.entry.description),
            kinds = if p.kinds.is_empty() {
                "none".to_owned()
            } else {
                p.kinds.iter().copied().collect::<Vec<_>>().join(", ")
            },
            targets = escape(&p.newest.targets.join(", ")),
            yanked = if p.newest.yanked {
                "<p class=\"meta\"><strong>Yanked:</strong> every version is yanked (kept for reproducibility; a new install must name the version).</p>\n"
            } else {
                ""
            },
            warn = if p.entry.mismatch {
                "<p class=\"warning\"><strong>WARNING:</strong> the review found evidence that raised this plugin's risk label (see its page).</p>\n"
            } else {
                ""
            },
        );
    }
    out.push_str("</ul>\n");
    let _ = write!(
        out,
        r#"<section id="rules" aria-labelledby="rules-h">
<h2 id="rules-h">How filters and recommendations work</h2>
<ul>
<li><strong>Search</strong> matches the id, name, description and keywords (case does not matter).</li>
<li><strong>Risk label</strong> is the plugin's final label: the risk its declared capabilities imply, raised by what the registry's scan found (an undeclared raw import, an advisory).</li>
<li><strong>Capability kind</strong> matches the kinds a plugin declares and the kinds of the roads the scan found it taking without declaring them.</li>
<li><strong>Compatible with a host</strong>: the plugin's API range accepts the host's plugin-API version, and its package carries a library for the host's target triple. Leave both empty to see every plugin; the default host is API <code>{api}</code> on <code>{triple}</code>.</li>
<li><strong>Plugins like this with lower risk</strong> (on each plugin's page): the others that share a keyword or a capability kind with it and whose risk label is strictly lower.</li>
<li>Every parameter also works in the address: <code>index.html?q=fetch&amp;risk=high&amp;kind=network&amp;api={api}&amp;triple={triple}&amp;sort=newest</code>. Searching and filtering need JavaScript; reading every page does not.</li>
</ul>
</section>
</main>
"#,
        api = escape(&ctx.host_api.to_string()),
        triple = escape(ctx.host_triple),
    );
    footer(&mut out, "");
    out
}

/// The other plugins like `p` (a shared keyword or capability kind) with
/// a strictly lower risk label, lowest risk first.
fn lower_risk_alternatives<'a>(p: &Plugin, all: &'a [Plugin]) -> Vec<&'a Plugin> {
    let mut hits: Vec<&Plugin> = all
        .iter()
        .filter(|q| q.entry.id != p.entry.id && q.risk() < p.risk())
        .filter(|q| {
            q.entry.tags.iter().any(|t| p.entry.tags.contains(t))
                || q.kinds.iter().any(|k| p.kinds.contains(k))
        })
        .collect();
    hits.sort_by(|a, b| {
        a.risk()
            .cmp(&b.risk())
            .then_with(|| a.entry.id.cmp(&b.entry.id))
    });
    hits
}

fn plugin_link(q: &Plugin) -> String {
    format!(
        r#"<a href="{id}.html">{title}</a> <code>{id}</code> {badge}"#,
        id = escape(&q.entry.id),
        title = escape(q.title()),
        badge = risk_badge(q.risk()),
    )
}

fn render_plugin(ctx: &Context<'_>, p: &Plugin) -> (String, usize) {
    let id = escape(&p.entry.id);
    let version = escape(&p.entry.version);
    let mut out = String::new();
    head(
        &mut out,
        &format!("{} · sharelife market", p.title()),
        "../",
    );
    header(&mut out, ctx, "../");
    let _ = write!(
        out,
        r#"<main id="main">
<nav aria-label="Breadcrumb"><a href="../index.html">Catalogue</a> › <span>{id}</span></nav>
<h1>{title} <code>{id}</code></h1>
<p class="lead">{badge} {words}.</p>
<p>{desc}</p>
<dl class="facts">
<dt>Newest version</dt><dd>{version}</dd>
<dt>Published</dt><dd>{published}</dd>
<dt>Authors</dt><dd>{authors}</dd>
<dt>License</dt><dd>{license}</dd>
<dt>Keywords</dt><dd>{keywords}</dd>
</dl>
"#,
        title = escape(p.title()),
        badge = risk_badge(p.risk()),
        words = risk_words(p.risk()),
        desc = escape(&p.entry.description),
        published = escape(&p.newest.published),
        authors = or_none(&p.entry.author),
        license = or_none(&p.entry.license),
        keywords = or_none(&p.entry.tags.join(", ")),
    );

    // Install.
    let link = deep_link(&p.entry.id, &p.entry.version, ctx.registry);
    let _ = write!(
        out,
        r#"<section aria-labelledby="install-h">
<h2 id="install-h">Install</h2>
<pre><code id="install-command">{cmd}</code></pre>
<p><a id="install-link" class="button" href="{href}">Plan the install in your local sharelife</a> (opens <code>{link}</code>: <code>sharelife open-url</code> writes the install plan and shows it; it installs nothing until you apply it, with the same confirmation and admin approval as <code>sharelife install</code>).</p>
</section>
"#,
        cmd = escape(&install_command(
            &p.entry.id,
            &p.entry.version,
            ctx.registry
        )),
        href = escape(&link),
        link = escape(&link),
    );

    // Warnings first: the review evidence that raised the label.
    let mismatches = &p.newest.scan.mismatches;
    if !mismatches.is_empty() || !p.newest.scan.advisories.is_empty() {
        out.push_str("<div class=\"warning\" role=\"alert\">\n<p><strong>WARNING: the review evidence does not match what this plugin declares.</strong></p>\n<ul>\n");
        for m in mismatches {
            let _ = writeln!(out, "<li>{}</li>", escape(&m.message));
        }
        for a in &p.newest.scan.advisories {
            let _ = writeln!(
                out,
                "<li>advisory {} against {} {}: {}</li>",
                escape(&a.id),
                escape(&a.package),
                escape(&a.version),
                escape(&a.title)
            );
        }
        out.push_str("</ul>\n</div>\n");
    }

    // Capabilities.
    out.push_str("<section aria-labelledby=\"caps-h\">\n<h2 id=\"caps-h\">Capabilities</h2>\n");
    let label = &p.newest.label;
    let _ = writeln!(
        out,
        "<p>Declared risk: {} · final label: {}.</p>",
        risk_badge(label.declared_risk),
        risk_badge(label.risk)
    );
    if label.capabilities.is_empty() {
        out.push_str("<p>This plugin asks for no capabilities.</p>\n");
    } else {
        out.push_str("<table>\n<caption>What it asks for, and the risk of each</caption>\n<thead><tr><th scope=\"col\">Kind</th><th scope=\"col\">What it may do</th><th scope=\"col\">Risk</th></tr></thead>\n<tbody>\n");
        for c in &label.capabilities {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.kind.as_str(),
                escape(&c.plain),
                risk_badge(c.risk)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    if !label.raised_by.is_empty() {
        out.push_str("<p>The label was raised by:</p>\n<ul>\n");
        for r in &label.raised_by {
            let _ = writeln!(out, "<li>{} (to {} risk)</li>", escape(&r.reason), r.to);
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");

    // Compatibility.
    let compat = &label.compatibility;
    let _ = write!(
        out,
        r#"<section aria-labelledby="compat-h">
<h2 id="compat-h">Compatibility</h2>
<p>Plugin API range <code>{range}</code>; targets: {targets}; platforms: {platforms}.</p>
<table>
<caption>Host plugin-API versions</caption>
<thead><tr><th scope="col">Host API version</th><th scope="col">Loads this plugin</th></tr></thead>
<tbody>
"#,
        range = escape(&compat.plugin_api),
        targets = or_none(&compat.targets.join(", ")),
        platforms = if compat.platforms.is_empty() {
            "every platform".to_owned()
        } else {
            escape(&compat.platforms.join(", "))
        },
    );
    for h in &compat.host_api {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(&h.version),
            if h.compatible { "yes" } else { "no" }
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");

    // Versions.
    out.push_str("<section aria-labelledby=\"versions-h\">\n<h2 id=\"versions-h\">Versions</h2>\n<table>\n<thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Status</th><th scope=\"col\">Published</th><th scope=\"col\">Risk</th><th scope=\"col\">API</th><th scope=\"col\">Targets</th></tr></thead>\n<tbody>\n");
    for l in p.lines.iter().rev() {
        let _ = writeln!(
            out,
            "<tr{cls}><th scope=\"row\">{v}</th><td>{status}</td><td>{pubd}</td><td>{risk}</td><td><code>{api}</code></td><td>{targets}</td></tr>",
            cls = if l.yanked { " class=\"yanked\"" } else { "" },
            v = escape(&l.vers.to_string()),
            status = if l.yanked {
                "yanked (kept for reproducibility, never chosen for a new install)"
            } else {
                "available"
            },
            pubd = escape(&l.published),
            risk = risk_badge(l.label.risk),
            api = escape(&l.api),
            targets = escape(&l.targets.join(", ")),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");

    render_evidence(&mut out, p);
    render_trust(&mut out, ctx, p);
    render_recommendations(&mut out, ctx, p);

    let readme_start = out.len();
    out.push_str("<section aria-labelledby=\"readme-h\">\n<h2 id=\"readme-h\">README</h2>\n");
    match &p.readme {
        Some(text) => {
            out.push_str("<div class=\"readme\">\n");
            out.push_str(&markdown::render(text));
            out.push_str("</div>\n");
        }
        None => out.push_str("<p>The package carries no README.</p>\n"),
    }
    out.push_str("</section>\n");
    let readme_bytes = out.len() - readme_start;
    out.push_str("</main>\n");
    footer(&mut out, "../");
    (out, readme_bytes)
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "none given".to_owned()
    } else {
        escape(text)
    }
}

fn render_evidence(out: &mut String, p: &Plugin) {
    let scan = &p.newest.scan;
    out.push_str("<section aria-labelledby=\"evidence-h\">\n<h2 id=\"evidence-h\">Review evidence</h2>\n<p>The registry read each library's dynamic imports when it was published: the roads a library can take around the capability gateway. A road must be declared by a capability of its kind; loading more native code can never be declared.</p>\n");
    let declared: BTreeSet<Kind> = p.newest.label.capabilities.iter().map(|c| c.kind).collect();
    for lib in &scan.libraries {
        let _ = writeln!(
            out,
            "<h3>Library for <code>{}</code></h3>\n<p><code>{}</code>, {} bytes, sha256 <code>{}</code>{}.</p>",
            escape(&lib.target),
            escape(&lib.path),
            lib.size,
            escape(&lib.sha256),
            lib.rustc
                .as_deref()
                .map(|r| format!(", built by {}", escape(r)))
                .unwrap_or_default()
        );
        let mut by_road: BTreeMap<Road, Vec<&str>> = BTreeMap::new();
        for i in lib.imports.iter().filter(|i| !i.std_runtime) {
            by_road.entry(i.road).or_default().push(&i.symbol);
        }
        out.push_str("<table>\n<thead><tr><th scope=\"col\">Road</th><th scope=\"col\">Declared by the manifest</th><th scope=\"col\">Raw imports (outside std's runtime)</th><th scope=\"col\">Verdict</th></tr></thead>\n<tbody>\n");
        for road in [
            Road::Network,
            Road::Process,
            Road::Filesystem,
            Road::DynamicLoading,
        ] {
            let kind = road.declared_by();
            let is_declared = kind.is_some_and(|k| declared.contains(&k));
            let symbols = by_road.get(&road).cloned().unwrap_or_default();
            let mismatch = scan.mismatches.iter().any(|m| m.road == road);
            let _ = writeln!(
                out,
                "<tr{cls}><th scope=\"row\">{road}</th><td>{decl}</td><td>{syms}</td><td>{verdict}</td></tr>",
                cls = if mismatch { " class=\"mismatch\"" } else { "" },
                road = road.as_str(),
                decl = match kind {
                    None => "cannot be declared".to_owned(),
                    Some(k) if is_declared => format!("yes ({k})"),
                    Some(k) => format!("no (no {k} capability)"),
                },
                syms = if symbols.is_empty() {
                    "none".to_owned()
                } else {
                    symbols
                        .iter()
                        .map(|s| format!("<code>{}</code>", escape(s)))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                verdict = if mismatch {
                    "<strong>WARNING: mismatch</strong>"
                } else {
                    "matches"
                },
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    let _ = writeln!(
        out,
        "<p>abi_stable locked: {}. Advisories: {}.</p>",
        scan.abi_stable
            .as_deref()
            .map(escape)
            .unwrap_or_else(|| "unknown".to_owned()),
        if scan.advisories.is_empty() {
            "none found".to_owned()
        } else {
            scan.advisories.len().to_string()
        }
    );
    out.push_str("</section>\n");
}

fn render_trust(out: &mut String, ctx: &Context<'_>, p: &Plugin) {
    let _ = write!(
        out,
        r#"<section aria-labelledby="trust-h">
<h2 id="trust-h">Signature and trust</h2>
<ul>
<li>Signed by the publisher role <strong id="publisher">{publisher}</strong>: its index lines and packages are TUF targets of that role, which the registry's root key delegated.</li>
<li>Registry root key id: <code id="root-key">{root}</code>.</li>
<li>Verified when this page was generated: the metadata's signatures and expiry (snapshot {snap}), the index lines, and the package of version {version} (length and sha256 <code>{cksum}</code> as signed).</li>
<li>Your client verifies all of it again before it plans an install: this page is a view, never a trust anchor.</li>
</ul>
</section>
"#,
        publisher = escape(&p.newest.publisher),
        root = escape(&ctx.trust.root_key_ids.join(", ")),
        snap = ctx.trust.snapshot,
        version = escape(&p.entry.version),
        cksum = escape(&p.newest.cksum),
    );
}

fn render_recommendations(out: &mut String, ctx: &Context<'_>, p: &Plugin) {
    out.push_str("<section aria-labelledby=\"recs-h\">\n<h2 id=\"recs-h\">Recommendations</h2>\n<h3>Plugins like this with lower risk</h3>\n<p class=\"rule\">Rule: the other plugins that share a keyword or a capability kind with this one and whose risk label is strictly lower.</p>\n");
    let lower = lower_risk_alternatives(p, ctx.plugins);
    if lower.is_empty() {
        out.push_str("<p id=\"lower-risk-none\">None in this registry.</p>\n");
    } else {
        out.push_str("<ul id=\"lower-risk\">\n");
        for q in lower {
            let _ = writeln!(out, "<li>{}</li>", plugin_link(q));
        }
        out.push_str("</ul>\n");
    }
    let _ = write!(
        out,
        r#"<h3>Compatible with your host</h3>
<p class="rule">Rule: the other plugins whose API range accepts your host's plugin-API version and that ship a library for your host's target triple. Shown for host API <code id="host-api">{api}</code> on <code id="host-triple">{triple}</code>; choose another with <code>?api=…&amp;triple=…</code> in this page's address.</p>
<ul id="host-compatible" data-default-api="{api}" data-default-triple="{triple}">
"#,
        api = escape(&ctx.host_api.to_string()),
        triple = escape(ctx.host_triple),
    );
    let mut any = false;
    for q in ctx.plugins.iter().filter(|q| q.entry.id != p.entry.id) {
        let fits = q.runs_on(ctx.host_api, ctx.host_triple);
        any |= fits;
        let _ = writeln!(
            out,
            "<li class=\"plugin\" {}{}>{}</li>",
            data_attrs(q),
            if fits { "" } else { " hidden" },
            plugin_link(q)
        );
    }
    let _ = writeln!(
        out,
        "</ul>\n<p id=\"host-compatible-none\"{}>None of the other plugins runs on that host.</p>\n</section>",
        if any { " hidden" } else { "" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>\"a\"&'b'</script>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn api_ranges_for_the_script() {
        let r = VersionReq::parse("^0.1").unwrap();
        assert_eq!(api_json(Some(&r)), "[[\"^\",0,1,null]]");
        assert_eq!(api_json(Some(&VersionReq::STAR)), "[]");
        let r = VersionReq::parse(">=0.1.2, <0.3").unwrap();
        assert_eq!(api_json(Some(&r)), "[[\">=\",0,1,2],[\"<\",0,3,null]]");
    }

    #[test]
    fn deep_links_and_commands() {
        assert_eq!(
            deep_link("examples.echo", "1.0.0", "test"),
            "sharelife://install/examples.echo@1.0.0?registry=test"
        );
        assert_eq!(
            install_command("examples.echo", "1.0.0", "test"),
            "sharelife install examples.echo@1.0.0 --registry test"
        );
    }
}
