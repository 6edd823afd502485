//! Dropping a sandboxed plugin, shutting it down, or losing it to a crash
//! leaves no child behind: no process, no zombie. (One test in this file,
//! so no other test's children are counted.)

mod support;

use sharelife_sandbox::{ExitCause, Feature};
use support::{children, kernel_gives, limits, sandboxed};

#[test]
fn no_child_is_left_behind() {
    if !kernel_gives(
        "no_child_is_left_behind",
        &[Feature::Landlock, Feature::Seccomp],
    ) {
        return;
    }
    let before = children();

    let dropped = sandboxed(&limits());
    let pid = dropped.pid();
    assert!(children().iter().any(|(p, _)| *p == pid), "the child runs");
    dropped.call("noop", b"").unwrap();
    drop(dropped);
    assert_eq!(children(), before, "after drop");

    let stopped = sandboxed(&limits());
    assert_eq!(stopped.shutdown(), ExitCause::Exited { code: 0 });
    assert_eq!(children(), before, "after shutdown");

    let crashed = sandboxed(&limits());
    crashed.call("segfault", b"").unwrap_err();
    assert_eq!(children(), before, "after a crash, before drop");
    drop(crashed);
    assert_eq!(children(), before, "after a crash and drop");
}
