//! The dev relay's package: `relay/main.rs` (std only) written into a package of its own
//! under the dev session's folder, and built like the backend (its builder, its target, the
//! dev profile) into the dev image only, at `/dev-relay`. See `relay/main.rs` for what it
//! does, and `dev` for how a session uses it.

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};

use crate::util::files::write_atomic;

/// The package's and the binary's name; the image holds it at `/<RELAY>`.
pub(crate) const RELAY: &str = "dev-relay";

/// The port the relay listens on inside its container.
pub(crate) const RELAY_PORT: u16 = 7070;

const MAIN: &str = include_str!("../../relay/main.rs");

const MANIFEST: &str = r#"[package]
name = "dev-relay"
version = "0.1.0"
edition = "2021"
publish = false

[[bin]]
name = "dev-relay"
path = "src/main.rs"

# Small: it is copied into every dev image.
[profile.dev]
opt-level = "s"
debug = false

[workspace]
"#;

/// Writes the package under `dir` (unchanged files are not rewritten, so cargo's build stays
/// fresh); returns its manifest.
pub(crate) fn write_package(dir: &Utf8Path) -> anyhow::Result<Utf8PathBuf> {
    for (rel, text) in [("Cargo.toml", MANIFEST), ("src/main.rs", MAIN)] {
        let path = dir.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            write_atomic(&path, text.as_bytes()).with_context(|| format!("writing the dev relay's {rel}"))?;
        }
    }
    Ok(dir.join("Cargo.toml"))
}
