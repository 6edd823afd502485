use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo")]
impl Echo {
    #[handler]
    fn echo<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input
    }
}

fn main() {}
