use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", capability(host = "example.com", ports = [443]))]
impl Plugin for Echo {}

fn main() {}
