//! The built-in image writer (`--engine builtin`), checked against independent tools and a
//! real engine: the same sources give the same image digest from two checkouts in different
//! folders (different mtimes, modes, creation order), pinned by a golden digest; skopeo reads
//! the archive; buildah's image of the same context holds the same files, modes, labels and
//! entrypoint; `docker load` takes it and a container from it answers; and with no engine on
//! the machine at all, dist still succeeds.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::common::engine::{engine, unix_get, BackendContainer};
use crate::common::fixture::{narrow_path, Fixture};
use crate::common::*;
use serde_json::Value;

/// A fixed time and commit, so the digest can be pinned (the revision label and the
/// provenance name the commit; the checkout's own HEAD changes with every commit).
const EPOCH: &str = "1700000000";
const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";

static ONE_DIST_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `dist --engine builtin` of a workspace, with the test's fixed SOURCE_DATE_EPOCH.
fn builtin_dist(root: &Path, out: &Path, extra: &[&str]) -> Output {
    let _turn = ONE_DIST_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let context = out.join("context");
    let mut args = vec!["dist", "--engine", "builtin", "--out", context.to_str().unwrap()];
    args.extend(extra);
    let mut command = xtask(root, &args);
    command
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("SOURCE_REVISION", REVISION)
        .env("CARGO_TARGET_DIR", repo_root().join("target"));
    run(&mut command)
}

/// The template's image, written once from this checkout.
struct Built {
    out: TempDir,
    archive: PathBuf,
    digest: String,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = TempDir::new("builtin-a");
        let archive = out.join("image.tar");
        // With its attestations (`--attest`): what the golden digest pins, and what the
        // SBOM and provenance tests read.
        let output =
            builtin_dist(&repo_root(), out.path(), &["--oci", archive.to_str().unwrap(), "--attest"]);
        output.assert_ok();
        let digest = digest_line(&output);
        Built { out, archive, digest }
    })
}

fn digest_line(output: &Output) -> String {
    output
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("digest").map(|d| d.trim().to_string()))
        .unwrap_or_else(|| panic!("no digest in {}", output.stdout))
}

#[test]
fn the_same_sources_give_the_same_digest_and_the_same_binaries_from_two_checkouts() {
    let a = built();
    let b_out = TempDir::new("builtin-b");
    let checkout = b_out.join("checkout");
    copy_checkout(&checkout);
    let b_archive = b_out.join("image.tar");
    let b = builtin_dist(&checkout, b_out.path(), &["--oci", b_archive.to_str().unwrap(), "--attest"]);
    b.assert_ok();
    assert!(
        b.stderr.contains("Building hostinfo with zigbuild"),
        "the second checkout compiles its own: {}",
        b.stderr
    );
    // Its darwin links, with no Apple SDK here, and not a warning (rustc would ask xcrun).
    let warnings: Vec<&str> =
        b.stderr.lines().filter(|l| l.starts_with("warning") || l.contains("xcrun")).collect();
    assert!(warnings.is_empty(), "a first dist warns of nothing: {warnings:?}");

    // The binaries themselves, file by file, then the whole image.
    let (ctx_a, ctx_b) = (a.out.join("context"), b_out.join("context"));
    let files_a = snapshot(&ctx_a);
    let files_b = snapshot(&ctx_b);
    assert_eq!(files_a.keys().collect::<Vec<_>>(), files_b.keys().collect::<Vec<_>>());
    for (path, (bytes, _)) in &files_a {
        assert!(files_b[path].0 == *bytes, "{} differs between the checkouts", path.display());
    }
    assert_eq!(digest_line(&b), a.digest, "the same index digest");
    assert_eq!(
        std::fs::read(&b_archive).unwrap(),
        std::fs::read(&a.archive).unwrap(),
        "the same archive bytes"
    );

    // Pinned: a change of digest is a change someone makes on purpose. The binaries are
    // the compiler's, so the digest holds for one toolchain (rust-toolchain.toml's), which
    // the file records beside it.
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/template-image-digest");
    let rustc = run(Command::new("rustc").arg("--version").current_dir(repo_root()));
    let rustc = rustc.assert_ok().stdout.trim().to_string();
    // A new workspace (`cargo xtask new` leaves the template's out) pins its own on its
    // first run; from then on a change of digest fails here.
    if std::env::var_os("UPDATE_GOLDEN").is_some() || !golden.exists() {
        eprintln!("pinning the image digest {} in {}", a.digest, golden.display());
        std::fs::write(&golden, format!("{}\n{rustc}\n", a.digest)).unwrap();
    }
    let pinned = std::fs::read_to_string(&golden).unwrap_or_default();
    let mut lines = pinned.lines();
    let (pinned_digest, pinned_rustc) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    assert_eq!(
        pinned_rustc, rustc,
        "the golden digest was made by {pinned_rustc}, and {rustc} runs here: rust-toolchain.toml pins the \
         toolchain (a new one changes the binaries): run `rustup toolchain install`, or, moving the pin on \
         purpose, UPDATE_GOLDEN=1"
    );
    assert_eq!(
        pinned_digest,
        a.digest,
        "the template's image digest changed (SOURCE_DATE_EPOCH={EPOCH}, SOURCE_REVISION={REVISION}); if that is intended, run with UPDATE_GOLDEN=1"
    );
}

