//! `capability(kind, key = value, ..)`: read into the JSON that the
//! manifest's `Capability` type checks, with the span of each part.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprArray, ExprLit, Lit, Token};

use super::{nested, path_string};

/// `capability(...)` as written, and where each part of it is.
pub(crate) struct CapabilityArg {
    /// The JSON the manifest's `Capability` type reads.
    pub(crate) value: serde_json::Value,
    /// The whole `capability(...)`, for problems with no better place.
    pub(crate) tokens: TokenStream,
    /// The kind and each `key = value`, in order.
    pub(crate) fields: Vec<CapabilityField>,
}

pub(crate) struct CapabilityField {
    /// `kind` for the leading kind, else the key.
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value_span: Span,
}

/// `publish("orders.*")`'s topic pattern as the capability
/// `{"kind": "event", "topic": "orders.*"}`, every part placed at the
/// literal.
pub(super) fn event(topic: &super::At<String>) -> CapabilityArg {
    let lit = syn::LitStr::new(&topic.value, topic.span);
    CapabilityArg {
        value: serde_json::json!({"kind": "event", "topic": topic.value}),
        tokens: lit.to_token_stream(),
        fields: ["kind", "topic"]
            .into_iter()
            .map(|key| CapabilityField {
                key: key.into(),
                key_span: topic.span,
                value_span: topic.span,
            })
            .collect(),
    }
}

const CAPABILITY_SYNTAX: &str =
    "write the kind, then its fields: `capability(network, host = \"example.com\", ports = [443])`";

/// `capability(network, host = "example.com", ports = [443])` becomes the
/// JSON `{"kind": "network", "host": "example.com", "ports": [443]}`, which
/// the manifest's own `Capability` type then checks.
pub(super) fn capability(meta: &ParseNestedMeta<'_>) -> syn::Result<CapabilityArg> {
    // For problems with the whole `capability(...)`: its path and group.
    let path = &meta.path;
    let tokens = match meta.input.cursor().token_tree() {
        Some((group, _)) => quote::quote!(#path #group),
        None => path.to_token_stream(),
    };
    let mut object = serde_json::Map::new();
    let mut fields = Vec::new();
    nested(meta, CAPABILITY_SYNTAX, |inner| {
        let key = path_string(&inner.path);
        let key_span = inner.path.segments[0].ident.span();
        if !inner.input.peek(Token![=]) {
            if object.is_empty() {
                object.insert("kind".into(), key.into());
                fields.push(CapabilityField {
                    key: "kind".into(),
                    key_span,
                    value_span: key_span,
                });
                return Ok(());
            }
            return Err(inner.error(format!(
                "`{key}` needs a value: write `{key} = ...` (the kind comes first, only once)"
            )));
        }
        let expr: Expr = inner.value()?.parse()?;
        object.insert(key.clone(), to_json(&expr)?);
        fields.push(CapabilityField {
            key,
            key_span,
            value_span: first_span(&expr),
        });
        Ok(())
    })?;
    if !object.contains_key("kind") {
        return Err(meta.error(
            "a capability starts with its kind: write `capability(network, host = \"...\")`; the kinds are network, file, command, provider and mcp",
        ));
    }
    Ok(CapabilityArg {
        value: serde_json::Value::Object(object),
        tokens,
        fields,
    })
}

fn first_span(expr: &Expr) -> Span {
    expr.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

fn to_json(expr: &Expr) -> syn::Result<serde_json::Value> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value().into()),
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => Ok(i.base10_parse::<u64>()?.into()),
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value.into()),
        Expr::Array(ExprArray { elems, .. }) => elems
            .iter()
            .map(to_json)
            .collect::<syn::Result<Vec<_>>>()
            .map(Into::into),
        other => Err(syn::Error::new_spanned(
            other,
            "a capability value is a literal: a string, integer, bool or [list] of those, like `host = \"example.com\"` or `ports = [443]`",
        )),
    }
}
