//! Per-plugin and per-handler call metrics: calls, errors, panics and a
//! latency histogram, kept in atomics on the call path and read as
//! snapshots. The part is [`Metrics`] (`host.metrics()`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::registry::Registry;
use crate::manifest::{Manifest, PluginId};
use crate::{ErrorKind, PluginError};

/// The clock calls are timed with: quanta's TSC reading (calibrated once
/// per process; it falls back to the OS clock where the TSC is unusable).
/// A timed call takes two readings, and std's `Instant::now` costs about
/// 25 ns on the VMs we measure on against about 10 for a TSC read. Even
/// those two reads were most of the host's per-call overhead, so latency is
/// sampled: see [`Timing`].
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// When a timed call started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp(u64);

/// Which calls are timed into the latency histograms: none, or the first
/// [`every`](Self::every) calls of each handler on each thread and then
/// one call in `every` (`every` is a power of two). Counts of calls,
/// errors and panics are exact either way; a histogram holds the timed
/// calls only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    on: bool,
    mask: u64,
    every: u64,
}

impl Timing {
    /// The default sampling period.
    pub(crate) const DEFAULT_EVERY: u32 = 64;

    /// Timing on (`on`), one call in `every` (rounded up to a power of
    /// two; 1 times every call).
    pub(crate) fn new(on: bool, every: u32) -> Self {
        let every = u64::from(every.max(1)).next_power_of_two();
        Timing {
            on,
            mask: every - 1,
            every,
        }
    }

    /// Whether the call that is the `n`th (from 0) of its handler is timed.
    #[inline]
    fn times(self, n: u64) -> bool {
        self.on && (n < self.every || n & self.mask == 0)
    }
}

/// Bucket `i` holds latencies below `2^(i + FIRST_SHIFT)` ns: 128 ns up to
/// about 68 s, plus one overflow bucket.
const FIRST_SHIFT: u32 = 7;
const BUCKETS: usize = 30;

#[derive(Debug)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }

    fn record(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bits = u64::BITS - ns.leading_zeros();
        let index = (bits.saturating_sub(FIRST_SHIFT) as usize).min(BUCKETS);
        self.buckets[index].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    fn snapshot(&self) -> LatencyHistogram {
        let buckets = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| LatencyBucket {
                below: (i < BUCKETS).then(|| Duration::from_nanos(1 << (i as u32 + FIRST_SHIFT))),
                count: b.load(Relaxed),
            })
            .collect();
        LatencyHistogram {
            buckets,
            sum: Duration::from_nanos(self.sum_ns.load(Relaxed)),
        }
    }
}

/// One bucket of a [`LatencyHistogram`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyBucket {
    /// Upper bound (exclusive) of the bucket; `None` for the last, open one.
    pub below: Option<Duration>,
    /// Calls that fell in it.
    pub count: u64,
}

/// A latency histogram with power-of-two buckets (128 ns, 256 ns, ... 68 s).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencyHistogram {
    /// The buckets, fastest first.
    pub buckets: Vec<LatencyBucket>,
    /// The sum of every recorded latency.
    pub sum: Duration,
}

impl LatencyHistogram {
    /// Recorded calls.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.count).sum()
    }

    /// The mean latency, if anything was recorded.
    pub fn mean(&self) -> Option<Duration> {
        let count = u32::try_from(self.count()).ok().filter(|c| *c > 0)?;
        Some(self.sum / count)
    }

    /// An upper bound of quantile `q` (0.0..=1.0): the upper edge of the
    /// bucket it falls in. `None` when nothing was recorded or it falls in
    /// the open bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for bucket in &self.buckets {
            seen += bucket.count;
            if seen >= rank {
                return bucket.below;
            }
        }
        None
    }
}

/// Call counters are split in this many shards: the threads that own one
/// (the first to count, each index reused when its thread ends) count with
/// a plain load and store, no atomic read-modify-write; any further
/// threads share one atomic add.
const SHARDS: usize = 16;

/// Which shard of a [`Counter`] this thread owns.
mod shard {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use parking_lot::Mutex;

    use super::SHARDS;

    static NEXT: AtomicUsize = AtomicUsize::new(0);
    /// Indices given back by threads that ended. Handing one over through
    /// this lock orders the old owner's counts before the new owner's.
    static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    /// [`INDEX`] before the thread's first count.
    const UNSET: u8 = u8::MAX;
    /// [`INDEX`] of a thread that has no shard: past [`SHARDS`] threads,
    /// or once its shard was given back.
    const NONE: u8 = u8::MAX - 1;
    const _: () = assert!(SHARDS < NONE as usize);

