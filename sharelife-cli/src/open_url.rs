//! `sharelife open-url URL`: the web market's deep link,
//! `sharelife://install/<id>@<version>?registry=<name>`, turned into an
//! install **plan**, exactly as `sharelife install <id>@=<version>
//! --registry <name> --plan-out <file>` makes it. Nothing is installed:
//! the plan is printed and written, and applying it takes `sharelife
//! apply` with the same confirmation and admin rules as any install.
//!
//! The URL comes from a web page, so it is parsed strictly and refused
//! with a typed error ([`OpenUrlError`]) when it is anything else: another
//! scheme or action, an id that is not a plugin id (path traversal,
//! `/`, `%`, upper case…), a version that is not exact semver, extra path
//! segments, a query key other than `registry`, a registry not added to
//! this client, more than [`MAX_URL_LEN`] bytes.
//!
//! Register it as the URL handler on Linux with
//! `examples/sharelife-url-handler.desktop` (`MimeType=x-scheme-handler/sharelife;`):
//!
//! ```text
//! cp examples/sharelife-url-handler.desktop ~/.local/share/applications/
//! xdg-mime default sharelife-url-handler.desktop x-scheme-handler/sharelife
//! ```

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory as _, FromArgMatches as _};
use serde_json::json;
use sharelife_core::manifest::PluginId;
use sharelife_install::InstallRoot;
use sharelife_registry::Home;

use super::install::InstallArgs;
use crate::Failure;

/// The longest deep link accepted (bytes).
pub(crate) const MAX_URL_LEN: usize = 2048;

/// The only scheme and action.
const PREFIX: &str = "sharelife://install/";

/// `sharelife open-url`.
#[derive(Args, Debug)]
pub(crate) struct OpenUrlArgs {
    /// The deep link: `sharelife://install/ID@VERSION?registry=NAME`.
    url: String,
    /// Where to write the plan [default: ROOT/plans/ID-VERSION.plan.json].
    #[arg(long, value_name = "FILE")]
    plan_out: Option<PathBuf>,
    /// The install root [default: $SHARELIFE_HOME, else ~/.sharelife].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Why a deep link was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OpenUrlError {
    /// Over [`MAX_URL_LEN`] bytes.
    #[error("the URL is {0} bytes long; at most {MAX_URL_LEN} are accepted")]
    TooLong(usize),
    /// Whitespace, control characters, `%`-escapes, `#` or `\`.
    #[error("the URL holds {0:?}, which no install link needs")]
    InvalidCharacter(char),
    /// Not `sharelife://install/…`.
    #[error("not a sharelife install link: it must start with `{PREFIX}`")]
    Scheme,
    /// More than one path segment after `install/`.
    #[error("`{0}` has more than one path segment after `install/`")]
    ExtraSegments(String),
    /// No `@VERSION`.
    #[error("`{0}` names no version: the link must say `ID@VERSION`")]
    MissingVersion(String),
    /// Not a plugin id.
    #[error("`{id}` is not a plugin id: {reason}")]
    BadId {
        /// The text.
        id: String,
        /// The rule it breaks.
        reason: String,
    },
    /// Not an exact version.
    #[error("`{version}` is not an exact version (like 1.2.0): {reason}")]
    BadVersion {
        /// The text.
        version: String,
        /// Why.
        reason: String,
    },
    /// A query key other than `registry`.
    #[error("unknown query key `{0}` (only `registry` is accepted)")]
    UnknownKey(String),
    /// `registry` given twice.
    #[error("the query gives `registry` more than once")]
    DuplicateKey,
    /// No `registry=`.
    #[error("the link names no registry (`?registry=NAME`)")]
    MissingRegistry,
    /// Not a registry name.
    #[error("`{0}` is not a registry name: letters, digits, `-`, `_`, `.`, at most 64")]
    BadRegistryName(String),
    /// Not added to this client.
    #[error("no registry named `{name}` is added in {home}")]
    UnknownRegistry {
        /// The name.
        name: String,
        /// The client home / install root.
        home: String,
    },
}

