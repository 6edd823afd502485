//! The sharelife demo host.
//!
//! Usage: `sharelife-demo [--plugins DIR]`. Without `--plugins`, the demo
//! copies the example plugin libraries cargo built next to it into a fresh
//! folder and loads everything it finds there.

mod pipeline_demo;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sharelife_core::loader::PluginFile;
use sharelife_core::{Host, HostError};

#[tokio::main]
async fn main() -> Result<()> {
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
    let plugins = match std::env::args().skip_while(|a| a != "--plugins").nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => stage_example_plugins(&work.join("plugins"))?,
    };
    let result = run(&plugins, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn run(plugins: &Path, work: &Path) -> Result<()> {
    let host = Host::builder()
        .data_root(work.join("data"))
        .temp_root(work.join("tmp"))
        .plugin_config("examples.echo", serde_json::json!({ "greeting": "ahoy" }))
        .plugin_config("examples.panicky", serde_json::json!({ "panic_in": "" }))
        .build()?;

    section("1. discover: read each library's manifest without running its code");
    let mut entries = std::fs::read_dir(plugins)
        .with_context(|| format!("reading {}", plugins.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    let mut libraries = Vec::new();
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some(std::env::consts::DLL_EXTENSION) {
            continue;
        }
        match PluginFile::read(&path) {
            Ok(file) => {
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
                libraries.push(path);
            }
            Err(e) => println!("  skipped: {e}"),
        }
    }

    section("2. load and start: open, check the ABI, create, initialize, start");
    for path in &libraries {
        let id = host.load(path).await?;
        host.start(id.as_str()).await?;
    }
    for p in host.list() {
        println!("  {:<18} {:<8} from {}", p.id, p.state, p.origin);
    }

    section("3. call handlers across the library boundary");
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

    section("4. contain a panic: the plugin goes to Error, the host goes on");
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

    section("5. unload for real, then reload from a new path");
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

    section("6. shut down");
    for p in host.list() {
        let report = host.unload(p.id.as_str()).await?;
        println!("  {:<18} closed = {}", report.id, report.closed);
    }
    pipeline_demo::run(work).await
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn state(host: &Host, id: &str) -> String {
    host.state(id)
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
    for name in ["example_echo", "example_timer", "example_panicky"] {
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
