use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Notes;

#[plugin(
    id = "acme.notes",
    capability(file, access = "raed", path = "notes/*.txt")
)]
impl Plugin for Notes {}

fn main() {}
