//! `cargo xtask check ARCHIVE` on a good image archive and on broken ones, each broken by
//! editing the good archive (its labels, its files, its index) the way a bad build or a
//! hand-made image would be.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::fixture::Fixture;
use crate::common::*;
use serde_json::{json, Value};

/// A good two-platform archive of the fixture extension, built once by dist with buildah.
fn good_archive() -> &'static Path {
    static GOOD: OnceLock<(Fixture, PathBuf)> = OnceLock::new();
    &GOOD
        .get_or_init(|| {
            require("buildah");
            let fixture = Fixture::new("check-good");
            let archive = fixture.build_archive("good.tar");
            (fixture, archive)
        })
        .1
}

/// An unpacked copy of an OCI archive that a test edits, then packs again.
struct Layout {
    dir: TempDir,
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    format!("sha256:{}", out.assert_ok().stdout.split_whitespace().next().unwrap())
}

impl Layout {
    fn unpack(archive: &Path, name: &str) -> Layout {
        let dir = TempDir::new(name);
        std::fs::create_dir_all(dir.join("layout")).unwrap();
        run(Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(dir.join("layout"))).assert_ok();
        Layout { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("layout")
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.root().join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
    }

    fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.blob_path(digest)).unwrap()).unwrap()
    }

    /// Stores bytes as a blob; returns its descriptor's digest and size.
    fn put(&self, bytes: &[u8]) -> (String, u64) {
        let temp = self.dir.join("new-blob");
        std::fs::write(&temp, bytes).unwrap();
        let digest = sha256(&temp);
        std::fs::rename(&temp, self.blob_path(&digest)).unwrap();
        (digest, bytes.len() as u64)
    }

    /// index.json → the manifest list → (platform, manifest digest).
    fn list(&self) -> (Value, String, Value) {
        let index: Value =
            serde_json::from_slice(&std::fs::read(self.root().join("index.json")).unwrap()).unwrap();
        let list_digest = index["manifests"][0]["digest"].as_str().unwrap().to_string();
        let list = self.json(&list_digest);
        assert!(list.get("manifests").is_some(), "buildah's archive holds a manifest list");
        (index, list_digest, list)
    }

    fn save_list(&self, mut index: Value, list: &Value) {
        let (digest, size) = self.put(serde_json::to_string(list).unwrap().as_bytes());
        index["manifests"][0]["digest"] = json!(digest);
        index["manifests"][0]["size"] = json!(size);
        std::fs::write(self.root().join("index.json"), serde_json::to_string(&index).unwrap()).unwrap();
    }

    /// Rewrites one platform's manifest, and the list and index that point at it.
    fn edit_manifest(&self, arch: &str, edit: impl FnOnce(&Self, &mut Value)) {
        let (index, _, mut list) = self.list();
        let entry = list["manifests"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap_or_else(|| panic!("no {arch} manifest"));
        let mut manifest = self.json(entry["digest"].as_str().unwrap());
        edit(self, &mut manifest);
        let (digest, size) = self.put(serde_json::to_string(&manifest).unwrap().as_bytes());
        entry["digest"] = json!(digest);
        entry["size"] = json!(size);
        self.save_list(index, &list);
    }

    fn edit_config(&self, arch: &str, edit: impl FnOnce(&mut Value)) {
        self.edit_manifest(arch, |layout, manifest| {
            let mut config = layout.json(manifest["config"]["digest"].as_str().unwrap());
            edit(&mut config);
            let (digest, size) = layout.put(serde_json::to_string(&config).unwrap().as_bytes());
            manifest["config"]["digest"] = json!(digest);
            manifest["config"]["size"] = json!(size);
        });
    }

    fn set_label(&self, label: &str, value: Option<&str>) {
        for arch in ["amd64", "arm64"] {
            self.edit_config(arch, |config| {
                let labels = config["config"]["Labels"].as_object_mut().unwrap();
                match value {
                    Some(v) => labels.insert(label.into(), json!(v)),
                    None => labels.remove(label),
                };
            });
        }
    }

    /// Adds a layer on top of one platform holding `files` (path in the image → bytes);
    /// `None` deletes the path with a whiteout.
    fn add_layer(&self, arch: &str, files: &[(&str, Option<&[u8]>)]) {
        let tree = self.dir.join(format!("layer-{arch}"));
        let _ = std::fs::remove_dir_all(&tree);
        for (path, bytes) in files {
            let rel = path.trim_start_matches('/');
            let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            std::fs::create_dir_all(tree.join(dir)).unwrap();
            match bytes {
                Some(bytes) => std::fs::write(tree.join(rel), bytes).unwrap(),
                None => std::fs::write(tree.join(dir).join(format!(".wh.{name}")), b"").unwrap(),
            }
            make_executable(&tree.join(if bytes.is_some() {
                rel.to_string()
            } else {
                format!("{dir}/.wh.{name}")
            }));
        }
        let tar = self.dir.join("layer.tar");
        run(Command::new("tar").arg("-cf").arg(&tar).arg("-C").arg(&tree).arg(".")).assert_ok();
        let bytes = std::fs::read(&tar).unwrap();
        let (digest, size) = self.put(&bytes);
        self.edit_manifest(arch, |layout, manifest| {
            manifest["layers"].as_array_mut().unwrap().push(json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest,
                "size": size,
            }));
            let mut config = layout.json(manifest["config"]["digest"].as_str().unwrap());
            config["rootfs"]["diff_ids"].as_array_mut().unwrap().push(json!(digest));
            let (config_digest, config_size) = layout.put(serde_json::to_string(&config).unwrap().as_bytes());
            manifest["config"]["digest"] = json!(config_digest);
            manifest["config"]["size"] = json!(config_size);
        });
    }

    /// A file of one platform, as the image has it (read from its layers).
    fn file_of(&self, arch: &str, path: &str) -> Vec<u8> {
        let (_, _, list) = self.list();
        let entry = list["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap();
        let manifest = self.json(entry["digest"].as_str().unwrap());
        let out = self.dir.join(format!("read-{arch}"));
        std::fs::create_dir_all(&out).unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            let blob = self.blob_path(layer["digest"].as_str().unwrap());
            run(Command::new("tar").arg("-xf").arg(blob).arg("-C").arg(&out)).assert_ok();
        }
        std::fs::read(out.join(path.trim_start_matches('/'))).unwrap()
    }

    fn pack(&self) -> PathBuf {
        let archive = self.dir.join("broken.tar");
        run(Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(self.root()).arg(".")).assert_ok();
        archive
    }
}

