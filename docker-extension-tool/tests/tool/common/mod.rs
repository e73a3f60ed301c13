//! Helpers shared by the xtask's end-to-end tests.

pub mod engine;
pub mod fixture;
pub mod wine;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

pub const XTASK: &str = env!("CARGO_BIN_EXE_docker-extension-tool");

/// The labels the Marketplace requires: the tests' own list, not the xtask's, so a mistake
/// in one cannot hide in the other.
pub const REQUIRED_LABELS: &[&str] = &[
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.vendor",
    "com.docker.desktop.extension.api.version",
    "com.docker.desktop.extension.icon",
    "com.docker.extension.screenshots",
    "com.docker.extension.detailed-description",
    "com.docker.extension.publisher-url",
    "com.docker.extension.changelog",
    "com.docker.extension.categories",
];

/// The template workspace: the repository this test runs in.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A folder under the workspace's target/ for one test; emptied first, removed on drop.
pub struct TempDir(pub PathBuf);

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static STALE: std::sync::Once = std::sync::Once::new();
        STALE.call_once(remove_stale_temp_dirs);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = repo_root().join("target/xtask-tests").join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A folder for Unix sockets: under the workspace's target/ when the socket's path fits
    /// the ~100 bytes a socket path may have, else under the system's temporary folder (a
    /// checkout in a long path). Emptied first, removed on drop.
    pub fn for_sockets(name: &str) -> TempDir {
        let dir = TempDir::new(name);
        if dir.join("backend.sock").as_os_str().len() < 100 {
            return dir;
        }
        drop(dir);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let short = std::env::temp_dir().join(format!("xt-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&short);
        std::fs::create_dir_all(&short).unwrap();
        TempDir(short)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.0.join(rel)
    }
}

/// The folders (and files beside them) of test binaries that have exited: the ones held by
/// a `static` (built once per run) are never dropped.
fn remove_stale_temp_dirs() {
    let base = repo_root().join("target/xtask-tests");
    for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stem = name.strip_suffix(".secret").unwrap_or(&name);
        let Some(pid) = stem.rsplit('-').nth(1).filter(|p| p.parse::<u32>().is_ok()) else { continue };
        if !Path::new("/proc").join(pid).exists() {
            let path = entry.path();
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn assert_ok(&self) -> &Output {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

pub fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command to its end, and the most memory it held at once: its `VmHWM` (peak
/// resident set), read from /proc while it runs (the last reading before it exits; the
/// mark only grows). Its own, not its children's.
pub fn run_measuring_memory(command: &mut Command) -> (Output, u64) {
    use std::io::Read;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib * 1024);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (output, peak)
}

/// 256 MiB: what the xtask may hold at once whatever it reads or writes.
pub const MEMORY_BOUND: u64 = 256 << 20;

/// `xtask ARGS` in `dir`.
pub fn xtask(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(XTASK);
    command.args(args).current_dir(dir);
    command
}

/// Fails the test with the setup command when a tool the test needs is missing.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(found, "{program} is not installed: run `cargo xtask setup --for-tests` (or `cargo xtask test`)");
}

/// Every file under `dir` with its bytes and mtime: to prove a folder was left untouched.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let meta = entry.metadata().unwrap();
                files.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    (std::fs::read(&path).unwrap(), meta.modified().unwrap()),
                );
            }
        }
    }
    files
}

