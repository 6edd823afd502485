//! The sharelife demo host.
//!
//! Usage: `sharelife-demo [--config FILE] [--plugins DIR]`. The host is
//! built from a config file (default: `examples/host.toml`). Without
//! `--plugins`, the demo copies the example plugin libraries cargo built
//! next to it into a fresh folder and points the config's
//! `${SHARELIFE_PLUGINS}` at it (unless that variable is set).
//!
//! The demo is its own sandbox runner: `main` calls
//! `sharelife_sandbox::run_if_runner` before anything else (before the
//! tokio runtime starts its threads), and the host has
//! `sharelife_sandbox::Provider`, so `cargo run -p sharelife-demo` runs
//! one plugin in a restricted child with nothing else to build.

mod gateway_demo;

mod pipeline_demo;

mod sandbox_demo;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sharelife_core::event::LIFECYCLE;
use sharelife_core::host::discovery::discover;
use sharelife_core::host::{CheckOutcome, HostConfig};
use sharelife_core::loader::PluginFile;
use sharelife_core::{Host, HostError};

/// The example config, next to this crate.
const DEFAULT_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../host.toml");

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn main() -> Result<()> {
    // Started by this demo as the runner of its sandboxed plugin: be it,
    // and exit. First, while this is the process's only thread.
    sharelife_sandbox::run_if_runner();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(demo())
}

