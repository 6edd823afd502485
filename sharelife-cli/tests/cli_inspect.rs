//! `sharelife inspect` on a real plugin library and on junk.

mod common;
use common::sharelife;

fn echo_library() -> String {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .join("libexample_echo.so")
        .display()
        .to_string()
}

#[test]
fn inspect_prints_what_the_plugin_is_needs_and_asks_for() {
    let (code, out, err) = sharelife(&["inspect", &echo_library()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("examples.echo 1.0.0\n"), "{out}");
    assert!(
        out.contains("  plugin api   ^0.1 (this host can load it)\n"),
        "{out}"
    );
    assert!(
        out.contains("  handlers     echo, upper, greet, count\n"),
        "{out}"
    );
    assert!(out.contains("  risk label   low\n"), "{out}");
}

#[test]
fn inspect_json_is_machine_readable() {
    let (code, out, _) = sharelife(&["inspect", "--json", &echo_library()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], "examples.echo");
    assert_eq!(v["compatible"], true);
    assert_eq!(v["handlers"][1]["name"], "upper");
}

#[test]
fn inspect_refuses_a_file_that_is_not_a_plugin() {
    let junk = std::env::temp_dir().join(format!("sharelife-junk-{}.so", std::process::id()));
    std::fs::write(&junk, "junk").unwrap();
    let (code, out, err) = sharelife(&["inspect", junk.to_str().unwrap()]);
    std::fs::remove_file(&junk).unwrap();
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(
        err,
        format!(
            "error: {} is not a shared library: its format is not ELF, Mach-O or PE\nhint: point at the built library (target/debug/lib<name>.so)\n",
            junk.display()
        )
    );
}

#[test]
fn a_wrong_command_line_exits_with_2() {
    let (code, _, err) = sharelife(&["inspect"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Usage: sharelife inspect"), "{err}");
}
