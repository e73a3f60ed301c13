//! Which of the workspace's packages compile C code for their targets: the packages whose
//! own crates and linked dependencies have no native library (`links`) and no C build
//! (a build dependency on `cc`, `cmake`, `bindgen`, `pkg-config`…) are pure Rust, and link
//! their static Linux targets with rustup's `rust-lld` alone (see `Builder::RustLld`).
//! From cargo's resolve (`cargo metadata`), kept in the target folder by the digest of
//! everything that decides it (Cargo.lock and the members' manifests), so a warm dist asks
//! cargo nothing more.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use camino::Utf8Path;
use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, PackageId};
use sha2::{Digest as _, Sha256};

use crate::util::digest::Digest;
use crate::util::files::write_atomic;
use crate::workspace::config::Config;

/// Build dependencies that compile or link C for the package's target.
const C_BUILDERS: &[&str] = &["cc", "cmake", "bindgen", "pkg-config", "autotools", "nasm-rs", "vcpkg"];

/// The workspace's packages that compile no C for their targets. Conservative: every
/// platform's dependencies count. An error (no Cargo.lock yet, a lock out of date) leaves the
/// set empty: every package then builds as before, with zig.
pub(crate) fn pure_rust_packages(config: &Config) -> BTreeSet<String> {
    read_or_ask(config).unwrap_or_default()
}

fn read_or_ask(config: &Config) -> anyhow::Result<BTreeSet<String>> {
    let key = cache_key(config)?;
    let cache = config.target_dir.join(format!("xtask/pure-rust-{}.json", key.short()));
    if let Ok(bytes) = std::fs::read(&cache) {
        if let Ok(kept) = serde_json::from_slice::<BTreeSet<String>>(&bytes) {
            return Ok(kept);
        }
    }
    let metadata = MetadataCommand::new()
        .manifest_path(&config.manifest)
        .current_dir(&config.root)
        .other_options(vec!["--locked".to_string()])
        .exec()
        .with_context(|| format!("reading the crates of {} (`cargo metadata`)", config.root))?;
    let pure = pure_rust(&metadata)?;
    write_atomic(&cache, &serde_json::to_vec(&pure)?)?;
    Ok(pure)
}

/// What decides the answer: the lock file and every member's manifest.
fn cache_key(config: &Config) -> anyhow::Result<Digest> {
    let mut hasher = Sha256::new();
    let lock = config.root.join("Cargo.lock");
    hasher.update(std::fs::read(&lock).with_context(|| format!("reading {lock}"))?);
    for manifest in std::iter::once(&config.manifest).chain(config.members.keys()) {
        hasher.update(manifest.as_str().as_bytes());
        hasher.update(read(manifest)?);
    }
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    Ok(Digest::from_hasher(hasher))
}

fn read(path: &Utf8Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {path}"))
}