/// An archive unpacked by the system's tar.
struct Unpacked {
    _dir: TempDir,
    root: PathBuf,
}

fn unpack_archive(archive: &Path, name: &str) -> Unpacked {
    let dir = TempDir::new(name);
    let root = dir.join("layout");
    std::fs::create_dir_all(&root).unwrap();
    run(Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(&root)).assert_ok();
    Unpacked { _dir: dir, root }
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

#[test]
fn layers_follow_the_rules_for_every_byte() {
    let unpacked = unpack_archive(&built().archive, "builtin-layers");
    let root = &unpacked.root;
    assert_eq!(
        std::fs::read_to_string(root.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let top = json(&root.join("index.json"));
    let named = &top["manifests"][0]["annotations"];
    assert_eq!(named["io.containerd.image.name"], "docker.io/example/rust-starter:0.1.0");
    assert_eq!(named["org.opencontainers.image.ref.name"], "0.1.0");
    let index = json(&blob(root, top["manifests"][0]["digest"].as_str().unwrap()));
    let all = index["manifests"].as_array().unwrap();
    assert_eq!(all.len(), 4, "two images, and an attestation manifest for each");
    let manifests: Vec<&Value> = all.iter().filter(|m| m["platform"]["os"] == "linux").collect();
    assert_eq!(manifests.len(), 2);
    assert_eq!(
        manifests[1]["platform"],
        serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
    );

    let mut layer_digests = vec![];
    for manifest in manifests.iter().copied() {
        let manifest = json(&blob(root, manifest["digest"].as_str().unwrap()));
        let config = json(&blob(root, manifest["config"]["digest"].as_str().unwrap()));
        assert_eq!(config["created"], "2023-11-14T22:13:20Z", "from SOURCE_DATE_EPOCH");
        assert_eq!(config["os"], "linux");
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "metadata and icon, ui, the variant's binaries");
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
        layer_digests
            .push(layers.iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect::<Vec<_>>());
        for layer in layers {
            let file = blob(root, layer["digest"].as_str().unwrap());
            let mut head = [0u8; 10];
            std::fs::File::open(&file).unwrap().read_exact(&mut head).unwrap();
            assert_eq!(head[..4], [0x1f, 0x8b, 8, 0], "gzip, no name");
            assert_eq!(head[4..8], [0, 0, 0, 0], "gzip mtime 0");
            assert_eq!(head[9], 255, "gzip OS unknown");
            // GNU tar's own listing: names, modes, owners, times as stored.
            let listing = run(Command::new("tar").args(["-tvz", "--full-time", "-f"]).arg(&file));
            let lines: Vec<String> = listing.assert_ok().stdout.lines().map(String::from).collect();
            let paths: Vec<&str> = lines.iter().map(|l| l.split_whitespace().last().unwrap()).collect();
            let mut sorted = paths.clone();
            sorted.sort();
            assert_eq!(paths, sorted, "sorted bytewise");
            for line in &lines {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (mode, owner, date, path) = (fields[0], fields[1], fields[3], fields[5]);
                assert_eq!(owner, "0/0", "uid/gid 0 and no user or group names: {line}");
                assert_eq!(date, "2023-11-14", "mtime from SOURCE_DATE_EPOCH: {line}");
                let binary = ["backend", "darwin/", "windows/", "linux/"].iter().any(|b| path.starts_with(b));
                let expected = if path.ends_with('/') {
                    "drwxr-xr-x"
                } else if binary {
                    "-rwxr-xr-x"
                } else {
                    "-rw-r--r--"
                };
                assert_eq!(mode, expected, "{line}");
                // Every folder a path is in has its own entry.
                let mut parent = Path::new(path.trim_end_matches('/')).parent();
                while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                    assert!(
                        paths.contains(&format!("{}/", p.display()).as_str()),
                        "{path}: no entry for {}",
                        p.display()
                    );
                    parent = p.parent();
                }
            }
        }
    }
    assert_eq!(layer_digests[0][..2], layer_digests[1][..2], "the shared layers are byte-identical");
    assert_ne!(layer_digests[0][2], layer_digests[1][2]);
}

#[test]
fn skopeo_and_check_read_it() {
    require("skopeo");
    let archive = format!("oci-archive:{}", built().archive.display());
    for arch in ["amd64", "arm64"] {
        let inspect = run(Command::new("skopeo").args(["--override-arch", arch, "inspect", &archive]));
        let image: Value = serde_json::from_str(&inspect.assert_ok().stdout).unwrap();
        assert_eq!(image["Architecture"], arch);
        let labels = &image["Labels"];
        assert_eq!(labels["org.opencontainers.image.title"], "Rust Starter");
        assert_eq!(labels["org.opencontainers.image.source"], "https://github.com/example/rust-starter");
        assert_eq!(labels["org.opencontainers.image.licenses"], "MIT OR Apache-2.0");
        assert_eq!(labels["org.opencontainers.image.revision"], REVISION);
        assert_eq!(labels["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");
    }
    let checked = run(&mut xtask(&repo_root(), &["check", built().archive.to_str().unwrap()]));
    // Attestation manifests in the index: advice against them for the Marketplace.
    assert!(checked.assert_ok().stdout.contains("no errors, 1 warning (above)"), "{checked:?}");
    assert!(checked.stderr.contains("holds 2 attestation manifests beside the two platforms"), "{checked:?}");
    assert!(checked.stderr.contains("[index-attestations]"), "{checked:?}");
    for platform in ["linux/amd64", "linux/arm64/v8"] {
        let line = format!("attestation for {platform} (SBOM, provenance)");
        assert!(checked.stdout.contains(&line), "{line}: {}", checked.stdout);
    }
}

/// The statements of one attestation manifest of an unpacked layout, by predicate type.
fn statements(root: &Path, attestation: &Value) -> BTreeMap<String, Value> {
    let manifest = json(&blob(root, attestation["digest"].as_str().unwrap()));
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let config = json(&blob(root, manifest["config"]["digest"].as_str().unwrap()));
    assert_eq!((config["os"].as_str(), config["architecture"].as_str()), (Some("unknown"), Some("unknown")));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            assert_eq!(layer["mediaType"], "application/vnd.in-toto+json");
            let kind = layer["annotations"]["in-toto.io/predicate-type"].as_str().unwrap().to_string();
            let statement = json(&blob(root, layer["digest"].as_str().unwrap()));
            assert_eq!(
                statement["predicateType"],
                kind.as_str(),
                "the annotation says what the statement is"
            );
            (kind, statement)
        })
        .collect()
}

