//! Assembling the build context: every file is written into a staging folder beside the
//! final one, binaries are verified before they are placed, and only a complete context is
//! renamed into place. A failed or interrupted run leaves the previous context as it was,
//! and only a context dist wrote itself is ever replaced (see `ownership`).
//!
//! Files whose bytes did not change are hard-linked from the previous context, so they keep
//! their mtimes and the image builder's cache keeps hitting.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};

use crate::builders::cargo::{ArtifactKey, Artifacts};
use crate::context::ownership::{check_context_destination, marker_text, CONTEXT_MARKER};
use crate::model::binary::{self, BinaryInfo};
use crate::plan::{ContextFile, Expect, Source};
use crate::util::files::{self, is_executable, set_executable};
use crate::workspace::config::Protected;

/// A binary placed in the context, for the summary.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    pub dest: Utf8PathBuf,
    pub target: String,
    pub size: u64,
    pub info: BinaryInfo,
}

/// A context being assembled. Dropping it without `commit` removes the staging folder.
pub(crate) struct Staging {
    pub dir: Utf8PathBuf,
    previous: Utf8PathBuf,
    committed: bool,
}

impl Staging {
    pub(crate) fn new(context: &Utf8Path) -> anyhow::Result<Staging> {
        let name = context.file_name().context("the context folder has no name")?;
        let dir = context.with_file_name(format!(".{name}.staging-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {dir}"))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
        Ok(Staging { dir, previous: context.to_path_buf(), committed: false })
    }

    /// Lays out every file of the plan, verifying binaries first. Files are copied a chunk
    /// at a time, never read whole. What the config names and what the UI build wrote must
    /// be inside `workspace` (see [`files::confined`]): nothing from outside reaches an image.
    pub(crate) fn lay_out(
        &self,
        files: &[ContextFile],
        artifacts: &Artifacts,
        workspace: &Utf8Path,
    ) -> anyhow::Result<Vec<Placed>> {
        let mut placed = vec![];
        for file in files {
            match &file.source {
                Source::Text(text) => self.place_bytes(&file.dest, text.as_bytes())?,
                Source::File(path) => {
                    let real = inside(workspace, path)?;
                    self.place_file(&file.dest, &real, false)?;
                }
                Source::Folder(folder) => self.place_folder(folder, &file.dest, workspace)?,
                Source::Script(path) => {
                    let real = inside(workspace, path)?;
                    // A script host binary (its shebang was checked with the config).
                    self.place_file(&file.dest, &real, true)?;
                }
                Source::Vendor(path) => {
                    let real = inside(workspace, path)?;
                    // As it is, as a download: a vendor's code signature stays valid.
                    let (info, size) =
                        self.place_binary(&file.dest, &real, path, file.expect.as_ref(), false)?;
                    placed.push(Placed { dest: file.dest.clone(), target: "vendor".into(), size, info });
                }
                Source::Companion(path) => {
                    let real = inside(workspace, path)?;
                    let meta = std::fs::metadata(&real).with_context(|| format!("reading {real}"))?;
                    self.place_file(&file.dest, &real, is_executable(&meta))?;
                }
                Source::Download { url, path } => {
                    // As it is: a vendor's code signature stays valid.
                    let (info, size) =
                        self.place_binary(&file.dest, path, Utf8Path::new(url), file.expect.as_ref(), false)?;
                    placed.push(Placed { dest: file.dest.clone(), target: "download".into(), size, info });
                }
                Source::Artifact { .. } | Source::Prebuilt { .. } => {
                    let (path, target) = match &file.source {
                        Source::Artifact { package, bin, target } => {
                            let key = ArtifactKey {
                                package: package.clone(),
                                bin: bin.clone(),
                                target: target.clone(),
                            };
                            let path = artifacts.get(&key).with_context(|| {
                                format!(
                                    "cargo reported no binary `{bin}` of package `{package}` for {target}"
                                )
                            })?;
                            (path, target)
                        }
                        Source::Prebuilt { path, target } => (path, target),
                        _ => unreachable!("matched above"),
                    };
                    let (info, size) =
                        self.place_binary(&file.dest, path, path, file.expect.as_ref(), true)?;
                    placed.push(Placed { dest: file.dest.clone(), target: target.clone(), size, info });
                }
            }
        }
        Ok(placed)
    }

