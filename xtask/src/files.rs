//! Small file-system helpers shared by the commands that walk or write trees.

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};

/// An entry [`walk`] found.
pub struct Found<'a> {
    /// Its path under the walk's root.
    pub rel: &'a Utf8Path,
    pub path: &'a Utf8Path,
    /// The entry's own type: a link is a link, never what it points at.
    pub file_type: std::fs::FileType,
}

/// Walks the tree under `root` (the one folder walk every command uses), never following
/// a link. `visit` sees every entry, folders included, and says whether to go on into a
/// folder. The order is unspecified: callers that need one sort.
pub fn walk(root: &Utf8Path, mut visit: impl FnMut(&Found) -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in dir.read_dir_utf8().with_context(|| format!("reading {dir}"))? {
            let entry = entry.with_context(|| format!("reading {dir}"))?;
            let file_type = entry.file_type().with_context(|| format!("reading {}", entry.path()))?;
            let rel = entry.path().strip_prefix(root).expect("walked from root");
            let enter = visit(&Found { rel, path: entry.path(), file_type })?;
            if enter && file_type.is_dir() {
                stack.push(entry.path().to_path_buf());
            }
        }
    }
    Ok(())
}

/// Every file under `root` (not folders), relative to it and sorted. `skip` sees each
/// entry's full path and name; a skipped folder is not entered.
pub fn files_under(
    root: &Utf8Path,
    skip: impl Fn(&Utf8Path, &str) -> bool,
) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let mut files = vec![];
    walk(root, |found| {
        if skip(found.path, found.path.file_name().unwrap_or_default()) {
            return Ok(false);
        }
        if !found.file_type.is_dir() {
            files.push(found.rel.to_path_buf());
        }
        Ok(true)
    })?;
    files.sort();
    Ok(files)
}

/// Whether the mode marks the file executable (false where files have no modes).
#[cfg(unix)]
pub fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// Mode 755 or 644 (nothing where files have no modes).
#[cfg(unix)]
pub fn set_executable(path: &Utf8Path, executable: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {path}"))
}

#[cfg(not(unix))]
pub fn set_executable(_: &Utf8Path, _: bool) -> anyhow::Result<()> {
    Ok(())
}
