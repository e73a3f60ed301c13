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

/// The tool's repository as this run names it: cargo keeps what it fetched from a git URL
/// in its own cache (`~/.cargo/git`) across runs, tags included, so each run serves the
/// tool under a URL of its own (mapped to its clone by `insteadOf`), and removes cargo's
/// copies of it afterwards.
const TOOL_REPOSITORY_PREFIX: &str = "https://github.com/example/rust-starter-e2e";

/// Programs that must not be needed: each records its call and fails.
const FORBIDDEN: &[&str] = &["apt-get", "dpkg", "sudo", "dockerd", "containerd"];

struct Offline {
    dir: TempDir,
    /// The tool's repository URL for this run.
    url: String,
}

impl Drop for Offline {
    /// Cargo's copies of this run's repository (its git database and checkouts), which only
    /// this run made: their folders are named after the URL's last part.
    fn drop(&mut self) {
        let name = self.url.rsplit('/').next().unwrap_or_default().to_string();
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"));
        for kind in ["db", "checkouts"] {
            let Ok(entries) = std::fs::read_dir(cargo_home.join("git").join(kind)) else { continue };
            for entry in entries.flatten() {
                let file_name = entry.file_name().to_string_lossy().to_string();
                // `NAME-HASH`: the name, a dash, 16 hex digits.
                if file_name
                    .strip_prefix(&name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|hash| hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()))
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

impl Offline {
    /// A bare clone of this checkout, tagged `v<version>`, reached instead of the tool's URL.
    fn new() -> Offline {
        let dir = TempDir::new("extension-e2e");
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let url = format!("{TOOL_REPOSITORY_PREFIX}-{}-{nanos}", std::process::id());
        let clone = dir.join("tool.git");
        run(Command::new("git").args(["clone", "--quiet", "--bare"]).arg(repo_root()).arg(&clone))
            .assert_ok();
        let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
        run(Command::new("git").arg("-C").arg(&clone).args(["tag", "-f", &tag, "HEAD"])).assert_ok();
        std::fs::write(
            dir.join("gitconfig"),
            format!("[url \"file://{}\"]\n\tinsteadOf = {url}\n", clone.display()),
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
        Offline { dir, url }
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
    // The tool at this checkout's HEAD, as `new` pins it by default (this run's URL).
    let head = run(Command::new("git").arg("-C").arg(repo_root()).args(["rev-parse", "HEAD"]));
    let head = head.assert_ok().stdout.trim().to_string();
    let tool = format!("{}#{head}", offline.url);
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
            "--tool-git",
            &tool,
        ],
    );
    offline.apply(&mut new);
    let created = run(&mut new);
    created.assert_ok();

    // The tool is a dependency on its repository, pinned: no copy of it.
    let manifest = std::fs::read_to_string(ext.join("xtask/Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("git = \"{}\"", offline.url)), "{manifest}");
    assert!(!ext.join("docker-extension-tool").exists());
    let lock = std::fs::read_to_string(ext.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains(&format!("source = \"git+{}", offline.url)) && lock.contains(&format!("#{head}\"")),
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
    drop(_turn);

    upgrade_takes_a_release_migrates_and_keeps_the_authors_edits(&offline, &ext);
}

/// The tool's next releases, as commits on the clone: 0.2.0 changes two workflows of the
/// template; 0.3.0 does not compile. Returns 0.2.0's templates folder.
fn release_next_versions(offline: &Offline) -> PathBuf {
    let work = offline.dir.join("tool-work");
    run(Command::new("git").arg("clone").arg("--quiet").arg(offline.dir.join("tool.git")).arg(&work))
        .assert_ok();
    let git = |args: &[&str]| {
        run(Command::new("git")
            .arg("-C")
            .arg(&work)
            .args(["-c", "user.name=Tool", "-c", "user.email=tool@example.com"])
            .args(args))
        .assert_ok()
        .stdout
        .clone()
    };
    let edit = |rel: &str, change: &dyn Fn(String) -> String| {
        let path = work.join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        let changed = change(text.clone());
        assert_ne!(changed, text, "{rel} changes");
        std::fs::write(&path, changed).unwrap();
    };
    let bump = |from: &str, to: &str| {
        let package = "name = \"docker-extension-tool\"\nversion = ";
        edit("docker-extension-tool/Cargo.toml", &|t| {
            t.replacen(&format!("version = \"{from}\""), &format!("version = \"{to}\""), 1)
        });
        edit("Cargo.lock", &|t| t.replace(&format!("{package}\"{from}\""), &format!("{package}\"{to}\"")));
    };
    let version = env!("CARGO_PKG_VERSION");
    bump(version, "0.2.0");
    for workflow in ["ci.yml", "release.yml"] {
        edit(&format!("docker-extension-tool/templates/.github/workflows/{workflow}"), &|t| {
            t + "# 0.2.0's\n"
        });
    }
    git(&["commit", "--quiet", "-am", "0.2.0"]);
    git(&["tag", "v0.2.0"]);
    let templates = offline.dir.join("templates-0.2.0");
    run(Command::new("cp").arg("-a").arg(work.join("docker-extension-tool/templates")).arg(&templates))
        .assert_ok();
    bump("0.2.0", "0.3.0");
    edit("docker-extension-tool/src/lib.rs", &|t| t + "compile_error!(\"0.3.0 does not compile\");\n");
    git(&["commit", "--quiet", "-am", "0.3.0"]);
    git(&["tag", "v0.3.0"]);
    git(&["push", "--quiet", "origin", "HEAD:refs/heads/next", "v0.2.0", "v0.3.0"]);
    templates
}

/// What the workspace is: git's view of its files (status, and the hash of every file).
fn snapshot(ext: &Path) -> String {
    let status = run(Command::new("git").arg("-C").arg(ext).args(["status", "--porcelain"]));
    let files = run(Command::new("git").arg("-C").arg(ext).args(["ls-files", "-s"]));
    let lock = std::fs::read(ext.join("Cargo.lock")).unwrap();
    format!("{}{}{lock:?}", status.assert_ok().stdout, files.assert_ok().stdout)
}

/// `cargo xtask upgrade` in the extension: made from this checkout (0.1.0), its author has
/// edited the release workflow and has a config from before config versions.
fn upgrade_takes_a_release_migrates_and_keeps_the_authors_edits(offline: &Offline, ext: &Path) {
    let templates = release_next_versions(offline);
    let git = |args: &[&str]| {
        run(offline.apply(
            Command::new("git")
                .arg("-C")
                .arg(ext)
                .args(["-c", "user.name=Author", "-c", "user.email=author@example.com"])
                .args(args),
        ))
        .assert_ok()
        .stdout
        .clone()
    };
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ext.join("xtask/template.json")).unwrap()).unwrap();
    let recorded: Vec<&String> = record["files"].as_object().unwrap().keys().collect();
    assert_eq!(
        recorded,
        [
            ".cargo/config.toml",
            ".ci/run",
            ".github/dependabot.yml",
            ".github/workflows/ci.yml",
            ".github/workflows/release-matrix.yml",
            ".github/workflows/release.yml",
            "rust-toolchain.toml",
            "xtask/src/main.rs"
        ],
        "new records every file the template owns"
    );
    let manifest = std::fs::read_to_string(ext.join("Cargo.toml")).unwrap();
    let v0: String = manifest
        .lines()
        .filter(|l| !l.contains("config-version") && !l.contains("format version"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(v0, manifest);
    std::fs::write(ext.join("Cargo.toml"), v0).unwrap();
    let release = ext.join(".github/workflows/release.yml");
    let authors = std::fs::read_to_string(&release).unwrap() + "# the author's\n";
    std::fs::write(&release, &authors).unwrap();
    git(&["add", "--all"]);
    git(&["commit", "--quiet", "-m", "the author's extension"]);
    let before = snapshot(ext);

    // The newest release does not compile: nothing changes.
    let broken = run(&mut cargo_in(offline, ext, &["xtask", "upgrade"]));
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(
        broken.stdout.contains("(tag v0.3.0)") && broken.stderr.contains("building the tool"),
        "{broken:?}"
    );
    assert_eq!(snapshot(ext), before, "a failed upgrade leaves every file as it was");

    // Interrupted while it builds the new tool: nothing changes.
    let mut upgrade = cargo_in(offline, ext, &["xtask", "upgrade", "--to", "0.2.0"]);
    std::os::unix::process::CommandExt::process_group(&mut upgrade, 0);
    let mut child =
        upgrade.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let stdout = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut building = false;
    for line in stdout {
        if line.unwrap().starts_with("Building the tool 0.2.0") {
            building = true;
            break;
        }
    }
    assert!(building, "upgrade says when it builds the new tool");
    let group = format!("-{}", child.id());
    run(Command::new("kill").args(["-INT", "--", &group])).assert_ok();
    let status = child.wait().unwrap();
    assert!(!status.success(), "interrupted: {status:?}");
    assert_eq!(snapshot(ext), before, "an interrupted upgrade leaves every file as it was");

    // --dry-run prints what upgrade does, and writes nothing.
    let dry = run(&mut cargo_in(offline, ext, &["xtask", "upgrade", "--to", "0.2.0", "--dry-run"]));
    dry.assert_ok();
    assert_eq!(snapshot(ext), before, "--dry-run writes nothing");

    let upgraded = run(&mut cargo_in(offline, ext, &["xtask", "upgrade", "--to", "0.2.0"]));
    upgraded.assert_ok();
    let lines = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !l.starts_with("Dry run") && !l.starts_with("Upgraded"))
            .map(String::from)
            .collect()
    };
    assert_eq!(lines(&dry.stdout), lines(&upgraded.stdout), "--dry-run prints what upgrade does");
    for said in [
        "config version 0 → 1",
        ".github/workflows/ci.yml: the template's new version",
        ".github/workflows/release.yml: left alone (you edited it); the template's new version is .github/workflows/release.yml.upgrade",
        "modified xtask/Cargo.toml",
    ] {
        assert!(upgraded.stdout.contains(said), "says `{said}`: {}", upgraded.stdout);
    }
    let status = git(&["status", "--porcelain"]);
    let diff = git(&["diff"]);
    let mut changed: Vec<&str> = status.lines().collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            " M .github/workflows/ci.yml",
            " M Cargo.lock",
            " M Cargo.toml",
            " M xtask/Cargo.toml",
            " M xtask/template.json",
            "?? .github/workflows/release.yml.upgrade"
        ],
        "upgrade changes the pin, the lock, the config, the unedited workflow and the record:\n{}\n{diff}",
        upgraded.stdout
    );
    let xtask_manifest = std::fs::read_to_string(ext.join("xtask/Cargo.toml")).unwrap();
    assert!(
        xtask_manifest
            .contains(&format!("docker-extension-tool = {{ git = \"{}\", tag = \"v0.2.0\" }}", offline.url)),
        "{xtask_manifest}"
    );
    let lock = std::fs::read_to_string(ext.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"docker-extension-tool\"\nversion = \"0.2.0\"")
            && lock.contains("?tag=v0.2.0#"),
        "{lock}"
    );
    assert!(std::fs::read_to_string(ext.join("Cargo.toml")).unwrap().contains("\nconfig-version = 1\n"));
    let new_ci = std::fs::read_to_string(templates.join(".github/workflows/ci.yml")).unwrap();
    assert!(new_ci.ends_with("# 0.2.0's\n"));
    assert_eq!(std::fs::read_to_string(ext.join(".github/workflows/ci.yml")).unwrap(), new_ci);
    assert_eq!(std::fs::read_to_string(&release).unwrap(), authors, "the author's edit is kept");
    assert_eq!(
        std::fs::read_to_string(ext.join(".github/workflows/release.yml.upgrade")).unwrap(),
        std::fs::read_to_string(templates.join(".github/workflows/release.yml")).unwrap()
    );
    let record = std::fs::read_to_string(ext.join("xtask/template.json")).unwrap();
    assert!(record.contains("\"tool\": \"0.2.0\""), "{record}");

    // The upgraded xtask runs on the new tool.
    let help = run(&mut cargo_in(offline, ext, &["xtask", "help", "upgrade"]));
    assert!(help.assert_ok().stdout.contains("Usage: cargo xtask upgrade"));
    assert!(help.stderr.contains("docker-extension-tool v0.2.0"), "{}", help.stderr);
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