    /// Owns the thread's shard, and gives it back when the thread ends.
    struct Owned(Option<usize>);

    impl Drop for Owned {
        fn drop(&mut self) {
            // Counts the thread makes from here on (other thread-local
            // destructors may call handlers) go to the shared count.
            INDEX.set(NONE);
            if let Some(i) = self.0 {
                FREE.lock().push(i);
            }
        }
    }

    thread_local! {
        /// The thread's shard, as a plain value the call path reads with
        /// one load: no lazy initialization to test, no destructor state
        /// (the owning [`Owned`], which has one, is touched only once).
        static INDEX: Cell<u8> = const { Cell::new(UNSET) };
        static OWNED: Owned = Owned(take());
    }

    fn take() -> Option<usize> {
        if let Some(i) = FREE.lock().pop() {
            return Some(i);
        }
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        (i < SHARDS).then_some(i)
    }

    /// This thread's shard; `None` past [`SHARDS`] threads, or while the
    /// thread is being torn down.
    #[inline]
    pub(super) fn mine() -> Option<usize> {
        let i = INDEX.get();
        if usize::from(i) < SHARDS {
            return Some(usize::from(i));
        }
        if i == NONE { None } else { first() }
    }

    /// The thread's first count: takes its shard.
    #[cold]
    fn first() -> Option<usize> {
        let i = OWNED.try_with(|o| o.0).ok().flatten();
        INDEX.set(i.map_or(NONE, |i| u8::try_from(i).unwrap_or(NONE)));
        i
    }
}

/// A shard of a [`Counter`], on a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

/// An exact count that threads bump without contending: each shard has
/// one writer at a time (see [`shard`]).
#[derive(Debug, Default)]
struct Counter {
    /// In place, not boxed: one pointer fewer to follow per count.
    shards: [Padded; SHARDS],
    shared: AtomicU64,
}

impl Counter {
    /// Counts one; returns how many this thread's shard had counted before.
    #[inline]
    fn bump(&self) -> u64 {
        match shard::mine() {
            Some(i) => {
                let c = &self.shards[i].0;
                // This thread is the shard's only writer: no read-modify-write.
                let n = c.load(Relaxed);
                c.store(n + 1, Relaxed);
                n
            }
            None => self.shared.fetch_add(1, Relaxed),
        }
    }

    fn total(&self) -> u64 {
        self.shards.iter().map(|p| p.0.load(Relaxed)).sum::<u64>() + self.shared.load(Relaxed)
    }
}

/// Counters for one handler, or for a plugin's event deliveries.
#[derive(Debug)]
pub(crate) struct CallMetrics {
    calls: Counter,
    errors: AtomicU64,
    panics: AtomicU64,
    latency: Histogram,
}

impl CallMetrics {
    fn new() -> Self {
        CallMetrics {
            calls: Counter::default(),
            errors: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            latency: Histogram::new(),
        }
    }

    /// Counts a call that starts now; its start time when `timing` says
    /// this one is timed. A store to this thread's shard of the count, and
    /// a clock read one call in N (N per thread).
    #[inline]
    pub(crate) fn begin(&self, timing: Timing) -> Option<Stamp> {
        let n = self.calls.bump();
        if timing.times(n) {
            Some(Stamp(clock().raw()))
        } else {
            None
        }
    }

    /// Records the outcome of a call [`begin`](Self::begin) counted, and
    /// its latency when it was timed.
    #[inline]
    pub(crate) fn end(&self, started: Option<Stamp>, result: &Result<(), PluginError>) {
        if let Some(Stamp(started)) = started {
            let clock = clock();
            self.latency.record(clock.delta(started, clock.raw()));
        }
        if let Err(e) = result {
            self.errors.fetch_add(1, Relaxed);
            if e.kind() == ErrorKind::Panicked {
                self.panics.fetch_add(1, Relaxed);
            }
        }
    }

    fn snapshot(&self) -> CallStats {
        CallStats {
            calls: self.calls.total(),
            errors: self.errors.load(Relaxed),
            panics: self.panics.load(Relaxed),
            latency: self.latency.snapshot(),
        }
    }
}

