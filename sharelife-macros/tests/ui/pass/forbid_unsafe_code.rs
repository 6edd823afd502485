// A plugin crate that forbids `unsafe` still compiles with #[plugin]: the
// generated export items carry no `unsafe` the lint can see.
#![forbid(unsafe_code)]

use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Safe;

#[plugin(id = "acme.safe")]
impl Plugin for Safe {
    #[handler]
    fn hello(&self) -> &'static str {
        "hello"
    }
}

fn main() {
    let m = <Safe as sharelife_sdk::HasManifest>::manifest();
    assert_eq!(m.id.as_str(), "acme.safe");
}
