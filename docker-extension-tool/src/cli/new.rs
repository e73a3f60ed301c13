//! `cargo xtask new PATH` and `cargo xtask init`: start an extension from this workspace.
//!
//! The names to replace come from the current config (image, title, vendor, the first host
//! binary), so any extension workspace can be the template, not only the original one.
//! Parts the new extension leaves out (`--no-backend`, `--no-host-binaries`) are regions of
//! text between marker comments, removed with the part's files.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::util::process::cmd;

use crate::builders::contract;
use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::context::ownership::resolve_destination;
use crate::model::rules;
use crate::util::files::{files_under, is_executable, set_executable};
use crate::workspace::config::{current_dir, Config, HOST_BINARIES_DIR};
use crate::workspace::machine::runs;
use crate::workspace::owned;
use crate::workspace::pin::{ToolSource, TOOL, XTASK_MANIFEST};

/// The version a new extension starts at.
pub(crate) const START_VERSION: &str = "0.1.0";

/// Parts of the template that can be left out; the text between `template:<part>:begin`
/// and `template:<part>:end` marker lines belongs to the part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Backend,
    HostBinaries,
    /// The typed contract (its crate, its config, the UI's generated file): left out with
    /// both the backend and the host binaries, when no JSON is left to type.
    Contract,
    /// What only the tool's own repository has (its folder as a member, its suite in the
    /// xtask): never in a new extension, which depends on the tool instead.
    Tool,
}

impl Part {
    const ALL: [Part; 4] = [Part::Backend, Part::HostBinaries, Part::Contract, Part::Tool];

    fn name(self) -> &'static str {
        match self {
            Part::Backend => "backend",
            Part::HostBinaries => "host-binaries",
            Part::Contract => "contract",
            Part::Tool => "tool",
        }
    }

    /// The marker text, assembled so this source file holds no marker itself.
    fn marker(self, end: &str) -> String {
        ["template", self.name(), end].join(":")
    }
}

/// What a new extension is called, and which parts it has.
#[derive(Debug, Clone)]
pub(crate) struct Naming {
    pub image: String,
    pub title: String,
    pub vendor: String,
    pub host_binaries: Vec<String>,
    pub backend: bool,
}

/// One file of the new workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewFile {
    pub path: Utf8PathBuf,
    pub contents: Vec<u8>,
    pub executable: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct New {
    pub path: Option<Utf8PathBuf>,
    pub image: String,
    pub title: String,
    pub vendor: String,
    pub host_binaries: Vec<String>,
    pub no_backend: bool,
    pub no_host_binaries: bool,
    /// `--tool-path DIR`: the build tool from a checkout on this machine.
    pub tool_path: Option<Utf8PathBuf>,
    /// `--tool-git URL[#REF]`: the build tool from another git repository or ref.
    pub tool_git: Option<String>,
    /// `--tool-version X.Y.Z`: the build tool from crates.io.
    pub tool_version: Option<String>,
}

/// `init`: `new`'s flags, for this copy of the template, in place.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Init(pub New);

/// The flags of `new` and `init`.
const NEW_OPTIONS: &[Opt] = &[
    Opt::value("--image", "ORG/NAME", "The image repository (required)"),
    Opt::value("--title", "TITLE", "The extension's name in Docker Desktop (required)"),
    Opt::value("--vendor", "VENDOR", "Who publishes it (required)"),
    Opt::value("--host-binary", "NAME", "A host binary to start with (repeatable; default: the sample's)")
        .repeated(),
    Opt::switch("--no-backend", "Leave the backend out"),
    Opt::switch("--no-host-binaries", "Leave the host binaries out"),
    Opt::value(
        "--tool-git",
        "URL[#REF]",
        "Take the build tool from this git repository, at REF (a tag, a\n\
         branch or a commit; default: the tool's release tag)",
    ),
    Opt::value("--tool-version", "X.Y.Z", "Take the build tool from crates.io, at that version"),
    Opt::value("--tool-path", "DIR", "Take the build tool from a checkout on this machine (to work on it)"),
];

