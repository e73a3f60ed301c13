//! Where an extension's xtask takes the build tool from: its dependency on the tool in
//! `xtask/Cargo.toml` (a git repository at a tag, a commit or a branch; a registry version;
//! a checkout on this machine), read and rewritten with toml_edit (comments and layout
//! kept), and what a git repository offers (its release tags). `new` writes the pin;
//! `upgrade` moves it.

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::semver::Version;
use xshell::Shell;

use crate::util::process::cmd;

/// The tool's package name, repository and version, as it was compiled.
pub(crate) const TOOL: &str = env!("CARGO_PKG_NAME");
pub(crate) const TOOL_REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");
pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The manifest that holds the pin, relative to the workspace's root.
pub(crate) const XTASK_MANIFEST: &str = "xtask/Cargo.toml";

/// Where an extension's xtask takes the build tool from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolSource {
    /// A git repository, at a tag, a commit or a branch.
    Git { url: String, reference: GitRef },
    /// A version from the registry (crates.io): `version = "=X.Y.Z"`.
    Registry { version: Version },
    /// A checkout on this machine (`--tool-path`: working on the tool).
    Path(Utf8PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GitRef {
    Tag(String),
    Rev(String),
    Branch(String),
}

impl GitRef {
    /// The key cargo reads (`tag`, `rev`, `branch`) and its value.
    fn key_value(&self) -> (&'static str, &str) {
        match self {
            GitRef::Tag(tag) => ("tag", tag),
            GitRef::Rev(rev) => ("rev", rev),
            GitRef::Branch(branch) => ("branch", branch),
        }
    }
}

impl std::fmt::Display for ToolSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolSource::Git { url, reference } => {
                let (key, value) = reference.key_value();
                write!(f, "{url} ({key} {value})")
            }
            ToolSource::Registry { version } => write!(f, "crates.io (version {version})"),
            ToolSource::Path(path) => write!(f, "{path}"),
        }
    }
}

/// The release tag of a version: `vX.Y.Z`.
pub(crate) fn release_tag(version: &Version) -> String {
    format!("v{version}")
}

/// A version as `X.Y.Z` or `vX.Y.Z`.
pub(crate) fn parse_version(text: &str) -> Option<Version> {
    Version::parse(text.strip_prefix('v').unwrap_or(text)).ok()
}

impl ToolSource {
    /// The dependency's value in xtask/Cargo.toml.
    pub(crate) fn dependency(&self) -> toml_edit::InlineTable {
        let mut table = toml_edit::InlineTable::new();
        match self {
            ToolSource::Git { url, reference } => {
                table.insert("git", url.as_str().into());
                let (key, value) = reference.key_value();
                table.insert(key, value.into());
            }
            ToolSource::Registry { version } => {
                table.insert("version", format!("={version}").into());
            }
            ToolSource::Path(path) => {
                table.insert("path", path.as_str().into());
            }
        }
        table
    }

