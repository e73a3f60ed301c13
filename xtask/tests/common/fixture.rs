//! A small extension workspace for tests that need to break things: a tiny backend and one
//! host binary, no dependencies, built for Linux only unless a test turns more on.

use std::path::{Path, PathBuf};

use super::{make_executable, repo_root, TempDir};

pub const CARGO_TOML: &str = r#"[workspace]
resolver = "2"
members = ["backend", "host-binaries/*"]

[workspace.package]
version = "1.2.3"
edition = "2021"

[workspace.metadata.extension]
image = "example/fixture"
title = "Fixture"
description = "A test fixture."
vendor = "Tests Inc."
icon = "extension/icon.svg"
icon-url = "https://example.com/icon.svg"
screenshots = [{ alt = "A screenshot", url = "https://example.com/shot.png" }]
detailed-description = "<p>Details</p>"
changelog = "<p>Changes</p>"
publisher-url = "https://example.com"
categories = ["utility-tools"]

[workspace.metadata.extension.backend]
package = "fixture-backend"
socket = "fixture.sock"

[workspace.metadata.extension.targets]
darwin = false
windows = false
"#;

/// A fixture workspace in its own folder. Every fixture shares one cargo target folder, so
/// a target is compiled once for all of them.
pub struct Fixture {
    pub dir: TempDir,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let dir = TempDir::new(&format!("fixture-{name}"));
        let root = dir.path();
        write(root, "Cargo.toml", CARGO_TOML);
        write(root, "backend/Cargo.toml", &package("fixture-backend"));
        write(root, "backend/src/main.rs", "fn main() {\n    println!(\"fixture backend\");\n}\n");
        write(root, "host-binaries/hello/Cargo.toml", &package("hello"));
        write(root, "host-binaries/hello/src/main.rs", "fn main() {\n    println!(\"hello\");\n}\n");
        write(root, "extension/icon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
        Fixture { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        write(self.root(), rel, text);
    }

    /// Replaces `from` (which must be there) with `to` in a file of the fixture.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let path = self.root().join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{rel} has no {from:?}");
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    }

    /// Where `build_archive` and `build_context` put the context.
    pub fn context(&self) -> PathBuf {
        self.root().join("context")
    }

    /// `dist --engine buildah --oci ARCHIVE`: a real two-platform image of the fixture.
    pub fn build_archive(&self, name: &str) -> PathBuf {
        let archive = self.root().join(name);
        let (archive_arg, context) = (archive.to_str().unwrap(), self.context());
        let args = ["dist", "--engine", "buildah", "--oci", archive_arg, "--out", context.to_str().unwrap()];
        super::run(&mut self.command(&args)).assert_ok();
        archive
    }

    /// `dist --no-image`: the fixture's build context.
    pub fn build_context(&self) -> PathBuf {
        let context = self.context();
        super::run(&mut self.command(&["dist", "--no-image", "--out", context.to_str().unwrap()]))
            .assert_ok();
        context
    }

    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = super::xtask(self.root(), args);
        command.env("CARGO_TARGET_DIR", shared_target_dir());
        command
    }
}

pub fn shared_target_dir() -> PathBuf {
    repo_root().join("target/fixture-target")
}

pub fn package(name: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\npublish = false\n"
    )
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A folder for PATH holding only the named programs (symlinks to the real ones): to run
/// the xtask on a machine that lacks everything else.
pub fn narrow_path(dir: &Path, programs: &[&str]) -> PathBuf {
    let bin = dir.join("narrow-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for program in programs {
        let real = real_program(program).unwrap_or_else(|| panic!("{program} is not installed"));
        std::os::unix::fs::symlink(&real, bin.join(program)).unwrap();
    }
    bin
}

/// Where a program really is: through pyenv's shims (scripts that need pyenv on PATH).
fn real_program(program: &str) -> Option<PathBuf> {
    let path =
        std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(program)).find(|p| p.is_file())?;
    let head = std::fs::read(&path).ok()?.into_iter().take(512).collect::<Vec<u8>>();
    if !String::from_utf8_lossy(&head).contains("pyenv") {
        return Some(path);
    }
    if program.starts_with("python") {
        let out = std::process::Command::new(&path)
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()?;
        return Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()));
    }
    let out = std::process::Command::new("pyenv").args(["which", program]).output().ok()?;
    Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()))
}

/// A linker that ignores its inputs and writes a fixed file: a misconfigured toolchain.
pub fn fake_linker(dir: &Path, output: &Path) -> PathBuf {
    let script = dir.join("fake-linker.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# Writes {output} wherever -o points, whatever it was asked to link.\n\
             while [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then cp '{output}' \"$2\"; exit 0; fi; shift; done\nexit 1\n",
            output = output.display()
        ),
    )
    .unwrap();
    make_executable(&script);
    script
}

/// The 64-byte header of a static aarch64 ELF executable (no program headers).
pub fn aarch64_elf_header() -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // 64-bit
    b[5] = 1; // little-endian
    b[6] = 1;
    b[16] = 2; // ET_EXEC
    b[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    b[52] = 64;
    b[54] = 56;
    b
}
