//! Building the manifest from Cargo metadata, arguments and handlers, and
//! validating it with `sharelife-manifest` itself.

use proc_macro2::{Span, TokenStream};
use sharelife_manifest::{Capability, PluginId, RawDependency, RawHandler, RawManifest};

use crate::args::{Args, CapabilityArg};
use crate::handlers::HandlerFn;

fn cargo(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// Where a problem is reported: one token, or a run of them.
#[derive(Clone, Copy)]
enum Place<'a> {
    Token(Span),
    Tokens(&'a TokenStream),
}

impl Place<'_> {
    fn error(self, message: impl std::fmt::Display) -> syn::Error {
        match self {
            Place::Token(span) => syn::Error::new(span, message),
            Place::Tokens(tokens) => syn::Error::new_spanned(tokens, message),
        }
    }
}

/// Stands in for an id that is missing or unreadable (already reported),
/// so that the rest of the manifest is still checked.
const PLACEHOLDER_ID: &str = "placeholder.id";

/// The manifest JSON, or every problem as an error on its token.
/// `attribute` is where a missing argument is reported.
pub(crate) fn build(args: &Args, handlers: &[HandlerFn], attribute: Span) -> syn::Result<String> {
    // Paths a problem can be reported at, with the place to report it.
    let mut places: Vec<(String, Place<'_>)> = Vec::new();
    // Problems found before validation, reported after its problems: those
    // start with the id, which is usually written first.
    let mut early: Vec<syn::Error> = Vec::new();

    let mut missing_id = None;
    match &args.id {
        Some(id) => places.push(("id".into(), Place::Token(id.span))),
        None if args.id_written => {}
        None => {
            missing_id = Some(syn::Error::new(
                attribute,
                "#[plugin] needs an id: write `#[plugin(id = \"acme.my_plugin\")]` (lowercase letters, digits, '.', '_' and '-')",
            ))
        }
    }
    let api = match &args.api {
        Some(api) => {
            places.push(("api".into(), Place::Token(api.span)));
            api.value.clone()
        }
        None => sharelife_manifest::DEFAULT_API_REQ.to_owned(),
    };

    let mut capabilities = Vec::new();
    for cap in &args.capabilities {
        match serde_json::from_value::<Capability>(cap.value.clone()) {
            Ok(c) => {
                let i = capabilities.len();
                places.push((format!("capabilities[{i}]"), Place::Tokens(&cap.tokens)));
                for field in &cap.fields {
                    places.push((
                        format!("capabilities[{i}].{}", field.key),
                        Place::Token(field.value_span),
                    ));
                }
                capabilities.push(c);
            }
            Err(e) => early.push(capability_error(cap, &e)),
        }
    }

    let config_schema = match &args.config_schema {
        None => None,
        Some(file) => {
            places.push(("config_schema".into(), Place::Token(file.span)));
            let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
            let path = std::path::Path::new(&dir).join(&file.value);
            match std::fs::read_to_string(&path) {
                Ok(text) => match serde_json::from_str(&text) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        let shown = path.canonicalize().unwrap_or_else(|_| path.clone());
                        early.push(syn::Error::new(
                            file.span,
                            format!("the config schema {} is not JSON ({e}); write a JSON Schema document", shown.display()),
                        ));
                        None
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    early.push(syn::Error::new(
                        file.span,
                        format!(
                            "config schema file not found: looked for {}; the path is relative to the directory of the crate's Cargo.toml",
                            path.display()
                        ),
                    ));
                    None
                }
                Err(e) => {
                    early.push(syn::Error::new(
                        file.span,
                        format!("cannot read the config schema {}: {e}", path.display()),
                    ));
                    None
                }
            }
        }
    };

    for (i, k) in args.keywords.iter().enumerate() {
        places.push((format!("keywords[{i}]"), Place::Token(k.span)));
    }
    for (i, p) in args.platforms.iter().enumerate() {
        places.push((format!("platforms[{i}]"), Place::Token(p.span)));
    }
    for (i, t) in args.subscriptions.iter().enumerate() {
        places.push((format!("subscriptions[{i}]"), Place::Token(t.span)));
    }
    for (i, d) in args.dependencies.iter().enumerate() {
        places.push((format!("dependencies[{i}].id"), Place::Token(d.id.span)));
        places.push((
            format!("dependencies[{i}].version"),
            Place::Token(d.version.span),
        ));
    }
    for (i, h) in handlers.iter().enumerate() {
        places.push((format!("handlers[{i}]"), Place::Token(h.name_span)));
        for (j, (_, span)) in h.uses.iter().flatten().enumerate() {
            places.push((format!("handlers[{i}].uses[{j}]"), Place::Token(*span)));
        }
    }
    for (field, value) in [
        ("name", &args.name),
        ("description", &args.description),
        ("homepage", &args.homepage),
    ] {
        if let Some(v) = value {
            places.push((field.into(), Place::Token(v.span)));
        }
    }

    let raw = RawManifest {
        manifest_version: sharelife_manifest::MANIFEST_VERSION.to_owned(),
        id: args
            .id
            .as_ref()
            .map_or_else(|| PLACEHOLDER_ID.to_owned(), |id| id.value.clone()),
        version: cargo("CARGO_PKG_VERSION").unwrap_or_else(|| "0.0.0".into()),
        name: args
            .name
            .as_ref()
            .map(|n| n.value.clone())
            .or_else(|| cargo("CARGO_PKG_NAME")),
        description: args
            .description
            .as_ref()
            .map(|d| d.value.clone())
            .or_else(|| cargo("CARGO_PKG_DESCRIPTION")),
        authors: cargo("CARGO_PKG_AUTHORS")
            .map(|a| a.split(':').map(str::to_owned).collect())
            .unwrap_or_default(),
        license: cargo("CARGO_PKG_LICENSE"),
        homepage: args
            .homepage
            .as_ref()
            .map(|h| h.value.clone())
            .or_else(|| cargo("CARGO_PKG_HOMEPAGE")),
        repository: cargo("CARGO_PKG_REPOSITORY"),
        keywords: args.keywords.iter().map(|k| k.value.clone()).collect(),
        api,
        dependencies: args
            .dependencies
            .iter()
            .map(|d| RawDependency {
                id: d.id.value.clone(),
                version: d.version.value.clone(),
            })
            .collect(),
        platforms: args.platforms.iter().map(|p| p.value.clone()).collect(),
        capabilities,
        handlers: handlers
            .iter()
            .map(|h| RawHandler {
                name: h.name.clone(),
                is_async: h.is_async,
                uses: h.uses.as_ref().map(|uses| {
                    uses.iter()
                        .filter_map(|(class, _)| class.parse().ok())
                        .collect()
                }),
            })
            .collect(),
        config_schema,
        subscriptions: args.subscriptions.iter().map(|t| t.value.clone()).collect(),
    };

    let validated = raw.validate();
    let mut errors = missing_id;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    if let Err(err) = &validated {
        for problem in err.problems() {
            let place = places
                .iter()
                .filter(|(path, _)| problem.path.starts_with(path.as_str()))
                .max_by_key(|(path, _)| path.len())
                .map(|(_, place)| *place);
            match place {
                Some(place) => push_err(place.error(with_hint(&problem.path, &problem.message))),
                // Only Cargo's values (version, license, ...) have no place
                // in the attribute.
                None => push_err(syn::Error::new(
                    attribute,
                    format!("{problem} (from Cargo.toml's [package] section; fix it there)"),
                )),
            }
        }
    }
    early.into_iter().for_each(&mut push_err);
    match errors {
        Some(e) => Err(e),
        None => validated
            .map(|m| m.to_json())
            .map_err(|e| syn::Error::new(attribute, e.to_string())),
    }
}

