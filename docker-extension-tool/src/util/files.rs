//! Small file-system helpers shared by the commands that walk or write trees.

use std::io::Write as _;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest as _, Sha256};

use crate::util::digest::Digest;

/// An entry [`walk`] found.
pub(crate) struct Found<'a> {
    /// Its path under the walk's root.
    pub rel: &'a Utf8Path,
    pub path: &'a Utf8Path,
    /// The entry's own type: a link is a link, never what it points at.
    pub file_type: std::fs::FileType,
}

/// Walks the tree under `root` (the one folder walk every command uses), never following
/// a link. `visit` sees every entry, folders included, and says whether to go on into a
/// folder. The order is unspecified: callers that need one sort.
pub(crate) fn walk(
    root: &Utf8Path,
    mut visit: impl FnMut(&Found) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
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
pub(crate) fn files_under(
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
pub(crate) fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub(crate) fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// Mode 755 or 644 (nothing where files have no modes).
#[cfg(unix)]
pub(crate) fn set_executable(path: &Utf8Path, executable: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {path}"))
}

#[cfg(not(unix))]
pub(crate) fn set_executable(_: &Utf8Path, _: bool) -> anyhow::Result<()> {
    Ok(())
}

/// The most text a config file may give a label (a description, a changelog): a label is
/// text, not a file of that size.
pub(crate) const MAX_LABEL_FILE: u64 = 1 << 20;

/// Where a path named by the config really is, checked to be inside the workspace: what
/// dist reads into an image never comes from outside it. `rel` is relative to `root`;
/// absolute paths, `..` that climbs out, and symbolic links that lead outside are refused
/// with a sentence naming the path and where it points. A path that does not exist is
/// returned as it is (the caller says it is missing). Links inside the workspace are
/// followed.
pub(crate) fn confined(root: &Utf8Path, rel: &Utf8Path) -> Result<Utf8PathBuf, String> {
    use camino::Utf8Component;
    if rel.components().any(|c| matches!(c, Utf8Component::Prefix(_) | Utf8Component::RootDir)) {
        return Err(format!(
            "{rel} is an absolute path: an image carries only files from inside the workspace; give a path relative to {root}"
        ));
    }
    let mut depth = 0usize;
    for component in rel.components() {
        match component {
            Utf8Component::ParentDir if depth == 0 => {
                return Err(format!(
                    "{rel} climbs out of the workspace ({root}) with `..`: an image carries only files from inside it; move the file into the workspace"
                ));
            }
            Utf8Component::ParentDir => depth -= 1,
            Utf8Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    let path = root.join(rel);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(path);
    }
    let real_root = canonical(root).unwrap_or_else(|_| root.to_path_buf());
    match canonical(&path) {
        Ok(real) if real.starts_with(&real_root) => Ok(real),
        Ok(real) => Err(leaves(root, rel, &real)),
        // A link that points nowhere: refused if it points outside.
        Err(_) => match link_target_outside(&real_root, &path) {
            Some(target) => Err(leaves(root, rel, &target)),
            None => Ok(path),
        },
    }
}

/// The sentence for a path that leads out of the workspace: names the link and its target.
fn leaves(root: &Utf8Path, rel: &Utf8Path, real: &Utf8Path) -> String {
    let mut prefix = root.to_path_buf();
    for component in rel.components() {
        prefix.push(component);
        if std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink()) {
            let target = std::fs::read_link(&prefix).map(|t| t.display().to_string()).unwrap_or_default();
            let through = prefix.strip_prefix(root).unwrap_or(&prefix);
            let what = if through == rel {
                format!("{rel} is a symbolic link to {target}")
            } else {
                format!("{rel} is reached through the symbolic link {through} (to {target})")
            };
            return format!(
                "{what}, which is {real}, outside the workspace ({root}): an image carries only files from inside the workspace; copy the file into it instead of linking"
            );
        }
    }
    format!("{rel} leads to {real}, outside the workspace ({root}); copy the file into it instead")
}

/// For a link at `path`: where it points, when that is outside `real_root` (resolved as
/// far as it exists; a dangling link is judged by its text).
pub(crate) fn link_target_outside(real_root: &Utf8Path, path: &Utf8Path) -> Option<Utf8PathBuf> {
    if let Ok(real) = canonical(path) {
        return (!real.starts_with(real_root)).then_some(real);
    }
    let target = Utf8PathBuf::try_from(std::fs::read_link(path).ok()?).ok()?;
    let parent = canonical(path.parent()?).ok()?;
    let mut resolved = if target.is_absolute() { Utf8PathBuf::new() } else { parent };
    for component in target.components() {
        match component {
            camino::Utf8Component::ParentDir => {
                resolved.pop();
            }
            camino::Utf8Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    (!resolved.starts_with(real_root)).then_some(resolved)
}

/// Every symbolic link under `dir` (not entering `skip`ped folders) that leads outside
/// `root`, as (the link, where it points).
pub(crate) fn links_leaving(
    root: &Utf8Path,
    dir: &Utf8Path,
    skip: impl Fn(&Utf8Path, &str) -> bool,
) -> anyhow::Result<Vec<(Utf8PathBuf, Utf8PathBuf)>> {
    let real_root = canonical(root).with_context(|| format!("resolving {root}"))?;
    let mut found = vec![];
    walk(dir, |entry| {
        if skip(entry.path, entry.path.file_name().unwrap_or_default()) {
            return Ok(false);
        }
        if entry.file_type.is_symlink() {
            if let Some(target) = link_target_outside(&real_root, entry.path) {
                found.push((entry.path.to_path_buf(), target));
            }
        }
        Ok(true)
    })?;
    found.sort();
    Ok(found)
}

/// Where `path` really is (links resolved, absolute), as std's canonicalize says, but on
/// Windows without the `\\?\` prefix it adds (`C:\Users\…`, not `\\?\C:\Users\…`): such a
/// path would neither compare with the workspace's nor read well in a message.
pub(crate) fn canonical(path: &Utf8Path) -> std::io::Result<Utf8PathBuf> {
    #[cfg(windows)]
    let real = dunce::canonicalize(path)?;
    #[cfg(not(windows))]
    let real = path.as_std_path().canonicalize()?;
    Utf8PathBuf::try_from(real).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A relative path as an image (a tar entry, metadata.json, a Dockerfile) writes it: its
/// names joined by `/`, whatever this OS's separator (`ui\\assets\\app.js` on Windows).
pub(crate) fn slashed(rel: &Utf8Path) -> String {
    rel.components().map(|c| c.as_str()).collect::<Vec<_>>().join("/")
}

/// Whether a file system tells `UI` from `ui`. NTFS does not, and APFS as macOS formats it
/// does not: there `--out UI` is the `ui` folder, and the rules that keep dist from writing
/// over sources must compare so. (A case-sensitive APFS volume is judged as the default
/// one: a refusal more, never a loss.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathCase {
    Sensitive,
    Insensitive,
}

impl PathCase {
    /// This OS's file systems, as they are formatted by default.
    pub(crate) const HERE: PathCase =
        if cfg!(any(windows, target_os = "macos")) { PathCase::Insensitive } else { PathCase::Sensitive };

    fn same_name(self, a: &str, b: &str) -> bool {
        match self {
            PathCase::Sensitive => a == b,
            PathCase::Insensitive => a == b || a.to_lowercase() == b.to_lowercase(),
        }
    }

    /// Whether `path` is `base` or inside it, component by component.
    pub(crate) fn starts_with(self, path: &Utf8Path, base: &Utf8Path) -> bool {
        let mut path = path.components();
        for component in base.components() {
            match path.next() {
                Some(c) if self.same_name(c.as_str(), component.as_str()) => {}
                _ => return false,
            }
        }
        true
    }

    /// Whether `a` and `b` name the same place (as written: resolve links first).
    pub(crate) fn same(self, a: &Utf8Path, b: &Utf8Path) -> bool {
        self.starts_with(a, b) && self.starts_with(b, a)
    }
}

/// Copies `from` to `to` in chunks (never the whole file in memory).
pub(crate) fn copy_file(from: &Utf8Path, to: &Utf8Path) -> anyhow::Result<u64> {
    let mut source = std::fs::File::open(from).with_context(|| format!("opening {from}"))?;
    let mut dest = std::fs::File::create(to).with_context(|| format!("creating {to}"))?;
    let copied = std::io::copy(&mut source, &mut dest).with_context(|| format!("copying {from} to {to}"))?;
    Ok(copied)
}

/// Whether two files have the same bytes, compared in chunks.
pub(crate) fn same_contents(a: &Utf8Path, b: &Utf8Path) -> bool {
    use std::io::Read;
    let (Ok(meta_a), Ok(meta_b)) = (std::fs::metadata(a), std::fs::metadata(b)) else { return false };
    if meta_a.len() != meta_b.len() {
        return false;
    }
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else { return false };
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let Ok(n) = fa.read(&mut ba) else { return false };
        if n == 0 {
            return fb.read(&mut bb[..1]).is_ok_and(|m| m == 0);
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// The SHA-256 of a file's bytes, read in chunks, fed to `hasher`.
pub(crate) fn hash_file(path: &Utf8Path, hasher: &mut impl std::io::Write) -> anyhow::Result<u64> {
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    std::io::copy(&mut file, hasher).with_context(|| format!("reading {path}"))
}

/// Reads a small file whole, refusing one larger than `max` bytes (checked while reading:
/// the size the file system reports is not trusted).
pub(crate) fn read_capped(path: &Utf8Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let mut bytes = vec![];
    file.take(max + 1).read_to_end(&mut bytes).with_context(|| format!("reading {path}"))?;
    if bytes.len() as u64 > max {
        anyhow::bail!("{path} is larger than {max} bytes");
    }
    Ok(bytes)
}

/// Twelve hex digits of SHA-256: a stable short name for a path (scratch files, dev
/// sessions, containers), so two contexts or checkouts never share one.
pub(crate) fn short_hash(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))[..12].to_string()
}

/// A SHA-256 over what decides some work's output (the UI build, the contract's file): a
/// stamp holding it lets the work be skipped when nothing changed. Fields are
/// length-prefixed, so no two different inputs hash the same bytes; files are streamed.
pub(crate) struct Fingerprint(Sha256);

impl Fingerprint {
    pub(crate) fn new() -> Fingerprint {
        Fingerprint(Sha256::new())
    }

    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// `name` as a field, then the file's length and bytes; a missing file as the field
    /// `missing` when `missing_ok`, else an error.
    pub(crate) fn file(&mut self, name: &str, path: &Utf8Path, missing_ok: bool) -> anyhow::Result<()> {
        self.field(name.as_bytes());
        match std::fs::metadata(path) {
            Ok(meta) => {
                self.0.update(meta.len().to_le_bytes());
                hash_file(path, &mut self.0)?;
            }
            Err(_) if missing_ok => self.field(b"missing"),
            Err(e) => return Err(e).with_context(|| format!("reading {path}")),
        }
        Ok(())
    }

    /// The digest of every field and file given.
    pub(crate) fn finish(self) -> Digest {
        Digest::from_hasher(self.0)
    }
}

/// Writes a file through a temporary sibling and a rename: readers never see half a file,
/// and a symlink standing at `path` is replaced, never followed.
pub(crate) fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> anyhow::Result<()> {
    let parent = path.parent().filter(|p| !p.as_str().is_empty()).unwrap_or(Utf8Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {parent}"))?;
    let name = path.file_name().with_context(|| format!("{path} has no file name"))?;
    let temp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .with_context(|| format!("writing {temp}"));
    if let Err(e) = written
        .and_then(|()| std::fs::rename(&temp, path).with_context(|| format!("renaming {temp} to {path}")))
    {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    Ok(())
}
