//! The orchestrator: runs a compiled [`Pipeline`] step by step, applying
//! each step's capability decision, retry, skip and abort policies and
//! timeout, and writes the [`RunReport`].
//!
//! The synchronous and the async driver share every decision (in
//! `attempt` and `progress`); they differ only in how they call and wait.
//!
//! A run reads the clock once at its start and once per step (a step's
//! end is the next one's start): N + 1 readings for N step durations, the
//! fewest that give each step its own. It reads the pipeline's
//! `quanta::Clock` raw (the TSC; quanta falls back to the OS clock where
//! there is no usable TSC) and keeps raw ticks; they become durations only
//! when a report is read, or for a step with a timeout. std's `Instant`
//! (`clock_gettime`) costs tens of nanoseconds on virtual machines, a TSC
//! read about eight: the four readings of a 3-step run are still ~30 ns,
//! the largest part of what a run adds to its calls.
#![forbid(unsafe_code)]

use tracing::Instrument;

use super::attempt::{admit, call_async, final_policy, judge, retry_delay, slot_and_input};
use super::cancel::{self, CancelToken};
use super::compile::Pipeline;
use super::error::RunError;
use super::progress::{Run, Stop};
use super::report::{Layout, RunReport, StepInfo};
use super::target::StepPlugin;
use crate::Buffer;

