//! A plugin that spins, exhausts its memory, segfaults, aborts, overflows
//! its stack or exits takes down only its child: the call in flight and
//! every later call fail with a typed error naming the cause, and the
//! test process goes on. (Only the sandboxed side: in-process, each of
//! these would take the test down with it.)

mod support;

use std::time::Duration;

use sharelife_sandbox::{ByteSize, ExitCause, Feature, Limits, SandboxError};
use support::{kernel_gives, limits, sandboxed};

const BOTH: [Feature; 2] = [Feature::Landlock, Feature::Seccomp];

/// Calls `handler`, expects the child to die of `expected`, and checks
/// that the next call fails the same way without reaching anything.
fn dies(handler: &str, test_limits: Limits, expected: impl Fn(&ExitCause) -> bool) -> String {
    let sandbox = sandboxed(&test_limits);
    let error = sandbox
        .call(handler, b"")
        .expect_err("the call cannot answer");
    println!("{handler}: {error}");
    let SandboxError::ChildDied { cause, stderr } = error else {
        panic!("{handler}: expected ChildDied, got {error:?}");
    };
    assert!(expected(&cause), "{handler}: unexpected cause {cause:?}");
    assert_eq!(sandbox.exit_cause(), Some(cause));
    let later = sandbox.call("noop", b"").expect_err("the child is gone");
    assert!(
        matches!(later, SandboxError::ChildDied { cause: c, .. } if c == cause),
        "a later call: {later:?}"
    );
    stderr
}

fn signal(number: i32) -> impl Fn(&ExitCause) -> bool {
    move |cause| matches!(cause, ExitCause::Signaled { signal, .. } if *signal == number)
}

#[test]
fn spinning_past_the_call_timeout_kills_the_child() {
    if !kernel_gives("spinning_past_the_call_timeout_kills_the_child", &BOTH) {
        return;
    }
    let one_second = Limits {
        call_timeout: Some(Duration::from_secs(1)),
        ..limits()
    };
    let sandbox = sandboxed(&one_second);
    let error = sandbox
        .call("spin", b"")
        .expect_err("spinning never answers");
    println!("spin: {error}");
    assert!(
        matches!(error, SandboxError::Timeout { after } if after == Duration::from_secs(1)),
        "{error:?}"
    );
    let cause = ExitCause::TimedOut {
        call_timeout: Duration::from_secs(1),
    };
    assert_eq!(sandbox.exit_cause(), Some(cause));
    let later = sandbox.call("noop", b"").expect_err("the child was killed");
    assert!(
        matches!(later, SandboxError::ChildDied { cause: c, .. } if c == cause),
        "{later:?}"
    );
}

#[test]
fn allocating_past_the_memory_limit_aborts_the_child() {
    if !kernel_gives("allocating_past_the_memory_limit_aborts_the_child", &BOTH) {
        return;
    }
    let small = Limits {
        memory: Some(ByteSize(128 << 20)),
        ..limits()
    };
    let stderr = dies("allocate", small, signal(libc::SIGABRT));
    assert!(
        stderr.contains("memory allocation of"),
        "the allocator's last words: {stderr:?}"
    );
}

#[test]
fn a_null_write_is_a_segfault() {
    if kernel_gives("a_null_write_is_a_segfault", &BOTH) {
        dies("segfault", limits(), signal(libc::SIGSEGV));
    }
}

#[test]
fn abort_is_sigabrt() {
    if kernel_gives("abort_is_sigabrt", &BOTH) {
        dies("abort", limits(), signal(libc::SIGABRT));
    }
}

#[test]
fn a_stack_overflow_is_reported_and_aborts() {
    if !kernel_gives("a_stack_overflow_is_reported_and_aborts", &BOTH) {
        return;
    }
    // Rust's guard-page handler names the overflow, then aborts; without
    // the handler the fault itself is SIGSEGV.
    let stderr = dies("overflow_stack", limits(), |cause| {
        signal(libc::SIGABRT)(cause) || signal(libc::SIGSEGV)(cause)
    });
    println!("overflow_stack wrote: {stderr}");
}

#[test]
fn exit_is_its_status() {
    if kernel_gives("exit_is_its_status", &BOTH) {
        dies("exit", limits(), |cause| {
            *cause == ExitCause::Exited { code: 3 }
        });
    }
}

#[test]
fn a_handler_error_is_not_a_death() {
    if !kernel_gives("a_handler_error_is_not_a_death", &BOTH) {
        return;
    }
    let sandbox = sandboxed(&limits());
    let error = sandbox.call("no_such_handler", b"").expect_err("unknown");
    let SandboxError::Handler(error) = error else {
        panic!("expected the plugin's error, got {error:?}");
    };
    assert_eq!(error.kind(), sharelife_core::ErrorKind::UnknownHandler);
    assert_eq!(sandbox.call("echo", b"still here").unwrap(), b"still here");
    assert_eq!(sandbox.exit_cause(), None);
}

#[test]
fn calls_waiting_when_the_child_dies_fail_with_its_cause() {
    if !kernel_gives(
        "calls_waiting_when_the_child_dies_fail_with_its_cause",
        &BOTH,
    ) {
        return;
    }
    let sandbox = std::sync::Arc::new(sandboxed(&limits()));
    // Seven threads call until the child is gone; none may hang or see
    // anything but answers and then the death.
    let callers: Vec<_> = (0..7)
        .map(|_| {
            let sandbox = std::sync::Arc::clone(&sandbox);
            std::thread::spawn(move || {
                let mut answered = 0_u64;
                loop {
                    match sandbox.call("noop", b"") {
                        Ok(_) => answered += 1,
                        Err(SandboxError::ChildDied { cause, .. }) => return (answered, cause),
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    let error = sandbox.call("segfault", b"").expect_err("it dies");
    assert!(matches!(error, SandboxError::ChildDied { .. }), "{error:?}");
    for caller in callers {
        let (answered, cause) = caller.join().expect("a caller");
        println!("a caller got {answered} answers, then: {cause}");
        assert!(signal(libc::SIGSEGV)(&cause), "{cause:?}");
    }
}
