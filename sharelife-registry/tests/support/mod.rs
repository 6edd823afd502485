//! Shared test support: a registry with a root key and two publishers, the
//! echo example packaged, a real static HTTP server on 127.0.0.1, and
//! byte snapshots of directory trees.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sharelife_registry::keys::{self, SecretKey};
use sharelife_registry::package::{self, FILE_LIST, FileList, PackageOptions};
use sharelife_registry::registry::{
    Expiries, PublishError, PublishOptions, PublishReport, Registry,
};

/// The built cdylib of crate `name`, next to this test executable.
pub(crate) fn built_library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A registry in a temporary directory: root key, `acme` delegated
/// `examples.*`, `bob` delegated `bob.*`.
pub(crate) struct Fixture {
    _scratch: tempfile::TempDir,
    /// The scratch directory.
    pub(crate) dir: PathBuf,
    /// The registry.
    pub(crate) registry: Registry,
    /// The root key.
    pub(crate) root: SecretKey,
    /// Publisher of `examples.*`.
    pub(crate) acme: SecretKey,
    /// Publisher of `bob.*`.
    pub(crate) bob: SecretKey,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_owned();
        let key = |name: &str| {
            let k = keys::generate(&dir.join("keys").join(name)).unwrap();
            SecretKey::open(&k.secret).unwrap()
        };
        let root = key("root");
        let acme = key("acme");
        let bob = key("bob");
        let registry =
            Registry::init(&dir.join("registry"), "test", &root, Expiries::default()).unwrap();
        registry
            .delegate(&root, acme.public(), "acme", &["examples.*".to_owned()])
            .unwrap();
        registry
            .delegate(&root, bob.public(), "bob", &["bob.*".to_owned()])
            .unwrap();
        Fixture {
            _scratch: scratch,
            dir,
            registry,
            root,
            acme,
            bob,
        }
    }

    /// A new key pair in the scratch directory.
    pub(crate) fn key(&self, name: &str) -> SecretKey {
        let k = keys::generate(&self.dir.join("keys").join(name)).unwrap();
        SecretKey::open(&k.secret).unwrap()
    }

    /// The registry's `file://` URL.
    pub(crate) fn url(&self) -> String {
        url::Url::from_directory_path(self.registry.dir())
            .unwrap()
            .to_string()
    }

    /// The echo example packaged (once per fixture).
    pub(crate) fn echo_package(&self) -> PathBuf {
        let out = self.dir.join("dist");
        let expected = out.join("examples.echo-1.0.0.slpkg");
        if expected.exists() {
            return expected;
        }
        let crate_dir = self.dir.join("echo-crate");
        fs::create_dir_all(&crate_dir).unwrap();
        fs::write(crate_dir.join("README.md"), "# echo\n\nEchoes.\n").unwrap();
        fs::write(crate_dir.join("LICENSE-MIT"), "MIT License\n").unwrap();
        let built = package::build(&PackageOptions {
            crate_dir,
            out_dir: out,
            library: Some(built_library("example-echo")),
            ..PackageOptions::default()
        })
        .unwrap();
        assert_eq!(built.path, expected);
        built.path
    }

    pub(crate) fn publish(
        &self,
        path: &Path,
        key: &SecretKey,
    ) -> Result<PublishReport, PublishError> {
        self.registry.publish(path, key, &PublishOptions::default())
    }

    pub(crate) fn publish_echo(&self) -> Result<PublishReport, PublishError> {
        let pkg = self.echo_package();
        self.publish(&pkg, &self.acme)
    }
}

/// Every file under `dir` with its bytes.
pub(crate) fn snapshot_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(base).unwrap().to_owned(),
                    fs::read(&path).unwrap(),
                );
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// The one file under the registry's `targets/` whose path ends with
/// `suffix`.
pub(crate) fn find_target(registry: &Path, suffix: &str) -> PathBuf {
    let all = snapshot_tree(&registry.join("targets"));
    let hits: Vec<&PathBuf> = all
        .keys()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(hits.len(), 1, "{suffix}: {hits:?}");
    registry.join("targets").join(hits[0])
}

/// A copy of the package at `pkg` with `entry` changed by `change`. The
/// file list is rewritten to match unless the entry is a plain file other
/// than the manifest (so a changed README fails on its digest, a changed
/// manifest gets past the digests to the manifest check).
pub(crate) fn tamper_entry(pkg: &Path, entry: &str, change: impl Fn(&[u8]) -> Vec<u8>) -> PathBuf {
    let bytes = fs::read(pkg).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut entries: Vec<(String, Vec<u8>)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().to_vec()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, data)
        })
        .collect();
    let slot = entries.iter_mut().find(|(p, _)| p == entry).unwrap();
    slot.1 = change(&slot.1);
    if entry == package::MANIFEST {
        let list_bytes = &entries.iter().find(|(p, _)| p == FILE_LIST).unwrap().1;
        let mut list: FileList = serde_json::from_slice(list_bytes).unwrap();
        for f in &mut list.files {
            let data = &entries.iter().find(|(p, _)| *p == f.path).unwrap().1;
            f.sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data));
            f.size = data.len() as u64;
        }
        let json = serde_json::to_vec_pretty(&list).unwrap();
        entries.iter_mut().find(|(p, _)| p == FILE_LIST).unwrap().1 = json;
    }
    let out = package::write_archive(
        entries
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice(), p.starts_with("lib/"))),
    );
    let dir = pkg
        .parent()
        .unwrap()
        .join(format!("tampered-{}", entry.replace('/', "_")));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(pkg.file_name().unwrap());
    fs::write(&path, out).unwrap();
    path
}

/// The static host the registry is served from over HTTP (some tests only).
#[allow(
    unused_imports,
    reason = "not every test binary that includes this module serves over HTTP"
)]
pub(crate) use sharelife_static_server::StaticServer;