/// A deep link, parsed and checked (except the registry's existence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstallLink {
    /// The plugin.
    pub(crate) id: PluginId,
    /// The exact version.
    pub(crate) version: semver::Version,
    /// The registry's name.
    pub(crate) registry: String,
}

/// Parses `sharelife://install/<id>@<version>?registry=<name>`.
pub(crate) fn parse(url: &str) -> Result<InstallLink, OpenUrlError> {
    if url.len() > MAX_URL_LEN {
        return Err(OpenUrlError::TooLong(url.len()));
    }
    if let Some(c) = url
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '%' | '#' | '\\'))
    {
        return Err(OpenUrlError::InvalidCharacter(c));
    }
    let rest = url.strip_prefix(PREFIX).ok_or(OpenUrlError::Scheme)?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.contains('/') {
        return Err(OpenUrlError::ExtraSegments(path.to_owned()));
    }
    let (id, version) = path
        .split_once('@')
        .ok_or_else(|| OpenUrlError::MissingVersion(path.to_owned()))?;
    let id = PluginId::new(id).map_err(|e| OpenUrlError::BadId {
        id: id.to_owned(),
        reason: e.to_string(),
    })?;
    let version = semver::Version::parse(version).map_err(|e| OpenUrlError::BadVersion {
        version: version.to_owned(),
        reason: e.to_string(),
    })?;
    let mut registry = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "registry" {
            return Err(OpenUrlError::UnknownKey(key.to_owned()));
        }
        if registry.replace(value.to_owned()).is_some() {
            return Err(OpenUrlError::DuplicateKey);
        }
    }
    let registry = registry.ok_or(OpenUrlError::MissingRegistry)?;
    let good_name = !registry.is_empty()
        && registry.len() <= 64
        && !registry.starts_with('.')
        && registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !good_name {
        return Err(OpenUrlError::BadRegistryName(registry));
    }
    Ok(InstallLink {
        id,
        version,
        registry,
    })
}

/// Runs `sharelife open-url`.
pub(crate) fn run(args: OpenUrlArgs) -> Result<(), Failure> {
    let dir = InstallRoot::default_dir(args.root.as_deref());
    let link = match check(&args.url, &dir) {
        Ok(link) => link,
        Err(e) => {
            let failure = Failure::new(format!("refused `{}`: {e}", shorten(&args.url))).hint(
                "an install link is `sharelife://install/ID@VERSION?registry=NAME`, from a registry added with `sharelife registry add`",
            );
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ok": false,
                        "error": failure.message,
                        "hint": failure.hint,
                    }))
                    .expect("JSON serializes")
                );
            }
            return Err(failure);
        }
    };
    let plan_out = match args.plan_out {
        Some(p) => p,
        None => {
            let plans = dir.join("plans");
            std::fs::create_dir_all(&plans)
                .map_err(|e| Failure::new(format!("{}: {e}", plans.display())))?;
            plans.join(format!("{}-{}.plan.json", link.id, link.version))
        }
    };
    let mut argv: Vec<String> = vec![
        "install".into(),
        format!("{}@={}", link.id, link.version),
        "--registry".into(),
        link.registry.clone(),
        "--plan-out".into(),
        plan_out.display().to_string(),
    ];
    if let Some(root) = &args.root {
        argv.extend(["--root".into(), root.display().to_string()]);
    }
    if args.json {
        argv.push("--json".into());
    } else {
        println!("{} is the plan of:", args.url);
        println!("  sharelife {}", argv.join(" "));
        println!("nothing is installed: review the plan, then apply it.");
    }
    // The very same command `sharelife install … --plan-out` runs.
    let command = InstallCli::command();
    let matches = command
        .try_get_matches_from(argv)
        .map_err(|e| Failure::new(e.to_string()))?;
    let install =
        InstallCli::from_arg_matches(&matches).map_err(|e| Failure::new(e.to_string()))?;
    super::install::install(install.args)
}

