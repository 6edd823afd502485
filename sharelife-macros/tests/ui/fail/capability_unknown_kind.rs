use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", capability(internet, host = "example.com"))]
impl Plugin for Echo {}

fn main() {}
