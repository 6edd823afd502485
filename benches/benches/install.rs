//! Install (issue 13): planning against a local registry, and applying a
//! prebuilt plugin next to the floor of placing the same bytes durably.
//!
//! Group `plan`:
//!
//! * `plan_1_plugin` — `make_plan` installing `examples.echo` (registry
//!   over `file://`, client opened once);
//! * `plan_50_plugins_with_dependencies` — installing the head of a chain
//!   of 50 plugins, each depending on the next (`^1`): 50 index files read
//!   through the verified metadata, resolved by the host's resolver.
//!
//! Group `apply`:
//!
//! * `apply_prebuilt_plugin` — `apply` of a one-plugin plan (download and
//!   verify the package, write the library, `generation.json`, commit the
//!   generation, flip `current`, audit records; the smoke load off, it is
//!   measured on its own), into a fresh install root per iteration,
//!   settled before the timing like a root at rest (its `staging/`
//!   present, everything of the setup fsynced);
//! * `baseline_copy_fsync_rename` — the plugin's library bytes (what
//!   apply places) written to a temporary file, fsynced, renamed into
//!   place, the directory fsynced: the floor (target: apply ≤ 3× it);
//! * `floor_durable_generation` — the crash-safe protocol alone on the
//!   same bytes (files and directories fsynced, the generation renamed
//!   into place, the `current` symlink flipped): what apply adds to it is
//!   the download, its verification and decompression, and the audit;
//! * `floor_verified_fetch` — the package alone, fetched by the plan's
//!   pinned digest and verified (signed length and sha256, decompressed,
//!   every entry against its file list), nothing written;
//! * `floor_audit_commit` — an apply's two audit records chained and made
//!   durable by one commit. Apply is these two plus
//!   `floor_durable_generation`, plus its glue;
//! * `smoke_load` — the smoke load alone (a scratch host boots the
//!   generation, checks health, shuts down).

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sharelife_benches::{BenchDir, ECHO_CRATE, built_library};
use sharelife_core::audit::{AuditEvent, AuditSink, Durability, FileSink, Outcome, What};
use sharelife_install::{InstallRoot, Operation, PlanFile, PluginRequest, apply, make_plan};
use sharelife_registry::Home;
use sharelife_registry::index::{IndexDependency, IndexLine};
use sharelife_registry::keys::{self, SecretKey};
use sharelife_registry::package::{self, PackageOptions};
use sharelife_registry::registry::{Expiries, PublishOptions, Registry};

/// Plugins in the dependency chain.
const CHAIN: usize = 50;

struct Setup {
    dir: BenchDir,
    registry: Registry,
    library_bytes: Vec<u8>,
    /// An install root whose client trusts the registry (copied per apply).
    template: PathBuf,
    fresh: std::cell::Cell<usize>,
}

impl Setup {
    fn new() -> Setup {
        let dir = BenchDir::new("install");
        let key = |name: &str| {
            let k = keys::generate(&dir.path().join("keys").join(name)).expect("a key");
            SecretKey::open(&k.secret).expect("the key opens")
        };
        let root = key("root");
        let publisher = key("publisher");
        let registry = Registry::init(
            &dir.path().join("registry"),
            "bench",
            &root,
            Expiries::default(),
        )
        .expect("a registry");
        registry
            .delegate(
                &root,
                publisher.public(),
                "publisher",
                &["examples.*".to_owned(), "bench.*".to_owned()],
            )
            .expect("a delegation");
        let crate_dir = dir.path().join("echo-crate");
        std::fs::create_dir_all(&crate_dir).expect("the crate directory");
        std::fs::write(crate_dir.join("README.md"), "# echo\n").expect("the README");
        let built = package::build(&PackageOptions {
            crate_dir,
            out_dir: dir.path().join("dist"),
            library: Some(built_library(ECHO_CRATE)),
            ..PackageOptions::default()
        })
        .expect("the package");
        let report = registry
            .publish(&built.path, &publisher, &PublishOptions::default())
            .expect("published");
        // The chain: bench.p00 -> bench.p01 -> … -> bench.p49, index lines
        // made from the real echo line (no packages behind them: planning
        // reads only the index).
        for i in 0..CHAIN {
            let id = format!("bench.p{i:02}");
            let mut line: IndexLine = report.line.clone();
            line.id.clone_from(&id);
            line.vers = semver::Version::new(1, 0, 0);
            line.deps = if i + 1 < CHAIN {
                vec![IndexDependency {
                    id: format!("bench.p{:02}", i + 1),
                    req: "^1".to_owned(),
                }]
            } else {
                Vec::new()
            };
            registry
                .write_index_for_bench(&publisher, &id, &[line])
                .expect("a synthetic index file");
        }
        let template = dir.path().join("template-root");
        std::fs::create_dir_all(&template).expect("the template root");
        std::fs::write(
            template.join("install.toml"),
            "[apply]\nrequire_success_before_apply = false\n",
        )
        .expect("install.toml");
        Home::new(&template)
            .add(
                "main",
                url::Url::from_directory_path(registry.dir())
                    .expect("a file URL")
                    .as_str(),
                &registry.root_path(),
            )
            .expect("the registry is added");
        Setup {
            library_bytes: std::fs::read(built_library(ECHO_CRATE)).expect("the library"),
            dir,
            registry,
            template,
            fresh: std::cell::Cell::new(0),
        }
    }

