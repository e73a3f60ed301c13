//! `cargo xtask dist` on the template itself, for real: one cross-build of every target
//! and one buildah image, then many checks on that result (build once, assert many).
//! The checks use independent tools (skopeo, tar, `file`, Wine, qemu-user) rather than
//! the xtask's own parsers, so a bug there cannot hide itself.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::wine;
use crate::common::*;
use serde_json::Value;

struct Built {
    archive: PathBuf,
    context: PathBuf,
    output: Output,
}

/// The one real build every test here checks: exactly the README's command.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        require("buildah");
        let root = repo_root();
        let archive = root.join("target/ext.tar");
        let _ = std::fs::remove_file(&archive);
        let output = run(&mut xtask(&root, &["dist", "--engine", "buildah", "--oci", "target/ext.tar"]));
        output.assert_ok();
        Built { archive, context: root.join("target/extension"), output }
    })
}

/// One variant of the built archive, unpacked with skopeo and tar.
struct Unpacked {
    _dir: TempDir,
    root: PathBuf,
    labels: BTreeMap<String, String>,
    entrypoint: Vec<String>,
}

fn unpack(variant: &str) -> Unpacked {
    require("skopeo");
    let archive = format!("oci-archive:{}", built().archive.display());
    let dir = TempDir::new(&format!("unpacked-{variant}"));
    let blobs = dir.join("blobs");
    run(Command::new("skopeo").args([
        "--override-arch",
        variant,
        "copy",
        &archive,
        &format!("dir:{}", blobs.display()),
    ]))
    .assert_ok();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(blobs.join("manifest.json")).unwrap()).unwrap();
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let hex = layer["digest"].as_str().unwrap().trim_start_matches("sha256:");
        run(Command::new("tar").arg("-xf").arg(blobs.join(hex)).arg("-C").arg(&root)).assert_ok();
    }
    let inspect =
        run(Command::new("skopeo").args(["--override-arch", variant, "inspect", "--config", &archive]));
    let config: Value = serde_json::from_str(&inspect.assert_ok().stdout).unwrap();
    assert_eq!(config["architecture"], variant);
    let labels = config["config"]["Labels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let entrypoint = config["config"]["Entrypoint"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    Unpacked { _dir: dir, root, labels, entrypoint }
}

/// What `file` says about a binary.
fn file_type(path: &Path) -> String {
    require("file");
    run(Command::new("file").arg("-b").arg(path)).assert_ok().stdout.trim().to_string()
}

#[test]
fn archive_index_has_both_platforms() {
    let built = built();
    assert!(
        built.output.stdout.contains(&format!("archive  {}", built.archive.display())),
        "{}",
        built.output.stdout
    );
    let index = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("oci-archive:{}", built.archive.display()),
    ]));
    let index: Value = serde_json::from_str(&index.assert_ok().stdout).unwrap();
    assert_eq!(crate::common::platforms(&index), ["linux/amd64", "linux/arm64"], "{index}");
}

