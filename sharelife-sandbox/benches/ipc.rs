//! Shared memory against the sandbox's Unix socket, between two real
//! processes (issue 15, requirement 3): what a switch of the sandbox
//! transport would buy and what it would cost.
//!
//! The bench re-executes its own binary as the peer (the
//! `SHARELIFE_IPC_PEER` environment variable says which transport it
//! serves and on which CPU); the channel reaches it as its stdin. Host and
//! peer are pinned with `sched_setaffinity`: `same_cpu/…` puts both on
//! CPU 0, `cross_cpu/…` the peer on CPU 1.
//!
//! * `socket_echo` — the baseline: a 16-byte message behind an 8-byte
//!   header, written to a `SOCK_STREAM` socketpair and echoed by the peer
//!   blocked in `read` (the sandbox's transport without its framing);
//! * `shm_futex` — the same message through one request/response mailbox
//!   in a `memfd` mapped `MAP_SHARED` in both processes: the sender
//!   copies the bytes in, bumps a sequence word and `FUTEX_WAKE`s only if
//!   the receiver said it sleeps; the receiver blocks in `FUTEX_WAIT`;
//! * `shm_spin` — the same mailbox, but each side polls the sequence word
//!   with `spin_loop` for up to [`SPIN`] before it blocks in the futex;
//! * `shm_yield` — the same, polling with `sched_yield` instead (lets the
//!   peer run when both share a CPU);
//! * `sandbox_noop` — `Sandboxed::call("noop")` of the escape fixture, the
//!   product transport with its framing, restrictions and all (the child
//!   inherits the host thread's affinity at spawn);
//!   here with `limits.poll = "0s"` (each side sleeps in `read` at once);
//!   `sandbox_noop_poll_50us` — the same with the default poll budget
//!   (each side busy-polls the socket before it sleeps; `src/poll.rs`);
//! * `in_process/noop` — the same handler loaded in-process, `Host::call`;
//! * `socket_64k`, `shm_64k`, `socket_1m`, `shm_1m` — echoes of 64 KiB and
//!   1 MiB (the shared-memory peer copies the request out and the reply
//!   in, as a runner handing the plugin an owned buffer would).
//!
//! After the criterion run the bench prints what the CPU costs: host
//! thread and peer CPU time per round trip (`CLOCK_THREAD_CPUTIME_ID`),
//! back to back and paced (one call per ~100 µs sleep), for each
//! transport and placement. `IPC.md` holds the numbers and the verdict.
//!
//! `cargo bench -p sharelife-sandbox --bench ipc -- --warm-up-time 1 --measurement-time 3`

use std::ffi::c_void;
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rustix::fs::MemfdFlags;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::thread::{CpuSet, futex};
use rustix::time::ClockId;
use sharelife_core::Host;
use sharelife_sandbox::{Limits, Requirements, Sandboxed};

/// How long a polling side spins before it blocks in `FUTEX_WAIT`.
const SPIN: Duration = Duration::from_micros(20);
/// The largest payload, and the mailbox's data area.
const DATA_CAP: usize = 1 << 20;
/// The mailbox header's page; the data area follows it.
const HEADER_LEN: usize = 4096;
/// The socket frame header: op and length, little-endian `u32`s.
const FRAME_HEADER: usize = 8;
/// The small message, as the sandbox's no-op `CALL` is a few bytes.
const SMALL: usize = 16;

const OP_ECHO: u32 = 1;
const OP_CPU: u32 = 2;
const OP_QUIT: u32 = 3;

const PEER_ENV: &str = "SHARELIFE_IPC_PEER";

/// How a side waits for the other's sequence word to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Straight into `FUTEX_WAIT`.
    Futex,
    /// `spin_loop` for up to [`SPIN`], then `FUTEX_WAIT`.
    Spin,
    /// `sched_yield` for up to [`SPIN`], then `FUTEX_WAIT`.
    Yield,
}

impl Wait {
    fn name(self) -> &'static str {
        match self {
            Wait::Futex => "futex",
            Wait::Spin => "spin",
            Wait::Yield => "yield",
        }
    }

    fn parse(name: &str) -> Option<Wait> {
        [Wait::Futex, Wait::Spin, Wait::Yield]
            .into_iter()
            .find(|wait| wait.name() == name)
    }
}

/// The transport a peer serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Socket,
    Shm(Wait),
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Socket => "socket",
            Transport::Shm(Wait::Futex) => "shm_futex",
            Transport::Shm(Wait::Spin) => "shm_spin",
            Transport::Shm(Wait::Yield) => "shm_yield",
        }
    }
}