    /// The default: the tool's own repository (its `repository`), at the ref of the checkout
    /// it was compiled from: the release tag HEAD is at, else HEAD's commit; where it was not
    /// compiled from a git checkout (a registry), the tag of its version.
    pub(crate) fn default_for(sh: &Shell) -> ToolSource {
        let reference = checkout_ref(sh, Utf8Path::new(env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|| GitRef::Tag(format!("v{TOOL_VERSION}")));
        ToolSource::Git { url: TOOL_REPOSITORY.to_string(), reference }
    }

    /// `--tool-git URL[#REF]`: a commit (40 hex digits), or a tag or branch the repository has.
    pub(crate) fn git(sh: &Shell, spec: &str) -> anyhow::Result<ToolSource> {
        let (url, reference) = match spec.split_once('#') {
            Some((url, reference)) if !reference.is_empty() => (url, Some(reference)),
            _ => (spec, None),
        };
        let reference = match reference {
            None => GitRef::Tag(format!("v{TOOL_VERSION}")),
            Some(reference) => resolve_ref(sh, url, reference)?,
        };
        Ok(ToolSource::Git { url: url.to_string(), reference })
    }

    /// `--tool-version X.Y.Z`: that version from the registry.
    pub(crate) fn registry(version: &str) -> anyhow::Result<ToolSource> {
        let version = parse_version(version)
            .with_context(|| format!("--tool-version {version} is not a version (X.Y.Z)"))?;
        Ok(ToolSource::Registry { version })
    }

    /// `--tool-path DIR`: a checkout of the tool (its folder, or the repository holding it).
    pub(crate) fn path(dir: &Utf8Path) -> anyhow::Result<ToolSource> {
        let candidates = [dir.to_path_buf(), dir.join(TOOL)];
        for candidate in candidates {
            let manifest = candidate.join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
            let doc: toml_edit::DocumentMut = text.parse().with_context(|| format!("parsing {manifest}"))?;
            if doc.get("package").and_then(|p| p.get("name")).and_then(toml_edit::Item::as_str) == Some(TOOL)
            {
                let real = crate::util::files::canonical(&candidate)
                    .with_context(|| format!("resolving {candidate}"))?;
                return Ok(ToolSource::Path(real));
            }
        }
        bail!("--tool-path {dir}: neither it nor {dir}/{TOOL} holds the {TOOL} package (a Cargo.toml with name = \"{TOOL}\")")
    }

    /// Whether the pin can be fetched: for git, whether the repository has the tag or
    /// branch, or a ref at the commit. `Err` says why it is not there (or cannot be asked).
    pub(crate) fn check(&self, sh: &Shell) -> Result<(), String> {
        let ToolSource::Git { url, reference } = self else { return Ok(()) };
        let pattern = match reference {
            GitRef::Tag(tag) => format!("refs/tags/{tag}"),
            GitRef::Branch(branch) => format!("refs/heads/{branch}"),
            GitRef::Rev(_) => String::new(),
        };
        let refs = ls_remote(sh, url, &pattern).map_err(|e| format!("{e:#}"))?;
        let found = match reference {
            GitRef::Rev(rev) => refs.iter().any(|(commit, _)| commit == rev),
            _ => !refs.is_empty(),
        };
        if found {
            return Ok(());
        }
        let (key, value) = reference.key_value();
        Err(format!(
            "{url} has no {} {value}: push it there, or pin another with --tool-git URL#REF (or a checkout with --tool-path DIR)",
            if key == "rev" { "branch or tag at the commit" } else { key }
        ))
    }

    /// The pin in an xtask's manifest: its dependency on the tool.
    pub(crate) fn read(manifest: &str) -> anyhow::Result<ToolSource> {
        let doc: toml_edit::DocumentMut = manifest.parse().context("parsing it")?;
        let dependency = doc
            .get("dependencies")
            .and_then(|d| d.get(TOOL))
            .with_context(|| format!("it does not depend on {TOOL} (in [dependencies])"))?;
        let field = |key: &str| dependency.get(key).and_then(toml_edit::Item::as_str).map(str::to_string);
        if let Some(url) = field("git") {
            let reference = match (field("tag"), field("rev"), field("branch")) {
                (Some(tag), _, _) => GitRef::Tag(tag),
                (_, Some(rev), _) => GitRef::Rev(rev),
                (_, _, Some(branch)) => GitRef::Branch(branch),
                // cargo's default: the repository's default branch.
                _ => GitRef::Branch("HEAD".into()),
            };
            return Ok(ToolSource::Git { url, reference });
        }
        if let Some(path) = field("path") {
            return Ok(ToolSource::Path(path.into()));
        }
        let requirement = field("version").or_else(|| dependency.as_str().map(str::to_string));
        if let Some(requirement) = requirement {
            let version = parse_version(requirement.trim_start_matches(['=', '^', '~']).trim())
                .with_context(|| {
                    format!("its version requirement {requirement:?} names no single version")
                })?;
            return Ok(ToolSource::Registry { version });
        }
        bail!("its dependency on {TOOL} has none of git, path or version")
    }

    /// The xtask's manifest with its dependency on the tool pointed at this source, every
    /// comment kept; with `keep_keys`, the dependency's other keys too (its features: an
    /// upgrade moves the pin only; `new` writes the whole dependency).
    pub(crate) fn write_into(&self, manifest: &str, keep_keys: bool) -> anyhow::Result<String> {
        let mut doc: toml_edit::DocumentMut = manifest.parse().context("parsing it")?;
        let dependencies = doc
            .get_mut("dependencies")
            .and_then(toml_edit::Item::as_table_like_mut)
            .context("it has no [dependencies]")?;
        let Some(value) = dependencies.get_mut(TOOL).and_then(toml_edit::Item::as_value_mut) else {
            bail!("it does not depend on {TOOL} (in [dependencies])");
        };
        let mut table = self.dependency();
        if let Some(old) = value.as_inline_table().filter(|_| keep_keys) {
            for (key, item) in old {
                if !["git", "tag", "rev", "branch", "path", "version", "registry"].contains(&key) {
                    table.insert(key, item.clone());
                }
            }
        }
        let decor = value.decor().clone();
        *value = toml_edit::Value::InlineTable(table);
        *value.decor_mut() = decor;
        Ok(doc.to_string())
    }
}

/// A ref of a repository: a commit (40 hex digits), a tag, or else a branch.
pub(crate) fn resolve_ref(sh: &Shell, url: &str, reference: &str) -> anyhow::Result<GitRef> {
    if reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(GitRef::Rev(reference.into()));
    }
    let tags = ls_remote(sh, url, &format!("refs/tags/{reference}"))?;
    Ok(if tags.is_empty() { GitRef::Branch(reference.into()) } else { GitRef::Tag(reference.into()) })
}

