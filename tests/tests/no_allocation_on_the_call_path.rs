//! A call through a host handle allocates nothing in steady state: the
//! version lookup, the state and handler checks, the metrics (latency
//! sampled one call in N, counts exact), panic containment and the
//! crossing into the library all run on what exists already, and the
//! output goes into the caller's buffer.
//!
//! A separate test binary, for its counting global allocator. It counts
//! only on the thread that asks it to, so the runtime's own threads do not
//! disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use sharelife_core::Buffer;
use sharelife_tests::Scratch;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the arguments it was
// given, so `System`'s guarantees hold; the counting touches only an
// atomic and a const-initialized thread-local without a destructor,
// neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[tokio::test(flavor = "current_thread")]
async fn a_handle_call_allocates_nothing_in_steady_state() {
    let dir = Scratch::new();
    let lib = dir.copy_library("example-echo", "libecho.so");
    // Metrics on, sampled every 4 calls: the timed calls are in the loop.
    let host = dir.host_with(|b| b.time_calls(true).time_calls_every(4));
    host.load(&lib).await.expect("echo loads");
    host.start("examples.echo").await.expect("echo starts");
    let handle = host.handle("examples.echo").expect("loaded");
    let echo = handle.handler("echo").expect("echo has `echo`");
    let upper = handle.handler("upper").expect("echo has `upper`");

    let mut out = Buffer::with_capacity(64);
    let call = |out: &mut Buffer| {
        for handler in [echo, upper] {
            out.clear();
            handle
                .call(handler, b"steady state", out)
                .expect("the call works");
        }
    };
    // Warm up: first-use initialisation (thread-locals, the clock's
    // calibration, the first N timed calls) is not steady state.
    for _ in 0..1_000 {
        call(&mut out);
    }
    let made = allocations_in(|| {
        for _ in 0..10_000 {
            call(&mut out);
        }
    });
    assert_eq!(made, 0, "allocations in 20,000 handle calls");
    assert_eq!(out.as_slice(), b"STEADY STATE");

    // The counter does count: a buffer that must grow allocates.
    let grew = allocations_in(|| {
        let mut small = Buffer::new();
        handle.call(echo, &[b'x'; 4096], &mut small).unwrap();
    });
    assert!(grew > 0);

    let metrics = host.metrics().of("examples.echo").unwrap();
    assert_eq!(metrics.handler("echo").unwrap().calls, 11_001);
}
