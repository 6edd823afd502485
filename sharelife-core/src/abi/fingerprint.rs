//! A fingerprint of the [`PluginModule`] layout: SHA-256 over a canonical
//! text of abi_stable's [`TypeLayout`] of the module and of every type it
//! reaches, so that a host can tell at a glance that a library was built
//! against exactly its own layout and skip abi_stable's structural
//! comparison (~250 µs, most of a cold load) for it.
//!
//! The text (see `canonical`) lists every layout reachable from the root
//! once, in a fixed traversal order, with every property the structural
//! check compares: names, full types, package and version, module path
//! and line, size, alignment, non-zero niche, repr, tag, fields (names,
//! types by index, lifetimes, accessors, function signatures with
//! parameter and return types by index), enum variants, field counts,
//! exhaustiveness and discriminants, prefix-type fields and their
//! conditionality and phantom fields; of extra checks (code, compared by
//! running it) abi_stable's `RequiredTraits` of trait objects is plain
//! data and described, any other makes the fingerprint unique to its
//! binary, so it never matches and the full check runs. Left out is what
//! differs between two builds of one layout: `UTypeId`s (they hash the
//! compiler's `TypeId` and the address of a static of the binary) and any
//! printed address.
//!
//! The `#[plugin]` macro computes it at build time, from the
//! `sharelife-core` it is linked with (the plugin's own: cargo resolves
//! one version of a package for both), and writes it into the plugin's
//! `.sharelife` record; the host computes its own once per process. Equal
//! fingerprints mean equal layout descriptions (a SHA-256 collision
//! aside); the loader runs the full structural check whenever they differ
//! or the record carries none. See `loader::check_header`.

use std::sync::OnceLock;

use abi_stable::StableAbi;
use abi_stable::type_layout::TypeLayout;
use sha2::{Digest, Sha256};

use super::PluginModule;

/// The fingerprint's length in bytes.
pub(crate) const LEN: usize = 32;

/// The fingerprint of the [`PluginModule`] layout this crate was compiled
/// with. Computed anew at each call (a few hundred microseconds): the
/// `#[plugin]` macro calls it once per plugin at build time; the loader
/// uses its own copy, computed once per process.
pub fn layout_fingerprint() -> [u8; LEN] {
    of(<PluginModule as StableAbi>::LAYOUT)
}

/// This host's fingerprint, computed on first use.
#[cfg_attr(
    not(feature = "host"),
    allow(dead_code, reason = "the loader is host-only")
)]
pub(crate) fn host() -> &'static [u8; LEN] {
    static HOST: OnceLock<[u8; LEN]> = OnceLock::new();
    HOST.get_or_init(layout_fingerprint)
}

/// The fingerprint of `layout`.
pub(crate) fn of(layout: &'static TypeLayout) -> [u8; LEN] {
    Sha256::digest(canonical(layout).as_bytes()).into()
}

/// A canonical description of `layout` and every layout it reaches: for
/// each, in abi_stable's traversal order (depth first through its shared
/// type layouts, then its extra checks' nested ones, each once), its
/// index, abi_stable's `Display` text of it (type, size, alignment,
/// package and version, line, module, data: fields, variants,
/// discriminants, prefix fields; phantom fields, tag, extra checks, repr,
/// reflection mode) with any printed address masked, and then what
/// `Display` names only by type name: the index of each field's layout,
/// and of each function parameter's and return value's.
fn canonical(layout: &'static TypeLayout) -> String {
    use std::fmt::Write;

    let mut order: Vec<&'static TypeLayout> = Vec::new();
    let mut index = Index::new();
    visit(layout, &mut order, &mut index);
    let mut out = String::with_capacity(64 * 1024);
    for (i, layout) in order.iter().enumerate() {
        let _ = write!(out, "\n#{i}\n");
        mask_addresses(&layout.to_string(), &mut out);
        if let Some(checks) = layout.extra_checks() {
            let checked = checks.type_layout();
            if checked.name() == "RequiredTraits" && checked.package() == "abi_stable" {
                // abi_stable's own check for trait objects (`RObject`): two
                // sets of implemented traits, compatible when equal (auto
                // traits) or a superset (the others). Its `Debug` lists
                // both sets, so equal text is a passing check.
                let _ = write!(out, "\nextra checks: {checks:?}");
            } else {
                // Any other extra check is code, compared by running it: no
                // text stands for it. The layout's address makes this
                // fingerprint differ from every other binary's, so such a
                // graph always gets the full check.
                let _ = write!(out, "\nextra checks, never skipped: {:p}", *layout);
            }
        }
        // What `Display` leaves out, all plain data.
        let _ = write!(
            out,
            "\nnonzero:{} tag:{:?}",
            layout.is_nonzero(),
            layout.tag()
        );
        match layout.data() {
            abi_stable::type_layout::TLData::Enum(e) => {
                let _ = write!(
                    out,
                    "\nvariant fields:{:?} {:?} discriminants:{:?}",
                    e.field_count, e.exhaustiveness, e.discriminants
                );
            }
            abi_stable::type_layout::TLData::PrefixType(p) => {
                let _ = write!(
                    out,
                    "\nprefix:{} {:?} {:?}",
                    p.first_suffix_field, p.conditional_prefix_fields, p.accessible_fields
                );
            }
            _ => {}
        }
        for_each_field(layout, |field| {
            let _ = write!(
                out,
                "\n{}:{} {:?} {:?}",
                field.name(),
                index_of(&index, field.layout()),
                field.lifetime_indices(),
                field.field_accessor()
            );
            for function in field.function_range().iter() {
                let _ = write!(
                    out,
                    " fn {}<{}>[{}]{:?}{:?}(",
                    function.name,
                    function.bound_lifetimes,
                    function.param_names,
                    function.paramret_lifetime_indices,
                    function.fn_qualifs
                );
                for param in function.param_type_layouts.iter() {
                    let _ = write!(out, "{},", index_of(&index, param()));
                }
                let ret = function.return_type_layout().map(|r| index_of(&index, r()));
                let _ = write!(out, ")->{ret:?}");
            }
        });
    }
    out
}

