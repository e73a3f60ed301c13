//! Every OS an author works on compiles the tool and the template's crates: `cargo check`
//! for Windows and macOS (x86_64-pc-windows-gnu, x86_64-apple-darwin, aarch64-apple-darwin),
//! every target and feature of the workspace (the registry client's TLS included), warnings
//! denied. What only runs on Unix is gated, with a Windows path or a clear refusal. For
//! macOS, zig (through cargo-zigbuild) is the C compiler of the TLS crates' build scripts.

use std::process::Command;

use crate::common::*;

#[test]
fn windows_and_macos_compile_the_tool_and_the_template() {
    let target_dir = repo_root().join("target/cross-os-check");
    let check = |program: &str, targets: &[&str]| {
        let mut command = Command::new(program);
        command.arg("check").args(["--workspace", "--all-targets", "--all-features", "--quiet"]);
        for target in targets {
            command.args(["--target", target]);
        }
        command
            .arg("--target-dir")
            .arg(&target_dir)
            .env("RUSTFLAGS", "-D warnings")
            .env("MACOSX_DEPLOYMENT_TARGET", "11.0")
            .current_dir(repo_root());
        let output = run(&mut command);
        assert_eq!(output.code, 0, "{program} check for {targets:?}:\n{}", output.stderr);
    };
    check("cargo", &["x86_64-pc-windows-gnu"]);
    require("cargo-zigbuild");
    check("cargo-zigbuild", &["x86_64-apple-darwin", "aarch64-apple-darwin"]);
}
