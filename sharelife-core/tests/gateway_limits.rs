//! Rate limits and budgets from policy: exceeding one is a typed denial,
//! audited like any other.

mod common;

use std::time::Duration;

use common::*;
use sharelife_core::ErrorKind;
use sharelife_core::audit::Outcome;
use sharelife_core::capability::{Limits, Policy};
use sharelife_core::manifest::{Capability, FileAccess, ProviderAccess};
use sharelife_core::services::{Backends, CommandRequest, InMemoryProvider};

#[test]
fn a_call_budget_is_spent_then_denied() {
    let dir = Scratch::new();
    let cap = Capability::Provider {
        name: "llm".into(),
        access: ProviderAccess::Read,
    };
    let limits = Limits {
        calls: Some(3),
        window_secs: Some(Duration::from_secs(3600)),
        ..Limits::default()
    };
    let backends = Backends::new().provider(
        "llm",
        std::sync::Arc::new(InMemoryProvider::new(|_, _| b"ok".to_vec())),
    );
    let (ctx, audit, _) = gated(
        &manifest(vec![cap.clone()]),
        &Policy::new().allow_limited(PLUGIN, cap, limits),
        dir.path(),
        backends,
    );
    for _ in 0..3 {
        ctx.provider("llm", ProviderAccess::Read, b"").unwrap();
    }
    let err = ctx.provider("llm", ProviderAccess::Read, b"").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert!(
        err.message().ends_with("policy.rules[0]: budget exhausted"),
        "{err}"
    );
    let rec = last(&audit);
    assert_eq!(
        (rec.outcome, rec.rule.as_str()),
        (Outcome::Deny, "policy.rules[0]: budget exhausted")
    );
}

#[test]
fn a_rate_limit_refuses_a_burst_beyond_its_size() {
    let dir = Scratch::new();
    let cap = Capability::Provider {
        name: "llm".into(),
        access: ProviderAccess::Read,
    };
    let limits = Limits {
        per_second: Some(0.01),
        burst: Some(2),
        ..Limits::default()
    };
    let backends = Backends::new().provider(
        "llm",
        std::sync::Arc::new(InMemoryProvider::new(|_, _| Vec::new())),
    );
    let (ctx, _, _) = gated(
        &manifest(vec![cap.clone()]),
        &Policy::new().allow_limited(PLUGIN, cap, limits),
        dir.path(),
        backends,
    );
    ctx.provider("llm", ProviderAccess::Read, b"").unwrap();
    ctx.provider("llm", ProviderAccess::Read, b"").unwrap();
    let err = ctx.provider("llm", ProviderAccess::Read, b"").unwrap_err();
    assert!(
        err.message().ends_with("policy.rules[0]: rate limit"),
        "{err}"
    );
}

#[test]
fn a_byte_budget_stops_a_write_that_does_not_fit() {
    let dir = Scratch::new();
    let cap = Capability::File {
        access: FileAccess::Write,
        path: "out/*".into(),
    };
    let limits = Limits {
        bytes: Some(10),
        ..Limits::default()
    };
    let (ctx, _, _) = gated(
        &manifest(vec![cap.clone()]),
        &Policy::new().allow_limited(PLUGIN, cap, limits),
        dir.path(),
        Backends::new(),
    );
    ctx.fs().write("out/a", b"12345678").unwrap();
    let err = ctx.fs().write("out/b", b"12345").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert!(!dir.path().join("out/b").exists(), "nothing was written");
}

#[tokio::test]
async fn the_policy_caps_a_call_s_wall_time() {
    let dir = Scratch::new();
    let cap = cmd(&["sleep"]);
    let limits = Limits {
        max_call_secs: Some(Duration::from_millis(100)),
        ..Limits::default()
    };
    let (ctx, _, _) = gated(
        &manifest(vec![cap.clone()]),
        &Policy::new().allow_limited(PLUGIN, cap, limits),
        dir.path(),
        Backends::new(),
    );
    // The plugin asks for a minute; the policy allows a tenth of a second.
    let mut req = CommandRequest::new(["sleep", "30"]);
    req.timeout = Duration::from_secs(60);
    let out = ctx.run(req).await.unwrap();
    assert!(out.timed_out);
}