const NEW_NOTES: &str =
    "The new extension depends on the build tool (xtask/Cargo.toml, pinned in Cargo.lock): by\n\
default its own repository, at the release tag it was built from (or its commit).";

impl Cmd for New {
    const SPEC: Spec = Spec::new(
        "new",
        "Start a new extension workspace from this template",
        "PATH --image ORG/NAME --title TITLE --vendor VENDOR [options]",
        "Creates a new extension workspace at PATH from this template.",
    )
    .options(NEW_OPTIONS)
    .positionals(1, "")
    .notes(NEW_NOTES);

    fn from_args(args: &mut Parsed) -> Result<New, UsageError> {
        let path = args.positional().map(Utf8PathBuf::from);
        if path.is_none() {
            return Err(args.error(
                "give the new extension's folder: cargo xtask new PATH --image … --title … --vendor …",
            ));
        }
        Ok(New { path, ..New::from_flags(args)? })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run_new(cx.sh)
    }
}

impl Cmd for Init {
    const SPEC: Spec = Spec::new(
        "init",
        "Rename this copy of the template in place (after \"Use this template\")",
        "--image ORG/NAME --title TITLE --vendor VENDOR [options]",
        "Renames this copy of the template in place.",
    )
    .options(NEW_OPTIONS)
    .notes(NEW_NOTES);

    fn from_args(args: &mut Parsed) -> Result<Init, UsageError> {
        New::from_flags(args).map(Init)
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.0.run_init(cx.sh)
    }
}

