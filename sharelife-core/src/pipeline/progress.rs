//! One run's progress: the slots being filled, the clock, and how the run
//! ends as steps complete, skip, fail or are cancelled.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quanta::Instant;

use super::compile::Pipeline;
use super::format::FinalPolicy;
use super::report::{RunReport, RunStatus, Slot, StepStatus};
use super::target::StepPlugin;

static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// How a step that did not complete ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Policy(FinalPolicy),
    Cancelled,
}

/// One run's state.
pub(super) struct Run<'p, P: StepPlugin> {
    pipeline: &'p Pipeline<P>,
    pub(super) id: u64,
    began: Instant,
    /// When the last step ended: the next one's start.
    pub(super) clock: Instant,
    pub(super) slots: Vec<Slot>,
    status: Option<RunStatus>,
    skipped: bool,
}

impl<'p, P: StepPlugin> Run<'p, P> {
    pub(super) fn new(pipeline: &'p Pipeline<P>) -> Self {
        let now = pipeline.clock.now();
        let mut slots = Vec::with_capacity(pipeline.steps.len());
        slots.resize_with(pipeline.steps.len(), || Slot::NOT_RUN);
        Run {
            pipeline,
            id: NEXT_RUN.fetch_add(1, Ordering::Relaxed),
            began: now,
            clock: now,
            slots,
            status: None,
            skipped: false,
        }
    }

    pub(super) fn stopped(&self) -> bool {
        self.status.is_some()
    }

    pub(super) fn cancel_at(&mut self, i: usize) {
        self.slots[i].status = StepStatus::Cancelled;
        self.status = Some(RunStatus::Cancelled);
        tracing::info!(run = self.id, step = %self.pipeline.layout.steps[i].step_id, "pipeline run cancelled at a step boundary");
    }

    /// A step that was called: completed (`None`) or stopped.
    pub(super) fn finish(
        &mut self,
        i: usize,
        stop: Option<Stop>,
        started: Instant,
        ended: Instant,
    ) {
        match stop {
            None => {
                let slot = &mut self.slots[i];
                slot.status = StepStatus::Completed;
                if slot.error.is_some() {
                    // Earlier attempts failed; the step did not.
                    slot.error = None;
                }
                self.stamp(i, started, ended);
            }
            Some(Stop::Cancelled) => {
                self.stamp(i, started, ended);
                self.cancel_at(i);
            }
            Some(Stop::Policy(policy)) => self.settle(i, policy, started, ended),
        }
    }

    /// A step that did not complete: its policy decides what follows.
    pub(super) fn settle(
        &mut self,
        i: usize,
        policy: FinalPolicy,
        started: Instant,
        ended: Instant,
    ) {
        let slot = &mut self.slots[i];
        let denied = slot.status == StepStatus::Denied;
        match policy {
            FinalPolicy::Abort => {
                if !denied {
                    slot.status = StepStatus::Failed;
                }
                self.status = Some(RunStatus::Failed);
            }
            FinalPolicy::Skip => {
                if !denied {
                    slot.status = StepStatus::Skipped;
                }
                self.skipped = true;
            }
        }
        let info = &self.pipeline.layout.steps[i];
        let slot = &self.slots[i];
        tracing::warn!(
            run = self.id,
            step = %info.step_id,
            plugin = %info.plugin_id,
            status = slot.status.as_str(),
            attempts = slot.attempts,
            error = slot.error.as_ref().map(tracing::field::display),
            "pipeline step did not complete"
        );
        self.stamp(i, started, ended);
        // The warning's own time (a subscriber may write it out) belongs
        // to no step.
        self.clock = self.pipeline.clock.now();
    }

    fn stamp(&mut self, i: usize, started: Instant, ended: Instant) {
        self.slots[i].duration = ended - started;
        self.clock = ended;
    }

    pub(super) fn report(self) -> RunReport {
        let status = self.status.unwrap_or(if self.skipped {
            RunStatus::CompletedWithSkips
        } else {
            RunStatus::Completed
        });
        RunReport {
            run_id: self.id,
            status,
            duration: self.clock - self.began,
            layout: Arc::clone(&self.pipeline.layout),
            slots: self.slots,
        }
    }
}
