//! The orchestrator: runs a compiled [`Pipeline`] step by step, applying
//! each step's capability decision, retry, skip and abort policies and
//! timeout, and writes the [`RunReport`].
//!
//! The synchronous and the async driver share every decision (the
//! functions below the drivers); they differ only in how they call and
//! wait.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// A run reads the clock once per step; std's `Instant` (clock_gettime)
// costs tens of nanoseconds on virtual machines, quanta's (the TSC,
// calibrated once per process) about ten. quanta falls back to the OS
// clock where there is no usable TSC.
use quanta::Instant;

use tracing::Instrument;

use super::cancel::{self, CancelToken};
use super::compile::{Pipeline, Step};
use super::error::RunError;
use super::format::FinalPolicy;
use super::gate;
use super::report::{Layout, RunReport, RunStatus, Slot, StepInfo, StepStatus};
use super::target::StepPlugin;
use super::validate::{Failure, Source};
use crate::{Buffer, ErrorKind, PluginError};

static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

impl<P: StepPlugin> Pipeline<P> {
    /// Runs the pipeline on `input` on this thread. Every step must call a
    /// synchronous handler ([`is_sync`](Self::is_sync)); backoff waits
    /// sleep the thread.
    ///
    /// # Errors
    ///
    /// [`RunError::NeedsAsync`] when a step calls an async handler. Step
    /// failures are not errors: they are in the report.
    pub fn run_sync(&self, input: &[u8]) -> Result<RunReport, RunError> {
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
    ) -> Result<RunReport, RunError> {
        if let Some(i) = self.first_async {
            return Err(RunError::NeedsAsync {
                step: self.layout.steps[i].step_id.clone(),
                handler: self.layout.steps[i].handler.clone(),
            });
        }
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
                    run.settle(i, policy, started, self.clock.now());
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
                let ended = self.clock.now();
                match judge(step, result, ended - attempt_started) {
                    Ok(()) => {
                        slot.output = Some(out);
                        break (None, ended);
                    }
                    Err(error) => match retry_delay(&step.failure, slot.attempts, &error) {
                        Some(delay) => {
                            slot.error = Some(Box::new(error));
                            slot.waited += delay;
                            let cancelled = cancel::sleep_blocking(delay, cancel);
                            attempt_started = self.clock.now();
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
    pub async fn run(&self, input: &[u8]) -> RunReport {
        self.run_with(input, None).await
    }

    /// [`run`](Self::run), stopping at the next step boundary once
    /// `cancel` is cancelled; the report's status is then `cancelled`.
    pub async fn run_with(&self, input: &[u8], cancel: Option<&CancelToken>) -> RunReport {
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
                        let ended = self.clock.now();
                        match judge(step, result, ended - attempt_started) {
                            Ok(()) => {
                                slot.output = Some(out);
                                break (None, ended);
                            }
                            Err(error) => match retry_delay(&step.failure, slot.attempts, &error) {
                                Some(delay) => {
                                    slot.error = Some(Box::new(error));
                                    slot.waited += delay;
                                    let cancelled = cancel::sleep(delay, cancel).await;
                                    attempt_started = self.clock.now();
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
                    Err(policy) => run.settle(i, policy, started, self.clock.now()),
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

/// How a step that did not complete ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Policy(FinalPolicy),
    Cancelled,
}

/// One run's state.
struct Run<'p, P: StepPlugin> {
    pipeline: &'p Pipeline<P>,
    id: u64,
    began: Instant,
    /// When the last step ended: the next one's start.
    clock: Instant,
    slots: Vec<Slot>,
    status: Option<RunStatus>,
    skipped: bool,
}

impl<'p, P: StepPlugin> Run<'p, P> {
    fn new(pipeline: &'p Pipeline<P>) -> Self {
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

    fn stopped(&self) -> bool {
        self.status.is_some()
    }

    fn cancel_at(&mut self, i: usize) {
        self.slots[i].status = StepStatus::Cancelled;
        self.status = Some(RunStatus::Cancelled);
        tracing::info!(run = self.id, step = %self.pipeline.layout.steps[i].step_id, "pipeline run cancelled at a step boundary");
    }

    /// A step that was called: completed (`None`) or stopped.
    fn finish(&mut self, i: usize, stop: Option<Stop>, started: Instant, ended: Instant) {
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
    fn settle(&mut self, i: usize, policy: FinalPolicy, started: Instant, ended: Instant) {
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

    fn report(self) -> RunReport {
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

/// Step `i`'s slot, and its input (`None` when missing).
fn slot_and_input<'s>(
    slots: &'s mut [Slot],
    i: usize,
    source: Source,
    run_input: &'s [u8],
) -> (Option<&'s [u8]>, &'s mut Slot) {
    let (before, rest) = slots.split_at_mut(i);
    let input = match source {
        Source::Run => Some(run_input),
        Source::Step(j) => before[j].output.as_deref(),
    };
    (input, &mut rest[0])
}

/// The checks before a step's first call: its capability decision
/// (audited), then its input. `Err` carries the policy that now applies;
/// neither a denial nor a missing input is retried.
fn admit<'i, P: StepPlugin>(
    pipeline: &Pipeline<P>,
    step: &Step<P>,
    info: &StepInfo,
    slot: &mut Slot,
    input: Option<&'i [u8]>,
) -> Result<&'i [u8], FinalPolicy> {
    if let Some(what) = &info.audit {
        gate::record(
            &*pipeline.audit,
            &info.plugin_id,
            &info.plugin_version,
            what,
        );
    }
    if !step.allowed {
        slot.status = StepStatus::Denied;
        slot.error = Some(Box::new(PluginError::with_kind(
            ErrorKind::Denied,
            format!(
                "step {:?} may not run: {}",
                info.step_id,
                info.decision.to_string().trim_start_matches("denied: ")
            ),
        )));
        return Err(final_policy(&step.failure));
    }
    match input {
        Some(input) => Ok(input),
        None if step.accepts_missing => Ok(&[]),
        None => {
            slot.error = Some(Box::new(PluginError::invalid_input(format!(
                "input {:?} is missing (its step did not complete) and step {:?} does not accept a missing input; set `accepts_missing: true` to run it with an empty input",
                info.input_from, info.step_id
            ))));
            Err(final_policy(&step.failure))
        }
    }
}

async fn call_async<P: StepPlugin>(
    step: &Step<P>,
    input: &[u8],
    out: &mut Buffer,
) -> Result<(), PluginError> {
    if !step.is_async {
        return step.plugin.call(step.handler, input, out);
    }
    let call = step.plugin.call_async(step.handler, input, out);
    match step.timeout {
        None => call.await,
        Some(limit) => tokio::time::timeout(limit, call)
            .await
            .unwrap_or_else(|_| Err(timed_out(limit))),
    }
}

/// The result of one attempt, with the timeout applied to calls that
/// could not be interrupted (sync handlers): a late answer is discarded.
fn judge<P: StepPlugin>(
    step: &Step<P>,
    result: Result<(), PluginError>,
    took: Duration,
) -> Result<(), PluginError> {
    match (result, step.timeout) {
        (Ok(()), Some(limit)) if took > limit => Err(timed_out(limit)),
        (result, _) => result,
    }
}

fn timed_out(limit: Duration) -> PluginError {
    PluginError::from_parts(
        ErrorKind::Timeout,
        format!("the step took longer than its timeout of {limit:?}"),
        true,
    )
}

/// The wait before retrying after `attempts` attempts failed with
/// `error`, or `None` when the step's policy now applies.
fn retry_delay(failure: &Failure, attempts: u32, error: &PluginError) -> Option<Duration> {
    let Failure::Retry {
        retries,
        backoff,
        factor,
        cap,
        retryable_only,
        ..
    } = *failure
    else {
        return None;
    };
    let retryable = error.is_retryable() || error.kind() == ErrorKind::Timeout;
    if attempts > retries || error.kind() == ErrorKind::Denied || (retryable_only && !retryable) {
        return None;
    }
    let exponent = i32::try_from(attempts - 1).unwrap_or(i32::MAX);
    // In whole nanoseconds, so that 2 ms × 3 is exactly 6 ms.
    let wait = (backoff.as_nanos() as f64 * factor.powi(exponent)).round();
    let cap = cap.as_nanos() as f64;
    // Non-negative and at most the cap, which came from a u64.
    let nanos = wait.min(cap) as u64;
    Some(Duration::from_nanos(nanos))
}

fn final_policy(failure: &Failure) -> FinalPolicy {
    match *failure {
        Failure::Abort => FinalPolicy::Abort,
        Failure::Skip => FinalPolicy::Skip,
        Failure::Retry { then, .. } => then,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(retries: u32, retryable_only: bool) -> Failure {
        Failure::Retry {
            retries,
            backoff: Duration::from_millis(10),
            factor: 2.0,
            cap: Duration::from_millis(25),
            retryable_only,
            then: FinalPolicy::Skip,
        }
    }

    #[test]
    fn backoff_grows_by_its_factor_up_to_its_cap() {
        let e = PluginError::new("x");
        let waits: Vec<_> = (1..=4)
            .map(|a| retry_delay(&retry(3, false), a, &e))
            .collect();
        assert_eq!(
            waits,
            [
                Some(Duration::from_millis(10)),
                Some(Duration::from_millis(20)),
                Some(Duration::from_millis(25)),
                None
            ]
        );
    }

    #[test]
    fn denials_are_never_retried_and_retryable_only_is_honoured() {
        let denied = PluginError::with_kind(ErrorKind::Denied, "no");
        assert_eq!(retry_delay(&retry(3, false), 1, &denied), None);
        assert_eq!(
            retry_delay(&retry(3, true), 1, &PluginError::new("x")),
            None
        );
        assert!(retry_delay(&retry(3, true), 1, &PluginError::retryable("x")).is_some());
        assert!(retry_delay(&retry(3, true), 1, &timed_out(Duration::from_millis(1))).is_some());
        assert_eq!(retry_delay(&Failure::Skip, 1, &PluginError::new("x")), None);
    }
}
