use sharelife_sdk::prelude::*;

#[plugin(id = "acme.echo")]
#[derive(Default)]
struct Echo;

fn main() {}
