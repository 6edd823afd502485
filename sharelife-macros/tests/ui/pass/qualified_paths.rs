// No prelude: the attributes and the trait named by path.
#[derive(Default)]
struct Qualified;

#[sharelife_sdk::plugin(id = "acme.qualified")]
impl sharelife_sdk::Plugin for Qualified {
    #[sharelife_sdk::handler]
    fn hello(&self) -> &'static str {
        "hello"
    }
}

fn main() {
    let m = <Qualified as sharelife_sdk::HasManifest>::manifest();
    assert_eq!(m.handlers.len(), 1);
    assert_eq!(m.handlers[0].name, "hello");
}
