//! The tool is a crate an extension can take from a registry: `cargo package` with its
//! verification (the packaged files alone build it), the metadata crates.io needs, the
//! templates `upgrade` refreshes from inside the package, no tests or repository files;
//! and `new --tool-version` pins a registry version.

use std::process::Command;

use crate::common::*;

#[test]
fn cargo_package_builds_the_tool_from_its_packaged_files() {
    let target = repo_root().join("target/package-test");
    let cargo = |args: &[&str]| {
        run(Command::new(env!("CARGO")).args(args).current_dir(repo_root()).env("CARGO_TARGET_DIR", &target))
    };
    let listed = cargo(&["package", "--package", "docker-extension-tool", "--allow-dirty", "--list"]);
    let files: Vec<&str> = listed.assert_ok().stdout.lines().collect();
    for expected in [
        "Cargo.toml",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "src/lib.rs",
        "templates/.github/workflows/ci.yml",
        "templates/.ci/run",
        "templates/xtask/src/main.rs",
    ] {
        assert!(files.contains(&expected), "the package holds {expected}: {files:?}");
    }
    assert!(!files.iter().any(|f| f.starts_with("tests/")), "no tests in the package: {files:?}");

    // With verification: the package, unpacked on its own, compiles.
    let packaged = cargo(&["package", "--package", "docker-extension-tool", "--allow-dirty"]);
    packaged.assert_ok();
    assert!(packaged.stderr.contains("Verifying docker-extension-tool"), "{}", packaged.stderr);
    let manifest = std::fs::read_to_string(
        target.join(format!("package/docker-extension-tool-{}/Cargo.toml", env!("CARGO_PKG_VERSION"))),
    )
    .unwrap();
    for key in ["description = ", "license = ", "repository = ", "readme = "] {
        assert!(
            manifest.lines().any(|l| l.starts_with(key)),
            "the published manifest has {key}…:\n{manifest}"
        );
    }
    let doc: toml_edit::DocumentMut = manifest.parse().unwrap();
    let mut tables: Vec<&toml_edit::Item> = ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .filter_map(|k| doc.get(k))
        .collect();
    if let Some(targets) = doc.get("target").and_then(toml_edit::Item::as_table) {
        for (_, target) in targets {
            tables.extend(["dependencies", "build-dependencies"].iter().filter_map(|k| target.get(k)));
        }
    }
    assert!(!tables.is_empty());
    for table in tables {
        for (name, dependency) in table.as_table_like().unwrap().iter() {
            assert!(dependency.get("path").is_none(), "{name} is a path dependency:\n{manifest}");
        }
    }
}

#[test]
fn new_with_tool_version_pins_the_registry_version() {
    let dir = TempDir::new("new-tool-version");
    let ext = dir.join("ext");
    let created = run(&mut xtask(
        &repo_root(),
        &[
            "new",
            ext.to_str().unwrap(),
            "--image",
            "acme/ext",
            "--title",
            "Ext",
            "--vendor",
            "Acme",
            "--tool-version",
            "0.4.2",
        ],
    ));
    created.assert_ok();
    let manifest = std::fs::read_to_string(ext.join("xtask/Cargo.toml")).unwrap();
    assert!(manifest.contains("docker-extension-tool = { version = \"=0.4.2\" }"), "{manifest}");
    assert!(created.stdout.contains("from crates.io (version 0.4.2)"), "{}", created.stdout);

    let bad = run(&mut xtask(
        &repo_root(),
        &[
            "new",
            dir.join("bad").to_str().unwrap(),
            "--image",
            "acme/ext",
            "--title",
            "Ext",
            "--vendor",
            "Acme",
            "--tool-version",
            "latest",
        ],
    ));
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("--tool-version latest is not a version (X.Y.Z)"), "{}", bad.stderr);
    assert!(!dir.join("bad").exists(), "nothing written");
}
