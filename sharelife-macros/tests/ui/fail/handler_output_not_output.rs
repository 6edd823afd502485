use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Calc;

#[plugin(id = "acme.calc")]
impl Plugin for Calc {
    #[handler]
    fn answer(&self) -> u64 {
        42
    }
}

fn main() {}
