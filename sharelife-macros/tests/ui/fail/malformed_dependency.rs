use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", dependency("acme.store"))]
impl Plugin for Echo {}

fn main() {}
