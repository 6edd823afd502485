//! `sharelife package`: build (or take) the library and write the
//! deterministic `.slpkg`.

use serde_json::json;
use sharelife_registry::package::{self, PackageOptions};

use super::{PackageArgs, Refusal, print_json, spinner};

/// Builds the package and prints its path.
pub(super) fn run(args: &PackageArgs) -> Result<(), Refusal> {
    let message = match &args.library {
        Some(lib) => format!("packaging {}", lib.display()),
        None => format!("building {} (cargo build --release)", args.path.display()),
    };
    let bar = spinner(args.json, message);
    let built = package::build(&PackageOptions {
        crate_dir: args.path.clone(),
        out_dir: args.out.clone(),
        library: args.library.clone(),
        extra_libraries: Vec::new(),
        target: args.target.clone(),
        include_source: args.include_source,
    });
    bar.finish_and_clear();
    let built = built?;
    if args.json {
        print_json(&json!({
            "path": built.path,
            "id": built.id,
            "version": built.version.to_string(),
            "sha256": built.sha256,
            "size": built.size,
            "target": args.target.as_deref().unwrap_or(package::host_triple()),
        }));
    } else {
        println!("{}", built.path.display());
        println!("  plugin  {} {}", built.id, built.version);
        println!("  sha256  {}", built.sha256);
        println!("  size    {} bytes", built.size);
    }
    Ok(())
}
