//! The tool's own suite (feature `self-test`), for the repository the tool lives in: its xtask
//! adds it to `cargo xtask test` with [`suite`]. It installs what the tool's tests use
//! (Debian packages, a private Docker engine: root and apt-get, as on this repository's CI),
//! starts the engine and registry once for the whole run, and runs the tool's clippy (every
//! feature) and its tests. Extensions made by `new` never compile this.

use xshell::Shell;

use crate::cli::tasks::TestSuite;
#[cfg(unix)]
use {
    crate::testing::packages::install_test_packages,
    crate::testing::services::{self, Services},
    crate::util::report::Report,
    crate::workspace::config::Config,
    anyhow::Context,
    camino::Utf8PathBuf,
    xshell::cmd,
};

/// The tool's own suite, to add to `cargo xtask test`.
pub fn suite() -> impl TestSuite {
    ToolSuite
}

struct ToolSuite;

const TOOL: &str = env!("CARGO_PKG_NAME");

impl TestSuite for ToolSuite {
    fn name(&self) -> String {
        format!("the tool's own suite ({TOOL}: clippy with every feature, then its tests)")
    }

    #[cfg(unix)]
    fn prepare(&self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        install_test_packages(sh).context("installing what the tool's tests use")?;
        services::install_engine(sh, &config.tools_dir())
    }

    #[cfg(not(unix))]
    fn run(&self, _: &Shell, _: &[String]) -> anyhow::Result<()> {
        anyhow::bail!("the tool's own suite runs on Linux (it starts a Docker engine of its own)")
    }

    #[cfg(unix)]
    fn run(&self, sh: &Shell, cargo_args: &[String]) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        cmd!(sh, "cargo clippy --package {TOOL} --all-targets --all-features -- -D warnings").run()?;
        // One engine and registry for the whole run, shared by every test that needs them;
        // stopped when `services` drops, also when a test fails.
        let engine = services::locate_engine(sh, &config.tools_dir())
            .context("no Docker engine for the tests: run `cargo xtask setup --for-tests`")?;
        let services = Report::new().step("Starting the tests' Docker engine and registry", || {
            Services::start(sh, &engine, &services_dir(&config))
        })?;
        eprintln!("    engine {}, registry {}", services.docker_host, services.registry);
        cmd!(sh, "cargo test --package {TOOL} --no-fail-fast {cargo_args...}")
            .envs(services.test_env())
            .run()?;
        Ok(())
    }
}

#[cfg(unix)]
/// A short folder for the services: Unix socket paths have a length limit (~100 bytes).
fn services_dir(config: &Config) -> Utf8PathBuf {
    let dir = config.target_dir.join("xtask-services");
    if dir.join("exec/containerd/containerd.sock.ttrpc").as_str().len() < 100 {
        dir
    } else {
        Utf8PathBuf::from(format!("/tmp/xtask-services-{}", std::process::id()))
    }
}
