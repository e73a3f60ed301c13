//! `cargo xtask new` and `init`: a new extension carries its new names everywhere, none of
//! the old ones, builds its context with its own xtask, and passes its own unit tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use serde_json::Value;

/// The tool's own folder in this repository: what `--tool-path` points new extensions at.
fn tool_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The names the template has, which a new extension must not keep.
const OLD_NAMES: &[&str] =
    &["example/rust-starter", "rust-starter", "rust_starter", "Rust Starter", "Example Inc."];

/// Every text file of a workspace (not .git, build output or installed packages).
fn text_files(root: &Path) -> Vec<(PathBuf, String)> {
    let mut files = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                if ![".git", "target", "node_modules", "dist"].contains(&name.as_str()) {
                    stack.push(entry.path());
                }
            } else if let Ok(text) = std::fs::read_to_string(entry.path()) {
                files.push((entry.path().strip_prefix(root).unwrap().to_path_buf(), text));
            }
        }
    }
    files
}

/// Each old name still found, with the file it is in.
fn leftovers(root: &Path, old: &[&str], case_insensitive: &[&str]) -> Vec<String> {
    let mut found = vec![];
    for (path, text) in text_files(root) {
        // The tool's pin names the folder this checkout is in, whatever it is called.
        let text = text.replace(tool_dir().to_str().unwrap(), "TOOL");
        for name in old {
            if text.contains(name) {
                found.push(format!("{} has {name:?}", path.display()));
            }
        }
        for name in case_insensitive {
            if text.to_lowercase().contains(name) {
                found.push(format!("{} has {name:?} (any case)", path.display()));
            }
        }
    }
    found
}

/// `cargo ARGS` in a new workspace. New workspaces share one target folder (dependencies
/// build once), one cargo at a time: each builds its own `xtask` binary at the same path.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    run(Command::new("cargo")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", repo_root().join("target/new-target")))
}

