//! `cargo xtask setup`: installs what dist needs (rustup targets, zig, cargo-zigbuild), and
//! with `--for-tests` what the extension's tests use (the UI's npm packages; it says whether a
//! browser for the browser test is here), then prepares the test suites the xtask adds.
//! Quiet when everything is already there. No root, no system packages.

use anyhow::bail;
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::builders::tools;
use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::suite::TestSuite;
use crate::cli::{Cmd, Invocation};
use crate::plan::Plan;
use crate::util::report::Report;
use crate::workspace::config::Config;
use crate::workspace::machine::Machine;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Setup {
    pub for_tests: bool,
}

impl Cmd for Setup {
    const SPEC: Spec = Spec::new(
        "setup",
        "Install the build tools dist needs (rustup targets, zig, cargo-zigbuild)",
        "[--for-tests]",
        "Installs what dist needs to cross-compile: the configured rustup targets, zig and\n\
         cargo-zigbuild. With --for-tests, also what the extension's tests use: the UI's npm\n\
         packages (and it says which browser the browser test will use), then prepares the test\n\
         suites the xtask adds. No root, no system packages.",
    )
    .options(&[Opt::switch("--for-tests", "Also what the tests use, and the xtask's test suites")]);

    fn from_args(args: &mut Parsed) -> Result<Setup, UsageError> {
        Ok(Setup { for_tests: args.switch("--for-tests") })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh, cx.suites)
    }
}

impl Setup {
    pub(crate) fn run(self, sh: &Shell, suites: &[Box<dyn TestSuite>]) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        setup_build_tools(sh, &config)?;
        if self.for_tests {
            setup_ui_packages(sh, &config)?;
            if config.ui.is_some() {
                match find_browser() {
                    Ok(browser) => eprintln!("    the browser test will use {browser}"),
                    Err(e) => eprintln!("    note: {e:#}"),
                }
            }
            for suite in suites {
                eprintln!("==> Preparing {}", suite.name());
                suite.prepare(sh)?;
            }
        }
        Ok(())
    }
}

/// The targets every build of the config needs, and zig with cargo-zigbuild.
pub(crate) fn setup_build_tools(sh: &Shell, config: &Config) -> anyhow::Result<()> {
    let plan = Plan::without_image(config, &Machine::probe(sh, config)?)?;
    tools::ensure_targets(sh, &plan.rustup_targets())?;
    tools::ensure_zigbuild(sh, &config.tools_dir())
}

/// The UI's npm packages, when they are missing or older than its lock file.
pub(crate) fn setup_ui_packages(sh: &Shell, config: &Config) -> anyhow::Result<()> {
    if let Some(ui) = &config.ui {
        let dir = config.root.join(&ui.dir);
        if dir.join("package.json").is_file() {
            crate::builders::ui::install_packages(sh, &Report::new(), &dir)?;
        }
    }
    Ok(())
}

/// The variable that chooses the browser of the browser test (the UI harness reads it too).
pub(crate) const BROWSER_VARIABLE: &str = "CHROMIUM";

/// A Chromium-based browser for the browser test: `CHROMIUM` when set, else Chromium, Chrome
/// or Edge where each OS installs them.
pub(crate) fn find_browser() -> anyhow::Result<Utf8PathBuf> {
    if let Some(chosen) = std::env::var_os(BROWSER_VARIABLE).filter(|v| !v.is_empty()) {
        let chosen = Utf8PathBuf::try_from(std::path::PathBuf::from(chosen))?;
        if chosen.is_file() {
            return Ok(chosen);
        }
        bail!("{BROWSER_VARIABLE}={chosen} is not a file: point it at a Chromium, Chrome or Edge executable");
    }
    if let Some(found) = browser_candidates().into_iter().find(|c| c.is_file()) {
        return Ok(found);
    }
    bail!(
        "the browser test needs Chromium, Chrome or Edge and found none ({}): install one, point \
         {BROWSER_VARIABLE} at its executable, or run `cargo xtask test --skip-browser`",
        if cfg!(target_os = "linux") {
            "e.g. `apt-get install chromium`"
        } else if cfg!(target_os = "macos") {
            "e.g. https://www.google.com/chrome/ into /Applications"
        } else {
            "Edge comes with Windows"
        }
    )
}

/// Where each OS installs Chromium-based browsers.
fn browser_candidates() -> Vec<Utf8PathBuf> {
    let mut candidates: Vec<Utf8PathBuf> = vec![];
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).map(Utf8PathBuf::from);
    if cfg!(target_os = "macos") {
        for app in [
            "Google Chrome.app/Contents/MacOS/Google Chrome",
            "Chromium.app/Contents/MacOS/Chromium",
            "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
        ] {
            candidates.push(Utf8Path::new("/Applications").join(app));
            candidates.extend(env("HOME").map(|home| home.join("Applications").join(app)));
        }
    } else if cfg!(windows) {
        for base in ["ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA"].iter().filter_map(|v| env(v)) {
            candidates.push(base.join(r"Google\Chrome\Application\chrome.exe"));
            candidates.push(base.join(r"Microsoft\Edge\Application\msedge.exe"));
            candidates.push(base.join(r"Chromium\Application\chrome.exe"));
        }
    } else {
        let names = [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
            "microsoft-edge",
            "microsoft-edge-stable",
        ];
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path).filter_map(|d| Utf8PathBuf::try_from(d).ok()) {
            candidates.extend(names.iter().map(|name| dir.join(name)));
        }
    }
    candidates
}
