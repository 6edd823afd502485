//! Shared support for the install tests: a real registry (Distribution I)
//! with the fixture plugins published, served by a real HTTP server on
//! 127.0.0.1, and an install root whose client has added it.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::fs;
use std::path::{Path, PathBuf};

use sharelife_install::{InstallRoot, Operation, PlanFile, PluginRequest, make_plan};
use sharelife_registry::keys::{self, SecretKey};
use sharelife_registry::package::{self, PackageOptions};
use sharelife_registry::registry::{Expiries, PublishOptions, Registry};

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

/// A registry with the fixtures published, served over HTTP, and an
/// install root whose client trusts it as `main`.
pub(crate) struct World {
    _scratch: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) registry: Registry,
    pub(crate) root_key: SecretKey,
    pub(crate) publisher: SecretKey,
    pub(crate) admin: SecretKey,
    pub(crate) stranger: SecretKey,
    pub(crate) server: StaticServer,
    pub(crate) install_root: PathBuf,
}

/// The crates published by [`World::new`].
pub(crate) const PUBLISHED: &[&str] = &[
    "fixture-growing-1",
    "fixture-growing-2",
    "fixture-growing-3",
    "fixture-unhealthy",
    "fixture-versioned-v1",
    "fixture-versioned-user",
    "example-echo",
    "example-fetcher",
];

impl World {
    pub(crate) fn new() -> World {
        World::with(PUBLISHED)
    }

    pub(crate) fn with(crates: &[&str]) -> World {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_owned();
        let key = |name: &str| {
            let k = keys::generate(&dir.join("keys").join(name)).unwrap();
            SecretKey::open(&k.secret).unwrap()
        };
        let root_key = key("root");
        let publisher = key("publisher");
        let admin = key("admin");
        let stranger = key("stranger");
        let registry = Registry::init(
            &dir.join("registry"),
            "test",
            &root_key,
            Expiries::default(),
        )
        .unwrap();
        registry
            .delegate(
                &root_key,
                publisher.public(),
                "publisher",
                &["fixtures.*".to_owned(), "examples.*".to_owned()],
            )
            .unwrap();
        let world = World {
            server: StaticServer::serve(registry.dir()),
            _scratch: scratch,
            install_root: dir.join("home"),
            dir,
            registry,
            root_key,
            publisher,
            admin,
            stranger,
        };
        for name in crates {
            world.publish(name);
        }
        fs::create_dir_all(&world.install_root).unwrap();
        fs::copy(
            world.dir.join("keys/admin.pub"),
            world.install_root.join("admin.pub"),
        )
        .unwrap();
        world.write_config("");
        sharelife_registry::Home::new(&world.install_root)
            .add("main", &world.server.url(), &world.registry.root_path())
            .unwrap();
        world
    }

    /// Writes install.toml: the admin key plus `extra`.
    pub(crate) fn write_config(&self, extra: &str) {
        fs::write(
            self.install_root.join("install.toml"),
            format!("[admin]\nkeys = [\"admin.pub\"]\n{extra}"),
        )
        .unwrap();
    }

    /// Packages and publishes the built cdylib of `crate_name`.
    pub(crate) fn publish(&self, crate_name: &str) {
        let crate_dir = self.dir.join("crates").join(crate_name);
        fs::create_dir_all(&crate_dir).unwrap();
        fs::write(crate_dir.join("README.md"), format!("# {crate_name}\n")).unwrap();
        let built = package::build(&PackageOptions {
            crate_dir,
            out_dir: self.dir.join("dist").join(crate_name),
            library: Some(built_library(crate_name)),
            ..PackageOptions::default()
        })
        .unwrap();
        self.registry
            .publish(&built.path, &self.publisher, &PublishOptions::default())
            .unwrap();
    }

    pub(crate) fn root(&self) -> InstallRoot {
        InstallRoot::open(&self.install_root).unwrap()
    }

    pub(crate) fn client(&self, root: &InstallRoot) -> sharelife_registry::Client {
        root.home().open("main").unwrap()
    }

    /// Plans `op` and writes the plan file; returns its path.
    pub(crate) fn plan(&self, op: Operation) -> (PathBuf, PlanFile) {
        let root = self.root();
        let client = self.client(&root);
        let plan = make_plan(&root, &client, "main", &op).unwrap();
        let file = PlanFile::new(plan);
        let path = self.dir.join(format!("plan-{}.json", &file.digest[..12]));
        file.write(&path).unwrap();
        (path, file)
    }

    /// Plans and applies an install of `requests` (approving with the
    /// admin key when the plan needs it).
    pub(crate) fn install(&self, requests: &[&str]) -> sharelife_install::ApplyReport {
        let op = Operation::Install(
            requests
                .iter()
                .map(|r| r.parse::<PluginRequest>().unwrap())
                .collect(),
        );
        self.plan_and_apply(op)
    }

    pub(crate) fn plan_and_apply(&self, op: Operation) -> sharelife_install::ApplyReport {
        let (path, file) = self.plan(op);
        let root = self.root();
        if file.plan.admin.required {
            sharelife_install::approve(&root, &path, &self.admin).unwrap();
        }
        let file = PlanFile::read(&path).unwrap();
        let client = self.client(&root);
        sharelife_install::apply(&root, &file, &path, &client).unwrap()
    }
}

/// The ids a host booted on the install root's `current/plugins` started.
pub(crate) fn host_sees(install_root: &Path) -> Vec<String> {
    let scratch = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host = sharelife_core::host::Host::builder()
            .plugin_path(install_root.join("current/plugins"))
            .data_root(scratch.path().join("data"))
            .temp_root(scratch.path().join("tmp"))
            .build()
            .unwrap();
        let report = host.boot().await.unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let mut ids: Vec<String> = report.started.iter().map(ToString::to_string).collect();
        ids.sort();
        host.shutdown().await;
        ids
    })
}

/// The static host the registry is served from over HTTP (some tests only).
#[allow(
    unused_imports,
    reason = "not every test binary that includes this module serves over HTTP"
)]
pub(crate) use sharelife_static_server::StaticServer;
