//! A command's environment is clean, whatever the host's holds: no
//! secrets, no `LD_PRELOAD`, only a fixed `PATH`. One test in this binary,
//! because it changes the process environment.

mod common;

use common::*;
use sharelife_core::capability::Policy;
use sharelife_core::services::{Backends, CommandRequest};

#[tokio::test]
async fn the_environment_is_clean_whatever_the_host_has() {
    // SAFETY: this binary runs this one test, before any other thread of
    // ours reads the environment.
    unsafe {
        std::env::set_var("SHARELIFE_TEST_SECRET", "hunter2");
        std::env::set_var("LD_PRELOAD", "/nonexistent/evil.so");
    }
    let dir = Scratch::new();
    let (ctx, _, _) = gated(
        &manifest(vec![cmd(&["env"])]),
        &Policy::new().allow(PLUGIN, cmd(&["env"])),
        dir.path(),
        Backends::new(),
    );
    let out = ctx.run(CommandRequest::new(["env"])).await.unwrap();
    let env = String::from_utf8(out.stdout).unwrap();
    assert_eq!(env.trim(), "PATH=/usr/local/bin:/usr/bin:/bin", "{env}");
    // The plugin cannot smuggle variables in through argv either: without
    // a shell, `VAR=value` is just a (denied) program name.
    let err = ctx
        .run(CommandRequest::new(["LD_PRELOAD=/x.so", "env"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), sharelife_core::ErrorKind::Denied);
}
