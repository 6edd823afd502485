//! What a call through the sandbox costs, against the same handler called
//! in-process and a bare Unix-socket round trip, in the same run.
//!
//! * `sandbox/noop_round_trip` — `Sandboxed::call("noop")` of the escape
//!   fixture in its restricted child: a `CALL` frame out, an `OK` frame
//!   back (sendmsg, read on the host; read, write in the child), with the
//!   default poll budget (`src/poll.rs`); `sandbox/noop_round_trip_no_poll`
//!   the same with `limits.poll = "0s"`;
//! * `sandbox/in_process_noop` — the same handler of the same library
//!   loaded in-process, through `Host::call`;
//! * `sandbox/unix_socket_echo` — the floor for a blocking socket: 9 bytes
//!   written to a `socketpair`, echoed by a thread blocked in `read`,
//!   read back;
//! * `sandbox/payload_64k`, `sandbox/payload_1m` — `echo` through the
//!   sandbox with 64 KiB and 1 MiB payloads (the bytes cross twice);
//! * `sandbox/spawn_to_ready` — a sandboxed start: spawn the runner, load
//!   and check the library, restrict, create, initialize and start the
//!   plugin, `READY`; then drop (kill and reap);
//! * `sandbox/in_process_load` — the same library loaded and started by
//!   a host in-process, then unloaded.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sharelife_core::Host;
use sharelife_sandbox::{Limits, Requirements, Sandboxed};

fn fixture() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its executable");
    let path = exe.parent().expect("a directory").join(format!(
        "{}fixture_escape{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn sandbox(c: &mut Criterion) {
    let mut group = c.benchmark_group("sandbox");

    let sandboxed = Sandboxed::spawn(fixture(), &Limits::default(), &Requirements::default())
        .expect("the fixture starts in a sandbox");
    group.bench_function("noop_round_trip", |b| {
        b.iter(|| black_box(sandboxed.call("noop", b"").expect("noop")))
    });
    let no_poll = Limits {
        poll: Some(std::time::Duration::ZERO),
        ..Limits::default()
    };
    let sleeper = Sandboxed::spawn(fixture(), &no_poll, &Requirements::default())
        .expect("the fixture starts in a sandbox");
    group.bench_function("noop_round_trip_no_poll", |b| {
        b.iter(|| black_box(sleeper.call("noop", b"").expect("noop")))
    });
    drop(sleeper);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let host = Host::builder()
        .data_root(dirs.path().join("data"))
        .temp_root(dirs.path().join("tmp"))
        .build()
        .expect("a host");
    let id = runtime.block_on(async {
        let id = host.load(fixture()).await.expect("loads");
        host.start(&id).await.expect("starts");
        id
    });
    group.bench_function("in_process_noop", |b| {
        b.iter(|| black_box(host.call(&id, "noop", b"").expect("noop")))
    });
    runtime
        .block_on(host.unload(&id))
        .expect("unloads, for in_process_load");

    let (mut near, mut far) = UnixStream::pair().expect("a socketpair");
    let echo = std::thread::spawn(move || {
        let mut frame = [0_u8; 9];
        while far.read_exact(&mut frame).is_ok() {
            if far.write_all(&frame).is_err() {
                break;
            }
        }
    });
    group.bench_function("unix_socket_echo", |b| {
        let mut frame = [1_u8; 9];
        b.iter(|| {
            near.write_all(&frame).expect("write");
            near.read_exact(&mut frame).expect("read");
            black_box(&frame);
        })
    });

    group.bench_function("spawn_to_ready", |b| {
        b.iter(|| {
            Sandboxed::spawn(fixture(), &Limits::default(), &Requirements::default())
                .expect("starts")
        })
    });
    group.bench_function("in_process_load", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let id = host.load(fixture()).await.expect("loads");
                host.start(&id).await.expect("starts");
                host.unload(&id).await.expect("unloads");
            })
        })
    });

    for (name, size) in [("payload_64k", 64 << 10), ("payload_1m", 1 << 20)] {
        let payload = vec![0x5a_u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(sandboxed.call("echo", &payload).expect("echo")))
        });
    }
    group.finish();

    drop(near);
    echo.join().expect("the echo thread");
    drop(sandboxed);
}

criterion_group!(benches, sandbox);
criterion_main!(benches);
