use sharelife_sdk::prelude::*;

#[plugin(id = "acme.echo")]
fn echo(input: &str) -> String {
    input.to_owned()
}

fn main() {
    let _ = echo("x");
}