    /// The staged path of `dest`, its folder made.
    fn staged(&self, dest: &Utf8Path) -> anyhow::Result<Utf8PathBuf> {
        let path = self.dir.join(dest);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {parent}"))?;
        }
        Ok(path)
    }

    /// When the previous context has `dest` with the same mode and the bytes of `staged`
    /// (or of `source`), links it in its place: it keeps its mtime, and the image
    /// builder's cache keeps hitting.
    fn reuse_previous(&self, dest: &Utf8Path, same_as: &Utf8Path, executable: bool) -> bool {
        let previous = self.previous.join(dest);
        let Ok(meta) = std::fs::symlink_metadata(&previous) else { return false };
        if !meta.is_file() || (cfg!(unix) && is_executable(&meta) != executable) {
            return false;
        }
        if !files::same_contents(&previous, same_as) {
            return false;
        }
        let path = self.dir.join(dest);
        let _ = std::fs::remove_file(&path);
        std::fs::hard_link(&previous, &path).is_ok()
    }

    fn place_bytes(&self, dest: &Utf8Path, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.staged(dest)?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {path}"))?;
        set_executable(&path, false)?;
        self.reuse_previous(dest, &path, false);
        Ok(())
    }

    fn place_file(&self, dest: &Utf8Path, source: &Utf8Path, executable: bool) -> anyhow::Result<()> {
        let path = self.staged(dest)?;
        if self.reuse_previous(dest, source, executable) {
            return Ok(());
        }
        files::copy_file(source, &path)?;
        set_executable(&path, executable)
    }

    /// A binary: copied, made the same as any other build of the same sources when
    /// `normalise` (see `reproducible`; not a download, kept as its publisher signed it), then
    /// checked by its header against what `dest` must hold; errors name it `shown_as`.
    fn place_binary(
        &self,
        dest: &Utf8Path,
        source: &Utf8Path,
        shown_as: &Utf8Path,
        expect: Option<&Expect>,
        normalise: bool,
    ) -> anyhow::Result<(BinaryInfo, u64)> {
        let path = self.staged(dest)?;
        let size = files::copy_file(source, &path)?;
        if normalise {
            crate::context::reproducible::normalise_file(&path)?;
        }
        let info = verify(shown_as, &path, dest, expect)?;
        set_executable(&path, true)?;
        self.reuse_previous(dest, &path, true);
        Ok((info, size))
    }

    /// The UI build's output: every file, copied. A link in it is followed when it leads to
    /// a file inside the workspace, and refused otherwise.
    fn place_folder(&self, folder: &Utf8Path, dest: &Utf8Path, workspace: &Utf8Path) -> anyhow::Result<()> {
        if !folder.is_dir() {
            bail!("{folder} does not exist: the UI build should have written it");
        }
        let folder = inside(workspace, folder)?;
        let real_root =
            crate::util::files::canonical(workspace).with_context(|| format!("resolving {workspace}"))?;
        let mut found = vec![];
        files::walk(&folder, |entry| {
            found.push((entry.rel.to_path_buf(), entry.file_type));
            Ok(true)
        })?;
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for (rel, file_type) in found {
            let path = folder.join(&rel);
            if file_type.is_dir() {
                continue;
            }
            if file_type.is_symlink() {
                if let Some(target) = files::link_target_outside(&real_root, &path) {
                    bail!(
                        "{path}, which the UI build wrote, is a symbolic link to {target}, outside the \
                         workspace ({workspace}): an image carries only files from inside the workspace. \
                         Make the build copy the file instead of linking it"
                    );
                }
                if !path.is_file() {
                    bail!(
                        "{path}, which the UI build wrote, is a symbolic link to a folder or to nothing \
                         ({}): dist copies files; make the build copy what it links",
                        std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default()
                    );
                }
            } else if !file_type.is_file() {
                bail!("{path}, which the UI build wrote, is neither a file nor a folder");
            }
            self.place_file(&dest.join(&rel), &path, false)?;
        }
        Ok(())
    }

    /// Marks the staged context as dist's own and renames it into place, replacing the
    /// previous one: checked again first, so nothing that appeared there since the plan
    /// was checked (a user's file, a link) is removed.
    pub(crate) fn commit(
        mut self,
        protected: &Protected,
        context_names: &BTreeSet<String>,
    ) -> anyhow::Result<()> {
        let marker = marker_text(&self.dir)?;
        self.place_bytes(Utf8Path::new(CONTEXT_MARKER), marker.as_bytes())?;
        let context = &self.previous;
        check_context_destination(context, protected, context_names)?;
        let old = context.with_file_name(format!(
            ".{}.old-{}",
            context.file_name().unwrap_or("extension"),
            std::process::id()
        ));
        if context.exists() {
            std::fs::rename(context, &old).with_context(|| format!("moving {context} aside"))?;
        }
        if let Err(e) = std::fs::rename(&self.dir, context) {
            let _ = std::fs::rename(&old, context);
            return Err(e).with_context(|| format!("renaming {} to {context}", self.dir));
        }
        self.committed = true;
        if old.exists() {
            std::fs::remove_dir_all(&old).with_context(|| format!("removing the previous context {old}"))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Checks a binary's header (read from `staged`, the copy in the context) against what its
/// path in the context requires; `source` names it in messages.
pub(crate) fn verify(
    source: &Utf8Path,
    staged: &Utf8Path,
    dest: &Utf8Path,
    expect: Option<&Expect>,
) -> anyhow::Result<BinaryInfo> {
    let path = source;
    let info = binary::inspect_file(staged).map_err(|what| {
        anyhow::anyhow!("{path} is {what}, but /{dest} in the image must be {}", expected(expect))
    })?;
    let Some(expect) = expect else { return Ok(info) };
    let kind_ok = info.format == expect.kind.format && info.runs_on(expect.kind.cpu);
    if !kind_ok || info.library_only || (expect.static_linked && !info.static_linked) {
        let mut why = String::new();
        if expect.static_linked && !info.static_linked && info.kind() == expect.kind {
            why = format!(
                " (it needs {}; the image is based on `scratch`, which has no C library: build the \
                 backend for a -musl target, or set `base-image`)",
                if info.libraries.is_empty() {
                    "a program interpreter".to_string()
                } else {
                    info.libraries.join(", ")
                }
            );
        }
        bail!(
            "{path} is {}, but /{dest} in the image must be {}{why}",
            crate::model::binary::with_article(&info.describe()),
            expected(Some(expect))
        );
    }
    Ok(info)
}

/// A path the config names (absolute, under the workspace), checked again as it is read:
/// still inside the workspace, through whatever links it has now.
fn inside(workspace: &Utf8Path, path: &Utf8Path) -> anyhow::Result<Utf8PathBuf> {
    let rel = path.strip_prefix(workspace).unwrap_or(path);
    files::confined(workspace, rel).map_err(anyhow::Error::msg)
}

fn expected(expect: Option<&Expect>) -> String {
    match expect {
        Some(e) => crate::model::binary::with_article(&format!(
            "{}{} executable",
            if e.static_linked { "static " } else { "" },
            e.kind
        )),
        None => "a binary".into(),
    }
}
