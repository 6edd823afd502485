// Each mistake gets its own error, and all are reported in one build.
use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "Acme.Echo", colour = "blue", capability(network, hots = "example.com"))]
impl Plugin for Echo {
    #[handler]
    fn count(&mut self) {}

    #[handler]
    fn join(&self, left: &str, right: &str) -> String {
        format!("{left}{right}")
    }
}

fn main() {}
