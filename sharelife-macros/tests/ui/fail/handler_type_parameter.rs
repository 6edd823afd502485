use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo")]
impl Plugin for Echo {
    #[handler]
    fn show<T: std::fmt::Debug + Default>(&self) -> String {
        format!("{:?}", T::default())
    }
}

fn main() {}
