use sharelife_sdk::prelude::*;

struct Echo;

#[plugin(id = "acme.echo")]
impl Default for Echo {
    fn default() -> Self {
        Echo
    }
}

fn main() {}
