//! `cargo xtask setup` on a machine whose Python refuses `pip install` (PEP 668, as Debian's,
//! Ubuntu's and Homebrew's do): zig and cargo-zigbuild go into a virtual environment under
//! the target folder, and dist then builds with them. Run for real with Debian's own Python.

use std::path::Path;

use crate::common::fixture::{narrow_path, Fixture};
use crate::common::*;

const DEBIAN_PYTHON: &str = "/usr/bin/python3";

#[test]
fn where_pip_refuses_zig_goes_into_a_virtual_environment() {
    let marker = std::fs::read_dir("/usr/lib").unwrap().flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("python3")
            && e.path().join("EXTERNALLY-MANAGED").is_file()
    });
    assert!(
        marker && Path::new(DEBIAN_PYTHON).is_file(),
        "this test needs Debian's externally managed /usr/bin/python3"
    );

    let fixture = Fixture::new("zig-venv");
    let target = fixture.root().join("own-target");
    let path_dir = TempDir::new("pep668-path");
    let bin = narrow_path(path_dir.path(), &["cargo", "rustc", "rustup"]);
    std::os::unix::fs::symlink(DEBIAN_PYTHON, bin.join("python3")).unwrap();
    let command = |args: &[&str]| {
        let mut command = xtask(fixture.root(), args);
        command.env("PATH", &bin).env("CARGO_TARGET_DIR", &target);
        command
    };

    let setup = run(&mut command(&["setup"]));
    setup.assert_ok();
    assert!(setup.stderr.contains("externally managed (PEP 668): installing into"), "{}", setup.stderr);
    let venv_bin = target.join("tools/zig-venv/bin");
    assert!(venv_bin.join("cargo-zigbuild").is_file(), "{}", setup.stderr);
    let zig = run(std::process::Command::new(venv_bin.join("python3")).args(["-m", "ziglang", "version"]));
    assert!(zig.assert_ok().stdout.trim().starts_with("0."), "{zig:?}");

    // Installed once: the next setup is quiet about it.
    let again = run(&mut command(&["setup"]));
    assert!(!again.assert_ok().stderr.contains("installing"), "{}", again.stderr);

    // dist finds them there, says so in its plan, and cross-compiles with them.
    let plan = run(&mut command(&["dist", "--dry-run", "--no-image", "--platform", "linux/arm64"]));
    assert!(plan.assert_ok().stdout.contains("tools/zig-venv/bin first on PATH"), "{}", plan.stdout);
    let context = fixture.root().join("ctx");
    let args = ["dist", "--no-image", "--platform", "linux/arm64", "--out", context.to_str().unwrap()];
    run(&mut command(&args)).assert_ok();
    let header = std::fs::read(context.join("arm64/linux/hello")).unwrap();
    assert_eq!(&header[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([header[18], header[19]]), 183, "EM_AARCH64");
}
