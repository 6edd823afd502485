use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Echo;

#[plugin(id = "acme.echo")]
impl Plugin for Echo {
    #[handler]
    fn echo<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input
    }

    fn call(
        &self,
        _ctx: &PluginContext,
        _handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        output.extend_from_slice(input);
        Ok(())
    }
}

fn main() {}
