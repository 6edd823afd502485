//! `#[handler]` methods: taken out of the trait impl, checked, and turned
//! into index-based dispatch in `call` / `call_async`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, Type};

pub(crate) struct HandlerFn {
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) is_async: bool,
    /// `uses(file.read, ...)`, the capability classes as written, each with
    /// its span; `None` when the handler declares none.
    pub(crate) uses: Option<Vec<(String, Span)>>,
    method: syn::Ident,
    takes_ctx: bool,
    input: Option<Type>,
    /// The return type, or the name when there is none: where a return
    /// type that is not `IntoOutput` is reported.
    output_span: Span,
}

/// What [`extract`] took out of a `#[plugin]` block.
pub(crate) struct Extracted {
    /// The handlers that passed their checks, in manifest order.
    pub(crate) handlers: Vec<HandlerFn>,
    /// The `#[handler]` methods themselves, for an inherent impl.
    pub(crate) methods: Vec<ImplItemFn>,
    /// Whether the block defines `call` or `call_async` itself (an error,
    /// and then the generated ones would clash with it).
    pub(crate) writes_dispatch: bool,
    pub(crate) errors: Option<syn::Error>,
}

fn is_handler_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "handler")
}

/// For a block that is not a plugin (reported already): removes the
/// `#[handler]` attributes, whose own error would repeat the report, and
/// the methods they mark where those methods cannot stay (a trait impl
/// that is not `Plugin`).
pub(crate) fn strip(item: &mut ItemImpl) {
    let keep_methods = item.trait_.is_none();
    item.items.retain_mut(|impl_item| {
        let ImplItem::Fn(f) = impl_item else {
            return true;
        };
        let before = f.attrs.len();
        f.attrs.retain(|a| !is_handler_attr(a));
        keep_methods || f.attrs.len() == before
    });
}

/// Removes the `#[handler]` methods from `item` and checks them.
pub(crate) fn extract(item: &mut ItemImpl) -> Extracted {
    let mut out = Extracted {
        handlers: Vec::new(),
        methods: Vec::new(),
        writes_dispatch: false,
        errors: None,
    };
    let mut push_err = |e: syn::Error| match &mut out.errors {
        Some(all) => all.combine(e),
        None => out.errors = Some(e),
    };
    let mut kept = Vec::new();
    for impl_item in std::mem::take(&mut item.items) {
        let ImplItem::Fn(mut f) = impl_item else {
            kept.push(impl_item);
            continue;
        };
        let Some(pos) = f.attrs.iter().position(is_handler_attr) else {
            if f.sig.ident == "call" || f.sig.ident == "call_async" {
                out.writes_dispatch = true;
                push_err(syn::Error::new(
                    f.sig.ident.span(),
                    format!(
                        "#[plugin] generates `{}` from the #[handler] methods: remove this `{}` and mark each handler method with #[handler]",
                        f.sig.ident, f.sig.ident
                    ),
                ));
            }
            kept.push(ImplItem::Fn(f));
            continue;
        };
        let attr = f.attrs.remove(pos);
        f.vis = syn::Visibility::Inherited;
        match check(&f, &attr) {
            Ok(h) => match out.handlers.iter().find(|o| o.name == h.name) {
                Some(first) => {
                    push_err(syn::Error::new(
                        h.name_span,
                        format!(
                            "handler name `{}` is already taken by method `{}`: give one of them another name with #[handler(name = \"...\")]",
                            h.name, first.method
                        ),
                    ));
                    // Two methods of one name are rustc's error too; keep
                    // only the first so the mistake is reported once.
                    if first.method == h.method {
                        continue;
                    }
                }
                None => out.handlers.push(h),
            },
            Err(e) => push_err(e),
        }
        out.methods.push(f);
    }
    item.items = kept;
    out
}

