use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo")]
impl Plugin for Echo {
    #[handler]
    fn echo(&self, input: &str, ctx: &PluginContext) -> String {
        format!("{}: {input}", ctx.plugin_id())
    }
}

fn main() {}
