//! The registry end to end with real files, real archives and a real HTTP
//! server on 127.0.0.1: init → delegate → publish → add → search → info →
//! verify, each publish stage's refusal, and each TUF attack refused with
//! its own error while the client's trust state stays as it was.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use sharelife_registry::client::{ClientError, Home};
use sharelife_registry::keys::{self, SecretKey};
use sharelife_registry::registry::{CatalogError, Expiries, PublishError, Registry, ValidateError};
use sharelife_registry::trust::{Attack, TrustError};

use support::{Fixture, StaticServer, snapshot_tree};

#[test]
fn publish_then_search_info_verify_over_file_url() {
    let fx = Fixture::new();
    let report = fx.publish_echo().expect("publish");
    assert_eq!(report.line.id, "examples.echo");
    let stages: Vec<String> = report.stages.iter().map(|(s, _)| s.to_string()).collect();
    assert_eq!(stages, ["validate", "package", "scan", "label", "catalog"]);

    let home = Home::new(fx.dir.join("home"));
    home.add("main", &fx.url(), &fx.registry.root_path())
        .expect("add");
    let client = home.open("main").expect("open");
    let hits = client.search("echo").expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, "examples.echo");
    assert!(hits[0].checksum.starts_with("sha256:"));
    let lines = client.info("examples.echo").expect("info");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].vers.to_string(), "1.0.0");
    let verified = client.verify("examples.echo", None).expect("verify");
    assert_eq!(verified.package.manifest().id.as_str(), "examples.echo");
    assert_eq!(verified.line.cksum, report.line.cksum);

    // By a pinned digest: the same package, without the index.
    let version = lines[0].vers.clone();
    let pinned = client
        .verify_pinned("examples.echo", &version, &report.line.cksum)
        .expect("verify by the pin");
    assert_eq!(pinned.sha256(), report.line.cksum);
    assert_eq!(pinned.manifest().version, version);
    // A pin the signed metadata does not sign is refused, naming both.
    let other = "0".repeat(64);
    let err = client
        .verify_pinned("examples.echo", &version, &other)
        .unwrap_err();
    let (attack, name) = refused(&err);
    assert_eq!(attack, Attack::MixAndMatch, "{err}");
    assert!(name.ends_with("examples.echo-1.0.0.slpkg"), "{err}");
    assert!(
        err.to_string().contains(&report.line.cksum) && err.to_string().contains(&other),
        "{err}"
    );
    // A version the metadata has no package for is refused too.
    let err = client
        .verify_pinned("examples.echo", &"9.9.9".parse().unwrap(), &other)
        .unwrap_err();
    assert_eq!(refused(&err).0, Attack::MixAndMatch, "{err}");
}

#[test]
fn publish_then_search_info_verify_over_http() {
    let fx = Fixture::new();
    fx.publish_echo().expect("publish");
    let server = StaticServer::serve(fx.registry.dir());
    let home = Home::new(fx.dir.join("home"));
    home.add("web", &server.url(), &fx.registry.root_path())
        .expect("add over http");
    let client = home.open("web").expect("open");
    assert_eq!(client.search("").unwrap().len(), 1);
    let verified = client.verify("examples.echo", None).expect("verify");
    assert_eq!(verified.line.vers.to_string(), "1.0.0");
    assert!(
        server
            .requests()
            .iter()
            .any(|p| p.ends_with("index/summary.json")),
        "search read the summary over HTTP: {:?}",
        server.requests()
    );
    assert!(
        !server.requests().iter().any(|p| p.contains("private")),
        "the client never asks for private/"
    );
}

#[test]
fn the_private_directory_is_not_served() {
    let fx = Fixture::new();
    let server = StaticServer::serve(fx.registry.dir());
    let response = ureq::get(&format!("{}private/online.key", server.url())).call();
    assert!(matches!(response, Err(ureq::Error::Status(404, _))));
}

