//! Stopping, unloading and shutting down a host with a sandboxed plugin
//! leaves no child process behind: no process, no zombie. (One test in
//! this file, so no other test's children are counted.)

mod support;

use sharelife_core::HostError;
use sharelife_core::PluginState;
use sharelife_sandbox::{Feature, LoadSandboxedError, Requirements};
use support::{add_sandboxed, children, host, kernel_gives, limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_unload_and_shutdown_leave_no_child() {
    if !kernel_gives(
        "stop_unload_and_shutdown_leave_no_child",
        &[Feature::Landlock, Feature::Seccomp],
    ) {
        return;
    }
    let before = children();
    let (host, _dirs) = host(|b| b);

    let id = add_sandboxed(&host, &limits()).await;
    host.call(&id, "noop", b"").unwrap();
    assert_eq!(children().len(), before.len() + 1, "the child runs");
    // The host refuses a second plugin with the same id: its child is
    // ended too.
    let refused = sharelife_sandbox::load(
        &host,
        support::escape_library(),
        &limits(),
        &Requirements::new([Feature::Landlock, Feature::Seccomp]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            refused,
            LoadSandboxedError::Host(HostError::DuplicateId { .. })
        ),
        "{refused:?}"
    );
    assert_eq!(children().len(), before.len() + 1, "after a refused load");
    host.stop(&id).await.unwrap();
    assert_eq!(children(), before, "after stop");
    host.start(&id).await.unwrap();
    assert_eq!(host.plugins().state(&id), Some(PluginState::Active));
    host.call(&id, "noop", b"").unwrap();
    assert_eq!(children().len(), before.len() + 1, "started again");
    host.unload(&id).await.unwrap();
    assert_eq!(children(), before, "after unload");

    let crashed = add_sandboxed(&host, &limits()).await;
    host.call(&crashed, "segfault", b"").unwrap_err();
    let report = host.shutdown().await;
    println!("{report:?}");
    assert_eq!(children(), before, "after shutdown");
}