/// A handler's (or a plugin's event) counters, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CallStats {
    /// Calls made (each panic and error included).
    pub calls: u64,
    /// Calls that returned an error or panicked.
    pub errors: u64,
    /// Calls that panicked.
    pub panics: u64,
    /// How long the timed calls took: every call up to the host's sampling
    /// period N ([`HostBuilder::time_calls_every`](crate::HostBuilder::time_calls_every)),
    /// then one call in N; empty when the host does not time calls.
    pub latency: LatencyHistogram,
}

/// The metrics of one plugin: one set per handler, one for events.
#[derive(Debug)]
pub(crate) struct PluginMetrics {
    handlers: Box<[CallMetrics]>,
    events: CallMetrics,
    timing: Timing,
}

impl PluginMetrics {
    pub(crate) fn new(manifest: &Manifest, timing: Timing) -> Self {
        if timing.on {
            // Calibrate now, not on the first call.
            clock();
        }
        PluginMetrics {
            handlers: manifest
                .handlers
                .iter()
                .map(|_| CallMetrics::new())
                .collect(),
            events: CallMetrics::new(),
            timing,
        }
    }

    /// Which calls are timed.
    #[inline]
    pub(crate) fn timing(&self) -> Timing {
        self.timing
    }

    #[inline]
    pub(crate) fn handler(&self, index: usize) -> Option<&CallMetrics> {
        self.handlers.get(index)
    }

    pub(crate) fn events(&self) -> &CallMetrics {
        &self.events
    }

    pub(crate) fn snapshot(&self, manifest: &Manifest) -> PluginMetricsSnapshot {
        PluginMetricsSnapshot {
            plugin: manifest.id.clone(),
            handlers: manifest
                .handlers
                .iter()
                .zip(self.handlers.iter())
                .map(|(h, m)| (h.name.clone(), m.snapshot()))
                .collect(),
            events: self.events.snapshot(),
        }
    }
}

/// The metrics part of a host (`host.metrics()`): snapshots of the
/// counters each loaded plugin keeps on its call path.
#[derive(Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
}

impl Metrics {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Metrics { registry }
    }

    /// Plugin `id`'s metrics: per handler and for events, calls, errors,
    /// panics and a latency histogram. `None` if it is not loaded.
    pub fn of(&self, id: &str) -> Option<PluginMetricsSnapshot> {
        self.registry
            .get(id)
            .map(|s| s.metrics.snapshot(s.manifest()))
    }

    /// Every loaded plugin's metrics, by id.
    pub fn all(&self) -> Vec<PluginMetricsSnapshot> {
        self.registry
            .slots()
            .iter()
            .map(|s| s.metrics.snapshot(s.manifest()))
            .collect()
    }

    /// Emits every plugin's metrics through `tracing` (target
    /// `sharelife::metrics`); the health monitor does this each round.
    pub fn emit(&self) {
        Self::emit_all(&self.registry);
    }

    pub(crate) fn emit_all(registry: &Registry) {
        for slot in registry.slots() {
            slot.metrics.snapshot(slot.manifest()).emit();
        }
    }
}

/// A plugin's metrics, read by [`Metrics::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginMetricsSnapshot {
    /// The plugin.
    pub plugin: PluginId,
    /// Per handler, in manifest order: the name and its counters.
    pub handlers: Vec<(String, CallStats)>,
    /// Event deliveries through `handle_event`.
    pub events: CallStats,
}

