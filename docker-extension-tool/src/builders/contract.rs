//! The typed contract: the UI's TypeScript for the JSON the backend and the host binaries
//! exchange with it, generated from their Rust types. The contract's package prints the
//! declarations (its `typescript` example, with ts-rs); this writes them, after a header, to
//! the file the UI imports. `dist` and `dev` regenerate it before the UI builds (skipped by a
//! fingerprint when nothing that decides it changed), so the UI's type check sees every
//! renamed field; the extension's tests compare it with what the types give and name each
//! type that differs.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use camino::Utf8Path;
use xshell::Shell;

use crate::plan::ContractGen;
use crate::util::files::{files_under, write_atomic, Fingerprint};

/// What a generation did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ContractOutcome {
    /// Nothing that decides the file changed since it was last written: nothing ran.
    UpToDate,
    /// The types were read again and gave the same file.
    Unchanged,
    /// The file was (re)written; the types that differ from what it held.
    Written(Vec<TypeChange>),
}

/// A declaration that differs between the generated file and what the Rust types give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeChange {
    pub name: String,
    pub change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// In both, with other fields or docs.
    Changed,
    /// A Rust type the file does not declare.
    Added,
    /// Declared in the file, no longer a Rust type of the contract.
    Removed,
}

impl std::fmt::Display for TypeChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let change = match self.change {
            Change::Changed => "changed",
            Change::Added => "new",
            Change::Removed => "removed",
        };
        write!(f, "{} ({change})", self.name)
    }
}

/// The changes as a list for a sentence: `Hello (changed), Greeting (new)`.
pub(crate) fn list(changes: &[TypeChange]) -> String {
    changes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Writes the contract's file when the types give something else than it holds.
pub(crate) fn generate(
    sh: &Shell,
    contract: &ContractGen,
    root: &Utf8Path,
    stamp: &Utf8Path,
) -> anyhow::Result<ContractOutcome> {
    let before = fingerprint(contract, root)?;
    if std::fs::read_to_string(stamp).is_ok_and(|s| s.trim() == before) {
        return Ok(ContractOutcome::UpToDate);
    }
    let fresh = render(sh, contract, root)?;
    let old = read_output(contract)?;
    let outcome = if old.as_deref() == Some(fresh.as_str()) {
        ContractOutcome::Unchanged
    } else {
        write_atomic(&contract.output, fresh.as_bytes())?;
        ContractOutcome::Written(differences(old.as_deref().unwrap_or_default(), &fresh))
    };
    write_atomic(stamp, fingerprint(contract, root)?.as_bytes())?;
    Ok(outcome)
}

/// What differs between the file and what the types give (empty: up to date). Writes
/// nothing: the tests' check.
pub(crate) fn stale(sh: &Shell, contract: &ContractGen, root: &Utf8Path) -> anyhow::Result<Vec<TypeChange>> {
    let fresh = render(sh, contract, root)?;
    let old = read_output(contract)?.unwrap_or_default();
    let mut changes = differences(&old, &fresh);
    if changes.is_empty() && old != fresh {
        // Same declarations, other bytes: the header or an edit between them.
        changes.push(TypeChange { name: "the file's header".into(), change: Change::Changed });
    }
    Ok(changes)
}

/// The file's contents as the Rust types give them: the header, then what the package's
/// example prints.
pub(crate) fn render(sh: &Shell, contract: &ContractGen, root: &Utf8Path) -> anyhow::Result<String> {
    let _dir = sh.push_dir(root);
    let declarations = contract.command.cmd(sh)?.quiet().read().with_context(|| {
        format!(
            "generating the UI's TypeScript from the package `{}`: `{}` failed (see cargo's message above)",
            contract.package, contract.command
        )
    })?;
    Ok(assemble(&header(&contract.package), declarations.trim()))
}

/// The header, then the declarations after a blank line (none: the header alone).
fn assemble(header: &str, declarations: &str) -> String {
    match declarations {
        "" => format!("{header}\n"),
        declarations => format!("{header}\n\n{declarations}\n"),
    }
}

/// The file without the declarations of `names`, as the types would give it without them
/// (`new` uses this for the types of the parts a new extension leaves out).
pub(crate) fn without(text: &str, names: &BTreeSet<String>) -> String {
    let mut blocks = text.trim_end().split("\n\n");
    let header = blocks.next().unwrap_or_default();
    let kept: Vec<&str> =
        blocks.filter(|block| declared_name(block).is_none_or(|name| !names.contains(&name))).collect();
    assemble(header, &kept.join("\n\n"))
}

fn header(package: &str) -> String {
    format!(
        "// Generated from the Rust types of the package `{package}` (its `typescript` example,\n\
         // ts-rs) by `cargo xtask dist`, `dev` and `contract`. Do not edit: change the Rust\n\
         // types. The extension's tests fail when this file is not what they give."
    )
}

fn read_output(contract: &ContractGen) -> anyhow::Result<Option<String>> {
    match std::fs::read(&contract.output) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", contract.output)),
    }
}

