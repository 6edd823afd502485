//! What happens to one attempt of one step: admission (capability
//! decision, input), the call, the timeout, and whether to retry.
#![forbid(unsafe_code)]

use std::time::Duration;

use super::compile::{Pipeline, Step};
use super::format::FinalPolicy;
use super::gate;
use super::report::{Slot, StepInfo, StepStatus};
use super::target::StepPlugin;
use super::validate::{Failure, Source};
use crate::{Buffer, ErrorKind, PluginError};

/// Step `i`'s slot, and its input (`None` when missing).
#[inline]
pub(super) fn slot_and_input<'s>(
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
#[inline]
pub(super) fn admit<'i, P: StepPlugin>(
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

pub(super) async fn call_async<P: StepPlugin>(
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
/// The attempt ran from `started` to `ended` (raw ticks of `clock`); the
/// ticks become a duration only for a step with a timeout.
#[inline]
pub(super) fn judge<P: StepPlugin>(
    step: &Step<P>,
    result: Result<(), PluginError>,
    clock: &quanta::Clock,
    started: u64,
    ended: u64,
) -> Result<(), PluginError> {
    match (result, step.timeout) {
        (Ok(()), Some(limit)) if clock.delta(started, ended) > limit => Err(timed_out(limit)),
        (result, _) => result,
    }
}

pub(super) fn timed_out(limit: Duration) -> PluginError {
    PluginError::from_parts(
        ErrorKind::Timeout,
        format!("the step took longer than its timeout of {limit:?}"),
        true,
    )
}

/// The wait before retrying after `attempts` attempts failed with
/// `error`, or `None` when the step's policy now applies.
pub(super) fn retry_delay(
    failure: &Failure,
    attempts: u32,
    error: &PluginError,
) -> Option<Duration> {
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

pub(super) fn final_policy(failure: &Failure) -> FinalPolicy {
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