    /// A fresh copy of the template install root.
    fn fresh_root(&self) -> PathBuf {
        let n = self.fresh.get();
        self.fresh.set(n + 1);
        let dest = self.dir.path().join(format!("root-{n}"));
        copy_dir(&self.template, &dest);
        dest
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("a directory").flatten() {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).expect("a copy");
        }
    }
}

/// Makes everything under `dir` durable, and `dir`'s own entry: every
/// file and directory fsynced, children first, then the parent.
fn settle(dir: &Path) {
    fn sync(path: &Path) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).expect("a directory").flatten() {
                sync(&entry.path());
            }
        }
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .expect("fsync");
    }
    sync(dir);
    let parent = dir.parent().expect("a parent");
    std::fs::File::open(parent)
        .and_then(|f| f.sync_all())
        .expect("fsync");
}

fn install(id: &str) -> Operation {
    Operation::Install(vec![id.parse::<PluginRequest>().expect("a request")])
}

fn plan(c: &mut Criterion) {
    let setup = Setup::new();
    let root_dir = setup.fresh_root();
    let root = InstallRoot::open(&root_dir).expect("the root");
    let client = root.home().open("main").expect("the client");
    let chain = make_plan(&root, &client, "main", &install("bench.p00")).expect("a plan");
    assert_eq!(chain.actions.len(), CHAIN, "the whole chain is planned");
    let mut g = c.benchmark_group("plan");
    g.bench_function("plan_1_plugin", |b| {
        b.iter(|| {
            make_plan(&root, &client, "main", black_box(&install("examples.echo"))).expect("a plan")
        });
    });
    g.bench_function("plan_50_plugins_with_dependencies", |b| {
        b.iter(|| {
            make_plan(&root, &client, "main", black_box(&install("bench.p00"))).expect("a plan")
        });
    });
    g.finish();
    let _ = &setup.registry;
}

