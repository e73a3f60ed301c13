//! `cargo xtask release-tag TAG`: the release workflow's first step. A tag pushed for a
//! version the workspace does not have would publish an image under the wrong tag (or fail
//! after minutes of compiling), so the tag is checked against the version being released
//! before anything builds; then the facts the workflow needs next (the registry to log in
//! to) are printed for `$GITHUB_OUTPUT`, from the one config that decides them.

use anyhow::bail;

use crate::cli::args::{Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::model::reference::{ImageReference, DOCKER_HUB};
use crate::workspace::config::Config;

/// `release-tag TAG`: the git tag a release workflow runs for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReleaseTag {
    pub tag: String,
}

impl Cmd for ReleaseTag {
    const SPEC: Spec = Spec::new(
        "release-tag",
        "Check a git tag (v1.2.3) against the version being released (the release\n\
         workflow's first step); prints image=, registry= and version= lines",
        "TAG",
        "Checks that the git tag TAG (`v1.2.3`, or `1.2.3`) is the version the image is released\n\
         as (the config's `tag`, by default the extension's packages' version) and exits 1 naming\n\
         both when it is not. Then prints, for a workflow's $GITHUB_OUTPUT:\n  \
         image=REPOSITORY:TAG\n  \
         registry=HOST        (docker.io for Docker Hub)\n  \
         version=TAG",
    )
    .positionals(1, "");

    fn from_args(args: &mut Parsed) -> Result<ReleaseTag, UsageError> {
        match args.positional() {
            Some(tag) => Ok(ReleaseTag { tag }),
            None => Err(args.error(
                "the git tag is missing: cargo xtask release-tag v1.2.3 (in a workflow: \"$GITHUB_REF_NAME\")",
            )),
        }
    }

    fn execute(self, _: &Invocation) -> anyhow::Result<()> {
        self.run()
    }
}

impl ReleaseTag {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        print!("{}", release_facts(&config.reference, &self.tag)?);
        Ok(())
    }
}

/// The `KEY=VALUE` lines for a release of `reference` (its tag is the version) from the git
/// tag `git_tag`, or why that tag does not release that version.
fn release_facts(reference: &ImageReference, git_tag: &str) -> anyhow::Result<String> {
    let version = reference.tag_or_latest();
    let tagged = git_tag.strip_prefix('v').unwrap_or(git_tag);
    if tagged != version {
        bail!(
            "the git tag `{git_tag}` does not release version {version}, the image's tag (the config's `tag`, by \
             default the version in [workspace.package]): set version = \"{tagged}\" and tag that commit, or tag \
             this one v{version}"
        );
    }
    let registry = reference.registry().unwrap_or(DOCKER_HUB);
    Ok(format!("image={reference}\nregistry={registry}\nversion={version}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_one_required_argument() {
        let parse = |s: &str| crate::cli::parse(s.split_whitespace().map(String::from));
        let error = parse("release-tag").unwrap_err();
        assert!(error.message.contains("the git tag is missing"), "{}", error.message);
        assert_eq!(error.command.map(|c| c.name), Some("release-tag"));
        assert!(parse("release-tag v1 v2").unwrap_err().message.contains("unexpected argument `v2`"));
        assert_eq!(
            parse("release-tag v1.2.3").unwrap(),
            crate::cli::Command::ReleaseTag(ReleaseTag { tag: "v1.2.3".into() })
        );
        assert_eq!(parse("bench --runs 0").unwrap_err().command.map(|c| c.name), Some("bench"));
    }

    #[test]
    fn a_tag_releases_its_version_only() {
        assert_eq!(
            release_facts(&"ghcr.io/acme/disk-report:1.2.3".parse().unwrap(), "v1.2.3").unwrap(),
            "image=ghcr.io/acme/disk-report:1.2.3\nregistry=ghcr.io\nversion=1.2.3\n"
        );
        assert_eq!(
            release_facts(&"acme/disk-report:1.2.3".parse().unwrap(), "1.2.3").unwrap(),
            "image=acme/disk-report:1.2.3\nregistry=docker.io\nversion=1.2.3\n"
        );
        for wrong in ["v1.2.4", "main", "v1.2.3-rc.1", ""] {
            let error =
                release_facts(&"acme/disk-report:1.2.3".parse().unwrap(), wrong).unwrap_err().to_string();
            assert!(error.contains(&format!("`{wrong}` does not release version 1.2.3")), "{error}");
        }
    }
}
