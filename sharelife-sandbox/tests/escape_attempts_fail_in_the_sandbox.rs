//! Every road out the escape fixture tries fails in the sandbox while the
//! host goes on; the same attempt from the same library loaded in-process
//! works, so the failure is the sandbox's doing, not the fixture's.

mod support;

use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};

use sharelife_sandbox::{Feature, LandlockOutcome};
use support::{InProcess, kernel_gives, limits, sandboxed, text};

/// Calls `handler` with `input` in the sandbox and in-process; asserts
/// the first is denied and the second worked.
fn denied_in_sandbox_only(handler: &str, input: &[u8]) {
    let sandbox = sandboxed(&limits());
    let inside = text(
        sandbox
            .call(handler, input)
            .expect("the sandboxed call answers"),
    );
    println!("{handler} in the sandbox: {inside}");
    assert!(
        inside.starts_with("denied: "),
        "{handler} got out of the sandbox: {inside}"
    );
    // The child survived the attempt and still serves.
    assert_eq!(sandbox.call("noop", b"").expect("still serving"), b"");

    let outside = InProcess::load().call(handler, input);
    println!("{handler} in-process: {outside}");
    assert!(
        outside.starts_with("ok: "),
        "{handler} fails even in-process, so the fixture proves nothing: {outside}"
    );
}

const BOTH: [Feature; 2] = [Feature::Landlock, Feature::Seccomp];

#[test]
fn the_runner_reports_what_it_enforced() {
    if !kernel_gives("the_runner_reports_what_it_enforced", &BOTH) {
        return;
    }
    let sandbox = sandboxed(&limits());
    let enforced = sandbox.enforced();
    println!("{enforced:?}");
    assert_eq!(enforced.plugin_id, "fixture.escape");
    assert_ne!(enforced.landlock, LandlockOutcome::NotEnforced);
    assert!(enforced.seccomp && enforced.no_new_privs && enforced.capabilities_dropped);
    assert!(enforced.rlimits.iter().any(|r| r == "core=0"));
    assert!(enforced.rlimits.iter().any(|r| r == "nofile=64"));
}

#[test]
fn reading_etc_hostname() {
    if kernel_gives("reading_etc_hostname", &BOTH) {
        denied_in_sandbox_only("read_hostname", b"");
    }
}

#[test]
fn writing_a_file_in_tmp() {
    if !kernel_gives("writing_a_file_in_tmp", &BOTH) {
        return;
    }
    let dir = tempfile::tempdir_in("/tmp").expect("a directory in /tmp");
    let path = dir.path().join("escaped");
    denied_in_sandbox_only("write_tmp", path.to_str().unwrap().as_bytes());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"escaped",
        "in-process wrote it"
    );
}

#[test]
fn listing_the_root_directory() {
    if kernel_gives("listing_the_root_directory", &BOTH) {
        denied_in_sandbox_only("list_root", b"");
    }
}

#[test]
fn reading_the_host_environment() {
    if kernel_gives("reading_the_host_environment", &BOTH) {
        denied_in_sandbox_only("read_environ", std::process::id().to_string().as_bytes());
    }
}

#[test]
fn connecting_to_a_local_server() {
    if !kernel_gives("connecting_to_a_local_server", &BOTH) {
        return;
    }
    let server = TcpListener::bind("127.0.0.1:0").expect("a local server");
    let address = server.local_addr().unwrap().to_string();
    denied_in_sandbox_only("connect", address.as_bytes());
}

#[test]
fn binding_a_listening_socket() {
    if kernel_gives("binding_a_listening_socket", &BOTH) {
        denied_in_sandbox_only("bind", b"");
    }
}

#[test]
fn sending_a_udp_datagram() {
    if !kernel_gives("sending_a_udp_datagram", &BOTH) {
        return;
    }
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("a local UDP socket");
    let address = receiver.local_addr().unwrap().to_string();
    denied_in_sandbox_only("udp_send", address.as_bytes());
    let mut got = [0; 16];
    let (n, _) = receiver
        .recv_from(&mut got)
        .expect("the in-process datagram");
    assert_eq!(&got[..n], b"escaped");
}

#[test]
fn running_a_shell() {
    if kernel_gives("running_a_shell", &BOTH) {
        denied_in_sandbox_only("spawn_shell", b"");
    }
}

#[test]
fn forking() {
    if kernel_gives("forking", &BOTH) {
        denied_in_sandbox_only("fork", b"");
    }
}

#[test]
fn tracing_another_process() {
    if !kernel_gives("tracing_another_process", &BOTH) {
        return;
    }
    // A process of the test's own that waits on its standard input.
    let mut target = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cat starts");
    denied_in_sandbox_only("ptrace", target.id().to_string().as_bytes());
    drop(target.stdin.take());
    target.wait().expect("cat ends");
}

#[test]
fn loading_another_library() {
    if !kernel_gives("loading_another_library", &BOTH) {
        return;
    }
    let other = support::built_library("fixture-raw-net");
    denied_in_sandbox_only("dlopen", other.to_str().unwrap().as_bytes());
}

#[test]
fn reading_the_inherited_environment() {
    if kernel_gives("reading_the_inherited_environment", &BOTH) {
        denied_in_sandbox_only("read_own_env", b"");
    }
}