/// Appends `text` to `out` with every `0x…` number replaced by `0x?`.
fn mask_addresses(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(start) = rest.find("0x") {
        out.push_str(&rest[..start]);
        out.push_str("0x?");
        let after = &rest[start + 2..];
        let digits = after
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(after.len());
        rest = &after[digits..];
    }
    out.push_str(rest);
}

type Index = std::collections::HashMap<abi_stable::std_types::UTypeId, usize>;

fn visit(layout: &'static TypeLayout, order: &mut Vec<&'static TypeLayout>, index: &mut Index) {
    if index.contains_key(&layout.get_utypeid()) {
        return;
    }
    index.insert(layout.get_utypeid(), order.len());
    order.push(layout);
    for nested in layout.shared_vars().type_layouts() {
        visit(nested(), order, index);
    }
    if let Some(checks) = layout.extra_checks() {
        for nested in &*checks.nested_type_layouts() {
            visit(nested, order, index);
        }
    }
}

/// A layout's index, or `usize::MAX` for one outside the traversal (none
/// is: every parameter type is among its layout's shared type layouts).
fn index_of(index: &Index, layout: &'static TypeLayout) -> usize {
    index
        .get(&layout.get_utypeid())
        .copied()
        .unwrap_or(usize::MAX)
}

/// Calls `f` with every field of `layout`: its data's and its phantom ones.
fn for_each_field(layout: &TypeLayout, mut f: impl FnMut(&abi_stable::type_layout::TLField)) {
    use abi_stable::type_layout::TLData;
    let fields = match layout.data() {
        TLData::Struct { fields } | TLData::Union { fields } => Some(fields),
        TLData::Enum(e) => Some(e.fields),
        TLData::PrefixType(p) => Some(p.fields),
        TLData::Primitive(_) | TLData::Opaque => None,
    };
    for field in fields.iter().flat_map(|f| f.iter()) {
        f(&field);
    }
    for field in layout.phantom_fields().iter() {
        f(&field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_has_no_process_local_ids_and_the_fingerprint_is_stable() {
        let text = canonical(<PluginModule as StableAbi>::LAYOUT);
        assert!(text.contains("PluginModule") && text.contains("PluginVTable"));
        let addresses = text.matches("0x").count();
        assert_eq!(text.matches("0x?").count(), addresses, "no addresses");
        // Field and parameter types by index.
        assert!(text.contains("\ncreate:"), "{text}");
        assert!(text.contains(" fn create<"), "{text}");
        let checks = text
            .find("\nextra checks: ")
            .expect("RObject's RequiredTraits");
        assert!(text[checks..].starts_with("\nextra checks: RequiredTraits {"));
        assert!(!text.contains("never skipped"));
        assert_eq!(layout_fingerprint(), *host());
    }

    #[test]
    fn a_different_layout_has_a_different_fingerprint() {
        assert_ne!(
            of(<PluginModule as StableAbi>::LAYOUT),
            of(<super::super::PluginObject as StableAbi>::LAYOUT)
        );
    }
}
