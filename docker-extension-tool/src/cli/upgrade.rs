//! `cargo xtask upgrade [--to VERSION|REF] [--dry-run]`: the extension takes another
//! release of the tool. The pin moves (xtask/Cargo.toml, Cargo.lock), the config is migrated
//! to the new tool's format and the files the template owns are refreshed (see
//! `workspace::owned`), all by the *new* tool, in a copy of the workspace's tracked files
//! under `target/xtask/upgrade/work`:
//!
//! 1. refuse uncommitted changes (so `git diff` shows what upgrade did);
//! 2. copy the tracked files; point the copy's xtask at the new tool; `cargo update -p`;
//! 3. build the new tool's own binary from the sources cargo fetched (`cargo install`) and
//!    run its `upgrade --apply` in the copy: migrations, template-owned files;
//! 4. check that the copy's xtask compiles against the new tool;
//! 5. print each change; `--dry-run` stops here; else copy the changed files back (each
//!    through a rename), restoring the ones already written if one fails.
//!
//! Until step 5 nothing in the workspace is touched: a failure or an interrupt leaves it as
//! it was. `upgrade --apply` is the contract between an old tool and a new one: every
//! version keeps it.

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::util::process::cmd;

use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::plan::image::TOOL_BUILD_DIR;
use crate::util::files::{copy_file, is_executable, same_contents, set_executable, walk, write_atomic};
use crate::workspace::config::{current_dir, Config};
use crate::workspace::migrate;
use crate::workspace::owned::{self, Refresh};
use crate::workspace::pin::{
    parse_version, release_tag, release_tags, resolve_ref, GitRef, ToolSource, TOOL, TOOL_VERSION,
    XTASK_MANIFEST,
};

/// What one file of the workspace becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Modified(Utf8PathBuf),
    Added(Utf8PathBuf),
}

impl Change {
    fn path(&self) -> &Utf8Path {
        match self {
            Change::Modified(path) | Change::Added(path) => path,
        }
    }
}

/// The workspace being upgraded: its root and its target folder.
struct Workspace {
    root: Utf8PathBuf,
    target_dir: Utf8PathBuf,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Upgrade {
    /// `--to VERSION|REF`: the release or ref to take (default: the newest release).
    pub to: Option<String>,
    pub dry_run: bool,
    /// `--apply` (not in the usage): the new tool's half, run by the old one in a copy of
    /// the workspace. Every version keeps it.
    pub apply: bool,
}

impl Cmd for Upgrade {
    const SPEC: Spec = Spec::new(
        "upgrade",
        "Take the tool's newest release: move the pin, migrate the config, refresh\n\
         the files the template owns (workflows, CI script, the xtask's main.rs)",
        "[--to VERSION|REF] [--dry-run]",
        "Moves the build tool's pin (xtask/Cargo.toml, Cargo.lock) to its newest release tag (or\n\
         --to: a version, or a tag, branch or commit of its repository), and with the new tool:\n\
         migrates the config to its format, and refreshes the files the template owns (the\n\
         workflows, .cargo/config.toml, .ci/run, xtask/src/main.rs) where you have not edited\n\
         them; an edited one is left alone, with the new version written beside it (NAME.upgrade).\n\
         Prints each change. Runs on a clean git tree only, so `git diff` shows what it did; a\n\
         failure or an interrupt leaves every file as it was.",
    )
    .options(&[
        Opt::value(
            "--to",
            "VERSION|REF",
            "The release (X.Y.Z) or git ref to take (default: the newest release)",
        ),
        Opt::switch(
            "--dry-run",
            "Print the changes and write nothing (the upgraded copy stays in\n\
             target/xtask/upgrade/work to look at)",
        ),
        Opt::switch("--apply", "The new tool's half of an upgrade, run by the old one").hidden(),
    ]);

