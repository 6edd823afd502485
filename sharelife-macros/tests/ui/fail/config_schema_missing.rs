use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", config_schema = "no-such-schema.json")]
impl Plugin for Echo {}

fn main() {}
