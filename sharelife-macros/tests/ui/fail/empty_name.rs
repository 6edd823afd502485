use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", name = "")]
impl Plugin for Echo {}

fn main() {}
