//! Assembling the output: the impl (with handlers turned into dispatch),
//! the handler methods, and the export and registration items.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Item, ItemImpl};

use crate::args::Args;
use crate::{handlers, manifest};

pub(crate) fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item: ItemImpl = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Impl(i)) => i,
        Ok(other) => return with_error(wrong_item(&other), item),
        Err(e) => return with_error(e, item),
    };
    if let Err(e) = check_trait(&item) {
        return with_error(e, item.into_token_stream());
    }

    let mut errors: Option<syn::Error> = None;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let (handlers, methods, handler_errors) = handlers::extract(&mut item);
    if let Some(e) = handler_errors {
        push_err(e);
    }
    let manifest = match Args::parse(args) {
        Ok(args) => manifest::build(&args, &handlers, item.impl_token.span).map_err(&mut push_err).ok(),
        Err(e) => {
            push_err(e);
            None
        }
    };

    let p = quote!(::sharelife_sdk::__private);
    let dispatch = handlers::dispatch(&handlers);
    let has_async_trait = item.attrs.iter().any(|a| a.path().segments.last().is_some_and(|s| s.ident == "async_trait"));
    if !has_async_trait {
        item.attrs.push(syn::parse_quote!(#[#p::async_trait]));
    }
    item.items.push(syn::ImplItem::Verbatim(dispatch));

    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let inherent = (!methods.is_empty()).then(|| quote! { impl #impl_generics #self_ty #where_clause { #(#methods)* } });

    // One mistake, one error: on any error emit the user's code as it is
    // (so nothing else fails) plus the errors, and no exports.
    let exports = match (&errors, manifest) {
        (None, Some(json)) => exports(&item, &json),
        _ => TokenStream::new(),
    };
    let errors = errors.map(syn::Error::into_compile_error);
    quote! {
        #errors
        #item
        #inherent
        #exports
    }
}

fn with_error(err: syn::Error, item: TokenStream) -> TokenStream {
    let mut out = err.into_compile_error();
    out.extend(item);
    out
}

fn wrong_item(item: &Item) -> syn::Error {
    let (kind, name, span) = match item {
        Item::Struct(s) => ("a struct", s.ident.to_string(), s.ident.span()),
        Item::Enum(e) => ("an enum", e.ident.to_string(), e.ident.span()),
        Item::Fn(f) => ("a function", f.sig.ident.to_string(), f.sig.ident.span()),
        Item::Trait(t) => ("a trait", t.ident.to_string(), t.ident.span()),
        other => ("this item", "YourType".to_owned(), other.span()),
    };
    let name = if matches!(item, Item::Fn(_) | Item::Trait(_)) { "YourType".to_owned() } else { name };
    syn::Error::new(
        span,
        format!(
            "#[plugin] goes on an `impl Plugin for {name}` block, not on {kind}; \
             write `#[derive(Default)] struct {name};` and put `#[plugin(id = \"...\")]` on `impl Plugin for {name} {{ ... }}`"
        ),
    )
}

fn check_trait(item: &ItemImpl) -> syn::Result<()> {
    let ty = item.self_ty.to_token_stream().to_string();
    match &item.trait_ {
        None => Err(syn::Error::new(
            item.self_ty.span(),
            format!("#[plugin] needs `impl Plugin for {ty}`, this is an inherent impl; write `#[plugin(id = \"...\")] impl Plugin for {ty} {{ ... }}`"),
        )),
        Some((_, path, _)) if path.segments.last().is_some_and(|s| s.ident == "Plugin") => {
            if !item.generics.params.is_empty() {
                return Err(syn::Error::new(item.generics.span(), "a #[plugin] type cannot be generic: the library exports one concrete plugin"));
            }
            Ok(())
        }
        Some((_, path, _)) => Err(syn::Error::new(
            path.span(),
            format!("#[plugin] goes on `impl Plugin for {ty}`, not on an impl of `{}`", path.to_token_stream().to_string().replace(' ', "")),
        )),
    }
}

/// The section record, header, module and inventory registration.
fn exports(item: &ItemImpl, manifest_json: &str) -> TokenStream {
    let p = quote!(::sharelife_sdk::__private);
    let self_ty = &item.self_ty;
    let crate_name = std::env::var("CARGO_CRATE_NAME").unwrap_or_else(|_| "plugin".into());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "0.0.0".into());
    let symbol = format!(
        "__sharelife_plugin_{crate_name}_{}",
        version.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>()
    );
    let record = sharelife_manifest::section::encode(&symbol, manifest_json);
    let record_len = record.len();
    let record = Literal::byte_string(&record);
    let json = Literal::string(manifest_json);
    let elf = sharelife_manifest::section::ELF_SECTION;
    let macho = sharelife_manifest::section::MACHO_SECTION;
    let pe = sharelife_manifest::section::PE_SECTION;
    let span = self_ty.span();
    let default_check = quote_spanned! {span=>
        const _: fn() = || {
            fn plugin_types_need_default<T: ::core::default::Default>() {}
            plugin_types_need_default::<#self_ty>();
        };
    };
    quote! {
        #default_check
        const _: () = {
            const MANIFEST: &str = #json;

            // The manifest, readable from the file without loading it.
            #[cfg_attr(target_vendor = "apple", unsafe(link_section = #macho))]
            #[cfg_attr(windows, unsafe(link_section = #pe))]
            #[cfg_attr(not(any(target_vendor = "apple", windows)), unsafe(link_section = #elf))]
            #[used]
            static RECORD: [u8; #record_len] = *#record;

            static MODULE: #p::PluginModule = #p::PluginModule::new::<#self_ty>(MANIFEST);

            #[unsafe(export_name = #symbol)]
            static HEADER: #p::PluginHeader = #p::PluginHeader::new(&MODULE);

            impl #p::HasManifest for #self_ty {
                const MANIFEST_JSON: &'static str = MANIFEST;
            }

            fn create() -> ::std::boxed::Box<dyn #p::Plugin> {
                ::std::boxed::Box::new(<#self_ty as ::core::default::Default>::default())
            }
            #p::inventory::submit! { #p::StaticPlugin::new(MANIFEST, create) }
        };
    }
}
