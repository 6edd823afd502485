//! The checked-in pipeline JSON Schema matches the one the code generates.
//!
//! If this fails after a change to the pipeline format, regenerate with
//! `SHARELIFE_BLESS=1 cargo test -p sharelife-core --test pipeline_schema_is_current`.

use std::path::Path;

#[test]
fn the_checked_in_pipeline_schema_is_current() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/sharelife.pipeline.v1.schema.json");
    let generated = sharelife_core::pipeline::json_schema();
    if std::env::var_os("SHARELIFE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is out of date; regenerate it with SHARELIFE_BLESS=1 cargo test -p sharelife-core --test pipeline_schema_is_current",
        path.display()
    );
}

#[test]
fn the_schema_describes_the_format() {
    let schema: serde_json::Value =
        serde_json::from_str(&sharelife_core::pipeline::json_schema()).unwrap();
    assert_eq!(
        schema["required"],
        serde_json::json!(["schema_version", "plugins", "steps"])
    );
    let step = &schema["$defs"]["StepSpec"];
    assert_eq!(step["additionalProperties"], false);
    assert_eq!(step["properties"]["handler"]["default"], "run");
    assert_eq!(step["properties"]["input_from"]["default"], "$input");
}
