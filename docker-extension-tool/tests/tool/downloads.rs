//! Host binaries from elsewhere: a vendor's files served on 127.0.0.1 (a universal Mach-O, a
//! `.tar.gz` per Linux CPU, a deflated `.zip` for Windows) and scripts of the workspace land
//! in the image with mode 0755, pass `check`; a wrong SHA-256 is refused with nothing
//! placed; a second run works with the server gone.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::common::fixture::Fixture;
use crate::common::{run, TempDir};

/// A file server on 127.0.0.1 for one test: GET /NAME answers the file NAME of its folder.
struct FileServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    fn start(dir: PathBuf) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap_or_default();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let name = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/');
                let mut stream = stream;
                match std::fs::read(dir.join(name)) {
                    Ok(body) if !name.is_empty() => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
                    }
                    _ => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
            }
        });
        FileServer { port, stop, thread: Some(thread) }
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A thin 64-bit Mach-O executable header for `cputype`, with `tail` after it.
fn macho(cputype: u32, tail: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 32];
    b[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
    b[4..8].copy_from_slice(&cputype.to_le_bytes());
    b[12..16].copy_from_slice(&2u32.to_le_bytes()); // MH_EXECUTE, no load commands
    b.extend_from_slice(tail);
    b
}

/// A universal Mach-O of an x86_64 and an arm64 slice, as `lipo` lays them out.
fn universal(tail: &[u8]) -> Vec<u8> {
    let slices = [(0x0100_0007u32, macho(0x0100_0007, tail)), (0x0100_000c, macho(0x0100_000c, tail))];
    let mut b = vec![0u8; 4096];
    b[..4].copy_from_slice(&[0xca, 0xfe, 0xba, 0xbe]);
    b[4..8].copy_from_slice(&2u32.to_be_bytes());
    for (i, (cputype, slice)) in slices.iter().enumerate() {
        let (at, offset) = (8 + 20 * i, 4096 * (i + 1));
        b[at..at + 4].copy_from_slice(&cputype.to_be_bytes());
        b[at + 8..at + 12].copy_from_slice(&u32::try_from(offset).unwrap().to_be_bytes());
        b[at + 12..at + 16].copy_from_slice(&u32::try_from(slice.len()).unwrap().to_be_bytes());
        b[at + 16..at + 20].copy_from_slice(&12u32.to_be_bytes());
        b.resize(offset, 0);
        b.extend_from_slice(slice);
    }
    b
}

/// A 64-bit ELF executable header for `machine` (62 x86-64, 183 aarch64), with `tail`.
fn elf(machine: u16, tail: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[6] = 1;
    b[16] = 2;
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b[52] = 64;
    b[54] = 56;
    b.extend_from_slice(tail);
    b
}

/// A PE32+ x86-64 executable header, with `tail`.
fn pe(tail: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
    b[0x96..0x98].copy_from_slice(&0x0022u16.to_le_bytes()); // executable, large-address aware
    b.extend_from_slice(tail);
    b
}

fn tar_gz(member: &str, bytes: &[u8]) -> Vec<u8> {
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(vec![], flate2::Compression::default()));
    let mut readme = tar::Header::new_gnu();
    readme.set_size(6);
    readme.set_mode(0o644);
    readme.set_cksum();
    builder.append_data(&mut readme, "vendor-1.0/README", &b"readme"[..]).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder.append_data(&mut header, member, bytes).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// A zip with one deflated member, written as zip tools write one (local header, data,
