//! Two versions of one plugin in the folders: the highest one that every
//! dependent accepts is loaded; the other is passed over with the reason.

use sharelife_core::host::resolver::PassedOverReason;
use sharelife_tests::Scratch;

#[tokio::test]
async fn the_highest_version_wins_when_nothing_constrains_it() {
    let dir = Scratch::new();
    let old = dir.plugin_folder("old", &["fixture-versioned-v1"]);
    let new = dir.plugin_folder("new", &["fixture-versioned-v2"]);
    let host = dir.host_with(|b| b.plugin_path(&old).plugin_path(&new));
    let report = host.boot().await.unwrap();

    assert_eq!(
        host.call("fixtures.versioned", "version", b"")
            .unwrap()
            .as_slice(),
        b"v2"
    );
    assert_eq!(report.passed_over.len(), 1);
    let p = &report.passed_over[0];
    assert_eq!(p.version.to_string(), "1.0.0");
    assert!(p.path.starts_with(&old));
    assert_eq!(
        p.reason.to_string(),
        "fixtures.versioned 2.0.0 is higher and compatible"
    );
    assert!(matches!(
        &p.reason,
        PassedOverReason::Lower { chosen, .. } if chosen.to_string() == "2.0.0"
    ));
}

#[tokio::test]
async fn a_dependent_range_picks_the_highest_compatible_version() {
    let dir = Scratch::new();
    let old = dir.plugin_folder("old", &["fixture-versioned-v1"]);
    let new = dir.plugin_folder("new", &["fixture-versioned-v2", "fixture-versioned-user"]);
    let host = dir.host_with(|b| b.plugin_path(&old).plugin_path(&new));
    let report = host.boot().await.unwrap();

    assert!(report.is_complete(), "{report}");
    assert_eq!(
        host.call("fixtures.versioned", "version", b"")
            .unwrap()
            .as_slice(),
        b"v1"
    );
    assert_eq!(report.passed_over.len(), 1);
    let p = &report.passed_over[0];
    assert_eq!(p.version.to_string(), "2.0.0");
    match &p.reason {
        PassedOverReason::OutOfRange { needed_by, .. } => {
            assert_eq!(needed_by.len(), 1);
            assert_eq!(needed_by[0].0.as_str(), "fixtures.versioned-user");
        }
        other => panic!("expected out of range, got {other:?}"),
    }
    assert_eq!(
        p.reason.to_string(),
        "fixtures.versioned 1.0.0 was chosen instead: fixtures.versioned-user 1.0.0 needs fixtures.versioned ^1"
    );
    let started: Vec<&str> = report.started.iter().map(|id| id.as_str()).collect();
    assert_eq!(started, ["fixtures.versioned", "fixtures.versioned-user"]);
}
