// The smallest plugin: an id and a `Default` type.
use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Minimal;

#[plugin(id = "acme.minimal")]
impl Plugin for Minimal {}

fn main() {
    let manifest = <Minimal as sharelife_sdk::HasManifest>::manifest();
    assert_eq!(manifest.id.as_str(), "acme.minimal");
    assert!(manifest.handlers.is_empty());
}
