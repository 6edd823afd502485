//! Eight host threads calling one sandboxed plugin at once: every call is
//! answered, with its own answer, none lost or crossed.

mod support;

use std::sync::Arc;

use sharelife_sandbox::Feature;
use support::{kernel_gives, limits, sandboxed};

const THREADS: usize = 8;
const CALLS: usize = 500;

#[test]
fn eight_threads_calling_at_once() {
    if !kernel_gives(
        "eight_threads_calling_at_once",
        &[Feature::Landlock, Feature::Seccomp],
    ) {
        return;
    }
    let sandbox = Arc::new(sandboxed(&limits()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let sandbox = Arc::clone(&sandbox);
            std::thread::spawn(move || {
                let mut answered = 0;
                for i in 0..CALLS {
                    assert_eq!(sandbox.call("noop", b"").expect("noop answers"), b"");
                    // An echo carries the caller's identity: an answer
                    // delivered to the wrong thread would show here.
                    let mine = format!("thread {t} call {i}");
                    let echoed = sandbox.call("echo", mine.as_bytes()).expect("echo answers");
                    assert_eq!(echoed, mine.as_bytes());
                    answered += 2;
                }
                answered
            })
        })
        .collect();
    let answered: usize = threads
        .into_iter()
        .map(|t| t.join().expect("a calling thread"))
        .sum();
    assert_eq!(answered, THREADS * CALLS * 2);
    assert_eq!(sandbox.exit_cause(), None, "the child still serves");
}
