//! Facts about this machine that a plan depends on, gathered once up front so that
//! planning itself stays a pure function (and `--dry-run` shows what would really run).

use std::collections::BTreeSet;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};

use crate::config::Config;
use xshell::{cmd, Shell};

use crate::engine::{Engine, SourceDate, SourceDateFrom};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// rustc's host target, e.g. `x86_64-unknown-linux-gnu`.
    pub host: String,
    /// Targets for which the user configured a linker (env or the workspace's .cargo/config),
    /// in the spelling of `CARGO_TARGET_<TRIPLE>_LINKER`: see [`env_spelling`].
    pub linkers: BTreeSet<String>,
    /// Image builders found on PATH, in order of preference.
    pub engines: Vec<Engine>,
    /// MACOSX_DEPLOYMENT_TARGET, when the user set it.
    pub macos_deployment_target: Option<String>,
    /// The virtual environment zig and cargo-zigbuild run from, first on PATH, when setup
    /// had to make one (see `tools::ensure_zigbuild`).
    pub zig_venv: Option<Utf8PathBuf>,
    /// The time a builtin image says it was made.
    pub source_date: SourceDate,
}

impl Machine {
    /// Reads this machine's facts for a workspace; puts the zig virtual environment on
    /// the shell's PATH when there is one.
    pub fn probe(sh: &Shell, config: &Config) -> anyhow::Result<Machine> {
        let root = &config.root;
        let zig_venv = crate::tools::activate_zig_venv(sh, &config.tools_dir());
        let rustc = cmd!(sh, "rustc -vV").quiet().read().context("running `rustc -vV`")?;
        let host = rustc
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .context("`rustc -vV` printed no `host:` line")?
            .to_string();
        Ok(Machine {
            host,
            linkers: configured_linkers(root),
            engines: Engine::detect(sh),
            macos_deployment_target: std::env::var("MACOSX_DEPLOYMENT_TARGET").ok().filter(|v| !v.is_empty()),
            zig_venv,
            source_date: source_date(sh, root)?,
        })
    }
}

/// Targets with a linker set by `CARGO_TARGET_<TRIPLE>_LINKER` or in the workspace's
/// `.cargo/config.toml` (`[target.<triple>]` followed by a `linker =` line).
fn configured_linkers(root: &Utf8Path) -> BTreeSet<String> {
    let mut targets = BTreeSet::new();
    for (key, _) in std::env::vars() {
        if let Some(t) = key.strip_prefix("CARGO_TARGET_").and_then(|k| k.strip_suffix("_LINKER")) {
            targets.insert(t.to_string());
        }
    }
    for file in [".cargo/config.toml", ".cargo/config"] {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else { continue };
        let mut section: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line
                    .strip_prefix("[target.")
                    .and_then(|s| s.strip_suffix(']'))
                    .map(|s| s.trim_matches('"').to_string());
            } else if line.starts_with("linker") && line.contains('=') {
                if let Some(target) = &section {
                    targets.insert(env_spelling(target));
                }
            }
        }
    }
    targets
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), else the last commit's time, else 0.
fn source_date(sh: &Shell, root: &Utf8Path) -> anyhow::Result<SourceDate> {
    if let Ok(value) = std::env::var("SOURCE_DATE_EPOCH") {
        let seconds = value.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={value} is not a number of seconds since 1970: unset it or give one")
        })?;
        return Ok(SourceDate { seconds, from: SourceDateFrom::Variable });
    }
    let last_commit = cmd!(sh, "git -C {root} log -1 --format=%ct").quiet().ignore_stderr().read();
    Ok(match last_commit.ok().and_then(|t| t.trim().parse().ok()) {
        Some(seconds) => SourceDate { seconds, from: SourceDateFrom::LastCommit },
        None => SourceDate { seconds: 0, from: SourceDateFrom::Zero },
    })
}

impl Machine {
    pub fn linker_configured(&self, target: &str) -> bool {
        self.linkers.contains(&env_spelling(target))
    }
}

/// A target as Cargo spells it in environment variables: `X86_64_UNKNOWN_LINUX_MUSL`.
pub fn env_spelling(target: &str) -> String {
    target.to_uppercase().replace(['-', '.'], "_")
}

/// The first line `program args…` prints, when it runs and succeeds (a version, usually).
pub fn version(sh: &Shell, program: &str, args: &[&str]) -> Option<String> {
    let out = cmd!(sh, "{program} {args...}").quiet().ignore_stderr().read().ok()?;
    Some(out.lines().next().unwrap_or_default().trim().to_string())
}

/// Whether `program` can be started (found on PATH and runs `args` successfully).
pub fn runs(sh: &Shell, program: &str, args: &[&str]) -> bool {
    cmd!(sh, "{program} {args...}").quiet().ignore_stdout().ignore_stderr().run().is_ok()
}
