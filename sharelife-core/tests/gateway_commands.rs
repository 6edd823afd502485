//! Running programs through the gateway: real processes, argv-prefix
//! grants, no shell, a clean environment, timeouts and output limits.

mod common;

use std::time::Duration;

use common::*;
use sharelife_core::ErrorKind;
use sharelife_core::capability::Policy;
use sharelife_core::services::{Backends, CommandRequest};

fn ctx(
    dir: &Scratch,
    requested: Vec<sharelife_core::manifest::Capability>,
    policy: Policy,
) -> sharelife_core::PluginContext {
    gated(&manifest(requested), &policy, dir.path(), Backends::new()).0
}

#[tokio::test]
async fn an_allowed_prefix_runs_a_real_process() {
    let dir = Scratch::new();
    let ctx = ctx(
        &dir,
        vec![cmd(&["echo", "hello"])],
        Policy::new().allow(PLUGIN, cmd(&["echo"])),
    );
    let out = ctx
        .run(CommandRequest::new(["echo", "hello", "world"]))
        .await
        .unwrap();
    assert_eq!(out.status, Some(0));
    assert_eq!(out.stdout, b"hello world\n");
    // Requested `echo hello`: `echo goodbye` was never requested.
    let err = ctx
        .run(CommandRequest::new(["echo", "goodbye"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
}

#[tokio::test]
async fn prefix_tricks_are_denied() {
    let dir = Scratch::new();
    let ctx = ctx(
        &dir,
        vec![cmd(&["git", "status"])],
        Policy::new().allow(PLUGIN, cmd(&["git", "status"])),
    );
    for argv in [
        vec!["gitx", "status"],
        vec!["git", "-c", "core.pager=sh", "status"],
        vec!["/usr/bin/git", "status"],
        vec!["git", "statusx"],
        vec!["git"],
        vec!["GIT_DIR=/ git", "status"],
        vec!["sh", "-c", "git status"],
    ] {
        let err = ctx
            .run(CommandRequest::new(argv.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied, "{argv:?}");
    }
}

#[tokio::test]
async fn there_is_no_shell_so_metacharacters_are_plain_text() {
    let dir = Scratch::new();
    let ctx = ctx(
        &dir,
        vec![cmd(&["echo"])],
        Policy::new().allow(PLUGIN, cmd(&["echo"])),
    );
    let out = ctx
        .run(CommandRequest::new([
            "echo",
            "$(id); `id` | cat > /tmp/x && rm -rf ~",
        ]))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"$(id); `id` | cat > /tmp/x && rm -rf ~\n");
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed() {
    let dir = Scratch::new();
    let ctx = ctx(
        &dir,
        vec![cmd(&["sleep"])],
        Policy::new().allow(PLUGIN, cmd(&["sleep"])),
    );
    let mut req = CommandRequest::new(["sleep", "30"]);
    req.timeout = Duration::from_millis(100);
    let out = ctx.run(req).await.unwrap();
    assert!(out.timed_out);
    assert_eq!(out.status, None);
}

#[tokio::test]
async fn output_beyond_the_limit_is_cut_and_flagged() {
    let dir = Scratch::new();
    let ctx = ctx(
        &dir,
        vec![cmd(&["head"])],
        Policy::new().allow(PLUGIN, cmd(&["head"])),
    );
    let mut req = CommandRequest::new(["head", "-c", "100000", "/dev/zero"]);
    req.max_output = 1000;
    let out = ctx.run(req).await.unwrap();
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.truncated);
    assert_eq!(out.status, Some(0));
}
