use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", keywords("text", 42))]
impl Plugin for Echo {}

fn main() {}
