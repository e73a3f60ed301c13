//! Running the cargo builds of a plan. Artifact paths come from cargo's own JSON messages,
//! never from guessing where cargo puts things.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::thread;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::Message;
use xshell::Shell;

use crate::model::targets::is_apple;
use crate::plan::{CargoRun, NO_APPLE_SDK};
use crate::util::report::Report;
use crate::workspace::machine::ZIGBUILD_CACHE_DIR;

/// Which binary a build made: its package, its `[[bin]]` name and the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ArtifactKey {
    pub package: String,
    pub bin: String,
    pub target: String,
}

/// The executables cargo reported, by what they are.
pub(crate) type Artifacts = BTreeMap<ArtifactKey, Utf8PathBuf>;

/// A binary cargo built, as its JSON messages report it.
pub(crate) struct BuiltBinary {
    /// The `[[bin]]` target's name.
    pub name: String,
    /// The manifest of the package it belongs to.
    pub manifest_path: Utf8PathBuf,
    pub executable: Utf8PathBuf,
}

/// The binaries in a stream of cargo's JSON messages (`--message-format=json…`), in order.
pub(crate) fn built_binaries(messages: impl BufRead) -> impl Iterator<Item = anyhow::Result<BuiltBinary>> {
    Message::parse_stream(messages).filter_map(|message| {
        match message.context("reading cargo's JSON messages") {
            Err(e) => Some(Err(e)),
            Ok(Message::CompilerArtifact(artifact)) if artifact.target.is_bin() => {
                let name = artifact.target.name;
                let manifest_path = artifact.manifest_path;
                artifact.executable.map(|executable| Ok(BuiltBinary { name, manifest_path, executable }))
            }
            Ok(_) => None,
        }
    })
}

/// The name of the lock file in cargo-zigbuild's wrapper folder.
const WRAPPERS_LOCK: &str = ".cargo-xtask.lock";

/// Held while a cargo-zigbuild run of dist's runs: cargo-zigbuild rewrites its linker
/// wrappers (in CARGO_ZIGBUILD_CACHE_DIR, see the plan) before cargo takes its own lock on
/// the target folder, so a second run beside the first could rewrite a wrapper the first
/// is executing ("Text file busy"). Cargo would make the second wait anyway.
fn lock_zigbuild_wrappers(run: &CargoRun, report: &Report) -> anyhow::Result<Option<std::fs::File>> {
    let Some((_, dir)) = run.env.iter().find(|(key, _)| key == ZIGBUILD_CACHE_DIR) else {
        return Ok(None);
    };
    let path = Utf8Path::new(dir).join(WRAPPERS_LOCK);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {path}"))?;
    lock_exclusive(&file, report).with_context(|| format!("locking {path}"))?;
    Ok(Some(file))
}

