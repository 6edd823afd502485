//! Benchmark your sharelife pipeline with `cargo bench`, next to a
//! baseline of the same handler calls made directly, in the same run.
//!
//! A host author's `benches/my_pipeline.rs` (with `harness = false` for it
//! in `Cargo.toml`, and `sharelife-bench` and `criterion` as
//! dev-dependencies):
//!
//! ```no_run
//! use criterion::{Criterion, criterion_group, criterion_main};
//! use sharelife_bench::PipelineBench;
//!
//! fn my_pipeline(c: &mut Criterion) {
//!     PipelineBench::new("my_pipeline")
//!         .host_config("host.toml")
//!         .pipeline("pipelines/my.yaml")
//!         .input("hello world")
//!         .bench(c);
//! }
//!
//! criterion_group!(benches, my_pipeline);
//! criterion_main!(benches);
//! ```
//!
//! It boots a host from the config (or from a plugin folder,
//! [`plugin_folder`](PipelineBench::plugin_folder)), compiles the
//! pipeline against it, runs it once to see which steps are called with
//! which input, and registers two criterion benches in group `name`:
//!
//! * `pipeline` — one run of the pipeline (`run_sync` when every step is
//!   synchronous, else `run` on a current-thread runtime);
//! * `direct_calls` — the same handler calls, with the same inputs, made
//!   directly through [`PluginHandle`]s: what a hand-written chain costs.
//!
//! Then it prints the overhead per step, from the fastest of alternating
//! batches of both (paired: a shared machine moves criterion's medians
//! between benches measured seconds apart, not within a batch pair).
//!
//! Steps the gateway denies are not called by the pipeline, so not by the
//! baseline either; a step that fails is called as often as it was tried.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use sharelife_core::host::HostConfig;
use sharelife_core::pipeline::{Pipeline, PipelineFile, StepStatus};
use sharelife_core::{Buffer, HandlerId, Host, PluginHandle};

/// A pipeline benchmark: what to boot, what to run, on what.
#[derive(Debug, Clone)]
pub struct PipelineBench {
    name: String,
    config: Option<PathBuf>,
    folders: Vec<PathBuf>,
    env: Vec<(String, String)>,
    pipeline: Option<PathBuf>,
    input: Vec<u8>,
}

/// One handler call of the baseline.
struct Call {
    handle: PluginHandle,
    handler: HandlerId,
    is_async: bool,
    input: Vec<u8>,
}

/// Everything booted and compiled, ready to measure.
struct Prepared {
    runtime: tokio::runtime::Runtime,
    // Kept alive: the handles and the pipeline call into it.
    _host: Host,
    pipeline: Pipeline,
    calls: Vec<Call>,
    input: Vec<u8>,
    scratch: PathBuf,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl PipelineBench {
    /// A benchmark named `name` (its criterion group).
    pub fn new(name: impl Into<String>) -> Self {
        PipelineBench {
            name: name.into(),
            config: None,
            folders: Vec::new(),
            env: Vec::new(),
            pipeline: None,
            input: Vec::new(),
        }
    }

    /// Boots the host from this config file (relative paths in it are
    /// relative to its folder). Its data and temp roots are replaced by a
    /// scratch folder.
    pub fn host_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = Some(path.into());
        self
    }

    /// Loads every plugin library in `folder` too (or only these, without
    /// a config).
    pub fn plugin_folder(mut self, folder: impl Into<PathBuf>) -> Self {
        self.folders.push(folder.into());
        self
    }

    /// Sets `${var}` for the config (the process environment is asked for
    /// the others). `{scratch}` in `value` is the benchmark's scratch
    /// folder, e.g. `.env("MY_AUDIT_LOG", "{scratch}/audit.jsonl")`.
    pub fn env(mut self, var: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((var.into(), value.into()));
        self
    }

    /// The pipeline file (YAML or JSON).
    pub fn pipeline(mut self, path: impl Into<PathBuf>) -> Self {
        self.pipeline = Some(path.into());
        self
    }

    /// The run's input.
    pub fn input(mut self, input: impl AsRef<[u8]>) -> Self {
        self.input = input.as_ref().to_vec();
        self
    }

    /// Registers the `pipeline` and `direct_calls` benches with `c`, then
    /// prints the overhead per step.
    ///
    /// # Panics
    ///
    /// When the host does not boot, the pipeline does not compile, or its
    /// first run fails: a benchmark of a broken setup measures nothing.
    pub fn bench(self, c: &mut Criterion) {
        let prepared = self.prepare();
        let mut group = c.benchmark_group(&self.name);
        group.bench_function("pipeline", |b| {
            b.iter_custom(|iters| prepared.time_pipeline(iters));
        });
        group.bench_function("direct_calls", |b| {
            b.iter_custom(|iters| prepared.time_direct(iters));
        });
        group.finish();
        prepared.print_paired(&self.name);
    }

