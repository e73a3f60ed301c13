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

use crate::binary::{self, BinaryInfo};
use crate::build::Artifacts;
use crate::files::{files_under, is_executable, set_executable};
use crate::ownership::{check_context_destination, marker_text, Protected, CONTEXT_MARKER};
use crate::plan::{ContextFile, Expect, Source};

/// A binary placed in the context, for the summary.
#[derive(Debug, Clone)]
pub struct Placed {
    pub dest: Utf8PathBuf,
    pub target: String,
    pub size: u64,
    pub info: BinaryInfo,
}

/// A context being assembled. Dropping it without `commit` removes the staging folder.
pub struct Staging {
    pub dir: Utf8PathBuf,
    previous: Utf8PathBuf,
    committed: bool,
}

impl Staging {
    pub fn new(context: &Utf8Path) -> anyhow::Result<Staging> {
        let name = context.file_name().context("the context folder has no name")?;
        let dir = context.with_file_name(format!(".{name}.staging-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {dir}"))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
        Ok(Staging { dir, previous: context.to_path_buf(), committed: false })
    }

    /// Lays out every file of the plan, verifying binaries first.
    pub fn lay_out(&self, files: &[ContextFile], artifacts: &Artifacts) -> anyhow::Result<Vec<Placed>> {
        let mut placed = vec![];
        for file in files {
            match &file.source {
                Source::Text(text) => self.place(&file.dest, text.as_bytes(), false)?,
                Source::File(path) => {
                    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
                    self.place(&file.dest, &bytes, false)?;
                }
                Source::Folder(folder) => self.place_folder(folder, &file.dest)?,
                Source::Artifact { .. } | Source::Prebuilt { .. } => {
                    let (path, target) = match &file.source {
                        Source::Artifact { package, bin, target } => {
                            let key = (package.clone(), bin.clone(), target.clone());
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
                    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
                    // The same sources give the same bytes (see `reproducible`).
                    let bytes = crate::reproducible::normalise(&bytes);
                    let info = verify(path, &bytes, &file.dest, file.expect.as_ref())?;
                    self.place(&file.dest, &bytes, true)?;
                    placed.push(Placed {
                        dest: file.dest.clone(),
                        target: target.clone(),
                        size: bytes.len() as u64,
                        info,
                    });
                }
            }
        }
        Ok(placed)
    }

    fn place(&self, dest: &Utf8Path, bytes: &[u8], executable: bool) -> anyhow::Result<()> {
        let path = self.dir.join(dest);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {parent}"))?;
        }
        let previous = self.previous.join(dest);
        if same_file_contents(&previous, bytes, executable) && std::fs::hard_link(&previous, &path).is_ok() {
            return Ok(());
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {path}"))?;
        set_executable(&path, executable)?;
        Ok(())
    }

    fn place_folder(&self, folder: &Utf8Path, dest: &Utf8Path) -> anyhow::Result<()> {
        if !folder.is_dir() {
            bail!("{folder} does not exist: the UI build should have written it");
        }
        for rel in files_under(folder, |_, _| false)? {
            let path = folder.join(&rel);
            let bytes = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
            self.place(&dest.join(rel), &bytes, false)?;
        }
        Ok(())
    }

    /// Marks the staged context as dist's own and renames it into place, replacing the
    /// previous one: checked again first, so nothing that appeared there since the plan
    /// was checked (a user's file, a link) is removed.
    pub fn commit(mut self, protected: &Protected, context_names: &BTreeSet<String>) -> anyhow::Result<()> {
        let marker = marker_text(&self.dir)?;
        self.place(Utf8Path::new(CONTEXT_MARKER), marker.as_bytes(), false)?;
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

/// Checks a binary's header against what its path in the context requires.
pub fn verify(
    path: &Utf8Path,
    bytes: &[u8],
    dest: &Utf8Path,
    expect: Option<&Expect>,
) -> anyhow::Result<BinaryInfo> {
    let info = binary::inspect(bytes).map_err(|what| {
        anyhow::anyhow!("{path} is {what}, but /{dest} in the image must be {}", expected(expect))
    })?;
    let Some(expect) = expect else { return Ok(info) };
    if info.kind() != expect.kind || info.library_only || (expect.static_linked && !info.static_linked) {
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
            crate::binary::with_article(&info.describe()),
            expected(Some(expect))
        );
    }
    Ok(info)
}

fn expected(expect: Option<&Expect>) -> String {
    match expect {
        Some(e) => crate::binary::with_article(&format!(
            "{}{} executable",
            if e.static_linked { "static " } else { "" },
            e.kind
        )),
        None => "a binary".into(),
    }
}

fn same_file_contents(path: &Utf8Path, bytes: &[u8], executable: bool) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    meta.len() == bytes.len() as u64
        && (!cfg!(unix) || is_executable(&meta) == executable)
        && std::fs::read(path).is_ok_and(|old| old == bytes)
}