#[test]
fn each_platform_carries_an_sbom_of_its_crates_and_npm_packages_and_its_provenance() {
    let unpacked = unpack_archive(&built().archive, "builtin-attestations");
    let root = &unpacked.root;
    let top = json(&root.join("index.json"));
    let index = json(&blob(root, top["manifests"][0]["digest"].as_str().unwrap()));
    let manifests = index["manifests"].as_array().unwrap();
    let rustc = run(Command::new("rustc").arg("--version").current_dir(repo_root()));
    let rustc = rustc.assert_ok().stdout.trim().to_string();
    for image in manifests.iter().filter(|m| m["platform"]["os"] == "linux") {
        let arch = image["platform"]["architecture"].as_str().unwrap();
        let digest = image["digest"].as_str().unwrap();
        let attestation = manifests
            .iter()
            .find(|m| m["annotations"]["vnd.docker.reference.digest"] == digest)
            .unwrap_or_else(|| panic!("no attestation for {arch}"));
        assert_eq!(attestation["annotations"]["vnd.docker.reference.type"], "attestation-manifest");
        assert_eq!(attestation["platform"], serde_json::json!({"architecture": "unknown", "os": "unknown"}));
        let statements = statements(root, attestation);
        let (sbom, provenance) =
            (&statements["https://spdx.dev/Document"], &statements["https://slsa.dev/provenance/v0.2"]);
        for statement in [sbom, provenance] {
            assert_eq!(statement["subject"][0]["digest"]["sha256"], digest.trim_start_matches("sha256:"));
            assert_eq!(
                statement["subject"][0]["name"],
                format!("pkg:docker/example/rust-starter@0.1.0?platform=linux%2F{arch}")
            );
        }
        let purls: Vec<&str> = sbom["predicate"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["externalRefs"][0]["referenceLocator"].as_str().unwrap())
            .collect();
        let has = |prefix: &str| purls.iter().any(|p| p.starts_with(prefix));
        // The backend's crates and the host binary's, the UI's runtime packages.
        for shipped in [
            "pkg:cargo/rust-starter-backend@0.1.0",
            "pkg:cargo/axum@",
            "pkg:cargo/tokio@",
            "pkg:cargo/hostinfo@0.1.0",
            "pkg:cargo/serde_json@",
            "pkg:npm/react@18.",
            "pkg:npm/%40docker/extension-api-client@",
        ] {
            assert!(has(shipped), "{arch}: the SBOM lists {shipped}: {purls:?}");
        }
        // Not what only builds, tests or compiles them.
        for never in [
            "pkg:cargo/serde_derive@",
            "pkg:cargo/tokio-macros@",
            "pkg:cargo/docker-extension-tool@",
            "pkg:cargo/xtask@",
            "pkg:npm/vite@",
            "pkg:npm/typescript@",
            "pkg:npm/jsdom@",
        ] {
            assert!(!has(never), "{arch}: the SBOM lists {never}, which the image does not hold");
        }
        let tokio =
            sbom["predicate"]["packages"].as_array().unwrap().iter().find(|p| p["name"] == "tokio").unwrap();
        assert_eq!(tokio["licenseDeclared"], "MIT");
        let invocation = &provenance["predicate"]["invocation"];
        assert_eq!(invocation["configSource"]["uri"], "https://github.com/example/rust-starter");
        assert_eq!(invocation["configSource"]["digest"]["sha1"], REVISION);
        assert_eq!(invocation["parameters"]["rustc"], rustc.as_str());
        assert_eq!(invocation["parameters"]["platform"], format!("linux/{arch}"));
        let builder = provenance["predicate"]["builder"]["id"].as_str().unwrap();
        assert!(builder.starts_with("pkg:cargo/docker-extension-tool@"), "{builder}");
    }
}