/// Every file of a workspace with its bytes (a link: where it points), leaving out `.git`
/// and the given top-level folders: to prove a command changed none of a user's files.
pub fn workspace_files(root: &Path, leave_out: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if rel == Path::new(".git") || leave_out.iter().any(|l| rel == Path::new(l)) {
                continue;
            }
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                files.insert(rel, format!("-> {}", target.display()).into_bytes());
            } else if kind.is_dir() {
                stack.push(path);
            } else {
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A second checkout of the workspace's tracked files (their working-tree contents), made as
/// differently as possible: in another folder, files created in reverse order, with other
/// modes (umask 077 and stray executable bits) and other mtimes (now: newer than any build
/// of the first, so cargo compiles it again). Never mtimes in the future: cargo's
/// fingerprints do not depend on the folder, so a future time would make every later edit,
/// in any checkout sharing the target folder, look older than the last build. The UI's
/// node_modules is copied too, marked installed (no `npm ci` runs there).
pub fn copy_checkout(dir: &Path) {
    let listed = run(Command::new("git").args(["ls-files", "-z"]).current_dir(repo_root()));
    let mut files: Vec<String> =
        listed.assert_ok().stdout.split('\0').filter(|f| !f.is_empty()).map(String::from).collect();
    files.reverse();

    for (i, rel) in files.iter().enumerate() {
        let from = repo_root().join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = dir.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
        let mode = if i % 3 == 0 { 0o700 } else { 0o600 };
        std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    // The UI's installed packages: copied (a link would let an `npm ci` there empty the
    // repository's own), and marked installed after every source, so none runs.
    let copied = Command::new("cp")
        .arg("-a")
        .arg(repo_root().join("ui/node_modules"))
        .arg(dir.join("ui/node_modules"))
        .status()
        .unwrap();
    assert!(copied.success(), "copying ui/node_modules");
    let marker =
        std::fs::File::options().write(true).open(dir.join("ui/node_modules/.package-lock.json")).unwrap();
    marker.set_modified(SystemTime::now() + Duration::from_secs(1)).unwrap();
}

/// A stand-in `docker` on PATH that records each invocation (one line, arguments joined by
/// tabs) and answers like Docker Desktop with buildx. `STANDIN_*` variables shape answers.
pub struct StandInDocker {
    pub dir: TempDir,
}

pub const STANDIN_DOCKER: &str = r#"#!/bin/sh
# Records its arguments, then answers as docker with buildx would.
log="$STANDIN_DIR/calls.log"
( first=1; for a in "$@"; do if [ $first = 1 ]; then first=0; printf '%s' "$a"; else printf '\t%s' "$a"; fi; done; printf '\n' ) >> "$log"
case "$1 $2" in
  "--version ") echo "Docker version 28.0.0, build stand-in"; exit 0 ;;
  "extension version") [ -z "$STANDIN_NO_EXTENSION" ] && { echo "Extensions CLI version: v0.2.29"; exit 0; }; exit 1 ;;
  "extension validate") [ -z "$STANDIN_NO_EXTENSION" ] && { echo "The extension image $6 is valid"; exit 0; }; exit 1 ;;
  "buildx version") echo "github.com/docker/buildx v0.19.3 stand-in"; exit 0 ;;
  "extension ls")
    echo "EXTENSION               PROVIDER     VERSION   UI         VM           HOST"
    for ref in $STANDIN_INSTALLED; do echo "$ref   Example Inc.   0.1.0   1 tab(Rust Starter)   Running(1)   1 binaries"; done
    exit 0 ;;
  "extension rm") echo "Removing extension $3..."; echo "Extension \"$3\" uninstalled successfully"; exit 0 ;;
  "extension share")
    [ -n "$STANDIN_NOT_PUSHED" ] && { echo "Error: $3: not found in its registry" >&2; exit 1; }
    echo "Share link: https://open.docker.com/extensions/marketplace?extensionId=$3"; exit 0 ;;
  "buildx inspect")
    echo "Name:          ${STANDIN_BUILDER:-desktop-linux}"
    echo "Driver:        ${STANDIN_DRIVER:-docker-container}"
    echo ""
    echo "Nodes:"
    echo "Name:      ${STANDIN_BUILDER:-desktop-linux}0"
    echo "Status:    running"
    echo "Platforms: ${STANDIN_PLATFORMS:-linux/amd64, linux/amd64/v2, linux/arm64, linux/386}"
    exit 0 ;;
  "buildx imagetools")
    for ref in $STANDIN_PUBLISHED; do [ "$ref" = "$4" ] && { echo "Name: $ref"; exit 0; }; done
    echo "ERROR: $4: not found" >&2; exit 1 ;;
  "image save") cp "$STANDIN_SAVE_FROM" "$4"; exit $? ;;
  "image inspect") [ -n "$STANDIN_SAVE_FROM" ] && { echo "sha256:standin"; exit 0; }; echo "Error: No such image: $5" >&2; exit 1 ;;
  "info --format")
    case "$3" in
      *ServerVersion*)
        [ -n "$STANDIN_DOCKER_DOWN" ] && { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1; }
        echo "28.0.0-standin" ;;
      *) echo "${STANDIN_DRIVER_STATUS:-[[driver-type io.containerd.snapshotter.v1]]}" ;;
    esac
    exit 0 ;;
  "buildx build")
    prev=""
    for a in "$@"; do
      case "$prev" in
        --metadata-file) printf '{"containerimage.digest": "sha256:%064d"}\n' 7 > "$a" ;;
        --output) dest="${a#*dest=}"; [ "$dest" != "$a" ] && echo "stand-in oci archive" > "$dest" ;;
      esac
      prev="$a"
    done
    exit 0 ;;
esac
echo "stand-in docker: unexpected call: $*" >&2
exit 1
"#;

impl StandInDocker {
    pub fn new() -> StandInDocker {
        let dir = TempDir::new("standin-docker");
        let script = dir.join("docker");
        std::fs::write(&script, STANDIN_DOCKER).unwrap();
        make_executable(&script);
        StandInDocker { dir }
    }

    /// PATH with the stand-in first.
    pub fn path_var(&self) -> std::ffi::OsString {
        let mut paths = vec![self.dir.0.clone()];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(paths).unwrap()
    }

    /// Each recorded invocation, as its argument list.
    pub fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\t').map(String::from).collect())
            .collect()
    }

    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = xtask(dir, args);
        command.env("PATH", self.path_var()).env("STANDIN_DIR", self.dir.path());
        command
    }
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The platforms of an index (attestation manifests left out), sorted.
pub fn platforms(index: &serde_json::Value) -> Vec<String> {
    let mut platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["vnd.docker.reference.type"] != "attestation-manifest")
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    platforms.sort();
    platforms
}

/// Whether 127.0.0.1:PORT answers `GET /` with a 2xx.
pub fn http_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 2")
}
