//! The files of an extension that the template owns and the tool keeps up to date: the
//! GitHub workflows and Dependabot's config, the `cargo xtask` alias, CI's script, the
//! Rust toolchain's pin and the xtask's `main.rs`. The
//! tool carries their current versions (its `templates/` folder, packaged with it). `new`
//! writes them and records each one's SHA-256 in [`RECORD`]; `upgrade` rewrites a file only
//! while it still has the recorded hash (its author has not edited it), and otherwise
//! leaves it alone and writes the new version beside it, for a merge by hand.

use std::collections::BTreeMap;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::util::digest::Digest;

/// A file the template owns: where it goes, and the tool's version of it.
pub(crate) struct OwnedFile {
    pub path: &'static str,
    pub contents: &'static str,
    pub executable: bool,
}

macro_rules! owned {
    ($path:literal, $executable:literal) => {
        OwnedFile {
            path: $path,
            contents: include_str!(concat!("../../templates/", $path)),
            executable: $executable,
        }
    };
}

/// Every file the template owns.
pub(crate) const OWNED: &[OwnedFile] = &[
    owned!(".github/workflows/ci.yml", false),
    owned!(".github/workflows/release.yml", false),
    owned!(".github/workflows/release-matrix.yml", false),
    owned!(".github/dependabot.yml", false),
    owned!("rust-toolchain.toml", false),
    owned!(".cargo/config.toml", false),
    owned!(".ci/run", true),
    owned!("xtask/src/main.rs", false),
];

/// Where an extension records what the tool wrote for it.
pub(crate) const RECORD: &str = "xtask/template.json";

/// The extension's record: the tool that wrote the owned files, and each one's hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The tool's version that last wrote them.
    pub tool: String,
    /// Path → the digest of the contents the tool wrote.
    pub files: BTreeMap<String, Digest>,
}

impl Record {
    pub(crate) fn read(root: &Utf8Path) -> anyhow::Result<Record> {
        let path = root.join(RECORD);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{path} is not a record of the template's files")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(e).with_context(|| format!("reading {path}")),
        }
    }

    pub(crate) fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The digest of a text.
pub(crate) fn hash(text: &[u8]) -> Digest {
    Digest::of(text)
}

/// What `upgrade` did with one owned file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// It was the tool's and is now the new tool's.
    Rewritten,
    /// A file the new tool adds.
    Added,
    /// Its author edited it: left alone, the new version written beside it.
    Edited { beside: Utf8PathBuf },
    /// Its author removed it: not brought back.
    Removed,
}

/// Brings the owned files of the workspace at `root` up to this tool's versions, and the
/// record with them. Returns what changed, file by file (nothing for a file already
/// current).
pub(crate) fn refresh(root: &Utf8Path) -> anyhow::Result<Vec<(String, Refresh)>> {
    let mut record = Record::read(root)?;
    let mut changes = vec![];
    for file in OWNED {
        let path = root.join(file.path);
        let recorded = record.files.get(file.path).cloned();
        let current = match std::fs::read(&path) {
            Ok(bytes) => Some(hash(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {path}")),
        };
        let new = hash(file.contents.as_bytes());
        let change = match (&recorded, &current) {
            (_, Some(current)) if *current == new => None,
            (Some(_), None) => Some(Refresh::Removed),
            (None, None) => {
                write(&path, file)?;
                Some(Refresh::Added)
            }
            (Some(recorded), Some(current)) if recorded == current => {
                write(&path, file)?;
                Some(Refresh::Rewritten)
            }
            (_, Some(_)) => {
                let beside = path.with_file_name(format!("{}.upgrade", path.file_name().unwrap_or("file")));
                crate::util::files::write_atomic(&beside, file.contents.as_bytes())?;
                let rel = beside.strip_prefix(root).unwrap_or(&beside).to_path_buf();
                changes.push((file.path.to_string(), Refresh::Edited { beside: rel }));
                continue;
            }
        };
        if change != Some(Refresh::Removed) {
            record.files.insert(file.path.to_string(), new);
        }
        if let Some(change) = change {
            changes.push((file.path.to_string(), change));
        }
    }
    record.tool = env!("CARGO_PKG_VERSION").to_string();
    crate::util::files::write_atomic(&root.join(RECORD), record.to_json().as_bytes())?;
    Ok(changes)
}

fn write(path: &Utf8Path, file: &OwnedFile) -> anyhow::Result<()> {
    crate::util::files::write_atomic(path, file.contents.as_bytes())?;
    crate::util::files::set_executable(path, file.executable)
}

/// The record `new` writes: every owned file it wrote as the tool's version of it.
pub(crate) fn record_for(files: impl Iterator<Item = (String, Vec<u8>)>) -> Record {
    let mut record = Record { tool: env!("CARGO_PKG_VERSION").to_string(), files: BTreeMap::new() };
    for (path, contents) in files {
        if let Some(file) = OWNED.iter().find(|f| f.path == path) {
            // Only what is the tool's own: a template workspace's edited copy is its author's.
            if contents == file.contents.as_bytes() {
                record.files.insert(path, hash(&contents));
            }
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> Utf8PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-owned-{name}-{}", std::process::id()));
        let dir = Utf8PathBuf::try_from(dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn unedited_files_are_rewritten_edited_ones_left_with_the_new_version_beside() {
        let root = temp("refresh");
        // What an older tool wrote: every file, recorded; then the author edits one and
        // removes another.
        let mut record = Record { tool: "0.0.1".into(), files: BTreeMap::new() };
        for file in OWNED {
            let old = format!("{}# an older tool's\n", file.contents);
            crate::util::files::write_atomic(&root.join(file.path), old.as_bytes()).unwrap();
            record.files.insert(file.path.into(), hash(old.as_bytes()));
        }
        std::fs::write(root.join(RECORD), record.to_json()).unwrap();
        std::fs::write(root.join(".github/workflows/release.yml"), "# mine now\n").unwrap();
        std::fs::remove_file(root.join(".cargo/config.toml")).unwrap();

        let changes = refresh(&root).unwrap();
        let get = |path: &str| changes.iter().find(|(p, _)| p == path).map(|(_, c)| c.clone());
        assert_eq!(get(".github/workflows/ci.yml"), Some(Refresh::Rewritten));
        assert_eq!(
            get(".github/workflows/release.yml"),
            Some(Refresh::Edited { beside: ".github/workflows/release.yml.upgrade".into() })
        );
        assert_eq!(get(".cargo/config.toml"), Some(Refresh::Removed));
        assert_eq!(
            std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap(),
            "# mine now\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join(".github/workflows/release.yml.upgrade")).unwrap(),
            OWNED[1].contents
        );
        assert_eq!(
            std::fs::read_to_string(root.join(".github/workflows/ci.yml")).unwrap(),
            OWNED[0].contents
        );
        assert!(!root.join(".cargo/config.toml").exists(), "a removed file is not brought back");
        let record = Record::read(&root).unwrap();
        assert_eq!(record.tool, env!("CARGO_PKG_VERSION"));
        assert_eq!(record.files[".github/workflows/ci.yml"], hash(OWNED[0].contents.as_bytes()));
        // Again: everything current or the author's, nothing changes.
        let again = refresh(&root).unwrap();
        assert_eq!(again.len(), 2, "still edited and still removed: {again:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
