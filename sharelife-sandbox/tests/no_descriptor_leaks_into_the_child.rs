//! A descriptor the host leaks (opened without close-on-exec) does not
//! reach the plugin: the runner closes everything it inherited but its
//! socket and standard streams. (One test in this file: the leak must not
//! reach other tests' children.)

mod support;

use std::os::fd::AsFd;

use rustix::io::{FdFlags, fcntl_getfd, fcntl_setfd};
use sharelife_sandbox::Feature;
use support::{kernel_gives, limits, sandboxed, text};

#[test]
fn a_leaked_descriptor_is_closed_in_the_child() {
    if !kernel_gives(
        "a_leaked_descriptor_is_closed_in_the_child",
        &[Feature::Landlock, Feature::Seccomp],
    ) {
        return;
    }
    let secret = tempfile::tempfile().expect("a file");
    fcntl_setfd(secret.as_fd(), FdFlags::empty()).expect("leakable");
    assert!(
        !fcntl_getfd(secret.as_fd())
            .unwrap()
            .contains(FdFlags::CLOEXEC)
    );

    let sandbox = sandboxed(&limits());
    let open = text(sandbox.call("open_fds", b"").expect("answers"));
    println!("open in the child: {open}");
    // Standard input, output, error, and the socket's duplicate.
    assert_eq!(open, "0 1 2 3");
}
