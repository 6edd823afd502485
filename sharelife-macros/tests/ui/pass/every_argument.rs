// Every #[plugin] argument, each capability kind, and a config schema.
use sharelife_sdk::manifest::Capability;
use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Everything;

#[plugin(
    id = "acme.everything",
    api = "^0.1",
    name = "Everything",
    description = "Uses every argument of #[plugin]",
    homepage = "https://example.com/everything",
    keywords("example", "kitchen-sink"),
    platforms("linux", "macos", "windows"),
    subscribe("chat.message", "sharelife.lifecycle"),
    dependency(id = "acme.store", version = "^1.2"),
    dependency(id = "acme.clock", version = ">=0.3, <0.5"),
    capability(network, host = "api.example.com", ports = [443, 8443]),
    capability(file, access = "read", path = "greetings/*.txt"),
    capability(command, argv = ["git", "status"]),
    capability(provider, name = "openai", access = "read"),
    capability(mcp, server = "github", tool = "search", sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
    // Relative to the crate's manifest directory; trybuild builds this file
    // in `target/tests/trybuild/sharelife-macros/`.
    config_schema = "../../../../sharelife-macros/tests/ui/pass/config.schema.json",
)]
impl Plugin for Everything {
    #[handler]
    fn ping(&self) {}
}

fn main() {
    let m = <Everything as sharelife_sdk::HasManifest>::manifest();
    assert_eq!(m.id.as_str(), "acme.everything");
    assert_eq!(m.api.to_string(), "^0.1");
    assert_eq!(m.name.as_deref(), Some("Everything"));
    assert_eq!(m.description.as_deref(), Some("Uses every argument of #[plugin]"));
    assert_eq!(m.homepage.as_deref(), Some("https://example.com/everything"));
    assert_eq!(m.keywords, ["example", "kitchen-sink"]);
    assert_eq!(m.platforms, ["linux", "macos", "windows"]);
    assert_eq!(m.subscriptions, ["chat.message", "sharelife.lifecycle"]);
    let deps: Vec<_> = m.dependencies.iter().map(|d| (d.id.as_str(), d.version.to_string())).collect();
    assert_eq!(deps, [("acme.store", "^1.2".to_owned()), ("acme.clock", ">=0.3, <0.5".to_owned())]);
    let kinds: Vec<_> = m.capabilities.iter().map(|c| c.kind().as_str()).collect();
    assert_eq!(kinds, ["network", "file", "command", "provider", "mcp"]);
    assert_eq!(
        m.capabilities[0],
        Capability::Network { host: "api.example.com".into(), ports: vec![443, 8443] }
    );
    let schema = m.config_schema.expect("the config schema is embedded");
    assert_eq!(schema["properties"]["greeting"]["type"], "string");
}
