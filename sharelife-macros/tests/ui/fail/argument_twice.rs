use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", name = "Echo", name = "Echo again")]
impl Plugin for Echo {}

fn main() {}