/// The declarations that differ, by name (removed ones last).
pub(crate) fn differences(old: &str, new: &str) -> Vec<TypeChange> {
    let (old, new) = (declarations(old), declarations(new));
    let mut changes = vec![];
    for (name, text) in &new {
        match old.get(name) {
            None => changes.push(TypeChange { name: name.clone(), change: Change::Added }),
            Some(before) if before != text => {
                changes.push(TypeChange { name: name.clone(), change: Change::Changed });
            }
            Some(_) => {}
        }
    }
    for name in old.keys().filter(|name| !new.contains_key(*name)) {
        changes.push(TypeChange { name: name.clone(), change: Change::Removed });
    }
    changes
}

/// Each `export type NAME` / `export interface NAME` declaration's text (with the doc
/// comment before it), by name. Declarations are separated by blank lines, as ts-rs's
/// declarations (one per type) are written.
fn declarations(text: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for block in text.split("\n\n") {
        if let Some(name) = declared_name(block) {
            found.insert(name, block.trim().to_string());
        }
    }
    found
}

/// The name a block of the file declares, if it declares one.
fn declared_name(block: &str) -> Option<String> {
    block.lines().find_map(|line| {
        let rest = line.strip_prefix("export type ").or_else(|| line.strip_prefix("export interface "))?;
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(rest.len());
        Some(rest[..end].to_string()).filter(|name| !name.is_empty())
    })
}

/// A SHA-256 over what decides the file: the command, every file of the contract's package
/// (but build output and dot-folders), the workspace's Cargo.toml and Cargo.lock (versions
/// of serde and ts-rs), and the file as it is now (an edit or a deletion regenerates it).
fn fingerprint(contract: &ContractGen, root: &Utf8Path) -> anyhow::Result<String> {
    let mut fingerprint = Fingerprint::new();
    fingerprint.field(env!("CARGO_PKG_VERSION").as_bytes());
    fingerprint.field(contract.command.to_string().as_bytes());
    let files = files_under(&contract.package_dir, |_, name| name == "target" || name.starts_with('.'))?;
    let workspace_files = ["Cargo.toml", "Cargo.lock"].map(|name| root.join(name));
    let paths = files
        .iter()
        .map(|rel| contract.package_dir.join(rel))
        .chain(workspace_files)
        .chain([contract.output.clone()]);
    for path in paths {
        fingerprint.file(path.as_str(), &path, true)?;
    }
    Ok(fingerprint.finish().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "// header\n\n/**\n * The answer.\n */\nexport type Hello = { message: string, };\n\n\
                       export type Gone = { a: number, };\n\nexport type Same = { b: boolean, };\n";
    const NEW: &str = "// header\n\n/**\n * The answer.\n */\nexport type Hello = { greeting: string, };\n\n\
                       export type Same = { b: boolean, };\n\nexport type Added = {\n/**\n * x\n */\nx: string, };\n";

    #[test]
    fn names_each_declaration_that_differs() {
        let changes = differences(OLD, NEW);
        assert_eq!(list(&changes), "Added (new), Hello (changed), Gone (removed)");
        assert!(differences(NEW, NEW).is_empty());
        assert_eq!(list(&differences("", NEW)), "Added (new), Hello (new), Same (new)");
    }

    #[test]
    fn leaving_declarations_out_gives_what_generation_would() {
        let file = assemble(
            "// header",
            "export type A = { a: string, };\n\n/**\n * B\n */\nexport type B = { b: string, };",
        );
        let names = |list: &[&str]| list.iter().map(ToString::to_string).collect::<BTreeSet<_>>();
        assert_eq!(without(&file, &names(&["B"])), assemble("// header", "export type A = { a: string, };"));
        assert_eq!(without(&file, &names(&["A", "B"])), assemble("// header", ""));
        assert_eq!(without(&file, &names(&[])), file);
    }

    #[test]
    fn a_doc_change_is_a_change() {
        let edited = OLD.replace("The answer.", "The backend's answer.");
        assert_eq!(list(&differences(OLD, &edited)), "Hello (changed)");
    }
}
