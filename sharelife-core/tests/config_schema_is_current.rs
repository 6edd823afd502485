//! The checked-in host config JSON Schema matches the one the code
//! generates.
//!
//! If this fails after a change to the config types, regenerate with
//! `SHARELIFE_BLESS=1 cargo test -p sharelife-core --test config_schema_is_current`.

use std::path::Path;

#[test]
fn the_checked_in_host_config_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/host.config.v1.schema.json");
    let generated = sharelife_core::host::config::json_schema();
    if std::env::var_os("SHARELIFE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is out of date; regenerate it with SHARELIFE_BLESS=1 cargo test -p sharelife-core --test config_schema_is_current",
        path.display()
    );
}
