//! Health checks: each active plugin's `health` at an interval, with a
//! timeout; a failure moves the plugin to `Error`, and the restart policy
//! decides whether the host tries again.
//!
//! The part is [`HealthMonitor`] (`host.health()`): checks on demand, the
//! periodic monitor, and the counters of each plugin's [`HealthRecord`]
//! (failures in a row, restarts, giving up), which only this file changes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::HostError;
use super::reason::StateReason;
use super::registry::Registry;
use super::slot::Slot;
use crate::manifest::PluginId;
use crate::{ErrorKind, Health, PluginError, PluginState};

/// What the host does with a plugin whose health check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestartPolicy {
    /// Leave it in `Error` (restart it yourself with `Host::start`).
    Leave,
    /// Restart it after `backoff`, doubling the delay with each restart in
    /// a row up to `max_backoff`; after `max_restarts` restarts without a
    /// healthy check in between, give up and leave it in `Error`.
    Backoff {
        /// Restarts in a row before giving up.
        max_restarts: u32,
        /// The delay before the first restart.
        backoff: Duration,
        /// The longest delay.
        max_backoff: Duration,
    },
}

impl RestartPolicy {
    /// Three restarts, after 1 s, 2 s, 4 s (at most 60 s).
    pub fn default_backoff() -> Self {
        RestartPolicy::Backoff {
            max_restarts: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }

    fn delay(self, attempt: u32) -> Duration {
        match self {
            RestartPolicy::Leave => Duration::ZERO,
            RestartPolicy::Backoff {
                backoff,
                max_backoff,
                ..
            } => backoff
                .saturating_mul(1 << attempt.saturating_sub(1).min(20))
                .min(max_backoff),
        }
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self::default_backoff()
    }
}

/// How the host checks health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthOptions {
    /// Time between rounds; `None`: no periodic checks (call
    /// [`HealthMonitor::check_all`] yourself).
    pub interval: Option<Duration>,
    /// How long one check (and one restart) may take.
    pub timeout: Duration,
    /// What to do after a failure.
    pub restart: RestartPolicy,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            interval: None,
            timeout: Duration::from_secs(5),
            restart: RestartPolicy::default(),
        }
    }
}

/// What the host remembers of a plugin's health, part of its status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthRecord {
    /// The last check's result.
    pub last: Option<Health>,
    /// Failed checks since the last healthy one.
    pub failures_in_a_row: u32,
    /// Restarts by the health monitor, in all.
    pub restarts: u32,
    /// The policy's restarts ran out; the plugin stays in `Error`.
    pub gave_up: bool,
}

impl HealthRecord {
    /// A healthy (or degraded) check: the failures in a row end.
    fn passed(&mut self, health: Health) {
        self.last = Some(health);
        self.failures_in_a_row = 0;
    }

    /// Whether a previous round failed to restart the plugin and the
    /// policy has not given up: the next round tries again.
    fn restart_pending(&self) -> bool {
        self.failures_in_a_row > 0 && !self.gave_up
    }

    /// Counts a failure; the restart attempt it allows (restarts in a
    /// row, this one included), or `None` when the `max_restarts` ran out
    /// (the record has given up then).
    fn failed(&mut self, max_restarts: u32) -> Option<u32> {
        self.failures_in_a_row += 1;
        if self.failures_in_a_row > max_restarts {
            self.gave_up = true;
            None
        } else {
            Some(self.failures_in_a_row)
        }
    }

    /// A restart by the monitor succeeded.
    fn restarted(&mut self) {
        self.restarts += 1;
    }

    /// Started by hand: the restart policy counts afresh.
    pub(crate) fn started_by_hand(&mut self) {
        self.failures_in_a_row = 0;
        self.gave_up = false;
    }
}

