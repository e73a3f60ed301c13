//! Facts about this machine that a plan depends on, gathered once up front so that
//! planning itself stays a pure function (and `--dry-run` shows what would really run).

use std::collections::BTreeSet;
use std::fmt;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};

use crate::model::targets::env_spelling;
use crate::workspace::config::Config;
use xshell::Shell;

use crate::util::process::cmd;

use crate::model::engine::Engine;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    /// rustc's host target, e.g. `x86_64-unknown-linux-gnu`.
    pub host: String,
    /// Targets for which the user configured a linker (env or the workspace's .cargo/config),
    /// in the spelling of `CARGO_TARGET_<TRIPLE>_LINKER`: see [`env_spelling`](crate::model::targets::env_spelling).
    pub linkers: BTreeSet<String>,
    /// Image builders found on PATH, in order of preference.
    pub engines: Vec<Engine>,
    /// MACOSX_DEPLOYMENT_TARGET, when the user set it.
    pub macos_deployment_target: Option<String>,
    /// Whether the user chose cargo-zigbuild's cache folder (CARGO_ZIGBUILD_CACHE_DIR).
    pub zigbuild_cache_set: bool,
    /// The virtual environment zig and cargo-zigbuild run from, first on PATH, when setup
    /// had to make one (see `tools::ensure_zigbuild`).
    pub zig_venv: Option<Utf8PathBuf>,
    /// The time a builtin image says it was made.
    pub source_date: SourceDate,
    /// The commit the sources are (`SOURCE_REVISION`, else git's HEAD), for the image's
    /// `org.opencontainers.image.revision` label and its provenance.
    pub source_revision: Option<String>,
    /// What `rustc --version` says: the compiler the binaries come from (provenance).
    pub rustc: String,
    /// An Apple SDK is here: SDKROOT is set, or `xcrun` finds one (a Mac with Xcode).
    pub apple_sdk: bool,
    /// The workspace's packages that compile no C for their targets (see `crates`): their
    /// static Linux targets link with rust-lld, no zig.
    pub pure_rust: BTreeSet<String>,
}

impl Machine {
    /// Reads this machine's facts for a workspace, changing nothing.
    pub(crate) fn probe(sh: &Shell, config: &Config) -> anyhow::Result<Machine> {
        let root = &config.root;
        let zig_venv = zig_venv_bin(&config.tools_dir());
        let rustc_facts = cmd!(sh, "rustc -vV")?.quiet().read().context("running `rustc -vV`")?;
        let host = rustc_facts
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .context("`rustc -vV` printed no `host:` line")?
            .to_string();
        Ok(Machine {
            host,
            linkers: configured_linkers(root),
            engines: detect_engines(sh),
            macos_deployment_target: std::env::var("MACOSX_DEPLOYMENT_TARGET").ok().filter(|v| !v.is_empty()),
            zigbuild_cache_set: std::env::var_os(ZIGBUILD_CACHE_DIR).is_some_and(|v| !v.is_empty()),
            zig_venv,
            source_date: source_date(sh, root)?,
            source_revision: source_revision(sh, root),
            rustc: rustc_facts.lines().next().unwrap_or_default().trim().to_string(),
            apple_sdk: std::env::var_os("SDKROOT").is_some_and(|v| !v.is_empty())
                || runs(sh, "xcrun", &["--sdk", "macosx", "--show-sdk-path"]),
            pure_rust: crate::workspace::crates::pure_rust_packages(config),
        })
    }
}

/// The time a builtin image says it was made, and where that came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceDate {
    pub seconds: u64,
    pub from: SourceDateFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceDateFrom {
    /// The `SOURCE_DATE_EPOCH` variable.
    Variable,
    /// The last commit's time.
    LastCommit,
    /// Neither: 1970.
    Zero,
}

impl fmt::Display for SourceDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match self.from {
            SourceDateFrom::Variable => "SOURCE_DATE_EPOCH",
            SourceDateFrom::LastCommit => "the last commit's time",
            SourceDateFrom::Zero => "no SOURCE_DATE_EPOCH and no commit",
        };
        write!(f, "{} ({}, {from})", self.seconds, crate::util::time::rfc3339(self.seconds))
    }
}

/// The variable that tells cargo-zigbuild where to keep its linker wrappers (dist sets it
/// per target folder, unless the user did).
pub(crate) const ZIGBUILD_CACHE_DIR: &str = "CARGO_ZIGBUILD_CACHE_DIR";

/// The virtual environment zig and cargo-zigbuild go into where pip refuses to install
/// into the system's Python (PEP 668: Debian and Ubuntu's, Homebrew's).
pub(crate) fn zig_venv(tools: &Utf8Path) -> Utf8PathBuf {
    tools.join("zig-venv")
}

