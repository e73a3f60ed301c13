//! What a command may remove or replace: only what it made itself.
//!
//! * A build context is dist's own when it holds [`CONTEXT_MARKER`], a list of every path
//!   dist wrote into it, and nothing else. Anything more (a user's file dropped in, a
//!   folder of sources that happens to hold a marker) and it is not replaced.
//! * A file dist writes outside a context (an OCI archive) is recorded with its SHA-256 in
//!   a ledger under the target folder; it is replaced only while it still has those bytes.
//! * Whatever a check refuses is refused before anything is compiled, and checked again
//!   right before the replacement, so a slow build cannot race a user's edit.
//!
//! Symlinks are never followed, replaced or removed: a link at a destination is refused.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};

use crate::image::spec::GENERATED_HEADER;
use crate::util::digest::Digest;
use crate::util::files::{slashed, walk, write_atomic};
use crate::workspace::config::Protected;

/// The file that marks a folder as a context dist wrote, listing what it wrote there.
pub(crate) const CONTEXT_MARKER: &str = ".cargo-xtask-dist";
const MARKER_HEADER: &str = "# Written by `cargo xtask dist`: this folder is its build context, and the\n\
# next dist run replaces it. It removes nothing that is not listed below.\n";

/// The real location a destination given on the command line names: relative to `cwd`,
/// `.` and `..` resolved, and every folder above it that exists resolved through its
/// links, so `--out link-to-the-workspace/x` is judged where it really is. The last
/// component is kept as given: a link there is refused, not followed.
pub(crate) fn resolve_destination(cwd: &Utf8Path, path: &Utf8Path) -> Utf8PathBuf {
    let joined = cwd.join(path);
    let mut lexical = Utf8PathBuf::new();
    for component in joined.components() {
        match component {
            camino::Utf8Component::CurDir => {}
            camino::Utf8Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other),
        }
    }
    let Some(name) = lexical.file_name().map(str::to_string) else { return lexical };
    let mut existing = lexical.parent().map(Utf8Path::to_path_buf).unwrap_or_default();
    let mut missing = vec![];
    while !existing.as_str().is_empty() && !existing.exists() {
        missing.push(existing.file_name().unwrap_or_default().to_string());
        existing.pop();
    }
    let mut resolved = crate::util::files::canonical(&existing).unwrap_or(existing);
    for part in missing.iter().rev() {
        resolved.push(part);
    }
    resolved.push(name);
    resolved
}

/// Why a destination may not be written.
fn refuse(path: &Utf8Path, what: &str, instead: &str) -> anyhow::Error {
    anyhow::anyhow!("refusing to write to {path}: {what}, which dist did not make; {instead}")
}

/// Checks that `context` may become (or be replaced by) a build context. `names` are the
/// top-level entries dist writes into one: a context from a dist that wrote no marker yet
/// is recognised by its generated Dockerfile and by holding nothing but those.
pub(crate) fn check_context_destination(
    context: &Utf8Path,
    protected: &Protected,
    names: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let instead = "choose a new folder for --out (or leave --out out: the context goes to target/extension)";
    let case = protected.case;
    if case.starts_with(&protected.root, context) {
        return Err(refuse(context, "it is the workspace root or a folder above it", instead));
    }
    if let Some(dir) =
        protected.source_dirs.iter().find(|d| case.starts_with(d, context) || case.starts_with(context, d))
    {
        let what = if case.same(dir, context) {
            "it holds the workspace's sources".to_string()
        } else if case.starts_with(context, dir) {
            format!("it is inside {dir}, which holds the workspace's sources (the build would pick it up)")
        } else {
            format!("it holds {dir}, the workspace's sources")
        };
        return Err(refuse(context, &what, instead));
    }
    let meta = match std::fs::symlink_metadata(context) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {context}")),
        Ok(meta) => meta,
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(context, "it is a symbolic link", instead));
    }
    if !meta.is_dir() {
        return Err(refuse(context, "it is a file", instead));
    }
    match foreign_entries(context, names)? {
        None => Ok(()),
        Some(entries) => {
            let shown: Vec<&str> = entries.iter().take(3).map(|p| p.as_str()).collect();
            let more =
                if entries.len() > 3 { format!(" and {} more", entries.len() - 3) } else { String::new() };
            Err(refuse(context, &format!("it is a folder holding {}{more}", shown.join(", ")), instead))
        }
    }
}