/// The health part of a host (`host.health()`): runs checks now, and the
/// periodic monitor when an interval is set.
#[derive(Debug)]
pub struct HealthMonitor {
    registry: Arc<Registry>,
    options: HealthOptions,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl HealthMonitor {
    pub(crate) fn new(registry: Arc<Registry>, options: HealthOptions) -> Self {
        HealthMonitor {
            registry,
            options,
            monitor: Mutex::new(None),
        }
    }

    /// Runs plugin `id`'s health check now. A panic moves it to `Error`;
    /// nothing else changes (see [`check_all`](Self::check_all) for the
    /// policy).
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`].
    pub async fn check(&self, id: &str) -> Result<Health, HostError> {
        let slot = self
            .registry
            .get(id)
            .ok_or_else(|| HostError::NotFound(id.to_owned()))?;
        Ok(slot.health().await)
    }

    /// Runs one round of health checks now, as the periodic monitor does:
    /// every active plugin is checked within the health timeout, and a
    /// failure moves it to `Error` and applies the restart policy
    /// (including the backoff wait).
    pub async fn check_all(&self) -> Vec<HealthCheck> {
        round(&self.registry, self.options).await
    }

    /// Starts the periodic health checks if an interval is set and they
    /// are not running; [`Host::boot`](super::Host::boot) calls this.
    pub fn start(&self) {
        let mut monitor = self.monitor.lock();
        if monitor.as_ref().is_some_and(|m| !m.is_finished()) {
            return;
        }
        *monitor = spawn(Arc::downgrade(&self.registry), self.options);
    }

    /// Ends the periodic checks (shutdown, drop).
    pub(crate) fn stop(&self) {
        if let Some(monitor) = self.monitor.lock().take() {
            monitor.abort();
        }
    }
}

/// What one health check found and did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CheckOutcome {
    /// Healthy.
    Healthy,
    /// Working, with a problem.
    Degraded(String),
    /// The check failed (unhealthy, panicked or timed out): the plugin went
    /// to `Error`, and then this happened.
    Failed {
        /// Why the check failed (or, for a retried restart, why the plugin
        /// is in `Error`).
        reason: Box<StateReason>,
        /// What the restart policy did.
        recovery: Recovery,
    },
}

/// What the restart policy did after a failed check.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Recovery {
    /// The policy is to leave it.
    Left,
    /// Restarted, after `after`.
    Restarted {
        /// Restarts in a row, this one included.
        attempt: u32,
        /// The backoff waited.
        after: Duration,
    },
    /// The restart failed; the next round tries again.
    RestartFailed {
        /// Restarts in a row, this one included.
        attempt: u32,
        /// Why: the `start` hook's failure, or its running out of time
        /// (a [`HostError::Hook`] whose error is a timeout).
        error: Box<HostError>,
    },
    /// The restarts ran out.
    GaveUp {
        /// Restarts made in a row.
        restarts: u32,
    },
}

/// One plugin's result in a round of checks.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// The plugin.
    pub plugin: PluginId,
    /// What happened.
    pub outcome: CheckOutcome,
}

/// Checks every active plugin, and retries the restart of plugins that a
/// previous round failed to restart, concurrently. Sorted by plugin id.
pub(crate) async fn round(registry: &Registry, options: HealthOptions) -> Vec<HealthCheck> {
    let mut tasks = tokio::task::JoinSet::new();
    for slot in registry.slots() {
        let state = slot.state();
        let retry = state == PluginState::Error && slot.health.lock().restart_pending();
        if state == PluginState::Active || retry {
            tasks.spawn(check(slot, options, retry));
        }
    }
    let mut checks = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(check) => checks.push(check),
            Err(e) => tracing::error!(error = %e, "a health check task failed"),
        }
    }
    checks.sort_by(|a, b| a.plugin.cmp(&b.plugin));
    checks
}

async fn check(slot: Arc<Slot>, options: HealthOptions, retry: bool) -> HealthCheck {
    let plugin = slot.id().clone();
    if retry {
        let reason = Box::new(slot.reason().unwrap_or(StateReason::Failed {
            place: "restart pending".to_owned(),
            error: PluginError::new("the previous restart failed"),
        }));
        let recovery = recover(&slot, options).await;
        return HealthCheck {
            plugin,
            outcome: CheckOutcome::Failed { reason, recovery },
        };
    }
    let error = match tokio::time::timeout(options.timeout, slot.check_health()).await {
        Ok(Ok(health @ (Health::Healthy | Health::Degraded(_)))) => {
            slot.health.lock().passed(health.clone());
            let outcome = match health {
                Health::Degraded(m) => CheckOutcome::Degraded(m),
                _ => CheckOutcome::Healthy,
            };
            return HealthCheck { plugin, outcome };
        }
        Ok(Ok(Health::Unhealthy(m))) => {
            PluginError::with_kind(ErrorKind::Failed, format!("reported unhealthy: {m}"))
        }
        Ok(Err(e)) => e,
        Err(_) => PluginError::with_kind(
            ErrorKind::Timeout,
            format!("did not answer within {:?}", options.timeout),
        ),
    };
    slot.health.lock().last = Some(Health::Unhealthy(error.to_string()));
    slot.fail("health check failed", &error);
    let reason = Box::new(StateReason::Failed {
        place: "health check failed".to_owned(),
        error,
    });
    let recovery = recover(&slot, options).await;
    HealthCheck {
        plugin,
        outcome: CheckOutcome::Failed { reason, recovery },
    }
}

async fn recover(slot: &Slot, options: HealthOptions) -> Recovery {
    let RestartPolicy::Backoff { max_restarts, .. } = options.restart else {
        return Recovery::Left;
    };
    let attempt = slot.health.lock().failed(max_restarts);
    let Some(attempt) = attempt else {
        let reason = StateReason::GaveUp {
            restarts: max_restarts,
            last: slot.reason().map(Box::new),
        };
        tracing::error!(plugin = %slot.id(), %reason, "plugin left in error");
        slot.set_reason(reason);
        return Recovery::GaveUp {
            restarts: max_restarts,
        };
    };
    let after = options.restart.delay(attempt);
    tokio::time::sleep(after).await;
    if slot.state() != PluginState::Error {
        // Restarted or unloaded by someone else meanwhile.
        return Recovery::Left;
    }
    match tokio::time::timeout(options.timeout, slot.start()).await {
        Ok(Ok(())) => {
            slot.health.lock().restarted();
            tracing::warn!(plugin = %slot.id(), attempt, ?after, "plugin restarted after a failed health check");
            Recovery::Restarted { attempt, after }
        }
        Ok(Err(error)) => Recovery::RestartFailed {
            attempt,
            error: Box::new(error),
        },
        Err(_) => Recovery::RestartFailed {
            attempt,
            error: Box::new(HostError::Hook {
                id: slot.id().clone(),
                hook: "start",
                error: PluginError::with_kind(
                    ErrorKind::Timeout,
                    format!("start did not finish within {:?}", options.timeout),
                ),
            }),
        },
    }
}

/// Runs a round every `interval` until the registry is gone, emitting every
/// plugin's metrics after each round.
fn spawn(registry: Weak<Registry>, options: HealthOptions) -> Option<tokio::task::JoinHandle<()>> {
    let interval = options.interval?;
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    Some(runtime.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(registry) = registry.upgrade() else {
                break;
            };
            for check in round(&registry, options).await {
                if let CheckOutcome::Failed { reason, recovery } = &check.outcome {
                    tracing::warn!(plugin = %check.plugin, %reason, ?recovery, "health check failed");
                }
            }
            super::metrics::Metrics::emit_all(&registry);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_up_to_the_policy_then_give_up() {
        let mut record = HealthRecord::default();
        assert!(!record.restart_pending());
        assert_eq!(record.failed(2), Some(1));
        assert!(record.restart_pending());
        assert_eq!(record.failed(2), Some(2));
        record.restarted();
        assert_eq!(record.failed(2), None);
        assert!(record.gave_up);
        assert!(!record.restart_pending());
        assert_eq!((record.failures_in_a_row, record.restarts), (3, 1));
    }

    #[test]
    fn a_healthy_check_ends_the_failures_in_a_row() {
        let mut record = HealthRecord::default();
        record.failed(3);
        record.passed(Health::Degraded("slow".into()));
        assert_eq!(record.failures_in_a_row, 0);
        assert_eq!(record.last, Some(Health::Degraded("slow".into())));
    }

    #[test]
    fn a_start_by_hand_counts_afresh_but_keeps_the_totals() {
        let mut record = HealthRecord::default();
        record.failed(0);
        record.restarted();
        assert!(record.gave_up);
        record.started_by_hand();
        assert!(!record.gave_up);
        assert_eq!((record.failures_in_a_row, record.restarts), (0, 1));
        assert_eq!(record.failed(1), Some(1));
    }

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let policy = RestartPolicy::Backoff {
            max_restarts: 9,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        let delays: Vec<_> = (1..=4).map(|a| policy.delay(a)).collect();
        assert_eq!(
            delays,
            [100, 200, 300, 300].map(Duration::from_millis).to_vec()
        );
        assert_eq!(RestartPolicy::Leave.delay(3), Duration::ZERO);
    }
}
