//! Discovery reads every library's manifest in the plugin folders without
//! running any code; files that are not plugins, and folders that cannot
//! be read, are reported and skipped, never fatal.

use sharelife_core::host::discovery::discover;
use sharelife_core::loader::LoadError;
use sharelife_tests::{Scratch, library_file_name};

#[test]
fn plugins_are_found_and_junk_is_reported_with_the_reason() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["example-echo", "example-timer", "fixture-not-a-plugin"],
    );
    let ext = std::env::consts::DLL_EXTENSION;
    std::fs::write(plugins.join(format!("notes.{ext}")), "just text").unwrap();
    let echo = std::fs::read(plugins.join(library_file_name("example-echo"))).unwrap();
    std::fs::write(plugins.join(format!("truncated.{ext}")), &echo[..4096]).unwrap();
    std::fs::write(plugins.join("README.md"), "# plugins").unwrap();
    std::fs::create_dir(plugins.join(format!("folder.{ext}"))).unwrap();
    let missing = dir.path().join("no-such-folder");

    let found = discover(&[plugins.clone(), missing.clone()]);

    let ids: Vec<&str> = found
        .found
        .iter()
        .map(|f| f.manifest().id.as_str())
        .collect();
    assert_eq!(ids, ["examples.echo", "examples.timer"]);
    assert_eq!(found.ignored, 1, "README.md is ignored silently");

    let reasons: Vec<(String, &LoadError)> = found
        .skipped
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_string_lossy().into_owned(),
                &s.reason,
            )
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:#?}");
    let by_name = |name: &str| {
        reasons
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not reported in {reasons:#?}"))
            .1
    };
    assert!(matches!(
        by_name(&library_file_name("fixture-not-a-plugin")),
        LoadError::NotAPlugin { .. }
    ));
    assert!(matches!(
        by_name(&format!("notes.{ext}")),
        LoadError::NotALibrary { .. }
    ));
    assert!(matches!(
        by_name(&format!("truncated.{ext}")),
        LoadError::Malformed { .. } | LoadError::NotAPlugin { .. }
    ));
    let folder_error = by_name("no-such-folder");
    assert!(matches!(folder_error, LoadError::Io { .. }));
    assert!(
        folder_error.to_string().contains("no-such-folder"),
        "{folder_error}"
    );
}

#[tokio::test]
async fn boot_goes_on_past_junk_and_reports_it() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["example-echo", "fixture-not-a-plugin"]);
    std::fs::write(
        plugins.join(format!("notes.{}", std::env::consts::DLL_EXTENSION)),
        "just text",
    )
    .unwrap();
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    let report = host.boot().await.expect("junk is not fatal");
    assert_eq!(report.started.len(), 1);
    assert_eq!(report.started[0].as_str(), "examples.echo");
    assert_eq!(report.skipped.len(), 2, "{report}");
    assert!(report.failed.is_empty(), "{report}");
    let text = report.to_string();
    assert!(text.contains("is not a sharelife plugin"), "{text}");
    assert!(text.contains("is not a shared library"), "{text}");
}

/// Discovery takes an entry's type from the folder listing; a symlink is
/// followed: to a library it is a plugin, to a folder or nowhere it is
/// not a file and is passed by.
#[cfg(unix)]
#[test]
fn symlinked_libraries_are_followed_and_links_to_folders_are_not_files() {
    let dir = Scratch::new();
    let store = dir.plugin_folder("store", &["example-echo"]);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let ext = std::env::consts::DLL_EXTENSION;
    let echo = library_file_name("example-echo");
    std::os::unix::fs::symlink(store.join(&echo), plugins.join(&echo)).unwrap();
    std::os::unix::fs::symlink(&store, plugins.join(format!("folder.{ext}"))).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("gone"),
        plugins.join(format!("dangling.{ext}")),
    )
    .unwrap();

    let found = discover(std::slice::from_ref(&plugins));

    let ids: Vec<&str> = found
        .found
        .iter()
        .map(|f| f.manifest().id.as_str())
        .collect();
    assert_eq!(ids, ["examples.echo"]);
    assert_eq!(found.found[0].path(), plugins.join(&echo));
    assert!(found.skipped.is_empty(), "{:#?}", found.skipped);
}