/// `sharelife install`'s arguments, parsed as the CLI parses them.
#[derive(clap::Parser, Debug)]
#[command(name = "install")]
struct InstallCli {
    #[command(flatten)]
    args: InstallArgs,
}

fn check(url: &str, dir: &Path) -> Result<InstallLink, OpenUrlError> {
    let link = parse(url)?;
    let known = Home::new(dir).registries().unwrap_or_default();
    if !known.contains_key(&link.registry) {
        return Err(OpenUrlError::UnknownRegistry {
            name: link.registry,
            home: dir.display().to_string(),
        });
    }
    Ok(link)
}

/// At most 120 characters of a hostile URL in an error line.
fn shorten(url: &str) -> String {
    if url.chars().count() <= 120 {
        url.to_owned()
    } else {
        format!("{}…", url.chars().take(120).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_one_good_form() {
        let link = parse("sharelife://install/examples.echo@1.0.0?registry=test").unwrap();
        assert_eq!(link.id.as_str(), "examples.echo");
        assert_eq!(link.version.to_string(), "1.0.0");
        assert_eq!(link.registry, "test");
    }

    /// A hostile link and how it must be refused.
    type Case = (&'static str, fn(&OpenUrlError) -> bool);

    #[test]
    fn refuses_everything_else() {
        let cases: &[Case] = &[
            ("https://install/examples.echo@1.0.0?registry=t", |e| {
                *e == OpenUrlError::Scheme
            }),
            ("sharelife://remove/examples.echo@1.0.0?registry=t", |e| {
                *e == OpenUrlError::Scheme
            }),
            ("sharelife://install/../etc@1.0.0?registry=t", |e| {
                matches!(e, OpenUrlError::ExtraSegments(_))
            }),
            ("sharelife://install/..@1.0.0?registry=t", |e| {
                matches!(e, OpenUrlError::BadId { .. })
            }),
            ("sharelife://install/%2e%2e@1.0.0?registry=t", |e| {
                matches!(e, OpenUrlError::InvalidCharacter('%'))
            }),
            ("sharelife://install/Examples.Echo@1.0.0?registry=t", |e| {
                matches!(e, OpenUrlError::BadId { .. })
            }),
            ("sharelife://install/examples.echo@^1?registry=t", |e| {
                matches!(e, OpenUrlError::BadVersion { .. })
            }),
            ("sharelife://install/examples.echo?registry=t", |e| {
                matches!(e, OpenUrlError::MissingVersion(_))
            }),
            (
                "sharelife://install/examples.echo@1.0.0/x?registry=t",
                |e| matches!(e, OpenUrlError::ExtraSegments(_)),
            ),
            (
                "sharelife://install/examples.echo@1.0.0?registry=t&yes=1",
                |e| matches!(e, OpenUrlError::UnknownKey(_)),
            ),
            (
                "sharelife://install/examples.echo@1.0.0?registry=t&registry=u",
                |e| *e == OpenUrlError::DuplicateKey,
            ),
            ("sharelife://install/examples.echo@1.0.0", |e| {
                *e == OpenUrlError::MissingRegistry
            }),
            (
                "sharelife://install/examples.echo@1.0.0?registry=../x",
                |e| matches!(e, OpenUrlError::BadRegistryName(_)),
            ),
            (
                "sharelife://install/examples.echo@1.0.0?registry=t t",
                |e| matches!(e, OpenUrlError::InvalidCharacter(' ')),
            ),
        ];
        for (url, expected) in cases {
            let e = parse(url).unwrap_err();
            assert!(expected(&e), "{url}: {e:?}");
        }
        let long = format!(
            "sharelife://install/examples.echo@1.0.0?registry=t&{}",
            "a".repeat(MAX_URL_LEN)
        );
        assert!(matches!(parse(&long), Err(OpenUrlError::TooLong(_))));
    }
}