/// The entries of an existing folder that dist did not write there (`None`: every entry is
/// dist's, or the folder is empty).
fn foreign_entries(dir: &Utf8Path, names: &BTreeSet<String>) -> anyhow::Result<Option<Vec<Utf8PathBuf>>> {
    let listed = match std::fs::read_to_string(dir.join(CONTEXT_MARKER)) {
        Ok(text) => parse_marker(&text),
        Err(_) if is_unmarked_context(dir, names) => return Ok(None),
        Err(_) => BTreeSet::new(),
    };
    let mut foreign = vec![];
    walk(dir, |entry| {
        if entry.rel == CONTEXT_MARKER {
            return Ok(false);
        }
        if listed.contains(&slashed(entry.rel)) {
            return Ok(true); // go on into a folder of dist's
        }
        foreign.push(entry.rel.to_path_buf());
        Ok(false)
    })?;
    foreign.sort();
    Ok(if foreign.is_empty() { None } else { Some(foreign) })
}

/// A context written before dist marked its contexts: a generated Dockerfile, and nothing
/// at the top but what a context holds.
fn is_unmarked_context(dir: &Utf8Path, names: &BTreeSet<String>) -> bool {
    let generated =
        std::fs::read_to_string(dir.join("Dockerfile")).is_ok_and(|d| d.starts_with(GENERATED_HEADER));
    generated
        && dir.read_dir_utf8().is_ok_and(|entries| {
            entries.map_while(Result::ok).all(|e| names.contains(e.file_name()) && !e.path().is_symlink())
        })
}

/// The paths a marker lists, with `/` between names (a marker an older Windows dist wrote
/// with `\` reads the same).
fn parse_marker(text: &str) -> BTreeSet<String> {
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| l.replace('\\', "/")).collect()
}

/// The marker of a staged context: every path under it, folders included (and the marker),
/// with `/` between names on every OS: a context written on Windows is dist's on Linux too
/// (the same workspace from WSL, a shared folder).
pub(crate) fn marker_text(dir: &Utf8Path) -> anyhow::Result<String> {
    let mut paths = BTreeSet::new();
    walk(dir, |entry| {
        paths.insert(slashed(entry.rel));
        Ok(true)
    })?;
    paths.insert(CONTEXT_MARKER.into());
    let mut text = MARKER_HEADER.to_string();
    for path in paths {
        text.push_str(&path);
        text.push('\n');
    }
    Ok(text)
}

/// Writes the marker into a staged context.
#[cfg(test)]
fn mark_context(dir: &Utf8Path) -> anyhow::Result<()> {
    let text = marker_text(dir)?;
    std::fs::write(dir.join(CONTEXT_MARKER), text).map_err(Into::into)
}

/// Files dist wrote outside a context (OCI archives), with the SHA-256 they had then.
pub(crate) struct Ledger {
    file: Utf8PathBuf,
    entries: BTreeMap<Utf8PathBuf, Digest>,
}

impl Ledger {
    /// The ledger of a workspace, kept in its target folder.
    pub(crate) fn open(target_dir: &Utf8Path) -> Ledger {
        let file = target_dir.join("xtask/written-files.json");
        let entries = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Ledger { file, entries }
    }

    /// Checks that `path` may be written: absent, or a file this ledger recorded and that
    /// still has the recorded bytes.
    pub(crate) fn check_file_destination(&self, path: &Utf8Path, flag: &str) -> anyhow::Result<()> {
        let instead =
            format!("remove it yourself if it should go, or give {flag} a path that does not exist");
        let meta = match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {path}")),
            Ok(meta) => meta,
        };
        if meta.file_type().is_symlink() {
            return Err(refuse(path, "it is a symbolic link", &instead));
        }
        if meta.is_dir() {
            return Err(refuse(path, "it is a folder", &instead));
        }
        match self.entries.get(path) {
            Some(recorded) if *recorded == Digest::of_file(path)? => Ok(()),
            Some(_) => Err(refuse(path, "it is a file that changed since dist wrote it", &instead)),
            None => Err(refuse(path, "it is a file", &instead)),
        }
    }

    /// Records a file dist has just written.
    pub(crate) fn record(&mut self, path: &Utf8Path) -> anyhow::Result<()> {
        self.entries.insert(path.to_path_buf(), Digest::of_file(path)?);
        let text = serde_json::to_string_pretty(&self.entries).expect("a map of paths to digests serializes");
        write_atomic(&self.file, text.as_bytes())
    }
}

