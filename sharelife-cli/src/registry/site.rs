//! `sharelife registry site DIR --out SITE`: the web market, a static site
//! generated from the registry's verified index
//! (`sharelife_registry::site`).

use std::path::Path;

use serde_json::json;
use sharelife_registry::site::{self, PAGE_BUDGET, SiteError, SiteOptions};

use super::{Refusal, SiteArgs, print_json, spinner};
use crate::Failure;

/// Generates the site and says what it wrote.
pub(super) fn run(args: &SiteArgs) -> Result<(), Refusal> {
    let mut options = SiteOptions {
        registry_name: args.name.clone(),
        ..SiteOptions::default()
    };
    if let Some(api) = &args.host_api {
        options.host_api.clone_from(api);
    }
    if let Some(triple) = &args.host_triple {
        options.host_triple.clone_from(triple);
    }
    let bar = spinner(args.json, "generating the market".to_owned());
    let report = site::generate(args.dir.as_path(), &args.out, &options);
    bar.finish_and_clear();
    let report = report.map_err(|e| refusal(e, &args.dir))?;
    if args.json {
        print_json(&json!({
            "ok": true,
            "out": report.out_dir,
            "registry": report.registry,
            "plugins": report.plugins,
            "pages": report.pages.iter().map(|p| json!({
                "path": p.path,
                "bytes": p.bytes,
                "readme_bytes": p.readme_bytes,
            })).collect::<Vec<_>>(),
            "skipped": report.skipped.iter().map(|(id, why)| json!({"id": id, "why": why})).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "wrote the market of registry `{}` to {}: {} plugin page{}",
            report.registry,
            report.out_dir.display(),
            report.plugins.len(),
            if report.plugins.len() == 1 { "" } else { "s" }
        );
        for page in &report.pages {
            let over = page.bytes - page.readme_bytes > PAGE_BUDGET;
            println!(
                "  {:<40} {:>7} bytes{}",
                page.path,
                page.bytes,
                if over { "  (over the page budget)" } else { "" }
            );
        }
        for (id, why) in &report.skipped {
            println!("  left out {id}: it did not verify: {why}");
        }
        println!(
            "open {} (works from file://) or serve the folder from any static host",
            report.out_dir.join("index.html").display()
        );
    }
    Ok(())
}

fn refusal(e: SiteError, dir: &Path) -> Refusal {
    match e {
        SiteError::Client(e) => e.into(),
        SiteError::NoRoot(_) => Failure::new(e.to_string())
            .hint(format!(
                "pass the registry directory `sharelife registry init` made (not {})",
                dir.display()
            ))
            .into(),
        other => Failure::new(other.to_string()).into(),
    }
}
