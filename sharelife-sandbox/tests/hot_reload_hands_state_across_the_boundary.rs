//! A hot reload of a sandboxed plugin hands the old child's
//! `save_state` to the new child's `restore_state`, across the process
//! boundary both ways: the echo plugin's call counter goes on counting in
//! the new child. A plugin loaded in process whose config says
//! `isolation = "process"` is reloaded into a child, its state handed
//! from the host's process into it. A stopped sandboxed plugin has no
//! child and no state;
//! a state over the bound is refused with a typed error and the child
//! goes on.

#[path = "support/reload.rs"]
mod reload;
mod support;

use sharelife_core::{ContextData, ErrorKind, HandlerId, Plugin, PluginContext, PluginState};
use sharelife_sandbox::{Feature, MAX_STATE, Requirements, SandboxedPlugin};
use support::{kernel_gives, limits};

const ID: &str = "examples.echo";
const BOTH: [Feature; 2] = [Feature::Landlock, Feature::Seccomp];

type Count = serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_counter_goes_on_in_the_new_child() {
    if !kernel_gives("the_call_counter_goes_on_in_the_new_child", &BOTH) {
        return;
    }
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let host = reload::sandboxing_host(dirs.path(), |b| b);
    let old = reload::copy(dirs.path(), "example-echo", "echo-1.so");
    reload::load_sandboxed(&host, &old, &limits()).await;
    let handle = host.handle(ID).unwrap();
    for expected in 1..=3 {
        let count: Count = handle.call_json("count", &()).await.unwrap();
        assert_eq!(count["calls"], expected);
    }

    let new = reload::copy(dirs.path(), "example-echo", "echo-2.so");
    let report = host.reload(ID, &new).await.expect("hot-reloaded");
    assert_eq!(report.state, Some(8), "an 8-byte counter: {report:?}");
    assert_eq!(host.plugins().state(ID), Some(PluginState::Active));

    let count: Count = handle.call_json("count", &()).await.unwrap();
    assert_eq!(count["calls"], 4, "the new child went on from 3");
    // A new instance: its metrics start afresh.
    let metrics = host.metrics().of(ID).unwrap();
    assert_eq!(metrics.handler("count").unwrap().calls, 1);
    // Neither version was opened in the host's process.
    assert_eq!(sharelife_core::loader::is_mapped(&old), Some(false));
    assert_eq!(sharelife_core::loader::is_mapped(&new), Some(false));
    host.shutdown().await;
    sharelife_core::audit::verify(reload::audit_log(dirs.path()))
        .expect("the audit log's chain holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_plugin_the_config_sandboxes_is_hot_reloaded_into_a_child_with_its_state() {
    if !kernel_gives(
        "an_in_process_plugin_the_config_sandboxes_is_hot_reloaded_into_a_child_with_its_state",
        &BOTH,
    ) {
        return;
    }
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let mut settings = sharelife_core::host::PluginSettings::default();
    settings.isolation = Some(sharelife_core::host::isolation::IsolationKind::Process);
    settings.limits = Some(limits());
    let host = reload::sandboxing_host(dirs.path(), |b| b.plugin(ID, settings));
    // Loaded in process by hand (`Host::load` does not ask the config)…
    let old = reload::copy(dirs.path(), "example-echo", "echo-1.so");
    host.load(&old).await.unwrap();
    host.start(ID).await.unwrap();
    assert_eq!(sharelife_core::loader::is_mapped(&old), Some(true));
    let handle = host.handle(ID).unwrap();
    for _ in 0..2 {
        let _: Count = handle.call_json("count", &()).await.unwrap();
    }

    // …a new version goes where the config says: out of process, its
    // state handed from the host's process into the child.
    let new = reload::copy(dirs.path(), "example-echo", "echo-2.so");
    let report = host.reload(ID, &new).await.expect("hot-reloaded");
    assert_eq!(report.state, Some(8), "{report:?}");
    assert_eq!(sharelife_core::loader::is_mapped(&new), Some(false));
    assert_eq!(sharelife_core::loader::is_mapped(&old), Some(false));
    let count: Count = handle.call_json("count", &()).await.unwrap();
    assert_eq!(count["calls"], 3, "the child went on from 2");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_sandboxed_plugin_has_no_state_to_hand_over_and_stays_stopped() {
    if !kernel_gives(
        "a_stopped_sandboxed_plugin_has_no_state_to_hand_over_and_stays_stopped",
        &BOTH,
    ) {
        return;
    }
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let host = reload::sandboxing_host(dirs.path(), |b| b);
    let old = reload::copy(dirs.path(), "example-echo", "echo-1.so");
    reload::load_sandboxed(&host, &old, &limits()).await;
    let _: Count = host
        .handle(ID)
        .unwrap()
        .call_json("count", &())
        .await
        .unwrap();
    // Stopping ends the child: nothing of its memory is left.
    host.stop(ID).await.unwrap();

    let new = reload::copy(dirs.path(), "example-echo", "echo-2.so");
    let report = host.reload(ID, &new).await.expect("hot-reloaded");
    assert_eq!(report.state, None, "{report:?}");
    assert_eq!(host.plugins().state(ID), Some(PluginState::Inactive));
    host.start(ID).await.unwrap();
    let count: Count = host
        .handle(ID)
        .unwrap()
        .call_json("count", &())
        .await
        .unwrap();
    assert_eq!(count["calls"], 1, "started afresh");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_over_the_bound_is_refused_before_it_crosses_and_the_child_goes_on() {
    if !kernel_gives(
        "a_state_over_the_bound_is_refused_before_it_crosses_and_the_child_goes_on",
        &BOTH,
    ) {
        return;
    }
    let plugin = SandboxedPlugin::spawn(
        support::built_library("example-echo"),
        &limits(),
        &Requirements::new(BOTH),
    )
    .expect("a sandboxed echo");
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let ctx = PluginContext::local(ContextData {
        plugin_id: ID.to_owned(),
        config: serde_json::Value::Null,
        data_dir: dirs.path().join("data"),
        temp_dir: dirs.path().join("tmp"),
    });
    plugin.initialize(&ctx).await.expect("initialized");
    let pid = plugin.pid();

    let error = plugin
        .restore_state(&ctx, &vec![0; MAX_STATE + 1])
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(error.message().contains("64 MiB"), "{error}");
    assert_eq!(plugin.pid(), pid, "the same child");

    // The child goes on: a state within the bound is restored, handed
    // back by `save_state`, and the plugin starts with it.
    plugin
        .restore_state(&ctx, &41_u64.to_le_bytes())
        .await
        .expect("restored");
    assert_eq!(
        plugin.save_state(&ctx).await.expect("saved"),
        41_u64.to_le_bytes()
    );
    plugin.start(&ctx).await.expect("started");
    let count = plugin_call(&plugin, &ctx, "count");
    assert_eq!(count, br#"{"calls":42}"#);
    plugin.cleanup(&ctx).await.expect("cleaned up");
    assert_eq!(plugin.pid(), None, "the child is gone");
}

fn plugin_call(plugin: &SandboxedPlugin, ctx: &PluginContext, handler: &str) -> Vec<u8> {
    let id = HandlerId::by_name(plugin.manifest(), handler).expect("the handler");
    let mut out = sharelife_core::Buffer::new();
    plugin
        .call(ctx, id, b"", &mut out)
        .expect("the call answers");
    out.as_slice().to_vec()
}