impl New {
    /// The flags `new` and `init` share, with the rules between them.
    fn from_flags(args: &mut Parsed) -> Result<New, UsageError> {
        let (image, title, vendor) =
            (args.string("--image"), args.string("--title"), args.string("--vendor"));
        let missing: Vec<&str> = [("--image", &image), ("--title", &title), ("--vendor", &vendor)]
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(flag, _)| *flag)
            .collect();
        if !missing.is_empty() {
            return Err(args.error(format!("missing {}", missing.join(", "))));
        }
        let new = New {
            path: None,
            image: image.unwrap_or_default(),
            title: title.unwrap_or_default(),
            vendor: vendor.unwrap_or_default(),
            host_binaries: args.strings("--host-binary"),
            no_backend: args.switch("--no-backend"),
            no_host_binaries: args.switch("--no-host-binaries"),
            tool_path: args.path("--tool-path"),
            tool_git: args.string("--tool-git"),
            tool_version: args.string("--tool-version"),
        };
        if new.no_host_binaries && !new.host_binaries.is_empty() {
            return Err(args.error("--no-host-binaries and --host-binary contradict each other"));
        }
        let sources = [
            ("--tool-path", new.tool_path.is_some()),
            ("--tool-git", new.tool_git.is_some()),
            ("--tool-version", new.tool_version.is_some()),
        ];
        let given: Vec<&str> = sources.iter().filter(|(_, given)| *given).map(|(flag, _)| *flag).collect();
        if given.len() > 1 {
            return Err(
                args.error(format!("{} each say where the tool comes from: choose one", given.join(" and ")))
            );
        }
        Ok(new)
    }

    fn naming(&self) -> Naming {
        Naming {
            image: self.image.clone(),
            title: self.title.clone(),
            vendor: self.vendor.clone(),
            host_binaries: self.host_binaries.clone(),
            backend: !self.no_backend,
        }
    }

    /// Where the new extension takes the tool from: `--tool-path`, `--tool-git`, or the
    /// tool's own repository and release.
    fn tool_source(&self, sh: &Shell, cwd: &Utf8Path) -> anyhow::Result<ToolSource> {
        match (&self.tool_path, &self.tool_git) {
            (Some(dir), _) => ToolSource::path(&resolve_destination(cwd, dir)),
            (None, Some(spec)) => ToolSource::git(sh, spec),
            (None, None) => match &self.tool_version {
                Some(version) => ToolSource::registry(version),
                None => Ok(ToolSource::default_for(sh)),
            },
        }
    }

    /// `new`: a new workspace at PATH.
    pub(crate) fn run_new(self, sh: &Shell) -> anyhow::Result<()> {
        let cwd = current_dir()?;
        let dest = resolve_destination(&cwd, self.path.as_ref().expect("new has a path"));
        let is_link = std::fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            bail!("{dest} is a symbolic link: give `new` a new folder (it writes into no folder it did not make)");
        }
        if dest.exists() && std::fs::read_dir(&dest).map(|mut d| d.next().is_some()).unwrap_or(true) {
            bail!("{dest} exists and is not empty: give `new` a new folder (or run `cargo xtask init` in a copy of the template)");
        }
        let template = Config::load(&cwd)?;
        if dest.starts_with(&template.root) && !dest.starts_with(&template.target_dir) {
            bail!(
                "{dest} is inside this workspace ({}): give `new` a folder outside it, e.g. ../{}",
                template.root,
                dest.file_name().unwrap_or("my-extension")
            );
        }
        let source = self.tool_source(sh, &cwd)?;
        let mut files = render(&template, &self.naming(), self.no_host_binaries)?;
        pin_tool(&mut files, &source)?;
        record_owned(&mut files);
        for file in &files {
            write(&dest, file)?;
        }
        if runs(sh, "git", &["--version"]) {
            let _dir = sh.push_dir(&dest);
            cmd!(sh, "git init --quiet")?.quiet().run().context("running `git init` in the new workspace")?;
        } else {
            eprintln!("note: git is not installed, so the new workspace is not a git repository yet");
        }
        println!("Created {} ({}) in {dest} from {}.", self.title, self.image, template.root);
        lock_tool(sh, &dest, &source);
        println!("Next: cd {dest} && cargo xtask dist");
        Ok(())
    }

    /// `init`: rename this workspace in place.
    pub(crate) fn run_init(self, sh: &Shell) -> anyhow::Result<()> {
        let template = Config::load_current()?;
        let root = template.root.clone();
        // init rewrites and removes files in place: only where git can show and undo it.
        let status = cmd!(sh, "git -C {root} status --porcelain -- .")
            .and_then(|c| Ok(c.quiet().ignore_stderr().read()?));
        if let Ok(status) = status {
            if !status.trim().is_empty() {
                let first = status.lines().next().unwrap_or_default().trim();
                bail!(
                    "{root} has uncommitted changes ({first}{}): init rewrites files in place, so \
                     commit or stash them first; then `git diff` shows what init changed and \
                     `git checkout .` undoes it",
                    if status.lines().count() > 1 { ", …" } else { "" }
                );
            }
        }
        // Everything is computed first: a bad name leaves the workspace untouched.
        let source = self.tool_source(sh, &root)?;
        let mut files = render(&template, &self.naming(), self.no_host_binaries)?;
        pin_tool(&mut files, &source)?;
        record_owned(&mut files);
        let keep: std::collections::BTreeSet<&Utf8Path> = files.iter().map(|f| f.path.as_path()).collect();
        for old in template_files(&template)? {
            if !keep.contains(old.as_path()) {
                std::fs::remove_file(root.join(&old)).with_context(|| format!("removing {old}"))?;
            }
        }
        remove_empty_dirs(&root.join(HOST_BINARIES_DIR))?;
        remove_empty_dirs(&root.join("backend"))?;
        // The tool's own sources, where this copy holds them: the extension depends on it.
        if let Some(tool) = tool_folder_in(&template) {
            std::fs::remove_dir_all(&tool).with_context(|| format!("removing {tool}"))?;
        }
        for file in &files {
            write(&root, file)?;
        }
        println!("Renamed this workspace to {} ({}).", self.title, self.image);
        lock_tool(sh, &root, &source);
        println!("Next: cargo xtask dist");
        Ok(())
    }
}

