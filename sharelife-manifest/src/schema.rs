use crate::RawManifest;

/// The manifest's JSON Schema (draft 2020-12), pretty-printed.
///
/// The repository keeps a copy in `schemas/plugin.manifest.v2.schema.json`;
/// a test fails when that copy is out of date.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawManifest);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}
