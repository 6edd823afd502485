//! The smoke run of `cargo test`: each target is fed its checked-in
//! corpus, then mutants of it (bit flips, interesting bytes, syntax
//! tokens, deletions, duplications, splices) for a short time. Runs on the
//! stable toolchain with no fuzzing engine; deterministic for a given
//! number of mutants.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most mutants one smoke run makes, whatever its time budget.
pub const MAX_MUTANTS: u64 = 1_000_000;

/// Mutants are cut to this length.
const MAX_LEN: usize = 16 * 1024;

/// Tokens of the formats the targets read, inserted by mutations.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"'",
    b":",
    b": ",
    b",",
    b"\n",
    b"\r\n",
    b"\n- ",
    b"  ",
    b"#",
    b"=",
    b"[[",
    b"]]",
    b"\"\"\"",
    b"'''",
    b"${",
    b"${A:-",
    b"$${",
    b"}",
    b"&a ",
    b"*a",
    b"<<: ",
    b"!!str ",
    b"? ",
    b"---\n",
    b"...\n",
    b"|\n",
    b">-\n",
    b"~",
    b"null",
    b"true",
    b"0",
    b"-1",
    b"1e999",
    b"-0.0",
    b"nan",
    b"inf",
    b"0x10",
    b"4294967295",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"\0",
    b"\xff",
    b"\xc3\xa9",
    b"*.",
    b"*",
    b"**",
    b"?",
    b"../",
    b"/",
    b".",
    b"::ffff:",
    b"127.0.0.1",
    b"10.0.0.0/8",
    b"/129",
    b"^1",
    b">=1, <2",
    b"1.0.0-rc.1+b",
    b"SHRLIFE1",
    b"SHRLIFE2",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\x7f",
    b"\"kind\": \"network\"",
    b"\"kind\": \"file\"",
    b"kind = \"command\"",
    b"effect",
    b"plugin",
    b"step_id",
    b"plugin_ref",
    b"input_from",
    b"retry",
    b"on_failure",
];

/// The folder of a target's checked-in corpus.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// The files of a target's corpus, sorted by name.
///
/// # Panics
///
/// If the folder cannot be read.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a readable corpus file");
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

/// What one smoke run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Smoke {
    /// Corpus files replayed.
    pub corpus: usize,
    /// Mutants run.
    pub mutants: u64,
}

/// Replays `target`'s corpus, then runs mutants of it until `budget` is
/// spent or [`MAX_MUTANTS`] have run. The budget is
/// `SHARELIFE_FUZZ_SMOKE_MS` milliseconds when that is set.
///
/// # Panics
///
/// If `target` is not a target, its corpus is empty, or an input breaks a
/// property of the target (the panic names the input).
pub fn run(target: &str, budget: Duration) -> Smoke {
    let function = crate::target(target).unwrap_or_else(|| panic!("no target {target:?}"));
    let budget = std::env::var("SHARELIFE_FUZZ_SMOKE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(budget, Duration::from_millis);
    let seeds = corpus(target);
    assert!(!seeds.is_empty(), "the {target} corpus is empty");
    for (path, bytes) in &seeds {
        feed(function, bytes, &path.display().to_string());
    }

    let started = Instant::now();
    let mut rng = Rng::new(target);
    let mut mutants = 0;
    while mutants < MAX_MUTANTS && started.elapsed() < budget {
        let mut input = seeds[rng.below(seeds.len())].1.clone();
        for _ in 0..=rng.below(4) {
            mutate(&mut input, &seeds, &mut rng);
        }
        input.truncate(MAX_LEN);
        feed(function, &input, &format!("{target} mutant #{mutants}"));
        mutants += 1;
    }
    Smoke {
        corpus: seeds.len(),
        mutants,
    }
}

/// Runs one input; a panic is re-raised after printing the input.
fn feed(function: fn(&[u8]), input: &[u8], name: &str) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| function(input))) {
        eprintln!(
            "{name} broke the target; input ({} bytes): {:?}",
            input.len(),
            String::from_utf8_lossy(input)
        );
        resume_unwind(panic);
    }
}

fn mutate(input: &mut Vec<u8>, seeds: &[(PathBuf, Vec<u8>)], rng: &mut Rng) {
    let len = input.len();
    let at = rng.below(len + 1);
    match rng.below(8) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = [0, 0xff, 0x7f, 0x80, b'"', b'\\', b'\n', b' '][rng.below(8)];
        }
        2 | 3 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            input.splice(at..at, token.iter().copied());
        }
        4 if len > 0 => {
            let end = (at + 1 + rng.below(16)).min(len);
            input.drain(at.min(end)..end);
        }
        5 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64)).min(len);
            let copy = input[start..end].to_vec();
            let times = 1 + rng.below(8);
            for _ in 0..times {
                input.splice(at..at, copy.iter().copied());
            }
        }
        6 => {
            let other = &seeds[rng.below(seeds.len())].1;
            let from = rng.below(other.len() + 1);
            input.truncate(at);
            input.extend_from_slice(&other[from..]);
        }
        _ => input.truncate(at),
    }
}

/// xorshift64*, seeded from the target's name.
struct Rng(u64);

impl Rng {
    fn new(seed: &str) -> Rng {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for b in seed.bytes() {
            state = (state ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(state | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}
