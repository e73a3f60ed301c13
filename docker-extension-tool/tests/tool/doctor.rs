//! `cargo xtask doctor`, on machines narrowed to lack tools: each missing one is named with
//! the command that fixes it, and the exit code says whether dist can build the image.

use crate::common::fixture::{narrow_path, Fixture};
use crate::common::*;

fn doctor(dir: &std::path::Path, path: std::ffi::OsString, standin: Option<&StandInDocker>) -> Output {
    let mut command = xtask(dir, &["doctor"]);
    command.env("PATH", path);
    if let Some(standin) = standin {
        command.env("STANDIN_DIR", standin.dir.path());
    }
    run(&mut command)
}

/// The line doctor printed for a prerequisite.
fn line<'a>(output: &'a Output, name: &str) -> &'a str {
    output
        .stdout
        .lines()
        .find(|l| l.get(9..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no line for {name}:\n{}\n--- stderr\n{}", output.stdout, output.stderr))
}

#[test]
fn a_bare_machine_gets_a_fix_for_each_missing_tool() {
    let temp = TempDir::new("doctor-bare");
    let path = narrow_path(temp.path(), &["cargo", "rustc"]).into_os_string();
    let output = doctor(&repo_root(), path, None);
    assert_eq!(output.code, 1, "{output:?}");
    for (name, fix) in [
        ("rustup", "fix: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"),
        ("zig", "fix: python3 -m pip install ziglang"),
        ("cargo-zigbuild", "fix: cargo install --locked cargo-zigbuild"),
        ("docker", "fix: install Docker Desktop: https://docs.docker.com/desktop/"),
        ("docker buildx", "fix: Docker Desktop includes buildx"),
        ("podman or buildah", "fix: sudo apt-get install buildah"),
        ("node", "fix: install Node.js 20.19 or later"),
        ("npm", "fix: it comes with Node.js"),
        // zig and cargo-zigbuild come from PyPI: the Python they need, for Linux.
        ("python", "fix: install Python 3 with pip from your distribution (Debian, Ubuntu: apt-get install python3-pip python3-venv)"),
    ] {
        let line = line(&output, name);
        assert!(line.starts_with("missing  "), "{line}");
        assert!(line.contains(fix), "{line} should contain {fix}");
    }
    // The targets are installed (read from the sysroot, no rustup needed).
    assert!(line(&output, "target x86_64-apple-darwin").starts_with("ok "));
    assert!(output.stderr.contains("cargo xtask dist cannot run yet"), "{}", output.stderr);
}

#[test]
fn a_missing_target_is_fixed_with_rustup_target_add() {
    let fixture = Fixture::new("doctor-target");
    fixture.edit(
        "Cargo.toml",
        "windows = false",
        "windows = false\nlinux = { amd64 = \"x86_64-unknown-linux-gnux32\" }",
    );
    let output = doctor(fixture.root(), std::env::var_os("PATH").unwrap(), None);
    let line = line(&output, "target x86_64-unknown-linux-gnux32");
    assert!(
        line.starts_with("missing  ") && line.ends_with("fix: rustup target add x86_64-unknown-linux-gnux32"),
        "{line}"
    );
    // rustup is there to add it, so dist can still run.
    assert!(line_ok(&output, "rustup"));
}

fn line_ok(output: &Output, name: &str) -> bool {
    line(output, name).starts_with("ok ")
}

#[test]
fn a_builder_that_cannot_export_two_platforms_is_named_with_the_fix_and_buildah_still_builds() {
    let standin = StandInDocker::new();
    let temp = TempDir::new("doctor-builder");
    let tools = narrow_path(
        temp.path(),
        &["cargo", "rustc", "rustup", "cargo-zigbuild", "python3", "node", "npm", "buildah"],
    );
    let path = std::env::join_paths([standin.dir.path().to_path_buf(), tools]).unwrap();
    let mut command = xtask(&repo_root(), &["doctor"]);
    command
        .env("PATH", &path)
        .env("STANDIN_DIR", standin.dir.path())
        .env("STANDIN_DRIVER", "docker")
        .env("STANDIN_DRIVER_STATUS", "[[Backing Filesystem extfs]]");
    let output = run(&mut command);
    assert_eq!(output.code, 0, "buildah can build the image: {output:?}");
    let builder = line(&output, "buildx builder desktop-linux exports linux/amd64 + linux/arm64");
    assert!(builder.starts_with("missing  "), "{builder}");
    assert!(builder.contains("uses the `docker` driver with the classic image store"), "{builder}");
    assert!(
        builder.ends_with("fix: docker buildx create --name extensions --driver docker-container --use"),
        "{builder}"
    );
    assert!(line_ok(&output, "docker extension"));
    assert!(
        output.stdout.contains("cargo xtask dist can build the image (with podman or buildah)."),
        "{}",
        output.stdout
    );
}

#[test]
fn everything_present_exits_zero() {
    let standin = StandInDocker::new();
    let output = doctor(&repo_root(), standin.path_var(), Some(&standin));
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output
            .stdout
            .lines()
            .all(|l| l.is_empty() || l.starts_with("ok ") || l.starts_with("cargo xtask dist")),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("can build the image (with docker buildx)"), "{}", output.stdout);
}

#[test]
fn the_compiler_is_checked_against_the_pinned_toolchain() {
    // This repository: the toolchain rust-toolchain.toml pins runs.
    let output = doctor(&repo_root(), std::env::var_os("PATH").unwrap(), None);
    let pinned = line(&output, "rust toolchain");
    assert!(pinned.starts_with("ok ") && pinned.contains("rust-toolchain.toml pins 1.95.0"), "{pinned}");

    // A workspace pinned to a toolchain this machine does not have.
    let fixture = Fixture::new("doctor-toolchain");
    std::fs::write(fixture.root().join("rust-toolchain.toml"), "[toolchain]\nchannel = \"1.94.0\"\n")
        .unwrap();
    // Run as `cargo +1.95.0 xtask doctor` runs it: rustup's override in the environment.
    let mut command = xtask(fixture.root(), &["doctor"]);
    command.env("RUSTUP_TOOLCHAIN", "1.95.0");
    let output = run(&mut command);
    let differs = line(&output, "rust toolchain");
    assert!(differs.starts_with("differs  "), "{differs}");
    for says in [
        "rustc 1.95.0",
        "RUSTUP_TOOLCHAIN=1.95.0 is set",
        "rust-toolchain.toml pins 1.94.0",
        "fix: rustup toolchain install",
    ] {
        assert!(differs.contains(says), "{differs} should say {says}");
    }
    // (With no override and rustup's auto-install off, cargo itself refuses to start:
    // rustup's message, before any xtask code runs; `.ci/run` installs the pin first.)
}
