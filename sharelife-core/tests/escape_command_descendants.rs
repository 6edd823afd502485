//! A command's time limit covers everything it starts: the whole process
//! group is killed, the call never waits on pipes a descendant holds, and
//! commands run in a directory the plugin may read.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use sharelife_core::ErrorKind;
use sharelife_core::capability::{Limits, Policy};
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::services::{Backends, CommandRequest};

/// Waits for `pid` to exit, by an event: its pidfd becomes readable when
/// the process terminates (a zombie has terminated). `false` if it still
/// runs after a generous bound, which only a process the kill missed
/// reaches.
fn wait_dead(pid: u32) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    let pid = Pid::from_raw(i32::try_from(pid).unwrap()).expect("a real pid");
    let fd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        // Already exited and reaped.
        Err(rustix::io::Errno::SRCH) => return true,
        Err(e) => panic!("pidfd_open({pid:?}): {e}"),
    };
    let bound = Timespec {
        tv_sec: 120,
        tv_nsec: 0,
    };
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&bound)) {
            Ok(ready) => return ready > 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll on the pidfd of {pid:?}: {e}"),
        }
    }
}

fn shell_ctx(dir: &Scratch, limits: Limits) -> sharelife_core::PluginContext {
    let m = manifest(vec![cmd(&["sh", "-c"])]);
    let policy = Policy::new().allow_limited(PLUGIN, cmd(&["sh", "-c"]), limits);
    gated(&m, &policy, dir.path(), Backends::new()).0
}

/// Runs the command on its own thread so that a hang is a failure with a
/// message, not a stuck test.
fn run_bounded(
    ctx: sharelife_core::PluginContext,
    req: CommandRequest,
) -> sharelife_core::services::CommandOutput {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = futures_lite_block_on(ctx.run(req));
        let _ = tx.send(out);
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the call hung: it waited on a descendant")
        .expect("the command ran")
}

fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_timeout_kills_grandchildren_too() {
    let dir = Scratch::new();
    let ctx = shell_ctx(
        &dir,
        Limits {
            max_call_secs: Some(Duration::from_millis(300)),
            ..Limits::default()
        },
    );
    // The grandchild lets go of the pipes and sleeps: only a group kill
    // can reach it.
    let pidfile = dir.path().join("grandchild.pid");
    let script = format!(
        "(exec >/dev/null 2>&1 </dev/null; sleep 600) & echo $! > {}; sleep 600",
        pidfile.display()
    );
    let out = run_bounded(ctx, CommandRequest::new(["sh", "-c", &script]));
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.status, None);
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_dead(pid), "grandchild {pid} outlived the time limit");
}

#[test]
fn a_background_child_holding_the_pipes_does_not_hold_the_call() {
    let dir = Scratch::new();
    let ctx = shell_ctx(&dir, Limits::default());
    // `sh` exits at once; its background `sleep` keeps stdout open.
    let out = run_bounded(
        ctx,
        CommandRequest::new(["sh", "-c", "sleep 600 & echo started $!"]),
    );
    assert_eq!(out.status, Some(0), "{out:?}");
    assert!(!out.timed_out);
    let text = String::from_utf8_lossy(&out.stdout);
    let pid: u32 = text
        .trim()
        .strip_prefix("started ")
        .unwrap_or_else(|| panic!("{text:?}"))
        .parse()
        .unwrap();
    assert!(wait_dead(pid), "background child {pid} outlived its call");
}

#[test]
fn commands_run_in_the_temp_dir_unless_a_readable_cwd_is_named() {
    let dir = Scratch::new();
    std::fs::create_dir_all(dir.path().join("private")).unwrap();
    std::fs::write(dir.path().join("private/secret-name.txt"), b"x").unwrap();
    std::fs::create_dir_all(dir.path().join("notes")).unwrap();
    std::fs::write(dir.path().join("notes/todo.txt"), b"x").unwrap();
    let ls = cmd(&["ls"]);
    let notes = Capability::File {
        access: FileAccess::Read,
        path: "notes/**".into(),
    };
    let m = manifest(vec![ls.clone(), notes.clone()]);
    let policy = Policy::new().allow(PLUGIN, ls).allow(PLUGIN, notes);
    let (ctx, audit, _) = gated(&m, &policy, dir.path(), Backends::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    // No cwd: the plugin's temp dir, which shows nothing of the data dir.
    let out = rt.block_on(ctx.run(CommandRequest::new(["ls"]))).unwrap();
    assert_eq!(out.status, Some(0));
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!listed.contains("private"), "{listed}");

    // A granted directory.
    let out = rt
        .block_on(ctx.run(CommandRequest::new(["ls"]).in_dir("notes")))
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "todo.txt");

    // Not granted: refused before anything runs, and audited.
    for cwd in ["private", ".", "notes/../private", "/"] {
        let err = rt
            .block_on(ctx.run(CommandRequest::new(["ls"]).in_dir(cwd)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied, "{cwd}: {err}");
        let rec = last(&audit);
        assert!(rec.request.starts_with("read "), "{rec:?}");
        assert!(Path::new(rec.request.trim_start_matches("read ")).is_absolute());
    }
}
