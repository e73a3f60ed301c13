//! The tools a build needs: rustup targets, zig and cargo-zigbuild, cross. `dist` installs
//! what is missing when it can, and otherwise names the exact command; `doctor` reports.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use camino::Utf8PathBuf;
use xshell::{cmd, Shell};

use crate::machine::{runs, version};

pub const ZIGBUILD_PIP: &str = "python3 -m pip install cargo-zigbuild";
pub const ZIGBUILD_CARGO: &str = "cargo install --locked cargo-zigbuild";
pub const ZIG_PIP: &str = "python3 -m pip install ziglang";
pub const CROSS_INSTALL: &str = "cargo install cross --git https://github.com/cross-rs/cross";

pub fn has_rustup(sh: &Shell) -> bool {
    runs(sh, "rustup", &["--version"])
}

/// The targets whose standard library is installed for the active toolchain. Read from the
/// sysroot, so it works with or without rustup.
pub fn installed_targets(sh: &Shell) -> anyhow::Result<BTreeSet<String>> {
    let sysroot =
        cmd!(sh, "rustc --print sysroot").quiet().read().context("running `rustc --print sysroot`")?;
    let rustlib = Utf8PathBuf::from(sysroot.trim()).join("lib/rustlib");
    let mut targets = BTreeSet::new();
    for entry in std::fs::read_dir(&rustlib).with_context(|| format!("reading {rustlib}"))? {
        let path = entry?.path();
        if path.join("lib").is_dir() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                targets.insert(name.to_string());
            }
        }
    }
    Ok(targets)
}

/// Adds the missing targets with rustup, or says exactly how when rustup is absent.
pub fn ensure_targets(sh: &Shell, targets: &BTreeSet<String>) -> anyhow::Result<()> {
    let installed = installed_targets(sh)?;
    let missing: Vec<&str> = targets.iter().filter(|t| !installed.contains(*t)).map(String::as_str).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !has_rustup(sh) {
        bail!(
            "the Rust target{} {list} {} not installed, and rustup is not on PATH to add {}: \
             install rustup (https://rustup.rs) and run `rustup target add {list}`, or install \
             {} with your Rust distribution",
            plural(missing.len()),
            if missing.len() == 1 { "is" } else { "are" },
            if missing.len() == 1 { "it" } else { "them" },
            if missing.len() == 1 { "its standard library" } else { "their standard libraries" },
        );
    }
    eprintln!("    adding missing target{}: rustup target add {list}", plural(missing.len()));
    cmd!(sh, "rustup target add {missing...}")
        .quiet()
        .run()
        .with_context(|| format!("`rustup target add {list}` failed; is each a target rustc supports (`rustc --print target-list`)?"))?;
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// zig's version: cargo-zigbuild finds zig on PATH, or the `ziglang` Python package.
pub fn zig_version(sh: &Shell) -> Option<String> {
    version(sh, "zig", &["version"]).or_else(|| version(sh, "python3", &["-m", "ziglang", "version"]))
}

pub fn has_zig(sh: &Shell) -> bool {
    zig_version(sh).is_some()
}

pub fn has_zigbuild(sh: &Shell) -> bool {
    runs(sh, "cargo-zigbuild", &["--version"])
}

pub fn has_pip(sh: &Shell) -> bool {
    runs(sh, "python3", &["-m", "pip", "--version"])
}

/// Installs zig and cargo-zigbuild when missing: from PyPI when pip works (one package
/// brings both, in seconds), else cargo-zigbuild from crates.io.
pub fn ensure_zigbuild(sh: &Shell) -> anyhow::Result<()> {
    let (zig, zigbuild) = (has_zig(sh), has_zigbuild(sh));
    if zig && zigbuild {
        return Ok(());
    }
    let pip = has_pip(sh);
    if !zigbuild {
        let install = if pip { ZIGBUILD_PIP } else { ZIGBUILD_CARGO };
        eprintln!("    cargo-zigbuild is missing; installing it: {install}");
        let ok = if pip {
            cmd!(sh, "python3 -m pip install --quiet --disable-pip-version-check cargo-zigbuild")
                .quiet()
                .run()
                .is_ok()
        } else {
            cmd!(sh, "cargo install --locked cargo-zigbuild").quiet().run().is_ok()
        };
        if !ok && pip {
            eprintln!("    pip could not install it; trying: {ZIGBUILD_CARGO}");
            let _ = cmd!(sh, "cargo install --locked cargo-zigbuild").quiet().run();
        }
    }
    if !has_zig(sh) && pip {
        eprintln!("    zig is missing; installing it: {ZIG_PIP}");
        let _ = cmd!(sh, "python3 -m pip install --quiet --disable-pip-version-check ziglang").quiet().run();
    }
    let (zig, zigbuild) = (has_zig(sh), has_zigbuild(sh));
    if !zigbuild {
        bail!(
            "cargo-zigbuild, which cross-compiles the extension's binaries, is not installed and \
             could not be installed here: install it with `{ZIGBUILD_PIP}` (brings zig too) or \
             `{ZIGBUILD_CARGO}`, and make sure the folder it lands in is on PATH"
        );
    }
    if !zig {
        bail!(
            "zig, the linker cargo-zigbuild drives, is not installed and could not be installed \
             here: install it with `{ZIG_PIP}`, or from https://ziglang.org/download/ onto PATH"
        );
    }
    Ok(())
}

pub fn has_cross(sh: &Shell) -> bool {
    runs(sh, "cross", &["--version"])
}

pub fn ensure_cross(sh: &Shell) -> anyhow::Result<()> {
    if !has_cross(sh) {
        bail!(
            "the config or --build-with asks for cross, which is not installed: install it with \
             `{CROSS_INSTALL}` (it runs builds in containers, so it also needs docker or podman)"
        );
    }
    Ok(())
}
