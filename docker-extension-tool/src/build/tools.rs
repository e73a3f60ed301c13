//! The tools a build needs: rustup targets, zig and cargo-zigbuild, cross. `dist` installs
//! what is missing when it can, and otherwise names the exact command; `doctor` reports.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{cmd, Shell};

use crate::model::targets::Builder;
use crate::plan::image::RegistryClient;
use crate::plan::CargoRun;
use crate::workspace::machine::{runs, version, zig_venv, zig_venv_bin};

/// The versions dist installs: a pinned toolchain is part of "the same sources give the
/// same image digest" (a newer zig may lay out a binary differently).
pub(crate) const ZIGBUILD_VERSION: &str = "cargo-zigbuild==0.24.1";
pub(crate) const ZIG_VERSION: &str = "ziglang==0.17.1";
pub(crate) const ZIGBUILD_PIP: &str = "python3 -m pip install cargo-zigbuild==0.24.1 ziglang==0.17.1";
pub(crate) const ZIGBUILD_CARGO: &str = "cargo install --locked cargo-zigbuild --version 0.24.1";
pub(crate) const ZIG_PIP: &str = "python3 -m pip install ziglang==0.17.1";
pub(crate) const CROSS_INSTALL: &str = "cargo install cross --git https://github.com/cross-rs/cross";

pub(crate) fn has_rustup(sh: &Shell) -> bool {
    runs(sh, "rustup", &["--version"])
}

