//! Compile-time behaviour of `#[plugin]` and `#[handler]`: what compiles,
//! and the exact error for each misuse (`tests/ui/fail/*.stderr`).
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p sharelife-macros --test ui`, then read
//! every changed `.stderr` as a plugin author would.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