/// `(file.read, network.outbound)`: capability classes, `kind.action`.
fn parse_uses(input: syn::parse::ParseStream<'_>) -> syn::Result<Vec<(String, Span)>> {
    let content;
    syn::parenthesized!(content in input);
    let mut out = Vec::new();
    while !content.is_empty() {
        let kind: syn::Ident = content.parse()?;
        content.parse::<syn::Token![.]>()?;
        let action: syn::Ident = content.parse()?;
        let span = kind.span().join(action.span()).unwrap_or(kind.span());
        let class = format!("{kind}.{action}");
        if !CLASSES.contains(&class.as_str()) {
            return Err(syn::Error::new(
                span,
                format!(
                    "`{class}` is not a capability class; use one of {}",
                    CLASSES.join(", ")
                ),
            ));
        }
        out.push((class, span));
        if content.is_empty() {
            break;
        }
        content.parse::<syn::Token![,]>()?;
    }
    Ok(out)
}

/// The capability classes a handler can declare.
const CLASSES: &[&str] = &sharelife_manifest::CapabilityClass::NAMES;

fn check(f: &ImplItemFn, attr: &syn::Attribute) -> syn::Result<HandlerFn> {
    let mut name = LitStr::new(&f.sig.ident.to_string(), f.sig.ident.span());
    let mut uses = None;
    if !matches!(attr.meta, syn::Meta::Path(_)) {
        let usage = "#[handler] takes a name and the capability classes it uses: write `#[handler]`, `#[handler(name = \"greet\")]` or `#[handler(uses(file.read, network.outbound))]`";
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                name = meta.value()?.parse()?;
                Ok(())
            } else if meta.path.is_ident("uses") {
                uses = Some(parse_uses(meta.input)?);
                Ok(())
            } else {
                Err(meta.error(usage))
            }
        })
        .map_err(|e| {
            if e.to_string().contains("capability class") {
                e
            } else {
                syn::Error::new(e.span(), usage)
            }
        })?;
    }
    if let Some(param) = f
        .sig
        .generics
        .params
        .iter()
        .find(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
    {
        return Err(syn::Error::new_spanned(
            param,
            "a handler cannot have type or const parameters: the dispatch calls it with one concrete input type (lifetime parameters are fine)",
        ));
    }
    let mut inputs = f.sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) if r.reference.is_some() => {
            return Err(syn::Error::new_spanned(
                r,
                "a handler takes `&self`, not `&mut self`: handlers may run concurrently, so keep mutable state behind a lock or an atomic",
            ));
        }
        Some(FnArg::Receiver(r)) => {
            return Err(syn::Error::new_spanned(
                r,
                "a handler takes `&self`, not `self` by value: the plugin outlives each call and is shared between concurrent calls",
            ));
        }
        _ => {
            return Err(syn::Error::new(
                f.sig.paren_token.span.join(),
                "a handler is a method: add `&self` as its first parameter",
            ));
        }
    }
    let rest: Vec<&syn::PatType> = inputs
        .map(|a| match a {
            FnArg::Typed(t) => Ok(t),
            FnArg::Receiver(r) => Err(syn::Error::new_spanned(
                r,
                "only the first parameter of a handler can be `self`",
            )),
        })
        .collect::<syn::Result<_>>()?;
    let takes_ctx = rest.first().is_some_and(|a| is_context(&a.ty));
    let inputs = if takes_ctx { &rest[1..] } else { &rest[..] };
    if let Some(ctx) = inputs.iter().find(|a| is_context(&a.ty)) {
        return Err(syn::Error::new_spanned(
            ctx,
            "`ctx: &PluginContext` goes right after `&self`, before the input",
        ));
    }
    let input = match inputs {
        [] => None,
        [input] => Some(erase_lifetimes(&input.ty)),
        [_, extra @ ..] => {
            return Err(syn::Error::new_spanned(
                quote!(#(#extra),*),
                "a handler takes `&self`, optionally `ctx: &PluginContext`, and at most one input; \
                 to take several values, take one `Json<T>` whose `T` holds them all",
            ));
        }
    };
    Ok(HandlerFn {
        name: name.value(),
        name_span: name.span(),
        is_async: f.sig.asyncness.is_some(),
        uses,
        method: f.sig.ident.clone(),
        takes_ctx,
        input,
        output_span: match &f.sig.output {
            syn::ReturnType::Type(_, ty) => ty.span(),
            syn::ReturnType::Default => f.sig.ident.span(),
        },
    })
}

