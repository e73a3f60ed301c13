//! `cargo xtask setup`: installs what dist needs (rustup targets, zig, cargo-zigbuild), and
//! with `--for-tests` what the extension's tests use (the UI's npm packages; it says whether a
//! browser for the browser test is here), then prepares the test suites the xtask adds.
//! Quiet when everything is already there. No root, no system packages.

use xshell::Shell;

use crate::build::tools;
use crate::cli::flags;
use crate::cli::tasks::TestSuite;
use crate::cli::test::find_browser;
use crate::plan::Plan;
use crate::util::report::Report;
use crate::workspace::config::Config;
use crate::workspace::machine::Machine;

impl flags::Setup {
    pub fn run(self, sh: &Shell, suites: &[Box<dyn TestSuite>]) -> anyhow::Result<()> {
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
pub fn setup_build_tools(sh: &Shell, config: &Config) -> anyhow::Result<()> {
    let plan = Plan::without_image(config, &Machine::probe(sh, config)?)?;
    tools::ensure_targets(sh, &plan.rustup_targets())?;
    tools::ensure_zigbuild(sh, &config.tools_dir())
}

/// The UI's npm packages, when they are missing or older than its lock file.
pub fn setup_ui_packages(sh: &Shell, config: &Config) -> anyhow::Result<()> {
    if let Some(ui) = &config.ui {
        let dir = config.root.join(&ui.dir);
        if dir.join("package.json").is_file() {
            crate::build::ui::install_packages(sh, &Report::new(), &dir)?;
        }
    }
    Ok(())
}
