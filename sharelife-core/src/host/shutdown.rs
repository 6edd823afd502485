//! Graceful shutdown: everything stopped in reverse start order, each
//! plugin given a bounded time, then unloaded.

use std::time::Duration;

use super::cascade::Lifecycle;
use super::{HostError, StateReason, UnloadReport};
use crate::PluginState;
use crate::manifest::PluginId;

/// What [`Host::shutdown`](super::Host::shutdown) did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Plugins stopped cleanly, in the order they were stopped.
    pub stopped: Vec<PluginId>,
    /// Plugins whose `stop` (or unload) did not finish in time; the
    /// shutdown went on without waiting for them.
    pub timed_out: Vec<PluginId>,
    /// Plugins whose `stop` or unload failed, with the error.
    pub failed: Vec<(PluginId, HostError)>,
    /// The unloads, in order.
    pub unloaded: Vec<UnloadReport>,
}

impl Lifecycle {
    /// [`Host::shutdown`](super::Host::shutdown).
    pub(crate) async fn shutdown(&self) -> ShutdownReport {
        self.health.stop();
        let limit = self.options.shutdown_timeout;
        let mut report = ShutdownReport::default();
        let mut order = self.registry.start_order();
        order.reverse();
        for slot in &order {
            if slot.state() != PluginState::Active {
                continue;
            }
            let id = slot.id().clone();
            match tokio::time::timeout(limit, slot.stop(Some(StateReason::ShuttingDown))).await {
                Ok(Ok(())) => report.stopped.push(id),
                Ok(Err(e)) => report.failed.push((id, e)),
                Err(_) => {
                    tracing::warn!(plugin = %id, timeout = ?limit, "plugin did not stop in time; shutdown goes on");
                    report.timed_out.push(id);
                }
            }
        }
        for slot in order {
            let id = slot.id().clone();
            match tokio::time::timeout(
                limit + Duration::from_millis(10),
                self.loader.unload_slot(slot),
            )
            .await
            {
                Ok(Ok(unload)) => report.unloaded.push(unload),
                Ok(Err(e)) => report.failed.push((id, e)),
                Err(_) => {
                    tracing::warn!(plugin = %id, timeout = ?limit, "plugin did not unload in time; shutdown goes on");
                    if !report.timed_out.contains(&id) {
                        report.timed_out.push(id);
                    }
                }
            }
        }
        self.bus.close();
        if let Err(e) = self.options.audit.flush() {
            tracing::error!(error = %e, "the audit log could not be flushed at shutdown");
        }
        report
    }
}
