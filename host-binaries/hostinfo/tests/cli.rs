//! hostinfo as its users run it, natively. (The Windows build runs under Wine and the
//! aarch64 Linux build under qemu-user in the xtask's end-to-end test.)
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the reason

use std::process::{Command, Output};

fn run_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hostinfo")).args(args).output().unwrap()
}

#[test]
fn json_describes_this_machine() {
    let output = run_cli(&["--json", "--tool", "cargo", "--tool", "surely-not-installed-xyz"]);
    assert!(output.status.success());
    let facts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(facts["os"], std::env::consts::OS);
    assert_eq!(facts["arch"], std::env::consts::ARCH);
    assert_eq!(facts["version"], env!("CARGO_PKG_VERSION"));
    assert!(facts["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(facts["tools"][0]["found"], true);
    assert_eq!(
        facts["tools"][1],
        serde_json::json!({ "name": "surely-not-installed-xyz", "found": false, "version": null })
    );
}

#[test]
fn text_output_help_and_version() {
    let text = String::from_utf8(run_cli(&["--no-tools"]).stdout).unwrap();
    assert!(text.starts_with("OS: ") && text.contains("CPU: "), "{text}");
    let help = run_cli(&["--help"]);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).starts_with("Usage: hostinfo"));
    let version = run_cli(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("hostinfo {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_usage_exits_2_with_a_message_on_stderr() {
    for (args, message) in [
        (&["--frobnicate"][..], "unexpected argument `--frobnicate`"),
        (&["--tool"][..], "--tool needs a program name"),
        (&["--no-tools", "--tool", "git"][..], "--no-tools and --tool contradict each other"),
    ] {
        let output = run_cli(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(&format!("hostinfo: {message}")), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage: hostinfo"));
    }
}
