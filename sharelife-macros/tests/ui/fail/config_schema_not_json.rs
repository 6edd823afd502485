use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

// Relative to the crate's manifest directory; trybuild builds this file in
// `target/tests/trybuild/sharelife-macros/`.
#[plugin(id = "acme.echo", config_schema = "../../../../sharelife-macros/tests/ui/fail/not-json.schema.json")]
impl Plugin for Echo {}

fn main() {}