/// An image's files by path (folders end with `/`): (mode, bytes).
type Files = BTreeMap<String, (u32, Vec<u8>)>;

/// Every file of one variant of an OCI archive, as (mode, bytes), and its labels and
/// entrypoint: unpacked with skopeo and the system's tar.
fn variant_files(archive: &Path, arch: &str, name: &str) -> (TempDir, Files, Value) {
    let dir = TempDir::new(name);
    let source = format!("oci-archive:{}", archive.display());
    run(Command::new("skopeo").args([
        "--override-arch",
        arch,
        "copy",
        &source,
        &format!("dir:{}", dir.join("blobs").display()),
    ]))
    .assert_ok();
    let manifest = json(&dir.join("blobs/manifest.json"));
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let hex = layer["digest"].as_str().unwrap().trim_start_matches("sha256:");
        run(Command::new("tar").arg("-xpf").arg(dir.join("blobs").join(hex)).arg("-C").arg(&root))
            .assert_ok();
    }
    let config = run(Command::new("skopeo").args(["--override-arch", arch, "inspect", "--config", &source]));
    let config: Value = serde_json::from_str(&config.assert_ok().stdout).unwrap();
    let mut files = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(&root).unwrap().display().to_string();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o7777;
            if entry.file_type().unwrap().is_dir() {
                files.insert(format!("{rel}/"), (mode, vec![]));
                stack.push(entry.path());
            } else {
                files.insert(rel, (mode, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    (dir, files, config["config"].clone())
}

#[test]
fn buildah_builds_the_same_image_from_the_same_context() {
    require("buildah");
    require("skopeo");
    let a = built();
    let buildah_archive = a.out.join("buildah.tar");
    let args = ["dist", "--engine", "buildah", "--oci", buildah_archive.to_str().unwrap()];
    let context = a.out.join("context");
    let mut command = xtask(&repo_root(), &args);
    command
        .args(["--out", context.to_str().unwrap()])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("SOURCE_REVISION", REVISION);
    {
        let _turn = ONE_DIST_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        run(&mut command).assert_ok();
    }
    for arch in ["amd64", "arm64"] {
        let (_d1, ours, our_config) = variant_files(&a.archive, arch, "cmp-builtin");
        let (_d2, theirs, their_config) = variant_files(&buildah_archive, arch, "cmp-buildah");
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{arch}: the same paths"
        );
        for (path, (mode, bytes)) in &ours {
            let (their_mode, their_bytes) = &theirs[path];
            assert_eq!(format!("{mode:o}"), format!("{their_mode:o}"), "{arch}: {path} mode");
            assert!(bytes == their_bytes, "{arch}: {path} contents");
        }
        // buildah adds a label naming itself; every other label is the same.
        let mut their_labels = their_config["Labels"].as_object().unwrap().clone();
        their_labels.retain(|k, _| !k.starts_with("io.buildah."));
        assert_eq!(our_config["Labels"].as_object().unwrap(), &their_labels, "{arch}: labels");
        assert_eq!(our_config["Entrypoint"], their_config["Entrypoint"], "{arch}: entrypoint");
    }
}

#[test]
fn docker_loads_the_archive_and_the_backend_runs_from_it() {
    let tag = "example/rust-starter:0.1.0";
    run(&mut engine().docker(&["load", "--input", built().archive.to_str().unwrap()])).assert_ok();
    let inspect =
        run(&mut engine().docker(&["image", "inspect", "--format", "{{json .Config.Labels}}", tag]));
    let labels: Value = serde_json::from_str(inspect.assert_ok().stdout.trim()).unwrap();
    assert_eq!(labels["org.opencontainers.image.version"], "0.1.0");

    let backend = BackendContainer::start(tag, "builtin-guest");
    let (status, body) = unix_get(&backend.socket, "/hello");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("\"message\":\"Hello from the Rust backend\""), "{body}");
    assert_eq!(backend.stop(), "0");

    // dist --load does the same itself: both platforms on the containerd store.
    let out = TempDir::new("builtin-load");
    let mut command = {
        let context = out.join("context");
        let mut command =
            xtask(&repo_root(), &["dist", "--engine", "builtin", "--load", "--tag", "example/loaded:2.0.0"]);
        command.args(["--out", context.to_str().unwrap()]);
        engine().apply(&mut command);
        command
    };
    let _turn = ONE_DIST_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let loaded = run(&mut command);
    loaded.assert_ok();
    assert!(!loaded.stdout.contains("classic image store"), "{}", loaded.stdout);
    let inspect = run(&mut engine().docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Architecture}}",
        "example/loaded:2.0.0",
    ]));
    assert_eq!(inspect.assert_ok().stdout.trim(), "amd64");
}

