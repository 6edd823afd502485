use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", homepag = "https://example.com")]
impl Plugin for Echo {}

fn main() {}
