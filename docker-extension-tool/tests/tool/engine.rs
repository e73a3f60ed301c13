//! dist with a real Docker engine: buildx on dockerd (containerd image store) and a
//! registry on 127.0.0.1, each result used the way a user (or Docker Desktop) uses it:
//! loaded and run as Docker Desktop runs `vm.image`, pushed and read back by skopeo and by
//! `cargo xtask check`, exported and checked. Only `docker extension` and Docker Hub's SBOM
//! scanner cannot run here (see dist.rs and dev.rs for their stand-ins).

use std::process::Command;
use std::sync::Mutex;

use crate::common::engine::{engine, unix_get, BackendContainer};
use crate::common::*;
use serde_json::Value;

/// dist runs of the template one at a time: they share its target folder and UI build.
static ONE_DIST_AT_A_TIME: Mutex<()> = Mutex::new(());

fn dist(out: &TempDir, args: &[&str]) -> Output {
    let _turn = ONE_DIST_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let context = out.join("context");
    let mut all = vec!["dist", "--engine", "buildx", "--out", context.to_str().unwrap()];
    all.extend(args);
    let mut command = xtask(&repo_root(), &all);
    engine().apply(&mut command);
    run(&mut command)
}

#[test]
fn load_puts_both_platforms_in_the_store_and_the_backend_runs_as_docker_desktop_runs_it() {
    require("skopeo");
    let out = TempDir::new("engine-load");
    let reference = "example/rust-starter-load:1.2.3";
    dist(&out, &["--load", "--tag", reference]).assert_ok();

    // Both platforms are in the store: docker saves the whole index, skopeo reads it.
    let saved = out.join("saved.tar");
    run(&mut engine().docker(&["image", "save", "--output", saved.to_str().unwrap(), reference])).assert_ok();
    let index =
        run(Command::new("skopeo").args(["inspect", "--raw", &format!("oci-archive:{}", saved.display())]));
    let index: Value = serde_json::from_str(&index.assert_ok().stdout).unwrap();
    let index = match index["manifests"][0]["mediaType"].as_str() {
        // docker save wraps the image's own index in the layout's index.json.
        Some("application/vnd.oci.image.index.v1+json")
            if index["manifests"].as_array().unwrap().len() == 1 =>
        {
            let inner = run(Command::new("skopeo").args([
                "inspect",
                "--raw",
                &format!("oci-archive:{}:{reference}", saved.display()),
            ]));
            serde_json::from_str(&inner.assert_ok().stdout).unwrap()
        }
        _ => index,
    };
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"], "{index}");

    // Every label the Marketplace requires, as Docker shows it.
    let inspect = run(&mut engine().docker(&["image", "inspect", reference]));
    let inspect: Value = serde_json::from_str(&inspect.assert_ok().stdout).unwrap();
    let labels = &inspect[0]["Config"]["Labels"];
    for label in REQUIRED_LABELS {
        assert!(labels[label].as_str().is_some_and(|v| !v.trim().is_empty()), "{label} in {labels}");
    }
    assert_eq!(labels["org.opencontainers.image.version"], "1.2.3");

    // The backend, started the way Docker Desktop starts `vm.image`.
    let backend = BackendContainer::start(reference, "guest-services");
    let (status, body) = unix_get(&backend.socket, "/hello");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let hello: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(hello["message"], "Hello from the Rust backend");
    assert_eq!(hello["arch"], "x86_64");
    assert_eq!(hello["os"], "linux");

    // docker stop: SIGTERM, a clean exit, the socket removed.
    let socket = backend.socket.clone();
    assert_eq!(backend.stop(), "0", "stopped cleanly");
    assert!(!socket.exists(), "the backend removed its socket");
}

