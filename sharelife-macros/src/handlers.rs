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
    method: syn::Ident,
    takes_ctx: bool,
    input: Option<Type>,
}

/// Removes the `#[handler]` methods from `item`, returning them checked,
/// plus the methods themselves (to be put in an inherent impl).
pub(crate) fn extract(item: &mut ItemImpl) -> (Vec<HandlerFn>, Vec<ImplItemFn>, Option<syn::Error>) {
    let mut handlers = Vec::new();
    let mut methods = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let mut kept = Vec::new();
    for impl_item in std::mem::take(&mut item.items) {
        let ImplItem::Fn(mut f) = impl_item else {
            kept.push(impl_item);
            continue;
        };
        let Some(pos) = f.attrs.iter().position(|a| a.path().segments.last().is_some_and(|s| s.ident == "handler")) else {
            if f.sig.ident == "call" || f.sig.ident == "call_async" {
                push_err(syn::Error::new(
                    f.sig.ident.span(),
                    format!(
                        "do not write `{}` in a #[plugin] impl: mark handler methods with #[handler] and #[plugin] generates the dispatch",
                        f.sig.ident
                    ),
                ));
            }
            kept.push(ImplItem::Fn(f));
            continue;
        };
        let attr = f.attrs.remove(pos);
        match check(&f, &attr) {
            Ok(h) => {
                if handlers.iter().any(|o: &HandlerFn| o.name == h.name) {
                    push_err(syn::Error::new(h.name_span, format!("handler `{}` is declared twice", h.name)));
                }
                handlers.push(h);
            }
            Err(e) => push_err(e),
        }
        f.vis = syn::Visibility::Inherited;
        methods.push(f);
    }
    item.items = kept;
    (handlers, methods, errors)
}

fn check(f: &ImplItemFn, attr: &syn::Attribute) -> syn::Result<HandlerFn> {
    let mut name = LitStr::new(&f.sig.ident.to_string(), f.sig.ident.span());
    if !matches!(attr.meta, syn::Meta::Path(_)) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                name = meta.value()?.parse()?;
                Ok(())
            } else {
                Err(meta.error("#[handler] takes only `name = \"...\"`"))
            }
        })?;
    }
    if let Some(param) = f.sig.generics.params.iter().find(|p| !matches!(p, syn::GenericParam::Lifetime(_))) {
        return Err(syn::Error::new(param.span(), "a handler cannot have type or const parameters (lifetimes are fine)"));
    }
    let mut inputs = f.sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        other => {
            let span = other.map_or(f.sig.ident.span(), Spanned::span);
            return Err(syn::Error::new(span, "a handler takes `&self` first (plugins are shared between calls; keep mutable state behind a lock)"));
        }
    }
    let rest: Vec<&syn::PatType> = inputs
        .map(|a| match a {
            FnArg::Typed(t) => Ok(t),
            FnArg::Receiver(r) => Err(syn::Error::new(r.span(), "unexpected receiver")),
        })
        .collect::<syn::Result<_>>()?;
    let takes_ctx = rest.first().is_some_and(|a| is_context(&a.ty));
    let inputs = if takes_ctx { &rest[1..] } else { &rest[..] };
    let input = match inputs {
        [] => None,
        [input] => Some(erase_lifetimes(&input.ty)),
        [_, extra, ..] => {
            return Err(syn::Error::new(
                extra.span(),
                "a handler takes `&self`, optionally `ctx: &PluginContext`, and at most one input",
            ));
        }
    };
    Ok(HandlerFn {
        name: name.value(),
        name_span: name.span(),
        is_async: f.sig.asyncness.is_some(),
        method: f.sig.ident.clone(),
        takes_ctx,
        input,
    })
}

/// The `call` and `call_async` methods for `handlers`.
pub(crate) fn dispatch(handlers: &[HandlerFn]) -> TokenStream {
    if handlers.is_empty() {
        return TokenStream::new();
    }
    let p = quote!(::sharelife_sdk::__private);
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
        let call = if h.is_async { quote!(Self::#method(self, #ctx #arg).await) } else { quote!(Self::#method(self, #ctx #arg)) };
        quote! {{ #decode #p::IntoOutput::write_output(#call, __output) }}
    };
    let index = |i: usize| u32::try_from(i).expect("fewer than 2^32 handlers");
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
    let async_arms = handlers.iter().enumerate().filter(|(_, h)| h.is_async).map(|(i, h)| {
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
            match __handler.0 {
                #(#sync_arms)*
                __other => ::core::result::Result::Err(#p::unknown_handler(__other)),
            }
        }

        async fn call_async(
            &self,
            __ctx: &#p::PluginContext,
            __handler: #p::HandlerId,
            __input: &[u8],
            __output: &mut #p::Buffer,
        ) -> ::core::result::Result<(), #p::PluginError> {
            match __handler.0 {
                #(#async_arms)*
                _ => self.call(__ctx, __handler, __input, __output),
            }
        }
    }
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
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "PluginContext"),
            _ => false,
        },
        _ => false,
    }
}
