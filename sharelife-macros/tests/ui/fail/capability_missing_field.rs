use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", capability(file, path = "data/*.json"))]
impl Plugin for Echo {}

fn main() {}
