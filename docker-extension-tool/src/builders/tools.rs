//! The tools a build needs: rustup targets, zig and cargo-zigbuild, cross. `dist` installs
//! what is missing when it can, and otherwise names the exact command; `doctor` reports.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::model::targets::{Builder, Os};
use crate::plan::image::RegistryClient;
use crate::plan::CargoRun;
use crate::util::process::{self, cmd, find::Platform, Argv};
use crate::workspace::machine::{runs, version, zig_venv, zig_venv_bin};

/// The versions dist installs: a pinned toolchain is part of "the same sources give the
/// same image digest" (a newer zig may lay out a binary differently).
pub(crate) const ZIGBUILD_VERSION: &str = "cargo-zigbuild==0.24.1";
pub(crate) const ZIG_VERSION: &str = "ziglang==0.17.1";
pub(crate) const ZIGBUILD_CARGO: &str = "cargo install --locked cargo-zigbuild --version 0.24.1";
pub(crate) const CROSS_INSTALL: &str = "cargo install cross --git https://github.com/cross-rs/cross";

/// The fixes the tool prints, each for the OS it runs on: an author on Windows gets
/// `py -m pip` and winget, not `python3` and apt-get (the machine has neither).
pub(crate) mod fixes {
    use super::{ZIGBUILD_VERSION, ZIG_VERSION};
    use crate::model::targets::Os;

    /// How the author starts Python on `os`: the `py` launcher on Windows (python.org's
    /// installer puts it on PATH; `python3` there is often the Store's alias).
    pub(crate) fn python(os: Os) -> &'static str {
        match os {
            Os::Windows => "py",
            Os::Darwin | Os::Linux => "python3",
        }
    }

    /// Installs zig and cargo-zigbuild (one PyPI package brings both).
    pub(crate) fn zigbuild_pip(os: Os) -> String {
        format!("{} -m pip install {ZIGBUILD_VERSION} {ZIG_VERSION}", python(os))
    }

    /// Installs zig alone.
    pub(crate) fn zig(os: Os) -> String {
        match os {
            Os::Darwin => format!("brew install zig (or {} -m pip install {ZIG_VERSION})", python(os)),
            Os::Windows | Os::Linux => format!("{} -m pip install {ZIG_VERSION}", python(os)),
        }
    }

    /// Installs rustup.
    pub(crate) fn rustup(os: Os) -> &'static str {
        match os {
            Os::Windows => "winget install Rustlang.Rustup (or run rustup-init.exe from https://rustup.rs)",
            Os::Darwin | Os::Linux => "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh",
        }
    }

    /// Installs Python 3 with pip (zig and cargo-zigbuild come from PyPI).
    pub(crate) fn python_install(os: Os) -> &'static str {
        match os {
            Os::Windows => {
                "winget install Python.Python.3.12 (or python.org's installer, which brings the py launcher)"
            }
            Os::Darwin => "brew install python (or python.org's installer)",
            Os::Linux => "install Python 3 with pip from your distribution (Debian, Ubuntu: apt-get install python3-pip python3-venv)",
        }
    }

    /// Installs Node.js, which brings npm.
    pub(crate) fn node(os: Os) -> &'static str {
        match os {
            Os::Windows => "winget install OpenJS.NodeJS.LTS (or https://nodejs.org; npm comes with it)",
            Os::Darwin => "brew install node (or https://nodejs.org; npm comes with it)",
            Os::Linux => "install Node.js 20.19 or later with npm: https://nodejs.org (or your distribution's nodejs and npm)",
        }
    }

    /// A daemonless image builder.
    pub(crate) fn podman_or_buildah(os: Os) -> &'static str {
        match os {
            Os::Windows => "not needed with Docker Desktop; else Podman Desktop: https://podman-desktop.io",
            Os::Darwin => "brew install podman",
            Os::Linux => "sudo apt-get install buildah (or podman; other distributions: their package)",
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_fix_is_the_one_for_the_os_it_runs_on() {
            let all = |os: Os| {
                [
                    zigbuild_pip(os),
                    zig(os),
                    rustup(os).to_string(),
                    python_install(os).to_string(),
                    node(os).to_string(),
                    podman_or_buildah(os).to_string(),
                ]
            };
            for fix in all(Os::Windows) {
                for unix_only in ["python3", "apt-get", "sudo", "brew", "| sh", "curl"] {
                    assert!(!fix.contains(unix_only), "Windows is told {unix_only:?}: {fix}");
                }
            }
            assert!(all(Os::Windows).iter().any(|f| f.starts_with("py -m pip install")));
            assert!(all(Os::Windows).iter().any(|f| f.contains("winget")));
            for fix in all(Os::Darwin) {
                for elsewhere in ["apt-get", "winget", "py -m"] {
                    assert!(!fix.contains(elsewhere), "macOS is told {elsewhere:?}: {fix}");
                }
            }
            for fix in all(Os::Linux) {
                for elsewhere in ["brew", "winget", "py -m"] {
                    assert!(!fix.contains(elsewhere), "Linux is told {elsewhere:?}: {fix}");
                }
            }
        }
    }
}

