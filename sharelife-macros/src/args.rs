//! Parsing `#[plugin(...)]`'s arguments into data plus the span of each,
//! so that validation errors can point at the token that caused them.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ExprLit, Lit, LitStr};

/// A value and where it was written.
pub(crate) struct At<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) id: Option<At<String>>,
    pub(crate) api: Option<At<String>>,
    pub(crate) name: Option<At<String>>,
    pub(crate) description: Option<At<String>>,
    pub(crate) homepage: Option<At<String>>,
    pub(crate) keywords: Vec<At<String>>,
    pub(crate) platforms: Vec<At<String>>,
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) capabilities: Vec<At<serde_json::Value>>,
    pub(crate) config_schema: Option<At<String>>,
}

pub(crate) struct Dependency {
    pub(crate) id: At<String>,
    pub(crate) version: At<String>,
}

const KNOWN: &str = "id, api, name, description, homepage, keywords(..), platforms(..), dependency(id = .., version = ..), capability(kind, ..), config_schema";

impl Args {
    pub(crate) fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Args> {
        let mut args = Args::default();
        let mut errors: Option<syn::Error> = None;
        let parser = syn::meta::parser(|meta| {
            if let Err(e) = args.one(&meta) {
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
                // Skip the rest of this argument so later ones are still read.
                if meta.input.peek(syn::Token![=]) {
                    let _ = meta.value().and_then(|v| v.parse::<Expr>());
                } else if meta.input.peek(syn::token::Paren) {
                    let _ = meta.parse_nested_meta(|m| {
                        let _ = m.value().and_then(|v| v.parse::<Expr>());
                        Ok(())
                    });
                }
            }
            Ok(())
        });
        syn::parse::Parser::parse2(parser, tokens)?;
        match errors {
            Some(e) => Err(e),
            None => Ok(args),
        }
    }

    fn one(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        let once = |slot: &Option<At<String>>| -> syn::Result<()> {
            match slot {
                Some(_) => Err(meta.error(format!("`{key}` is given twice"))),
                None => Ok(()),
            }
        };
        match key.as_str() {
            "id" => {
                once(&self.id)?;
                self.id = Some(string(meta)?);
            }
            "api" => {
                once(&self.api)?;
                self.api = Some(string(meta)?);
            }
            "name" => {
                once(&self.name)?;
                self.name = Some(string(meta)?);
            }
            "description" => {
                once(&self.description)?;
                self.description = Some(string(meta)?);
            }
            "homepage" => {
                once(&self.homepage)?;
                self.homepage = Some(string(meta)?);
            }
            "config_schema" => {
                once(&self.config_schema)?;
                self.config_schema = Some(string(meta)?);
            }
            "keywords" => self.keywords.extend(string_list(meta)?),
            "platforms" => self.platforms.extend(string_list(meta)?),
            "dependency" => {
                let mut id = None;
                let mut version = None;
                meta.parse_nested_meta(|inner| {
                    match inner.path.get_ident().map(ToString::to_string).as_deref() {
                        Some("id") => id = Some(string(&inner)?),
                        Some("version") => version = Some(string(&inner)?),
                        _ => return Err(inner.error("a dependency takes `id = \"...\"` and `version = \"...\"`")),
                    }
                    Ok(())
                })?;
                match (id, version) {
                    (Some(id), Some(version)) => self.dependencies.push(Dependency { id, version }),
                    _ => return Err(meta.error("write `dependency(id = \"acme.other\", version = \"^1\")`")),
                }
            }
            "capability" => self.capabilities.push(capability(meta)?),
            _ => {
                return Err(meta.error(format!(
                    "unknown #[plugin] argument `{}`; expected one of: {KNOWN}",
                    meta.path.to_token_stream_string()
                )));
            }
        }
        Ok(())
    }
}

trait PathString {
    fn to_token_stream_string(&self) -> String;
}

impl PathString for syn::Path {
    fn to_token_stream_string(&self) -> String {
        quote::ToTokens::to_token_stream(self).to_string().replace(' ', "")
    }
}

fn string(meta: &ParseNestedMeta<'_>) -> syn::Result<At<String>> {
    let lit: LitStr = meta.value()?.parse().map_err(|e| {
        syn::Error::new(e.span(), format!("`{}` takes a string literal", meta.path.to_token_stream_string()))
    })?;
    Ok(At { value: lit.value(), span: lit.span() })
}

fn string_list(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<At<String>>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let lits = content.parse_terminated(<LitStr as syn::parse::Parse>::parse, syn::Token![,])?;
    Ok(lits.into_iter().map(|l| At { value: l.value(), span: l.span() }).collect())
}

/// `capability(network, host = "example.com", ports = [443])` becomes the
/// JSON `{"kind": "network", "host": "example.com", "ports": [443]}`, which
/// the manifest's own `Capability` type then checks.
fn capability(meta: &ParseNestedMeta<'_>) -> syn::Result<At<serde_json::Value>> {
    let span = meta.input.span();
    let mut object = serde_json::Map::new();
    meta.parse_nested_meta(|inner| {
        let key = inner.path.to_token_stream_string();
        if object.is_empty() && !inner.input.peek(syn::Token![=]) {
            object.insert("kind".into(), key.into());
            return Ok(());
        }
        let expr: Expr = inner.value()?.parse()?;
        object.insert(key, to_json(&expr)?);
        Ok(())
    })?;
    if !object.contains_key("kind") {
        return Err(meta.error("name the kind first: `capability(network, host = \"...\")` (network, file, command, provider or mcp)"));
    }
    Ok(At { value: serde_json::Value::Object(object), span })
}

fn to_json(expr: &Expr) -> syn::Result<serde_json::Value> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.value().into()),
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => Ok(i.base10_parse::<u64>()?.into()),
        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => Ok(b.value.into()),
        Expr::Array(ExprArray { elems, .. }) => elems.iter().map(to_json).collect::<syn::Result<Vec<_>>>().map(Into::into),
        other => Err(syn::Error::new(other.span(), "expected a string, integer, bool or [list] literal")),
    }
}
