//! Host binaries from elsewhere: a download verified by its SHA-256 before it is kept, and
//! one file taken out of a `.tar.gz` or `.zip`. Part of the network client (feature
//! `registry`): the HTTP, TLS and zip code compiles on the first download, not in every
//! extension's first `cargo xtask`.
//!
//! ```text
//! docker-extension-registry fetch URL SHA256 FILE           download URL to FILE, if its SHA-256 is SHA256
//! docker-extension-registry unpack ARCHIVE MEMBER FILE      copy MEMBER out of ARCHIVE to FILE
//! ```
//!
//! Nothing is written at FILE unless it is whole and verified: bytes go to a file beside it,
//! renamed into place only then. Sizes are never trusted: a download, and what is taken out of
//! an archive, stop at [`MAX_FILE`].

use std::io::{Read, Write};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest as _, Sha256};

use crate::util::digest::Digest;

/// The largest download or archive member: host binaries are tens of MiB.
pub(crate) const MAX_FILE: u64 = 2 << 30;

/// Downloads `url` to `to` when its SHA-256 is `sha256`; otherwise writes
/// nothing and says which hash it had.
pub(crate) fn fetch(url: &str, sha256: &Digest, to: &Utf8Path) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(600)))
        .build()
        .into();
    let response = agent.get(url).call().with_context(|| format!("downloading {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("downloading {url}: the server answered {status}: check the URL in the config");
    }
    let partial = partial_path(to)?;
    let written = (|| {
        let mut body = response.into_body().into_reader().take(MAX_FILE + 1);
        let actual = copy_hashing(&mut body, &partial).with_context(|| format!("downloading {url}"))?;
        if actual.1 > MAX_FILE {
            bail!("{url} is larger than {} GiB: not a host binary", MAX_FILE >> 30);
        }
        if actual.0 != *sha256 {
            bail!(
                "{url} has SHA-256 {}, but the config says {}: nothing was placed. If its publisher \
                 released a new file at this URL, put the new hash in the config after checking it; \
                 otherwise the download was corrupted or tampered with",
                actual.0.hex(),
                sha256.hex()
            );
        }
        std::fs::rename(&partial, to).with_context(|| format!("renaming {partial} to {to}"))
    })();
    if written.is_err() {
        forget(&partial);
    }
    written
}

/// Copies `member` of the archive at `archive` (`.tar.gz`, `.tgz` or `.zip`, by its name)
/// to `to`. The member's path is compared without a leading `./`.
pub(crate) fn unpack(archive: &Utf8Path, member: &str, to: &Utf8Path) -> anyhow::Result<()> {
    let wanted = member.trim_start_matches("./");
    let name = archive.file_name().unwrap_or_default().to_ascii_lowercase();
    let partial = partial_path(to)?;
    let result = if name.ends_with(".zip") {
        unpack_zip(archive, wanted, &partial)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        unpack_tar_gz(archive, wanted, &partial)
    } else {
        Err(anyhow::anyhow!("{archive} is not a .tar.gz, .tgz or .zip archive"))
    };
    let result =
        result.and_then(|()| std::fs::rename(&partial, to).with_context(|| format!("renaming to {to}")));
    if result.is_err() {
        forget(&partial);
    }
    result
}

/// Removes a partial file, and its folder when that is left empty (nothing is kept for a
/// download that failed).
fn forget(partial: &Utf8Path) {
    let _ = std::fs::remove_file(partial);
    if let Some(folder) = partial.parent() {
        let _ = std::fs::remove_dir(folder);
    }
}

fn unpack_tar_gz(archive: &Utf8Path, wanted: &str, to: &Utf8Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(archive).with_context(|| format!("opening {archive}"))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut seen = vec![];
    for entry in tar.entries().with_context(|| format!("reading {archive}"))? {
        let mut entry = entry.with_context(|| format!("reading {archive}"))?;
        let path = entry.path().with_context(|| format!("reading {archive}"))?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").to_string();
        if path == wanted {
            if !entry.header().entry_type().is_file() {
                bail!(
                    "{wanted} in {archive} is not a regular file (a link or a folder): name the file itself"
                );
            }
            let (_, size) = copy_hashing(&mut (&mut entry).take(MAX_FILE + 1), to)?;
            return check_size(size, wanted);
        }
        if seen.len() < 10 && entry.header().entry_type().is_file() {
            seen.push(path);
        }
    }
    missing(archive, wanted, &seen)
}

fn unpack_zip(archive: &Utf8Path, wanted: &str, to: &Utf8Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(archive).with_context(|| format!("opening {archive}"))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{archive} is not a zip archive it can read"))?;
    let mut seen = vec![];
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).with_context(|| format!("reading {archive}"))?;
        let path = entry.name().trim_start_matches("./").to_string();
        if path == wanted {
            if !entry.is_file() {
                bail!("{wanted} in {archive} is not a regular file: name the file itself");
            }
            let (_, size) = copy_hashing(&mut (&mut entry).take(MAX_FILE + 1), to)?;
            return check_size(size, wanted);
        }
        if seen.len() < 10 && entry.is_file() {
            seen.push(path);
        }
    }
    missing(archive, wanted, &seen)
}

fn check_size(size: u64, member: &str) -> anyhow::Result<()> {
    if size > MAX_FILE {
        bail!("{member} is larger than {} GiB once unpacked: not a host binary", MAX_FILE >> 30);
    }
    Ok(())
}

fn missing(archive: &Utf8Path, wanted: &str, seen: &[String]) -> anyhow::Result<()> {
    bail!(
        "{archive} has no file {wanted}: set `path` to the file's path inside the archive (its files include: {})",
        if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
    )
}

/// The file a download or member is written to before it is renamed into place.
fn partial_path(to: &Utf8Path) -> anyhow::Result<Utf8PathBuf> {
    let parent = to.parent().with_context(|| format!("{to} has no folder"))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {parent}"))?;
    Ok(parent.join(format!(".{}.partial-{}", to.file_name().unwrap_or("download"), std::process::id())))
}

/// Streams `from` into a new file at `to`: its SHA-256 (lowercase hex) and length.
fn copy_hashing(from: &mut impl Read, to: &Utf8Path) -> anyhow::Result<(Digest, u64)> {
    let mut file = std::fs::File::create(to).with_context(|| format!("creating {to}"))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).with_context(|| format!("writing {to}"))?;
        total += n as u64;
    }
    file.sync_all().with_context(|| format!("writing {to}"))?;
    Ok((Digest::from_hasher(hasher), total))
}
