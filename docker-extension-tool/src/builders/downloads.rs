//! Host binaries from elsewhere: each download fetched once into the download cache (under
//! the target folder, by SHA-256) and verified before it is kept, then, for an archive, its
//! member taken out. A run whose files are all in the cache touches no network and builds
//! nothing; the first one that needs the network builds the network client (HTTP, TLS, zip:
//! see `registry::fetch`), so no extension's first `cargo xtask` compiles them.

use anyhow::{bail, Context};
use xshell::Shell;

use crate::util::process::cmd;

use crate::plan::image::RegistryClient;
use crate::plan::Download;
use crate::util::report::Report;

/// Makes every download's file present and verified.
pub(crate) fn ensure(
    sh: &Shell,
    report: &Report,
    downloads: &[Download],
    client: &RegistryClient,
) -> anyhow::Result<()> {
    let mut program = None;
    let mut client_program = || -> anyhow::Result<camino::Utf8PathBuf> {
        if let Some(program) = &program {
            return Ok(Clone::clone(program));
        }
        let built = client.ensure(sh)?;
        program = Some(built.clone());
        Ok(built)
    };
    for download in downloads {
        // A member taken out of a verified archive is kept; a plain download is hashed
        // again on every use (a file changed in the cache is fetched anew).
        if download.member.is_some() && download.file.is_file() {
            continue;
        }
        if !verified(download)? {
            report.say(&format!("    downloading {}", download.url));
            let program = client_program()?;
            let (url, sha256, to) = (&download.url, download.sha256.hex(), &download.fetched);
            helper(cmd!(sh, "{program} fetch {url} {sha256} {to}")?)?;
        }
        if let Some(member) = &download.member {
            let program = client_program()?;
            let (archive, to) = (&download.fetched, &download.file);
            helper(cmd!(sh, "{program} unpack {archive} {member} {to}")?)
                .with_context(|| format!("taking {member} out of {}", download.url))?;
        }
    }
    Ok(())
}

/// Whether the cache holds the download with its SHA-256.
fn verified(download: &Download) -> anyhow::Result<bool> {
    if !download.fetched.is_file() {
        return Ok(false);
    }
    Ok(crate::util::digest::Digest::of_file(&download.fetched)? == download.sha256)
}

/// Runs the network client; its own message (`error: …`) is the error.
fn helper(command: xshell::Cmd<'_>) -> anyhow::Result<()> {
    let output = command.quiet().ignore_status().output()?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let message: Vec<&str> =
            said.lines().map(|l| l.trim_start_matches("error: ").trim_start_matches("  because: ")).collect();
        bail!("{}", message.join(": "));
    }
    Ok(())
}
