//! Extension packs through the library: a running host follows a pack's
//! apply and the rollback after it with `Host::sync_generation`, and the
//! rollback restores the parent generation by digest.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use sharelife_core::host::Host;
use sharelife_install::pack::{self, ExportOptions, Pack};
use sharelife_install::{InstallRoot, PlanFile};
use support::World;

fn started(host: &Host) -> Vec<String> {
    let mut ids: Vec<String> = host
        .plugins()
        .list()
        .into_iter()
        .map(|p| p.id.to_string())
        .collect();
    ids.sort();
    ids
}

/// Plans `pack` on `root` (approving it with the admin key when it needs
/// it) and applies it; the new generation's number.
fn apply(world: &World, root: &InstallRoot, pack: &Pack) -> u64 {
    let home = root.home();
    let (plan, clients) = pack::plan_pack(root, pack, &mut |name| home.open(name), true).unwrap();
    let path = world.dir.join("pack-plan.json");
    PlanFile::new(plan).write(&path).unwrap();
    let mut file = PlanFile::read(&path).unwrap();
    if file.plan.admin.required {
        sharelife_install::approve(root, &path, &world.admin).unwrap();
        file = PlanFile::read(&path).unwrap();
    }
    pack::apply_pack(root, &file, &path, pack, &clients)
        .unwrap()
        .generation
}

#[test]
fn a_running_host_follows_a_pack_and_the_rollback_after_it() {
    let world = World::with(&["example-echo", "example-upper"]);
    // The setup to share: echo and upper, a host config with a policy.
    fs::write(
        world.install_root.join("host.toml"),
        "plugin_paths = [\"current/plugins\"]\n\n[[policy.rules]]\neffect = \"allow\"\nplugin = \"examples.upper\"\nkind = \"file\"\naccess = \"read\"\npath = \"notes/*.txt\"\n",
    )
    .unwrap();
    world.write_config("[host]\nconfig = \"host.toml\"\n");
    world.install(&["examples.echo", "examples.upper"]);
    let exported = {
        let root = world.root();
        pack::export(
            &root,
            &ExportOptions {
                key: Some(&world.admin),
                ..ExportOptions::default()
            },
        )
        .unwrap()
    };
    let pack = Pack::from_bytes(&exported.bytes, "setup.slpack").unwrap();

    // Machine B: only echo, and a host running on its current generation.
    let b = world.dir.join("machine-b");
    fs::create_dir_all(&b).unwrap();
    fs::copy(world.dir.join("keys/admin.pub"), b.join("admin.pub")).unwrap();
    fs::write(b.join("install.toml"), "[admin]\nkeys = [\"admin.pub\"]\n").unwrap();
    sharelife_registry::Home::new(&b)
        .add("main", &world.server.url(), &world.registry.root_path())
        .unwrap();
    let root = InstallRoot::open(&b).unwrap();
    root.trust_key(&world.dir.join("keys/admin.pub")).unwrap();
    let op = sharelife_install::Operation::Install(vec!["examples.echo".parse().unwrap()]);
    let client = root.home().open("main").unwrap();
    let plan = sharelife_install::make_plan(&root, &client, "main", &op).unwrap();
    let path = world.dir.join("b-plan.json");
    let file = PlanFile::new(plan);
    file.write(&path).unwrap();
    let first = sharelife_install::apply(&root, &file, &path, &client)
        .unwrap()
        .generation;
    let first_files = snapshot(&b.join("generations").join(first.to_string()));

    let scratch = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The registry client blocks on its own runtime: installs run outside
    // the host's, as they do in their own process.
    let host = runtime.block_on(async {
        let host = Host::builder()
            .plugin_path(b.join("current/plugins"))
            .data_root(scratch.path().join("data"))
            .temp_root(scratch.path().join("tmp"))
            .build()
            .unwrap();
        let boot = host.boot().await.unwrap();
        assert!(boot.failed.is_empty(), "{:?}", boot.failed);
        host
    });
    assert_eq!(started(&host), ["examples.echo"]);

    // The pack: upper comes, with the pack's policy (an approval: it
    // widens the policy), and the host follows.
    let second = apply(&world, &root, &pack);
    let g = root.generation(second).unwrap();
    assert_eq!(g.parent, Some(first));
    assert!(g.files.contains_key("host.toml"), "{:?}", g.files);
    let report = runtime.block_on(host.sync_generation()).unwrap();
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(started(&host), ["examples.echo", "examples.upper"]);

    // Rollback: the parent, verified by digest, and the host follows.
    let back = sharelife_install::rollback(&root, None).unwrap();
    assert_eq!((back.from, back.to), (second, first));
    let report = runtime.block_on(host.sync_generation()).unwrap();
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(started(&host), ["examples.echo"]);
    runtime.block_on(host.shutdown());
    assert_eq!(
        snapshot(&b.join("generations").join(first.to_string())),
        first_files
    );
    assert!(!b.join("current/host.toml").exists());

    // A changed settings file is caught by the digests: rollback refuses.
    fs::write(
        b.join("generations")
            .join((first + 1).to_string())
            .join("host.toml"),
        "plugin_paths = [\"plugins\"]\n",
    )
    .unwrap();
    let e = sharelife_install::rollback(&root, Some(first + 1)).unwrap_err();
    assert!(e.to_string().contains("host.toml"), "{e}");
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn a_plan_file_cannot_smuggle_settings_the_pack_does_not_give() {
    let world = World::with(&["example-echo"]);
    world.install(&["examples.echo"]);
    let root = world.root();
    root.trust_key(&world.dir.join("keys/admin.pub")).unwrap();
    let exported = pack::export(
        &root,
        &ExportOptions {
            key: Some(&world.admin),
            ..ExportOptions::default()
        },
    )
    .unwrap();
    let pack = Pack::from_bytes(&exported.bytes, "setup.slpack").unwrap();
    let home = root.home();
    let (plan, clients) = pack::plan_pack(&root, &pack, &mut |n| home.open(n), true).unwrap();
    // Nothing widens: no admin needed, nothing to approve.
    assert!(!plan.admin.required, "{:?}", plan.admin);

    // A crafted plan (a fresh digest over edited contents) whose host
    // config grants more, or whose pipelines are not the pack's.
    let path = world.dir.join("crafted.json");
    let mut crafted = plan.clone();
    crafted.pack.as_mut().unwrap().host_config.push_str(
        "\n[[policy.rules]]\neffect = \"allow\"\nplugin = \"*\"\nkind = \"command\"\nargv = [\"sh\"]\n",
    );
    let file = PlanFile::new(crafted);
    let e = pack::apply_pack(&root, &file, &path, &pack, &clients).unwrap_err();
    assert!(
        matches!(e, sharelife_install::InstallError::StalePlan { .. }),
        "{e}"
    );
    let mut crafted = plan.clone();
    crafted
        .pack
        .as_mut()
        .unwrap()
        .pipelines
        .insert("extra.yaml".to_owned(), "schema_version: x\n".to_owned());
    let file = PlanFile::new(crafted);
    let e = pack::apply_pack(&root, &file, &path, &pack, &clients).unwrap_err();
    assert!(
        matches!(e, sharelife_install::InstallError::PlanTampered { .. }),
        "{e}"
    );
    // The honest plan applies.
    let file = PlanFile::new(plan);
    pack::apply_pack(&root, &file, &path, &pack, &clients).unwrap();
}