    fn from_args(args: &mut Parsed) -> Result<Upgrade, UsageError> {
        let upgrade = Upgrade {
            to: args.string("--to"),
            dry_run: args.switch("--dry-run"),
            apply: args.switch("--apply"),
        };
        if upgrade.apply && (upgrade.dry_run || upgrade.to.is_some()) {
            return Err(args.error("--apply is the new tool's half of an upgrade: it takes no other option"));
        }
        Ok(upgrade)
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl Upgrade {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        if self.apply {
            return apply_in(&current_dir()?);
        }
        let workspace = locate(sh)?;
        refuse_uncommitted(sh, &workspace.root)?;
        let manifest_path = workspace.root.join(XTASK_MANIFEST);
        let manifest =
            std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {manifest_path}"))?;
        let current = ToolSource::read(&manifest)
            .with_context(|| format!("reading the tool's pin in {manifest_path}"))?;
        let next = self.next_source(sh, &current)?;
        if let ToolSource::Path(_) = next {
            println!("{TOOL}: {current} (a checkout, taken as it is)");
        } else if next == current {
            println!("{TOOL}: {current}, already the newest: migrating the config and refreshing the template's files");
        } else {
            println!("{TOOL}: {current} → {next}");
        }

        let scratch = workspace.target_dir.join("xtask/upgrade");
        let work = scratch.join("work");
        remove_if_there(&work)?;
        let tracked =
            copy_tracked(sh, &workspace.root, &work).context("copying the workspace's tracked files")?;
        let work_manifest = work.join(XTASK_MANIFEST);
        let moved =
            next.write_into(&manifest, true).with_context(|| format!("moving the pin in {manifest_path}"))?;
        write_atomic(&work_manifest, moved.as_bytes())?;
        let work_cargo = work.join("Cargo.toml");
        cmd!(sh, "cargo update --quiet --manifest-path {work_cargo} -p {TOOL}")?
            .run()
            .with_context(|| format!("updating Cargo.lock to {next} (`cargo update -p {TOOL}`)"))?;

        let (tool_dir, version) = tool_package(&work_cargo)?;
        println!("Building the tool {version} (its own binary, from {tool_dir}) to run its upgrade");
        let tool = install_tool(sh, &tool_dir, &workspace.target_dir)?;
        let applied = {
            let _dir = sh.push_dir(&work);
            cmd!(sh, "{tool} upgrade --apply")?.read()
        }
        .with_context(|| format!("the tool {version} upgrading a copy of the workspace ({work})"))?;
        for line in applied.lines() {
            println!("{line}");
        }
        let target_dir = &workspace.target_dir;
        cmd!(sh, "cargo check --quiet --manifest-path {work_cargo} -p xtask --target-dir {target_dir}")?
            .run()
            .with_context(|| {
                format!(
                    "the xtask does not compile with the tool {version} (xtask/src/main.rs: see what the \
                     tool changed in its API, and xtask/src/main.rs.upgrade if upgrade wrote one)"
                )
            })?;

        let changes = compare(&work, &workspace.root, &tracked)?;
        if changes.is_empty() {
            println!("Nothing to change.");
        }
        for change in &changes {
            match change {
                Change::Modified(path) => println!("  modified {path}"),
                Change::Added(path) => println!("  added    {path}"),
            }
        }
        if self.dry_run {
            println!("Dry run: nothing written (the upgraded copy is in {work}).");
            return Ok(());
        }
        copy_back(&work, &workspace.root, &scratch.join("backup"), &changes)?;
        remove_if_there(&work)?;
        println!("Upgraded to {TOOL} {version}: `git diff` shows every change; commit it.");
        Ok(())
    }

    /// Where the pin goes: `--to`, else the newest release.
    fn next_source(&self, sh: &Shell, current: &ToolSource) -> anyhow::Result<ToolSource> {
        match (current, &self.to) {
            (ToolSource::Path(dir), Some(_)) => bail!(
                "--to: the tool comes from a checkout ({dir}): upgrade takes it from there as it is; \
                 to pin a release instead, point xtask/Cargo.toml at the tool's repository or version"
            ),
            (ToolSource::Path(_), None) => Ok(current.clone()),
            (ToolSource::Git { url, .. }, Some(to)) => {
                let reference = match parse_version(to) {
                    Some(version) => {
                        let tag = release_tag(&version);
                        if !release_tags(sh, url)?.contains(&version) {
                            bail!("--to {to}: {url} has no release tag {tag}");
                        }
                        GitRef::Tag(tag)
                    }
                    None => resolve_ref(sh, url, to)?,
                };
                Ok(ToolSource::Git { url: url.clone(), reference })
            }
            (ToolSource::Git { url, .. }, None) => {
                let newest = release_tags(sh, url)?.pop().with_context(|| {
                    format!("{url} has no release tag (vX.Y.Z): give the ref to take with --to REF")
                })?;
                Ok(ToolSource::Git { url: url.clone(), reference: GitRef::Tag(release_tag(&newest)) })
            }
            (ToolSource::Registry { .. }, Some(to)) => ToolSource::registry(to).map_err(|_| {
                anyhow::anyhow!(
                    "--to {to}: the tool comes from the registry, so --to takes a version (X.Y.Z)"
                )
            }),
            (ToolSource::Registry { .. }, None) => {
                newest_published(sh).map(|version| ToolSource::Registry { version })
            }
        }
    }
}

/// The workspace's root and target folder, as cargo sees them (no config is read: it may
/// be older or newer than this tool's).
fn locate(sh: &Shell) -> anyhow::Result<Workspace> {
    let metadata = cmd!(sh, "cargo metadata --no-deps --format-version 1 --quiet")?
        .quiet()
        .read()
        .context("finding the workspace (`cargo metadata`)")?;
    let metadata: cargo_metadata::Metadata =
        serde_json::from_str(&metadata).context("reading `cargo metadata`'s answer")?;
    Ok(Workspace { root: metadata.workspace_root, target_dir: metadata.target_directory })
}

fn refuse_uncommitted(sh: &Shell, root: &Utf8Path) -> anyhow::Result<()> {
    let status =
        cmd!(sh, "git -C {root} status --porcelain")?.quiet().ignore_stderr().read().map_err(|_| {
            anyhow::anyhow!(
            "{root} is not a git repository: upgrade changes files in place, so it runs where `git diff` \
             shows what it did (git init, commit, then upgrade)"
        )
        })?;
    if let Some(first) = status.lines().next() {
        bail!(
            "{root} has uncommitted changes ({}{}): commit or stash them first (untracked files too), so \
             `git diff` shows exactly what upgrade did",
            first.trim(),
            if status.lines().count() > 1 { ", …" } else { "" }
        );
    }
    Ok(())
}

/// The newest version of the tool on crates.io (`cargo search`).
fn newest_published(sh: &Shell) -> anyhow::Result<cargo_metadata::semver::Version> {
    let found = cmd!(sh, "cargo search {TOOL} --limit 1")?.quiet().read().with_context(|| {
        format!("asking crates.io for {TOOL}'s newest version (`cargo search`); or give it with --to")
    })?;
    found
        .lines()
        .find_map(|line| {
            let (name, rest) = line.split_once(" = \"")?;
            (name.trim() == TOOL).then(|| parse_version(rest.split('"').next()?))?
        })
        .with_context(|| format!("crates.io has no {TOOL}: give the version with --to"))
}

fn remove_if_there(dir: &Utf8Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {dir}"))
        }
        _ => Ok(()),
    }
}