/// The workspace packages none of whose linked crates builds C.
fn pure_rust(metadata: &Metadata) -> anyhow::Result<BTreeSet<String>> {
    let resolve = metadata.resolve.as_ref().context("`cargo metadata` gave no dependency resolve")?;
    let packages: HashMap<&PackageId, &cargo_metadata::Package> =
        metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let nodes: HashMap<&PackageId, &cargo_metadata::Node> =
        resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let builds_c = |package: &cargo_metadata::Package| {
        package.links.is_some()
            || package
                .dependencies
                .iter()
                .any(|d| d.kind == DependencyKind::Build && C_BUILDERS.contains(&d.name.as_str()))
    };
    let mut pure = BTreeSet::new();
    for member in metadata.workspace_packages() {
        let mut seen = BTreeSet::new();
        let mut pending = vec![&member.id];
        let mut c = false;
        while let Some(id) = pending.pop() {
            if !seen.insert(id) {
                continue;
            }
            let package = packages.get(id).with_context(|| format!("no package {id} in the metadata"))?;
            if builds_c(package) {
                c = true;
                break;
            }
            let Some(node) = nodes.get(id) else { continue };
            for dep in &node.deps {
                // Linked into the target's binary: normal dependencies, not proc-macros
                // (they run on the host, as build scripts do).
                let normal = dep.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal);
                let proc_macro = packages
                    .get(&dep.pkg)
                    .is_some_and(|p| p.targets.iter().any(cargo_metadata::Target::is_proc_macro));
                if normal && !proc_macro {
                    pending.push(&dep.pkg);
                }
            }
        }
        if !c {
            pure.insert(member.name.to_string());
        }
    }
    Ok(pure)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// A package: its build dependencies by name, its `links`, whether it is a proc-macro.
    fn package(name: &str, build_deps: &[&str], links: Option<&str>, proc_macro: bool) -> Value {
        let kind = if proc_macro { "proc-macro" } else { "lib" };
        let dependencies: Vec<Value> = build_deps
            .iter()
            .map(|d| {
                json!({"name": d, "source": null, "req": "*", "kind": "build", "rename": null,
                            "optional": false, "uses_default_features": true, "features": [],
                            "target": null, "registry": null})
            })
            .collect();
        json!({"name": name, "version": "1.0.0", "id": format!("{name} 1.0.0"), "license": null,
               "license_file": null, "description": null, "source": null, "dependencies": dependencies,
               "targets": [{"kind": [kind], "crate_types": [kind], "name": name, "src_path": "/x/src/lib.rs",
                            "edition": "2021", "doc": true, "doctest": false, "test": true}],
               "features": {}, "manifest_path": format!("/w/{name}/Cargo.toml"), "metadata": null,
               "publish": null, "authors": [], "categories": [], "keywords": [], "readme": null,
               "repository": null, "homepage": null, "documentation": null, "edition": "2021",
               "links": links, "default_run": null, "rust_version": null})
    }

    fn node(name: &str, deps: &[(&str, &str)]) -> Value {
        let deps: Vec<Value> = deps
            .iter()
            .map(|(dep, kind)| {
                let kind = if *kind == "normal" { Value::Null } else { json!(kind) };
                json!({"name": dep, "pkg": format!("{dep} 1.0.0"), "dep_kinds": [{"kind": kind, "target": null}]})
            })
            .collect();
        json!({"id": format!("{name} 1.0.0"), "dependencies": [], "deps": deps, "features": []})
    }

    #[test]
    fn a_package_is_pure_rust_unless_something_it_links_builds_c() {
        let packages = vec![
            package("app", &[], None, false),
            package("native", &[], None, false),
            package("linked", &[], None, false),
            package("with-macro", &[], None, false),
            package("tls", &["cc"], None, false),
            package("sys", &[], Some("z"), false),
            package("derive", &["cc"], None, true),
            package("helper", &["cc"], None, false),
            package("plain", &[], None, false),
        ];
        let nodes = vec![
            node("app", &[("plain", "normal"), ("helper", "build")]),
            node("native", &[("plain", "normal"), ("tls", "normal")]),
            node("linked", &[("sys", "normal")]),
            node("with-macro", &[("derive", "normal")]),
            node("tls", &[]),
            node("sys", &[]),
            node("derive", &[]),
            node("helper", &[]),
            node("plain", &[]),
        ];
        let members: Vec<Value> =
            ["app", "native", "linked", "with-macro"].iter().map(|n| json!(format!("{n} 1.0.0"))).collect();
        let metadata: Metadata = serde_json::from_value(json!({
            "packages": packages, "workspace_members": members, "workspace_default_members": members,
            "resolve": {"nodes": nodes, "root": null}, "target_directory": "/w/target", "version": 1,
            "workspace_root": "/w", "metadata": null
        }))
        .unwrap();
        // A build script's own C (a build dependency) and a proc-macro's run on the host: the
        // target's binary links neither.
        let pure: Vec<String> = pure_rust(&metadata).unwrap().into_iter().collect();
        assert_eq!(pure, ["app", "with-macro"]);
    }
}
