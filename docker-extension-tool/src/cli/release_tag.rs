//! `cargo xtask release-tag TAG`: the release workflow's first step. A tag pushed for a
//! version the workspace does not have would publish an image under the wrong tag (or fail
//! after minutes of compiling), so the tag is checked against the version being released
//! before anything builds; then the facts the workflow needs next (the registry to log in
//! to) are printed for `$GITHUB_OUTPUT`, from the one config that decides them.

use anyhow::bail;

use crate::cli::flags;
use crate::model::reference::{ImageReference, DOCKER_HUB};
use crate::workspace::config::Config;

impl flags::ReleaseTag {
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