#[test]
fn yank_marks_the_line_and_resolve_skips_it() {
    let fx = Fixture::new();
    fx.publish_echo().unwrap();
    let id = "examples.echo".parse().unwrap();
    let version = semver::Version::new(1, 0, 0);
    let line = fx
        .registry
        .yank(&id, &version, &fx.acme, true)
        .expect("yank");
    assert!(line.yanked);
    let home = Home::new(fx.dir.join("home"));
    home.add("main", &fx.url(), &fx.registry.root_path())
        .unwrap();
    let client = home.open("main").unwrap();
    assert!(client.info("examples.echo").unwrap()[0].yanked);
    let err = client.verify("examples.echo", None).unwrap_err();
    assert!(
        matches!(&err, ClientError::NoMatchingVersion { note, .. } if note.contains("yanked: 1.0.0")),
        "{err}"
    );
    // Asked for by exact version, a yanked one is still verifiable.
    let exact = semver::VersionReq::parse("=1.0.0").unwrap();
    client.verify("examples.echo", Some(&exact)).expect("exact");
}

#[test]
fn publish_refusals_name_their_stage_and_write_nothing() {
    let fx = Fixture::new();
    let pkg = fx.echo_package();
    let before = snapshot_tree(fx.registry.dir());

    // validate: the manifest in the archive differs from the library's.
    let bad_manifest = support::tamper_entry(&pkg, "manifest.json", |m| {
        String::from_utf8(m.to_vec())
            .unwrap()
            .replace("\"examples.echo\"", "\"examples.other\"")
            .into_bytes()
    });
    let err = fx.publish(&bad_manifest, &fx.acme).unwrap_err();
    assert!(
        matches!(err, PublishError::Validate(ValidateError::Manifest(_))),
        "{err}"
    );

    // validate: the file name does not match id and version.
    let renamed = fx.dir.join("examples.echo-9.9.9.slpkg");
    fs::copy(&pkg, &renamed).unwrap();
    let err = fx.publish(&renamed, &fx.acme).unwrap_err();
    assert!(
        matches!(err, PublishError::Validate(ValidateError::FileName { .. })),
        "{err}"
    );

    // package: an entry's bytes differ from the file list.
    let corrupt = support::tamper_entry(&pkg, "README.md", |_| b"changed\n".to_vec());
    let err = fx.publish(&corrupt, &fx.acme).unwrap_err();
    assert!(matches!(err, PublishError::Package(_)), "{err}");

    // catalog: unsigned (a key the registry never delegated anything to).
    let stranger = fx.key("stranger");
    let err = fx.publish(&pkg, &stranger).unwrap_err();
    assert!(
        matches!(
            err,
            PublishError::Catalog(CatalogError::NotAPublisher { .. })
        ),
        "{err}"
    );

    // catalog: the wrong publisher for this id.
    let err = fx.publish(&pkg, &fx.bob).unwrap_err();
    assert!(
        matches!(&err, PublishError::Catalog(CatalogError::NotDelegated { role, .. }) if role == "bob"),
        "{err}"
    );

    assert_eq!(
        before,
        snapshot_tree(fx.registry.dir()),
        "nothing was written"
    );

    // And the same version twice is refused after a good publish.
    fx.publish(&pkg, &fx.acme).expect("publish");
    let after_first = snapshot_tree(fx.registry.dir());
    let err = fx.publish(&pkg, &fx.acme).unwrap_err();
    assert!(
        matches!(
            err,
            PublishError::Catalog(CatalogError::VersionExists { .. })
        ),
        "{err}"
    );
    assert_eq!(after_first, snapshot_tree(fx.registry.dir()));
}

/// A client that trusts the registry now, and the trust state's bytes.
fn trusting_client(fx: &Fixture) -> (Home, BTreeMap<PathBuf, Vec<u8>>) {
    let home = Home::new(fx.dir.join("home"));
    home.add("main", &fx.url(), &fx.registry.root_path())
        .unwrap();
    home.open("main").unwrap();
    let state = snapshot_tree(home.dir());
    (home, state)
}

