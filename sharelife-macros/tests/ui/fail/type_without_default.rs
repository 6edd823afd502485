use sharelife_sdk::prelude::*;

struct Echo {
    prefix: String,
}

#[plugin(id = "acme.echo")]
impl Plugin for Echo {
    #[handler]
    fn echo(&self, input: &str) -> String {
        format!("{}{input}", self.prefix)
    }
}

fn main() {}
