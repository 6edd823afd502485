use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin("acme.echo")]
impl Plugin for Echo {}

fn main() {}
