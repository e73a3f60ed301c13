//! Building the UI: `npm ci` when node_modules is stale, then the configured build, skipped
//! when nothing that decides its output (the UI's files, the build command, the output
//! folder) changed since the last successful build.

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::util::process::cmd;

use crate::plan::UiBuild;
use crate::util::files::write_atomic;
use crate::util::files::{files_under, Fingerprint};
use crate::util::report::Report;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UiOutcome {
    Built,
    UpToDate,
}

/// Installs the UI's npm packages when `node_modules` is stale: `npm ci` from the lock
/// file, or `npm install` where there is none yet. The one rule, for dist and setup alike.
pub(crate) fn install_packages(sh: &Shell, report: &Report, dir: &Utf8Path) -> anyhow::Result<()> {
    if !dir.join("package.json").is_file() || !node_modules_stale(dir) {
        return Ok(());
    }
    if !crate::workspace::machine::runs(sh, "npm", &["--version"]) {
        bail!(
            "the UI needs Node.js and npm to build, and npm does not run here: {}",
            crate::builders::tools::fixes::node(crate::builders::tools::this_os())
        );
    }
    let _dir = sh.push_dir(dir);
    if dir.join("package-lock.json").is_file() {
        report.say("    $ npm ci (node_modules is missing or older than package-lock.json)");
        cmd!(sh, "npm ci --no-audit --no-fund")?.quiet().run().context("`npm ci` failed in the UI folder")
    } else {
        report.say("    $ npm install (no package-lock.json yet)");
        cmd!(sh, "npm install --no-audit --no-fund")?
            .quiet()
            .run()
            .context("`npm install` failed in the UI folder")
    }
}

pub(crate) fn build(
    sh: &Shell,
    report: &Report,
    ui: &UiBuild,
    stamp: &Utf8Path,
    workspace: &Utf8Path,
) -> anyhow::Result<UiOutcome> {
    check_sources(workspace, ui)?;
    install_packages(sh, report, &ui.dir)?;
    let fingerprint = fingerprint(ui)?;
    let previous = std::fs::read_to_string(stamp).unwrap_or_default();
    if previous.trim() == fingerprint && ui.output.join("index.html").is_file() {
        return Ok(UiOutcome::UpToDate);
    }
    let (program, args) = ui.command.split_first().context("the UI build command is empty")?;
    report.say(&format!("    $ {}", ui.command.join(" ")));
    {
        let _dir = sh.push_dir(&ui.dir);
        cmd!(sh, "{program} {args...}")?
            .quiet()
            .run()
            .with_context(|| format!("the UI build `{}` failed in {}", ui.command.join(" "), ui.dir))?;
    }
    if !ui.output.join("index.html").is_file() {
        bail!(
            "the UI build `{}` wrote no {}/index.html: set `ui.output` to the folder it builds into",
            ui.command.join(" "),
            ui.output
        );
    }
    write_atomic(stamp, fingerprint.as_bytes())?;
    Ok(UiOutcome::Built)
}

/// npm records the installed tree in node_modules/.package-lock.json: older than the
/// lockfile (or missing) means `npm ci` has to run.
fn node_modules_stale(dir: &Utf8Path) -> bool {
    let modified = |p: Utf8PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(dir.join("node_modules/.package-lock.json"));
    let wanted = modified(dir.join("package-lock.json")).or_else(|| modified(dir.join("package.json")));
    match (installed, wanted) {
        (None, _) => true,
        (Some(installed), Some(wanted)) => installed < wanted,
        (Some(_), None) => false,
    }
}

/// A SHA-256 over everything that decides the build's output: the build command, the
/// output folder, and every file's path and bytes in the UI folder except installed
/// packages, the build output and dot-folders (caches). Stable across Rust versions.
fn fingerprint(ui: &UiBuild) -> anyhow::Result<String> {
    let files = files_under(&ui.dir, |path, name| {
        name == "node_modules" || name.starts_with('.') || path == ui.output
    })?;
    let mut fingerprint = Fingerprint::new();
    for word in &ui.command {
        fingerprint.field(word.as_bytes());
    }
    fingerprint.field(ui.output.as_str().as_bytes());
    for file in &files {
        fingerprint.file(file.as_str(), &ui.dir.join(file), false)?;
    }
    Ok(format!("{} {} files", fingerprint.finish(), files.len()))
}

/// Refuses a symbolic link in the UI's sources that leads outside the workspace: a bundler
/// copies what a link points at, so its bytes would end up in the image. Installed
/// packages (`node_modules`) and the build's output are not looked at: packages are code
/// the author chose to run, and the output is checked as it is laid out.
pub(crate) fn check_sources(workspace: &Utf8Path, ui: &UiBuild) -> anyhow::Result<()> {
    let leaving = crate::util::files::links_leaving(workspace, &ui.dir, |path, name| {
        name == "node_modules" || path == ui.output
    })?;
    let Some((link, target)) = leaving.first() else { return Ok(()) };
    let more = match leaving.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    bail!(
        "{link} is a symbolic link to {target}, outside the workspace ({workspace}){more}: the UI build \
         would copy what it points at into the image. Copy the file into the workspace instead of linking it"
    )
}
