//! Each wall holds on its own: with only Landlock (no seccomp filter) the
//! filesystem, TCP, `exec`, tracing and loading roads are still denied —
//! by Landlock, with `EACCES`/`EPERM` from the kernel's LSM hook — and
//! with only the seccomp allowlist every road is denied with `EPERM`. In
//! the real tier both stand, so a hole in one is covered by the other.

mod support;

use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};

use sharelife_sandbox::{Feature, LandlockOutcome, Layers, Requirements, SandboxError, Sandboxed};
use support::{escape_library, kernel_gives, limits, text};

fn attempt(layers: Layers, handler: &str, input: &[u8]) -> String {
    let sandbox = Sandboxed::spawn_with_layers_for_tests(
        escape_library(),
        &limits(),
        &Requirements::default(),
        layers,
    )
    .expect("the fixture starts");
    assert_eq!(sandbox.enforced().seccomp, layers.seccomp);
    assert_eq!(
        sandbox.enforced().landlock != LandlockOutcome::NotEnforced,
        layers.landlock
    );
    let answer = text(sandbox.call(handler, input).expect("the call answers"));
    println!("{layers:?} {handler}: {answer}");
    answer
}

struct Roads {
    _server: TcpListener,
    _receiver: UdpSocket,
    target: std::process::Child,
    tcp: String,
    udp: String,
    dir: tempfile::TempDir,
}

impl Roads {
    fn new() -> Self {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Roads {
            tcp: server.local_addr().unwrap().to_string(),
            udp: receiver.local_addr().unwrap().to_string(),
            _server: server,
            _receiver: receiver,
            target,
            dir: tempfile::tempdir_in("/tmp").unwrap(),
        }
    }
}

impl Drop for Roads {
    fn drop(&mut self) {
        drop(self.target.stdin.take());
        let _ = self.target.wait();
    }
}

#[test]
fn landlock_alone_denies_files_tcp_exec_tracing_and_loading() {
    if !kernel_gives(
        "landlock_alone_denies_files_tcp_exec_tracing_and_loading",
        &[Feature::Landlock, Feature::LandlockNetwork],
    ) {
        return;
    }
    let roads = Roads::new();
    let only_landlock = Layers {
        landlock: true,
        seccomp: false,
    };
    let file = roads.dir.path().join("escaped");
    let raw_net = support::built_library("fixture-raw-net");
    let pid = std::process::id().to_string();
    let target = roads.target.id().to_string();
    for (handler, input) in [
        ("read_hostname", &b""[..]),
        ("write_tmp", file.to_str().unwrap().as_bytes()),
        ("list_root", b""),
        ("read_environ", pid.as_bytes()),
        ("connect", roads.tcp.as_bytes()),
        ("bind", b""),
        ("spawn_shell", b""),
        ("ptrace", target.as_bytes()),
        ("dlopen", raw_net.to_str().unwrap().as_bytes()),
    ] {
        let answer = attempt(only_landlock, handler, input);
        assert!(answer.starts_with("denied: "), "{handler}: {answer}");
    }
    // What Landlock does not govern, and seccomp denies: UDP. (Creating
    // processes too, but a runner that is not root already meets
    // `nproc` 0 there.)
    assert!(attempt(only_landlock, "udp_send", roads.udp.as_bytes()).starts_with("ok: "));
}

#[test]
fn seccomp_alone_denies_every_road() {
    if !kernel_gives("seccomp_alone_denies_every_road", &[Feature::Seccomp]) {
        return;
    }
    let roads = Roads::new();
    let only_seccomp = Layers {
        landlock: false,
        seccomp: true,
    };
    let file = roads.dir.path().join("escaped");
    let raw_net = support::built_library("fixture-raw-net");
    let pid = std::process::id().to_string();
    let target = roads.target.id().to_string();
    for (handler, input) in [
        ("read_hostname", &b""[..]),
        ("write_tmp", file.to_str().unwrap().as_bytes()),
        ("list_root", b""),
        ("read_environ", pid.as_bytes()),
        ("connect", roads.tcp.as_bytes()),
        ("bind", b""),
        ("udp_send", roads.udp.as_bytes()),
        ("spawn_shell", b""),
        ("fork", b""),
        ("ptrace", target.as_bytes()),
        ("dlopen", raw_net.to_str().unwrap().as_bytes()),
    ] {
        let answer = attempt(only_seccomp, handler, input);
        assert!(answer.starts_with("denied: "), "{handler}: {answer}");
        assert!(
            answer.contains("not permitted"),
            "{handler}: seccomp answers EPERM: {answer}"
        );
    }
}

#[test]
fn the_runner_refuses_to_create_the_plugin_when_a_requirement_is_not_enforced() {
    if !kernel_gives(
        "the_runner_refuses_to_create_the_plugin_when_a_requirement_is_not_enforced",
        &[Feature::Landlock],
    ) {
        return;
    }
    // With the seccomp wall left out, a host that requires seccomp gets a
    // refusal naming it, from the runner, before the plugin is created.
    let error = Sandboxed::spawn_with_layers_for_tests(
        escape_library(),
        &limits(),
        &Requirements::new([Feature::Landlock, Feature::Seccomp]),
        Layers {
            landlock: true,
            seccomp: false,
        },
    )
    .expect_err("seccomp is required and not enforced");
    println!("{error}");
    match error {
        SandboxError::Unsupported { missing } => assert_eq!(missing, vec![Feature::Seccomp]),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}
