use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo<T>(std::marker::PhantomData<T>);

#[plugin(id = "acme.echo")]
impl<T: Send + Sync + 'static> Plugin for Echo<T> {}

fn main() {}