#[test]
fn with_no_engine_on_the_machine_dist_writes_the_image_itself() {
    let fixture = Fixture::new("no-engine");
    let path = TempDir::new("no-engine-path");
    let bin = narrow_path(path.path(), &["cargo", "rustc", "rustup", "cargo-zigbuild", "python3", "git"]);
    let archive = fixture.root().join("image.tar");
    let context = fixture.root().join("context");
    let mut command =
        fixture.command(&["dist", "--oci", archive.to_str().unwrap(), "--out", context.to_str().unwrap()]);
    command.env("PATH", &bin);
    let output = run(&mut command);
    output.assert_ok();
    assert!(output.stderr.contains("Building the image with builtin"), "{}", output.stderr);
    assert!(output.stdout.contains(&format!("archive  {}", archive.display())), "{}", output.stdout);
    let checked = run(&mut fixture.command(&["check", archive.to_str().unwrap()]));
    // By default no attestation: the index holds the two platforms only (what the
    // Marketplace's validator accepts).
    assert!(checked.assert_ok().stdout.contains("no problems found"), "{checked:?}");
    assert!(!checked.stdout.contains("attestation for"), "{}", checked.stdout);

    // --attest, --no-sbom and --no-attest, as with buildx.
    for (flag, says) in
        [("--attest", Some("(SBOM, provenance)")), ("--no-sbom", Some("(provenance)")), ("--no-attest", None)]
    {
        let mut command = fixture.builtin_dist(&archive);
        command.arg(flag);
        command.env("PATH", &bin);
        run(&mut command).assert_ok();
        let checked = run(&mut fixture.command(&["check", archive.to_str().unwrap()]));
        let stdout = &checked.assert_ok().stdout;
        match says {
            Some(kinds) => {
                assert!(stdout.contains(&format!("attestation for linux/amd64 {kinds}")), "{flag}: {stdout}");
            }
            None => assert!(!stdout.contains("attestation for"), "{flag}: {stdout}"),
        }
    }
}