/// Takes an exclusive lock on the file (released when it is closed), saying so when it
/// has to wait for another build. std's `File::lock` (Rust 1.89): `flock` on Unix,
/// `LockFileEx` on Windows, so two dists of one workspace order themselves on every OS.
fn lock_exclusive(file: &std::fs::File, report: &Report) -> std::io::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {
            report.say("    (waiting for another cargo-zigbuild run of this workspace to finish)");
            file.lock()
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Runs one builder invocation, echoing cargo's progress and diagnostics, and returns the
/// executables it produced.
pub(crate) fn run(
    sh: &Shell,
    report: &Report,
    run: &CargoRun,
    packages_by_manifest: &BTreeMap<Utf8PathBuf, String>,
    root: &Utf8Path,
    target_dir: &Utf8Path,
) -> anyhow::Result<Artifacts> {
    let argv = run.argv();
    let _wrappers = lock_zigbuild_wrappers(run, report)?;
    report.say(&format!("    $ {}", run.display()));
    // The empty stand-in for Apple's SDK (see the plan), made on first use.
    if let Some((_, sdk)) =
        run.env.iter().find(|(key, value)| key == "SDKROOT" && value.ends_with(NO_APPLE_SDK))
    {
        std::fs::create_dir_all(sdk).with_context(|| format!("creating {sdk}"))?;
    }
    let mut command: std::process::Command = argv.cmd(sh)?.envs(run.env.iter().map(|(k, v)| (k, v))).into();
    let program = argv.program();
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().with_context(|| format!("starting `{program}`"))?;

    // Diagnostics arrive rendered on stderr: pass them through and watch for the link
    // errors that need a hint.
    let stderr = child.stderr.take().expect("stderr is piped");
    let watcher = thread::spawn(move || {
        let mut frameworks = vec![];
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if let Some(framework) = missing_framework(&line) {
                frameworks.push(framework);
            }
        }
        frameworks
    });

    let mut artifacts = Artifacts::new();
    let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    for built in built_binaries(stdout) {
        let BuiltBinary { name, manifest_path, executable } = built?;
        // <target-dir>/<target>/release/<bin>: the target is the folder above `release`.
        let target = executable
            .parent()
            .and_then(Utf8Path::parent)
            .and_then(Utf8Path::file_name)
            .context("cargo reported an executable outside a target folder")?
            .to_string();
        let executable = host_path(executable, target_dir);
        let outside = run.manifest_path.as_ref().filter(|m| **m == manifest_path).and(run.packages.first());
        let package = package_of(&manifest_path, packages_by_manifest, root)
            .or_else(|| outside.cloned())
            .with_context(|| format!("cargo built {manifest_path}, which is not in this workspace"))?;
        artifacts.insert(ArtifactKey { package, bin: name, target }, executable);
    }
    let status = child.wait().context("waiting for cargo")?;
    let frameworks = watcher.join().unwrap_or_default();
    if !status.success() {
        let apple: Vec<&String> = run.targets.iter().filter(|t| is_apple(t)).collect();
        if !frameworks.is_empty() && !apple.is_empty() {
            let sdk_hint = if std::env::var_os("SDKROOT").is_some() {
                "SDKROOT is set, but the linker found no such framework in it: point SDKROOT at a MacOSX SDK folder (MacOSX.sdk, with System/Library/Frameworks inside)"
            } else {
                "SDKROOT is not set: point it at a MacOSX SDK, e.g. SDKROOT=/path/to/MacOSX.sdk cargo xtask dist (an SDK comes with Xcode: `xcrun --show-sdk-path`)"
            };
            bail!(
                "linking for {} failed: the program links the Apple framework{} {}, which is not \
                 part of zig's macOS support; it needs a macOS SDK. {sdk_hint}",
                apple.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
                if frameworks.len() == 1 { "" } else { "s" },
                frameworks.join(", "),
            );
        }
        bail!("`{argv}` failed ({status}); its errors are above");
    }
    Ok(artifacts)
}

/// The workspace package a manifest belongs to. cross reports the manifest's path inside
/// its container (the workspace mounted elsewhere): match on the path within the workspace.
fn package_of(
    manifest: &Utf8Path,
    packages_by_manifest: &BTreeMap<Utf8PathBuf, String>,
    root: &Utf8Path,
) -> Option<String> {
    if let Some(name) = packages_by_manifest.get(manifest) {
        return Some(name.clone());
    }
    packages_by_manifest
        .iter()
        .find(|(path, _)| path.strip_prefix(root).is_ok_and(|rel| manifest.ends_with(rel)))
        .map(|(_, name)| name.clone())
}

/// cross runs cargo in a container where the target folder is mounted at /target.
fn host_path(path: Utf8PathBuf, target_dir: &Utf8Path) -> Utf8PathBuf {
    if path.exists() {
        return path;
    }
    match path.strip_prefix("/target") {
        Ok(rest) => target_dir.join(rest),
        Err(_) => path,
    }
}

/// The framework named by a "framework not found" link error (ld64, lld and zig spell it
/// differently).
fn missing_framework(line: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    if !lower.contains("framework") {
        return None;
    }
    let not_found = ["not found", "unable to find", "could not find", "cannot find"];
    if !not_found.iter().any(|p| lower.contains(p)) {
        return None;
    }
    // The name follows "framework": quoted or bare, e.g. `framework 'Security'`,
    // `-framework CoreFoundation`, `framework not found Security`.
    let at = lower.rfind("framework")?;
    let after = &line[at + "framework".len()..];
    let after = after.trim_start_matches([' ', ':']);
    let after = after.strip_prefix("not found").map(str::trim_start).unwrap_or(after);
    let name: String = after
        .trim_start_matches(['\'', '"', '`'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Some(if name.is_empty() { "(unnamed)".into() } else { name })
}

#[cfg(test)]
mod tests {
    use super::missing_framework;

    #[test]
    fn framework_errors() {
        assert_eq!(missing_framework("ld: framework not found Security").as_deref(), Some("Security"));
        assert_eq!(
            missing_framework("error: unable to find framework 'CoreFoundation'").as_deref(),
            Some("CoreFoundation")
        );
        assert_eq!(
            missing_framework(
                "  = note: error: unable to find framework 'CoreFoundation'. searched paths:  none"
            )
            .as_deref(),
            Some("CoreFoundation")
        );
        assert_eq!(missing_framework("warning: unused variable: `framework`"), None);
    }
}
