use sharelife_sdk::prelude::*;

const HOST: &str = "example.com";

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo", capability(network, host = HOST))]
impl Plugin for Echo {}

fn main() {
    let _ = HOST;
}
