//! `sharelife new`: a plugin crate that builds, tests and loads.

use std::path::{Path, PathBuf};

use crate::Failure;

const CARGO_TOML: &str = include_str!("templates/Cargo.toml.tmpl");
const LIB_SYNC: &str = include_str!("templates/lib_sync.rs.tmpl");
const LIB_ASYNC: &str = include_str!("templates/lib_async.rs.tmpl");
const TEST_SYNC: &str = include_str!("templates/test_sync.rs.tmpl");
const TEST_ASYNC: &str = include_str!("templates/test_async.rs.tmpl");
const README: &str = include_str!("templates/README.md.tmpl");

pub(crate) fn run(
    name: &str,
    is_async: bool,
    path: Option<PathBuf>,
    force: bool,
    sdk: Option<PathBuf>,
) -> Result<(), Failure> {
    check_name(name)?;
    let dir = path.unwrap_or_else(|| PathBuf::from(".")).join(name);
    if dir.exists() && !force {
        return Err(Failure::new(format!("{} already exists", dir.display()))
            .hint("choose another name or --path, or pass --force to overwrite"));
    }
    let sdk = sdk.unwrap_or_else(default_sdk);
    let sdk = std::fs::canonicalize(&sdk).map_err(|e| {
        Failure::new(format!(
            "cannot find sharelife-sdk at {}: {e}",
            sdk.display()
        ))
        .hint("pass --sdk-path DIR")
    })?;
    let krate = name.replace('-', "_");
    let id = format!("local.{krate}");
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{crate}}", &krate)
            .replace("{{id}}", &id)
            .replace("{{sdk}}", &sdk.display().to_string().replace('\\', "/"))
    };
    // Write into a temporary sibling and rename at the end: an error half
    // way never leaves a half-written crate behind.
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let staging = parent.join(format!(".{name}.sharelife-new"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("src"))?;
    std::fs::create_dir_all(staging.join("tests"))?;
    std::fs::write(staging.join("Cargo.toml"), fill(CARGO_TOML))?;
    std::fs::write(
        staging.join("src/lib.rs"),
        fill(if is_async { LIB_ASYNC } else { LIB_SYNC }),
    )?;
    std::fs::write(
        staging.join("tests/plugin.rs"),
        fill(if is_async { TEST_ASYNC } else { TEST_SYNC }),
    )?;
    std::fs::write(staging.join("README.md"), fill(README))?;
    std::fs::write(staging.join(".gitignore"), "/target\n")?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::rename(&staging, &dir)?;
    println!("created plugin {id} in {}", dir.display());
    println!("next: cd {} && cargo test && cargo build", dir.display());
    Ok(())
}

fn check_name(name: &str) -> Result<(), Failure> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.ends_with(['-', '_']);
    if ok {
        Ok(())
    } else {
        Err(Failure::new(format!("{name:?} is not a valid plugin crate name"))
            .hint("use lowercase letters, digits, '-' and '_', starting with a letter (like my-plugin)"))
    }
}

/// The SDK next to the sources this CLI was built from.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sharelife-sdk")
}
