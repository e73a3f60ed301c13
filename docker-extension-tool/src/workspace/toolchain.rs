//! The Rust toolchain the workspace pins in `rust-toolchain.toml` (rustup's override file,
//! which the template carries), and whether the compiler that runs here is that one. The
//! binaries in an image are what the compiler made of the sources, so an image digest holds
//! only for one toolchain: `doctor` says when another runs (an override such as
//! `cargo +stable` or `RUSTUP_TOOLCHAIN`, or a cargo that is not rustup's).

use anyhow::Context;
use camino::Utf8Path;

/// The pin's file, at the workspace root.
pub(crate) const FILE: &str = "rust-toolchain.toml";

/// What `rust-toolchain.toml` asks of rustup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolchainPin {
    /// `1.95.0`, `1.95`, `stable`, `nightly-2026-11-01`…
    pub channel: String,
    pub targets: Vec<String>,
    pub components: Vec<String>,
}

impl ToolchainPin {
    /// The workspace's pin, or `None` when it has no `rust-toolchain.toml`.
    pub(crate) fn read(root: &Utf8Path) -> anyhow::Result<Option<ToolchainPin>> {
        let path = root.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => ToolchainPin::parse(&text).with_context(|| format!("reading {path}")).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {path}")),
        }
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<ToolchainPin> {
        let document: toml_edit::DocumentMut = text.parse().context("it is not TOML")?;
        let Some(table) = document.get("toolchain").and_then(toml_edit::Item::as_table_like) else {
            anyhow::bail!("it has no [toolchain] table: add one with `channel = \"1.95.0\"`");
        };
        let Some(channel) = table.get("channel").and_then(toml_edit::Item::as_str) else {
            anyhow::bail!("[toolchain] has no `channel` string: add `channel = \"1.95.0\"`");
        };
        let strings = |key: &str| -> Vec<String> {
            table
                .get(key)
                .and_then(toml_edit::Item::as_array)
                .map(|array| array.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        Ok(ToolchainPin {
            channel: channel.to_string(),
            targets: strings("targets"),
            components: strings("components"),
        })
    }

    /// Whether `rustc --version` (`rustc 1.95.0 (59807616e 2026-04-14)`) is this pin's
    /// compiler; `None` when the version line cannot tell (`stable`, `beta`: whichever
    /// release that is today; which day's nightly).
    pub(crate) fn is_run_by(&self, rustc_version: &str) -> Option<bool> {
        let mut words = rustc_version.split_whitespace();
        let release = words.nth(1)?;
        let (number, prerelease) = release.split_once('-').unwrap_or((release, ""));
        let channel = self.channel.as_str();
        if channel.starts_with("nightly-") {
            // rustc shows its commit's date, not the nightly's: a nightly is as far as it tells.
            return if prerelease == "nightly" { None } else { Some(false) };
        }
        if channel.starts_with(|c: char| c.is_ascii_digit()) {
            let exact = channel.matches('.').count() == 2;
            let same = if exact { number == channel } else { number.starts_with(&format!("{channel}.")) };
            return Some(same && prerelease.is_empty());
        }
        match channel {
            "nightly" => Some(prerelease == "nightly"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_channel_targets_and_components() {
        let pin = ToolchainPin::parse(
            "# a comment\n[toolchain]\nchannel = \"1.95.0\"\nprofile = \"minimal\"\ncomponents = [\"clippy\"]\ntargets = [\n  \"x86_64-apple-darwin\", # macOS\n]\n",
        )
        .unwrap();
        assert_eq!(pin.channel, "1.95.0");
        assert_eq!(pin.targets, ["x86_64-apple-darwin"]);
        assert_eq!(pin.components, ["clippy"]);
        for (bad, says) in [
            ("channel = \"1.95.0\"\n", "no [toolchain]"),
            ("[toolchain]\nprofile = \"minimal\"\n", "no `channel`"),
            ("[toolchain\n", "not TOML"),
        ] {
            let error = format!("{:#}", ToolchainPin::parse(bad).unwrap_err());
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn matches_the_compiler_by_its_version_line() {
        let pin =
            |channel: &str| ToolchainPin { channel: channel.into(), targets: vec![], components: vec![] };
        let stable = "rustc 1.95.0 (59807616e 2026-04-14)";
        assert_eq!(pin("1.95.0").is_run_by(stable), Some(true));
        assert_eq!(pin("1.95").is_run_by(stable), Some(true));
        assert_eq!(pin("1.94.0").is_run_by(stable), Some(false));
        assert_eq!(pin("1.9").is_run_by(stable), Some(false));
        assert_eq!(pin("1.95.0").is_run_by("rustc 1.95.0-beta.3 (aaaaaaaaa 2026-03-30)"), Some(false));
        let nightly = "rustc 1.97.0-nightly (0123456789 2026-11-01)";
        assert_eq!(pin("nightly-2026-11-01").is_run_by(nightly), None);
        assert_eq!(pin("nightly-2026-11-01").is_run_by(stable), Some(false));
        assert_eq!(pin("nightly").is_run_by(nightly), Some(true));
        assert_eq!(pin("1.97.0").is_run_by(nightly), Some(false));
        assert_eq!(pin("stable").is_run_by(stable), None);
        assert_eq!(pin("1.95.0").is_run_by("garbage"), None);
    }
}
