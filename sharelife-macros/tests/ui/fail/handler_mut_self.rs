use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Counter {
    calls: u64,
}

#[plugin(id = "acme.counter")]
impl Plugin for Counter {
    #[handler]
    fn count(&mut self) -> String {
        self.calls += 1;
        self.calls.to_string()
    }
}

fn main() {}