/// The new workspace's files, from the template's.
pub(crate) fn render(
    template: &Config,
    naming: &Naming,
    no_host_binaries: bool,
) -> anyhow::Result<Vec<NewFile>> {
    validate(template, naming)?;
    let slug = naming.image.rsplit('/').next().unwrap_or_default();
    let old_slug = template.reference.repository().rsplit('/').next().unwrap_or_default();
    let old_host = template.host_binaries.first().map(|h| h.bin.clone());
    let old_host_package = template.host_binaries.first().map(|h| h.package.clone());

    let mut names = vec![
        (template.reference.repository().to_string(), naming.image.clone()),
        (template.labels.title.clone(), naming.title.clone()),
        (template.labels.vendor.clone(), naming.vendor.clone()),
        (old_slug.replace('-', "_"), slug.replace('-', "_")),
        (old_slug.to_string(), slug.to_string()),
    ];
    if let (Some(old), Some(new)) = (&old_host, naming.host_binaries.first()) {
        names.push((old.clone(), new.clone()));
        if let Some(package) = old_host_package.as_ref().filter(|p| *p != old) {
            names.push((package.clone(), new.clone()));
        }
    }
    let dropped: Vec<Part> = Part::ALL
        .into_iter()
        .filter(|p| match p {
            Part::Backend => !naming.backend,
            Part::HostBinaries => no_host_binaries,
            Part::Contract => !naming.backend && no_host_binaries,
            Part::Tool => true,
        })
        .collect();
    let old_version = workspace_version(template)?;

    let old_host_dir = old_host_package.as_deref().and_then(|p| package_dir(template, p));
    let backend_dir = template.backend.as_ref().and_then(|b| package_dir(template, &b.package));
    let contract_dir = template.contract.as_ref().and_then(|c| package_dir(template, &c.package));
    let contract_output = template.contract.as_ref().map(|c| c.output.clone());
    let dropped_types = dropped_contract_types(template, &dropped)?;

    let mut files = vec![];
    for rel in template_files(template)? {
        let in_host_binaries = rel.starts_with(HOST_BINARIES_DIR);
        if (dropped.contains(&Part::HostBinaries) && in_host_binaries)
            || (dropped.contains(&Part::Backend) && backend_dir.as_ref().is_some_and(|d| rel.starts_with(d)))
            || (dropped.contains(&Part::Contract)
                && (contract_dir.as_ref().is_some_and(|d| rel.starts_with(d))
                    || contract_output.as_ref() == Some(&rel)))
        {
            continue;
        }
        let source = template.root.join(&rel);
        let bytes = std::fs::read(&source).with_context(|| format!("reading {source}"))?;
        let executable = std::fs::metadata(&source).is_ok_and(|m| is_executable(&m));
        // The first host binary's crate is renamed; extra ones are copies of it.
        let mut copies = vec![(rel.clone(), names.clone())];
        if let (Some(dir), Some(first)) = (&old_host_dir, naming.host_binaries.first()) {
            if let Ok(inner) = rel.strip_prefix(dir) {
                copies = vec![(Utf8Path::new(HOST_BINARIES_DIR).join(first).join(inner), names.clone())];
                for extra in &naming.host_binaries[1..] {
                    let mut extra_names = names.clone();
                    let old = old_host.clone().unwrap_or_default();
                    extra_names.retain(|(from, _)| *from != old && Some(from) != old_host_package.as_ref());
                    extra_names.push((old.clone(), extra.clone()));
                    if let Some(package) = old_host_package.as_ref().filter(|p| **p != old) {
                        extra_names.push((package.clone(), extra.clone()));
                    }
                    copies.push((Utf8Path::new(HOST_BINARIES_DIR).join(extra).join(inner), extra_names));
                }
            }
        }
        for (path, names) in copies {
            let contents = match String::from_utf8(bytes.clone()) {
                Ok(text) => {
                    let mut text = strip_parts(&text, &dropped);
                    if contract_output.as_ref() == Some(&rel) {
                        // Generated: no markers; the dropped parts' types are left out as their
                        // generation would leave them out.
                        text = contract::without(&text, &dropped_types);
                    }
                    let mut text = replace_names(&text, &names);
                    text = reset_version(&rel, &text, &old_version)
                        .with_context(|| format!("resetting the version in {rel}"))?;
                    if rel == "README.md" {
                        text = retitle_readme(&text, &naming.title);
                    }
                    text.into_bytes()
                }
                Err(_) => bytes.clone(), // images and other binary files as they are
            };
            files.push(NewFile { path, contents, executable });
        }
    }
    if dropped.contains(&Part::Backend) && dropped.contains(&Part::HostBinaries) {
        // No package left to take the version from: say it in the config.
        if let Some(manifest) = files.iter_mut().find(|f| f.path == "Cargo.toml") {
            let text = String::from_utf8_lossy(&manifest.contents);
            manifest.contents =
                set_start_tag(&text).context("setting the new extension's tag in Cargo.toml")?.into_bytes();
        }
    }
    Ok(files)
}

