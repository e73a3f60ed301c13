//! What the xtask compiles, checked from cargo's own resolve: flate2 runs on miniz_oxide
//! (pure Rust, so the builtin engine's gzip bytes are the same on every machine and no C
//! compiler is needed), and nothing in the tree switches it to another backend: the
//! golden image digest depends on the deflate implementation.

use std::process::Command;

use serde_json::Value;

#[test]
fn flate2_runs_on_miniz_oxide_and_nothing_switches_it() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--filter-platform", "x86_64-unknown-linux-gnu"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let name_of =
        |id: &str| packages.iter().find(|p| p["id"] == id).map(|p| p["name"].as_str().unwrap().to_string());
    // The packages the xtask binary depends on, transitively (not the other members').
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let xtask = packages.iter().find(|p| p["name"] == "docker-extension-tool").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stack = vec![xtask];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
            if normal {
                stack.push(dep["pkg"].as_str().unwrap().to_string());
            }
        }
    }
    let names: Vec<String> = seen.iter().filter_map(|id| name_of(id)).collect();
    for c_zlib in ["libz-sys", "libz-ng-sys", "cloudflare-zlib-sys", "miniz-sys"] {
        assert!(!names.contains(&c_zlib.to_string()), "{c_zlib} is in the xtask's tree: {names:?}");
    }
    assert!(names.contains(&"miniz_oxide".to_string()), "{names:?}");
    // The resolve is for the whole workspace: flate2's features there are the union.
    let flate2 =
        nodes.iter().find(|n| name_of(n["id"].as_str().unwrap()).as_deref() == Some("flate2")).unwrap();
    let features: Vec<&str> =
        flate2["features"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(features.contains(&"rust_backend"), "{features:?}");
    for other in ["zlib-rs", "zlib", "zlib-ng", "zlib-ng-compat", "cloudflare_zlib", "any_c_zlib"] {
        assert!(
            !features.contains(&other),
            "flate2 is switched to another backend by `{other}`: {features:?}"
        );
    }
}

/// The crates an extension's xtask builds: the tool with its default features, every OS's
/// dependencies included, as cargo resolves them.
fn xtask_crates() -> std::collections::BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "-p", "docker-extension-tool", "-e", "normal,build", "--target", "all"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').next())
        .filter(|name| !name.is_empty() && *name != "docker-extension-tool")
        .map(String::from)
        .collect()
}

/// The cold compile of an extension's xtask does not grow unseen: a crate added to (or
/// gone from) what it builds fails here until the recorded list is updated, after a
/// measurement (`cargo xtask bench --cold-compile`; the README's figures).
#[test]
fn the_xtask_builds_the_recorded_crates_only() {
    let recorded: std::collections::BTreeSet<String> = include_str!("xtask-crates.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.trim().to_string())
        .collect();
    let built = xtask_crates();
    let added: Vec<&String> = built.difference(&recorded).collect();
    let gone: Vec<&String> = recorded.difference(&built).collect();
    assert!(
        added.is_empty() && gone.is_empty(),
        "an extension's xtask now also builds {added:?} and no longer {gone:?}: measure the cold compile \
         (cargo xtask bench --cold-compile), write the figure in the README, then update tests/tool/xtask-crates.txt"
    );
    // The list is what the registry feature keeps out of every xtask.
    for heavy in ["ureq", "rustls", "ring", "zip", "docker_credential"] {
        assert!(!built.contains(heavy), "{heavy} is built by every extension's xtask");
    }
}
