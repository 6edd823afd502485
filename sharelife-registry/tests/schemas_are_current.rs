//! The checked-in JSON Schemas of the registry's formats match the ones
//! the code generates, and what a real publish writes validates against
//! them.
//!
//! - `schemas/registry.index-line.v1.schema.json`: one line of an index
//!   file (`index/<shard>/<id>`), [`IndexLine`];
//! - `schemas/registry.summary.v1.schema.json`: `index/summary.json`,
//!   [`Summary`];
//! - `schemas/registry.package.v1.schema.json`: a package's file list
//!   (`sharelife-package.json`), [`FileList`].
//!
//! If this fails after a change to those types, regenerate with
//! `SHARELIFE_BLESS=1 cargo test -p sharelife-registry --test schemas_are_current`.

mod support;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use sharelife_registry::Client;
use sharelife_registry::index::{self, IndexLine, Summary};
use sharelife_registry::package::{self, FileList, Package};

use support::{Fixture, find_target};

const BLESS: &str = "SHARELIFE_BLESS=1 cargo test -p sharelife-registry --test schemas_are_current";

fn schema_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(file)
}

/// The schema of `T` with a title and description, pretty, one trailing
/// newline.
fn generate<T: JsonSchema>(title: &str, description: &str) -> String {
    let mut schema = schemars::schema_for!(T);
    schema.insert("title".to_owned(), title.into());
    schema.insert("description".to_owned(), description.into());
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

fn index_line_schema() -> String {
    generate::<IndexLine>(
        "sharelife registry index line v1",
        "One published version of a plugin: one JSON line of the registry's index file \
         `index/<shard>/<id>` (sharded like cargo's sparse index). Lines are immutable \
         except `yanked`.",
    )
}

fn summary_schema() -> String {
    generate::<Summary>(
        "sharelife registry summary v1",
        "The registry's search summary, `index/summary.json`: every plugin's newest version \
         in the AITBC registry format (`plugins[].name, version, description, author, \
         license, repository, download_url, checksum, tags, compatibility`), extended with \
         sharelife's fields (id, risk, capabilities, mismatch, versions, yanked, targets, \
         publisher).",
    )
}

fn package_schema() -> String {
    generate::<FileList>(
        "sharelife package file list v1",
        "`sharelife-package.json` inside a `.slpkg` package: the plugin's id and version, \
         every other entry with its sha256 and size (sorted by path), and the library of \
         each target triple.",
    )
}

/// Compares (or, with `SHARELIFE_BLESS`, writes) one checked-in schema.
fn check_current(file: &str, generated: &str) {
    let path = schema_path(file);
    if std::env::var_os("SHARELIFE_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is out of date; regenerate it with {BLESS}",
        path.display()
    );
}

/// The instance path and message of every error of `instance` against
/// the checked-in schema `file`.
fn errors_against(file: &str, instance: &serde_json::Value) -> Vec<String> {
    let text = std::fs::read_to_string(schema_path(file)).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_checked_in_index_line_schema_is_current() {
    check_current("registry.index-line.v1.schema.json", &index_line_schema());
}

#[test]
fn the_checked_in_summary_schema_is_current() {
    check_current("registry.summary.v1.schema.json", &summary_schema());
}

#[test]
fn the_checked_in_package_schema_is_current() {
    check_current("registry.package.v1.schema.json", &package_schema());
}

/// What a real publish writes (the index file as published, the summary
/// as a client reads it, the package's file list) validates against the
/// checked-in schemas; and a line missing a required field does not.
#[test]
fn a_published_index_line_summary_and_file_list_validate() {
    let fx = Fixture::new();
    let report = fx.publish_echo().expect("publish");

    let index_file = find_target(
        fx.registry.dir(),
        index::index_target("examples.echo").as_str(),
    );
    let text = std::fs::read_to_string(&index_file).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["cksum"], report.line.cksum.as_str());
    let errors = errors_against("registry.index-line.v1.schema.json", &line);
    assert!(errors.is_empty(), "{errors:#?}");

    let mut broken = line.clone();
    broken.as_object_mut().unwrap().remove("cksum");
    assert!(
        !errors_against("registry.index-line.v1.schema.json", &broken).is_empty(),
        "a line without `cksum` is refused by the schema"
    );

    let root = std::fs::read(fx.registry.root_path()).unwrap();
    let client = Client::load("test", &fx.url(), &root).expect("load");
    let summary = serde_json::to_value(client.summary().expect("summary")).unwrap();
    assert_eq!(summary["plugins"][0]["id"], "examples.echo");
    // Every summary the registry ever published stays under its
    // consistent name; the current one is the one the client read.
    let on_disk = support::snapshot_tree(&fx.registry.dir().join("targets"))
        .into_iter()
        .filter(|(path, _)| path.to_string_lossy().ends_with(index::SUMMARY_TARGET))
        .map(|(_, bytes)| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        .find(|value| *value == summary)
        .expect("the summary the client read is published");
    let errors = errors_against("registry.summary.v1.schema.json", &on_disk);
    assert!(errors.is_empty(), "{errors:#?}");
    let parsed = Summary::parse(serde_json::to_string(&on_disk).unwrap().as_bytes()).unwrap();
    assert_eq!(parsed.plugins.len(), 1);

    let pkg = Package::open(&fx.echo_package()).expect("open the package");
    let list: serde_json::Value =
        serde_json::from_slice(pkg.entry(package::FILE_LIST).expect("a file list")).unwrap();
    let errors = errors_against("registry.package.v1.schema.json", &list);
    assert!(errors.is_empty(), "{errors:#?}");
}