fn check(archive: &Path) -> Output {
    run(&mut xtask(&repo_root(), &["check", archive.to_str().unwrap()]))
}

#[test]
fn the_good_archive_passes_with_its_sizes() {
    let output = check(good_archive());
    output.assert_ok();
    assert!(output.stdout.contains("linux/amd64: 2 layers,"), "{}", output.stdout);
    assert!(output.stdout.contains("linux/arm64: 2 layers,"), "{}", output.stdout);
    assert!(output.stdout.contains("no problems found"));
    // metadata.json and the icon, then the binaries (the fixture has no UI).
}

/// One way to break the good archive, and what check must say about it.
struct Fault {
    name: &'static str,
    edit: fn(&Layout),
    says: &'static [&'static str],
}

fn faults() -> Vec<Fault> {
    vec![
        Fault {
            name: "required label missing",
            edit: |l| l.set_label("org.opencontainers.image.vendor", None),
            says: &["label org.opencontainers.image.vendor: is missing"],
        },
        Fault {
            name: "required label empty",
            edit: |l| l.set_label("org.opencontainers.image.title", Some(" ")),
            says: &["label org.opencontainers.image.title: is empty"],
        },
        Fault {
            name: "screenshots not a JSON array",
            edit: |l| l.set_label("com.docker.extension.screenshots", Some("shot.png")),
            says: &["label com.docker.extension.screenshots: must be a JSON array of {\"alt\": …, \"url\": …} objects"],
        },
        Fault {
            name: "screenshot URL not http(s)",
            edit: |l| l.set_label("com.docker.extension.screenshots", Some(r#"[{"alt":"a","url":"ftp://x/y.png"}]"#)),
            says: &["label com.docker.extension.screenshots[0].url: `ftp://x/y.png` is not an http(s) URL"],
        },
        Fault {
            name: "additional URL of the wrong shape",
            edit: |l| l.set_label("com.docker.extension.additional-urls", Some(r#"[{"name":"Docs","url":"https://x.io"}]"#)),
            says: &["additional-urls[0]: needs a non-empty \"title\" string", "has the unknown key \"name\""],
        },
        Fault {
            name: "unknown category",
            edit: |l| l.set_label("com.docker.extension.categories", Some("utility-tools,utilities")),
            says: &["label com.docker.extension.categories: `utilities` is not a Marketplace category"],
        },
        Fault {
            name: "API version not a semver range",
            edit: |l| l.set_label("com.docker.desktop.extension.api.version", Some("soon")),
            says: &["`soon` is not a semver version or range"],
        },
        Fault {
            name: "icon label not an image",
            edit: |l| l.set_label("com.docker.desktop.extension.icon", Some("https://example.com/icon")),
            says: &["label com.docker.desktop.extension.icon: must be the URL of an .svg, .png or .jpg file"],
        },
        Fault {
            name: "tag not semver",
            edit: |l| l.set_label("org.opencontainers.image.version", Some("latest")),
            says: &["`latest` is not a release tag"],
        },
        Fault {
            name: "metadata.json with an unknown key",
            edit: |l| {
                for arch in ["amd64", "arm64"] {
                    let mut metadata: Value = serde_json::from_slice(&l.file_of(arch, "/metadata.json")).unwrap();
                    metadata["name"] = json!("old-style");
                    l.add_layer(arch, &[("/metadata.json", Some(serde_json::to_string(&metadata).unwrap().as_bytes()))]);
                }
            },
            says: &["amd64:/metadata.json: has the unknown key `name`", "arm64:/metadata.json: has the unknown key `name`"],
        },
        Fault {
            name: "a file metadata.json names is missing",
            edit: |l| l.add_layer("arm64", &[("/linux/hello", None)]),
            says: &["arm64:/linux/hello: is named in metadata.json but missing from the image"],
        },
        Fault {
            name: "a binary for the wrong CPU",
            edit: |l| {
                let arm64 = l.file_of("arm64", "/linux/hello");
                l.add_layer("amd64", &[("/linux/hello", Some(&arm64))]);
            },
            says: &["amd64:/linux/hello: is a static aarch64 ELF executable; the amd64 variant needs an x86-64 ELF executable here"],
        },
        Fault {
            name: "a Windows binary in place of a Linux one",
            edit: |l| {
                // A DOS header whose PE offset (at 0x3c) points at something that is not "PE\0\0".
                let mut dos = b"MZ".to_vec();
                dos.resize(0x48, 0);
                dos[0x3c] = 0x40;
                dos[0x40..0x44].copy_from_slice(b"NOPE");
                l.add_layer("arm64", &[("/linux/hello", Some(&dos))]);
            },
            says: &["arm64:/linux/hello: is a DOS executable without a PE header"],
        },
        Fault {
            name: "a dynamically linked backend",
            edit: |l| {
                let dynamic = std::fs::read("/bin/true").unwrap();
                l.add_layer("amd64", &[("/backend", Some(&dynamic))]);
            },
            says: &["amd64:/backend: is a dynamically linked x86-64 ELF executable; on a `scratch` image the backend must be statically linked"],
        },
        Fault {
            name: "a platform missing",
            edit: |l| {
                let (index, _, mut list) = l.list();
                list["manifests"].as_array_mut().unwrap().retain(|m| m["platform"]["architecture"] != "arm64");
                l.save_list(index, &list);
            },
            says: &["has no linux/arm64 image; Docker Desktop needs both linux/amd64 and linux/arm64"],
        },
    ]
}

#[test]
fn every_fault_is_reported() {
    let good = good_archive();
    let faults = faults();
    assert!(faults.len() >= 10);
    let mut failures = vec![];
    for fault in &faults {
        let layout = Layout::unpack(good, &format!("check-{}", fault.name.replace(' ', "-")));
        (fault.edit)(&layout);
        let output = check(&layout.pack());
        let missing: Vec<&&str> = fault.says.iter().filter(|s| !output.stderr.contains(**s)).collect();
        if output.code != 1 || !missing.is_empty() || !output.stderr.starts_with("error: ") {
            failures.push(format!(
                "{}: exit {}, missing {missing:?}\n{}",
                fault.name, output.code, output.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Advice is a warning: printed with its place and rule, exit 0; denied, it fails.
#[test]
fn advice_is_a_warning_that_fails_only_when_denied() {
    let layout = Layout::unpack(good_archive(), "check-advice");
    layout.set_label("org.opencontainers.image.title", Some("My Extension"));
    let archive = layout.pack();
    let output = check(&archive);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stderr.contains("warning: label org.opencontainers.image.title: `My Extension` contains the word \"extension\", which the Marketplace asks titles not to [title-word]"),
        "{}",
        output.stderr
    );
    assert!(output.stdout.contains("no errors, 1 warning (above)"), "{output:?}");
    let denied = run(&mut xtask(&repo_root(), &["check", archive.to_str().unwrap(), "--deny-warnings"]));
    assert_eq!(denied.code, 1, "{denied:?}");
    assert!(
        denied.stderr.contains("has 1 problem:\n  - warning: label org.opencontainers.image.title"),
        "{}",
        denied.stderr
    );
}

#[test]
fn all_faults_at_once_are_all_reported() {
    let layout = Layout::unpack(good_archive(), "check-many");
    let faults = faults();
    let chosen = [
        "required label missing",
        "unknown category",
        "a binary for the wrong CPU",
        "a file metadata.json names is missing",
    ];
    for fault in faults.iter().filter(|f| chosen.contains(&f.name)) {
        (fault.edit)(&layout);
    }
    let output = check(&layout.pack());
    assert_eq!(output.code, 1);
    assert!(output.stderr.contains("has 4 problems:"), "{}", output.stderr);
    for fault in faults.iter().filter(|f| chosen.contains(&f.name)) {
        for says in fault.says {
            assert!(output.stderr.contains(says), "{says}: {}", output.stderr);
        }
    }
    assert_eq!(output.stderr.lines().filter(|l| l.starts_with("  - ")).count(), 4, "one line per problem");
}

#[test]
fn an_image_reference_is_exported_from_docker_and_checked() {
    let standin = StandInDocker::new();
    let mut command = standin.command(&repo_root(), &["check", "example/fixture:1.2.3"]);
    command.env("STANDIN_SAVE_FROM", good_archive());
    let output = run(&mut command);
    assert!(
        output.assert_ok().stdout.contains("example/fixture:1.2.3 (docker's image store): no problems found"),
        "{output:?}"
    );
    let calls = standin.calls();
    let save = calls.iter().find(|c| c.starts_with(&["image".to_string(), "save".to_string()])).unwrap();
    assert_eq!(save[2], "--output");
    assert_eq!(save[4], "example/fixture:1.2.3");
}

#[test]
fn not_an_archive() {
    let dir = TempDir::new("check-not-archive");
    let file = dir.join("notes.txt");
    std::fs::write(&file, "not a tar").unwrap();
    let output = check(&file);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("is not a tar archive (expected an OCI archive from `dist --oci`)"),
        "{}",
        output.stderr
    );
    let output = check(&dir.join("missing.tar"));
    assert!(
        output.stderr.contains("does not exist: give an OCI archive (`cargo xtask dist --oci"),
        "{}",
        output.stderr
    );
}

#[test]
fn check_without_an_archive_checks_config_and_context() {
    let fixture = Fixture::new("check-context");
    let context = crate::common::fixture::shared_target_dir().join("extension");
    let _ = std::fs::remove_dir_all(&context);
    // No context yet: said so, with the command that writes one.
    let output = run(&mut fixture.command(&["check"]));
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("does not exist: run `cargo xtask dist --no-image` first"),
        "{}",
        output.stderr
    );
    run(&mut fixture.command(&["dist", "--no-image"])).assert_ok();
    run(&mut fixture.command(&["check"])).assert_ok();
    // A context file broken after the build is found.
    std::fs::write(context.join("arm64/linux/hello"), b"#!/bin/sh\necho hi\n").unwrap();
    let output = run(&mut fixture.command(&["check"]));
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("arm64:/linux/hello: is a script, not a compiled binary"),
        "{}",
        output.stderr
    );
}

#[test]
fn validate_runs_dockers_own_check_when_docker_desktop_is_here_and_check_otherwise() {
    let standin = StandInDocker::new();
    let output = run(&mut standin.command(&repo_root(), &["validate", "acme/ext:1.2.3"]));
    output.assert_ok();
    let calls = standin.calls();
    assert!(
        calls.iter().any(|c| c == &["extension", "validate", "-a", "-s", "-i", "acme/ext:1.2.3"]),
        "{calls:?}"
    );

    // No Docker Desktop: said so, and the offline check runs on the same image.
    let standin = StandInDocker::new();
    let archive = good_archive().to_str().unwrap().to_string();
    let mut command = standin.command(&repo_root(), &["validate", &archive]);
    command.env("STANDIN_NO_EXTENSION", "1");
    let output = run(&mut command);
    assert!(output.assert_ok().stdout.contains("no problems found"), "{output:?}");
    assert!(
        output.stderr.contains("the `docker extension` plugin (part of Docker Desktop) is not here"),
        "{}",
        output.stderr
    );
    assert!(!standin.calls().iter().any(|c| c.get(1).is_some_and(|a| a == "validate")));
}

// ---- Hostile archives: every one is a problem named in the output, never a crash, and
// check's own memory stays under MEMORY_BOUND however the bytes are crafted. ----

impl Layout {
    /// Adds a layer whose blob is `blob` (already compressed or not) on top of a platform.
    fn add_blob_layer(&self, arch: &str, blob: &[u8], media_type: &str) {
        let (digest, size) = self.put(blob);
        self.edit_manifest(arch, |layout, manifest| {
            manifest["layers"].as_array_mut().unwrap().push(json!({
                "mediaType": media_type,
                "digest": digest,
                "size": size,
            }));
            let mut config = layout.json(manifest["config"]["digest"].as_str().unwrap());
            config["rootfs"]["diff_ids"].as_array_mut().unwrap().push(json!(digest));
            let (config_digest, config_size) = layout.put(serde_json::to_string(&config).unwrap().as_bytes());
            manifest["config"]["digest"] = json!(config_digest);
            manifest["config"]["size"] = json!(config_size);
        });
    }

    /// Points index.json at a new top-level blob.
    fn set_top(&self, digest: &str, size: u64, media_type: &str) {
        let index = json!({
            "schemaVersion": 2,
            "manifests": [{ "mediaType": media_type, "digest": digest, "size": size }],
        });
        std::fs::write(self.root().join("index.json"), serde_json::to_string(&index).unwrap()).unwrap();
    }
}

/// A tar built entry by entry (raw headers, so names a tool would refuse can be written).
struct RawTar(Vec<u8>);

impl RawTar {
    fn new() -> RawTar {
        RawTar(vec![])
    }

    fn entry(mut self, name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) -> RawTar {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.0.extend_from_slice(header.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `check ARCHIVE`, and the most memory check held.
fn check_measured(archive: &Path) -> (Output, u64) {
    run_measuring_memory(&mut xtask(&repo_root(), &["check", archive.to_str().unwrap()]))
}

/// Asserts check failed, said each of `says`, and stayed within the memory bound.
fn assert_refused(name: &str, archive: &Path, says: &[&str]) -> Output {
    let (output, peak) = check_measured(archive);
    assert_eq!(output.code, 1, "{name}: {output:?}");
    for needle in says {
        assert!(output.stderr.contains(needle), "{name}: stderr lacks {needle:?}:\n{}", output.stderr);
    }
    assert!(peak < MEMORY_BOUND, "{name}: check held {} MiB", peak >> 20);
    eprintln!("{name}: check held at most {} MiB", peak >> 20);
    output
}

#[test]
fn a_gzip_bomb_is_a_problem_and_memory_stays_bounded() {
    let layout = Layout::unpack(good_archive(), "check-bomb");
    // A small file, then 2.2 GiB of zeros after the tar's end: a few MiB of gzip.
    let mut encoder = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
    let tar = RawTar::new().entry("note.txt", tar::EntryType::Regular, None, b"hi").finish();
    std::io::Write::write_all(&mut encoder, &tar).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..2200 {
        std::io::Write::write_all(&mut encoder, &zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 16 << 20, "{} bytes", bomb.len());
    layout.add_blob_layer("amd64", &bomb, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_refused("bomb", &layout.pack(), &["amd64:/: cannot be read", "unpacks to more than 2.0 GiB"]);
}

#[test]
fn entries_claiming_more_than_an_image_holds_are_problems() {
    // A layer whose one file claims 8 GiB (the tar is only its header).
    let layout = Layout::unpack(good_archive(), "check-8gib-member");
    let mut header = tar::Header::new_gnu();
    header.set_path("model.bin").unwrap();
    header.set_size(8 << 30);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    layout.add_blob_layer("arm64", &gzip(header.as_bytes()), "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_refused(
        "8 GiB member",
        &layout.pack(),
        &["arm64:/: cannot be read", "unpacks to more than 2.0 GiB"],
    );

    // An archive whose last entry claims 8 GiB past the end of the file.
    let layout = Layout::unpack(good_archive(), "check-8gib-archive");
    let archive = layout.pack();
    let mut bytes = std::fs::read(&archive).unwrap();
    let end = bytes.len() - bytes.iter().rev().take_while(|b| **b == 0).count();
    bytes.truncate(end.div_ceil(512) * 512);
    let mut header = tar::Header::new_gnu();
    header.set_path(format!("blobs/sha256/{}", "a".repeat(64))).unwrap();
    header.set_size(8 << 30);
    header.set_cksum();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[7u8; 4096]);
    std::fs::write(&archive, bytes).unwrap();
    assert_refused(
        "8 GiB archive entry",
        &archive,
        &["is truncated", "claims 8589934592 bytes past the end"],
    );
}

#[test]
fn sizes_and_digests_are_verified_for_every_blob() {
    // A descriptor size that does not match its blob.
    let layout = Layout::unpack(good_archive(), "check-wrong-size");
    let (index, _, mut list) = layout.list();
    let size = list["manifests"][0]["size"].as_u64().unwrap();
    list["manifests"][0]["size"] = json!(size + 1);
    layout.save_list(index, &list);
    assert_refused("wrong size", &layout.pack(), &["bytes, but the descriptor that names it says"]);

    // A layer blob whose bytes are not its digest's (same size, other bytes).
    let layout = Layout::unpack(good_archive(), "check-wrong-digest");
    let (_, _, list) = layout.list();
    let manifest = layout.json(list["manifests"][0]["digest"].as_str().unwrap());
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let path = layout.blob_path(layer);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert_refused("wrong digest", &layout.pack(), &[&format!("blob {layer} does not have that digest")]);

    // 3000 nested indexes, the last naming a manifest with the wrong size.
    let layout = Layout::unpack(good_archive(), "check-nested");
    let (_, _, list) = layout.list();
    let mut inner = list["manifests"][0].clone();
    inner["size"] = json!(inner["size"].as_u64().unwrap() + 7);
    let index_type = "application/vnd.oci.image.index.v1+json";
    let (mut digest, mut size) = (String::new(), 0);
    for _ in 0..3000 {
        let index = json!({ "schemaVersion": 2, "mediaType": index_type, "manifests": [inner] });
        (digest, size) = layout.put(serde_json::to_string(&index).unwrap().as_bytes());
        inner = json!({ "mediaType": index_type, "digest": digest, "size": size });
    }
    layout.set_top(&digest, size, index_type);
    assert_refused("nested indexes", &layout.pack(), &["nest more than 8 deep"]);
}

#[test]
fn entries_escaping_the_root_and_truncated_tars_are_named() {
    let layout = Layout::unpack(good_archive(), "check-escapes");
    let tar = RawTar::new()
        .entry("../../escaped.txt", tar::EntryType::Regular, None, b"x")
        .entry("/etc/absolute.txt", tar::EntryType::Regular, None, b"x")
        .entry("ui/link", tar::EntryType::Symlink, Some("../../../etc/passwd"), b"")
        .entry("ui/hard", tar::EntryType::Link, Some("../outside"), b"")
        .entry("ui/ok-link", tar::EntryType::Symlink, Some("/etc/os-release"), b"")
        .finish();
    layout.add_blob_layer("amd64", &tar, "application/vnd.oci.image.layer.v1.tar");
    let output = assert_refused(
        "escapes",
        &layout.pack(),
        &[
            "`../../escaped.txt` in layer",
            "climbs out of the image root with `..`",
            "`/etc/absolute.txt` in layer",
            "is an absolute path",
            "`ui/link` in layer",
            "is a symbolic link to `../../../etc/passwd`, which climbs out of the image root",
            "`ui/hard` in layer",
            "is a hard link to `../outside`, outside the image root",
        ],
    );
    assert!(!output.stderr.contains("ok-link"), "an absolute link stays inside the image: {}", output.stderr);

    // A tar cut in the middle of a file (its descriptor matching the cut bytes).
    let layout = Layout::unpack(good_archive(), "check-truncated");
    let tar = RawTar::new().entry("big.bin", tar::EntryType::Regular, None, &[1u8; 100_000]).finish();
    layout.add_blob_layer("arm64", &tar[..50_000], "application/vnd.oci.image.layer.v1.tar");
    assert_refused("truncated", &layout.pack(), &["arm64:/: cannot be read", "not a valid tar archive"]);
}

#[test]
fn hard_links_multiply_no_bytes_and_problem_lists_are_capped() {
    // 100,000 hard links to one 4 MiB file: names, not copies.
    let layout = Layout::unpack(good_archive(), "check-hard-links");
    let mut tar = RawTar::new().entry("data/model.bin", tar::EntryType::Regular, None, &vec![3u8; 4 << 20]);
    for i in 0..100_000 {
        tar = tar.entry(&format!("data/l{i}"), tar::EntryType::Link, Some("data/model.bin"), b"");
    }
    layout.add_blob_layer("amd64", &gzip(&tar.finish()), "application/vnd.oci.image.layer.v1.tar+gzip");
    let (output, peak) = check_measured(&layout.pack());
    output.assert_ok();
    assert!(peak < MEMORY_BOUND, "check held {} MiB", peak >> 20);

    // 60,000 entries that escape: the first 50 problems are listed, the rest counted.
    let layout = Layout::unpack(good_archive(), "check-many-problems");
    let mut tar = RawTar::new();
    for i in 0..60_000 {
        tar = tar.entry(&format!("../e{i}"), tar::EntryType::Regular, None, b"");
    }
    layout.add_blob_layer("amd64", &gzip(&tar.finish()), "application/vnd.oci.image.layer.v1.tar+gzip");
    let output = assert_refused("many problems", &layout.pack(), &["has 1001 problems:", "… and 951 more"]);
    let listed = output.stderr.lines().filter(|l| l.starts_with("  - ")).count();
    assert_eq!(listed, 50, "{}", output.stderr);
}

#[test]
fn an_attestation_about_another_image_or_of_another_type_is_a_problem() {
    let fixture = Fixture::new("check-attested");
    let archive = fixture.root().join("attested.tar");
    run(fixture.builtin_dist(&archive).arg("--attest")).assert_ok();
    let good = check(&archive);
    assert!(
        good.assert_ok().stdout.contains("attestation for linux/amd64 (SBOM, provenance)"),
        "{}",
        good.stdout
    );

    let layout = Layout::unpack(&archive, "check-attestation");
    // The first attestation manifest (platform unknown/unknown): its SBOM made about
    // another image, its provenance annotated as an SBOM.
    layout.edit_manifest("unknown", |layout, manifest| {
        let layers = manifest["layers"].as_array_mut().unwrap();
        let mut statement = layout.json(layers[0]["digest"].as_str().unwrap());
        statement["subject"][0]["digest"]["sha256"] = json!("0".repeat(64));
        let (digest, size) = layout.put(serde_json::to_string(&statement).unwrap().as_bytes());
        layers[0]["digest"] = json!(digest);
        layers[0]["size"] = json!(size);
        layers[1]["annotations"]["in-toto.io/predicate-type"] = json!("https://spdx.dev/Document");
    });
    let output = assert_refused(
        "an attestation about another image",
        &layout.pack(),
        &[
            "is not about the image it is attached to",
            "is a https://slsa.dev/provenance/v0.2, but its annotation says https://spdx.dev/Document",
        ],
    );
    assert!(
        output.stderr.contains("attestation for linux/amd64"),
        "the place names the platform: {}",
        output.stderr
    );
}

/// The README's table of rules is what `cargo xtask rules` prints (the tool's own list), and
/// every error in it names who refuses the thing; advice is a warning.
#[test]
fn the_readmes_rule_table_is_the_rulebook() {
    let printed = run(&mut xtask(&repo_root(), &["rules"]));
    let table = printed.assert_ok().stdout.clone();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let between = readme
        .split_once("<!-- rules:begin -->\n")
        .and_then(|(_, rest)| rest.split_once("<!-- rules:end -->"))
        .map(|(table, _)| table)
        .expect("README.md has the rules between <!-- rules:begin --> and <!-- rules:end -->");
    assert_eq!(between, table, "README.md's table is `cargo xtask rules`'s output: paste it in");
    for row in table.lines().skip(2) {
        let cells: Vec<&str> = row.split(" | ").collect();
        match cells[1] {
            "error" => assert_ne!(cells[2], "advice", "an error names who refuses it: {row}"),
            "warning" => assert_eq!(cells[2], "advice", "{row}"),
            other => panic!("severity {other}: {row}"),
        }
    }
    assert!(table.contains("| `compose-unpinned-image` | warning | advice |"), "{table}");
    assert!(table.contains("| `compose-docker-socket` | warning | advice |"), "{table}");
}
