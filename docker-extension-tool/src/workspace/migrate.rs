//! The config's format versions, and the migrations between them (as cargo-dist's
//! `config/v0_to_v1`): `[workspace.metadata.extension] config-version = N`. A config
//! without the key is version 0. Each migration is a function from the manifest of one
//! version to the next, on the text, through toml_edit: comments and layout stay.
//! `cargo xtask upgrade` runs them; a config newer than this tool is refused when it is
//! read (see `config`), with the tool it needs.

use anyhow::{bail, Context};

/// The format this tool writes and reads.
pub(crate) const CURRENT: u32 = 1;

/// The key of the format version, in `[workspace.metadata.extension]`.
pub(crate) const KEY: &str = "config-version";

/// One migration: what it does (a line for `upgrade`'s report), and the change itself.
struct Migration {
    from: u32,
    describe: &'static str,
    apply: fn(&mut toml_edit::Table) -> anyhow::Result<()>,
}

const MIGRATIONS: &[Migration] = &[Migration {
    from: 0,
    describe: "the config gets its format version (`config-version = 1`)",
    apply: v0_to_v1,
}];

/// Version 0 → 1: the format's version is written down.
fn v0_to_v1(extension: &mut toml_edit::Table) -> anyhow::Result<()> {
    extension.insert(KEY, toml_edit::value(i64::from(1u8)));
    // First in the table, where a reader looks for it; every other key keeps its place.
    extension.sort_values_by(|a, _, b, _| (a.get() != KEY).cmp(&(b.get() != KEY)));
    if let Some(mut key) = extension.key_mut(KEY) {
        key.leaf_decor_mut().set_prefix(
            "# The config's format version: `cargo xtask upgrade` migrates it to a newer tool's.\n",
        );
    }
    Ok(())
}

/// The format version a manifest's config is at.
pub(crate) fn version_of(doc: &toml_edit::DocumentMut) -> anyhow::Result<u32> {
    let Some(extension) = extension_table(doc) else {
        bail!("there is no [workspace.metadata.extension] table")
    };
    match extension.get(KEY) {
        None => Ok(0),
        Some(item) => {
            let version = item.as_integer().and_then(|v| u32::try_from(v).ok());
            version.with_context(|| format!("`{KEY}` is not a version number"))
        }
    }
}

fn extension_table(doc: &toml_edit::DocumentMut) -> Option<&toml_edit::Table> {
    doc.get("workspace")?.get("metadata")?.get("extension")?.as_table()
}

/// The manifest's text migrated to [`CURRENT`], and a line for each migration applied
/// (none: it was current already).
pub(crate) fn migrate(manifest: &str) -> anyhow::Result<(String, Vec<String>)> {
    let mut doc: toml_edit::DocumentMut = manifest.parse().context("parsing Cargo.toml")?;
    let mut version = version_of(&doc)?;
    if version > CURRENT {
        bail!(
            "the config is version {version}, newer than this tool knows ({CURRENT}): it needs a newer \
             tool (cargo xtask upgrade)"
        );
    }
    let mut done = vec![];
    while version < CURRENT {
        let migration = MIGRATIONS
            .iter()
            .find(|m| m.from == version)
            .with_context(|| format!("no migration from config version {version}"))?;
        let extension = doc
            .get_mut("workspace")
            .and_then(|w| w.get_mut("metadata"))
            .and_then(|m| m.get_mut("extension"))
            .and_then(toml_edit::Item::as_table_mut)
            .context("there is no [workspace.metadata.extension] table")?;
        (migration.apply)(extension)?;
        done.push(format!("config version {version} → {}: {}", version + 1, migration.describe));
        version += 1;
    }
    Ok((doc.to_string(), done))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V0: &str = r#"[workspace]
members = ["xtask"]

# The extension's config.
[workspace.metadata.extension]
image = "acme/ext"   # the image
title = "Ext"

[workspace.metadata.extension.ui]
dir = "ui"
"#;

    #[test]
    fn v0_to_v1_writes_the_version_first_and_keeps_the_rest() {
        let (migrated, done) = migrate(V0).unwrap();
        assert_eq!(
            migrated,
            r#"[workspace]
members = ["xtask"]

# The extension's config.
[workspace.metadata.extension]
# The config's format version: `cargo xtask upgrade` migrates it to a newer tool's.
config-version = 1
image = "acme/ext"   # the image
title = "Ext"

[workspace.metadata.extension.ui]
dir = "ui"
"#
        );
        assert_eq!(done, ["config version 0 → 1: the config gets its format version (`config-version = 1`)"]);
        // Current already: nothing to do, not one byte changed.
        assert_eq!(migrate(&migrated).unwrap(), (migrated.clone(), vec![]));
    }

    #[test]
    fn a_config_newer_than_the_tool_is_refused() {
        let newer = V0.replace("image =", "config-version = 99\nimage =");
        let err = migrate(&newer).unwrap_err().to_string();
        assert!(err.contains("version 99, newer than this tool knows (1)"), "{err}");
        let bad = V0.replace("image =", "config-version = \"one\"\nimage =");
        assert!(migrate(&bad).unwrap_err().to_string().contains("is not a version number"));
    }
}