/// central directory, end record).
fn zip(member: &str, bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    let data = encoder.finish().unwrap();
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    let (crc, name) = (crc.sum(), member.as_bytes());
    let sizes = |b: &mut Vec<u8>| {
        b.extend_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        b.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_le_bytes());
        b.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
    };
    let mut b = vec![];
    b.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    b.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0]); // version, flags, deflate, time, date
    sizes(&mut b);
    b.extend_from_slice(name);
    b.extend_from_slice(&data);
    let central = b.len();
    b.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    b.extend_from_slice(&[20, 3, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0]); // made by unix, version, flags, deflate, time, date
    sizes(&mut b);
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // comment, disk, internal attributes
    b.extend_from_slice(&((0o100_755u32) << 16).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // the local header's offset
    b.extend_from_slice(name);
    let central_size = b.len() - central;
    b.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    b.extend_from_slice(&u32::try_from(central_size).unwrap().to_le_bytes());
    b.extend_from_slice(&u32::try_from(central).unwrap().to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b
}

/// Every SPDX statement in an OCI archive (its blobs that are in-toto statements).
fn sboms(archive: &Path) -> Vec<serde_json::Value> {
    let mut found = vec![];
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.path().unwrap().starts_with("blobs/sha256") || entry.size() > 1 << 20 {
            continue;
        }
        let mut bytes = vec![];
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            if value["predicateType"] == "https://spdx.dev/Document" {
                found.push(value);
            }
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn downloads_and_scripts_land_verified_and_a_second_run_needs_no_network() {
    // Bytes of this run only, so no earlier run's cache (the fixtures share a target
    // folder) can stand in for a download.
    let nonce = format!("{}-{:?}", std::process::id(), std::time::SystemTime::now());
    let served = TempDir::new("served");
    let darwin = universal(nonce.as_bytes());
    let (linux_amd64, linux_arm64) = (elf(62, nonce.as_bytes()), elf(183, nonce.as_bytes()));
    let windows = pe(nonce.as_bytes());
    let files = [
        ("vendor-darwin", darwin.clone()),
        ("vendor-linux-amd64.tar.gz", tar_gz("vendor-1.0/vendor", &linux_amd64)),
        ("vendor-linux-arm64.tar.gz", tar_gz("./vendor-1.0/vendor", &linux_arm64)),
        ("vendor-windows-amd64.zip", zip("bin/vendor.exe", &windows)),
    ];
    for (name, bytes) in &files {
        std::fs::write(served.join(name), bytes).unwrap();
    }
    let hash = |name: &str| sha256(&files.iter().find(|(n, _)| *n == name).unwrap().1);
    let server = FileServer::start(served.path().to_path_buf());

    let f = Fixture::new("downloads");
    f.write("extension/scripts/hello.sh", "#!/bin/sh\necho \"Hello, $1!\"\n");
    f.write("extension/scripts/hello.cmd", "@echo off\r\necho Hello, %1!\r\n");
    let config = format!(
        r#"
[workspace.metadata.extension.host-binaries.vendor]
darwin = {{ url = "{}", sha256 = "{}" }}
linux-amd64 = {{ url = "{}", sha256 = "{}", path = "vendor-1.0/vendor" }}
linux-arm64 = {{ url = "{}", sha256 = "{}", path = "vendor-1.0/vendor" }}
windows-amd64 = {{ url = "{}", sha256 = "{}", path = "bin/vendor.exe" }}

[workspace.metadata.extension.host-binaries.hello]
darwin = {{ script = "extension/scripts/hello.sh" }}
linux = {{ script = "extension/scripts/hello.sh" }}
windows = {{ script = "extension/scripts/hello.cmd" }}
"#,
        server.url("vendor-darwin"),
        hash("vendor-darwin"),
        server.url("vendor-linux-amd64.tar.gz"),
        hash("vendor-linux-amd64.tar.gz"),
        server.url("vendor-linux-arm64.tar.gz"),
        hash("vendor-linux-arm64.tar.gz"),
        server.url("vendor-windows-amd64.zip"),
        hash("vendor-windows-amd64.zip"),
    );
    // No Rust host binary (no cross-compile for macOS or Windows): the fixture's is removed,
    // and every OS ships.
    std::fs::remove_dir_all(f.root().join("host-binaries")).unwrap();
    f.edit("Cargo.toml", "members = [\"backend\", \"host-binaries/*\"]", "members = [\"backend\"]");
    f.edit(
        "Cargo.toml",
        "[workspace.metadata.extension.targets]\ndarwin = false\nwindows = false\n",
        &config,
    );
    f.commit_all();

    let archive = f.root().join("image.tar");
    // With its attestations: the SBOM lists the downloads (below).
    let first = run(f.builtin_dist(&archive).arg("--attest"));
    first.assert_ok();
    assert_eq!(first.stderr.matches("    downloading http://127.0.0.1").count(), 4, "{}", first.stderr);
    assert!(first.stdout.contains("universal (x86_64, arm64) Mach-O executable"), "{}", first.stdout);

    let context = f.context();
    let expected: [(&str, &[u8]); 10] = [
        ("amd64/darwin/vendor", &darwin),
        ("arm64/darwin/vendor", &darwin),
        ("amd64/linux/vendor", &linux_amd64),
        ("arm64/linux/vendor", &linux_arm64),
        ("amd64/windows/vendor.exe", &windows),
        ("arm64/windows/vendor.exe", &windows), // Windows on ARM runs the x86_64 exe
        ("amd64/darwin/hello.sh", b"#!/bin/sh\necho \"Hello, $1!\"\n"),
        ("arm64/linux/hello.sh", b"#!/bin/sh\necho \"Hello, $1!\"\n"),
        ("amd64/windows/hello.cmd", b"@echo off\r\necho Hello, %1!\r\n"),
        ("arm64/windows/hello.cmd", b"@echo off\r\necho Hello, %1!\r\n"),
    ];
    for (path, bytes) in expected {
        let path = context.join(path);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{} is the vendor's file, byte for byte",
            path.display()
        );
        assert_eq!(mode(&path), 0o755, "{}", path.display());
    }
    let metadata: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(context.join("metadata.json")).unwrap()).unwrap();
    let paths = |os: &str| -> Vec<String> {
        metadata["host"]["binaries"][0][os]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths("darwin"), ["/darwin/hello.sh", "/darwin/vendor"]);
    assert_eq!(paths("windows"), ["/windows/hello.cmd", "/windows/vendor.exe"]);
    assert_eq!(paths("linux"), ["/linux/hello.sh", "/linux/vendor"]);
    // The image holds them with their modes, and check reads each (scripts by their
    // shebang, the universal binary by its slices).
    run(&mut f.command(&["check", archive.to_str().unwrap()])).assert_ok();
    // Each platform's SBOM lists the downloads it holds, by URL and SHA-256.
    let sboms = sboms(&archive);
    assert_eq!(sboms.len(), 2, "one SBOM per platform");
    let mut downloads_listed = vec![];
    for sbom in &sboms {
        let mut listed: Vec<(String, String)> = sbom["predicate"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["SPDXID"].as_str().unwrap().starts_with("SPDXRef-Package-download-"))
            .map(|p| {
                assert_eq!(p["name"], "vendor");
                let sha = p["checksums"][0]["checksumValue"].as_str().unwrap().to_string();
                (p["downloadLocation"].as_str().unwrap().to_string(), sha)
            })
            .collect();
        listed.sort();
        downloads_listed.push(listed);
    }
    downloads_listed.sort();
    let listed = |names: [&str; 3]| {
        let mut expected: Vec<(String, String)> = names.iter().map(|n| (server.url(n), hash(n))).collect();
        expected.sort();
        expected
    };
    let mut in_sboms = vec![
        listed(["vendor-darwin", "vendor-linux-amd64.tar.gz", "vendor-windows-amd64.zip"]),
        listed(["vendor-darwin", "vendor-linux-arm64.tar.gz", "vendor-windows-amd64.zip"]),
    ];
    in_sboms.sort();
    assert_eq!(downloads_listed, in_sboms);

    // A wrong SHA-256: refused, naming the URL and both hashes; nothing placed, in the
    // cache or in a context.
    let wrong = "0".repeat(64);
    let right = hash("vendor-linux-arm64.tar.gz");
    f.edit("Cargo.toml", &right, &wrong);
    let other_context = f.root().join("other-context");
    let refused = run(&mut f.command(&["dist", "--no-image", "--out", other_context.to_str().unwrap()]));
    assert_eq!(refused.code, 1, "{refused:?}");
    let url = server.url("vendor-linux-arm64.tar.gz");
    let said = format!("{url} has SHA-256 {right}, but the config says {wrong}: nothing was placed");
    assert!(refused.stderr.contains(&said), "{said}\n{}", refused.stderr);
    assert!(!other_context.exists());
    let cache = crate::common::fixture::shared_target_dir().join("xtask/downloads");
    assert!(!cache.join(&wrong).exists(), "nothing kept under the wrong hash");
    f.edit("Cargo.toml", &wrong, &right);

    // The server gone: the cache serves, and the context is the same. (In the fixture's own
    // target folder, where `check` without an argument looks.)
    server.stop();
    let target = f.root().join("target");
    let offline_context = target.join("extension");
    let offline = run(&mut f.command(&["dist", "--no-image", "--out", offline_context.to_str().unwrap()]));
    offline.assert_ok();
    assert!(!offline.stderr.contains("downloading"), "{}", offline.stderr);
    for (path, bytes) in expected {
        assert_eq!(std::fs::read(offline_context.join(path)).unwrap(), bytes, "{path} offline");
    }
    let check = || run(f.command(&["check"]).env("CARGO_TARGET_DIR", &target));
    check().assert_ok();
    // check finds a host binary that lost its x bit, and a script that lost its shebang.
    let vendor = offline_context.join("amd64/linux/vendor");
    std::fs::set_permissions(&vendor, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(offline_context.join("arm64/darwin/hello.sh"), "echo no shebang\n").unwrap();
    let broken = check();
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(broken.stderr.contains("amd64:/linux/vendor: is not executable"), "{}", broken.stderr);
    assert!(
        broken.stderr.contains("arm64:/darwin/hello.sh: is a script without a `#!` line"),
        "{}",
        broken.stderr
    );
}

#[test]
fn bad_host_binary_configs_are_refused_naming_the_key() {
    let f = Fixture::new("downloads-config");
    f.write("extension/scripts/no-shebang.sh", "echo hi\n");
    f.edit(
        "Cargo.toml",
        "[workspace.metadata.extension.targets]",
        r#"[workspace.metadata.extension.host-binaries.one]
linux-amd64 = { url = "https://example.com/one.tar.gz", sha256 = "abc" }
macos = { url = "https://example.com/one", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }

[workspace.metadata.extension.host-binaries.two]
linux = { script = "extension/scripts/no-shebang.sh" }

[workspace.metadata.extension.host-binaries.hello]
linux = { script = "../outside.sh" }

[workspace.metadata.extension.targets]"#,
    );
    let before = crate::common::snapshot(f.root());
    let out = run(&mut f.command(&["dist", "--no-image"]));
    assert_eq!(out.code, 1, "{out:?}");
    for expected in [
        "`workspace.metadata.extension.host-binaries.one.linux-amd64.sha256`: give the download's SHA-256 as 64 hex digits",
        "`workspace.metadata.extension.host-binaries.one.linux-amd64.path`: is missing: the URL is an archive",
        "`workspace.metadata.extension.host-binaries.one.linux-arm64`: is missing: the arm64 variant needs an arm64 linux file",
        "`workspace.metadata.extension.host-binaries.one.macos`: is not an OS or an OS and a CPU",
        "`workspace.metadata.extension.host-binaries.two.linux.script`: extension/scripts/no-shebang.sh does not start with `#!`",
        "`workspace.metadata.extension.host-binaries.hello`: `hello` is also a binary of the crate `hello`",
        "`workspace.metadata.extension.host-binaries.hello.linux.script`: ../outside.sh climbs out of the workspace",
    ] {
        assert!(out.stderr.contains(expected), "{expected}\n{}", out.stderr);
    }
    assert_eq!(crate::common::snapshot(f.root()), before, "nothing written");
}

/// A host binary that is a folder of the workspace (a vendor's executable with its runtime
/// beside it): the executable checked by its header and copied byte for byte, every other
/// file copied byte for byte with its own mode, metadata.json listing the executable, then
/// each folder and file as vendors list them, `check` reading it back without taking a
/// library or a README for an executable; a folder without its executable, or whose file
/// another host binary also ships, is refused.
#[test]
fn a_host_binary_folder_ships_its_executable_and_its_companions() {
    let f = Fixture::new("host-folder");
    let vendor = |cpu: &str, machine: u16| {
        let dir = format!("vendor/tool-linux-{cpu}");
        f.write(&format!("{dir}/vendortool"), "");
        std::fs::write(
            f.root().join(format!("{dir}/vendortool")),
            elf(machine, format!("tool for {cpu}").as_bytes()),
        )
        .unwrap();
        f.write(&format!("{dir}/README.txt"), "read me\n");
        f.write(&format!("{dir}/lib/libvendor.so.1"), "");
        std::fs::write(f.root().join(format!("{dir}/lib/libvendor.so.1")), elf(machine, b"a library"))
            .unwrap();
        f.write(&format!("{dir}/lib/helper"), "");
        std::fs::write(f.root().join(format!("{dir}/lib/helper")), elf(machine, b"a helper")).unwrap();
        std::fs::set_permissions(
            f.root().join(format!("{dir}/lib/helper")),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        f.write(&format!("{dir}/share/data.json"), "{\"cpu\": \"x\"}\n");
    };
    vendor("amd64", 62);
    vendor("arm64", 183);
    f.edit(
        "Cargo.toml",
        "[workspace.metadata.extension.targets]",
        "[workspace.metadata.extension.host-binaries.vendortool]\nlinux-amd64 = { folder = \"vendor/tool-linux-amd64\" }\nlinux-arm64 = { folder = \"vendor/tool-linux-arm64\" }\n\n[workspace.metadata.extension.targets]",
    );
    f.commit_all();
    let archive = f.root().join("image.tar");
    run(&mut f.builtin_dist(&archive)).assert_ok();

    let context = f.context();
    for (variant, cpu) in [("amd64", "amd64"), ("arm64", "arm64")] {
        for rel in ["vendortool", "README.txt", "lib/libvendor.so.1", "lib/helper", "share/data.json"] {
            let shipped = std::fs::read(context.join(format!("{variant}/linux/{rel}"))).unwrap();
            let source = std::fs::read(f.root().join(format!("vendor/tool-linux-{cpu}/{rel}"))).unwrap();
            assert_eq!(shipped, source, "{variant}/linux/{rel} byte for byte");
        }
        let mode = |rel: &str| {
            std::fs::metadata(context.join(format!("{variant}/linux/{rel}"))).unwrap().permissions().mode()
                & 0o777
        };
        assert_eq!((mode("vendortool"), mode("lib/helper"), mode("README.txt")), (0o755, 0o755, 0o644));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(context.join("metadata.json")).unwrap()).unwrap();
    let linux: Vec<&str> = metadata["host"]["binaries"][0]["linux"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        linux,
        [
            "/linux/hello",
            "/linux/vendortool",
            "/linux/README.txt",
            "/linux/lib",
            "/linux/lib/helper",
            "/linux/lib/libvendor.so.1",
            "/linux/share",
            "/linux/share/data.json"
        ]
    );
    let checked = run(&mut f.command(&["check", archive.to_str().unwrap()]));
    assert!(checked.assert_ok().stdout.contains("no problems found"), "{checked:?}");

    // The executable is checked by its header: an arm64 one in the amd64 folder is refused.
    std::fs::copy(
        f.root().join("vendor/tool-linux-arm64/vendortool"),
        f.root().join("vendor/tool-linux-amd64/vendortool"),
    )
    .unwrap();
    let wrong = run(&mut f.builtin_dist(&archive));
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("aarch64"), "{}", wrong.stderr);

    // A file two host binaries ship is refused, and so is a folder without its executable.
    std::fs::write(f.root().join("vendor/tool-linux-amd64/vendortool"), elf(62, b"tool for amd64")).unwrap();
    f.write("vendor/other/other", "");
    std::fs::write(f.root().join("vendor/other/other"), elf(62, b"other")).unwrap();
    f.write("vendor/other/README.txt", "mine too\n");
    f.edit(
        "Cargo.toml",
        "[workspace.metadata.extension.targets]",
        "[workspace.metadata.extension.host-binaries.other]\nlinux-amd64 = { folder = \"vendor/other\" }\nlinux-arm64 = { folder = \"vendor/other\" }\n\n[workspace.metadata.extension.targets]",
    );
    let refused = run(&mut f.command(&["dist", "--no-image"]));
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("puts /linux/README.txt in the image, as `"), "{}", refused.stderr);
    std::fs::remove_file(f.root().join("vendor/tool-linux-amd64/vendortool")).unwrap();
    let refused = run(&mut f.command(&["dist", "--no-image"]));
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("vendor/tool-linux-amd64 holds no vendortool at its top"),
        "{}",
        refused.stderr
    );
}
