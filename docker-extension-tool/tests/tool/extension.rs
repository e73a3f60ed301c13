//! An extension as its author gets it: made by `new` with the tool pinned by default (its
//! repository at the ref this checkout is at), then the README's two commands run in it,
//! `cargo xtask dist` and `cargo xtask test`, on a machine where apt-get, dpkg, sudo, dockerd
//! and containerd only record that they were called and fail, and DOCKER_HOST points
//! nowhere: the extension's tests need no root, no system package and no Docker. Its first
//! push compiles the registry client from the tool's own sources, fetched by git.
//!
//! The tool's repository is served offline: a bare clone of this checkout (so its commits
//! are there, HEAD's included), tagged with the tool's version, that git reaches in place of
//! the repository's URL (`url.<clone>.insteadOf`). What is tested is this checkout's HEAD:
//! commit before running it on a change.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::engine::{engine, registry_turn};
use crate::common::*;

const TOOL_REPOSITORY: &str = "https://github.com/example/rust-starter";

/// Programs that must not be needed: each records its call and fails.
const FORBIDDEN: &[&str] = &["apt-get", "dpkg", "sudo", "dockerd", "containerd"];

struct Offline {
    dir: TempDir,
}

impl Offline {
    /// A bare clone of this checkout, tagged `v<version>`, reached instead of the tool's URL.
    fn new() -> Offline {
        let dir = TempDir::new("extension-e2e");
        let clone = dir.join("tool.git");
        run(Command::new("git").args(["clone", "--quiet", "--bare"]).arg(repo_root()).arg(&clone))
            .assert_ok();
        let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
        run(Command::new("git").arg("-C").arg(&clone).args(["tag", "-f", &tag, "HEAD"])).assert_ok();
        std::fs::write(
            dir.join("gitconfig"),
            format!("[url \"file://{}\"]\n\tinsteadOf = {TOOL_REPOSITORY}\n", clone.display()),
        )
        .unwrap();
        // The stand-ins for what an author's machine may lack.
        let stubs = dir.join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        for program in FORBIDDEN {
            let script = stubs.join(program);
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\necho \"{program} $*\" >> '{}'\nexit 1\n",
                    dir.join("forbidden.log").display()
                ),
            )
            .unwrap();
            make_executable(&script);
        }
        Offline { dir }
    }

    /// The environment every command of the test runs in: git goes to the clone.
    fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("GIT_CONFIG_GLOBAL", self.dir.join("gitconfig"))
            .env("CARGO_NET_GIT_FETCH_WITH_CLI", "true")
            .env("GIT_TERMINAL_PROMPT", "0")
    }

    /// PATH with the recording stand-ins first.
    fn stubbed_path(&self) -> std::ffi::OsString {
        let mut paths = vec![self.dir.join("stubs")];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(paths).unwrap()
    }

    fn forbidden_calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("forbidden.log")).unwrap_or_default()
    }
}

/// The extension's target folder: its own (its `xtask` binary must not replace this
/// repository's), kept between runs.
fn target_dir() -> PathBuf {
    repo_root().join("target/extension-e2e")
}

fn cargo_in(offline: &Offline, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command.args(args).current_dir(dir).env("CARGO_TARGET_DIR", target_dir());
    offline.apply(&mut command);
    command
}

#[test]
fn an_extension_made_by_new_builds_and_tests_itself_with_no_root_and_no_docker() {
    let offline = Offline::new();
    let ext = offline.dir.join("disk-report");
    let mut new = xtask(
        &repo_root(),
        &[
            "new",
            ext.to_str().unwrap(),
            "--image",
            "acme/disk-report",
            "--title",
            "Disk Report",
            "--vendor",
            "Acme",
        ],
    );
    offline.apply(&mut new);
    let created = run(&mut new);
    created.assert_ok();

    // The tool is a dependency on its repository, pinned: no copy of it.
    let head = run(Command::new("git").arg("-C").arg(repo_root()).args(["rev-parse", "HEAD"]));
    let head = head.assert_ok().stdout.trim().to_string();
    let manifest = std::fs::read_to_string(ext.join("xtask/Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("git = \"{TOOL_REPOSITORY}\"")), "{manifest}");
    assert!(!ext.join("docker-extension-tool").exists());
    let lock = std::fs::read_to_string(ext.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains(&format!("source = \"git+{TOOL_REPOSITORY}")) && lock.contains(&format!("#{head}\"")),
        "Cargo.lock pins the tool at this checkout's HEAD ({head}):\n{}\n{}",
        created.stdout,
        lock.lines().filter(|l| l.contains("git+")).collect::<Vec<_>>().join("\n")
    );
    let rust_lines: usize =
        walk_rs(&ext).iter().map(|f| std::fs::read_to_string(f).unwrap().lines().count()).sum();
    assert!(rust_lines < 2500, "the extension holds {rust_lines} lines of Rust: its own, not the tool's");

    // Its UI's packages, as `npm ci` installs them (copied: no network needed).
    let copied = Command::new("cp")
        .arg("-a")
        .arg(repo_root().join("ui/node_modules"))
        .arg(ext.join("ui/node_modules"))
        .status()
        .unwrap();
    assert!(copied.success());
    let marker =
        std::fs::File::options().write(true).open(ext.join("ui/node_modules/.package-lock.json")).unwrap();
    marker.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(1)).unwrap();

    // The README's main command.
    let dist = run(cargo_in(&offline, &ext, &["xtask", "dist"]).env("PATH", offline.stubbed_path()));
    dist.assert_ok();
    let check = run(&mut cargo_in(&offline, &ext, &["xtask", "check"]));
    assert!(check.assert_ok().stdout.contains("no problems found"), "{check:?}");

    // The README's test command: no root, no apt-get, no Docker.
    let test = run(cargo_in(&offline, &ext, &["xtask", "test"])
        .env("PATH", offline.stubbed_path())
        .env("DOCKER_HOST", format!("unix://{}/no-docker.sock", offline.dir.path().display())));
    test.assert_ok();
    for part in ["cargo clippy", "cargo test --workspace", "UI unit tests", "UI browser test", "packaging"] {
        assert!(
            test.stderr.lines().any(|l| l.contains(part) && l.contains("passed in")),
            "`{part}` passed: {}",
            test.stderr
        );
    }
    assert!(test.stderr.contains("==> all tests passed"));
    assert_eq!(offline.forbidden_calls(), "", "the extension's tests called none of {FORBIDDEN:?}");

    // Its first push compiles the registry client from the tool's sources, as git fetched them.
    let _turn = registry_turn();
    let reference = format!("{}/acme/disk-report:0.1.0", engine().registry);
    let push = run(&mut cargo_in(
        &offline,
        &ext,
        &["xtask", "dist", "--engine", "builtin", "--push", "--tag", &reference],
    ));
    push.assert_ok();
    let client = target_dir().join("xtask/registry/bin/docker-extension-registry");
    assert!(client.is_file(), "the client is in the extension's target folder");
    // Installed from the sources cargo fetched by git (not from this checkout's folder).
    let installed = std::fs::read_to_string(target_dir().join("xtask/registry/.crates2.json")).unwrap();
    assert!(installed.contains("/git/checkouts/"), "{installed}");
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    let index: serde_json::Value = serde_json::from_str(&raw.assert_ok().stdout).unwrap();
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
}

/// Every `.rs` file under a workspace, but build output.
fn walk_rs(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["target", "node_modules", ".git"].contains(&name.as_str()) {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                found.push(path);
            }
        }
    }
    found
}