impl PluginMetricsSnapshot {
    /// The counters of handler `name`.
    pub fn handler(&self, name: &str) -> Option<&CallStats> {
        self.handlers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// Emits one `tracing` event per handler (and one for events) on target
    /// `sharelife::metrics`, at `INFO`.
    pub fn emit(&self) {
        let rows = self
            .handlers
            .iter()
            .map(|(n, s)| (n.as_str(), s))
            .chain(std::iter::once(("<events>", &self.events)));
        for (handler, stats) in rows {
            if stats.calls == 0 {
                continue;
            }
            let micros = |d: Option<Duration>| d.map_or(-1.0, |d| d.as_secs_f64() * 1e6);
            tracing::info!(
                target: "sharelife::metrics",
                plugin = %self.plugin,
                handler,
                calls = stats.calls,
                errors = stats.errors,
                panics = stats.panics,
                mean_us = micros(stats.latency.mean()),
                p50_us = micros(stats.latency.quantile(0.5)),
                p99_us = micros(stats.latency.quantile(0.99)),
                "plugin metrics"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_power_of_two_buckets() {
        let h = Histogram::new();
        h.record(Duration::from_nanos(100));
        h.record(Duration::from_nanos(300));
        h.record(Duration::from_micros(3));
        h.record(Duration::from_secs(1000));
        let s = h.snapshot();
        assert_eq!(s.count(), 4);
        assert_eq!(s.buckets[0].below, Some(Duration::from_nanos(128)));
        assert_eq!(s.buckets[0].count, 1);
        assert_eq!(s.buckets[2].count, 1, "300 ns is below 512 ns");
        assert_eq!(s.quantile(0.5), Some(Duration::from_nanos(512)));
        assert_eq!(s.quantile(0.75), Some(Duration::from_nanos(4096)));
        assert_eq!(s.quantile(1.0), None, "the slowest is in the open bucket");
    }

    #[test]
    fn errors_and_panics_are_counted_apart() {
        let m = CallMetrics::new();
        let off = Timing::new(false, 1);
        for result in [
            Ok(()),
            Err(PluginError::new("no")),
            Err(PluginError::with_kind(ErrorKind::Panicked, "boom")),
        ] {
            let started = m.begin(off);
            m.end(started, &result);
        }
        let s = m.snapshot();
        assert_eq!((s.calls, s.errors, s.panics), (3, 2, 1));
        assert_eq!(s.latency.count(), 0);
    }

    #[test]
    fn the_first_n_calls_are_timed_then_one_in_n_and_counts_stay_exact() {
        let m = CallMetrics::new();
        let timing = Timing::new(true, 50);
        assert_eq!(timing.every, 64, "rounded up to a power of two");
        for _ in 0..64 * 10 {
            let started = m.begin(timing);
            m.end(started, &Ok(()));
        }
        let s = m.snapshot();
        assert_eq!(s.calls, 640);
        // Calls 0..64 all, then 64, 128, ... 576: 64 + 9.
        assert_eq!(s.latency.count(), 64 + 9);
        assert!(Timing::new(true, 0).times(12345), "every 0 or 1 times all");
    }

    #[test]
    fn counts_stay_exact_across_more_threads_than_shards_and_reused_shards() {
        let m = CallMetrics::new();
        let off = Timing::new(false, 1);
        // Two waves: the second takes over the shards the first gave back.
        for _ in 0..2 {
            std::thread::scope(|s| {
                for _ in 0..SHARDS + 4 {
                    s.spawn(|| {
                        for _ in 0..10_000 {
                            let started = m.begin(off);
                            m.end(started, &Ok(()));
                        }
                    });
                }
            });
        }
        assert_eq!(m.snapshot().calls, 2 * (SHARDS as u64 + 4) * 10_000);
    }

    #[test]
    fn calls_counted_while_a_thread_ends_are_counted_after_its_shard_is_given_back() {
        use std::sync::atomic::AtomicBool;

        static M: std::sync::LazyLock<CallMetrics> = std::sync::LazyLock::new(CallMetrics::new);
        static LATE_HAD_A_SHARD: AtomicBool = AtomicBool::new(false);
        fn count() {
            let started = M.begin(Timing::new(false, 1));
            M.end(started, &Ok(()));
        }
        /// Counts two calls from a destructor that runs after the one
        /// giving the thread's shard back: thread-local destructors run in
        /// the reverse order of their registration, and this one is
        /// registered before the thread's first count.
        struct CountsWhenDropped;
        impl Drop for CountsWhenDropped {
            fn drop(&mut self) {
                if shard::mine().is_some() {
                    LATE_HAD_A_SHARD.store(true, Relaxed);
                }
                count();
                count();
            }
        }
        thread_local! {
            static LATE: CountsWhenDropped = const { CountsWhenDropped };
        }
        let per_thread = 1_000;
        let threads = SHARDS + 2;
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                std::thread::spawn(move || {
                    LATE.with(|_| ());
                    for _ in 0..per_thread {
                        count();
                    }
                })
            })
            .collect();
        // `join` returns once the thread's destructors ran.
        for h in handles {
            h.join().unwrap();
        }
        // The late counts did not go to a shard the thread had given back
        // (another thread may own it by then), and none was lost.
        assert!(!LATE_HAD_A_SHARD.load(Relaxed));
        assert_eq!(M.snapshot().calls, threads as u64 * (per_thread + 2));
    }
}
