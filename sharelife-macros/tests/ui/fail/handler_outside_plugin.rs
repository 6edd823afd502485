// The usual way to get here: #[plugin] left off the `impl Plugin` block.
use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

impl Plugin for Echo {
    #[handler]
    fn echo(&self, input: &str) -> String {
        input.to_owned()
    }
}

fn main() {}