/// A repository's release tags (`vX.Y.Z`, no pre-releases), newest last.
pub(crate) fn release_tags(sh: &Shell, url: &str) -> anyhow::Result<Vec<Version>> {
    let mut versions: Vec<Version> = ls_remote(sh, url, "refs/tags/v*")?
        .into_iter()
        .filter_map(|(_, name)| name.strip_prefix("refs/tags/").map(str::to_string))
        .filter(|tag| !tag.ends_with("^{}"))
        .filter_map(|tag| parse_version(&tag))
        .filter(|v| v.pre.is_empty())
        .collect();
    versions.sort();
    versions.dedup();
    Ok(versions)
}

/// The ref of the git checkout `dir` is in, when `dir` holds the tool's tracked sources: the
/// tag at HEAD, else HEAD's commit.
fn checkout_ref(sh: &Shell, dir: &Utf8Path) -> Option<GitRef> {
    let git = |args: &[&str]| cmd!(sh, "git -C {dir} {args...}").ok()?.quiet().ignore_stderr().read().ok();
    // The tool's own Cargo.toml is tracked there: this is its repository, not one that
    // merely holds the folder (a home directory under git, say).
    git(&["ls-files", "--error-unmatch", "Cargo.toml"])?;
    if let Some(tag) = git(&["describe", "--exact-match", "--tags", "HEAD"]) {
        return Some(GitRef::Tag(tag.trim().to_string()));
    }
    git(&["rev-parse", "HEAD"]).map(|rev| GitRef::Rev(rev.trim().to_string()))
}

/// `git ls-remote URL [PATTERN]`: (commit, ref) pairs.
fn ls_remote(sh: &Shell, url: &str, pattern: &str) -> anyhow::Result<Vec<(String, String)>> {
    let pattern: Vec<&str> = if pattern.is_empty() { vec![] } else { vec![pattern] };
    let listed = cmd!(sh, "git ls-remote {url} {pattern...}")?
        .env("GIT_TERMINAL_PROMPT", "0")
        .quiet()
        .ignore_stderr()
        .read()
        .with_context(|| format!("cannot ask {url} for its refs (`git ls-remote`)"))?;
    Ok(listed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(commit, name)| (commit.to_string(), name.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const XTASK: &str = r#"[package]
name = "xtask"

[dependencies]
# The build tool.
docker-extension-tool = { git = "https://example.com/tool", tag = "v0.1.0", features = ["self-test"] } # pinned
anyhow = "1"
"#;

    #[test]
    fn reads_and_moves_the_pin_keeping_features_and_comments() {
        let source = ToolSource::read(XTASK).unwrap();
        assert_eq!(
            source,
            ToolSource::Git {
                url: "https://example.com/tool".into(),
                reference: GitRef::Tag("v0.1.0".into())
            }
        );
        let moved = ToolSource::Git {
            url: "https://example.com/tool".into(),
            reference: GitRef::Tag("v0.2.0".into()),
        };
        let text = moved.write_into(XTASK, true).unwrap();
        assert_eq!(text, XTASK.replace("tag = \"v0.1.0\"", "tag = \"v0.2.0\""), "only the tag changes");
        let registry = ToolSource::registry("0.3.1").unwrap();
        let text = registry.write_into(&text, true).unwrap();
        assert!(
            text.contains(
                r#"docker-extension-tool = { version = "=0.3.1", features = ["self-test"] } # pinned"#
            ),
            "{text}"
        );
        assert_eq!(ToolSource::read(&text).unwrap(), registry);
        let fresh = moved.write_into(XTASK, false).unwrap();
        assert!(
            fresh.contains(
                r#"docker-extension-tool = { git = "https://example.com/tool", tag = "v0.2.0" } # pinned"#
            ),
            "{fresh}"
        );
        assert!(ToolSource::read("[dependencies]\nanyhow = \"1\"\n").is_err());
    }

    #[test]
    fn versions_with_or_without_v() {
        assert_eq!(parse_version("v1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(parse_version("1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(parse_version("main"), None);
        assert_eq!(release_tag(&Version::new(0, 2, 0)), "v0.2.0");
    }
}
