//! What the image's binaries and UI are made of, for the builtin engine's SBOM: the crates
//! compiled into each binary, from cargo's own resolve for the target the binary is built
//! for (normal dependencies only: no build dependencies, no dev-dependencies, no proc
//! macros, whose code runs in the compiler and never reaches a binary), and the UI's npm
//! packages from its lock file (dev-only ones left out: the bundle holds the others).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use anyhow::Context;
use camino::Utf8Path;
use cargo_metadata::cargo_platform::Cfg;
use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Package, PackageId};
use xshell::Shell;

use crate::util::process::cmd;

use crate::image::attest::{Component, Ecosystem};
use crate::model::targets::Variant;
use crate::plan::image::SbomSources;
use crate::util::digest::Digest;

/// The largest npm lock file read (a large UI's is a few MiB).
const MAX_LOCK: u64 = 64 << 20;

/// Per platform, the packages whose code its files hold: from the cache when everything that
/// decides them is as it was (a warm dist asks cargo and rustc nothing), else asked and kept.
pub(crate) fn components(sources: &SbomSources) -> anyhow::Result<BTreeMap<Variant, Vec<Component>>> {
    let key = cache_key(sources)?;
    let kept = sources.cache.join(format!("{}.json", key.hex()));
    if let Ok(bytes) = crate::util::files::read_capped(&kept, MAX_LOCK) {
        let read: Option<BTreeMap<Variant, Vec<Component>>> =
            serde_json::from_slice::<Vec<(String, Vec<Component>)>>(&bytes)
                .ok()
                .and_then(|kept| kept.into_iter().map(|(v, c)| Some((v.parse().ok()?, c))).collect());
        if let Some(components) = read {
            return Ok(components);
        }
    }
    let components = ask(sources)?;
    // Best effort: without it, the next dist asks again. One entry: the sources' latest.
    if std::fs::create_dir_all(&sources.cache).is_ok() {
        for old in std::fs::read_dir(&sources.cache).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(old.path());
        }
        let stored: Vec<(String, &Vec<Component>)> =
            components.iter().map(|(v, c)| (v.to_string(), c)).collect();
        if let Ok(text) = serde_json::to_vec(&stored) {
            let _ = crate::util::files::write_atomic(&kept, &text);
        }
    }
    Ok(components)
}

/// Everything the inventory depends on: the manifests and Cargo.lock, the compiler, the npm
/// lock file, what each platform ships and downloads, and this tool's version (its rules).
fn cache_key(sources: &SbomSources) -> anyhow::Result<Digest> {
    let mut key = crate::util::files::Fingerprint::new();
    key.field(env!("CARGO_PKG_VERSION").as_bytes());
    key.field(sources.rustc.as_bytes());
    for manifest in &sources.manifests {
        key.file(manifest.as_str(), manifest, true)?;
    }
    if let Some(lock) = &sources.npm_lock {
        key.file(lock.as_str(), lock, true)?;
    }
    key.field(format!("{:?}", sources.shipped).as_bytes());
    key.field(format!("{:?}", sources.downloads).as_bytes());
    Ok(key.finish())
}

/// Asks cargo (its resolve) and rustc (each target's cfg values), side by side (each is a
/// process start and a fraction of a second; in a row they were most of the builtin
/// engine's image step).
fn ask(sources: &SbomSources) -> anyhow::Result<BTreeMap<Variant, Vec<Component>>> {
    let targets: BTreeSet<&String> = sources.shipped.values().flatten().map(|(_, target)| target).collect();
    let (metadata, cfgs) = std::thread::scope(|scope| {
        let asked: Vec<_> = targets
            .iter()
            .map(|&target| (target.clone(), scope.spawn(move || target_cfgs(&sources.workspace, target))))
            .collect();
        let metadata = MetadataCommand::new()
            .manifest_path(sources.workspace.join("Cargo.toml"))
            .current_dir(&sources.workspace)
            .exec()
            .with_context(|| format!("reading the crates of {} (`cargo metadata`)", sources.workspace));
        let cfgs: anyhow::Result<BTreeMap<String, Vec<Cfg>>> = asked
            .into_iter()
            .map(|(target, thread)| {
                let cfgs = thread
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("asking rustc about {target} panicked")));
                cfgs.map(|cfgs| (target, cfgs))
            })
            .collect();
        (metadata, cfgs)
    });
    let (metadata, cfgs) = (metadata?, cfgs?);
    let graph = Graph::new(&metadata)?;
    let npm = match &sources.npm_lock {
        Some(lock) => npm_packages(lock)?,
        None => vec![],
    };
    let mut by_variant = BTreeMap::new();
    for (variant, shipped) in &sources.shipped {
        let mut components = BTreeSet::new();
        for (package, target) in shipped {
            components.extend(graph.crates_of(package, target, &cfgs[target])?);
        }
        components.extend(npm.iter().cloned());
        // Host binaries from elsewhere: the file, by its URL and SHA-256.
        for (name, url, sha256) in sources.downloads.get(variant).into_iter().flatten() {
            components.insert(Component {
                ecosystem: Ecosystem::Download,
                name: name.clone(),
                version: String::new(),
                license: None,
                download: Some(url.clone()),
                sha256: Some(sha256.clone()),
            });
        }
        by_variant.insert(*variant, components.into_iter().collect());
    }
    Ok(by_variant)
}

