//! Rate limits (token buckets) and budgets (calls and bytes per window) for
//! one plugin's allow rules.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Limits;

/// Why a limiter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Rate,
    Budget,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled: Instant,
    window_start: Instant,
    calls: u64,
    bytes: u64,
}

impl Limiter {
    pub(crate) fn new(limits: Limits) -> Self {
        let now = Instant::now();
        let burst = limits
            .burst
            .map(f64::from)
            .or(limits.per_second)
            .unwrap_or(0.0)
            .max(1.0);
        Limiter {
            limits,
            state: Mutex::new(State {
                tokens: burst,
                refilled: now,
                window_start: now,
                calls: 0,
                bytes: 0,
            }),
        }
    }

    fn window(&self) -> Duration {
        self.limits.window_secs.unwrap_or(Duration::from_secs(60))
    }

    fn roll(&self, state: &mut State, now: Instant) {
        if now.duration_since(state.window_start) >= self.window() {
            state.window_start = now;
            state.calls = 0;
            state.bytes = 0;
        }
    }

    /// Takes one call from the rate bucket and the call budget.
    pub(crate) fn acquire(&self) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut s = self.state.lock();
        self.roll(&mut s, now);
        if let Some(rate) = self.limits.per_second {
            let burst = self.limits.burst.map_or(rate, f64::from).max(1.0);
            let elapsed = now.duration_since(s.refilled).as_secs_f64();
            s.tokens = (s.tokens + elapsed * rate).min(burst);
            s.refilled = now;
            if s.tokens < 1.0 {
                return Err(Refusal::Rate);
            }
        }
        if self.limits.calls.is_some_and(|max| s.calls >= max) {
            return Err(Refusal::Budget);
        }
        if self.limits.bytes.is_some_and(|max| s.bytes >= max) {
            return Err(Refusal::Budget);
        }
        if self.limits.per_second.is_some() {
            s.tokens -= 1.0;
        }
        s.calls += 1;
        Ok(())
    }

    /// Whether `n` more bytes fit the byte budget; counts them if so.
    pub(crate) fn charge_bytes(&self, n: u64) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut s = self.state.lock();
        self.roll(&mut s, now);
        match self.limits.bytes {
            Some(max) if s.bytes.saturating_add(n) > max => Err(Refusal::Budget),
            _ => {
                s.bytes = s.bytes.saturating_add(n);
                Ok(())
            }
        }
    }

    pub(crate) fn meters_bytes(&self) -> bool {
        self.limits.bytes.is_some()
    }

    pub(crate) fn max_call_time(&self) -> Option<Duration> {
        self.limits.max_call_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_budget_is_spent_and_refused() {
        let l = Limiter::new(Limits {
            calls: Some(2),
            ..Limits::default()
        });
        assert_eq!(l.acquire(), Ok(()));
        assert_eq!(l.acquire(), Ok(()));
        assert_eq!(l.acquire(), Err(Refusal::Budget));
    }

    #[test]
    fn rate_bucket_allows_a_burst_then_refuses() {
        let l = Limiter::new(Limits {
            per_second: Some(0.001),
            burst: Some(3),
            ..Limits::default()
        });
        for _ in 0..3 {
            assert_eq!(l.acquire(), Ok(()));
        }
        assert_eq!(l.acquire(), Err(Refusal::Rate));
    }

    #[test]
    fn byte_budget_refuses_what_does_not_fit() {
        let l = Limiter::new(Limits {
            bytes: Some(10),
            ..Limits::default()
        });
        assert_eq!(l.charge_bytes(6), Ok(()));
        assert_eq!(l.charge_bytes(5), Err(Refusal::Budget));
        assert_eq!(l.charge_bytes(4), Ok(()));
    }
}