/// The types that the dropped parts' regions of the contract's package declare (`pub struct
/// NAME`, `pub enum NAME`, `pub type NAME`).
fn dropped_contract_types(template: &Config, dropped: &[Part]) -> anyhow::Result<BTreeSet<String>> {
    let Some(contract) = &template.contract else { return Ok(BTreeSet::new()) };
    let declared = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter_map(|line| {
                let line = line.trim_start();
                let rest =
                    ["pub struct ", "pub enum ", "pub type "].iter().find_map(|p| line.strip_prefix(p))?;
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                (!name.is_empty()).then_some(name)
            })
            .collect()
    };
    let mut names = BTreeSet::new();
    let sources = files_under(&contract.package_dir, |_, name| name == "target" || name.starts_with('.'))?;
    for rel in sources.iter().filter(|rel| rel.extension() == Some("rs")) {
        let path = contract.package_dir.join(rel);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let kept = declared(&strip_parts(&text, dropped));
        names.extend(declared(&text).into_iter().filter(|name| !kept.contains(name)));
    }
    Ok(names)
}

/// A workspace package's folder, relative to the root.
fn package_dir(template: &Config, package: &str) -> Option<Utf8PathBuf> {
    let (manifest, _) = template.members.iter().find(|(_, name)| *name == package)?;
    Some(manifest.parent()?.strip_prefix(&template.root).ok()?.to_path_buf())
}