#[test]
fn push_sends_both_platforms_with_provenance_and_a_published_tag_is_kept() {
    require("skopeo");
    let _turn = crate::common::engine::registry_turn();
    let out = TempDir::new("engine-push");
    let reference = format!("{}/acme/ext:1.2.3", engine().registry);
    // Docker Hub's SBOM scanner cannot be pulled here: provenance only.
    let first = dist(&out, &["--push", "--no-sbom", "--tag", &reference]);
    first.assert_ok();
    assert!(first.stdout.contains("digest   sha256:"), "{}", first.stdout);

    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    let index: Value = serde_json::from_str(&raw.assert_ok().stdout).unwrap();
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"], "{index}");
    let attestations: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .collect();
    assert_eq!(attestations.len(), 2, "one provenance attestation per platform: {index}");

    // check reads it back from the registry.
    let mut check = xtask(&repo_root(), &["check", &reference]);
    engine().apply(&mut check);
    let checked = run(&mut check);
    // Provenance asked for: in the index, so check advises against it for the Marketplace.
    assert!(checked.assert_ok().stdout.contains("no errors, 1 warning (above)"), "{checked:?}");
    assert!(checked.stderr.contains("[index-attestations]"), "{checked:?}");
    assert!(checked.stdout.contains("attestation for linux/amd64"), "{}", checked.stdout);

    // A published tag is not pushed over, unless forced.
    let again = dist(&out, &["--push", "--no-sbom", "--tag", &reference]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains(&format!("{reference} is already published")), "{}", again.stderr);
    let forced = dist(&out, &["--push", "--no-sbom", "--force", "--tag", &reference]);
    forced.assert_ok();
}

#[test]
fn oci_archive_from_buildx_passes_check() {
    let out = TempDir::new("engine-oci");
    let archive = out.join("ext.tar");
    dist(&out, &["--oci", archive.to_str().unwrap()]).assert_ok();
    let checked = run(&mut xtask(&repo_root(), &["check", archive.to_str().unwrap()]));
    assert!(checked.assert_ok().stdout.contains("no problems found"), "{checked:?}");
    assert!(checked.stdout.contains("linux/arm64: 3 layers"), "{}", checked.stdout);
    // The OCI labels of where it comes from, through buildx's --label.
    let head = run(Command::new("git").args(["rev-parse", "HEAD"]).current_dir(repo_root()));
    let inspect = run(Command::new("skopeo").args([
        "--override-arch",
        "arm64",
        "inspect",
        "--config",
        &format!("oci-archive:{}", archive.display()),
    ]));
    let config: Value = serde_json::from_str(&inspect.assert_ok().stdout).unwrap();
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.source"], "https://github.com/example/rust-starter");
    assert_eq!(labels["org.opencontainers.image.licenses"], "MIT OR Apache-2.0");
    assert_eq!(labels["org.opencontainers.image.revision"], head.assert_ok().stdout.trim());
    assert!(
        labels["org.opencontainers.image.created"].as_str().is_some_and(|c| c.ends_with('Z')),
        "{labels}"
    );
}

#[test]
fn docker_not_running_is_said_plainly_by_dist_and_doctor() {
    let out = TempDir::new("engine-stopped");
    let context = out.join("context");
    let dead = format!("unix://{}", out.join("no-docker.sock").display());
    let mut command = xtask(&repo_root(), &["dist", "--load", "--out", context.to_str().unwrap()]);
    engine().apply(&mut command).env("DOCKER_HOST", &dead);
    let output = run(&mut command);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("Docker is not running"), "{}", output.stderr);
    assert!(output.stderr.contains("start Docker Desktop"), "{}", output.stderr);
    assert!(output.stderr.contains("--engine"), "{}", output.stderr);
    assert!(!output.stderr.contains("platforms"), "not a builder problem: {}", output.stderr);
    assert!(!context.exists(), "refused before anything was written");

    let mut doctor = xtask(&repo_root(), &["doctor"]);
    engine().apply(&mut doctor).env("DOCKER_HOST", &dead);
    let doctor = run(&mut doctor);
    let line = doctor.stdout.lines().find(|l| l.contains("docker engine")).unwrap_or_default();
    assert!(line.starts_with("missing") && line.contains("Docker is not running"), "{}", doctor.stdout);
    assert!(line.contains("start Docker Desktop"), "{line}");
}