fn refused(err: &ClientError) -> (Attack, String) {
    match err {
        ClientError::Trust(TrustError::Refused { attack, file, .. }) => (*attack, file.clone()),
        ClientError::PackageMismatch { attack, file, .. } => (*attack, file.clone()),
        other => panic!("expected a refusal, got: {other}"),
    }
}

#[test]
fn a_tampered_package_is_refused() {
    let fx = Fixture::new();
    fx.publish_echo().unwrap();
    let (home, _) = trusting_client(&fx);
    let client = home.open("main").unwrap();
    let state = snapshot_tree(home.dir());
    let file = support::find_target(fx.registry.dir(), "examples.echo-1.0.0.slpkg");
    let mut bytes = fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    fs::write(&file, bytes).unwrap();
    let err = client.verify("examples.echo", None).unwrap_err();
    let (attack, name) = refused(&err);
    assert_eq!(attack, Attack::Tampering, "{err}");
    assert!(name.ends_with("examples.echo-1.0.0.slpkg"), "{err}");
    assert_eq!(state, snapshot_tree(home.dir()));
}

#[test]
fn a_tampered_index_line_is_refused() {
    let fx = Fixture::new();
    fx.publish_echo().unwrap();
    let (home, _) = trusting_client(&fx);
    let client = home.open("main").unwrap();
    let state = snapshot_tree(home.dir());
    let file = support::find_target(fx.registry.dir(), "ex/am/examples.echo");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(&file, text.replace("\"yanked\":false", "\"yanked\":true ")).unwrap();
    let err = client.info("examples.echo").unwrap_err();
    let (attack, name) = refused(&err);
    assert_eq!(attack, Attack::Tampering, "{err}");
    assert_eq!(name, "index/ex/am/examples.echo");
    assert_eq!(state, snapshot_tree(home.dir()));
}

#[test]
fn an_expired_timestamp_is_refused_as_a_freeze() {
    let fx = Fixture::new();
    let (home, state) = trusting_client(&fx);
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    fx.registry.refresh(Some(past)).expect("refresh");
    let err = home.open("main").unwrap_err();
    let (attack, name) = refused(&err);
    assert_eq!(attack, Attack::Freeze, "{err}");
    assert_eq!(name, "timestamp.json");
    assert_eq!(state, snapshot_tree(home.dir()));
}

#[test]
fn a_rolled_back_timestamp_and_snapshot_are_refused() {
    let fx = Fixture::new();
    let old_timestamp = fs::read(fx.registry.dir().join("metadata/timestamp.json")).unwrap();
    fx.publish_echo().unwrap();
    let (home, state) = trusting_client(&fx);
    // A mirror serves the registry as it was before the publish.
    fs::write(
        fx.registry.dir().join("metadata/timestamp.json"),
        old_timestamp,
    )
    .unwrap();
    let err = home.open("main").unwrap_err();
    let (attack, name) = refused(&err);
    assert_eq!(attack, Attack::Rollback, "{err}");
    assert_eq!(name, "timestamp.json");
    assert_eq!(state, snapshot_tree(home.dir()));
}