/// The virtual environment's programs folder (`bin`, `Scripts` on Windows), when setup made
/// one (it holds cargo-zigbuild). Only looked at: the build puts it on PATH (`builders::tools`).
pub(crate) fn zig_venv_bin(tools: &Utf8Path) -> Option<Utf8PathBuf> {
    let venv = zig_venv(tools);
    let bin = venv.join(if cfg!(windows) { "Scripts" } else { "bin" });
    bin.join(format!("cargo-zigbuild{}", std::env::consts::EXE_SUFFIX)).is_file().then_some(bin)
}

/// The engines this machine has, in the order `dist` prefers them (the builtin one,
/// always there, is the fallback and not listed).
fn detect_engines(sh: &Shell) -> Vec<Engine> {
    let mut engines = vec![];
    if runs(sh, "docker", &["buildx", "version"]) {
        engines.push(Engine::Buildx);
    }
    if runs(sh, "podman", &["--version"]) {
        engines.push(Engine::Podman);
    }
    if runs(sh, "buildah", &["--version"]) {
        engines.push(Engine::Buildah);
    }
    engines
}

/// Targets with a linker set by `CARGO_TARGET_<TRIPLE>_LINKER` or in one of the config
/// files cargo reads for this workspace (see [`cargo_config_files`]).
fn configured_linkers(root: &Utf8Path) -> BTreeSet<String> {
    let mut targets = BTreeSet::new();
    for (key, _) in std::env::vars() {
        if let Some(t) = key.strip_prefix("CARGO_TARGET_").and_then(|k| k.strip_suffix("_LINKER")) {
            targets.insert(t.to_string());
        }
    }
    for file in cargo_config_files(root, cargo_home().as_deref()) {
        // A file that does not parse is cargo's to report, when it reads it for the build.
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        targets.extend(linkers_in(&text));
    }
    targets
}

/// Where cargo looks for its configuration when run in `root`: `.cargo/config.toml` (or
/// the older `.cargo/config`) in `root` and each folder above it, then in `$CARGO_HOME`.
/// <https://doc.rust-lang.org/cargo/reference/config.html#hierarchical-structure>
fn cargo_config_files(root: &Utf8Path, cargo_home: Option<&Utf8Path>) -> Vec<Utf8PathBuf> {
    let dirs = root.ancestors().map(|dir| dir.join(".cargo")).chain(cargo_home.map(Utf8Path::to_path_buf));
    let mut files: Vec<Utf8PathBuf> = vec![];
    for dir in dirs {
        // cargo reads `config.toml` when both are there.
        let Some(file) =
            ["config.toml", "config"].map(|name| dir.join(name)).into_iter().find(|f| f.is_file())
        else {
            continue;
        };
        if !files.contains(&file) {
            files.push(file);
        }
    }
    files
}

fn cargo_home() -> Option<Utf8PathBuf> {
    match std::env::var("CARGO_HOME") {
        Ok(home) if !home.is_empty() => Some(home.into()),
        _ => std::env::var("HOME").ok().map(|home| Utf8PathBuf::from(home).join(".cargo")),
    }
}

/// The targets a cargo config file sets `linker` for, in env spelling: `[target.<triple>]`
/// tables, inline tables and dotted keys alike (`cfg(…)` tables name no one target).
fn linkers_in(config_toml: &str) -> BTreeSet<String> {
    let Ok(doc) = config_toml.parse::<toml_edit::DocumentMut>() else { return BTreeSet::new() };
    let Some(targets) = doc.get("target").and_then(toml_edit::Item::as_table_like) else {
        return BTreeSet::new();
    };
    targets
        .iter()
        .filter(|(triple, _)| !triple.starts_with("cfg("))
        .filter(|(_, table)| table.as_table_like().is_some_and(|t| t.contains_key("linker")))
        .map(|(triple, _)| env_spelling(triple))
        .collect()
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), else the last commit's time, else 0.
fn source_date(sh: &Shell, root: &Utf8Path) -> anyhow::Result<SourceDate> {
    if let Ok(value) = std::env::var("SOURCE_DATE_EPOCH") {
        let seconds = value.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={value} is not a number of seconds since 1970: unset it or give one")
        })?;
        return Ok(SourceDate { seconds, from: SourceDateFrom::Variable });
    }
    // No git (or no commit): the time is 0, as the README says.
    let last_commit =
        cmd!(sh, "git -C {root} log -1 --format=%ct").and_then(|c| Ok(c.quiet().ignore_stderr().read()?));
    Ok(match last_commit.ok().and_then(|t| t.trim().parse().ok()) {
        Some(seconds) => SourceDate { seconds, from: SourceDateFrom::LastCommit },
        None => SourceDate { seconds: 0, from: SourceDateFrom::Zero },
    })
}