/// Where the peer runs relative to the host (always on CPU 0).
#[derive(Clone, Copy, Debug)]
enum Placement {
    SameCpu,
    CrossCpu,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::SameCpu => "same_cpu",
            Placement::CrossCpu => "cross_cpu",
        }
    }

    fn peer_cpu(self) -> usize {
        match self {
            Placement::SameCpu => 0,
            Placement::CrossCpu => 1,
        }
    }
}

fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).expect("sched_setaffinity");
}

fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The mailbox header, at the start of the shared mapping. Each direction
/// has a sequence word (the futex) and a flag its receiver raises before
/// it sleeps, so a sender whose receiver is polling skips `FUTEX_WAKE`.
#[repr(C)]
struct Header {
    request: AtomicU32,
    request_sleeping: AtomicU32,
    _pad0: [u8; 56],
    response: AtomicU32,
    response_sleeping: AtomicU32,
    _pad1: [u8; 56],
    op: AtomicU32,
    len: AtomicU64,
    cpu_ns: AtomicU64,
}

const _: () = assert!(size_of::<Header>() <= HEADER_LEN);

/// Both sides' view of the `memfd`: header page, then the data area.
struct Shm {
    base: NonNull<c_void>,
    len: usize,
}

impl Shm {
    const LEN: usize = HEADER_LEN + DATA_CAP;

    fn create() -> (OwnedFd, Shm) {
        let fd = rustix::fs::memfd_create("sharelife-ipc-bench", MemfdFlags::CLOEXEC)
            .expect("memfd_create");
        rustix::fs::ftruncate(&fd, Self::LEN as u64).expect("ftruncate");
        let shm = Shm::map(fd.as_fd());
        (fd, shm)
    }

    fn map(fd: std::os::fd::BorrowedFd<'_>) -> Shm {
        // SAFETY: a fresh mapping (null hint, no MAP_FIXED) replaces
        // nothing; the memfd is `LEN` bytes long.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                Self::LEN,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .expect("mmap");
        Shm {
            base: NonNull::new(base).expect("mmap returns a non-null address"),
            len: Self::LEN,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping is page-aligned, at least `HEADER_LEN` bytes
        // and lives as long as `self`; `Header` holds only atomics and
        // padding, for which the memfd's zeroes are valid, and other
        // processes touch it only through those atomics.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: `HEADER_LEN < self.len`, inside the one mapping.
        unsafe { self.base.cast::<u8>().as_ptr().add(HEADER_LEN) }
    }

    /// Copies `bytes` into the data area. Only the side that holds the
    /// mailbox (the host before it posts a request, the peer before it
    /// posts the response) may call it.
    fn put(&self, bytes: &[u8]) {
        assert!(bytes.len() <= DATA_CAP);
        // SAFETY: `bytes` fits the data area; the mailbox protocol gives
        // this side exclusive use of the area until it posts, and a
        // private buffer never overlaps the shared mapping.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data(), bytes.len()) };
        self.header()
            .len
            .store(bytes.len() as u64, Ordering::Relaxed);
    }

    /// Copies the data area's `len` bytes into `out`, under the same rule
    /// as [`Shm::put`] (after the other side posted).
    fn take(&self, out: &mut Vec<u8>) {
        let len = self.header().len.load(Ordering::Relaxed) as usize;
        assert!(len <= DATA_CAP);
        out.clear();
        out.reserve(len);
        // SAFETY: `len` bytes of the data area are initialized (the memfd
        // starts zeroed) and not written by the other side until this
        // side posts; `out` has room for `len` bytes and is private.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data(), out.as_mut_ptr(), len);
            out.set_len(len);
        }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are the mapping made in `Shm::map`, and no
        // reference into it outlives `self`.
        unsafe { rustix::mm::munmap(self.base.as_ptr(), self.len) }.expect("munmap");
    }
}

/// Publishes `value` on `seq` and wakes its receiver if it sleeps.
fn post(seq: &AtomicU32, sleeping: &AtomicU32, value: u32) {
    seq.store(value, Ordering::SeqCst);
    if sleeping.load(Ordering::SeqCst) != 0 {
        futex::wake(seq, futex::Flags::empty(), 1).expect("FUTEX_WAKE");
    }
}

