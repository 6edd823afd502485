use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", version = "1.0.0")]
impl Plugin for Echo {}

fn main() {}
