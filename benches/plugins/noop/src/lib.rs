//! Handlers for the pipeline benches: no-ops (sync and async), and three
//! JSON transforms for the realistic pipeline.

use sharelife_sdk::prelude::*;

/// No state at all.
#[derive(Default)]
pub struct Noop;

#[plugin(id = "bench.noop")]
impl Plugin for Noop {
    /// Does nothing and writes nothing.
    #[handler]
    fn noop(&self) {}

    /// Does nothing, asynchronously.
    #[handler]
    async fn noop_async(&self) {}

    /// Parses a JSON object and adds `"stage": "enriched"` and the number
    /// of its fields.
    #[handler]
    fn enrich(
        &self,
        Json(mut doc): Json<serde_json::Value>,
    ) -> Result<Json<serde_json::Value>, PluginError> {
        let fields = doc.as_object().map_or(0, serde_json::Map::len);
        let obj = doc
            .as_object_mut()
            .ok_or_else(|| PluginError::invalid_input("expected a JSON object"))?;
        obj.insert("stage".into(), "enriched".into());
        obj.insert("fields".into(), fields.into());
        Ok(Json(doc))
    }

    /// Replaces every `email` value, at any depth, with `"***"`.
    #[handler]
    fn redact(&self, Json(mut doc): Json<serde_json::Value>) -> Json<serde_json::Value> {
        fn walk(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(map) => {
                    for (k, v) in map.iter_mut() {
                        if k == "email" {
                            *v = "***".into();
                        } else {
                            walk(v);
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
                _ => {}
            }
        }
        walk(&mut doc);
        Json(doc)
    }

    /// Keeps the `id`, `stage` and `fields` of the document, plus the
    /// number of messages, as a summary.
    #[handler]
    fn summarize(&self, Json(doc): Json<serde_json::Value>) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "id": doc["id"],
            "stage": doc["stage"],
            "fields": doc["fields"],
            "messages": doc["messages"].as_array().map_or(0, Vec::len),
        }))
    }
}
