use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(name = "Echo")]
impl Plugin for Echo {}

fn main() {}
