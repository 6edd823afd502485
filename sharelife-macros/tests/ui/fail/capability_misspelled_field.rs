use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", capability(network, hots = "example.com"))]
impl Plugin for Echo {}

fn main() {}