fn validate(template: &Config, naming: &Naming) -> anyhow::Result<()> {
    let mut problems = vec![];
    if let Err(e) = rules::image_repository(&naming.image) {
        problems.push(format!("--image: {e}"));
    }
    let slug = naming.image.rsplit('/').next().unwrap_or_default();
    if !slug.is_empty() && rules::crate_name(slug).is_err() {
        problems.push(format!(
            "--image: the name `{slug}` also names the Rust packages (`{slug}-backend`) and must be a valid crate \
             name: start with a letter, then letters, digits, `-` or `_`"
        ));
    }
    for (flag, value) in [("--title", &naming.title), ("--vendor", &naming.vendor)] {
        if value.trim().is_empty() {
            problems.push(format!("{flag} is empty"));
        }
        if let Some(c) =
            value.chars().find(|c| c.is_control() || matches!(c, '"' | '\\' | '<' | '>' | '{' | '}' | '`'))
        {
            problems.push(format!(
                "{flag} `{value}` contains {c:?}, which would need escaping in the files it goes into (TOML, HTML, TSX)"
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in &naming.host_binaries {
        if let Err(e) = rules::crate_name(name) {
            problems.push(format!("--host-binary: {e}"));
        }
        if !seen.insert(name) {
            problems.push(format!("--host-binary `{name}` is given twice"));
        }
        if name == &format!("{slug}-backend") {
            problems.push(format!("--host-binary `{name}` is the backend's package name; choose another"));
        }
    }
    if !naming.host_binaries.is_empty() && template.host_binaries.is_empty() {
        problems.push("--host-binary: this template has no host binary to start from".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("cannot create the extension:\n  - {}", problems.join("\n  - "))
    }
}

/// The template's own files, relative to its root: no build output, no installed packages,
/// no git history, and not the tool's sources where the template holds them (the tool's
/// repository): a new extension depends on the tool.
pub(crate) fn template_files(template: &Config) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let skip_dirs: Vec<Utf8PathBuf> = [
        Some(template.target_dir.clone()),
        Some(template.root.join(".git")),
        template.ui.as_ref().map(|ui| template.root.join(&ui.dir).join(&ui.output)),
        tool_folder_in(template),
    ]
    .into_iter()
    .flatten()
    .collect();
    files_under(&template.root, |path, name| name == "node_modules" || skip_dirs.iter().any(|d| d == path))
}

/// Removes the regions of dropped parts, and every marker line.
pub(crate) fn strip_parts(text: &str, dropped: &[Part]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping: Option<Part> = None;
    for line in text.split_inclusive('\n') {
        let marker = Part::ALL.into_iter().find_map(|part| {
            if line.contains(&part.marker("begin")) {
                Some((part, true))
            } else if line.contains(&part.marker("end")) {
                Some((part, false))
            } else {
                None
            }
        });
        match marker {
            Some((part, true)) if skipping.is_none() && dropped.contains(&part) => skipping = Some(part),
            Some((part, false)) if skipping == Some(part) => skipping = None,
            Some(_) => {}
            None if skipping.is_none() => out.push_str(line),
            None => {}
        }
    }
    out
}

/// Replaces every name in one pass, longest first, where it stands as a whole word (not
/// inside a longer identifier): a new name that contains an old one is never replaced again.
pub(crate) fn replace_names(text: &str, names: &[(String, String)]) -> String {
    let mut names: Vec<&(String, String)> =
        names.iter().filter(|(from, to)| !from.is_empty() && from != to).collect();
    names.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'scan: while i < text.len() {
        let rest = &text[i..];
        for (from, to) in &names {
            if rest.starts_with(from.as_str())
                && !(word(text[..i].chars().next_back()) && word(from.chars().next()))
                && !(word(rest[from.len()..].chars().next()) && word(from.chars().next_back()))
            {
                out.push_str(to);
                i += from.len();
                continue 'scan;
            }
        }
        let c = rest.chars().next().expect("not at the end");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The version of the workspace's extension packages (what `version.workspace` gives),
/// else the configured tag.
fn workspace_version(template: &Config) -> anyhow::Result<String> {
    let manifest = &template.manifest;
    let text = std::fs::read_to_string(manifest).with_context(|| format!("reading {manifest}"))?;
    let doc: toml_edit::DocumentMut = text.parse().with_context(|| format!("parsing {manifest}"))?;
    let version = doc.get("workspace").and_then(|w| w.get("package")).and_then(|p| p.get("version"));
    Ok(version
        .and_then(toml_edit::Item::as_str)
        .map_or_else(|| template.reference.tag_or_latest().to_string(), str::to_string))
}

/// The new extension starts at 0.1.0: the workspace version, and the UI package's.
fn reset_version(rel: &Utf8Path, text: &str, old: &str) -> anyhow::Result<String> {
    if old == START_VERSION {
        return Ok(text.to_string());
    }
    Ok(match rel.as_str() {
        "Cargo.toml" => {
            let mut doc: toml_edit::DocumentMut = text.parse().context("parsing Cargo.toml")?;
            let version = doc
                .get_mut("workspace")
                .and_then(|w| w.get_mut("package"))
                .and_then(|p| p.get_mut("version"))
                .and_then(toml_edit::Item::as_value_mut)
                .filter(|v| v.as_str() == Some(old));
            match version {
                Some(version) => {
                    set_keeping_comments(version, START_VERSION);
                    doc.to_string()
                }
                None => text.to_string(),
            }
        }
        // The package's own version: the first in package.json, the first two in the lock.
        p if p.ends_with("package.json") || p.ends_with("package-lock.json") => {
            let times = if p.ends_with("package-lock.json") { 2 } else { 1 };
            text.replacen(
                &format!("\"version\": \"{old}\""),
                &format!("\"version\": \"{START_VERSION}\""),
                times,
            )
        }
        _ => text.to_string(),
    })
}

/// `tag = "0.1.0"` in `[workspace.metadata.extension]`, for an extension with no package.
fn set_start_tag(manifest: &str) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = manifest.parse()?;
    let extension = doc
        .get_mut("workspace")
        .and_then(|w| w.get_mut("metadata"))
        .and_then(|m| m.get_mut("extension"))
        .and_then(toml_edit::Item::as_table_like_mut)
        .context("there is no [workspace.metadata.extension] table")?;
    match extension.get_mut("tag").and_then(toml_edit::Item::as_value_mut) {
        Some(tag) => set_keeping_comments(tag, START_VERSION),
        None => {
            extension.insert("tag", toml_edit::value(START_VERSION));
        }
    }
    Ok(doc.to_string())
}

/// Replaces a value and keeps the spacing and comments around it.
fn set_keeping_comments(value: &mut toml_edit::Value, new: &str) {
    let decor = value.decor().clone();
    *value = new.into();
    *value.decor_mut() = decor;
}

fn retitle_readme(text: &str, title: &str) -> String {
    match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("# ") => format!("# {title}\n{rest}"),
        _ => text.to_string(),
    }
}

fn write(root: &Utf8Path, file: &NewFile) -> anyhow::Result<()> {
    let path = root.join(&file.path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {parent}"))?;
    }
    std::fs::write(&path, &file.contents).with_context(|| format!("writing {path}"))?;
    set_executable(&path, file.executable)
}

fn remove_empty_dirs(dir: &Utf8Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in dir.read_dir_utf8()? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_empty_dirs(entry.path())?;
        }
    }
    if dir.read_dir_utf8()?.next().is_none() {
        std::fs::remove_dir(dir)?;
    }
    Ok(())
}

/// The tool's folder, when the template's workspace has it as a member (the tool's own
/// repository, or a copy of it).
pub(crate) fn tool_folder_in(template: &Config) -> Option<Utf8PathBuf> {
    let (manifest, _) = template.members.iter().find(|(_, name)| *name == TOOL)?;
    let dir = manifest.parent()?;
    (dir != template.root && dir.starts_with(&template.root)).then(|| dir.to_path_buf())
}

/// Says where the tool comes from, and writes its pin into Cargo.lock (cargo resolves it;
/// the other pins stay). When the ref cannot be fetched, says so: the first cargo run will
/// pin it once it can.
fn lock_tool(sh: &Shell, root: &Utf8Path, source: &ToolSource) {
    println!("The build tool: {TOOL} from {source} (xtask/Cargo.toml; Cargo.lock pins it).");
    if let Err(why) = source.check(sh) {
        eprintln!("note: {why}");
        return;
    }
    let _dir = sh.push_dir(root);
    let resolved = cmd!(sh, "cargo metadata --format-version 1 --quiet")
        .and_then(|c| Ok(c.quiet().ignore_stdout().run()?));
    if let Err(e) = resolved {
        eprintln!("note: Cargo.lock is not updated yet ({e}): the first `cargo xtask` in {root} updates it");
    }
}

/// Points the new workspace's xtask at `source`: its dependency on the tool, rewritten in
/// xtask/Cargo.toml (comments and layout kept).
fn pin_tool(files: &mut [NewFile], source: &ToolSource) -> anyhow::Result<()> {
    let Some(manifest) = files.iter_mut().find(|f| f.path == XTASK_MANIFEST) else {
        bail!("the template has no {XTASK_MANIFEST} to point at the tool");
    };
    let text = String::from_utf8(manifest.contents.clone()).context("xtask/Cargo.toml is not UTF-8")?;
    manifest.contents =
        source.write_into(&text, false).context("pointing xtask/Cargo.toml at the tool")?.into_bytes();
    Ok(())
}

/// Adds the record of the template-owned files `new` wrote as the tool's own (see
/// `workspace::owned`): `upgrade` refreshes those while they keep their hash.
fn record_owned(files: &mut Vec<NewFile>) {
    let record = owned::record_for(files.iter().map(|f| (f.path.to_string(), f.contents.clone())));
    files.retain(|f| f.path != owned::RECORD);
    files.push(NewFile {
        path: owned::RECORD.into(),
        contents: record.to_json().into_bytes(),
        executable: false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_new(s: &str) -> Result<crate::cli::Command, crate::cli::args::UsageError> {
        crate::cli::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn new_and_init_share_their_flags_and_rules() {
        let Ok(crate::cli::Command::New(new)) =
            parse_new("new ../x --image a/b --title T --vendor V --host-binary one --host-binary two")
        else {
            panic!()
        };
        assert_eq!(new.path.as_deref(), Some(Utf8Path::new("../x")));
        assert_eq!(new.host_binaries, ["one", "two"]);
        let error = parse_new("new x --image a/b").unwrap_err();
        assert!(error.message.contains("missing --title, --vendor"), "{}", error.message);
        assert!(crate::cli::usage_of(&error).starts_with("Usage: cargo xtask new PATH"));
        let error = parse_new("init x --image a/b --title T --vendor V").unwrap_err();
        assert!(error.message.contains("unexpected argument `x`"), "{}", error.message);
        assert!(crate::cli::usage_of(&error).starts_with("Usage: cargo xtask init --image"));
        let error = parse_new("init --image a/b --title T --vendor V --tool-path p --tool-version 1.0.0")
            .unwrap_err();
        assert!(error.message.contains("choose one"), "{}", error.message);
        assert!(
            parse_new("new x --image a/b --title T --vendor V --no-host-binaries --host-binary h").is_err()
        );
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn replaces_whole_words_once_longest_first() {
        let names = pairs(&[
            ("sample-app", "disk-usage"),
            ("probe", "sample-app-cli"),
            ("org/sample-app", "acme/disk-usage"),
        ]);
        assert_eq!(
            replace_names("image org/sample-app, sample-app-backend, probe.exe, probes, Probe", &names),
            "image acme/disk-usage, disk-usage-backend, sample-app-cli.exe, probes, Probe"
        );
        let names = pairs(&[("db", "store")]);
        assert_eq!(replace_names("db dbus db-backend mydb", &names), "store dbus store-backend mydb");
    }

    #[test]
    fn strips_dropped_parts_and_all_markers() {
        let text = format!(
            "a\n// {}\nbackend\n// {}\nb\n# {}\nhost\n# {}\nc\n",
            Part::Backend.marker("begin"),
            Part::Backend.marker("end"),
            Part::HostBinaries.marker("begin"),
            Part::HostBinaries.marker("end")
        );
        assert_eq!(strip_parts(&text, &[]), "a\nbackend\nb\nhost\nc\n");
        assert_eq!(strip_parts(&text, &[Part::Backend]), "a\nb\nhost\nc\n");
        assert_eq!(strip_parts(&text, &[Part::Backend, Part::HostBinaries]), "a\nb\nc\n");
    }

    #[test]
    fn resets_the_workspace_version() {
        let toml = "[workspace.package]\nversion = \"2.3.4\" # the extension's\n[dependencies]\nx = { version = \"2.3.4\" }\n";
        assert_eq!(
            reset_version("Cargo.toml".into(), toml, "2.3.4").unwrap(),
            "[workspace.package]\nversion = \"0.1.0\" # the extension's\n[dependencies]\nx = { version = \"2.3.4\" }\n"
        );
        // Dotted keys are the same key to TOML.
        let dotted = "workspace.package.version = \"2.3.4\"\n";
        assert_eq!(
            reset_version("Cargo.toml".into(), dotted, "2.3.4").unwrap(),
            "workspace.package.version = \"0.1.0\"\n"
        );
    }

    #[test]
    fn sets_the_tag_of_an_extension_with_no_package() {
        let toml = "[workspace.metadata.extension]\nimage = \"acme/x\"\n\n[workspace.metadata.extension.ui]\nout = \"dist\"\n";
        assert_eq!(
            set_start_tag(toml).unwrap(),
            "[workspace.metadata.extension]\nimage = \"acme/x\"\ntag = \"0.1.0\"\n\n[workspace.metadata.extension.ui]\nout = \"dist\"\n"
        );
    }
}