    fn prepare(&self) -> Prepared {
        let scratch = std::env::temp_dir().join(format!(
            "sharelife-bench-{}-{}",
            self.name,
            std::process::id()
        ));
        std::fs::create_dir_all(&scratch).expect("a scratch folder");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime");
        let mut builder = Host::builder();
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let scratch_text = scratch.display().to_string();
            let env = |var: &str| {
                self.env
                    .iter()
                    .find(|(v, _)| v == var)
                    .map(|(_, value)| value.replace("{scratch}", &scratch_text))
                    .or_else(|| std::env::var(var).ok())
            };
            let config = HostConfig::parse(&text, Some(path), &env)
                .unwrap_or_else(|e| panic!("the host config {}: {e}", path.display()));
            builder = builder.config(config);
        }
        for folder in &self.folders {
            builder = builder.plugin_path(folder);
        }
        let host = builder
            .data_root(scratch.join("data"))
            .temp_root(scratch.join("tmp"))
            .build()
            .unwrap_or_else(|e| panic!("the host: {e}"));
        let path = self
            .pipeline
            .as_deref()
            .expect("PipelineBench::pipeline names the pipeline file");
        let (pipeline, report) = runtime.block_on(async {
            host.boot().await.unwrap_or_else(|e| panic!("boot: {e}"));
            let file = PipelineFile::from_path(path)
                .unwrap_or_else(|e| panic!("the pipeline {}: {e}", path.display()));
            let pipeline = Pipeline::compile(&file, &host)
                .unwrap_or_else(|e| panic!("the pipeline {}: {e}", path.display()));
            let report = pipeline.run(&self.input).await.into_owned();
            (pipeline, report)
        });
        let mut calls = Vec::new();
        for step in report.steps() {
            if matches!(
                step.status(),
                StepStatus::Denied | StepStatus::NotRun | StepStatus::Cancelled
            ) {
                continue;
            }
            let input = match step.input_from() {
                "$input" => self.input.clone(),
                from => report
                    .steps()
                    .find(|s| s.step_id() == from)
                    .and_then(|s| s.output())
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
            };
            let handle = host
                .handle(step.plugin_id())
                .unwrap_or_else(|e| panic!("step {}: {e}", step.step_id()));
            let handler = handle
                .handler(step.handler())
                .unwrap_or_else(|e| panic!("step {}: {e}", step.step_id()));
            let is_async = handle.is_async(handler).unwrap_or(true);
            for _ in 0..step.attempts().max(1) {
                calls.push(Call {
                    handle: handle.clone(),
                    handler,
                    is_async,
                    input: input.clone(),
                });
            }
        }
        Prepared {
            runtime,
            _host: host,
            pipeline,
            calls,
            input: self.input.clone(),
            scratch,
        }
    }
}

impl Prepared {
    /// `iters` runs of the pipeline.
    fn time_pipeline(&self, iters: u64) -> Duration {
        if self.pipeline.is_sync() {
            let start = Instant::now();
            for _ in 0..iters {
                let _ = black_box(self.pipeline.run_sync(black_box(&self.input)));
            }
            start.elapsed()
        } else {
            self.runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(self.pipeline.run(black_box(&self.input)).await);
                }
                start.elapsed()
            })
        }
    }

    /// `iters` rounds of the same calls made directly, each into a new
    /// buffer as a hand-written chain would.
    fn time_direct(&self, iters: u64) -> Duration {
        self.runtime.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                for call in &self.calls {
                    let mut out = Buffer::new();
                    let result = if call.is_async {
                        call.handle
                            .call_async(call.handler, black_box(&call.input), &mut out)
                            .await
                    } else {
                        call.handle
                            .call(call.handler, black_box(&call.input), &mut out)
                    };
                    let _ = black_box((result, out));
                }
            }
            start.elapsed()
        })
    }

    /// The fastest of alternating batches of both, and the overhead per
    /// step from them.
    fn print_paired(&self, name: &str) {
        const ROUNDS: usize = 30;
        let per = |d: Duration, n: u64| d.as_nanos() as f64 / n as f64;
        // About 20 ms per batch.
        let probe = per(self.time_pipeline(10), 10).max(1.0);
        let batch = ((20e6 / probe) as u64).clamp(1, 1_000_000);
        let (mut pipe, mut direct) = (f64::MAX, f64::MAX);
        for _ in 0..ROUNDS {
            pipe = pipe.min(per(self.time_pipeline(batch), batch));
            direct = direct.min(per(self.time_direct(batch), batch));
        }
        let steps = self.calls.len().max(1) as f64;
        println!(
            "{name}: pipeline {pipe:.0} ns/run, the same {} calls made directly {direct:.0} ns ({:.2}x) -> {:.0} ns overhead per step (paired, fastest of {ROUNDS} alternating batches of {batch})",
            self.calls.len(),
            pipe / direct,
            (pipe - direct) / steps,
        );
    }
}

/// The directory of the running benchmark executable, where cargo puts
/// the `cdylib`s of its dependencies: point
/// [`plugin_folder`](PipelineBench::plugin_folder) at a folder of copies
/// made with [`stage_built_plugins`].
pub fn build_dir() -> PathBuf {
    std::env::current_exe()
        .expect("the bench knows its executable")
        .parent()
        .expect("in a folder")
        .to_owned()
}

/// Copies the plugin libraries cargo built for `crates` (package names,
/// e.g. `"example-upper"`) next to the benchmark into `folder`, and
/// returns it: a plugin folder for [`PipelineBench::plugin_folder`] or a
/// config's `plugin_paths`.
///
/// # Panics
///
/// When a library is not there (not a dependency of the bench, or not a
/// `cdylib`).
pub fn stage_built_plugins(folder: impl AsRef<Path>, crates: &[&str]) -> PathBuf {
    let folder = folder.as_ref();
    std::fs::create_dir_all(folder).expect("the plugin folder");
    let from = build_dir();
    for name in crates {
        let file = format!(
            "{}{}{}",
            std::env::consts::DLL_PREFIX,
            name.replace('-', "_"),
            std::env::consts::DLL_SUFFIX
        );
        std::fs::copy(from.join(&file), folder.join(&file)).unwrap_or_else(|e| {
            panic!(
                "{} was not built next to the bench ({e}): make {name} a dev-dependency",
                from.join(&file).display()
            )
        });
    }
    folder.to_owned()
}