/// Copies every file git tracks (and Cargo.lock) to `work`; returns their paths.
fn copy_tracked(sh: &Shell, root: &Utf8Path, work: &Utf8Path) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let listed =
        cmd!(sh, "git -C {root} ls-files -z")?.quiet().read().context("listing the tracked files")?;
    let mut files: Vec<Utf8PathBuf> =
        listed.split('\0').filter(|p| !p.is_empty()).map(Utf8PathBuf::from).collect();
    if !files.iter().any(|f| f == "Cargo.lock") && root.join("Cargo.lock").is_file() {
        files.push("Cargo.lock".into());
    }
    files.retain(|rel| std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| !m.is_dir()));
    for rel in &files {
        let (from, to) = (root.join(rel), work.join(rel));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {parent}"))?;
        }
        let meta = std::fs::symlink_metadata(&from).with_context(|| format!("reading {from}"))?;
        #[cfg(unix)]
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&from).with_context(|| format!("reading the link {from}"))?;
            std::os::unix::fs::symlink(&link, &to).with_context(|| format!("linking {to}"))?;
            continue;
        }
        copy_file(&from, &to)?;
        set_executable(&to, is_executable(&meta))?;
    }
    Ok(files)
}

/// The tool's package in the copy's resolved workspace: its folder and version.
fn tool_package(work_cargo: &Utf8Path) -> anyhow::Result<(Utf8PathBuf, String)> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(work_cargo)
        .other_options(vec!["--quiet".to_string()])
        .exec()
        .context("resolving the upgraded workspace (`cargo metadata`)")?;
    let package = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == TOOL)
        .with_context(|| format!("the upgraded workspace has no {TOOL} package"))?;
    let dir = package.manifest_path.parent().context("the tool's manifest has no folder")?.to_path_buf();
    Ok((dir, package.version.to_string()))
}

/// Builds the tool's own binary from `tool_dir` (debug: it runs once), into the target
/// folder. One cargo target folder per source folder: cargo took a new checkout of the
/// same version in the same target folder for the build it had (seen: an upgrade that ran
/// an earlier build's templates), so sources never share one; the same sources again are a
/// no-op.
fn install_tool(sh: &Shell, tool_dir: &Utf8Path, target_dir: &Utf8Path) -> anyhow::Result<Utf8PathBuf> {
    let root = target_dir.join("xtask/upgrade/tool");
    let build_dir = target_dir.join(TOOL_BUILD_DIR).join(crate::util::files::short_hash(tool_dir.as_str()));
    cmd!(
        sh,
        "cargo install --quiet --locked --debug --force --path {tool_dir} --bin {TOOL} --root {root} --target-dir {build_dir}"
    )?
    .run()
    .with_context(|| format!("building the tool from {tool_dir} (`cargo install`)"))?;
    Ok(root.join("bin").join(format!("{TOOL}{}", std::env::consts::EXE_SUFFIX)))
}