/// `SOURCE_REVISION` when set (a build from an exported tree), else the commit git's HEAD
/// names, else none.
fn source_revision(sh: &Shell, root: &Utf8Path) -> Option<String> {
    if let Some(value) = std::env::var("SOURCE_REVISION").ok().filter(|v| !v.trim().is_empty()) {
        return Some(value.trim().to_string());
    }
    let head = cmd!(sh, "git -C {root} rev-parse --verify --quiet HEAD")
        .ok()?
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    Some(head.trim().to_string()).filter(|h| !h.is_empty())
}

impl Machine {
    /// A Linux machine with `engines`, an Apple SDK and fixed facts, for the plan's tests.
    #[cfg(test)]
    pub(crate) fn for_tests(host: &str, engines: &[crate::model::engine::Engine]) -> Machine {
        Machine {
            host: host.into(),
            linkers: BTreeSet::new(),
            engines: engines.to_vec(),
            macos_deployment_target: None,
            zigbuild_cache_set: true,
            zig_venv: None,
            source_date: SourceDate { seconds: 0, from: SourceDateFrom::Zero },
            source_revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
            apple_sdk: true,
            pure_rust: BTreeSet::new(),
        }
    }

    pub(crate) fn linker_configured(&self, target: &str) -> bool {
        self.linkers.contains(&env_spelling(target))
    }
}

/// The first line `program args…` prints, when it runs and succeeds (a version, usually).
pub(crate) fn version(sh: &Shell, program: &str, args: &[&str]) -> Option<String> {
    let out = cmd!(sh, "{program} {args...}").ok()?.quiet().ignore_stderr().read().ok()?;
    Some(out.lines().next().unwrap_or_default().trim().to_string())
}

/// Whether `program` can be started (found on PATH and runs `args` successfully).
pub(crate) fn runs(sh: &Shell, program: &str, args: &[&str]) -> bool {
    cmd!(sh, "{program} {args...}").is_ok_and(|c| c.quiet().ignore_stdout().ignore_stderr().run().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linkers_are_read_from_tables_inline_tables_and_dotted_keys() {
        let config = r#"
            target.aarch64-unknown-linux-musl.linker = "aarch64-linux-musl-gcc"
            [target.x86_64-pc-windows-gnu]
            linker = "x86_64-w64-mingw32-gcc"
            [target]
            "x86_64-apple-darwin" = { linker = "o64-clang" }
            'cfg(target_os = "linux")' = { rustflags = [] }
            x86_64-unknown-linux-musl = { rustflags = ["-C", "target-feature=+crt-static"] }
        "#;
        // A table header after dotted keys of the same table is a TOML error: split it.
        let (dotted, rest) = config.split_once("[target]").unwrap();
        let mut found = linkers_in(dotted);
        found.extend(linkers_in(&format!("[target]{rest}")));
        let expected = ["AARCH64_UNKNOWN_LINUX_MUSL", "X86_64_PC_WINDOWS_GNU", "X86_64_APPLE_DARWIN"];
        assert_eq!(found, expected.map(String::from).into_iter().collect());
        assert!(linkers_in("target = [ not toml").is_empty());
    }

    #[test]
    fn config_files_are_searched_upwards_then_in_cargo_home() {
        let tmp = std::env::temp_dir().join(format!("xtask-cargo-config-{}", std::process::id()));
        let tmp = Utf8PathBuf::try_from(tmp).unwrap();
        let workspace = tmp.join("outer/workspace");
        let home = tmp.join("home");
        for dir in [workspace.join(".cargo"), tmp.join("outer/.cargo"), home.clone()] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(workspace.join(".cargo/config"), "").unwrap();
        std::fs::write(workspace.join(".cargo/config.toml"), "").unwrap();
        std::fs::write(tmp.join("outer/.cargo/config"), "").unwrap();
        std::fs::write(home.join("config.toml"), "").unwrap();
        let found = cargo_config_files(&workspace, Some(&home));
        std::fs::remove_dir_all(&tmp).unwrap();
        let found: Vec<_> =
            found.iter().filter_map(|f| f.strip_prefix(&tmp).ok()).map(crate::util::files::slashed).collect();
        assert_eq!(found, ["outer/workspace/.cargo/config.toml", "outer/.cargo/config", "home/config.toml"]);
    }
}
