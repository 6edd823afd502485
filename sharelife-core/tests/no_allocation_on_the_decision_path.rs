//! A decision allocates nothing in steady state: the gateway's category
//! and scoped decisions (allow and deny, with and without a rate limit),
//! and an allowed call through the gated services whose decision is
//! audited by the group-commit file sink (the entry is copied into the
//! sink's queue, whose chunks keep their capacity).
//!
//! Counted with a global allocator that counts the allocations made by
//! the calling thread (the audit writer's thread formats and writes on
//! its own; its work is not on the decision path).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use common::*;
use sharelife_core::audit::{AuditSink, Durability, FileSink, NullSink};
use sharelife_core::capability::{Gateway, Limits, Policy, Request, RuleRef};
use sharelife_core::manifest::{Capability, ProviderAccess};
use sharelife_core::services::{Backends, GatedServices, ProviderBackend};
use sharelife_core::{ContextData, PluginContext, PluginError};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down has no counter; that is not
    // the thread under test.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the caller's
// own arguments, which uphold `GlobalAlloc`'s contract; counting touches a
// const-initialized thread-local `Cell` only (no allocation, no reentry).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded; `ptr` came from this allocator (that is, from
        // `System`) with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_counts() {
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8]))), 1);
}

#[test]
fn gateway_decisions_allocate_nothing() {
    let hosts: Vec<String> = (0..1000).map(|i| format!("h{i}.example.com")).collect();
    let mut policy = Policy::new();
    for h in &hosts {
        policy = policy.allow(PLUGIN, net(h, &[443]));
    }
    let llm = Capability::Provider {
        name: "llm".into(),
        access: ProviderAccess::Read,
    };
    let limits = Limits {
        per_second: Some(1e12),
        calls: Some(u64::MAX),
        ..Limits::default()
    };
    let policy = policy
        .deny(PLUGIN, net("h7.example.com", &[]))
        .allow_limited(PLUGIN, llm.clone(), limits);
    let gw = Gateway::compile(
        &manifest(vec![net("*.example.com", &[443]), llm]),
        &policy,
        Path::new("/d"),
    )
    .unwrap();
    let argv = argv(&["git", "status"]);
    let ip = "93.184.216.34".parse().unwrap();
    let requests = [
        (Request::Command { argv: &argv }, RuleRef::NoGrantOfKind),
        (
            Request::Connect {
                name: Some("h500.example.com"),
                ip: Some(ip),
                port: 443,
            },
            RuleRef::Allow(500),
        ),
        (
            Request::Connect {
                name: Some("h7.example.com"),
                ip: None,
                port: 443,
            },
            RuleRef::Deny(1000),
        ),
        (
            Request::Connect {
                name: Some("elsewhere.example.com"),
                ip: None,
                port: 443,
            },
            RuleRef::NotGranted,
        ),
        (
            Request::Provider {
                name: "llm",
                access: ProviderAccess::Read,
            },
            RuleRef::Allow(1001),
        ),
        (
            Request::Provider {
                name: "llm",
                access: ProviderAccess::Write,
            },
            RuleRef::NotRequested,
        ),
    ];
    for (req, rule) in &requests {
        assert_eq!(gw.check(req).rule, *rule, "{req}");
    }
    let n = allocations(|| {
        for _ in 0..10_000 {
            for (req, _) in &requests {
                std::hint::black_box(gw.decide(std::hint::black_box(req)));
                std::hint::black_box(gw.check(std::hint::black_box(req)));
            }
        }
    });
    assert_eq!(n, 0, "allocations in 120,000 decisions");
}

/// Answers with nothing and records nothing.
#[derive(Debug)]
struct Noop;

impl ProviderBackend for Noop {
    fn call(&self, _: ProviderAccess, _: &[u8]) -> Result<Vec<u8>, PluginError> {
        Ok(Vec::new())
    }
}

fn context(dir: &Path, sink: Arc<dyn AuditSink>) -> PluginContext {
    let cap = Capability::Provider {
        name: "llm".into(),
        access: ProviderAccess::Read,
    };
    let gw = Gateway::compile(
        &manifest(vec![cap.clone()]),
        &Policy::new().allow(PLUGIN, cap),
        dir,
    )
    .unwrap();
    let services = GatedServices::new(
        Arc::new(gw),
        sink,
        dir,
        Backends::new().provider("llm", Arc::new(Noop)),
    );
    PluginContext::new(
        ContextData {
            plugin_id: PLUGIN.into(),
            config: serde_json::Value::Null,
            data_dir: dir.to_owned(),
            temp_dir: dir.to_owned(),
        },
        Arc::new(services),
    )
}

#[test]
fn an_audited_call_through_the_file_sink_allocates_nothing() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    let sink = Arc::new(FileSink::open(&log, Durability::GroupCommit).unwrap());
    let ctx = context(dir.path(), Arc::clone(&sink) as Arc<dyn AuditSink>);
    // Each call's record is made durable before the next: the queue's
    // chunks each hold one entry, so the steady state is reached at once
    // and stays the same (a burst would grow chunks as the scheduler
    // pleases).
    let call = || {
        ctx.provider("llm", ProviderAccess::Read, b"q").unwrap();
        sink.flush().unwrap();
    };
    for _ in 0..50 {
        call();
    }
    let n = allocations(|| {
        for _ in 0..300 {
            call();
        }
    });
    assert_eq!(n, 0, "allocations in 300 audited calls");
    drop(ctx);
    let report = sharelife_core::audit::verify(&log).unwrap();
    assert_eq!(report.records, 350);
}

#[test]
fn an_audited_call_with_the_null_sink_allocates_nothing() {
    let dir = Scratch::new();
    let ctx = context(dir.path(), Arc::new(NullSink));
    for _ in 0..100 {
        ctx.provider("llm", ProviderAccess::Read, b"q").unwrap();
    }
    let n = allocations(|| {
        for _ in 0..10_000 {
            ctx.provider("llm", ProviderAccess::Read, b"q").unwrap();
        }
    });
    assert_eq!(n, 0, "allocations in 10,000 calls");
}