/// Waits until `seq` is no longer `last` and returns its value.
fn await_change(seq: &AtomicU32, sleeping: &AtomicU32, last: u32, wait: Wait) -> u32 {
    if wait != Wait::Futex {
        let start = Instant::now();
        loop {
            for _ in 0..8 {
                let now = seq.load(Ordering::Acquire);
                if now != last {
                    return now;
                }
                if wait == Wait::Yield {
                    rustix::thread::sched_yield();
                } else {
                    std::hint::spin_loop();
                }
            }
            if start.elapsed() >= SPIN {
                break;
            }
        }
    }
    loop {
        // Raise the flag before the last look: a sender that stores after
        // this look sees the flag and wakes us; FUTEX_WAIT itself refuses
        // to sleep if the word moved in between.
        sleeping.store(1, Ordering::SeqCst);
        let now = seq.load(Ordering::SeqCst);
        if now != last {
            sleeping.store(0, Ordering::Relaxed);
            return now;
        }
        match futex::wait(seq, futex::Flags::empty(), last, None) {
            Ok(()) | Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("FUTEX_WAIT: {e}"),
        }
    }
}

/// The host's end of one peer process.
enum Peer {
    Socket {
        stream: UnixStream,
        frame: Vec<u8>,
        child: Child,
    },
    Shm {
        shm: Shm,
        wait: Wait,
        seq: u32,
        child: Child,
    },
}

impl Peer {
    fn spawn(transport: Transport, placement: Placement) -> Peer {
        let exe = std::env::current_exe().expect("the bench knows its executable");
        let mut command = Command::new(exe);
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        let cpu = placement.peer_cpu();
        match transport {
            Transport::Socket => {
                let (near, far) = UnixStream::pair().expect("a socketpair");
                let child = command
                    .env(PEER_ENV, format!("socket:{cpu}"))
                    .stdin(Stdio::from(OwnedFd::from(far)))
                    .spawn()
                    .expect("spawn the peer");
                Peer::Socket {
                    stream: near,
                    frame: Vec::with_capacity(FRAME_HEADER + DATA_CAP),
                    child,
                }
            }
            Transport::Shm(wait) => {
                let (fd, shm) = Shm::create();
                let child = command
                    .env(PEER_ENV, format!("shm:{}:{cpu}", wait.name()))
                    .stdin(Stdio::from(fd))
                    .spawn()
                    .expect("spawn the peer");
                Peer::Shm {
                    shm,
                    wait,
                    seq: 0,
                    child,
                }
            }
        }
    }

    /// One request and its response; the reply's bytes land in `out`.
    fn call(&mut self, op: u32, payload: &[u8], out: &mut Vec<u8>) {
        match self {
            Peer::Socket { stream, frame, .. } => {
                frame.clear();
                frame.extend_from_slice(&op.to_le_bytes());
                frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                frame.extend_from_slice(payload);
                stream.write_all(frame).expect("write");
                let mut header = [0_u8; FRAME_HEADER];
                if op == OP_ECHO && payload.len() <= SMALL {
                    // The reply's length is known: one read, as the
                    // sandbox's host reads a small reply.
                    stream.read_exact(frame).expect("read");
                    header.copy_from_slice(&frame[..FRAME_HEADER]);
                    out.clear();
                    out.extend_from_slice(&frame[FRAME_HEADER..]);
                } else {
                    stream.read_exact(&mut header).expect("read");
                    let len = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
                    out.resize(len, 0);
                    stream.read_exact(out).expect("read");
                }
            }
            Peer::Shm { shm, wait, seq, .. } => {
                let header = shm.header();
                shm.put(payload);
                header.op.store(op, Ordering::Relaxed);
                *seq = seq.wrapping_add(1);
                post(&header.request, &header.request_sleeping, *seq);
                let answered = await_change(
                    &header.response,
                    &header.response_sleeping,
                    seq.wrapping_sub(1),
                    *wait,
                );
                debug_assert_eq!(answered, *seq);
                if op == OP_CPU {
                    out.clear();
                    out.extend_from_slice(&header.cpu_ns.load(Ordering::Relaxed).to_le_bytes());
                } else {
                    shm.take(out);
                }
            }
        }
    }

