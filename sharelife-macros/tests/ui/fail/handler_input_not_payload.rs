use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Calc;

#[plugin(id = "acme.calc")]
impl Plugin for Calc {
    #[handler]
    fn double(&self, n: u64) -> String {
        (n * 2).to_string()
    }
}

fn main() {}
