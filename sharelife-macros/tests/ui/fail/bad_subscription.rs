use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Ears;

#[plugin(id = "acme.ears", subscribe("chat.message", "chat message"))]
impl Plugin for Ears {}

fn main() {}