/// The layers of one variant, by digest (skopeo's own reading of the archive).
fn layers(variant: &str) -> Vec<String> {
    let archive = format!("oci-archive:{}", built().archive.display());
    let inspect = run(Command::new("skopeo").args(["--override-arch", variant, "inspect", &archive]));
    let image: Value = serde_json::from_str(&inspect.assert_ok().stdout).unwrap();
    image["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

// template:host-binaries:begin
#[test]
fn shared_files_are_layers_identical_in_both_variants() {
    let (amd64, arm64) = (layers("amd64"), layers("arm64"));
    assert_eq!(amd64.len(), 3, "metadata and icon, ui, then the variant's binaries: {amd64:?}");
    assert_eq!(amd64[..2], arm64[..2], "the shared layers are byte-identical, so stored and pulled once");
    assert_ne!(amd64[2], arm64[2], "each variant has its own binaries");
}
// template:host-binaries:end

#[test]
fn each_variant_carries_binaries_for_its_own_cpu() {
    // What `file` must say of each path named in metadata.json, per variant.
    let expected: &[(&str, &str, &[&str])] = &[
        ("amd64", "darwin", &["Mach-O 64-bit", "x86_64 executable"]),
        ("amd64", "windows", &["PE32+ executable", "x86-64"]),
        ("amd64", "linux", &["ELF 64-bit", "x86-64"]),
        ("arm64", "darwin", &["Mach-O 64-bit", "arm64 executable"]),
        ("arm64", "windows", &["PE32+ executable", "Aarch64"]),
        ("arm64", "linux", &["ELF 64-bit", "ARM aarch64"]),
    ];
    for variant in ["amd64", "arm64"] {
        let image = unpack(variant);
        let metadata: Value =
            serde_json::from_slice(&std::fs::read(image.root.join("metadata.json")).unwrap()).unwrap();
        let top: Vec<&String> = metadata.as_object().unwrap().keys().collect();
        let mut keys = vec!["icon"];
        // template:backend:begin
        keys.push("vm");
        // template:backend:end
        keys.push("ui");
        // template:host-binaries:begin
        keys.push("host");
        // template:host-binaries:end
        assert_eq!(top, keys, "no other top-level key");
        assert!(image.root.join(metadata["icon"].as_str().unwrap()).is_file());
        assert!(image.root.join("ui/index.html").is_file());
        // template:host-binaries:begin
        let binaries = &metadata["host"]["binaries"][0];
        for os in ["darwin", "windows", "linux"] {
            let paths = binaries[os].as_array().unwrap_or_else(|| panic!("{os} binaries are listed"));
            assert!(!paths.is_empty());
            for entry in paths {
                let path = entry["path"].as_str().unwrap();
                let file = image.root.join(path.trim_start_matches('/'));
                assert!(file.is_file(), "{variant}: {path} is named in metadata.json but missing");
                let kind = file_type(&file);
                let (_, _, needles) = expected.iter().find(|(v, o, _)| *v == variant && *o == os).unwrap();
                for needle in *needles {
                    assert!(kind.contains(needle), "{variant}:{path} is `{kind}`, expected {needle}");
                }
            }
        }
        // template:host-binaries:end
        // template:backend:begin
        // The backend: a static ELF of the variant's CPU, run as the entrypoint.
        assert_eq!(image.entrypoint, ["/backend", "--socket", "/run/guest-services/backend.sock"]);
        let backend = file_type(&image.root.join("backend"));
        let cpu = if variant == "amd64" { "x86-64" } else { "ARM aarch64" };
        assert!(
            backend.starts_with("ELF 64-bit") && backend.contains(cpu),
            "{variant}: backend is `{backend}`"
        );
        assert!(backend.contains("static-pie linked") || backend.contains("statically linked"), "{backend}");
        // template:backend:end

        for &label in REQUIRED_LABELS {
            let value =
                image.labels.get(label).unwrap_or_else(|| panic!("{variant}: label {label} is missing"));
            assert!(!value.trim().is_empty(), "{variant}: label {label} is empty");
        }
        let screenshots: Value =
            serde_json::from_str(&image.labels["com.docker.extension.screenshots"]).unwrap();
        assert!(screenshots[0]["url"].as_str().unwrap().starts_with("https://"));
        assert_eq!(image.labels["com.docker.extension.categories"], "utility-tools");
    }
}

// template:host-binaries:begin
#[test]
fn darwin_binaries_need_nothing_but_libsystem_and_macos_11() {
    let context = &built().context;
    for variant in ["amd64", "arm64"] {
        let bytes = std::fs::read(context.join(variant).join("darwin/hostinfo")).unwrap();
        let (libraries, min_os) = macho_libraries_and_min_os(&bytes);
        assert_eq!(libraries, ["/usr/lib/libSystem.B.dylib"], "{variant}");
        assert_eq!(min_os.as_deref(), Some("11.0"), "{variant}: runs on every macOS Docker Desktop runs on");
    }
}

/// The test's own reading of a 64-bit Mach-O's load commands: the libraries it loads
/// (LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB) and its minimum macOS (LC_BUILD_VERSION).
fn macho_libraries_and_min_os(bytes: &[u8]) -> (Vec<String>, Option<String>) {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 0xfeed_facf, "a 64-bit little-endian Mach-O");
    let (mut libraries, mut min_os) = (vec![], None);
    let mut at = 32;
    for _ in 0..u32_at(16) {
        let (command, size) = (u32_at(at), u32_at(at + 4) as usize);
        match command {
            0xc | 0x8000_0018 => {
                let name = &bytes[at + u32_at(at + 8) as usize..at + size];
                let end = name.iter().position(|&b| b == 0).unwrap();
                libraries.push(String::from_utf8(name[..end].to_vec()).unwrap());
            }
            0x32 => {
                let version = u32_at(at + 12);
                let (major, minor, patch) = (version >> 16, (version >> 8) & 0xff, version & 0xff);
                min_os = Some(if patch == 0 {
                    format!("{major}.{minor}")
                } else {
                    format!("{major}.{minor}.{patch}")
                });
            }
            _ => {}
        }
        at += size;
    }
    (libraries, min_os)
}

#[test]
fn windows_host_binary_runs_under_wine() {
    let dir = wine::prepared_dir("wine");
    std::fs::copy(built().context.join("amd64/windows/hostinfo.exe"), dir.join("hostinfo.exe")).unwrap();
    let output = wine::run(dir.path(), &["hostinfo.exe", "--json", "--tool", "cmd"], &[]);
    assert_eq!(output.code, 0, "{output:?}");
    let facts: Value =
        serde_json::from_str(output.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    assert_eq!(facts["os"], "windows");
    assert_eq!(facts["arch"], "x86_64");
    assert!(facts["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(facts["tools"][0]["name"], "cmd");

    let output = wine::run(dir.path(), &["hostinfo.exe", "--frobnicate"], &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("unexpected argument `--frobnicate`"), "{output:?}");
}

fn qemu(binary: &Path, args: &[&str]) -> Output {
    require("qemu-aarch64-static");
    run(Command::new("qemu-aarch64-static").arg(binary).args(args).stdin(Stdio::null()))
}

#[test]
fn arm64_linux_host_binary_runs_under_qemu() {
    let binary = built().context.join("arm64/linux/hostinfo");
    let output = qemu(&binary, &["--json", "--no-tools"]);
    assert_eq!(output.code, 0, "{output:?}");
    let facts: Value = serde_json::from_str(output.stdout.trim()).unwrap();
    assert_eq!(facts["os"], "linux");
    assert_eq!(facts["arch"], "aarch64");
    assert_eq!(facts["tools"], serde_json::json!([]));
    let output = qemu(&binary, &["--tool"]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("--tool needs a program name"), "{output:?}");
}

#[test]
fn amd64_linux_host_binary_runs_here() {
    let output =
        run(Command::new(built().context.join("amd64/linux/hostinfo")).args(["--json", "--tool", "cargo"]));
    let facts: Value = serde_json::from_str(output.assert_ok().stdout.trim()).unwrap();
    assert_eq!(facts["arch"], "x86_64");
    assert_eq!(facts["tools"][0]["found"], true);
}
// template:host-binaries:end

// template:backend:begin
/// GET /hello from a backend binary started (through `launcher`, if any) on a temp socket.
fn backend_hello(launcher: Option<&str>, backend: &Path) -> Value {
    let dir = TempDir::for_sockets("backend");
    let socket = dir.join("backend.sock");
    let mut command = match launcher {
        Some(launcher) => {
            let mut c = Command::new(launcher);
            c.arg(backend);
            c
        }
        None => Command::new(backend),
    };
    let mut child = command.arg("--socket").arg(&socket).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    let mut stream = loop {
        match UnixStream::connect(&socket) {
            Ok(stream) => break stream,
            Err(_) if start.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the backend did not listen: {e}"),
        }
    };
    stream.write_all(b"GET /hello HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

#[test]
fn backends_answer_on_their_socket_natively_and_under_qemu() {
    let context = &built().context;
    assert_eq!(backend_hello(None, &context.join("amd64/backend"))["arch"], "x86_64");
    let arm64 = backend_hello(Some("qemu-aarch64-static"), &context.join("arm64/backend"));
    assert_eq!(arm64["arch"], "aarch64");
    assert_eq!(arm64["message"], "Hello from the Rust backend");
}
// template:backend:end

#[test]
fn check_passes_on_the_built_archive() {
    let built = built();
    let output = run(&mut xtask(&repo_root(), &["check", built.archive.to_str().unwrap()]));
    assert!(output.assert_ok().stdout.contains("no problems found"), "{output:?}");
}

#[test]
fn the_generated_files_in_the_context_are_what_docker_desktop_reads() {
    let context = &built().context;
    let dockerfile = std::fs::read_to_string(context.join("Dockerfile")).unwrap();
    assert!(dockerfile.starts_with("# Generated by `cargo xtask dist`"));
    assert!(dockerfile.contains("\nFROM scratch\nARG TARGETARCH\n"));
    assert!(dockerfile.contains("\nCOPY ${TARGETARCH}/ /\n"));
    assert!(!dockerfile.contains("\nRUN "), "no RUN step: no build needs emulation");
    // metadata.json as Docker Desktop reads it, for this template's config (the test's own
    // expectation: the generator's golden files are its unit tests).
    let metadata: Value =
        serde_json::from_str(&std::fs::read_to_string(context.join("metadata.json")).unwrap()).unwrap();
    let expected = serde_json::json!({
        "icon": "icon.svg",
        "vm": { "image": "${DESKTOP_PLUGIN_IMAGE}", "exposes": { "socket": "backend.sock" } },
        "ui": { "dashboard-tab": {
            "title": "Rust Starter", "root": "/ui", "src": "index.html",
            "backend": { "socket": "backend.sock" }
        } },
        "host": { "binaries": [ {
            "darwin": [ { "path": "/darwin/hostinfo" } ],
            "windows": [ { "path": "/windows/hostinfo.exe" } ],
            "linux": [ { "path": "/linux/hostinfo" } ]
        } ] }
    });
    assert_eq!(metadata, expected);
}

#[test]
fn a_second_run_keeps_unchanged_files_and_their_mtimes() {
    built();
    let out = TempDir::new("rerun");
    let context = out.join("context");
    let args = ["dist", "--no-image", "--out", context.to_str().unwrap()];
    run(&mut xtask(&repo_root(), &args)).assert_ok();
    let first = snapshot(&context);
    assert!(first.len() >= 4, "{first:?}");
    std::thread::sleep(Duration::from_millis(50));
    let second_output = run(&mut xtask(&repo_root(), &args));
    second_output.assert_ok();
    assert!(
        second_output.stderr.contains("up to date: nothing in"),
        "the UI build is skipped: {}",
        second_output.stderr
    );
    let second = snapshot(&context);
    assert_eq!(first, second, "same files, same bytes, same mtimes");
    let siblings: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(siblings, ["context"], "no staging folder is left behind");
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let out = TempDir::new("dry-run");
    let context = out.join("context");
    let output = run(&mut xtask(
        &repo_root(),
        &["dist", "--dry-run", "--engine", "buildah", "--out", context.to_str().unwrap()],
    ));
    let plan = &output.assert_ok().stdout;
    // In the order dist runs them: the contract and the UI before the cargo runs.
    let at = |what: &str| plan.find(what).unwrap_or_else(|| panic!("no {what:?} in {plan}"));
    assert!(at("\nContract: ") < at("\nUI: in ") && at("\nUI: in ") < at("\nCargo runs:"), "{plan}");
    // template:host-binaries:begin
    // cargo-zigbuild's wrappers live in the workspace's target folder (see plan.rs).
    let wrappers = format!("CARGO_ZIGBUILD_CACHE_DIR={}/target/xtask/zigbuild ", repo_root().display());
    assert!(plan.contains(&format!("MACOSX_DEPLOYMENT_TARGET=11.0 {wrappers}cargo zigbuild --release --message-format=json-render-diagnostics --package hostinfo --target aarch64-apple-darwin --target aarch64-pc-windows-gnullvm")), "{plan}");
    assert!(plan.contains("arm64/windows/hostinfo.exe"), "{plan}");
    // template:host-binaries:end
    // template:backend:begin
    // Pure Rust: its static Linux targets link with rustup's rust-lld, no zig (one run with
    // whatever else builds for them).
    let backend = plan
        .lines()
        .find(|l| l.contains("--package rust-starter-backend"))
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(backend.trim_start().starts_with("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld cargo build --release --message-format=json-render-diagnostics "), "{backend}");
    assert!(
        backend.ends_with("--target aarch64-unknown-linux-musl --target x86_64-unknown-linux-musl"),
        "{backend}"
    );
    // template:backend:end
    // template:host-binaries:begin
    // No Apple SDK here: an empty stand-in, so rustc does not warn that xcrun failed.
    let sdk = format!(
        "SDKROOT={}/target/xtask/no-apple-sdk/MacOSX.sdk MACOSX_DEPLOYMENT_TARGET=11.0",
        repo_root().display()
    );
    assert!(plan.contains(&sdk), "{plan}");
    // template:host-binaries:end
    let head = run(std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(repo_root()));
    let build = format!(
        "buildah build --layers --platform linux/amd64,linux/arm64 --label org.opencontainers.image.revision={} --label org.opencontainers.image.created=",
        head.assert_ok().stdout.trim()
    );
    assert!(plan.contains(&build), "{plan}");
    assert!(plan.contains(" --manifest example/rust-starter:0.1.0 "), "{plan}");
    // Where each program is found here: what really runs.
    let programs = &plan[at("\nPrograms, as PATH finds them here:\n")..];
    let which = |program: &str| {
        let found = run(std::process::Command::new("sh").args(["-c", &format!("command -v {program}")]));
        found.assert_ok().stdout.trim().to_string()
    };
    for program in ["cargo", "npm", "buildah"] {
        let line = programs.lines().find(|l| l.split_whitespace().next() == Some(program));
        let line = line.unwrap_or_else(|| panic!("{program} in {programs}"));
        assert!(line.ends_with(&which(program)), "{line} (command -v: {})", which(program));
    }
    assert!(!context.exists(), "a dry run writes nothing");
}

// ---- The exact docker buildx command lines, against a recording stand-in docker --------

fn standin_dist(standin: &StandInDocker, extra: &[&str]) -> (Output, PathBuf, TempDir) {
    built(); // warm: the stand-in runs reuse the real build's cargo output
    let out = TempDir::new("buildx");
    let context = out.join("context");
    let mut args = vec!["dist", "--out", context.to_str().unwrap()];
    args.extend(extra);
    let output = run(&mut standin.command(&repo_root(), &args));
    (output, context, out)
}

/// Each `buildx build` call, with its `--metadata-file` value (dist's own file under
/// target/xtask, one per context) checked and replaced by `METADATA`, and its build labels
/// (`--label` revision and created, right after the tag) checked and taken out.
fn buildx_builds(calls: &[Vec<String>]) -> Vec<Vec<String>> {
    let folder = repo_root().join("target/xtask").display().to_string();
    let head = run(std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(repo_root()));
    let revision = format!("org.opencontainers.image.revision={}", head.assert_ok().stdout.trim());
    calls
        .iter()
        .filter(|c| c.starts_with(&["buildx".to_string(), "build".to_string()]))
        .map(|c| {
            let mut c = c.clone();
            if let Some(i) = c.iter().position(|a| a == "--metadata-file") {
                let file = &c[i + 1];
                assert!(
                    file.starts_with(&format!("{folder}/image-metadata-")) && file.ends_with(".json"),
                    "{file}"
                );
                c[i + 1] = "METADATA".into();
            }
            let labels: Vec<String> =
                c.windows(2).filter(|w| w[0] == "--label").map(|w| w[1].clone()).collect();
            assert_eq!(labels.len(), 2, "the build's own labels: {c:?}");
            assert_eq!(labels[0], revision);
            assert!(labels[1].starts_with("org.opencontainers.image.created=20"), "{labels:?}");
            while let Some(i) = c.iter().position(|a| a == "--label") {
                c.drain(i..i + 2);
            }
            c
        })
        .collect()
}

fn position(calls: &[Vec<String>], prefix: &[&str]) -> usize {
    calls
        .iter()
        .position(|c| c.len() >= prefix.len() && c.iter().zip(prefix).all(|(a, b)| a == b))
        .unwrap_or_else(|| panic!("no call {prefix:?} in {calls:?}"))
}

#[test]
fn push_runs_one_buildx_build_with_both_platforms_and_attestations_when_asked() {
    let standin = StandInDocker::new();
    let (output, context, _out) =
        standin_dist(&standin, &["--push", "--tag", "example/ext:1.2.3", "--attest"]);
    output.assert_ok();
    let calls = standin.calls();
    let builds = buildx_builds(&calls);
    assert_eq!(builds.len(), 1, "{calls:?}");
    let context = context.to_str().unwrap();
    assert_eq!(
        builds[0],
        [
            "buildx",
            "build",
            "--platform",
            "linux/amd64,linux/arm64",
            "--tag",
            "example/ext:1.2.3",
            "--push",
            "--sbom=true",
            "--provenance=mode=max",
            "--metadata-file",
            "METADATA",
            context
        ]
    );
    // The builder is checked, and the tag proved unpublished, before building.
    let build = position(&calls, &["buildx", "build"]);
    assert!(position(&calls, &["buildx", "inspect"]) < build);
    assert!(position(&calls, &["buildx", "imagetools", "inspect", "example/ext:1.2.3"]) < build);
    assert!(output.stdout.contains(&format!("digest   sha256:{:064}", 7)), "{}", output.stdout);

    // Without --attest: none, said to buildx (which attaches provenance unless told not to).
    let standin = StandInDocker::new();
    let (output, _, _out) = standin_dist(&standin, &["--push", "--tag", "example/ext:1.2.3"]);
    output.assert_ok();
    let build = &buildx_builds(&standin.calls())[0];
    assert!(build.windows(2).any(|w| w == ["--sbom=false", "--provenance=false"]), "{build:?}");
}

#[test]
fn force_pushes_latest_over_a_published_tag_without_asking() {
    let standin = StandInDocker::new();
    let mut command = standin.command(&repo_root(), &[]);
    command.env("STANDIN_PUBLISHED", "example/ext:latest");
    built();
    let out = TempDir::new("force");
    let context = out.join("context");
    let args =
        ["dist", "--push", "--force", "--tag", "example/ext:latest", "--out", context.to_str().unwrap()];
    let output = run(command.args(args));
    output.assert_ok();
    let calls = standin.calls();
    assert_eq!(buildx_builds(&calls).len(), 1);
    assert!(
        !calls.iter().any(|c| c.get(1).is_some_and(|a| a == "imagetools")),
        "no published-tag check: {calls:?}"
    );
    assert!(buildx_builds(&calls)[0].contains(&"--push".to_string()));
}

#[test]
fn load_and_oci_and_builder_flags_reach_buildx() {
    let standin = StandInDocker::new();
    let (output, context, _out) = standin_dist(&standin, &["--load", "--builder", "extensions"]);
    output.assert_ok();
    let calls = standin.calls();
    let builds = buildx_builds(&calls);
    assert_eq!(builds.len(), 1);
    let context = context.to_str().unwrap();
    assert_eq!(
        builds[0],
        [
            "buildx",
            "build",
            "--platform",
            "linux/amd64,linux/arm64",
            "--tag",
            "example/rust-starter:0.1.0",
            "--builder",
            "extensions",
            "--load",
            "--sbom=false",
            "--provenance=false",
            "--metadata-file",
            "METADATA",
            context
        ]
    );
    assert!(position(&calls, &["buildx", "inspect", "extensions"]) < position(&calls, &["buildx", "build"]));
    assert!(
        position(&calls, &["info", "--format"]) < position(&calls, &["buildx", "build"]),
        "the image store is checked"
    );

    let standin = StandInDocker::new();
    let archive_dir = TempDir::new("oci");
    let archive = archive_dir.join("ext.tar");
    let (output, context, _out) =
        standin_dist(&standin, &["--oci", archive.to_str().unwrap(), "--platform", "linux/arm64"]);
    output.assert_ok();
    let calls = standin.calls();
    let builds = buildx_builds(&calls);
    assert_eq!(builds.len(), 1);
    let context = context.to_str().unwrap();
    assert_eq!(
        builds[0],
        [
            "buildx",
            "build",
            "--platform",
            "linux/arm64",
            "--tag",
            "example/rust-starter:0.1.0",
            "--output",
            &format!("type=oci,dest={}", archive_dir.join(".ext.tar.dist-partial").display()),
            "--sbom=false",
            "--provenance=false",
            "--metadata-file",
            "METADATA",
            context
        ]
    );
    assert_eq!(std::fs::read_to_string(&archive).unwrap(), "stand-in oci archive\n", "renamed into place");
    // dist's own archive is replaced by the next run; once someone edits it, it is not.
    let again = ["--oci", archive.to_str().unwrap(), "--platform", "linux/arm64"];
    standin_dist(&standin, &again).0.assert_ok();
    std::fs::write(&archive, "edited by hand\n").unwrap();
    let (refused, _, _out2) = standin_dist(&standin, &again);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("it is a file that changed since dist wrote it"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&archive).unwrap(), "edited by hand\n");
    assert!(!Path::new(context).join("amd64").exists(), "--platform linux/arm64 lays out only that variant");
    // template:backend:begin
    assert!(Path::new(context).join("arm64/backend").is_file());
    // template:backend:end
}

/// A Rust host binary for some OSes only: its package's `[package.metadata.extension] os`.
/// Listed where it ships; a list naming no OS the extension ships, or an unknown OS, is an
/// error naming the package's manifest.
#[test]
fn a_host_binary_ships_to_the_oses_its_package_names() {
    let f = crate::common::fixture::Fixture::new("host-binary-oses");
    f.edit("Cargo.toml", "windows = false", "windows = { arm64 = false }");
    let manifest = "host-binaries/hello/Cargo.toml";
    let with_oses = |oses: &str| {
        let text = format!(
            "{}\n[package.metadata.extension]\nos = {oses}\n",
            crate::common::fixture::package("hello")
        );
        f.write(manifest, &text);
        run(&mut f.command(&["dist", "--dry-run", "--engine", "builtin"]))
    };
    let windows_only = with_oses(r#"["windows"]"#);
    let plan = &windows_only.assert_ok().stdout;
    assert!(plan.contains("amd64/windows/hello.exe") && plan.contains("arm64/windows/hello.exe"), "{plan}");
    assert!(!plan.contains("linux/hello"), "not for Linux: {plan}");
    assert!(
        !plan.contains("x86_64-unknown-linux-musl --package hello")
            && !plan.contains("--package hello --target x86_64-unknown-linux-musl"),
        "not built for Linux: {plan}"
    );

    let nowhere = with_oses(r#"["darwin"]"#);
    assert_eq!(nowhere.code, 1, "{nowhere:?}");
    assert!(nowhere.stderr.contains("the host binary `hello` ships only to darwin"), "{}", nowhere.stderr);

    let unknown = with_oses(r#"["windows", "lunix"]"#);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown.stderr.contains("hello/Cargo.toml: [package.metadata.extension] os"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("`lunix` is not an OS host binaries ship to"), "{}", unknown.stderr);
}