    /// The peer's CPU time so far (its serving thread).
    fn cpu_ns(&mut self) -> u64 {
        let mut out = Vec::new();
        self.call(OP_CPU, b"", &mut out);
        u64::from_le_bytes(out[..8].try_into().expect("8 bytes"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        match self {
            Peer::Socket { stream, child, .. } => {
                let mut frame = [0_u8; FRAME_HEADER];
                frame[..4].copy_from_slice(&OP_QUIT.to_le_bytes());
                let _ = stream.write_all(&frame);
                let _ = child.wait();
            }
            Peer::Shm {
                shm, seq, child, ..
            } => {
                let header = shm.header();
                header.op.store(OP_QUIT, Ordering::Relaxed);
                *seq = seq.wrapping_add(1);
                post(&header.request, &header.request_sleeping, *seq);
                let _ = child.wait();
            }
        }
    }
}

/// The peer process: serves its stdin's channel until `OP_QUIT`.
fn peer(spec: &str) {
    // Die with the host, even if it dies between a post and a wake.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .expect("PR_SET_PDEATHSIG");
    let parts: Vec<&str> = spec.split(':').collect();
    let cpu: usize = parts.last().and_then(|c| c.parse().ok()).expect("a CPU");
    pin(cpu);
    let stdin = std::io::stdin();
    match parts[0] {
        "socket" => {
            let mut stream = UnixStream::from(
                stdin
                    .as_fd()
                    .try_clone_to_owned()
                    .expect("the socket is stdin"),
            );
            let mut buf = vec![0_u8; FRAME_HEADER + DATA_CAP];
            loop {
                // One read for a small frame; more until the frame is whole.
                let mut have = 0;
                while have < FRAME_HEADER {
                    match stream.read(&mut buf[have..]).expect("read") {
                        0 => return,
                        n => have += n,
                    }
                }
                let op = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes"));
                let len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
                stream
                    .read_exact(&mut buf[have..FRAME_HEADER + len])
                    .expect("read");
                match op {
                    OP_ECHO => stream.write_all(&buf[..FRAME_HEADER + len]).expect("write"),
                    OP_CPU => {
                        buf[4..8].copy_from_slice(&8_u32.to_le_bytes());
                        buf[8..16].copy_from_slice(&thread_cpu_ns().to_le_bytes());
                        stream.write_all(&buf[..16]).expect("write");
                    }
                    _ => return,
                }
            }
        }
        "shm" => {
            let wait = Wait::parse(parts[1]).expect("a wait policy");
            let shm = Shm::map(stdin.as_fd());
            let header = shm.header();
            let mut buf = Vec::with_capacity(DATA_CAP);
            let mut last = 0;
            loop {
                last = await_change(&header.request, &header.request_sleeping, last, wait);
                match header.op.load(Ordering::Relaxed) {
                    OP_ECHO => {
                        shm.take(&mut buf);
                        shm.put(&buf);
                    }
                    OP_CPU => header.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed),
                    _ => return,
                }
                post(&header.response, &header.response_sleeping, last);
            }
        }
        other => panic!("unknown peer {other}"),
    }
}

fn fixture() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its executable");
    exe.parent().expect("a directory").join(format!(
        "{}fixture_escape{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// A sandboxed fixture whose child runs on `placement`'s CPU: the child
/// inherits the host thread's affinity at spawn, then the host returns to
/// CPU 0.
fn sandboxed(placement: Placement, limits: &Limits) -> Option<Sandboxed> {
    let path = fixture();
    if !path.exists() {
        eprintln!("{} was not built: no sandbox_noop rows", path.display());
        return None;
    }
    pin(placement.peer_cpu());
    let sandboxed = Sandboxed::spawn(path, limits, &Requirements::default())
        .expect("the fixture starts in a sandbox");
    pin(0);
    Some(sandboxed)
}

/// The same no-op handler loaded in-process, through `Host::call`.
fn in_process(c: &mut Criterion) {
    let path = fixture();
    if !path.exists() {
        return;
    }
    pin(0);
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
        let id = host.load(path).await.expect("loads");
        host.start(&id).await.expect("starts");
        id
    });
    c.bench_function("in_process/noop", |b| {
        b.iter(|| black_box(host.call(&id, "noop", b"").expect("noop")))
    });
    runtime.block_on(host.unload(&id)).expect("unloads");
}

fn ipc(c: &mut Criterion) {
    for placement in [Placement::SameCpu, Placement::CrossCpu] {
        pin(0);
        let mut group = c.benchmark_group(placement.name());
        let small = [0x5a_u8; SMALL];
        let mut out = Vec::with_capacity(DATA_CAP);

        let mut socket = Peer::spawn(Transport::Socket, placement);
        group.bench_function("socket_echo", |b| {
            b.iter(|| {
                socket.call(OP_ECHO, &small, &mut out);
                black_box(&out);
            })
        });
        for wait in [Wait::Futex, Wait::Spin, Wait::Yield] {
            let transport = Transport::Shm(wait);
            let mut shm = Peer::spawn(transport, placement);
            group.bench_function(transport.name(), |b| {
                b.iter(|| {
                    shm.call(OP_ECHO, &small, &mut out);
                    black_box(&out);
                })
            });
        }
        // The product with polling off (each side sleeps in `read` at
        // once: the baseline), and as configured by default (each side
        // busy-polls for `DEFAULT_POLL`, backing off where that finds
        // nothing; `src/poll.rs`).
        let no_poll = Limits {
            poll: Some(std::time::Duration::ZERO),
            ..Limits::default()
        };
        for (name, limits) in [
            ("sandbox_noop", no_poll),
            ("sandbox_noop_poll_50us", Limits::default()),
        ] {
            if let Some(sandboxed) = sandboxed(placement, &limits) {
                group.bench_function(name, |b| {
                    b.iter(|| black_box(sandboxed.call("noop", b"").expect("noop")))
                });
            }
        }

        let mut shm = Peer::spawn(Transport::Shm(Wait::Futex), placement);
        for (name, size) in [("64k", 64 << 10), ("1m", 1 << 20)] {
            let payload = vec![0x5a_u8; size];
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(format!("socket_{name}"), |b| {
                b.iter(|| {
                    socket.call(OP_ECHO, &payload, &mut out);
                    black_box(&out);
                })
            });
            group.bench_function(format!("shm_{name}"), |b| {
                b.iter(|| {
                    shm.call(OP_ECHO, &payload, &mut out);
                    black_box(&out);
                })
            });
        }
        group.finish();
    }
}

/// Wall and CPU time per round trip of `calls` small echoes, with an
/// optional sleep between calls: (wall µs, host CPU µs, peer CPU µs).
fn cost(peer: &mut Peer, calls: u32, gap: Option<Duration>) -> (f64, f64, f64) {
    let small = [0x5a_u8; SMALL];
    let mut out = Vec::new();
    for _ in 0..1000 {
        peer.call(OP_ECHO, &small, &mut out);
    }
    let mut busy = Duration::ZERO;
    let mut host_ns = 0;
    let peer_before = peer.cpu_ns();
    for _ in 0..calls {
        if let Some(gap) = gap {
            std::thread::sleep(gap);
        }
        let host_before = thread_cpu_ns();
        let start = Instant::now();
        peer.call(OP_ECHO, &small, &mut out);
        busy += start.elapsed();
        host_ns += thread_cpu_ns() - host_before;
    }
    let peer_ns = peer.cpu_ns() - peer_before;
    let per = |ns: f64| ns / 1e3 / f64::from(calls);
    (
        per(busy.as_nanos() as f64),
        per(host_ns as f64),
        per(peer_ns as f64),
    )
}

/// Prints the CPU cost of each transport as a markdown table.
fn cpu_table() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nCPU per round trip (16-byte echo; loadavg {})",
        load.trim()
    );
    println!(
        "| placement | transport | mode | wall µs/call | host CPU µs/call | peer CPU µs/call |"
    );
    println!("|---|---|---|---|---|---|");
    for placement in [Placement::SameCpu, Placement::CrossCpu] {
        pin(0);
        for transport in [
            Transport::Socket,
            Transport::Shm(Wait::Futex),
            Transport::Shm(Wait::Spin),
            Transport::Shm(Wait::Yield),
        ] {
            let mut peer = Peer::spawn(transport, placement);
            for (mode, calls, gap) in [
                ("back-to-back", 50_000, None),
                ("paced 100 µs", 5_000, Some(Duration::from_micros(100))),
            ] {
                let (wall, host, peer_cpu) = cost(&mut peer, calls, gap);
                println!(
                    "| {} | {} | {mode} | {wall:.2} | {host:.2} | {peer_cpu:.2} |",
                    placement.name(),
                    transport.name()
                );
            }
        }
    }
}

fn main() {
    if let Ok(spec) = std::env::var(PEER_ENV) {
        peer(&spec);
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let mut criterion = Criterion::default().configure_from_args();
    in_process(&mut criterion);
    ipc(&mut criterion);
    criterion.final_summary();
    if !args.iter().any(|a| a == "--list" || a == "--test") {
        cpu_table();
    }
}
