//! `cargo xtask test`: the extension's own tests, on its author's machine (macOS, Windows or
//! Linux; no root, no Docker): clippy, the workspace's Rust tests, the UI's unit tests and
//! its browser test, and a packaging test (dist with the builtin engine, then `check` on
//! the image). Then the test suites the xtask adds (the tool's repository adds the tool's
//! own, see `self_test`). The contract's TypeScript is checked first. The README's test command, and what CI runs.

use std::time::Instant;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::util::process::cmd;

use crate::builders::cargo::{built_binaries, BuiltBinary};
use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::check::Check;
use crate::cli::contract;
use crate::cli::dist::Dist;
use crate::cli::setup::{find_browser, setup_build_tools, setup_ui_packages, BROWSER_VARIABLE};
use crate::cli::suite::TestSuite;
use crate::cli::{Cmd, Invocation};
use crate::model::engine::Engine;
use crate::plan::image::Output;
use crate::plan::ContractGen;
use crate::plan::Request;
use crate::workspace::config::Config;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Test {
    /// `--skip-browser`: no browser here; the UI's browser test is skipped (said so).
    pub skip_browser: bool,
    pub cargo_args: Vec<String>,
}

impl Cmd for Test {
    const SPEC: Spec = Spec::new(
        "test",
        "Run the extension's tests: clippy, Rust, UI, browser, packaging",
        "[--skip-browser] [-- CARGO TEST ARGS]",
        "The extension's tests, on macOS, Windows or Linux (no root, no Docker): clippy (-D\n\
         warnings), the Rust workspace's tests (`cargo test --workspace`), the UI's unit tests\n\
         (`npm test`) and its browser test (headless Chromium, Chrome or Edge, with the real\n\
         backend and host binary; CHROMIUM=PATH chooses the browser), then a packaging test: dist\n\
         with the builtin engine, and `check` on the image. Then the suites the xtask adds.",
    )
    .options(&[Opt::switch(
        "--skip-browser",
        "No Chromium, Chrome or Edge here: skip the browser test (said so)",
    )])
    .positionals(0, " (pass cargo test's after `--`)")
    .rest();

    fn from_args(args: &mut Parsed) -> Result<Test, UsageError> {
        Ok(Test { skip_browser: args.switch("--skip-browser"), cargo_args: args.rest() })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh, cx.suites)
    }
}

impl Test {
    pub(crate) fn run(self, sh: &Shell, suites: &[Box<dyn TestSuite>]) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        let root = config.root.clone();
        sh.change_dir(&root);
        for suite in suites.iter().filter(|suite| suite.skipped_because().is_none()) {
            eprintln!("==> Preparing {}", suite.name());
            suite.prepare(sh).with_context(|| format!("preparing {}", suite.name()))?;
        }
        setup_build_tools(sh, &config).context("installing the build tools")?;
        setup_ui_packages(sh, &config).context("installing the UI's packages")?;

        let mut results = Results::default();
        results.run("cargo clippy --workspace --all-targets -- -D warnings", || {
            cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings")?.run()?;
            Ok(())
        });
        // The tool's own tests are its suite's, where the tool is a member (its repository).
        let tool = env!("CARGO_PKG_NAME");
        let exclude: Vec<&str> =
            if config.members.values().any(|name| name == tool) { vec!["--exclude", tool] } else { vec![] };
        let cargo_args = &self.cargo_args;
        // Every test binary runs, even after one fails: the report names them all.
        results.run("cargo test --workspace", || {
            cmd!(sh, "cargo test --workspace {exclude...} --no-fail-fast {cargo_args...}")?.run()?;
            Ok(())
        });
        let backend_runs_here = cfg!(unix);
        if config.backend.is_some() && !backend_runs_here {
            results.skipped(
                "the backend's tests and its part of the browser test",
                "the backend serves a Unix socket and runs in Docker Desktop's Linux VM; Windows has no \
                 Unix-socket server in Rust's std or tokio (its code is compiled out here)",
            );
        }
        if let Some(gen) = ContractGen::from_config(&config) {
            let output = config.relative(&gen.output).to_string();
            results.run(&format!("the UI's contract ({output}) is what the Rust types give"), || {
                contract::check(sh, &config, &gen)
            });
        }
        if let Some(ui) = &config.ui {
            let ui_dir = root.join(&ui.dir);
            results.run("UI unit tests (npm test)", || {
                let _dir = sh.push_dir(&ui_dir);
                cmd!(sh, "npm test")?.run()?;
                Ok(())
            });
            if self.skip_browser {
                results.skipped("the UI's browser test", "--skip-browser");
            } else {
                results.run("UI browser test (headless Chromium, real backend and host binary)", || {
                    let browser = find_browser()?;
                    let (backend, host_bin_dir) = native_binaries(sh, &config, backend_runs_here)?;
                    let _dir = sh.push_dir(&ui_dir);
                    cmd!(sh, "npm run build")?.quiet().run()?;
                    let screenshot = config.target_dir.join("ui-screenshot.png");
                    let mut browser_test = cmd!(sh, "npm run test:browser")?
                        .env(BROWSER_VARIABLE, &browser)
                        .env("HOST_BIN_DIR", &host_bin_dir)
                        .env("SCREENSHOT", &screenshot);
                    browser_test = match &backend {
                        Some(backend) => browser_test.env("BACKEND_BIN", backend),
                        None => browser_test.env("NO_BACKEND", "1"),
                    };
                    browser_test.run()?;
                    Ok(())
                });
            }
        }
        results.run("packaging: dist with the builtin engine, then check on the image", || {
            package(sh, &config.target_dir.join("xtask/test-package"))
        });
        for suite in suites {
            match suite.skipped_because() {
                Some(why) => results.skipped(&suite.name(), &why),
                None => results.run(&suite.name(), || suite.run(sh, cargo_args)),
            }
        }
        results.finish()
    }
}

