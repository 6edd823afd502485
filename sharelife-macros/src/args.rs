//! Parsing `#[plugin(...)]`'s arguments into data plus the span of each,
//! so that validation errors can point at the token that caused them.

mod capability;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{LitStr, Token};

pub(crate) use capability::CapabilityArg;
use capability::capability;

/// A value and where it was written.
pub(crate) struct At<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) id: Option<At<String>>,
    /// Whether `id` was written at all, even unreadably (or may have been,
    /// in arguments that could not be read): then its absence from `id` is
    /// not a second mistake to report.
    pub(crate) id_written: bool,
    pub(crate) api: Option<At<String>>,
    pub(crate) name: Option<At<String>>,
    pub(crate) description: Option<At<String>>,
    pub(crate) homepage: Option<At<String>>,
    pub(crate) keywords: Vec<At<String>>,
    pub(crate) platforms: Vec<At<String>>,
    pub(crate) subscriptions: Vec<At<String>>,
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) capabilities: Vec<CapabilityArg>,
    pub(crate) config_schema: Option<At<String>>,
}

pub(crate) struct Dependency {
    pub(crate) id: At<String>,
    pub(crate) version: At<String>,
}

const KNOWN: &str = "id, api, name, description, homepage, keywords(..), platforms(..), subscribe(..), publish(..), dependency(id = .., version = ..), capability(kind, ..), config_schema";

/// Manifest fields that come from Cargo.toml's `[package]` section.
const FROM_CARGO: &[&str] = &["version", "authors", "license", "repository"];

const DEPENDENCY_SYNTAX: &str = "write `dependency(id = \"acme.other\", version = \"^1\")`";

impl Args {
    /// Every argument that could be read, and an error for each that could
    /// not: one bad argument does not hide the problems of the others.
    pub(crate) fn parse(tokens: TokenStream) -> (Args, Option<syn::Error>) {
        let mut args = Args::default();
        let mut errors: Option<syn::Error> = None;
        let mut push_err = |e: syn::Error| match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        };
        let parser = syn::meta::parser(|meta| {
            if let Err(e) = args.one(&meta) {
                push_err(e);
                skip_to_comma(meta.input);
            }
            Ok(())
        });
        // What fails here is the shape around the arguments: something that
        // is not `key` at all (`#[plugin("acme.echo")]`), or no `,` after one.
        let first = tokens.clone().into_iter().next();
        if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
            let example = match first.map(|t| syn::parse2::<LitStr>(t.into())) {
                Some(Ok(id)) => format!("id = {:?}", id.value()),
                _ => "id = \"acme.my_plugin\", name = \"...\"".to_owned(),
            };
            push_err(syn::Error::new(
                e.span(),
                format!(
                    "#[plugin] takes `key = value` arguments separated by commas: write `#[plugin({example})]`"
                ),
            ));
            // The id may be in what could not be read.
            args.id_written = true;
        }
        (args, errors)
    }

    fn one(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let key = path_string(&meta.path);
        let once = |slot: &Option<At<String>>| -> syn::Result<()> {
            match slot {
                Some(_) => Err(meta.error(format!("`{key}` is given twice; keep one"))),
                None => Ok(()),
            }
        };
        match key.as_str() {
            "id" => {
                self.id_written = true;
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
            "subscribe" => self.subscriptions.extend(string_list(meta)?),
            "dependency" => self.dependencies.push(dependency(meta)?),
            "capability" => self.capabilities.push(capability(meta)?),
            // `publish("orders.*")`: the capability `event` per topic
            // pattern, checked by the manifest like any capability.
            "publish" => self
                .capabilities
                .extend(string_list(meta)?.iter().map(capability::event)),
            _ if FROM_CARGO.contains(&key.as_str()) => {
                return Err(meta.error(format!(
                    "`{key}` is not a #[plugin] argument: the manifest takes it from Cargo.toml, so set `{key}` in its [package] section"
                )));
            }
            _ => {
                let hint = closest(&key)
                    .map(|k| format!("did you mean `{k}`? "))
                    .unwrap_or_default();
                return Err(meta.error(format!(
                    "unknown #[plugin] argument `{key}`; {hint}expected one of: {KNOWN}"
                )));
            }
        }
        Ok(())
    }
}

