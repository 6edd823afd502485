use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", dependency(id = "acme.store", version = "^1", optional = true))]
impl Plugin for Echo {}

fn main() {}
