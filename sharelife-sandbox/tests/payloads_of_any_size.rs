//! Payloads of any size cross the sandbox intact, both ways, through sync
//! and async handlers: empty, one byte, exactly a chunk, and several
//! chunks (the reader grows its buffer a MiB at a time).

mod support;

use sharelife_sandbox::Feature;
use support::{kernel_gives, limits, sandboxed};

#[test]
fn echo_round_trips_every_size() {
    if !kernel_gives(
        "echo_round_trips_every_size",
        &[Feature::Landlock, Feature::Seccomp],
    ) {
        return;
    }
    let sandbox = sandboxed(&limits());
    for size in [0, 1, 4095, 4096, 64 << 10, 1 << 20, (3 << 20) + 7] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        for handler in ["echo", "echo_async"] {
            let back = sandbox.call(handler, &payload).expect("echo answers");
            assert!(
                back == payload,
                "{handler} of {size} bytes came back changed"
            );
        }
    }
}

/// The same with `limits.poll`: each side peeks at the socket in a busy
/// loop before it sleeps (the child under its seccomp filter), and every
/// size still arrives whole, whichever side finds the bytes first.
#[test]
fn echo_round_trips_every_size_while_both_sides_poll() {
    if !kernel_gives(
        "echo_round_trips_every_size_while_both_sides_poll",
        &[Feature::Landlock, Feature::Seccomp],
    ) {
        return;
    }
    let polling = sharelife_sandbox::Limits {
        poll: Some(std::time::Duration::from_micros(50)),
        ..limits()
    };
    let sandbox = sandboxed(&polling);
    for size in [0, 1, 4096, 1 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        for _ in 0..20 {
            for handler in ["echo", "echo_async"] {
                let back = sandbox.call(handler, &payload).expect("echo answers");
                assert!(
                    back == payload,
                    "{handler} of {size} bytes came back changed"
                );
            }
        }
    }
    assert!(sandbox.exit_cause().is_none(), "the child is still serving");
}