#[test]
fn a_removed_signature_is_refused() {
    let fx = Fixture::new();
    let (home, state) = trusting_client(&fx);
    fx.registry.refresh(None).unwrap();
    let path = fx.registry.dir().join("metadata/timestamp.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    doc["signatures"] = serde_json::json!([]);
    fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let err = home.open("main").unwrap_err();
    let (attack, name) = refused(&err);
    assert_eq!(attack, Attack::ArbitrarySigning, "{err}");
    assert_eq!(name, "timestamp.json");
    assert_eq!(state, snapshot_tree(home.dir()));
}

#[test]
fn adding_a_registry_with_the_wrong_root_is_refused_and_records_nothing() {
    let fx = Fixture::new();
    let other = Fixture::new();
    let home = Home::new(fx.dir.join("home"));
    let err = home
        .add("main", &fx.url(), &other.registry.root_path())
        .unwrap_err();
    assert!(matches!(err, ClientError::Trust(_)), "{err}");
    assert!(home.registries().unwrap().is_empty());
}

#[test]
fn delegation_needs_the_root_key_and_refuses_overlaps() {
    let fx = Fixture::new();
    let carol = fx.key("carol");
    let err = fx
        .registry
        .delegate(&fx.acme, carol.public(), "carol", &["carol.*".to_owned()])
        .unwrap_err();
    assert!(
        err.to_string().contains("is not this registry's root key"),
        "{err}"
    );
    let err = fx
        .registry
        .delegate(
            &fx.root,
            carol.public(),
            "carol",
            &["examples.x*".to_owned()],
        )
        .unwrap_err();
    assert!(err.to_string().contains("overlap"), "{err}");
}

#[test]
fn init_refuses_a_non_empty_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("registry");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("keep.txt"), "mine").unwrap();
    let root = keys::generate(&scratch.path().join("root")).unwrap();
    let root = SecretKey::open(&root.secret).unwrap();
    let err = Registry::init(&dir, "test", &root, Expiries::default()).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(fs::read_to_string(dir.join("keep.txt")).unwrap(), "mine");
}

#[test]
fn key_files_are_private_and_never_overwritten() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("keys/acme");
    let generated = keys::generate(&out).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&generated.secret)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(matches!(
        keys::generate(&out),
        Err(keys::KeyError::Exists { .. })
    ));
    let public = keys::read_public(&generated.public).unwrap();
    assert_eq!(keys::key_id(&public), generated.key_id);
}

#[test]
fn a_role_file_from_another_snapshot_is_refused_as_mix_and_match() {
    let fx = Fixture::new();
    fx.publish_echo().unwrap();
    let (home, _) = trusting_client(&fx);
    // acme's role: version 1 (empty, from the delegation), version 2 (the
    // publish). Serve version 1's bytes where the snapshot names version 2.
    let metadata = fx.registry.dir().join("metadata");
    fs::copy(metadata.join("1.acme.json"), metadata.join("2.acme.json")).unwrap();
    // A client that has not seen version 2 yet.
    fs::remove_dir_all(home.dir()).unwrap();
    let err = home
        .add("main", &fx.url(), &fx.registry.root_path())
        .unwrap_err();
    let (attack, name) = refused(&err);
    assert_eq!(attack, Attack::MixAndMatch, "{err}");
    assert!(name.ends_with("metadata/2.acme.json"), "{err}");
    assert!(home.registries().unwrap().is_empty());
}

#[test]
fn a_rekeyed_publisher_keeps_its_packages_and_only_the_new_key_signs() {
    let fx = Fixture::new();
    fx.publish_echo().unwrap();
    let new_acme = fx.key("acme-2026");
    let delegation = fx
        .registry
        .rekey(&fx.root, "acme", new_acme.public())
        .expect("rekey");
    assert_eq!(delegation.key_ids[0], new_acme.key_id());

    // What acme published before is still verifiable.
    let home = Home::new(fx.dir.join("home"));
    home.add("main", &fx.url(), &fx.registry.root_path())
        .unwrap();
    home.open("main")
        .unwrap()
        .verify("examples.echo", None)
        .expect("verify");

    // The old key is no longer a publisher; the new one is.
    let id = "examples.echo".parse().unwrap();
    let version = semver::Version::new(1, 0, 0);
    let err = fx.registry.yank(&id, &version, &fx.acme, true).unwrap_err();
    assert!(
        matches!(
            err,
            PublishError::Catalog(CatalogError::NotAPublisher { .. })
        ),
        "{err}"
    );
    fx.registry
        .yank(&id, &version, &new_acme, true)
        .expect("yank with the new key");
    assert!(home.open("main").unwrap().info("examples.echo").unwrap()[0].yanked);
}
