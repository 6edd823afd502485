use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", capability("network", host = "example.com"))]
impl Plugin for Echo {}

fn main() {}
