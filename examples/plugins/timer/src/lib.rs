//! An async example plugin: it sleeps on the host's timer (a loaded plugin
//! cannot use the host's runtime directly) and logs through `tracing`.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sharelife_sdk::prelude::*;

/// Waits, then reports how long it waited.
#[derive(Default)]
pub struct Timer;

/// What `wait` returns.
#[derive(Serialize, Deserialize, Debug)]
pub struct Waited {
    /// Milliseconds asked for.
    pub requested_ms: u64,
    /// Milliseconds measured.
    pub elapsed_ms: u64,
}

#[plugin(id = "examples.timer")]
impl Plugin for Timer {
    /// Sleeps for the given number of milliseconds.
    #[handler]
    async fn wait(&self, ctx: &PluginContext, Json(ms): Json<u64>) -> Json<Waited> {
        let started = Instant::now();
        sharelife_sdk::tracing::info!(ms, "sleeping on the host timer");
        ctx.sleep(Duration::from_millis(ms)).await;
        Json(Waited {
            requested_ms: ms,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }

    async fn health(&self, ctx: &PluginContext) -> Health {
        ctx.sleep(Duration::from_millis(1)).await;
        Health::Healthy
    }
}