/// The `call` and `call_async` methods for `handlers`.
pub(crate) fn dispatch(p: &TokenStream, handlers: &[HandlerFn]) -> TokenStream {
    if handlers.is_empty() {
        return TokenStream::new();
    }
    let invoke = |h: &HandlerFn| {
        let method = &h.method;
        let ctx = h.takes_ctx.then(|| quote!(__ctx,));
        let (decode, arg) = match &h.input {
            Some(ty) => (
                quote_spanned! {ty.span()=> let __in = <#ty as #p::FromPayload<'_>>::from_payload(__input)?; },
                quote!(__in),
            ),
            None => (quote!(), quote!()),
        };
        let call = if h.is_async {
            quote!(Self::#method(self, #ctx #arg).await)
        } else {
            quote!(Self::#method(self, #ctx #arg))
        };
        // Spanned on the return type, which is where an output that is not
        // `IntoOutput` is reported.
        let p = respan(p, h.output_span);
        let write = quote_spanned! {h.output_span=>
            #p::IntoOutput::write_output(__result, __output)
        };
        quote! {{ #decode let __result = #call; #write }}
    };
    // Unsuffixed, so the literal takes the type of `HandlerId::index`.
    let index = proc_macro2::Literal::usize_unsuffixed;
    let sync_arms = handlers.iter().enumerate().map(|(i, h)| {
        let i = index(i);
        if h.is_async {
            let name = &h.name;
            quote!(#i => ::core::result::Result::Err(#p::async_handler(#name)),)
        } else {
            let body = invoke(h);
            quote!(#i => #body,)
        }
    });
    let async_arms = handlers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_async)
        .map(|(i, h)| {
            let i = index(i);
            let body = invoke(h);
            quote!(#i => #body,)
        });
    let ctx_ident = format_ident!("__ctx");
    quote! {
        fn call(
            &self,
            #ctx_ident: &#p::PluginContext,
            __handler: #p::HandlerId,
            __input: &[u8],
            __output: &mut #p::Buffer,
        ) -> ::core::result::Result<(), #p::PluginError> {
            let _ = (&__ctx, &__input);
            match __handler.index() {
                #(#sync_arms)*
                _ => ::core::result::Result::Err(#p::unknown_handler(__handler)),
            }
        }

        async fn call_async(
            &self,
            __ctx: &#p::PluginContext,
            __handler: #p::HandlerId,
            __input: &[u8],
            __output: &mut #p::Buffer,
        ) -> ::core::result::Result<(), #p::PluginError> {
            match __handler.index() {
                #(#async_arms)*
                _ => self.call(__ctx, __handler, __input, __output),
            }
        }
    }
}

/// `tokens` with every token at `span`, so an error in them points there.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(g) = &tree {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tree = group.into();
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// The input type as the dispatch names it: the handler's own lifetime
/// parameters are not in scope there, so named lifetimes become `'_`.
fn erase_lifetimes(ty: &Type) -> Type {
    struct Erase;
    impl syn::visit_mut::VisitMut for Erase {
        fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
            if lifetime.ident != "static" {
                *lifetime = syn::Lifetime::new("'_", lifetime.span());
            }
        }
    }
    let mut ty = ty.clone();
    syn::visit_mut::VisitMut::visit_type_mut(&mut Erase, &mut ty);
    ty
}

/// Whether `ty` is `&PluginContext` (by any path).
fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) => p
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "PluginContext"),
            _ => false,
        },
        _ => false,
    }
}
