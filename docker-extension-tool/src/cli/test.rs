//! `cargo xtask test`: every test of the workspace, after installing what they need.
//! The README's test command, and what CI runs.

use std::time::Instant;

use crate::build::cargo::{built_binaries, BuiltBinary};
use anyhow::{bail, Context};
use camino::Utf8PathBuf;
use xshell::{cmd, Shell};

use crate::cli::flags;
use crate::cli::setup::{setup_build_tools, setup_test_tools};
use crate::testing::services::{self, Services};
use crate::util::report::Report;
use crate::workspace::config::Config;

impl flags::Test {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        let root = config.root.clone();
        sh.change_dir(&root);
        setup_build_tools(sh, &config).context("installing the build tools")?;
        setup_test_tools(sh, &config).context("installing what the tests use")?;

        let mut failed = vec![];
        let mut suite = |name: &str, f: &mut dyn FnMut() -> anyhow::Result<()>| {
            eprintln!("==> {name}");
            let start = Instant::now();
            match f() {
                Ok(()) => eprintln!("    {name}: passed in {:.0}s", start.elapsed().as_secs_f64()),
                Err(e) => {
                    eprintln!("    {name}: FAILED: {e:#}");
                    failed.push(name.to_string());
                }
            }
        };

        // One engine and registry for the whole run, shared by every test that needs them;
        // stopped by pid when `services` drops, also when a suite fails.
        let engine = services::locate_engine(sh, &config.tools_dir())
            .context("no Docker engine for the tests: run `cargo xtask setup --for-tests`")?;
        let services = Report::new().step("Starting the tests' Docker engine and registry", || {
            Services::start(sh, &engine, &services_dir(&config))
        })?;
        eprintln!("    engine {}, registry {}", services.docker_host, services.registry);
        suite("cargo clippy --workspace --all-targets -- -D warnings", &mut || {
            cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run()?;
            Ok(())
        });
        let cargo_args = &self.cargo_args;
        // Every test binary runs, even after one fails: the report names them all.
        suite("cargo test --workspace", &mut || {
            cmd!(sh, "cargo test --workspace --no-fail-fast {cargo_args...}")
                .envs(services.test_env())
                .run()?;
            Ok(())
        });
        if let Some(ui) = &config.ui {
            let ui_dir = root.join(&ui.dir);
            suite("UI unit tests (npm test)", &mut || {
                let _dir = sh.push_dir(&ui_dir);
                cmd!(sh, "npm test").run()?;
                Ok(())
            });
            suite("UI browser test (headless Chromium, real backend and host binary)", &mut || {
                let (backend, host_bin_dir) = native_binaries(sh, &config)?;
                let _dir = sh.push_dir(&ui_dir);
                cmd!(sh, "npm run build").quiet().run()?;
                let screenshot = config.target_dir.join("ui-screenshot.png");
                cmd!(sh, "npm run test:browser")
                    .env("BACKEND_BIN", backend.as_ref().map(|b| b.as_str()).unwrap_or_default())
                    .env("HOST_BIN_DIR", &host_bin_dir)
                    .env("SCREENSHOT", &screenshot)
                    .run()?;
                Ok(())
            });
        }
        if !failed.is_empty() {
            bail!(
                "{} failed: {}",
                if failed.len() == 1 { "a test suite" } else { "test suites" },
                failed.join("; ")
            );
        }
        eprintln!("==> all tests passed");
        Ok(())
    }
}

/// A short folder for the services: Unix socket paths have a length limit (~100 bytes).
fn services_dir(config: &Config) -> Utf8PathBuf {
    let dir = config.target_dir.join("xtask-services");
    if dir.join("exec/containerd/containerd.sock.ttrpc").as_str().len() < 100 {
        dir
    } else {
        Utf8PathBuf::from(format!("/tmp/xtask-services-{}", std::process::id()))
    }
}

/// Builds the backend and the host binaries for this machine; returns the backend (if the
/// extension has one) and a folder holding the host binaries by name (as Docker Desktop
/// installs them).
fn native_binaries(sh: &Shell, config: &Config) -> anyhow::Result<(Option<Utf8PathBuf>, Utf8PathBuf)> {
    let mut packages = vec![];
    let package_names =
        config.backend.iter().map(|b| &b.package).chain(config.host_binaries.iter().map(|h| &h.package));
    for package in package_names {
        packages.extend(["--package".to_string(), package.clone()]);
    }
    let host_bin_dir = config.target_dir.join("xtask/host-binaries");
    std::fs::create_dir_all(&host_bin_dir)?;
    if packages.is_empty() {
        return Ok((None, host_bin_dir));
    }
    let output =
        cmd!(sh, "cargo build --bins --message-format=json-render-diagnostics {packages...}").read()?;
    let mut backend_path = None;
    for built in built_binaries(output.as_bytes()) {
        let BuiltBinary { name, executable, .. } = built?;
        if config.backend.as_ref().is_some_and(|b| b.bin == name) {
            backend_path = Some(executable);
        } else if config.host_binaries.iter().any(|h| h.bin == name) {
            let dest = host_bin_dir.join(executable.file_name().unwrap_or(&name));
            std::fs::copy(&executable, &dest).with_context(|| format!("copying {executable} to {dest}"))?;
        }
    }
    if config.backend.is_some() && backend_path.is_none() {
        bail!("cargo built no backend binary");
    }
    Ok((backend_path, host_bin_dir))
}
