//! The user's commands, against registries added to the client home
//! (`SHARELIFE_HOME`): `registry add`, `registry list`, `search`, `info`,
//! `verify`.

use std::io::Write;
use std::path::Path;

use semver::{Version, VersionReq};
use serde_json::json;
use sharelife_core::manifest::Kind;
use sharelife_registry::index::IndexLine;
use sharelife_registry::{Client, Home};

use super::{InfoArgs, Refusal, SearchArgs, VerifyArgs, evidence, print_json, spinner};
use crate::Failure;

/// `sharelife registry add NAME URL --root ROOT.json`.
pub(super) fn add(name: &str, url: &str, root: &Path, json: bool) -> Result<(), Refusal> {
    let home = Home::from_env();
    let bar = spinner(json, format!("verifying {url} against {}", root.display()));
    let entry = home.add(name, url, root);
    bar.finish_and_clear();
    let entry = entry?;
    if json {
        print_json(&json!({
            "name": name,
            "url": entry.url,
            "root_sha256": entry.root_sha256,
            "home": home.dir(),
        }));
    } else {
        println!("added registry `{name}` at {}", entry.url);
        println!(
            "  pinned root sha256 {} (its metadata verified against it)",
            entry.root_sha256
        );
    }
    Ok(())
}

/// `sharelife registry list`.
pub(super) fn list(json: bool) -> Result<(), Refusal> {
    let home = Home::from_env();
    let registries = home.registries()?;
    if json {
        print_json(&json!({
            "home": home.dir(),
            "registries": registries.iter().map(|(name, e)| json!({
                "name": name,
                "url": e.url,
                "root_sha256": e.root_sha256,
            })).collect::<Vec<_>>(),
        }));
    } else if registries.is_empty() {
        println!(
            "no registries in {} (add one with `sharelife registry add NAME URL --root ROOT.json`)",
            home.dir().display()
        );
    } else {
        for (name, e) in &registries {
            println!("{name:<12} {}  root sha256 {}", e.url, e.root_sha256);
        }
    }
    Ok(())
}

/// The registry `--registry` names, or the only one added.
fn registry_name(home: &Home, given: Option<&str>) -> Result<String, Refusal> {
    if let Some(name) = given {
        return Ok(name.to_owned());
    }
    let registries = home.registries()?;
    let mut names = registries.keys();
    match (names.next(), names.next()) {
        (Some(only), None) => Ok(only.clone()),
        (None, _) => Err(
            Failure::new(format!("no registry added in {}", home.dir().display()))
                .hint("add one with `sharelife registry add NAME URL --root ROOT.json`")
                .into(),
        ),
        (Some(_), Some(_)) => Err(Failure::new("more than one registry is added; say which")
            .details(registries.keys().cloned().collect())
            .hint("pass --registry NAME")
            .into()),
    }
}

/// Opens (and refreshes the trusted metadata of) the chosen registry.
fn open(given: Option<&str>, json: bool) -> Result<Client, Refusal> {
    let home = Home::from_env();
    let name = registry_name(&home, given)?;
    let bar = spinner(json, format!("updating registry `{name}`"));
    let client = home.open(&name);
    bar.finish_and_clear();
    Ok(client?)
}

/// `sharelife search QUERY [--registry NAME]`.
pub(super) fn search(args: &SearchArgs) -> Result<(), Refusal> {
    let client = open(args.registry.as_deref(), args.json)?;
    let hits = client.search(&args.query)?;
    if args.json {
        print_json(&json!({
            "registry": client.name(),
            "query": args.query,
            "results": hits,
        }));
        return Ok(());
    }
    if hits.is_empty() {
        println!("no plugin in `{}` matches `{}`", client.name(), args.query);
    }
    for hit in &hits {
        println!(
            "{} {}  risk {}{}{}",
            hit.id,
            hit.version,
            hit.risk,
            if hit.mismatch {
                "  WARNING: scan evidence raised the label (see `sharelife info`)"
            } else {
                ""
            },
            if hit.description.is_empty() {
                String::new()
            } else {
                format!("\n    {}", hit.description)
            }
        );
    }
    Ok(())
}

/// The line `info` describes: the newest non-yanked version, else the
/// newest.
fn shown(lines: &[IndexLine]) -> Option<&IndexLine> {
    lines
        .iter()
        .filter(|l| !l.yanked)
        .max_by(|a, b| a.vers.cmp(&b.vers))
        .or_else(|| lines.iter().max_by(|a, b| a.vers.cmp(&b.vers)))
}

fn declared_kinds(line: &IndexLine) -> Vec<Kind> {
    line.label.capabilities.iter().map(|c| c.kind).collect()
}

