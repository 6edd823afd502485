use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "Acme.Echo")]
impl Plugin for Echo {}

fn main() {}