/// The OS this runs on (the tool runs on macOS, Windows and Linux only).
pub(crate) fn this_os() -> Os {
    Os::here().unwrap_or(Os::Linux)
}

pub(crate) fn has_rustup(sh: &Shell) -> bool {
    runs(sh, "rustup", &["--version"])
}

/// The targets whose standard library is installed for the active toolchain. Read from the
/// sysroot, so it works with or without rustup.
pub(crate) fn installed_targets(sh: &Shell) -> anyhow::Result<BTreeSet<String>> {
    let sysroot =
        cmd!(sh, "rustc --print sysroot")?.quiet().read().context("running `rustc --print sysroot`")?;
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
    cmd!(sh, "rustup target add {missing...}")?
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

/// How Python 3 starts through the shell's PATH (`py -3`, `python` or `python3`; see
/// `util::process::find`), when it is there.
pub(crate) fn python(sh: &Shell) -> Option<Argv> {
    process::python(sh)
}

/// zig's version: cargo-zigbuild finds zig on PATH, or the `ziglang` Python package.
pub(crate) fn zig_version(sh: &Shell) -> Option<String> {
    version(sh, "zig", &["version"]).or_else(|| {
        let python = python(sh)?.with(["-m", "ziglang", "version"]);
        let words = python.words();
        version(sh, &words[0], &words[1..].iter().map(String::as_str).collect::<Vec<_>>())
    })
}

pub(crate) fn has_zig(sh: &Shell) -> bool {
    zig_version(sh).is_some()
}

pub(crate) fn has_zigbuild(sh: &Shell) -> bool {
    runs(sh, "cargo-zigbuild", &["--version"])
}

/// The Python whose pip works, when there is one.
pub(crate) fn pip_python(sh: &Shell) -> Option<Argv> {
    let python = python(sh)?;
    let pip = python.clone().with(["-m", "pip", "--version"]).cmd(sh).ok()?;
    pip.quiet().ignore_stdout().ignore_stderr().run().is_ok().then_some(python)
}

pub(crate) fn has_pip(sh: &Shell) -> bool {
    pip_python(sh).is_some()
}

/// Puts the zig virtual environment first on the shell's PATH, when setup made one: its
/// `cargo-zigbuild`, and the Python whose `-m ziglang` finds zig. Returns its programs'
/// folder (`bin`, or `Scripts` on Windows).
pub(crate) fn activate_zig_venv(sh: &Shell, tools: &Utf8Path) -> Option<Utf8PathBuf> {
    let bin = zig_venv_bin(tools)?;
    prepend_to_path(sh, bin.as_std_path());
    Some(bin)
}

/// `folder` first on the shell's PATH.
fn prepend_to_path(sh: &Shell, folder: &std::path::Path) {
    let path = std::env::join_paths(
        std::iter::once(folder.to_path_buf())
            .chain(std::env::split_paths(&sh.var_os("PATH").unwrap_or_default())),
    );
    if let Ok(path) = path {
        sh.set_var("PATH", path);
    }
}

/// After a pip install: where pip put cargo-zigbuild's program may not be on PATH (python.org's
/// installer leaves `Scripts\` off it unless asked; `pip install --user` uses
/// `~/.local/bin`). Python's own answer for both folders goes on the shell's PATH when
/// cargo-zigbuild is not found otherwise.
fn find_pip_scripts(sh: &Shell, python: &Argv) {
    if has_zigbuild(sh) {
        return;
    }
    let script = "import os, sysconfig\nfor scheme in (None, os.name + '_user'):\n    try:\n        print(sysconfig.get_path('scripts', scheme) if scheme else sysconfig.get_path('scripts'))\n    except KeyError:\n        pass";
    let Ok(ask) = python.clone().with(["-c", script]).cmd(sh) else { return };
    let Ok(folders) = ask.quiet().ignore_stderr().read() else { return };
    for folder in folders.lines().map(str::trim).filter(|f| !f.is_empty()) {
        let program =
            std::path::Path::new(folder).join(format!("cargo-zigbuild{}", std::env::consts::EXE_SUFFIX));
        if program.is_file() {
            eprintln!(
                "    cargo-zigbuild was installed into {folder}, which is not on PATH: using it from there"
            );
            prepend_to_path(sh, std::path::Path::new(folder));
            return;
        }
    }
}

/// Installs zig and cargo-zigbuild when missing: from PyPI (one package brings both, in
/// seconds) into the user's Python, or into a virtual environment under `tools` where that
/// Python is externally managed; else cargo-zigbuild from crates.io.
pub(crate) fn ensure_zigbuild(sh: &Shell, tools: &Utf8Path) -> anyhow::Result<()> {
    activate_zig_venv(sh, tools);
    if has_zig(sh) && has_zigbuild(sh) {
        return Ok(());
    }
    let os = this_os();
    if let Some(python) = pip_python(sh) {
        eprintln!("    zig or cargo-zigbuild is missing; installing them: {}", fixes::zigbuild_pip(os));
        let install =
            ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ZIGBUILD_VERSION, ZIG_VERSION];
        let pip = python.clone().with(install).cmd(sh)?.quiet().ignore_status().output()?;
        let refused = String::from_utf8_lossy(&pip.stderr).contains("externally-managed-environment");
        if !pip.status.success() && refused {
            let venv = zig_venv(tools);
            eprintln!("    this Python is externally managed (PEP 668): installing into {venv} instead");
            let installed = python.clone().with(["-m", "venv", venv.as_str()]).cmd(sh).and_then(|c| {
                c.quiet().run()?;
                let venv_python = process::find::venv_python(venv.as_std_path(), Platform::HERE);
                Argv::new(venv_python, install).cmd(sh)?.quiet().run()?;
                Ok(())
            });
            if let Err(e) = installed {
                eprintln!(
                    "    the virtual environment failed too ({e:#}); on Debian/Ubuntu it needs python3-venv"
                );
            }
            activate_zig_venv(sh, tools);
        } else if pip.status.success() {
            find_pip_scripts(sh, &python);
        }
    }
    if !has_zigbuild(sh) {
        eprintln!("    trying: {ZIGBUILD_CARGO}");
        if let Ok(install) = cmd!(sh, "cargo install --locked cargo-zigbuild --version 0.24.1") {
            let _ = install.quiet().run();
        }
    }
    let (zig, zigbuild) = (has_zig(sh), has_zigbuild(sh));
    if !zigbuild {
        let python = if has_pip(sh) {
            String::new()
        } else {
            format!(" (no Python with pip was found: {})", fixes::python_install(os))
        };
        bail!(
            "cargo-zigbuild, which cross-compiles the extension's binaries, is not installed and \
             could not be installed here{python}: install it with `{}` (brings zig too) or \
             `{ZIGBUILD_CARGO}`, and make sure the folder it lands in is on PATH",
            fixes::zigbuild_pip(os)
        );
    }
    if !zig {
        bail!(
            "zig, the linker cargo-zigbuild drives, is not installed and could not be installed \
             here: {}, or get it from https://ziglang.org/download/ onto PATH",
            fixes::zig(os)
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

/// The PATH, and zig, cargo-zigbuild and Python (whose `-m ziglang` is zig when zig is not
/// on PATH) as PATH finds them, with their sizes and times: read from the file system, no
/// process started.
fn zig_executables(sh: &Shell) -> String {
    let path = sh.var_os("PATH").unwrap_or_default();
    let mut seen = format!("{}\n", path.to_string_lossy());
    let python = python(sh).map(|p| p.program());
    let found = |program: &str| -> Option<String> {
        let launch = Argv::of(program).launch(sh).ok()?;
        let file = launch.path();
        let meta = std::fs::metadata(file).ok().filter(std::fs::Metadata::is_file)?;
        Some(format!("{} {} {:?}", file.display(), meta.len(), meta.modified().ok()))
    };
    for (name, program) in [
        ("zig", Some("zig".to_string())),
        ("cargo-zigbuild", Some("cargo-zigbuild".into())),
        ("python", python),
    ] {
        let found = program.as_deref().and_then(found);
        seen.push_str(&format!("{name}: {}\n", found.as_deref().unwrap_or("-")));
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
            .cmd(sh)?
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
        #[cfg(unix)] // found as a program: with its execute bit
        std::fs::set_permissions(&program, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
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
