use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", api = "version one")]
impl Plugin for Echo {}

fn main() {}