/// `rustc --print cfg --target T`, in the workspace (whose toolchain it is): what `cfg(…)`
/// dependencies are decided against. (A shell of its own: it runs on a thread of its own.)
fn target_cfgs(workspace: &Utf8Path, target: &str) -> anyhow::Result<Vec<Cfg>> {
    let sh = Shell::new()?;
    sh.change_dir(workspace);
    let printed = cmd!(sh, "rustc --print cfg --target {target}")?
        .quiet()
        .read()
        .with_context(|| format!("asking rustc for the cfg values of {target}"))?;
    Ok(printed.lines().filter_map(|line| Cfg::from_str(line).ok()).collect())
}

/// Cargo's resolve, by package.
struct Graph<'a> {
    packages: HashMap<&'a PackageId, &'a Package>,
    nodes: HashMap<&'a PackageId, &'a cargo_metadata::Node>,
    workspace: Vec<&'a Package>,
}

impl<'a> Graph<'a> {
    fn new(metadata: &'a Metadata) -> anyhow::Result<Graph<'a>> {
        let resolve = metadata.resolve.as_ref().context("`cargo metadata` gave no dependency resolve")?;
        Ok(Graph {
            packages: metadata.packages.iter().map(|p| (&p.id, p)).collect(),
            nodes: resolve.nodes.iter().map(|n| (&n.id, n)).collect(),
            workspace: metadata.workspace_packages(),
        })
    }

    /// The workspace package `name` and every crate compiled into its binaries for `target`.
    fn crates_of(&self, name: &str, target: &str, cfgs: &[Cfg]) -> anyhow::Result<Vec<Component>> {
        let root = self
            .workspace
            .iter()
            .find(|p| p.name.as_str() == name)
            .with_context(|| format!("the package `{name}` is not in the workspace"))?;
        let mut seen = BTreeSet::new();
        let mut pending = vec![&root.id];
        let mut components = vec![];
        while let Some(id) = pending.pop() {
            if !seen.insert(id.repr.as_str()) {
                continue;
            }
            let package =
                self.packages.get(id).with_context(|| format!("no package {id} in the metadata"))?;
            components.push(component(package));
            let Some(node) = self.nodes.get(id) else { continue };
            for dep in &node.deps {
                let linked = dep.dep_kinds.iter().any(|kind| {
                    kind.kind == DependencyKind::Normal
                        && kind.target.as_ref().is_none_or(|platform| platform.matches(target, cfgs))
                });
                let proc_macro = self
                    .packages
                    .get(&dep.pkg)
                    .is_some_and(|p| p.targets.iter().any(cargo_metadata::Target::is_proc_macro));
                if linked && !proc_macro {
                    pending.push(&dep.pkg);
                }
            }
        }
        Ok(components)
    }
}

fn component(package: &Package) -> Component {
    let version = package.version.to_string();
    let download = match &package.source {
        Some(source) if source.is_crates_io() => {
            Some(format!("https://crates.io/api/v1/crates/{}/{version}/download", package.name))
        }
        Some(source) => Some(source.repr.clone()),
        // The workspace's own.
        None => package.repository.clone(),
    };
    Component {
        ecosystem: Ecosystem::Cargo,
        name: package.name.to_string(),
        version,
        license: package.license.clone(),
        download,
        sha256: None,
    }
}

/// The UI's npm packages that are not dev-only, from its `package-lock.json` (version 2 or
/// 3: the `packages` map); none when it has no lock file.
fn npm_packages(lock: &Utf8Path) -> anyhow::Result<Vec<Component>> {
    let file = match std::fs::File::open(lock) {
        Ok(file) => file,
        // A UI that npm does not build (a plain page, another bundler) has no npm packages.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("reading {lock}, the UI's npm lock file")),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_LOCK + 1), &mut text)
        .with_context(|| format!("reading {lock}"))?;
    if text.len() as u64 > MAX_LOCK {
        anyhow::bail!("{lock} is larger than {} MiB: not a lock file this tool reads", MAX_LOCK >> 20);
    }
    let parsed: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{lock} is not JSON"))?;
    let Some(packages) = parsed.get("packages").and_then(serde_json::Value::as_object) else {
        anyhow::bail!(
            "{lock} has no `packages` map (lockfileVersion 2 or 3): run `npm install` with npm 7 or later"
        );
    };
    let mut components = vec![];
    for (path, package) in packages {
        let Some((_, name)) = path.rsplit_once("node_modules/") else { continue };
        let flag = |key: &str| package.get(key).and_then(serde_json::Value::as_bool).unwrap_or(false);
        if flag("dev") || flag("devOptional") || flag("link") {
            continue;
        }
        let text = |key: &str| package.get(key).and_then(serde_json::Value::as_str).map(String::from);
        let Some(version) = text("version") else { continue };
        components.push(Component {
            ecosystem: Ecosystem::Npm,
            name: text("name").unwrap_or_else(|| name.to_string()),
            version,
            license: text("license"),
            download: text("resolved"),
            sha256: None,
        });
    }
    components.sort();
    components.dedup();
    Ok(components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_packages_leave_dev_only_ones_out() {
        let dir = std::env::temp_dir().join(format!("inventory-npm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lock = camino::Utf8PathBuf::from_path_buf(dir.join("package-lock.json")).unwrap();
        std::fs::write(
            &lock,
            r#"{"lockfileVersion": 3, "packages": {
                "": {"name": "ui", "version": "0.1.0"},
                "node_modules/react": {"version": "19.0.0", "license": "MIT", "resolved": "https://registry.npmjs.org/react/-/react-19.0.0.tgz"},
                "node_modules/@docker/extension-api-client": {"version": "0.3.4", "license": "Apache-2.0"},
                "node_modules/vite": {"version": "7.0.0", "dev": true},
                "node_modules/fsevents": {"version": "2.3.3", "devOptional": true},
                "node_modules/a/node_modules/react": {"version": "18.0.0", "license": "MIT"}
            }}"#,
        )
        .unwrap();
        let names: Vec<String> =
            npm_packages(&lock).unwrap().iter().map(|c| format!("{}@{}", c.name, c.version)).collect();
        assert_eq!(names, ["@docker/extension-api-client@0.3.4", "react@18.0.0", "react@19.0.0"]);
        std::fs::write(&lock, r#"{"lockfileVersion": 1, "dependencies": {}}"#).unwrap();
        assert!(
            npm_packages(&lock.with_file_name("none.json")).unwrap().is_empty(),
            "no lock, no npm packages"
        );
        assert!(npm_packages(&lock).unwrap_err().to_string().contains("no `packages` map"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A warm dist reads the inventory it kept (here: from a folder that is no cargo
    /// workspace at all, so nothing was asked); a changed manifest is another key.
    #[test]
    fn the_inventory_is_kept_by_everything_that_decides_it() {
        let dir = camino::Utf8PathBuf::try_from(std::env::temp_dir())
            .unwrap()
            .join(format!("xtask-inventory-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::write(dir.join("Cargo.lock"), "version = 4\n").unwrap();
        let sources = SbomSources {
            workspace: dir.join("no-such-workspace"),
            shipped: [(
                Variant::Amd64,
                [("pkg".to_string(), "x86_64-unknown-linux-musl".to_string())].into(),
            )]
            .into(),
            npm_lock: None,
            downloads: BTreeMap::new(),
            manifests: vec![dir.join("Cargo.toml"), dir.join("Cargo.lock")],
            rustc: "rustc 1.95.0".into(),
            cache: dir.join("cache"),
        };
        let kept = Component {
            ecosystem: Ecosystem::Cargo,
            name: "kept".into(),
            version: "1.0.0".into(),
            license: None,
            download: None,
            sha256: None,
        };
        let key = cache_key(&sources).unwrap();
        std::fs::create_dir_all(&sources.cache).unwrap();
        let stored = serde_json::to_vec(&[("amd64", vec![kept.clone()])]).unwrap();
        std::fs::write(sources.cache.join(format!("{}.json", key.hex())), stored).unwrap();
        assert_eq!(components(&sources).unwrap(), [(Variant::Amd64, vec![kept])].into());
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = [\"a\"]\n").unwrap();
        assert_ne!(cache_key(&sources).unwrap(), key, "a manifest changed");
        let other_compiler = SbomSources { rustc: "rustc 1.96.0".into(), ..sources };
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\n").unwrap();
        assert_ne!(cache_key(&other_compiler).unwrap(), key, "another compiler");
        assert!(components(&other_compiler).is_err(), "not kept: asked, and there is no workspace");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