#[test]
fn new_renames_everything_builds_and_passes_its_own_tests() {
    let dir = TempDir::new("new");
    let dest = dir.join("disk-usage");
    let output = run(&mut xtask(
        &repo_root(),
        &[
            "new",
            dest.to_str().unwrap(),
            "--image",
            "acme/disk-usage",
            "--title",
            "Disk Usage",
            "--vendor",
            "Acme Corp",
            "--host-binary",
            "du-report",
            "--tool-path",
            tool_dir().to_str().unwrap(),
        ],
    ));
    assert!(output.assert_ok().stdout.contains("Next: cd "), "{output:?}");

    // Only the template's own files, a fresh git repository, nothing of the old names.
    assert!(
        !dest.join("target").exists()
            && !dest.join("ui/node_modules").exists()
            && !dest.join("ui/dist").exists()
    );
    assert!(dest.join(".git/HEAD").is_file());
    let log = run(Command::new("git").args(["log", "--oneline"]).current_dir(&dest));
    assert_ne!(log.code, 0, "no history: {log:?}");
    assert_eq!(leftovers(&dest, OLD_NAMES, &["hostinfo"]), Vec::<String>::new());
    // No copy of the tool: a dependency, here on the checkout the test gave.
    assert!(!dest.join("docker-extension-tool").exists(), "the tool's sources are not copied");
    let xtask_manifest = std::fs::read_to_string(dest.join("xtask/Cargo.toml")).unwrap();
    let expected =
        format!("docker-extension-tool = {{ path = \"{}\" }}", tool_dir().canonicalize().unwrap().display());
    assert!(xtask_manifest.contains(&expected), "{xtask_manifest}");
    let xtask_main = std::fs::read_to_string(dest.join("xtask/src/main.rs")).unwrap();
    assert!(!xtask_main.contains("self_test") && xtask_main.contains("\"hello\""), "{xtask_main}");
    let lock = std::fs::read_to_string(dest.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"docker-extension-tool\""), "the lock file pins the tool");
    assert!(dest.join("host-binaries/du-report/Cargo.toml").is_file());
    use std::os::unix::fs::PermissionsExt;
    assert_ne!(
        dest.join(".ci/run").metadata().unwrap().permissions().mode() & 0o111,
        0,
        ".ci/run stays executable"
    );
    let manifest = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("image = \"acme/disk-usage\"")
            && manifest.contains("package = \"disk-usage-backend\"")
    );
    assert!(!manifest.contains("template:"), "markers are removed");
    let ui: Value =
        serde_json::from_str(&std::fs::read_to_string(dest.join("ui/package.json")).unwrap()).unwrap();
    assert_eq!((ui["name"].as_str(), ui["version"].as_str()), (Some("disk-usage-ui"), Some("0.1.0")));
    assert!(std::fs::read_to_string(dest.join("README.md")).unwrap().starts_with("# Disk Usage\n"));

    // Its own xtask builds its context; the contract's TypeScript `new` wrote is what its
    // renamed types give (dist regenerates it and finds nothing to change).
    let contract = std::fs::read_to_string(dest.join("ui/src/api.ts")).unwrap();
    assert!(contract.contains("`disk-usage-api`") && contract.contains("export type Hello"), "{contract}");
    let context = dir.join("context");
    let dist = cargo(&dest, &["xtask", "dist", "--no-image", "--out", context.to_str().unwrap()]);
    dist.assert_ok();
    assert!(dist.stderr.contains("the types of disk-usage-api give the same file"), "{}", dist.stderr);
    assert_eq!(std::fs::read_to_string(dest.join("ui/src/api.ts")).unwrap(), contract);
    let metadata: Value =
        serde_json::from_str(&std::fs::read_to_string(context.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(metadata["ui"]["dashboard-tab"]["title"], "Disk Usage");
    assert_eq!(metadata["host"]["binaries"][0]["windows"][0]["path"], "/windows/du-report.exe");
    for path in
        ["amd64/backend", "arm64/darwin/du-report", "amd64/windows/du-report.exe", "arm64/linux/du-report"]
    {
        assert!(context.join(path).is_file(), "{path}");
    }
    let dockerfile = std::fs::read_to_string(context.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("org.opencontainers.image.title=\"Disk Usage\""));
    assert!(dockerfile.contains("org.opencontainers.image.vendor=\"Acme Corp\""));
    assert!(dockerfile.contains("https://raw.githubusercontent.com/acme/disk-usage/main/extension/icon.svg"));
    assert_eq!(leftovers(&context, OLD_NAMES, &["hostinfo"]), Vec::<String>::new());
    let renamed = run(Command::new(context.join("amd64/linux/du-report")).arg("--bad"));
    assert_eq!(renamed.code, 2);
    assert!(renamed.stderr.starts_with("du-report: unexpected argument"), "{renamed:?}");

    // Its own tests: the backend's, the host binary's, the UI's.
    cargo(&dest, &["test", "-p", "disk-usage-backend", "-p", "du-report"]).assert_ok();
    let npm = run(Command::new("npm").arg("test").current_dir(dest.join("ui")));
    assert!(npm.assert_ok().stdout.contains("passed"), "{npm:?}");
}

#[test]
fn new_without_a_backend_with_two_host_binaries() {
    let dir = TempDir::new("new-parts");
    let dest = dir.join("probe");
    let args =
        ["new", dest.to_str().unwrap(), "--image", "acme/probe", "--title", "Probe", "--vendor", "Acme Corp"];
    let mut args = args.to_vec();
    args.extend(["--no-backend", "--host-binary", "probe-a", "--host-binary", "probe-b"]);
    let tool = tool_dir();
    args.extend(["--tool-path", tool.to_str().unwrap()]);
    run(&mut xtask(&repo_root(), &args)).assert_ok();
    assert!(!dest.join("backend").exists());
    assert_eq!(leftovers(&dest, OLD_NAMES, &["hostinfo"]), Vec::<String>::new());
    let manifest = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("[workspace.metadata.extension.backend]") && !manifest.contains("\"backend\"")
    );

    // The contract without the backend's types, as their generation gives it.
    let contract = std::fs::read_to_string(dest.join("ui/src/api.ts")).unwrap();
    assert!(!contract.contains("Hello") && contract.contains("export type HostFacts"), "{contract}");
    let context = dir.join("context");
    let dist = cargo(&dest, &["xtask", "dist", "--no-image", "--out", context.to_str().unwrap()]);
    assert!(dist.assert_ok().stderr.contains("the types of probe-api give the same file"), "{}", dist.stderr);
    assert_eq!(std::fs::read_to_string(dest.join("ui/src/api.ts")).unwrap(), contract);
    let metadata: Value =
        serde_json::from_str(&std::fs::read_to_string(context.join("metadata.json")).unwrap()).unwrap();
    assert!(metadata.get("vm").is_none(), "no backend, no vm: {metadata}");
    assert!(metadata["ui"]["dashboard-tab"].get("backend").is_none());
    let linux: Vec<&str> = metadata["host"]["binaries"][0]["linux"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(linux, ["/linux/probe-a", "/linux/probe-b"]);
    let dockerfile = std::fs::read_to_string(context.join("Dockerfile")).unwrap();
    assert!(!dockerfile.contains("ENTRYPOINT"), "{dockerfile}");
    assert!(!context.join("amd64/backend").exists());
    let b = run(Command::new(context.join("amd64/linux/probe-b")).arg("--version"));
    assert_eq!(b.assert_ok().stdout.trim(), "probe-b 0.1.0");
    // Its UI (without the backend's panel) type-checks and passes its tests.
    let npm = run(Command::new("npm").arg("test").current_dir(dest.join("ui")));
    npm.assert_ok();
}

#[test]
fn new_refuses_bad_names_and_a_non_empty_folder() {
    let dir = TempDir::new("new-refusals");
    let occupied = dir.join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::write(occupied.join("keep.txt"), "mine").unwrap();
    let fresh = dir.join("fresh");
    let base = |path: &Path| -> Vec<String> {
        ["new", path.to_str().unwrap(), "--image", "acme/good", "--title", "Good", "--vendor", "Acme"]
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    };
    // The base arguments with one flag's value replaced, or one flag added.
    let with = |path: &Path, flag: &str, value: &str| -> Vec<String> {
        let mut args = base(path);
        match args.iter().position(|a| a == flag) {
            Some(i) => args[i + 1] = value.to_string(),
            None => args.extend([flag.to_string(), value.to_string()]),
        }
        args
    };
    let cases: Vec<(Vec<String>, i32, &[&str])> = vec![
        (base(&occupied), 1, &["exists and is not empty", "give `new` a new folder"]),
        (
            with(&fresh, "--image", "Acme/Good"),
            1,
            &["--image", "`Acme/Good` is not a valid image repository"],
        ),
        (
            with(&fresh, "--image", "acme/9lives"),
            1,
            &["the name `9lives` also names the Rust packages", "start with a letter"],
        ),
        (
            with(&fresh, "--host-binary", "du report"),
            1,
            &["--host-binary: `du report` is not a valid crate or binary name"],
        ),
        (
            [base(&fresh), vec!["--host-binary".into(), "a".into(), "--host-binary".into(), "a".into()]]
                .concat(),
            1,
            &["--host-binary `a` is given twice"],
        ),
        (
            with(&fresh, "--title", "Say \"hi\""),
            1,
            &["--title `Say \"hi\"` contains '\"'", "would need escaping"],
        ),
        (
            vec!["new".into(), fresh.to_str().unwrap().into(), "--image".into(), "acme/x".into()],
            2,
            &["missing --title, --vendor", "Usage: cargo xtask new"],
        ),
    ];
    for (args, code, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&mut xtask(&repo_root(), &args));
        assert_eq!(output.code, code, "{args:?}: {output:?}");
        for needle in says {
            assert!(output.stderr.contains(needle), "{args:?}: stderr lacks {needle:?}: {}", output.stderr);
        }
        assert!(!fresh.exists(), "{args:?}: nothing is created");
    }
    assert_eq!(std::fs::read_to_string(occupied.join("keep.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(&occupied).unwrap().count(), 1);

    // A link, and a folder inside the template: refused, nothing written anywhere.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&empty, &link).unwrap();
    let output = run(&mut xtask(&repo_root(), &base(&link).iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("is a symbolic link"), "{}", output.stderr);
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    let inside = repo_root().join("ui/new-extension");
    let output = run(&mut xtask(&repo_root(), &base(&inside).iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("is inside this workspace"), "{}", output.stderr);
    assert!(!inside.exists());
}

/// A copy of the template as "Use this template" makes one: its files, without build output.
fn copy_template(dest: &Path) {
    for (rel, _) in text_files(&repo_root()) {
        let to = dest.join(&rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join(&rel), to).unwrap();
    }
    std::fs::create_dir_all(dest.join("extension/screenshots")).unwrap();
    std::fs::copy(
        repo_root().join("extension/screenshots/tab.png"),
        dest.join("extension/screenshots/tab.png"),
    )
    .unwrap();
}

#[test]
fn init_renames_a_copy_in_place() {
    let dir = TempDir::new("init");
    let copy = dir.join("copy");
    copy_template(&copy);
    let tool = tool_dir();
    let output = run(&mut xtask(
        &copy,
        &[
            "init",
            "--image",
            "acme/in-place",
            "--title",
            "In Place",
            "--vendor",
            "Acme Corp",
            "--tool-path",
            tool.to_str().unwrap(),
        ],
    ));
    output.assert_ok();
    assert!(!copy.join("docker-extension-tool").exists(), "the copy's tool sources go");
    // No --host-binary: the sample keeps its name; everything else is renamed.
    assert_eq!(leftovers(&copy, OLD_NAMES, &[]), Vec::<String>::new());
    assert!(copy.join("host-binaries/hostinfo/src/main.rs").is_file());
    let plan = run(&mut xtask(&copy, &["dist", "--dry-run", "--no-image"]));
    let plan = &plan.assert_ok().stdout;
    assert!(plan.starts_with("Plan for acme/in-place:0.1.0"), "{plan}");
    assert!(plan.contains("--package in-place-backend"), "{plan}");

    // A bad name changes nothing.
    let before = snapshot(&copy);
    let bad = run(&mut xtask(
        &copy,
        &["init", "--image", "acme/x", "--title", "X", "--vendor", "V", "--host-binary", "test"],
    ));
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("`test` is reserved by Cargo"), "{}", bad.stderr);
    assert_eq!(snapshot(&copy), before);
}

#[test]
fn init_refuses_uncommitted_changes() {
    let dir = TempDir::new("init-dirty");
    let copy = dir.join("copy");
    copy_template(&copy);
    let git = |args: &[&str]| {
        run(Command::new("git")
            .args(["-c", "user.name=Tests", "-c", "user.email=tests@example.com"])
            .args(args)
            .current_dir(&copy))
        .assert_ok();
    };
    git(&["init", "--quiet"]);
    git(&["add", "-A"]);
    git(&["commit", "--quiet", "-m", "template"]);
    std::fs::write(copy.join("backend/src/main.rs"), "// my work in progress\n").unwrap();
    let before = snapshot(&copy);
    let output = run(&mut xtask(
        &copy,
        &["init", "--image", "acme/in-place", "--title", "In Place", "--vendor", "Acme Corp"],
    ));
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("has uncommitted changes (M backend/src/main.rs)"), "{}", output.stderr);
    assert!(output.stderr.contains("commit or stash them first"), "{}", output.stderr);
    let mut after = snapshot(&copy);
    after.retain(|path, _| !path.starts_with(".git"));
    let mut before = before;
    before.retain(|path, _| !path.starts_with(".git"));
    assert_eq!(after, before, "nothing changed");
}

/// The files the template owns (the workflows, the cargo alias, CI's script, the xtask's
/// main.rs) are the tool's templates, which it packages and `upgrade` refreshes: this
/// repository's copies are the same, but for what only the tool's repository has (the
/// `template:tool` regions).
#[test]
fn this_repositorys_template_owned_files_are_the_tools_templates() {
    let templates = tool_dir().join("templates");
    let mut checked = vec![];
    let mut stack = vec![templates.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&templates).unwrap();
            let ours = std::fs::read_to_string(repo_root().join(rel)).unwrap();
            let (begin, end) =
                (["template", "tool", "begin"].join(":"), ["template", "tool", "end"].join(":"));
            let mut inside = false;
            let mut stripped = String::new();
            for line in ours.split_inclusive('\n') {
                if line.contains(&begin) {
                    inside = true;
                } else if line.contains(&end) {
                    inside = false;
                } else if !inside {
                    stripped.push_str(line);
                }
            }
            assert_eq!(
                stripped,
                std::fs::read_to_string(&path).unwrap(),
                "{} is docker-extension-tool/templates/{} (but its template:tool regions): change both",
                rel.display(),
                rel.display()
            );
            let executable = |p: &Path| {
                std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o111
                    != 0
            };
            assert_eq!(
                executable(&path),
                executable(&repo_root().join(rel)),
                "{} keeps its mode",
                rel.display()
            );
            checked.push(rel.display().to_string());
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            ".cargo/config.toml",
            ".ci/run",
            ".github/dependabot.yml",
            ".github/workflows/ci.yml",
            ".github/workflows/release-matrix.yml",
            ".github/workflows/release.yml",
            "rust-toolchain.toml",
            "xtask/src/main.rs"
        ]
    );
}
