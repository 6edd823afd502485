// A handler declares the capability classes it uses; the manifest records
// them, and a pipeline step calling it needs only those.
use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Notes;

#[plugin(
    id = "acme.notes",
    capability(file, access = "read", path = "notes/*.txt"),
    capability(network, host = "api.example.com", ports = [443])
)]
impl Plugin for Notes {
    #[handler(uses(file.read))]
    fn read(&self, ctx: &PluginContext, name: &str) -> Result<Vec<u8>, PluginError> {
        ctx.fs().read(name)
    }

    #[handler(name = "both", uses(file.read, network.outbound))]
    fn everything(&self) -> &'static str {
        "ok"
    }

    #[handler]
    fn undeclared(&self) -> &'static str {
        "ok"
    }
}

fn main() {
    use sharelife_sdk::manifest::CapabilityClass;
    let m = <Notes as sharelife_sdk::HasManifest>::manifest();
    assert_eq!(m.handlers[0].uses, Some(vec![CapabilityClass::FileRead]));
    assert_eq!(
        m.handlers[1].uses,
        Some(vec![CapabilityClass::FileRead, CapabilityClass::NetworkOutbound])
    );
    assert_eq!(m.handlers[2].uses, None);
}