/// After a bad argument, moves past the rest of it (up to the next `,` at
/// this level) so the arguments after it are still read.
fn skip_to_comma(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn path_string(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The known argument a misspelled one most likely meant.
fn closest(key: &str) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "id",
        "api",
        "name",
        "description",
        "homepage",
        "keywords",
        "platforms",
        "subscribe",
        "publish",
        "dependency",
        "capability",
        "config_schema",
    ];
    NAMES
        .iter()
        .map(|n| (edit_distance(key, n), *n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

fn string(meta: &ParseNestedMeta<'_>) -> syn::Result<At<String>> {
    let key = path_string(&meta.path);
    let wrong = |span| {
        syn::Error::new(
            span,
            format!("`{key}` takes a string literal: write `{key} = \"...\"`"),
        )
    };
    if !meta.input.peek(Token![=]) {
        return Err(wrong(meta.path.segments[0].ident.span()));
    }
    let lit: LitStr = meta.value()?.parse().map_err(|e| wrong(e.span()))?;
    Ok(At {
        value: lit.value(),
        span: lit.span(),
    })
}

fn string_list(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<At<String>>> {
    let key = path_string(&meta.path);
    let syntax = format!("`{key}` takes a list of string literals: write `{key}(\"a\", \"b\")`");
    let group = parens(meta, &syntax)?;
    let lits = syn::parse::Parser::parse2(
        Punctuated::<LitStr, Token![,]>::parse_terminated,
        group.stream(),
    )
    .map_err(|e| syntax_error(&group, &e, &syntax))?;
    Ok(lits
        .into_iter()
        .map(|l| At {
            value: l.value(),
            span: l.span(),
        })
        .collect())
}

/// Takes the `(...)` after `meta`'s path, as a group of its own.
///
/// Its content is then parsed apart from the attribute (`parse2`): an error
/// part way through leaves tokens unread, which inside the attribute's own
/// parse would be reported again as "unexpected token".
fn parens(meta: &ParseNestedMeta<'_>, syntax: &str) -> syn::Result<Group> {
    match meta.input.parse::<TokenTree>() {
        Ok(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis => Ok(group),
        _ => Err(syn::Error::new(meta.input.span(), syntax)),
    }
}

/// syn's error for `group`'s content, replaced by `syntax`, which shows
/// what to write; at the closing parenthesis when the content ended early.
fn syntax_error(group: &Group, err: &syn::Error, syntax: &str) -> syn::Error {
    let span = if ended_early(err) {
        group.span_close()
    } else {
        err.span()
    };
    syn::Error::new(span, syntax)
}

/// Whether `err` is about content that stopped short, which syn reports
/// at the end of the whole attribute rather than where it stopped.
fn ended_early(err: &syn::Error) -> bool {
    err.to_string().starts_with("unexpected end of input")
}

/// `meta`'s parenthesized list, read by `logic`. Errors `logic` raises
/// stand; syn's own ("expected `,`") are replaced by `syntax`.
fn nested(
    meta: &ParseNestedMeta<'_>,
    syntax: &str,
    mut logic: impl FnMut(ParseNestedMeta<'_>) -> syn::Result<()>,
) -> syn::Result<()> {
    let group = parens(meta, syntax)?;
    let mut from_logic = false;
    let parser = syn::meta::parser(|inner| logic(inner).inspect_err(|_| from_logic = true));
    syn::parse::Parser::parse2(parser, group.stream()).map_err(|e| {
        if from_logic && !ended_early(&e) {
            e
        } else {
            syntax_error(&group, &e, syntax)
        }
    })
}

fn dependency(meta: &ParseNestedMeta<'_>) -> syn::Result<Dependency> {
    let mut id = None;
    let mut version = None;
    nested(meta, DEPENDENCY_SYNTAX, |inner| {
        let slot = match path_string(&inner.path).as_str() {
            "id" => &mut id,
            "version" => &mut version,
            other => {
                return Err(inner.error(format!(
                    "a dependency has only `id` and `version`, not `{other}`; {DEPENDENCY_SYNTAX}"
                )));
            }
        };
        *slot = Some(string(&inner)?);
        Ok(())
    })?;
    match (id, version) {
        (Some(id), Some(version)) => Ok(Dependency { id, version }),
        (id, version) => {
            let missing = match (&id, &version) {
                (None, None) => "`id` and `version`",
                (None, Some(_)) => "`id`",
                _ => "`version`",
            };
            let id = id.map_or_else(|| "acme.other".to_owned(), |i| i.value);
            let version = version.map_or_else(|| "^1".to_owned(), |v| v.value);
            Err(meta.error(format!("this dependency is missing {missing}: write `dependency(id = {id:?}, version = {version:?})`")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_argument_a_typo_meant() {
        assert_eq!(closest("homepag"), Some("homepage"));
        assert_eq!(closest("keyword"), Some("keywords"));
        assert_eq!(closest("capabilty"), Some("capability"));
        assert_eq!(closest("colour"), None);
        assert_eq!(closest("x"), None);
    }
}
