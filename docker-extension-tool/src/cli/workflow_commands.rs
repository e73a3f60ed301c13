//! Tests: every `cargo xtask …` line of the workflows the template ships (the tool's
//! `templates/`, which `upgrade` refreshes in every extension) is a command this tool's
//! parser accepts, with the options the release needs. The workflows' shape (triggers,
//! steps, caches) is checked by the integration tests, on this repository's copies.

use serde_yaml::Value;

use crate::cli::release_tag::ReleaseTag;
use crate::cli::test::Test;
use crate::cli::{self, Command};
use crate::plan::image::Output;
use crate::workspace::owned::OWNED;

fn workflow(name: &str) -> Value {
    let path = format!(".github/workflows/{name}");
    let file = OWNED.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("the template owns {path}"));
    serde_yaml::from_str(file.contents).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"))
}

/// Every `cargo xtask …` line a job runs, parsed, with `${{ matrix.KEY }}` replaced by each
/// matrix entry's value.
fn xtask_commands(workflow: &Value, job: &str) -> Vec<Command> {
    let matrix: Vec<&Value> = workflow["jobs"][job]["strategy"]["matrix"]["include"]
        .as_sequence()
        .map(|m| m.iter().collect())
        .unwrap_or_else(|| vec![&Value::Null]);
    let steps = workflow["jobs"][job]["steps"].as_sequence().unwrap_or_else(|| panic!("job {job} has steps"));
    let mut commands = vec![];
    for step in steps {
        let Some(run) = step["run"].as_str() else { continue };
        for line in run.lines().filter(|l| l.trim_start().starts_with("cargo xtask")) {
            for entry in &matrix {
                let mut line = line.to_string();
                if let Some(map) = entry.as_mapping() {
                    for (key, value) in map {
                        let (Some(key), Some(value)) = (key.as_str(), value.as_str()) else { continue };
                        line = line.replace(&format!("${{{{ matrix.{key} }}}}"), value);
                    }
                }
                assert!(!line.contains("${{"), "unexpanded expression in {line}");
                // The command's own words: up to a redirection or pipe, the tag a release
                // workflow runs for in place of its variable.
                let command = line.split(['>', '|']).next().unwrap_or_default();
                let args = command.replace("\"$GITHUB_REF_NAME\"", "v1.2.3");
                let args = args.split_whitespace().skip(2).map(String::from);
                match cli::parse(args) {
                    Ok(command) => commands.push(command),
                    Err(e) => panic!("{job}: `{line}` is not a command the xtask accepts: {}", e.message),
                }
            }
        }
    }
    commands
}

#[test]
fn ci_runs_the_test_command() {
    assert_eq!(xtask_commands(&workflow("ci.yml"), "test"), [Command::Test(Test::default())]);
}

#[test]
fn release_checks_the_tag_sets_up_pushes_both_platforms_then_checks_the_registry() {
    let commands = xtask_commands(&workflow("release.yml"), "release");
    assert_eq!(commands[0], Command::ReleaseTag(ReleaseTag { tag: "v1.2.3".into() }));
    assert!(matches!(&commands[1], Command::Setup(_)), "{commands:?}");
    assert!(
        matches!(&commands[2], Command::Dist(d) if d.request.output == Some(Output::Push) && d.request.platform.is_none() && !d.request.force),
        "{commands:?}"
    );
    assert!(matches!(&commands[3], Command::Check(c) if c.published), "{commands:?}");
    let matrix = workflow("release-matrix.yml");
    assert_eq!(
        xtask_commands(&matrix, "version"),
        [Command::ReleaseTag(ReleaseTag { tag: "v1.2.3".into() })]
    );
}

#[test]
fn the_matrix_release_builds_each_target_once_then_pushes_what_it_built() {
    let matrix = workflow("release-matrix.yml");
    let mut built = vec![];
    for command in xtask_commands(&matrix, "host-binaries") {
        if let Command::BuildHost(build) = command {
            assert_eq!(build.out, "prebuilt");
            built.extend(build.targets);
        }
    }
    let unique: std::collections::BTreeSet<&String> = built.iter().collect();
    assert!(!built.is_empty() && unique.len() == built.len(), "each target built once: {built:?}");
    let commands = xtask_commands(&matrix, "image");
    assert!(commands.iter().any(|c| matches!(c, Command::Dist(d)
        if d.request.output == Some(Output::Push) && d.request.prebuilt.as_deref() == Some("prebuilt".into()))));
    assert!(commands.iter().any(|c| matches!(c, Command::Check(c) if c.published)));
}