impl<P: StepPlugin> Pipeline<P> {
    /// Runs the pipeline on `input` on this thread. Every step must call a
    /// synchronous handler ([`is_sync`](Self::is_sync)); backoff waits
    /// sleep the thread.
    ///
    /// # Errors
    ///
    /// [`RunError::NeedsAsync`] when a step calls an async handler. Step
    /// failures are not errors: they are in the report.
    pub fn run_sync(&self, input: &[u8]) -> Result<RunReport<'_>, RunError> {
        self.run_sync_with(input, None)
    }

    /// [`run_sync`](Self::run_sync), stopping at the next step boundary
    /// once `cancel` is cancelled.
    ///
    /// # Errors
    ///
    /// As [`run_sync`](Self::run_sync).
    pub fn run_sync_with(
        &self,
        input: &[u8],
        cancel: Option<&CancelToken>,
    ) -> Result<RunReport<'_>, RunError> {
        if let Some(i) = self.first_async {
            return Err(RunError::NeedsAsync {
                step: self.layout.steps[i].step_id.clone(),
                handler: self.layout.steps[i].handler.clone(),
            });
        }
        let clock = &self.layout.clock;
        let mut run = Run::new(self);
        let span =
            tracing::info_span!("pipeline_run", run = run.id, pipeline = %self.layout.origin);
        let _run_span = span.enter();
        for (i, step) in self.steps.iter().enumerate() {
            let info = &self.layout.steps[i];
            if cancel.is_some_and(CancelToken::is_cancelled) {
                run.cancel_at(i);
                break;
            }
            let span = step_span(run.id, info);
            let _step_span = span.enter();
            let started = run.clock;
            let (input, slot) = slot_and_input(&mut run.slots, i, step.source, input);
            let input = match admit(self, step, info, slot, input) {
                Ok(input) => input,
                Err(policy) => {
                    run.settle(i, policy, started, clock.raw());
                    if run.stopped() {
                        break;
                    }
                    continue;
                }
            };
            // One clock read per attempt: the end of one step is the
            // start of the next.
            let mut attempt_started = started;
            let (stop, ended) = loop {
                slot.attempts += 1;
                span.record("attempt", slot.attempts);
                let mut out = Buffer::new();
                let result = step.plugin.call(step.handler, input, &mut out);
                let ended = clock.raw();
                // The common case (success, no time limit) has nothing
                // to judge.
                if result.is_ok() && step.timeout.is_none() {
                    slot.output = Some(out);
                    break (None, ended);
                }
                match judge(step, result, clock, attempt_started, ended) {
                    Ok(()) => {
                        slot.output = Some(out);
                        break (None, ended);
                    }
                    Err(error) => match retry_delay(&step.failure, slot.attempts, &error) {
                        Some(delay) => {
                            slot.error = Some(Box::new(error));
                            slot.waited += delay;
                            let cancelled = cancel::sleep_blocking(delay, cancel);
                            attempt_started = clock.raw();
                            if cancelled {
                                break (Some(Stop::Cancelled), attempt_started);
                            }
                        }
                        None => {
                            slot.error = Some(Box::new(error));
                            break (Some(Stop::Policy(final_policy(&step.failure))), ended);
                        }
                    },
                }
            };
            run.finish(i, stop, started, ended);
            if run.stopped() {
                break;
            }
        }
        Ok(run.report())
    }

    /// Runs the pipeline on `input`. Call it from a tokio runtime (step
    /// timeouts and backoff waits use its timer). Any number of runs of
    /// one pipeline may go on at once.
    ///
    /// Dropping the returned future stops the run where it is: a step
    /// awaiting an async handler abandons it, no later step starts, and a
    /// `warn` event on the run's span reports where it stopped. To stop at
    /// a step boundary and still get the report, use
    /// [`run_with`](Self::run_with) and a [`CancelToken`].
    pub async fn run(&self, input: &[u8]) -> RunReport<'_> {
        self.run_with(input, None).await
    }

    /// [`run`](Self::run), stopping at the next step boundary once
    /// `cancel` is cancelled; the report's status is then `cancelled`.
    pub async fn run_with(&self, input: &[u8], cancel: Option<&CancelToken>) -> RunReport<'_> {
        let clock = &self.layout.clock;
        let mut run = Run::new(self);
        let span =
            tracing::info_span!("pipeline_run", run = run.id, pipeline = %self.layout.origin);
        let mut guard = DropReport {
            run_id: run.id,
            layout: &self.layout,
            step: 0,
            finished: false,
        };
        async {
            for (i, step) in self.steps.iter().enumerate() {
                guard.step = i;
                let info = &self.layout.steps[i];
                if cancel.is_some_and(CancelToken::is_cancelled) {
                    run.cancel_at(i);
                    break;
                }
                let span = step_span(run.id, info);
                let started = run.clock;
                let outcome = async {
                    let (input, slot) = slot_and_input(&mut run.slots, i, step.source, input);
                    let input = admit(self, step, info, slot, input)?;
                    let mut attempt_started = started;
                    Ok(loop {
                        slot.attempts += 1;
                        span.record("attempt", slot.attempts);
                        let mut out = Buffer::new();
                        let result = call_async(step, input, &mut out).await;
                        let ended = clock.raw();
                        match judge(step, result, clock, attempt_started, ended) {
                            Ok(()) => {
                                slot.output = Some(out);
                                break (None, ended);
                            }
                            Err(error) => match retry_delay(&step.failure, slot.attempts, &error) {
                                Some(delay) => {
                                    slot.error = Some(Box::new(error));
                                    slot.waited += delay;
                                    let cancelled = cancel::sleep(delay, cancel).await;
                                    attempt_started = clock.raw();
                                    if cancelled {
                                        break (Some(Stop::Cancelled), attempt_started);
                                    }
                                }
                                None => {
                                    slot.error = Some(Box::new(error));
                                    break (Some(Stop::Policy(final_policy(&step.failure))), ended);
                                }
                            },
                        }
                    })
                }
                .instrument(span.clone())
                .await;
                match outcome {
                    Ok((stop, ended)) => run.finish(i, stop, started, ended),
                    Err(policy) => run.settle(i, policy, started, clock.raw()),
                }
                if run.stopped() {
                    break;
                }
            }
        }
        .instrument(span)
        .await;
        guard.finished = true;
        run.report()
    }
}

/// Reports a run whose future was dropped before it finished.
struct DropReport<'a> {
    run_id: u64,
    layout: &'a Layout,
    step: usize,
    finished: bool,
}

impl Drop for DropReport<'_> {
    fn drop(&mut self) {
        if !self.finished {
            tracing::warn!(
                run = self.run_id,
                step = self
                    .layout
                    .steps
                    .get(self.step)
                    .map_or("", |s| s.step_id.as_str()),
                "pipeline run dropped before it finished: that step was abandoned and no later step ran"
            );
        }
    }
}

fn step_span(run: u64, info: &StepInfo) -> tracing::Span {
    tracing::debug_span!(
        "pipeline_step",
        run,
        step = %info.step_id,
        plugin = %info.plugin_id,
        attempt = tracing::field::Empty
    )
}
