//! The `#[plugin]` attribute. Use it through `sharelife-sdk`, which
//! re-exports it and provides the items the generated code names.
//!
//! `#[plugin(...)]` goes on an `impl Plugin for YourType` block. It
//!
//! * builds the plugin's manifest from the crate's Cargo metadata and the
//!   attribute's arguments, and validates it at compile time;
//! * turns the block's `#[handler]` methods into the plugin's handlers
//!   (dispatch by index, typed input and output);
//! * exports the library header and writes the manifest into the
//!   `.sharelife` link section, for dynamic loading;
//! * registers the plugin with `inventory`, for static linking.
//!
//! Each misuse is a compile error on the offending token that says what to
//! write instead; see `sharelife-sdk`'s documentation for the full syntax.
#![forbid(unsafe_code)]

mod args;
mod expand;
mod handlers;
mod manifest;

use proc_macro::TokenStream;

/// Declares a sharelife plugin. See the `sharelife-sdk` crate docs.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(args.into(), item.into()).into()
}

/// Marks a method of a `#[plugin]` impl block as a handler. Only valid
/// inside such a block, which removes it.
#[proc_macro_attribute]
pub fn handler(_args: TokenStream, _item: TokenStream) -> TokenStream {
    // Reached only when no #[plugin] took the attribute off first. The
    // method is dropped: most often it sits in an `impl Plugin` block that
    // lacks #[plugin], where it would add "not a member of trait `Plugin`".
    syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[handler] only works inside an `impl Plugin for ...` block marked #[plugin(id = \"...\")]: \
         add #[plugin(...)] to that block, or remove #[handler]",
    )
    .into_compile_error()
    .into()
}
