use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo")]
impl Plugin for Echo {
    #[handler]
    fn echo<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input
    }

    #[handler(name = "echo")]
    fn echo_text(&self, input: &str) -> String {
        input.to_owned()
    }
}

fn main() {}