fn apply_group(c: &mut Criterion) {
    let setup = Setup::new();
    let mut g = c.benchmark_group("apply");
    g.sample_size(20);
    g.bench_function("apply_prebuilt_plugin", |b| {
        b.iter_batched(
            || {
                let dir = setup.fresh_root();
                let root = InstallRoot::open(&dir).expect("the root");
                let client = root.home().open("main").expect("the client");
                let plan =
                    make_plan(&root, &client, "main", &install("examples.echo")).expect("a plan");
                let file = PlanFile::new(plan);
                let path = dir.join("plan.json");
                file.write(&path).expect("the plan file");
                // An install root at rest, as after its first install:
                // `staging/` exists and nothing of the setup is waiting to
                // be written (a fresh directory chain would otherwise be
                // synced by apply's first fsync).
                std::fs::create_dir_all(dir.join("staging")).expect("staging");
                settle(&dir);
                (root, client, file, path)
            },
            // The root and client are returned, so closing them (the
            // lock, the audit sink) happens outside the timing: apply is
            // what is measured.
            |(root, client, file, path)| {
                apply(&root, &file, &path, &client).expect("applied");
                (root, client)
            },
            BatchSize::PerIteration,
        );
    });
    let floor_dir = setup.dir.path().join("floor");
    std::fs::create_dir_all(&floor_dir).expect("the floor directory");
    let bytes = &setup.library_bytes;
    g.bench_function("baseline_copy_fsync_rename", |b| {
        b.iter(|| {
            let mut tmp = tempfile::NamedTempFile::new_in(&floor_dir).expect("a temp file");
            tmp.write_all(black_box(bytes)).expect("written");
            tmp.as_file().sync_all().expect("fsync");
            tmp.persist(floor_dir.join("placed.slpkg"))
                .expect("renamed");
            std::fs::File::open(&floor_dir)
                .and_then(|d| d.sync_all())
                .expect("the directory fsynced");
        });
    });
    // The floor of the generation protocol itself on the same bytes: the
    // library and a manifest written and fsynced in a staged directory,
    // both directories fsynced, the directory renamed into place and its
    // parent fsynced, a symlink renamed over `current` and the root
    // fsynced. Apply does this plus the download, its verification and
    // the archive's decompression.
    let proto = setup.dir.path().join("protocol");
    std::fs::create_dir_all(proto.join("generations")).expect("a directory");
    let sync = |p: &Path| {
        std::fs::File::open(p)
            .and_then(|f| f.sync_all())
            .expect("fsync");
    };
    let n = std::cell::Cell::new(0u64);
    g.bench_function("floor_durable_generation", |b| {
        b.iter_batched(
            || {
                // Untimed: the generation before last goes (disk space).
                let i = n.get();
                if i >= 2 {
                    let _ = std::fs::remove_dir_all(
                        proto.join("generations").join((i - 2).to_string()),
                    );
                }
            },
            |()| {
                let i = n.get();
                n.set(i + 1);
                let staged = proto.join(format!("staged-{i}"));
                std::fs::create_dir_all(staged.join("plugins")).expect("a directory");
                for (path, data) in [
                    (staged.join("plugins/lib.so"), bytes.as_slice()),
                    (staged.join("generation.json"), b"{}".as_slice()),
                ] {
                    let mut f = std::fs::File::create(&path).expect("a file");
                    f.write_all(data).expect("written");
                    f.sync_all().expect("fsync");
                }
                sync(&staged.join("plugins"));
                sync(&staged);
                let dest = proto.join("generations").join(i.to_string());
                std::fs::rename(&staged, &dest).expect("renamed");
                sync(&proto.join("generations"));
                let link = proto.join("current.tmp");
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&dest, &link).expect("a symlink");
                std::fs::rename(&link, proto.join("current")).expect("flipped");
                sync(&proto);
            },
            BatchSize::PerIteration,
        );
    });
    // The floor of the download: the package fetched by the plan's pin
    // and verified (signed length and sha256, decompressed, every entry
    // against its file list, the library's manifest), nothing written.
    let fetch_root = setup.fresh_root();
    {
        let root = InstallRoot::open(&fetch_root).expect("the root");
        let client = root.home().open("main").expect("the client");
        let plan = make_plan(&root, &client, "main", &install("examples.echo")).expect("a plan");
        let action = &plan.actions[0];
        let version = action.to.clone().expect("a version");
        let pinned = action.package.clone().expect("a pinned package");
        g.bench_function("floor_verified_fetch", |b| {
            b.iter(|| {
                client
                    .verify_pinned("examples.echo", black_box(&version), &pinned)
                    .expect("verified")
            });
        });
    }
    // The floor of the audit: an apply's records (one per plugin, one for
    // the apply) chained and made durable by one commit.
    let audit_dir = setup.dir.path().join("audit");
    std::fs::create_dir_all(&audit_dir).expect("a directory");
    let sink = FileSink::open(audit_dir.join("audit.log"), Durability::OnFlush).expect("a log");
    g.bench_function("floor_audit_commit", |b| {
        b.iter(|| {
            for action in ["install", "apply"] {
                sink.try_record(AuditEvent {
                    at: std::time::SystemTime::now(),
                    plugin: "examples.echo".into(),
                    version: "1.0.0".into(),
                    what: What::Operation {
                        action: action.to_owned(),
                        detail: "Add none -> 1.0.0 in generation 1 (plan 0123456789abcdef, no approval needed)".to_owned(),
                        outcome: Outcome::Allow,
                    },
                })
                .expect("recorded");
            }
            sink.flush().expect("durable");
        });
    });
    drop(sink);
    // A generation to smoke-load.
    let dir = setup.fresh_root();
    {
        let root = InstallRoot::open(&dir).expect("the root");
        let client = root.home().open("main").expect("the client");
        let file = PlanFile::new(
            make_plan(&root, &client, "main", &install("examples.echo")).expect("a plan"),
        );
        let path = dir.join("plan.json");
        file.write(&path).expect("the plan file");
        apply(&root, &file, &path, &client).expect("applied");
    }
    let plugins = dir.join("current/plugins");
    g.bench_function("smoke_load", |b| {
        b.iter(|| sharelife_install::smoke::smoke_load(black_box(&plugins), None).expect("smoke"));
    });
    g.finish();
}

criterion_group!(benches, plan, apply_group);
criterion_main!(benches);