/// The targets whose standard library is installed for the active toolchain. Read from the
/// sysroot, so it works with or without rustup.
pub(crate) fn installed_targets(sh: &Shell) -> anyhow::Result<BTreeSet<String>> {
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
pub(crate) fn ensure_targets(sh: &Shell, targets: &BTreeSet<String>) -> anyhow::Result<()> {
    ensure_targets_of(sh, targets, &installed_targets(sh)?)
}

/// The same, with the installed targets already read.
fn ensure_targets_of(
    sh: &Shell,
    targets: &BTreeSet<String>,
    installed: &BTreeSet<String>,
) -> anyhow::Result<()> {
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
pub(crate) fn zig_version(sh: &Shell) -> Option<String> {
    version(sh, "zig", &["version"]).or_else(|| version(sh, "python3", &["-m", "ziglang", "version"]))
}

pub(crate) fn has_zig(sh: &Shell) -> bool {
    zig_version(sh).is_some()
}

pub(crate) fn has_zigbuild(sh: &Shell) -> bool {
    runs(sh, "cargo-zigbuild", &["--version"])
}

pub(crate) fn has_pip(sh: &Shell) -> bool {
    runs(sh, "python3", &["-m", "pip", "--version"])
}

/// Puts the zig virtual environment first on the shell's PATH, when setup made one: its
/// `cargo-zigbuild`, and the `python3` whose `-m ziglang` finds zig. Returns its bin folder.
pub(crate) fn activate_zig_venv(sh: &Shell, tools: &Utf8Path) -> Option<Utf8PathBuf> {
    let bin = zig_venv_bin(tools)?;
    let path = std::env::join_paths(
        std::iter::once(bin.clone().into_std_path_buf())
            .chain(std::env::split_paths(&sh.var_os("PATH").unwrap_or_default())),
    )
    .ok()?;
    sh.set_var("PATH", path);
    Some(bin)
}

/// Installs zig and cargo-zigbuild when missing: from PyPI (one package brings both, in
/// seconds) into the user's Python, or into a virtual environment under `tools` where that
/// Python is externally managed; else cargo-zigbuild from crates.io.
pub(crate) fn ensure_zigbuild(sh: &Shell, tools: &Utf8Path) -> anyhow::Result<()> {
    activate_zig_venv(sh, tools);
    if has_zig(sh) && has_zigbuild(sh) {
        return Ok(());
    }
    if has_pip(sh) {
        eprintln!("    zig or cargo-zigbuild is missing; installing them: {ZIGBUILD_PIP}");
        let pip = cmd!(
            sh,
            "python3 -m pip install --quiet --disable-pip-version-check {ZIGBUILD_VERSION} {ZIG_VERSION}"
        )
        .quiet()
        .ignore_status()
        .output()?;
        let refused = String::from_utf8_lossy(&pip.stderr).contains("externally-managed-environment");
        if !pip.status.success() && refused {
            let venv = zig_venv(tools);
            eprintln!("    this Python is externally managed (PEP 668): installing into {venv} instead");
            let installed = cmd!(sh, "python3 -m venv {venv}").quiet().run().and_then(|()| {
                let python = venv.join("bin/python3");
                cmd!(sh, "{python} -m pip install --quiet --disable-pip-version-check {ZIGBUILD_VERSION} {ZIG_VERSION}")
                    .quiet()
                    .run()
            });
            if let Err(e) = installed {
                eprintln!(
                    "    the virtual environment failed too ({e}); on Debian/Ubuntu it needs python3-venv"
                );
            }
            activate_zig_venv(sh, tools);
        }
    }
    if !has_zigbuild(sh) {
        eprintln!("    trying: {ZIGBUILD_CARGO}");
        let _ = cmd!(sh, "cargo install --locked cargo-zigbuild --version 0.24.1").quiet().run();
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
             here: {}, or get it from https://ziglang.org/download/ onto PATH",
            if cfg!(target_os = "macos") {
                "`brew install zig`"
            } else {
                "install it with `python3 -m pip install ziglang` (or `pipx install ziglang`)"
            }
        );
    }
    Ok(())
}

/// Everything some cargo runs need: their rustup targets, and zig with cargo-zigbuild or
/// cross when a run uses them.
pub(crate) fn ensure_for(sh: &Shell, runs: &[CargoRun], tools: &Utf8Path) -> anyhow::Result<()> {
    let zigbuild = runs.iter().any(|r| r.builder == Builder::Zigbuild);
    if zigbuild {
        activate_zig_venv(sh, tools);
    }
    // zig and cargo-zigbuild were found working with these very executables last time:
    // no probe (python's `-m ziglang` alone was most of a warm dist's overhead). A failed
    // build forgets this (`forget_zig_probe`), so the next run asks again.
    // One stamp per set of executables (a PATH that changes between runs, as with an
    // engine's folder added for some, keeps a stamp for each).
    let stamp = zigbuild.then(|| zig_probe_stamp(tools, &zig_executables(sh)));
    let known = stamp.as_ref().is_some_and(|stamp| stamp.is_file());
    // Otherwise the probes, each a process start: side by side, on shells of their own with
    // this one's PATH and folder.
    let (installed, zig_ready) = std::thread::scope(|scope| {
        let probe = |check: fn(&Shell) -> bool| {
            let (path, dir) = (sh.var_os("PATH"), sh.current_dir());
            scope.spawn(move || {
                let Ok(shell) = Shell::new() else { return false };
                shell.change_dir(dir);
                if let Some(path) = path {
                    shell.set_var("PATH", path);
                }
                check(&shell)
            })
        };
        let probes = (zigbuild && !known).then(|| (probe(has_zig), probe(has_zigbuild)));
        let installed = installed_targets(sh);
        let ready = known
            || probes.is_some_and(|(zig, zigbuild)| {
                zig.join().unwrap_or(false) && zigbuild.join().unwrap_or(false)
            });
        (installed, ready)
    });
    ensure_targets_of(sh, &CargoRun::rustup_targets_of(runs), &installed?)?;
    if zigbuild && !zig_ready {
        ensure_zigbuild(sh, tools)?;
    }
    if zigbuild && !known {
        // Best effort: without the stamp, the next run probes again. (Installing may have
        // changed what PATH finds: the stamp is of what is there now.)
        let seen = zig_executables(sh);
        let _ = crate::util::files::write_atomic(&zig_probe_stamp(tools, &seen), seen.as_bytes());
    }
    if runs.iter().any(|r| r.builder == Builder::Cross) {
        ensure_cross(sh)?;
    }
    Ok(())
}

/// Where `ensure_for` records that the executables `seen` (see `zig_executables`) worked.
fn zig_probe_stamp(tools: &Utf8Path, seen: &str) -> Utf8PathBuf {
    tools.join(format!("zig-probe-{}.stamp", crate::util::files::short_hash(seen)))
}

/// Forgets that zig and cargo-zigbuild worked (after a failed build: they may be why).
pub(crate) fn forget_zig_probe(tools: &Utf8Path) {
    let stamps = std::fs::read_dir(tools).into_iter().flatten().flatten();
    for entry in stamps {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("zig-probe-") && name.ends_with(".stamp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The PATH, and zig, cargo-zigbuild and python3 (whose `-m ziglang` is zig when zig is
/// not on PATH) as PATH finds them, with their sizes and times: read from the file system,
/// no process started.
fn zig_executables(sh: &Shell) -> String {
    let path = sh.var_os("PATH").unwrap_or_default();
    let mut seen = format!("{}\n", path.to_string_lossy());
    for program in ["zig", "cargo-zigbuild", "python3"] {
        let name = format!("{program}{}", std::env::consts::EXE_SUFFIX);
        let found = std::env::split_paths(&path).map(|dir| dir.join(&name)).find_map(|candidate| {
            let meta = std::fs::metadata(&candidate).ok().filter(std::fs::Metadata::is_file)?;
            Some(format!("{} {} {:?}", candidate.display(), meta.len(), meta.modified().ok()))
        });
        seen.push_str(&format!("{program}: {}\n", found.as_deref().unwrap_or("-")));
    }
    seen
}

pub(crate) fn has_cross(sh: &Shell) -> bool {
    runs(sh, "cross", &["--version"])
}

pub(crate) fn ensure_cross(sh: &Shell) -> anyhow::Result<()> {
    if !has_cross(sh) {
        bail!(
            "the config or --build-with asks for cross, which is not installed: install it with \
             `{CROSS_INSTALL}` (it runs builds in containers, so it also needs docker or podman)"
        );
    }
    Ok(())
}

impl RegistryClient {
    /// Builds the registry client when it is missing or out of date (cargo decides: a
    /// second build is a no-op), and returns it. The first one compiles an HTTP and TLS
    /// stack: a minute or so.
    pub(crate) fn ensure(&self, sh: &Shell) -> anyhow::Result<Utf8PathBuf> {
        let install = self.install();
        if !self.program().is_file() {
            eprintln!("    building the network client (once, on the first push or download): {install}");
        }
        install
            .cmd(sh)
            .quiet()
            .run()
            .with_context(|| format!("building the registry client: `{install}` failed"))?;
        Ok(self.program())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zig_probe_stamp_changes_with_the_executables_path_finds() {
        let dir = std::env::temp_dir().join(format!("zig-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sh = Shell::new().unwrap();
        sh.set_var("PATH", &dir);
        let none = zig_executables(&sh);
        assert!(none.contains("zig: -\n") && none.contains("cargo-zigbuild: -\n"), "{none}");
        let program = dir.join(format!("cargo-zigbuild{}", std::env::consts::EXE_SUFFIX));
        std::fs::write(&program, "one").unwrap();
        let one = zig_executables(&sh);
        assert!(one.contains(&program.display().to_string()), "{one}");
        assert_eq!(zig_executables(&sh), one, "nothing changed, the same");
        std::fs::write(&program, "another").unwrap();
        assert_ne!(zig_executables(&sh), one, "a replaced executable is seen");
        sh.set_var("PATH", std::env::temp_dir());
        assert_ne!(zig_executables(&sh), one, "another PATH is seen");
        // A stamp per set; a failed build forgets them all.
        let tools = Utf8PathBuf::from_path_buf(dir.join("tools")).unwrap();
        let (a, b) = (zig_probe_stamp(&tools, &one), zig_probe_stamp(&tools, &none));
        assert_ne!(a, b);
        for stamp in [&a, &b] {
            crate::util::files::write_atomic(stamp, b"seen").unwrap();
        }
        forget_zig_probe(&tools);
        assert!(!a.exists() && !b.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
