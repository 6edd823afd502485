use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = acme.echo)]
impl Plugin for Echo {}

fn main() {}
