//! Shared support for the install CLI tests: a real registry
//! (Distribution I) with fixture plugins published, served by a real HTTP
//! server on 127.0.0.1, an install root whose client has added it as
//! `main`, and the `sharelife` binary run on it.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
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

/// A registry with fixtures published, served over HTTP, and an install
/// root (`home`) whose client trusts it as `main`; `keys/` holds the
/// root, publisher, admin and stranger key pairs.
pub(crate) struct World {
    _scratch: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) registry: Registry,
    pub(crate) admin: SecretKey,
    pub(crate) server: StaticServer,
    pub(crate) root: PathBuf,
}

impl World {
    /// Publishes the built cdylibs of `crates`; `config` is appended to
    /// the install root's install.toml (after `[admin] keys`).
    pub(crate) fn new(crates: &[&str], config: &str) -> World {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_owned();
        let key = |name: &str| {
            let k = keys::generate(&dir.join("keys").join(name)).unwrap();
            SecretKey::open(&k.secret).unwrap()
        };
        let root_key = key("root");
        let publisher = key("publisher");
        let admin = key("admin");
        let _stranger = key("stranger");
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
        let root = dir.join("home");
        let world = World {
            server: StaticServer::serve(registry.dir()),
            _scratch: scratch,
            root,
            dir,
            registry,
            admin,
        };
        for name in crates {
            world.publish(name, &publisher);
        }
        fs::create_dir_all(&world.root).unwrap();
        fs::copy(
            world.dir.join("keys/admin.pub"),
            world.root.join("admin.pub"),
        )
        .unwrap();
        fs::write(
            world.root.join("install.toml"),
            format!("[admin]\nkeys = [\"admin.pub\"]\n{config}"),
        )
        .unwrap();
        sharelife_registry::Home::new(&world.root)
            .add("main", &world.server.url(), &world.registry.root_path())
            .unwrap();
        world
    }

    fn publish(&self, crate_name: &str, publisher: &SecretKey) {
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
            .publish(&built.path, publisher, &PublishOptions::default())
            .unwrap();
    }

    /// `sharelife ARGS` with the install root as `SHARELIFE_HOME` and
    /// `env` set.
    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sharelife"));
        command
            .args(args)
            .env("SHARELIFE_HOME", &self.root)
            .env_remove("SHARELIFE_FAILPOINT")
            .env_remove("RUST_LOG");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    }

    /// `sharelife ARGS`: (exit code, stdout, stderr).
    pub(crate) fn sl(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.run_env(args, &[]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// `sharelife ARGS --json`, asserting exit 0.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (code, out, err) = self.sl(&all);
        assert_eq!(code, 0, "sharelife {args:?}:\n{out}\n{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}:\n{out}"))
    }

    /// `sharelife ARGS --json`, asserting exit 1 and `ok: false`; the
    /// error object and stderr.
    pub(crate) fn json_err(&self, args: &[&str]) -> (Value, String) {
        let mut all = args.to_vec();
        all.push("--json");
        let (code, out, err) = self.sl(&all);
        assert_eq!(code, 1, "sharelife {args:?}:\n{out}\n{err}");
        let v: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}:\n{out}"));
        assert_eq!(v["ok"], false, "{v}");
        (v, err)
    }

    /// The current generation's number, from the `current` link.
    pub(crate) fn current(&self) -> Option<u64> {
        fs::read_link(self.root.join("current"))
            .ok()
            .map(|t| t.file_name().unwrap().to_str().unwrap().parse().unwrap())
    }
}

/// `p` as a `&str`.
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The static host the registry is served from over HTTP (some tests only).
#[allow(
    unused_imports,
    reason = "not every test binary that includes this module serves over HTTP"
)]
pub(crate) use sharelife_static_server::StaticServer;
