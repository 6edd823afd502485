//! A sandboxed plugin added with `sharelife_sandbox::load` is driven by
//! the host like any other: called through `host.call`, a handle and a
//! pipeline, its handlers counted in the host's metrics; a crash fails the
//! call with its cause, the health check finds it unhealthy, and a
//! restart answers again from a new child.

mod support;

use sharelife_core::host::{CheckOutcome, Recovery, RestartPolicy};
use sharelife_core::pipeline::{PipelineFile, RunStatus};
use sharelife_core::{ErrorKind, Health, HostError, Pipeline, PluginState};
use sharelife_sandbox::Feature;
use support::{add_sandboxed, host, kernel_gives, limits};

const BOTH: [Feature; 2] = [Feature::Landlock, Feature::Seccomp];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_calls_it_through_call_and_a_handle_and_counts_it() {
    if !kernel_gives(
        "the_host_calls_it_through_call_and_a_handle_and_counts_it",
        &BOTH,
    ) {
        return;
    }
    let (host, _dirs) = host(|b| b);
    let id = add_sandboxed(&host, &limits()).await;
    assert_eq!(host.plugins().state(&id), Some(PluginState::Active));

    let out = host.call(&id, "echo", b"through the host").unwrap();
    assert_eq!(out.as_slice(), b"through the host");
    let out = host.call_async(&id, "echo_async", b"async").await.unwrap();
    assert_eq!(out.as_slice(), b"async");

    let handle = host.handle(&id).unwrap();
    let noop = handle.handler("noop").unwrap();
    let echo = handle.handler("echo").unwrap();
    for i in 0..5_u8 {
        let mut out = sharelife_core::Buffer::new();
        handle.call(noop, &[i], &mut out).unwrap();
        let mut out = sharelife_core::Buffer::new();
        handle.call_async(echo, &[i], &mut out).await.unwrap();
        assert_eq!(out.as_slice(), &[i]);
    }
    // An async handler called synchronously is refused by the host, as
    // for an in-process plugin.
    let refused = host.call(&id, "echo_async", b"").unwrap_err();
    assert!(
        matches!(&refused, HostError::Call { error, .. } if error.kind() == ErrorKind::AsyncHandler),
        "{refused:?}"
    );

    let metrics = host.metrics().of(&id).expect("metrics for the plugin");
    let calls = |name: &str| metrics.handler(name).map(|s| (s.calls, s.errors));
    assert_eq!(calls("echo"), Some((6, 0)));
    assert_eq!(calls("echo_async"), Some((1, 0)));
    assert_eq!(calls("noop"), Some((5, 0)));
    assert_eq!(host.health().check(&id).await.unwrap(), Health::Healthy);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_runs_through_it() {
    if !kernel_gives("a_pipeline_runs_through_it", &BOTH) {
        return;
    }
    let (host, _dirs) = host(|b| b);
    let id = add_sandboxed(&host, &limits()).await;
    let file = PipelineFile::from_yaml(
        "sandboxed.yaml",
        &format!(
            r#"
schema_version: sharelife.pipeline.v1
plugins:
  - {{ alias: boxed, plugin: {id} }}
steps:
  - {{ step_id: first, plugin_ref: boxed, handler: echo }}
  - {{ step_id: second, plugin_ref: boxed, handler: echo_async, input_from: first }}
"#
        ),
    )
    .unwrap();
    let pipeline = Pipeline::compile(&file, &host).unwrap();
    let report = pipeline.run(b"piped").await;
    assert_eq!(report.status(), RunStatus::Completed, "{report}");
    assert_eq!(report.output("first"), Some(&b"piped"[..]));
    assert_eq!(report.final_output(), Some(&b"piped"[..]));
    let metrics = host.metrics().of(&id).unwrap();
    assert_eq!(metrics.handler("echo").map(|s| s.calls), Some(1));
    assert_eq!(metrics.handler("echo_async").map(|s| s.calls), Some(1));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_is_a_typed_failure_then_unhealthy_then_a_restart_answers_from_a_new_child() {
    if !kernel_gives(
        "a_crash_is_a_typed_failure_then_unhealthy_then_a_restart_answers_from_a_new_child",
        &BOTH,
    ) {
        return;
    }
    let (host, _dirs) = host(|b| b.restart_policy(RestartPolicy::Leave));
    let id = add_sandboxed(&host, &limits()).await;
    host.call(&id, "noop", b"").unwrap();

    let error = host.call(&id, "segfault", b"").unwrap_err();
    println!("segfault: {error}");
    let HostError::Call { error, .. } = &error else {
        panic!("expected a call error, got {error:?}");
    };
    assert!(error.message().contains("SIGSEGV"), "{error}");
    // Every later call fails the same way until a restart.
    let later = host.call(&id, "noop", b"").unwrap_err();
    assert!(later.to_string().contains("SIGSEGV"), "{later}");
    let metrics = host.metrics().of(&id).unwrap();
    assert_eq!(
        metrics.handler("segfault").map(|s| (s.calls, s.errors)),
        Some((1, 1))
    );

    // The health check finds it: unhealthy with the cause, and a check
    // round moves it to `Error` (the default policy then restarts it; here
    // the policy is to leave it, and it is restarted by hand).
    let health = host.health().check(&id).await.unwrap();
    assert!(
        matches!(&health, Health::Unhealthy(cause) if cause.contains("SIGSEGV")),
        "{health:?}"
    );
    host.health().check_all().await;
    assert_eq!(host.plugins().state(&id), Some(PluginState::Error));
    assert!(
        host.call(&id, "noop", b"").is_err(),
        "no call reaches a plugin in Error"
    );

    host.start(&id).await.expect("restarted from Error");
    assert_eq!(host.plugins().state(&id), Some(PluginState::Active));
    assert_eq!(
        host.call(&id, "echo", b"again").unwrap().as_slice(),
        b"again"
    );
    assert_eq!(host.health().check(&id).await.unwrap(), Health::Healthy);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restart_policy_restarts_a_crashed_sandboxed_plugin() {
    if !kernel_gives(
        "the_restart_policy_restarts_a_crashed_sandboxed_plugin",
        &BOTH,
    ) {
        return;
    }
    let (host, _dirs) = host(|b| {
        b.restart_policy(RestartPolicy::Backoff {
            max_restarts: 3,
            backoff: std::time::Duration::ZERO,
            max_backoff: std::time::Duration::ZERO,
        })
    });
    let id = add_sandboxed(&host, &limits()).await;
    host.call(&id, "abort", b"").unwrap_err();
    let checks = host.health().check_all().await;
    assert!(
        matches!(
            &checks[0].outcome,
            CheckOutcome::Failed {
                recovery: Recovery::Restarted { attempt: 1, .. },
                ..
            }
        ),
        "{checks:?}"
    );
    assert_eq!(host.plugins().state(&id), Some(PluginState::Active));
    assert_eq!(host.call(&id, "echo", b"back").unwrap().as_slice(), b"back");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_its_timeout_is_a_timeout_error_and_the_plugin_unhealthy() {
    if !kernel_gives(
        "a_call_past_its_timeout_is_a_timeout_error_and_the_plugin_unhealthy",
        &BOTH,
    ) {
        return;
    }
    let (host, _dirs) = host(|b| b.restart_policy(RestartPolicy::Leave));
    // The timeout bounds the spin; nothing here measures time.
    let one_second = sharelife_sandbox::Limits {
        call_timeout: Some(std::time::Duration::from_secs(1)),
        ..limits()
    };
    let id = add_sandboxed(&host, &one_second).await;
    let error = host.call_async(&id, "spin", b"").await.unwrap_err();
    println!("spin: {error}");
    let HostError::Call { error, .. } = &error else {
        panic!("expected a call error, got {error:?}");
    };
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(error.message().contains("call_timeout"), "{error}");
    let health = host.health().check(&id).await.unwrap();
    assert!(
        matches!(&health, Health::Unhealthy(cause) if cause.contains("call_timeout")),
        "{health:?}"
    );
    host.health().check_all().await;
    assert_eq!(host.plugins().state(&id), Some(PluginState::Error));
    host.start(&id).await.unwrap();
    assert_eq!(host.call(&id, "echo", b"up").unwrap().as_slice(), b"up");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_threads_call_it_through_handles_and_every_call_is_answered_and_counted() {
    if !kernel_gives(
        "eight_threads_call_it_through_handles_and_every_call_is_answered_and_counted",
        &BOTH,
    ) {
        return;
    }
    let (host, _dirs) = host(|b| b);
    let id = add_sandboxed(&host, &limits()).await;
    let handle = host.handle(&id).unwrap();
    let echo = handle.handler("echo").unwrap();
    std::thread::scope(|s| {
        for t in 0..8_u8 {
            let handle = handle.clone();
            s.spawn(move || {
                for i in 0..100_u8 {
                    let mut out = sharelife_core::Buffer::new();
                    handle.call(echo, &[t, i], &mut out).unwrap();
                    assert_eq!(out.as_slice(), &[t, i]);
                }
            });
        }
    });
    let metrics = host.metrics().of(&id).unwrap();
    assert_eq!(
        metrics.handler("echo").map(|s| (s.calls, s.errors)),
        Some((800, 0))
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_no_plugin_library_is_refused_before_any_child_starts() {
    let (host, dirs) = host(|b| b);
    let not_a_library = dirs.path().join("libnothing.so");
    std::fs::write(&not_a_library, b"not an ELF file").unwrap();
    let error = sharelife_sandbox::load(
        &host,
        &not_a_library,
        &limits(),
        &sharelife_sandbox::Requirements::default(),
    )
    .await
    .unwrap_err();
    println!("{error}");
    assert!(
        matches!(error, sharelife_sandbox::LoadSandboxedError::Library(_)),
        "{error:?}"
    );
    assert!(host.plugins().list().is_empty());
}