/// The manifest's message for `path`, plus what to write instead where the
/// message alone does not say.
fn with_hint(path: &str, message: &str) -> String {
    let field = path.rsplit('.').next().unwrap_or(path);
    if message.contains("is not a plugin id") {
        // The message starts with the rejected id, quoted.
        let value = message.split('"').nth(1).unwrap_or_default();
        let example = match PluginId::new(value.to_lowercase()) {
            Ok(fixed) => fixed.to_string(),
            Err(_) => "acme.my_plugin".to_owned(),
        };
        return format!("{message}; write an id like \"{example}\"");
    }
    if message.contains("is not a version range") {
        let example = if path == "api" {
            "\"^0.1\" (the default)"
        } else {
            "\"^1.2\" or \">=1, <3\""
        };
        return format!("{message}; write a semver range like {example}");
    }
    if message.contains("is not a handler name") {
        let value = message.split('"').nth(1).unwrap_or_default();
        let mut example: String = value
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if !example.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            example.insert(0, '_');
        }
        return format!("{message}; write a name like \"{example}\"");
    }
    if ["name", "description"].contains(&field) && message.starts_with("must not be empty") {
        return format!("`{field}` {message}; leave it out to use Cargo.toml's");
    }
    message.to_owned()
}

/// serde's error for a capability the manifest's `Capability` cannot read,
/// on the kind or key it names when there is one.
fn capability_error(cap: &CapabilityArg, err: &serde_json::Error) -> syn::Error {
    let text = err.to_string();
    // serde names the offending variant or field first, in backticks.
    let named = text.split('`').nth(1);
    let kind = cap
        .value
        .get("kind")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let place = cap
        .fields
        .iter()
        .find(|f| Some(f.key.as_str()) == named || (f.key == "kind" && Some(kind) == named))
        .map_or(Place::Tokens(&cap.tokens), |f| Place::Token(f.key_span));
    let message = match text.strip_prefix("unknown variant") {
        Some(rest) => format!("unknown capability kind{rest}"),
        None if text.starts_with("missing field") => {
            format!(
                "invalid `{kind}` capability: {text}; add `{} = ...`",
                named.unwrap_or_default()
            )
        }
        None => format!("invalid `{kind}` capability: {text}"),
    };
    place.error(message)
}