/// `upgrade --apply`, run by the new tool in the copy: the config migrated to its format,
/// the template's files refreshed to its versions; one line per change.
fn apply_in(root: &Utf8Path) -> anyhow::Result<()> {
    let manifest_path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {manifest_path}"))?;
    let (migrated, done) =
        migrate::migrate(&text).with_context(|| format!("migrating the config in {manifest_path}"))?;
    if migrated != text {
        write_atomic(&manifest_path, migrated.as_bytes())?;
    }
    for line in done {
        println!("  {line}");
    }
    Config::load(root).with_context(|| format!("the tool {TOOL_VERSION} reading the migrated config"))?;
    for (path, change) in owned::refresh(root)? {
        match change {
            Refresh::Rewritten => println!("  {path}: the template's new version"),
            Refresh::Added => println!("  {path}: new in the template"),
            Refresh::Edited { beside } => println!(
                "  {path}: left alone (you edited it); the template's new version is {beside}: merge it \
                 by hand, then remove it"
            ),
            Refresh::Removed => println!("  {path}: not brought back (you removed it)"),
        }
    }
    Ok(())
}

/// What differs between the upgraded copy and the workspace: files changed or added.
fn compare(work: &Utf8Path, root: &Utf8Path, tracked: &[Utf8PathBuf]) -> anyhow::Result<Vec<Change>> {
    let mut changes = vec![];
    walk(work, |found| {
        if found.file_type.is_dir() {
            return Ok(true);
        }
        let (new, old) = (found.path, root.join(found.rel));
        let Ok(old_meta) = std::fs::symlink_metadata(&old) else {
            changes.push(Change::Added(found.rel.to_path_buf()));
            return Ok(false);
        };
        let new_meta = std::fs::symlink_metadata(new).with_context(|| format!("reading {new}"))?;
        if found.file_type.is_symlink() || old_meta.file_type().is_symlink() {
            if std::fs::read_link(new).ok() != std::fs::read_link(&old).ok() {
                bail!("upgrade would change the link {}: it changes no links", found.rel);
            }
            return Ok(false);
        }
        if !same_contents(new, &old) || is_executable(&new_meta) != is_executable(&old_meta) {
            changes.push(Change::Modified(found.rel.to_path_buf()));
        }
        Ok(false)
    })?;
    for rel in tracked {
        if std::fs::symlink_metadata(work.join(rel)).is_err() {
            bail!("the new tool removed {rel}: upgrade removes no file");
        }
    }
    changes.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(changes)
}

/// Writes the changed files into the workspace, each through a rename; if one fails, the
/// ones written are put back as they were (from `backup`) and the added ones removed.
fn copy_back(work: &Utf8Path, root: &Utf8Path, backup: &Utf8Path, changes: &[Change]) -> anyhow::Result<()> {
    remove_if_there(backup)?;
    for change in changes {
        if let Change::Modified(rel) = change {
            let to = backup.join(rel);
            std::fs::create_dir_all(to.parent().unwrap_or(backup))
                .with_context(|| format!("creating {backup}"))?;
            copy_file(&root.join(rel), &to).with_context(|| format!("backing up {rel}"))?;
        }
    }
    let mut written: Vec<&Change> = vec![];
    for change in changes {
        let rel = change.path();
        if let Err(e) = put(&work.join(rel), &root.join(rel)) {
            for done in written.iter().rev() {
                let rel = done.path();
                let _ = match done {
                    Change::Modified(_) => put(&backup.join(rel), &root.join(rel)),
                    Change::Added(_) => std::fs::remove_file(root.join(rel)).map_err(Into::into),
                };
            }
            return Err(e)
                .with_context(|| format!("writing {rel} (the files written before it are put back)"));
        }
        written.push(change);
    }
    remove_if_there(backup)
}

/// Replaces `to` with a copy of `from` (its mode too), through a temporary sibling.
fn put(from: &Utf8Path, to: &Utf8Path) -> anyhow::Result<()> {
    let parent = to.parent().context("a file with no folder")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {parent}"))?;
    let temp = parent.join(format!(".{}.upgrade-{}", to.file_name().unwrap_or("file"), std::process::id()));
    let executable = std::fs::metadata(from).is_ok_and(|m| is_executable(&m));
    let result = copy_file(from, &temp)
        .and_then(|_| set_executable(&temp, executable))
        .and_then(|()| std::fs::rename(&temp, to).with_context(|| format!("renaming {temp} to {to}")));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
