use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo")]
impl Plugin for Echo {
    #[handler]
    fn join(&self, ctx: &PluginContext, left: &str, right: &str) -> String {
        format!("{}: {left}{right}", ctx.plugin_id())
    }
}

fn main() {}