async fn demo() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,sharelife::plugin=info".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .init();

    let work = std::env::temp_dir().join(format!("sharelife-demo-{}", std::process::id()));
    let plugins = match arg("--plugins") {
        Some(dir) => PathBuf::from(dir),
        None => stage_example_plugins(&work.join("plugins"))?,
    };
    let config = PathBuf::from(arg("--config").unwrap_or_else(|| DEFAULT_CONFIG.to_owned()));
    let result = run(&config, &plugins, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn run(config_path: &Path, plugins: &Path, work: &Path) -> Result<()> {
    section("read the host config");
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    // The environment, with SHARELIFE_PLUGINS defaulting to our folder.
    let env = |var: &str| match std::env::var(var) {
        Ok(value) => Some(value),
        Err(_) if var == "SHARELIFE_PLUGINS" => Some(plugins.display().to_string()),
        Err(_) if var == "SHARELIFE_AUDIT_LOG" => {
            Some(work.join("audit.jsonl").display().to_string())
        }
        Err(_) => None,
    };
    let config = HostConfig::parse(&text, Some(config_path), &env)?;
    println!(
        "  {}: {} plugin folder(s), {} plugin table(s), health checks every {:?}",
        config_path.display(),
        config.plugin_paths.len(),
        config.plugins.len(),
        config.health_check_interval.unwrap_or_default()
    );
    let host = Host::builder()
        .config(config)
        .data_root(work.join("data"))
        .temp_root(work.join("tmp"))
        .isolation_provider(Arc::new(sharelife_sandbox::Provider::new()))
        .build()?;
    let mut lifecycle = host.events().listen(&LIFECYCLE)?;

    section("discover: read each library's manifest without running its code");
    let discovery = discover(&[plugins.to_owned()]);
    let mut libraries = Vec::new();
    for file in &discovery.found {
        let m = file.manifest();
        let handlers: Vec<_> = m
            .handlers
            .iter()
            .map(|h| {
                if h.is_async {
                    format!("{} (async)", h.name)
                } else {
                    h.name.clone()
                }
            })
            .collect();
        println!(
            "  {:<18} {:<7} api {:<5} risk {:<6} handlers: {}",
            m.id,
            m.version.to_string(),
            m.api.to_string(),
            m.risk(),
            handlers.join(", ")
        );
        libraries.push(file.path().to_owned());
    }
    for skipped in &discovery.skipped {
        println!("  skipped: {}", skipped.reason);
    }

    section("boot: resolve, open the enabled libraries, start in dependency and priority order");
    let report = host.boot().await?;
    for line in report.to_string().lines() {
        println!("  {line}");
    }
    for p in host.plugins().list() {
        println!("  {:<18} {:<8} from {}", p.id, p.state, p.origin);
    }
    let mut moves = 0;
    while lifecycle.try_recv().is_some() {
        moves += 1;
    }
    println!(
        "  ({moves} lifecycle events published on {})",
        LIFECYCLE.name()
    );

    section("call handlers across the library boundary");
    show(
        "examples.echo",
        "upper",
        "hello world",
        host.call("examples.echo", "upper", b"hello world"),
    );
    show(
        "examples.echo",
        "greet",
        "ada",
        host.call("examples.echo", "greet", b"ada"),
    );
    show(
        "examples.echo",
        "count",
        "",
        host.call("examples.echo", "count", b""),
    );
    show(
        "examples.timer",
        "wait",
        "25",
        host.call_async("examples.timer", "wait", b"25").await,
    );

    section("contain a panic: the plugin goes to Error, the host goes on");
    show(
        "examples.panicky",
        "boom",
        "",
        host.call("examples.panicky", "boom", b""),
    );
    println!(
        "  examples.panicky is now {}",
        state(&host, "examples.panicky")
    );
    show(
        "examples.echo",
        "upper",
        "still here",
        host.call("examples.echo", "upper", b"still here"),
    );
    host.start("examples.panicky").await?;
    println!(
        "  restarted from Error: examples.panicky is {}",
        state(&host, "examples.panicky")
    );
    show(
        "examples.panicky",
        "ping",
        "",
        host.call("examples.panicky", "ping", b""),
    );

    gateway_demo::run(&host, work).await?;

    section("unload for real, then reload from a new path");
    let Some(echo) = libraries
        .iter()
        .find(|p| PluginFile::read(p).is_ok_and(|f| f.manifest().id.as_str() == "examples.echo"))
    else {
        bail!("the echo example was not among the plugins");
    };
    let report = host.unload("examples.echo").await?;
    println!(
        "  unloaded examples.echo: library closed = {}, still mapped = {}",
        report.closed,
        report
            .still_mapped
            .map_or("unknown".to_owned(), |m| m.to_string())
    );
    let copy = work
        .join("echo-reloaded")
        .with_extension(std::env::consts::DLL_EXTENSION);
    std::fs::copy(echo, &copy)?;
    host.load(&copy).await?;
    host.start("examples.echo").await?;
    println!("  reloaded from {}", copy.display());
    show(
        "examples.echo",
        "count",
        "",
        host.call("examples.echo", "count", b""),
    );
    println!("  (the counter restarted: a fresh instance from a fresh mapping)");

    section("events: one bounded queue per subscriber, overflow counted per plugin");
    let published = host.events().publish_bytes(
        "demo.news",
        b"{\"headline\":\"sharelife boots from a config file\"}",
    )?;
    println!("  demo.news queued for {} subscriber(s)", published.queued);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for s in host.events().stats() {
        println!(
            "  {:<22} topics {:?}: delivered {}, dropped {}, rejected {}",
            s.subscriber, s.topics, s.delivered, s.dropped_oldest, s.rejected
        );
    }

    sandbox_demo::run(&host, work).await?;

    section("health checks and metrics");
    for check in host.health().check_all().await {
        let outcome = match check.outcome {
            CheckOutcome::Healthy => "healthy".to_owned(),
            other => format!("{other:?}"),
        };
        println!("  {:<18} {outcome}", check.plugin);
    }
    for m in host.metrics().all() {
        for (handler, stats) in m.handlers.iter().filter(|(_, s)| s.calls > 0) {
            println!(
                "  {:<18} {:<8} calls {:>3}, errors {}, panics {}, p50 < {:?}",
                m.plugin,
                handler,
                stats.calls,
                stats.errors,
                stats.panics,
                stats.latency.quantile(0.5).unwrap_or_default()
            );
        }
    }

    section("shut down: reverse start order, each plugin within its timeout");
    let shutdown = host.shutdown().await;
    let stopped: Vec<&str> = shutdown.stopped.iter().map(|id| id.as_str()).collect();
    println!("  stopped in order: {}", stopped.join(", "));
    for report in &shutdown.unloaded {
        println!("  {:<18} closed = {}", report.id, report.closed);
    }
    if !shutdown.timed_out.is_empty() || !shutdown.failed.is_empty() {
        bail!("shutdown incomplete: {shutdown:?}");
    }
    gateway_demo::show_audit_log(&work.join("audit.jsonl"))?;
    pipeline_demo::run(work).await
}
/// Prints a section heading, numbered in the order the demo runs them
/// (from 0), so the numbers cannot drift as sections come and go.
fn section(title: &str) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    println!("\n== {n}. {title}");
}

fn state(host: &Host, id: &str) -> String {
    host.plugins()
        .state(id)
        .map_or("not loaded".to_owned(), |s| s.to_string())
}

fn show(id: &str, handler: &str, input: &str, result: Result<sharelife_core::Buffer, HostError>) {
    match result {
        Ok(out) => println!(
            "  {id}.{handler}({input:?}) -> {:?}",
            String::from_utf8_lossy(&out)
        ),
        Err(e) => println!("  {id}.{handler}({input:?}) -> error: {e}"),
    }
}

/// Copies the example libraries cargo built into `dir`.
fn stage_example_plugins(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("the demo's directory")?.join("deps");
    for name in [
        "example_echo",
        "example_timer",
        "example_panicky",
        "example_fetcher",
    ] {
        let file = format!(
            "{}{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let from = deps.join(&file);
        std::fs::copy(&from, dir.join(&file)).with_context(|| {
            format!(
                "{} is missing: run the demo with `cargo run -p sharelife-demo`",
                from.display()
            )
        })?;
    }
    // A file that is not a plugin, to show discovery skipping it.
    std::fs::write(
        dir.join(format!("notes.{}", std::env::consts::DLL_EXTENSION)),
        "not a library",
    )?;
    Ok(dir.to_owned())
}
