//! The tool's own suite (feature `self-test`), for the repository the tool lives in: its xtask
//! adds it to `cargo xtask test` with [`suite`]. It installs what the tool's tests use
//! (Debian packages, a private Docker engine: root and apt-get, as on this repository's CI),
//! starts the engine and registry once for the whole run, and runs the tool's clippy (every
//! feature) and its tests. Extensions made by `new` never compile this.

use xshell::Shell;

use crate::cli::suite::TestSuite;
#[cfg(unix)]
use {
    crate::testing::packages::{install_actionlint, install_test_packages},
    crate::testing::services::{self, Services},
    crate::util::process::cmd,
    crate::util::report::Report,
    crate::workspace::config::Config,
    anyhow::Context,
    camino::{Utf8Path, Utf8PathBuf},
};

/// The tool's own suite, to add to `cargo xtask test`.
pub fn suite() -> impl TestSuite {
    ToolSuite
}

struct ToolSuite;

const TOOL: &str = env!("CARGO_PKG_NAME");

/// Set to `skip` where another job runs the suite (the repository's CI runs the extension's
/// tests on macOS, Windows and Ubuntu, and this suite in a Debian job of its own).
const SKIP_VARIABLE: &str = "DOCKER_EXTENSION_TOOL_SUITE";

impl TestSuite for ToolSuite {
    fn name(&self) -> String {
        format!("the tool's own suite ({TOOL}: clippy with every feature, then its tests)")
    }

    fn skipped_because(&self) -> Option<String> {
        if std::env::var(SKIP_VARIABLE).is_ok_and(|v| v == "skip") {
            return Some(format!("{SKIP_VARIABLE}=skip (another job runs it)"));
        }
        (!cfg!(target_os = "linux")).then(|| {
            "it runs on Linux (Debian as root: it installs packages and starts a Docker engine of its own)".into()
        })
    }

    #[cfg(unix)]
    fn prepare(&self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        install_test_packages(sh).context("installing what the tool's tests use")?;
        install_actionlint(sh, &config.tools_dir())?;
        services::install_engine(sh, &config.tools_dir())
    }

    #[cfg(not(unix))]
    fn run(&self, _: &Shell, _: &[String]) -> anyhow::Result<()> {
        anyhow::bail!("the tool's own suite runs on Linux (it starts a Docker engine of its own)")
    }

    #[cfg(unix)]
    fn run(&self, sh: &Shell, cargo_args: &[String]) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        cmd!(sh, "cargo clippy --package {TOOL} --all-targets --all-features -- -D warnings")?.run()?;
        // The API's docs build without a warning (broken links, missing docs).
        cmd!(sh, "cargo doc --package {TOOL} --no-deps --all-features")?
            .env("RUSTDOCFLAGS", "-D warnings")
            .run()?;
        // One engine and registry for the whole run, shared by every test that needs them;
        // stopped when `services` drops, also when a test fails.
        let engine = services::locate_engine(sh, &config.tools_dir())
            .context("no Docker engine for the tests: run `cargo xtask setup --for-tests`")?;
        let services = Report::new().step("Starting the tests' Docker engine and registry", || {
            Services::start(sh, &engine, &services_dir(&config))
        })?;
        eprintln!("    engine {}, registry {}", services.docker_host, services.registry);
        cmd!(sh, "cargo test --package {TOOL} --features self-test --no-fail-fast {cargo_args...}")?
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

/// The Docker engine and registry the tool's integration tests use: the ones `cargo xtask
/// test` started for the whole run and handed over (through variables), or ones a test
/// binary run on its own starts for itself.
#[cfg(unix)]
pub struct TestServices {
    /// `DOCKER_HOST` of the engine (`unix://…`).
    pub docker_host: String,
    /// `DOCKER_CONFIG`: the engine's client config, with buildx.
    pub docker_config: String,
    /// The registry, `127.0.0.1:PORT`.
    pub registry: String,
    /// The registry's access log.
    pub registry_log: String,
    /// `PATH` with the engine's programs first.
    pub path: String,
    /// Services of this process's own: stopped when dropped.
    _own: Option<Services>,
}

#[cfg(unix)]
impl TestServices {
    /// The services `cargo xtask test` handed to this process, if it did.
    pub fn handed_over() -> Option<TestServices> {
        use crate::testing::services::{
            ENV_DOCKER_CONFIG, ENV_DOCKER_HOST, ENV_ENGINE_PATH, ENV_REGISTRY, ENV_REGISTRY_LOG,
        };
        let var = |name: &str| std::env::var(name).ok();
        Some(TestServices {
            docker_host: var(ENV_DOCKER_HOST)?,
            docker_config: var(ENV_DOCKER_CONFIG)?,
            registry: var(ENV_REGISTRY)?,
            registry_log: var(ENV_REGISTRY_LOG)?,
            path: var(ENV_ENGINE_PATH)?,
            _own: None,
        })
    }

    /// Starts services of this process's own under `dir` (emptied first; short: Unix socket
    /// paths are limited to ~100 bytes), with the engine `cargo xtask setup --for-tests`
    /// installed in the workspace at `root`.
    pub fn start(root: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<TestServices> {
        let sh = Shell::new()?;
        let root = Utf8Path::from_path(root).context("the workspace's path is not UTF-8")?;
        let dir = Utf8Path::from_path(dir).context("the services' folder is not UTF-8")?;
        let config = Config::load(root)?;
        let engine = services::locate_engine(&sh, &config.tools_dir())
            .context("no Docker engine for the tests: run `cargo xtask setup --for-tests`")?;
        let own = Services::start(&sh, &engine, dir)?;
        Ok(TestServices {
            docker_host: own.docker_host.clone(),
            docker_config: own.docker_config.to_string(),
            registry: own.registry.clone(),
            registry_log: own.registry_log.to_string(),
            path: own.path.clone(),
            _own: Some(own),
        })
    }
}