#[test]
fn push_sends_that_very_digest_and_pushing_it_again_uploads_nothing() {
    require("skopeo");
    let _turn = crate::common::engine::registry_turn();
    let reference = format!("{}/acme/builtin:1.0.0", engine().registry);
    let out = TempDir::new("builtin-push");
    let pushed = builtin_dist(&repo_root(), out.path(), &["--push", "--tag", &reference, "--attest"]);
    pushed.assert_ok();
    let digest = digest_line(&pushed);

    // skopeo reads the index the registry serves: the same bytes, so the same digest.
    let raw = out.join("served.json");
    let served = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    std::fs::write(&raw, served.assert_ok().stdout.as_bytes()).unwrap();
    let sum = run(Command::new("sha256sum").arg(&raw));
    assert_eq!(format!("sha256:{}", sum.assert_ok().stdout.split_whitespace().next().unwrap()), digest);
    let checked = run(&mut xtask(&repo_root(), &["check", &reference]));
    assert!(checked.assert_ok().stdout.contains("no errors, 1 warning (above)"), "{checked:?}");
    assert!(
        checked.stdout.contains("attestation for linux/arm64/v8 (SBOM, provenance)"),
        "{}",
        checked.stdout
    );

    // skopeo copies an attestation manifest out of the registry, statements and all.
    let index: Value = serde_json::from_str(&served.stdout).unwrap();
    let attestation = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .expect("the served index lists attestations");
    let repository = reference.rsplit_once(':').unwrap().0;
    let copied = out.join("attestation");
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{repository}@{}", attestation["digest"].as_str().unwrap()),
        &format!("oci:{}", copied.display()),
    ]))
    .assert_ok();
    let copied_index = json(&copied.join("index.json"));
    let statements = statements(&copied, &copied_index["manifests"][0]);
    assert!(statements.contains_key("https://spdx.dev/Document"), "{statements:?}");
    assert!(statements.contains_key("https://slsa.dev/provenance/v0.2"), "{statements:?}");
    // buildx reads them as its own: each platform's attestation manifest, by reference.
    let inspect = run(&mut engine().docker(&["buildx", "imagetools", "inspect", &reference]));
    let listing = &inspect.assert_ok().stdout;
    let attestations = listing
        .lines()
        .filter(|l| l.contains("vnd.docker.reference.type") && l.contains("attestation-manifest"));
    assert_eq!(attestations.count(), 2, "{listing}");
    assert_eq!(listing.matches("unknown/unknown").count(), 2, "{listing}");

    // Published: refused, as with buildx; forced, nothing is uploaded again.
    let again = builtin_dist(&repo_root(), out.path(), &["--push", "--tag", &reference, "--attest"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains(&format!("{reference} is already published")), "{}", again.stderr);
    let uploads = engine().blob_uploads();
    assert!(uploads >= 5, "the first push uploaded the blobs (the registry log counts {uploads})");
    let forced =
        builtin_dist(&repo_root(), out.path(), &["--push", "--force", "--tag", &reference, "--attest"]);
    forced.assert_ok();
    assert_eq!(digest_line(&forced), digest);
    assert!(forced.stderr.contains("uploaded 0 blob(s)"), "{}", forced.stderr);
    assert!(forced.stderr.contains("nothing to push"), "{}", forced.stderr);
    assert_eq!(engine().blob_uploads(), uploads, "the registry saw no new upload");
}