/// What each part of the run gave.
#[derive(Default)]
struct Results {
    failed: Vec<String>,
}

impl Results {
    fn run(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<()>) {
        eprintln!("==> {name}");
        let start = Instant::now();
        match f() {
            Ok(()) => eprintln!("    {name}: passed in {:.0}s", start.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("    {name}: FAILED: {e:#}");
                self.failed.push(name.to_string());
            }
        }
    }

    fn skipped(&mut self, name: &str, why: &str) {
        eprintln!("==> skipped: {name} ({why})");
    }

    fn finish(self) -> anyhow::Result<()> {
        if !self.failed.is_empty() {
            bail!(
                "{} failed: {}",
                if self.failed.len() == 1 { "a test suite" } else { "test suites" },
                self.failed.join("; ")
            );
        }
        eprintln!("==> all tests passed");
        Ok(())
    }
}

/// The image as a release makes it, written by the builtin engine (no Docker needed) into
/// `dir`, then checked as `cargo xtask check` checks any image.
fn package(sh: &Shell, dir: &Utf8Path) -> anyhow::Result<()> {
    let archive = dir.join("extension.tar");
    let request = Request {
        engine: Some(Engine::Builtin),
        output: Some(Output::Oci(archive.clone())),
        out: Some(dir.join("context")),
        ..Request::default()
    };
    let dist = Dist { request, ..Dist::default() };
    dist.run(sh).context("cargo xtask dist --engine builtin")?;
    Check { source: Some(archive.into_string()), ..Check::default() }.run(sh).context("cargo xtask check")
}

/// Builds the backend (where it runs) and the host binaries for this machine; returns the
/// backend (if the extension has one and it runs here) and a folder holding the host
/// binaries by name (as Docker Desktop installs them).
fn native_binaries(
    sh: &Shell,
    config: &Config,
    backend_runs_here: bool,
) -> anyhow::Result<(Option<Utf8PathBuf>, Utf8PathBuf)> {
    let backend = config.backend.as_ref().filter(|_| backend_runs_here);
    let mut packages = vec![];
    let package_names =
        backend.iter().map(|b| &b.package).chain(config.host_binaries.iter().map(|h| &h.package));
    for package in package_names {
        packages.extend(["--package".to_string(), package.clone()]);
    }
    let host_bin_dir = config.target_dir.join("xtask/host-binaries");
    std::fs::create_dir_all(&host_bin_dir)?;
    if packages.is_empty() {
        return Ok((None, host_bin_dir));
    }
    let output =
        cmd!(sh, "cargo build --bins --message-format=json-render-diagnostics {packages...}")?.read()?;
    let mut backend_path = None;
    for built in built_binaries(output.as_bytes()) {
        let BuiltBinary { name, executable, .. } = built?;
        if backend.is_some_and(|b| b.bin == name) {
            backend_path = Some(executable);
        } else if config.host_binaries.iter().any(|h| h.bin == name) {
            let dest = host_bin_dir.join(executable.file_name().unwrap_or(&name));
            std::fs::copy(&executable, &dest).with_context(|| format!("copying {executable} to {dest}"))?;
        }
    }
    if backend.is_some() && backend_path.is_none() {
        bail!("cargo built no backend binary");
    }
    Ok((backend_path, host_bin_dir))
}
