//! Building the manifest from Cargo metadata, arguments and handlers, and
//! validating it with `sharelife-manifest` itself.

use proc_macro2::Span;
use sharelife_manifest::{Capability, RawDependency, RawHandler, RawManifest};

use crate::args::Args;
use crate::handlers::HandlerFn;

fn cargo(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The manifest JSON, or every problem as an error on its token.
pub(crate) fn build(args: &Args, handlers: &[HandlerFn], call_site: Span) -> syn::Result<String> {
    // Paths a problem can be reported at, with the span to report it on.
    let mut spans: Vec<(String, Span)> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };

    let Some(id) = &args.id else {
        return Err(syn::Error::new(call_site, "#[plugin] needs an id: `#[plugin(id = \"acme.my_plugin\")]`"));
    };
    spans.push(("id".into(), id.span));
    let api = match &args.api {
        Some(api) => {
            spans.push(("api".into(), api.span));
            api.value.clone()
        }
        None => sharelife_manifest::DEFAULT_API_REQ.to_owned(),
    };

    let mut capabilities = Vec::new();
    for (i, cap) in args.capabilities.iter().enumerate() {
        spans.push((format!("capabilities[{i}]"), cap.span));
        match serde_json::from_value::<Capability>(cap.value.clone()) {
            Ok(c) => capabilities.push(c),
            Err(e) => push_err(syn::Error::new(cap.span, format!("invalid capability: {e}"))),
        }
    }

    let config_schema = match &args.config_schema {
        None => None,
        Some(file) => {
            spans.push(("config_schema".into(), file.span));
            let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
            let path = std::path::Path::new(&dir).join(&file.value);
            match std::fs::read_to_string(&path) {
                Ok(text) => match serde_json::from_str(&text) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        push_err(syn::Error::new(file.span, format!("{} is not JSON: {e}", path.display())));
                        None
                    }
                },
                Err(e) => {
                    push_err(syn::Error::new(file.span, format!("cannot read {}: {e}", path.display())));
                    None
                }
            }
        }
    };

    for (i, k) in args.keywords.iter().enumerate() {
        spans.push((format!("keywords[{i}]"), k.span));
    }
    for (i, p) in args.platforms.iter().enumerate() {
        spans.push((format!("platforms[{i}]"), p.span));
    }
    for (i, d) in args.dependencies.iter().enumerate() {
        spans.push((format!("dependencies[{i}].id"), d.id.span));
        spans.push((format!("dependencies[{i}].version"), d.version.span));
    }
    for (i, h) in handlers.iter().enumerate() {
        spans.push((format!("handlers[{i}]"), h.name_span));
    }
    for (field, value) in [("name", &args.name), ("description", &args.description), ("homepage", &args.homepage)] {
        if let Some(v) = value {
            spans.push((field.into(), v.span));
        }
    }

    let raw = RawManifest {
        manifest_version: sharelife_manifest::MANIFEST_VERSION.to_owned(),
        id: id.value.clone(),
        version: cargo("CARGO_PKG_VERSION").unwrap_or_else(|| "0.0.0".into()),
        name: args.name.as_ref().map(|n| n.value.clone()).or_else(|| cargo("CARGO_PKG_NAME")),
        description: args.description.as_ref().map(|d| d.value.clone()).or_else(|| cargo("CARGO_PKG_DESCRIPTION")),
        authors: cargo("CARGO_PKG_AUTHORS").map(|a| a.split(':').map(str::to_owned).collect()).unwrap_or_default(),
        license: cargo("CARGO_PKG_LICENSE"),
        homepage: args.homepage.as_ref().map(|h| h.value.clone()).or_else(|| cargo("CARGO_PKG_HOMEPAGE")),
        repository: cargo("CARGO_PKG_REPOSITORY"),
        keywords: args.keywords.iter().map(|k| k.value.clone()).collect(),
        api,
        dependencies: args
            .dependencies
            .iter()
            .map(|d| RawDependency { id: d.id.value.clone(), version: d.version.value.clone() })
            .collect(),
        platforms: args.platforms.iter().map(|p| p.value.clone()).collect(),
        capabilities,
        handlers: handlers.iter().map(|h| RawHandler { name: h.name.clone(), is_async: h.is_async }).collect(),
        config_schema,
    };

    match raw.validate() {
        Ok(manifest) => match errors {
            Some(e) => Err(e),
            None => Ok(manifest.to_json()),
        },
        Err(err) => {
            for problem in err.problems() {
                let span = spans
                    .iter()
                    .filter(|(path, _)| problem.path.starts_with(path.as_str()))
                    .max_by_key(|(path, _)| path.len())
                    .map_or(call_site, |(_, span)| *span);
                let from_cargo = !spans.iter().any(|(p, _)| problem.path.starts_with(p.as_str()));
                let message = if from_cargo {
                    format!("{} (from Cargo.toml's [package] section)", problem)
                } else {
                    problem.message.clone()
                };
                push_err(syn::Error::new(span, message));
            }
            Err(errors.expect("validation reported at least one problem"))
        }
    }
}