/// A registry of its own that wants a login (htpasswd: user `tester`, password `secret`).
struct LoginRegistry {
    child: std::process::Child,
    address: String,
    _dir: TempDir,
}

impl Drop for LoginRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn login_registry() -> LoginRegistry {
    require("docker-registry");
    let dir = TempDir::new("login-registry");
    let hash = run(Command::new("python3")
        .args(["-c", "import crypt; print(crypt.crypt('secret', crypt.mksalt(crypt.METHOD_BLOWFISH)))"]));
    std::fs::write(dir.join("htpasswd"), format!("tester:{}\n", hash.assert_ok().stdout.trim())).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let config = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\nauth:\n  htpasswd:\n    realm: tests\n    path: {}\n",
        dir.join("data").display(),
        dir.join("htpasswd").display()
    );
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "the login registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    LoginRegistry { child, address, _dir: dir }
}

/// A Docker config folder holding a `docker login` for `address`.
fn docker_login(dir: &Path, address: &str, user: &str, password: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let auth = base64(format!("{user}:{password}").as_bytes());
    std::fs::write(dir.join("config.json"), format!(r#"{{"auths": {{"{address}": {{"auth": "{auth}"}}}}}}"#))
        .unwrap();
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { TABLE[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

#[test]
fn push_logs_in_with_the_docker_config_and_says_when_it_cannot() {
    let registry = login_registry();
    let reference = format!("{}/acme/private:1.0.0", registry.address);
    let out = TempDir::new("builtin-login");
    let config = out.join("docker-config");
    let push = |config: &Path| {
        let _turn = ONE_DIST_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let context = out.join("context");
        let mut command =
            xtask(&repo_root(), &["dist", "--engine", "builtin", "--push", "--tag", &reference]);
        command.args(["--out", context.to_str().unwrap()]).env("DOCKER_CONFIG", config);
        run(&mut command)
    };

    // No login: refused before anything is built, saying how to log in.
    std::fs::create_dir_all(&config).unwrap();
    let refused = push(&config);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!("asks for a login: `docker login {}`", registry.address)),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("Building hostinfo"), "refused before compiling");

    // A wrong password: refused, and the password is never printed.
    docker_login(&config, &registry.address, "tester", "wrong-password");
    let refused = push(&config);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("refused these credentials"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("wrong-password") && !refused.stdout.contains("wrong-password"));

    // The right login: pushed, and readable with the same credentials.
    docker_login(&config, &registry.address, "tester", "secret");
    push(&config).assert_ok();
    let read = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "tester:secret",
        &format!("docker://{reference}"),
    ]));
    assert!(read.assert_ok().stdout.contains("application/vnd.oci.image.index.v1+json"), "{read:?}");
}