/// `sharelife info ID [--registry NAME]`.
pub(super) fn info(args: &InfoArgs) -> Result<(), Refusal> {
    let client = open(args.registry.as_deref(), args.json)?;
    let lines = client.info(&args.id)?;
    let Some(line) = shown(&lines) else {
        return Err(Failure::new(format!(
            "registry `{}` lists no version of `{}`",
            client.name(),
            args.id
        ))
        .into());
    };
    let declared = declared_kinds(line);
    if args.json {
        print_json(&json!({
            "registry": client.name(),
            "id": args.id,
            "versions": lines.iter().map(|l| json!({
                "version": l.vers.to_string(),
                "yanked": l.yanked,
                "published": l.published,
                "publisher": l.publisher,
                "cksum": l.cksum,
                "size": l.size,
                "risk": l.label.risk,
            })).collect::<Vec<_>>(),
            "shown": line.vers.to_string(),
            "risk": line.label.risk,
            "label": line.label,
            "evidence": evidence::to_json(&declared, &line.scan),
            "scan": line.scan,
            "line": line,
        }));
        return Ok(());
    }
    println!("{} (registry `{}`)", line.id, client.name());
    if let Some(name) = &line.name {
        println!("  name         {name}");
    }
    if let Some(d) = &line.description {
        println!("  description  {d}");
    }
    if !line.authors.is_empty() {
        println!("  authors      {}", line.authors.join(", "));
    }
    if let Some(l) = &line.license {
        println!("  license      {l}");
    }
    if let Some(r) = &line.repository {
        println!("  repository   {r}");
    }
    let versions: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.yanked {
                format!("{} (yanked)", l.vers)
            } else {
                l.vers.to_string()
            }
        })
        .collect();
    println!("  versions     {}", versions.join(", "));
    println!(
        "version {}{} published {} by `{}`:",
        line.vers,
        if line.yanked { " (yanked)" } else { "" },
        line.published,
        line.publisher
    );
    evidence::print_label(&line.label);
    evidence::print_scan(&declared, &line.scan);
    Ok(())
}

/// Parses `ID[@VERSION|@RANGE]`: a bare version means exactly it.
fn parse_spec(spec: &str) -> Result<(String, Option<VersionReq>), Refusal> {
    let Some((id, req)) = spec.split_once('@') else {
        return Ok((spec.to_owned(), None));
    };
    let req = match Version::parse(req) {
        Ok(v) => VersionReq::parse(&format!("={v}")),
        Err(_) => VersionReq::parse(req),
    }
    .map_err(|e| {
        Failure::new(format!(
            "`{req}` is neither a version nor a version range: {e}"
        ))
        .hint("use ID, ID@1.2.0 or ID@^1.2")
    })?;
    Ok((id.to_owned(), Some(req)))
}

/// `sharelife verify ID[@VERSION] [--registry NAME] [--out DIR]`.
pub(super) fn verify(args: &VerifyArgs) -> Result<(), Refusal> {
    let (id, req) = parse_spec(&args.spec)?;
    let client = open(args.registry.as_deref(), args.json)?;
    let bar = spinner(
        args.json,
        format!("downloading and verifying {id} from `{}`", client.name()),
    );
    let verified = client.verify(&id, req.as_ref());
    bar.finish_and_clear();
    let verified = verified?;
    let line = &verified.line;
    let written = match &args.out {
        Some(dir) => Some(write_atomic(
            dir,
            &verified.package.file_name(),
            &verified.bytes,
        )?),
        None => None,
    };
    if args.json {
        print_json(&json!({
            "ok": true,
            "registry": client.name(),
            "id": line.id,
            "version": line.vers.to_string(),
            "yanked": line.yanked,
            "cksum": line.cksum,
            "size": line.size,
            "risk": line.label.risk,
            "targets": line.targets,
            "snapshot_version": client.snapshot_version(),
            "written": written,
        }));
    } else {
        println!(
            "verified {} {}{} from `{}`: signed metadata (snapshot {}), index line, sha256 {}, every entry of the package",
            line.id,
            line.vers,
            if line.yanked { " (yanked)" } else { "" },
            client.name(),
            client.snapshot_version(),
            line.cksum
        );
        match &written {
            Some(path) => println!("  wrote {}", path.display()),
            None => println!("  nothing was installed or written"),
        }
    }
    Ok(())
}

/// Writes `bytes` to `dir/name` through a temp file in `dir` and a rename.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<std::path::PathBuf, Refusal> {
    let fail = |e: std::io::Error| {
        Refusal::from(
            Failure::new(format!("cannot write into {}: {e}", dir.display()))
                .hint("check --out: a writable directory"),
        )
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    let path = dir.join(name);
    tmp.persist(&path).map_err(|e| fail(e.error))?;
    Ok(path)
}
