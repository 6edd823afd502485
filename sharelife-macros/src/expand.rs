//! Assembling the output: the impl (with handlers turned into dispatch),
//! the handler methods, and the export and registration items.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote};
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
        handlers::strip(&mut item);
        return with_error(e, item.into_token_stream());
    }

    let (args, arg_errors) = Args::parse(args);
    let extracted = handlers::extract(&mut item);
    let (manifest, manifest_errors) =
        match manifest::build(&args, &extracted.handlers, Span::call_site()) {
            Ok(json) => (Some(json), None),
            Err(e) => (None, Some(e)),
        };
    let generic = (!item.generics.params.is_empty()).then(|| {
        syn::Error::new_spanned(
            &item.generics,
            "a #[plugin] type cannot be generic: a library exports one concrete plugin; \
             write the impl for one concrete type, e.g. `impl Plugin for MyPlugin`",
        )
    });
    // All of them, in the order written: the arguments, then the block.
    let errors = [arg_errors, manifest_errors, generic, extracted.errors]
        .into_iter()
        .flatten()
        .reduce(|mut all, e| {
            all.combine(e);
            all
        });

    let p = glue_path();
    let has_async_trait = item.attrs.iter().any(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "async_trait")
    });
    if !has_async_trait {
        item.attrs.push(syn::parse_quote!(#[#p::async_trait]));
    }
    if !extracted.writes_dispatch {
        item.items.push(syn::ImplItem::Verbatim(handlers::dispatch(
            &p,
            &extracted.handlers,
        )));
    }

    let methods = &extracted.methods;
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let inherent = (!methods.is_empty())
        .then(|| quote! { impl #impl_generics #self_ty #where_clause { #(#methods)* } });

    // One mistake, one error: on any error emit the user's code (so
    // nothing else fails) plus the errors, and no exports.
    let exports = match (&errors, manifest) {
        (None, Some(json)) => exports(&p, &item, &json),
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
        Item::Struct(s) => ("a struct", Some(&s.ident), s.ident.span()),
        Item::Enum(e) => ("an enum", Some(&e.ident), e.ident.span()),
        Item::Union(u) => ("a union", Some(&u.ident), u.ident.span()),
        Item::Fn(f) => ("a function", None, f.sig.ident.span()),
        Item::Trait(t) => ("a trait", None, t.ident.span()),
        Item::Mod(m) => ("a module", None, m.ident.span()),
        other => ("this item", None, other.span()),
    };
    let message = match name {
        // The type is there; only the attribute is in the wrong place.
        Some(name) => format!(
            "#[plugin] goes on an `impl Plugin for {name}` block, not on {kind}: \
             move it to `#[plugin(id = \"...\")] impl Plugin for {name} {{ ... }}`"
        ),
        None => format!(
            "#[plugin] goes on an `impl Plugin for YourType` block, not on {kind}: \
             write `#[derive(Default)] struct YourType;` and `#[plugin(id = \"...\")] impl Plugin for YourType {{ ... }}`, \
             with each handler a #[handler] method in that block"
        ),
    };
    syn::Error::new(span, message)
}

fn check_trait(item: &ItemImpl) -> syn::Result<()> {
    let ty = item.self_ty.to_token_stream().to_string().replace(' ', "");
    match &item.trait_ {
        None => Err(syn::Error::new_spanned(
            &item.self_ty,
            format!(
                "#[plugin] goes on `impl Plugin for {ty}`, not on an inherent impl: write `impl Plugin for {ty} {{ ... }}`"
            ),
        )),
        Some((_, path, _)) if path.segments.last().is_some_and(|s| s.ident == "Plugin") => Ok(()),
        Some((_, path, _)) => Err(syn::Error::new_spanned(
            path,
            format!(
                "#[plugin] goes on `impl Plugin for {ty}`, not on an impl of `{}`: move it to an `impl Plugin for {ty} {{ ... }}` block",
                path.to_token_stream().to_string().replace(' ', "")
            ),
        )),
    }
}

/// The path of the SDK's glue module as the plugin crate names the SDK:
/// `::sdk::__private_v1` for `sdk = { package = "sharelife-sdk", .. }`.
///
/// The SDK's own doctests and tests see `FoundCrate::Itself`; they link the
/// SDK as `sharelife_sdk`, as does a crate whose manifest cannot be read.
fn glue_path() -> TokenStream {
    let name = match proc_macro_crate::crate_name("sharelife-sdk") {
        Ok(proc_macro_crate::FoundCrate::Name(name)) => name,
        Ok(proc_macro_crate::FoundCrate::Itself) | Err(_) => "sharelife_sdk".to_owned(),
    };
    let name = syn::Ident::new(&name, Span::call_site());
    quote!(::#name::__private_v1)
}

/// The section record, header, module and inventory registration.
fn exports(p: &TokenStream, item: &ItemImpl, manifest_json: &str) -> TokenStream {
    let self_ty = &item.self_ty;
    let crate_name = std::env::var("CARGO_CRATE_NAME").unwrap_or_else(|_| "plugin".into());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "0.0.0".into());
    let symbol = format!(
        "__sharelife_plugin_{crate_name}_{}",
        version
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
    );
    // The layout fingerprint, computed here at build time from the
    // sharelife-core this macro is linked with: the host compares it with
    // its own and skips the structural layout check when they are equal.
    let fingerprint = sharelife_core::__private_v1::layout_fingerprint();
    let record =
        sharelife_manifest::section::encode_record(&sharelife_manifest::section::SectionRecord {
            entry_symbol: &symbol,
            manifest_json,
            layout_fingerprint: Some(&fingerprint),
        });
    let record_len = record.len();
    let record_pad = record_len.next_multiple_of(4) - record_len;
    let record = Literal::byte_string(&record);
    let json = Literal::string(manifest_json);
    let elf_note = sharelife_manifest::section::ELF_NOTE_SECTION;
    let note_type = sharelife_manifest::section::NOTE_TYPE;
    let note_name_len = sharelife_manifest::section::NOTE_NAME.len() as u32;
    let mut note_name = sharelife_manifest::section::NOTE_NAME.to_vec();
    note_name.resize(note_name.len().next_multiple_of(4), 0);
    let note_name_padded = note_name.len();
    let note_name = Literal::byte_string(&note_name);
    let macho = sharelife_manifest::section::MACHO_SECTION;
    let pe = sharelife_manifest::section::PE_SECTION;
    quote! {
        const _: () = {
            const MANIFEST: &str = #json;

            // The one item that names `Default` for the plugin type (as a
            // supertrait): a type without it gets a single error, here.
            impl #p::HasManifest for #self_ty {
                const MANIFEST_JSON: &'static str = MANIFEST;
            }

            // Everything else reaches `Default` through `HasManifest`, so
            // it adds no error of its own.
            const fn module<T: #p::HasManifest>() -> #p::PluginModule {
                #p::PluginModule::new::<T>(MANIFEST)
            }
            fn create<T: #p::HasManifest>() -> ::std::boxed::Box<dyn #p::Plugin> {
                ::std::boxed::Box::new(<T as ::core::default::Default>::default())
            }

            // The manifest, readable from the file without loading it. On
            // ELF an ELF note (a `.note` section is `SHT_NOTE`), which the
            // linker puts right after the program headers: a reader finds
            // it in the file's first page. The header's words are in the
            // target's byte order.
            #[cfg(not(any(target_vendor = "apple", windows)))]
            #[repr(C, align(4))]
            struct Note {
                namesz: u32,
                descsz: u32,
                kind: u32,
                name: [u8; #note_name_padded],
                desc: [u8; #record_len],
                pad: [u8; #record_pad],
            }
            #[cfg(not(any(target_vendor = "apple", windows)))]
            #[unsafe(link_section = #elf_note)]
            #[used]
            static RECORD: Note = Note {
                namesz: #note_name_len,
                descsz: #record_len as u32,
                kind: #note_type,
                name: *#note_name,
                desc: *#record,
                pad: [0; #record_pad],
            };
            #[cfg_attr(target_vendor = "apple", unsafe(link_section = #macho))]
            #[cfg_attr(windows, unsafe(link_section = #pe))]
            #[cfg(any(target_vendor = "apple", windows))]
            #[used]
            static RECORD: [u8; #record_len] = *#record;

            static MODULE: #p::PluginModule = module::<#self_ty>();

            #[unsafe(export_name = #symbol)]
            static HEADER: #p::PluginHeader = #p::PluginHeader::new(&MODULE);

            #p::inventory::submit! { #p::StaticPlugin::new(MANIFEST, create::<#self_ty>) }
        };
    }
}
