//! One run's progress: the slots being filled, the clock, and how the run
//! ends as steps complete, skip, fail or are cancelled.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::compile::Pipeline;
use super::format::FinalPolicy;
use super::report::{LayoutRef, RunReport, RunStatus, Slot, StepStatus};
use super::target::StepPlugin;

/// The next block of run ids to hand to a thread.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

/// Run ids a thread takes from [`NEXT_BLOCK`] at a time: one shared
/// atomic add per this many runs instead of one per run (an id is unique
/// in the process; ids of runs on different threads interleave).
const BLOCK: u64 = 1024;

thread_local! {
    /// This thread's next run id and the end of its block.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A run id unique in this process.
#[inline]
fn next_run_id() -> u64 {
    IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
            end = next + BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

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
    /// When the run began, in the clock's raw ticks.
    began: u64,
    /// When the last step ended (raw ticks): the next one's start.
    pub(super) clock: u64,
    pub(super) slots: Vec<Slot>,
    status: Option<RunStatus>,
    skipped: bool,
}

impl<'p, P: StepPlugin> Run<'p, P> {
    pub(super) fn new(pipeline: &'p Pipeline<P>) -> Self {
        // The clock and the id first: the slots' allocation then goes
        // straight into the run, not spilled across the calls.
        let now = pipeline.layout.clock.raw();
        let id = next_run_id();
        let slots = (0..pipeline.steps.len()).map(|_| Slot::NOT_RUN).collect();
        Run {
            pipeline,
            id,
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
    #[inline]
    pub(super) fn finish(&mut self, i: usize, stop: Option<Stop>, started: u64, ended: u64) {
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
    pub(super) fn settle(&mut self, i: usize, policy: FinalPolicy, started: u64, ended: u64) {
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
        self.clock = self.pipeline.layout.clock.raw();
    }

    fn stamp(&mut self, i: usize, started: u64, ended: u64) {
        self.slots[i].ticks = ended.saturating_sub(started);
        self.clock = ended;
    }

    pub(super) fn report(self) -> RunReport<'p> {
        let status = self.status.unwrap_or(if self.skipped {
            RunStatus::CompletedWithSkips
        } else {
            RunStatus::Completed
        });
        RunReport {
            run_id: self.id,
            status,
            ticks: self.clock.saturating_sub(self.began),
            layout: LayoutRef::Borrowed(&self.pipeline.layout),
            slots: self.slots,
        }
    }
}