/// Whether `path` is inside the git repository at `root` and git tracks a file at or below
/// it. No git, or not a repository: false.
pub(crate) fn holds_tracked_files(sh: &xshell::Shell, root: &Utf8Path, path: &Utf8Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else { return false };
    let rel = if rel.as_str().is_empty() { Utf8Path::new(".") } else { rel };
    crate::util::process::cmd!(sh, "git -C {root} ls-files -- {rel}")
        .and_then(|c| Ok(c.quiet().ignore_stderr().read()?))
        .is_ok_and(|out| !out.trim().is_empty())
}

/// Stops with a message when `path` holds tracked files.
pub(crate) fn refuse_tracked(
    sh: &xshell::Shell,
    root: &Utf8Path,
    path: &Utf8Path,
    instead: &str,
) -> anyhow::Result<()> {
    if holds_tracked_files(sh, root, path) {
        bail!("refusing to write to {path}: git tracks files there; {instead}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::files::PathCase;

    fn temp(name: &str) -> Utf8PathBuf {
        let dir = Utf8PathBuf::try_from(std::env::temp_dir())
            .unwrap()
            .join(format!("xtask-ownership-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn protected(root: &Utf8Path) -> Protected {
        protected_as(root, PathCase::HERE)
    }

    fn protected_as(root: &Utf8Path, case: PathCase) -> Protected {
        Protected { root: root.to_path_buf(), source_dirs: vec![root.join("ui"), root.join("backend")], case }
    }

    /// NTFS and APFS (as macOS formats it) do not tell `UI` from `ui`: there a destination
    /// spelled in other letters is the sources' folder, and is refused as such.
    #[test]
    fn where_names_ignore_case_another_spelling_is_the_same_folder() {
        let root = Utf8PathBuf::from(if cfg!(windows) {
            r"C:\Users\José Núñez\ext"
        } else {
            "/home/José Núñez/ext"
        });
        let insensitive = protected_as(&root, PathCase::Insensitive);
        for (dest, says) in [
            (root.join("UI"), "it holds the workspace's sources"),
            (root.join("Backend/Out"), "inside"),
            (Utf8PathBuf::from(root.as_str().to_uppercase()), "the workspace root"),
            (root.parent().unwrap().join("EXT"), "the workspace root"),
        ] {
            let err = check_context_destination(&dest, &insensitive, &names()).unwrap_err().to_string();
            assert!(err.contains(says), "{dest}: {err}");
        }
        assert!(check_context_destination(&root.join("ÜI"), &insensitive, &names()).is_ok(), "another name");
        // Where names are case-sensitive (Linux), `UI` is another folder: a new one, fine.
        let sensitive = protected_as(&root, PathCase::Sensitive);
        assert!(check_context_destination(&root.join("UI-does-not-exist"), &sensitive, &names()).is_ok());
        let err = check_context_destination(&root.join("ui"), &sensitive, &names()).unwrap_err().to_string();
        assert!(err.contains("it holds the workspace's sources"), "{err}");
        assert!(PathCase::Sensitive.starts_with(&root.join("ui/src"), &root.join("ui")));
        assert!(!PathCase::Sensitive.starts_with(&root.join("UI/src"), &root.join("ui")));
        assert!(PathCase::Insensitive.starts_with(&root.join("UI/src"), &root.join("ui")));
        assert!(!PathCase::Insensitive.starts_with(&root.join("uix"), &root.join("ui")), "whole names only");
    }

    fn names() -> BTreeSet<String> {
        ["Dockerfile", "metadata.json", "amd64", "arm64", "ui"].map(String::from).into()
    }

    #[test]
    fn an_unmarked_context_from_an_older_dist_is_recognised_narrowly() {
        let root = temp("unmarked");
        let context = root.join("ctx");
        std::fs::create_dir_all(context.join("amd64")).unwrap();
        std::fs::write(context.join("Dockerfile"), format!("{GENERATED_HEADER} from …\nFROM scratch\n"))
            .unwrap();
        check_context_destination(&context, &protected(&root), &names()).unwrap();
        std::fs::write(context.join("notes.txt"), "mine").unwrap();
        assert!(check_context_destination(&context, &protected(&root), &names()).is_err());
        std::fs::remove_file(context.join("notes.txt")).unwrap();
        std::fs::write(context.join("Dockerfile"), "FROM alpine\n").unwrap();
        assert!(check_context_destination(&context, &protected(&root), &names()).is_err(), "not generated");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_marked_context_is_ours_until_someone_adds_a_file() {
        let root = temp("marked");
        let context = root.join("target/extension");
        std::fs::create_dir_all(context.join("amd64")).unwrap();
        std::fs::write(context.join("amd64/backend"), "x").unwrap();
        std::fs::write(context.join("Dockerfile"), "FROM scratch").unwrap();
        mark_context(&context).unwrap();
        let names = names();
        check_context_destination(&context, &protected(&root), &names).unwrap();
        std::fs::write(context.join("amd64/notes.txt"), "mine").unwrap();
        let err = check_context_destination(&context, &protected(&root), &names).unwrap_err().to_string();
        let notes = Utf8Path::new("amd64").join("notes.txt");
        assert!(err.contains(&format!("it is a folder holding {notes}")), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn sources_roots_files_and_links_are_refused() {
        let root = temp("refused");
        std::fs::create_dir_all(root.join("ui/src")).unwrap();
        std::fs::write(root.join("README.md"), "readme").unwrap();
        std::os::unix::fs::symlink(&root, root.join("link")).unwrap();
        let p = protected(&root);
        for (dest, says) in [
            (root.clone(), "the workspace root"),
            (root.parent().unwrap().to_path_buf(), "the workspace root or a folder above it"),
            (root.join("ui"), "it holds the workspace's sources"),
            (root.join("ui/src/out"), "inside"),
            (root.join("README.md"), "it is a file"),
            (root.join("link"), "symbolic link"),
        ] {
            let err = check_context_destination(&dest, &p, &names()).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains(dest.as_str()), "{dest}: {err}");
        }
        check_context_destination(&root.join("new-folder"), &p, &names()).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn destinations_are_judged_where_they_really_are() {
        let root = temp("resolve");
        std::fs::create_dir_all(root.join("ws/ui")).unwrap();
        std::os::unix::fs::symlink(root.join("ws"), root.join("link")).unwrap();
        let root = root.canonicalize_utf8().unwrap();
        assert_eq!(resolve_destination(&root, "link/ui".into()), root.join("ws/ui"));
        assert_eq!(resolve_destination(&root.join("ws"), ".".into()), root.join("ws"));
        assert_eq!(resolve_destination(&root.join("ws/ui"), "..".into()), root.join("ws"));
        assert_eq!(resolve_destination(&root, "link/new/deeper".into()), root.join("ws/new/deeper"));
        assert_eq!(resolve_destination(&root, "link".into()), root.join("link"), "the last link is kept");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_ledger_replaces_only_unchanged_files_it_recorded() {
        let root = temp("ledger");
        let archive = root.join("ext.tar");
        let mut ledger = Ledger::open(&root.join("target"));
        ledger.check_file_destination(&archive, "--oci").unwrap();
        std::fs::write(&archive, "first").unwrap();
        assert!(ledger.check_file_destination(&archive, "--oci").is_err(), "not recorded yet");
        ledger.record(&archive).unwrap();
        let reopened = Ledger::open(&root.join("target"));
        reopened.check_file_destination(&archive, "--oci").unwrap();
        std::fs::write(&archive, "edited").unwrap();
        let err = reopened.check_file_destination(&archive, "--oci").unwrap_err().to_string();
        assert!(err.contains("changed since dist wrote it"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn atomic_writes_replace_a_link_without_following_it() {
        let root = temp("atomic");
        std::fs::write(root.join("precious"), "keep").unwrap();
        std::os::unix::fs::symlink(root.join("precious"), root.join("stamp")).unwrap();
        write_atomic(&root.join("stamp"), b"new").unwrap();
        assert_eq!(std::fs::read_to_string(root.join("precious")).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(root.join("stamp")).unwrap(), "new");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
