//! The GitHub workflows the template ships (and `new` carries): parsed, each step checked,
//! and every `cargo xtask …` they run parsed by the xtask's own flag parser, so renaming a
//! command or a flag breaks this test rather than a release.

use std::collections::BTreeSet;

use crate::common::repo_root;
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
                commands.push(line.split_whitespace().skip(2).map(String::from).collect());
            }
        }
    }
    commands
}

fn caches(steps: &[Value]) -> String {
    steps[position(steps, "actions/cache@")]["with"]["path"].as_str().unwrap().to_string()
}

#[test]
fn ci_runs_the_readme_test_command_with_caches() {
    let ci = workflow("ci.yml");
    assert!(
        ci["on"]["pull_request"].is_null() || ci["on"]["pull_request"].is_mapping(),
        "runs on pull requests"
    );
    let steps = steps(&ci, "test");
    assert!(position(steps, "actions/checkout@") < position(steps, "cargo xtask test"));
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(
        readme.contains("cargo xtask test   # run the extension's tests"),
        "the README's test command is the one CI runs"
    );
    assert_eq!(xtask_commands(&ci, "test"), [["test"]]);
    let paths = caches(steps);
    for cached in ["~/.cargo/registry", "~/.cache/zig", "target"] {
        assert!(paths.contains(cached), "{cached} is cached: {paths}");
    }
    assert_eq!(steps[position(steps, "actions/setup-node@")]["with"]["cache"], "npm");
}

#[test]
fn release_pushes_both_platforms_on_a_version_tag_then_checks_the_registry() {
    let release = workflow("release.yml");
    assert_eq!(release["on"]["push"]["tags"][0], "v*");
    let steps = steps(&release, "release");
    assert!(
        !steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.contains("setup-qemu"))),
        "nothing runs emulated"
    );
    let login = &steps[position(steps, "docker/login-action@")]["with"];
    for field in ["username", "password"] {
        assert!(login[field].as_str().unwrap().starts_with("${{ secrets."), "{field} comes from a secret");
    }
    let order = [
        position(steps, "actions/checkout@"),
        position(steps, "cargo xtask setup"),
        position(steps, "docker/setup-buildx-action@"),
        position(steps, "docker/login-action@"),
        position(steps, "cargo xtask dist --push"),
        position(steps, "cargo xtask check --published"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    let commands = xtask_commands(&release, "release");
    assert_eq!(commands[1][..2], ["dist", "--push"], "{commands:?}");
    for never in ["--platform", "--force"] {
        assert!(!commands[1].iter().any(|w| w == never), "both platforms, no overwrite: {commands:?}");
    }
    assert_eq!(commands[2], ["check", "--published"]);
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
    assert_eq!(matrix["jobs"]["image"]["needs"], "host-binaries");
    let commands = xtask_commands(&matrix, "image");
    let pushes_prebuilt = |c: &Vec<String>| {
        c[0] == "dist"
            && c.contains(&"--push".into())
            && c.windows(2).any(|w| w == ["--prebuilt", "prebuilt"])
    };
    assert!(commands.iter().any(pushes_prebuilt), "{commands:?}");
    assert!(commands.iter().any(|c| c == &["check", "--published"]), "{commands:?}");
}
