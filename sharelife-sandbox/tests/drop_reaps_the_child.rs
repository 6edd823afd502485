//! Dropping a sandboxed plugin, shutting it down, or losing it to a crash
//! leaves no child behind: no process, no zombie. (One test in this file,
//! so no other test's children are counted.)

mod support;

use sharelife_sandbox::{ExitCause, Feature};
use support::{kernel_gives, limits, sandboxed};

/// This process's children, zombies included, from `/proc`.
fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if fields.next().and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            found.push((pid, state));
        }
    }
    found
}

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
