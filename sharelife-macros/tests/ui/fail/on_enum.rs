use sharelife_sdk::prelude::*;

#[plugin(id = "acme.echo")]
#[derive(Default)]
enum Echo {
    #[default]
    Idle,
}

fn main() {}
