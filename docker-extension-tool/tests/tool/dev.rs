//! `cargo xtask dev`, run for real on a copy of the template: the real docker CLI and the
//! tests' real engine load the image; Docker Desktop's `docker extension` plugin, which
//! cannot run here, is a recording stand-in CLI plugin. The dev session runs in a session
//! of its own, so the test can prove that nothing it started is left after SIGTERM.
//!
//! The copies build in a target folder of their own, one test at a time, each copy made
//! after the last one's builds: cargo's fingerprints do not depend on a checkout's folder,
//! and record the files of the checkout that built last, so copies sharing a target folder
//! at the same time would see each other's edits, or miss their own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::engine::engine;
use crate::common::*;

const REFERENCE: &str = "example/rust-starter:dev";

/// The ceiling of a wait that includes a compile: not a budget. A compile's time depends on
/// the machine's load (a cold build of the backend's dependencies on a busy 2-core machine
/// took over 240 s), so each test builds what it needs before its clocks start
/// ([`Workspace::build_first`]) and waits for a rebuild to end, however long; this only
/// keeps a hung build from holding the suite until CI's own limit.
const A_COMPILE: Duration = Duration::from_secs(30 * 60);

/// The ceiling of a wait for what does not compile: a server that answers, a container
/// that starts, the steps of a session whose builds are done.
const NO_COMPILE: Duration = Duration::from_secs(240);

/// One dev test at a time (see above).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The stand-in: a Docker CLI plugin that records each call (tab-separated) in
/// `$STANDIN_DIR/extension.log` and answers as Docker Desktop's would.
const PLUGIN: &str = r#"#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"tests","Version":"v0.2.29","ShortDescription":"Docker Desktop extensions (a recording stand-in)"}'
  exit 0
fi
shift
( first=1; for a in "$@"; do if [ $first = 1 ]; then first=0; printf '%s' "$a"; else printf '\t%s' "$a"; fi; done; printf '\n' ) >> "$STANDIN_DIR/extension.log"
state="$STANDIN_DIR/installed"
case "$1" in
  version) echo "Extensions CLI version: v0.2.29 (stand-in)" ;;
  ls) echo "EXTENSION   DESCRIPTION   VENDOR   VERSION"; if [ -f "$state" ]; then cat "$state"; fi ;;
  install)
    if [ -n "$STANDIN_MARKETPLACE_ONLY" ]; then
      echo "Error: $3 is not allowed: only extensions distributed through the Docker Marketplace are allowed" >&2; exit 1
    fi
    echo "$3   A stand-in   Tests   dev" > "$state"; echo "Extension installed successfully" ;;
  update) [ -f "$state" ] || { echo "Error: $3 is not installed" >&2; exit 1; }; echo "Extension updated" ;;
  dev) ;;
  *) echo "stand-in: unexpected: $*" >&2; exit 1 ;;
esac
"#;

/// A copy of the template, a Docker config with the real buildx and the stand-in plugin.
struct Workspace {
    dir: TempDir,
    root: PathBuf,
    standin: PathBuf,
    docker_config: PathBuf,
}

impl Workspace {
    fn new(name: &str) -> (Workspace, std::sync::MutexGuard<'static, ()>) {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = TempDir::new(name);
        let root = dir.join("checkout");
        copy_checkout(&root);
        let docker_config = dir.join("docker-config");
        let plugins = docker_config.join("cli-plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        for plugin in ["docker-buildx", "docker-compose"] {
            let installed = Path::new(&engine().docker_config).join("cli-plugins").join(plugin);
            std::os::unix::fs::symlink(std::fs::read_link(&installed).unwrap(), plugins.join(plugin))
                .unwrap();
        }
        std::fs::write(plugins.join("docker-extension"), PLUGIN).unwrap();
        make_executable(&plugins.join("docker-extension"));
        std::fs::write(docker_config.join("config.json"), "{}\n").unwrap();
        let standin = dir.join("standin");
        std::fs::create_dir_all(&standin).unwrap();
        (Workspace { dir, root, standin, docker_config }, turn)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = xtask(&self.root, args);
        engine().apply(&mut command);
        command
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("STANDIN_DIR", &self.standin)
            .env("CARGO_TARGET_DIR", repo_root().join("target/dev-tests-target"));
        command
    }

    /// Runs `dev ARGS --once` to its end: every build the session will need (the backend's
    /// image or process, the host binaries, the UI, the relay) is done and cached before a
    /// test's clock starts. With Docker Desktop it installs the extension, as `--once` does.
    fn build_first(&self, args: &[&str], env: &[(&str, String)]) {
        let mut command = self.command(&[args, &["--once"]].concat());
        command.envs(env.iter().map(|(k, v)| (k, v)));
        run(&mut command).assert_ok();
    }

    /// The stand-in's calls so far.
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.standin.join("extension.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\t').map(String::from).collect())
            .collect()
    }

    /// Appends a line to a file of the copy (a save in an editor).
    fn touch_source(&self, rel: &str, line: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(self.root.join(rel)).unwrap();
        writeln!(file, "{line}").unwrap();
    }
}

fn call(args: &[&str]) -> Vec<String> {
    args.iter().map(std::string::ToString::to_string).collect()
}

/// A dev session running in a session of its own, its stderr collected line by line.
struct Running {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(mut command: Command) -> Running {
        use std::os::unix::process::CommandExt;
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        // SAFETY: setsid only makes the child a session leader; nothing else runs there.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        let collect = |stream: Box<dyn std::io::Read + Send>| {
            let lines = Arc::new(Mutex::new(vec![]));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            lines
        };
        let log = collect(Box::new(child.stderr.take().unwrap()));
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        Running { child, log, stdout }
    }

    fn lines(&self) -> Vec<String> {
        let mut all = self.stdout.lock().unwrap().clone();
        all.extend(self.log.lock().unwrap().iter().cloned());
        all
    }

    /// The URL the session printed.
    fn url(&self) -> String {
        let lines = self.lines();
        let url =
            lines.iter().find_map(|l| l.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")));
        url.unwrap_or_else(|| panic!("no URL in:\n{}", lines.join("\n"))).to_string()
    }

    fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `needle` has appeared `times` times in its output.
    fn wait_for(&mut self, needle: &str, times: usize, timeout: Duration) {
        let start = Instant::now();
        while self.count(needle) < times {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dev exited ({status}) before {needle:?}:\n{}", self.lines().join("\n"));
            }
            assert!(
                start.elapsed() < timeout,
                "no {needle:?} ×{times} after {timeout:?}:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the exit status and every process still in its session.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>, Vec<String>) {
        let session = self.child.id() as i32;
        // SAFETY: kill(2) sends a signal; no memory is involved.
        unsafe { libc::kill(session, libc::SIGTERM) };
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("dev did not stop within 60 s of SIGTERM:\n{}", self.lines().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(300));
        (status, processes_in_session(session), self.lines())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed test: take the whole session down.
        // SAFETY: as above; a negative pid signals the process group the session leads.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
    }
}

/// The command lines of the processes in `session`.
fn command_lines_in_session(session: i32) -> Vec<String> {
    processes_in_session(session)
        .iter()
        .filter_map(|head| head.split_whitespace().next())
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .collect()
}

/// Every process whose session is `session` (field 6 of /proc/PID/stat).
fn processes_in_session(session: i32) -> Vec<String> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The command name is in parentheses and may hold spaces: split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(3).and_then(|s| s.parse::<i32>().ok()) == Some(session) && fields[0] != "Z" {
            found.push(head.to_string());
        }
    }
    found
}

#[test]
fn with_docker_desktop_it_installs_updates_watches_and_resets() {
    let (ws, _turn) = Workspace::new("dev-desktop");

    // --once, first time: installed.
    let once = run(&mut ws.command(&["dev", "--once"]));
    once.assert_ok();
    assert!(once.stdout.contains(&format!("Installed {REFERENCE}")), "{}", once.stdout);
    assert_eq!(ws.calls(), [call(&["version"]), call(&["ls"]), call(&["install", "-f", REFERENCE])]);
    let arch = run(&mut engine().docker(&["image", "inspect", "--format", "{{.Architecture}}", REFERENCE]));
    assert_eq!(arch.assert_ok().stdout.trim(), "amd64", "loaded into the engine, this machine's platform");

    // --once again: listed, so updated.
    run(&mut ws.command(&["dev", "--once"])).assert_ok();
    assert_eq!(ws.calls()[3..], [call(&["version"]), call(&["ls"]), call(&["update", "-f", REFERENCE])]);

    // Docker Desktop set to Marketplace-only: said, naming the setting.
    std::fs::remove_file(ws.standin.join("installed")).unwrap();
    let mut refused = ws.command(&["dev", "--once"]);
    refused.env("STANDIN_MARKETPLACE_ONLY", "1");
    let refused = run(&mut refused);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("Allow only extensions distributed through the Docker Marketplace"),
        "{}",
        refused.stderr
    );
    run(&mut ws.command(&["dev", "--once"])).assert_ok();

    // The whole session: update, the dev server, ui-source, debug.
    let before = ws.calls().len();
    let mut dev = Running::start(ws.command(&["dev", "--debug"]));
    dev.wait_for("Watching the backend", 1, NO_COMPILE);
    let calls = ws.calls()[before..].to_vec();
    assert_eq!(
        calls[..3],
        [call(&["version"]), call(&["ls"]), call(&["update", "-f", REFERENCE])],
        "{calls:?}"
    );
    let ui_source = &calls[3];
    assert_eq!(ui_source[..3], call(&["dev", "ui-source", REFERENCE]), "{calls:?}");
    let url = ui_source[3].clone();
    let port: u16 = url.strip_prefix("http://localhost:").unwrap().parse().unwrap();
    assert_eq!(calls[4], call(&["dev", "debug", REFERENCE]));
    assert!(http_ok(port), "the UI's dev server answers at {url}");

    // A backend change: one rebuild, one update.
    ws.touch_source("backend/src/main.rs", "// first change");
    dev.wait_for("rebuilt backend", 1, A_COMPILE);
    let updates = |ws: &Workspace| ws.calls().iter().filter(|c| c[0] == "update").count();
    let after_first = updates(&ws);
    assert_eq!(after_first, 3, "one more update: {:?}", ws.calls());

    // Two saves within the debounce: one rebuild.
    ws.touch_source("backend/src/main.rs", "// second change");
    std::thread::sleep(Duration::from_millis(60));
    ws.touch_source("backend/src/main.rs", "// third change");
    dev.wait_for("rebuilt backend", 2, A_COMPILE);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(dev.count("rebuilt backend"), 2, "{}", dev.lines().join("\n"));
    assert_eq!(updates(&ws), after_first + 1);

    // SIGTERM: Docker Desktop's tab reset, every process gone.
    let (status, left, lines) = dev.terminate();
    assert!(status.success(), "{status}: {}", lines.join("\n"));
    assert_eq!(ws.calls().last().unwrap(), &call(&["dev", "reset", REFERENCE]));
    assert_eq!(left, Vec::<String>::new(), "processes left in the session");
    assert!(!http_ok(port), "the dev server stopped");
}

#[test]
fn without_docker_desktop_it_says_what_to_use_instead() {
    let (ws, _turn) = Workspace::new("dev-no-plugin");
    std::fs::remove_file(ws.docker_config.join("cli-plugins/docker-extension")).unwrap();
    let output = run(&mut ws.command(&["dev", "--once"]));
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("the `docker extension` CLI plugin is not here"), "{}", output.stderr);
    assert!(output.stderr.contains("cargo xtask dev --browser"), "{}", output.stderr);

    let mut stopped = ws.command(&["dev", "--once"]);
    stopped.env("DOCKER_HOST", format!("unix://{}", ws.dir.join("none.sock").display()));
    let output = run(&mut stopped);
    assert_eq!(output.code, 1);
    assert!(output.stderr.contains("Docker is not running"), "{}", output.stderr);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(&mut ws.command(&["dev", "--browser", "--port", &port]));
    assert_eq!(output.code, 1);
    assert!(output.stderr.contains(&format!("--port {port}: the port is taken")), "{}", output.stderr);
}

#[test]
fn in_a_browser_the_backend_runs_from_the_image_and_a_change_shows_up_on_the_page() {
    require("chromium");
    let (ws, _turn) = Workspace::new("dev-browser");
    ws.build_first(&["dev", "--browser"], &[]);
    // `--browser --once` started the backend and the relay, and removed them.
    let left =
        run(&mut engine().docker(&["ps", "-a", "--filter", "name=xtask-dev-", "--format", "{{.Names}}"]));
    assert_eq!(left.assert_ok().stdout.trim(), "", "containers left by --browser --once");
    let mut dev = Running::start(ws.command(&["dev", "--browser"]));
    dev.wait_for("The extension runs at http://127.0.0.1:", 1, NO_COMPILE);
    let url = dev.url();
    let containers = run(&mut engine().docker(&[
        "ps",
        "--filter",
        "name=xtask-dev-",
        "--format",
        "{{.Names}} {{.Image}}",
    ]));
    let containers = containers.assert_ok().stdout.clone();
    let backend = containers
        .lines()
        .find_map(|l| l.strip_suffix(&format!(" {REFERENCE}")).filter(|name| !name.ends_with("-relay")))
        .unwrap_or_else(|| panic!("the backend runs as a container from the image: {containers}"))
        .to_string();
    // Its socket folder is a volume (shared with the relay), never a bind mount: Docker
    // Desktop could not forward a socket made in one.
    let mounts = run(&mut engine().docker(&["inspect", "--format", "{{json .Mounts}}", &backend]));
    let mounts: serde_json::Value = serde_json::from_str(&mounts.assert_ok().stdout).unwrap();
    let guest = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/run/guest-services")
        .unwrap_or_else(|| panic!("{mounts}"));
    assert_eq!(guest["Type"], "volume", "{mounts}");
    assert!(!mounts.as_array().unwrap().iter().any(|m| m["Type"] == "bind"), "no bind mount: {mounts}");
    let volume = guest["Name"].as_str().unwrap().to_string();
    let network =
        run(&mut engine().docker(&["inspect", "--format", "{{.HostConfig.NetworkMode}}", &backend]));
    assert_eq!(network.assert_ok().stdout.trim(), "none", "the backend has no network, as in Docker Desktop");

    // Chromium: both buttons answer; then the greeting is edited in the source and the
    // page shows the new one after the rebuild, with no manual step.
    let api = ws.root.join("backend/src/api.rs");
    let script = repo_root().join("ui/harness/dev-check.mjs");
    let check = run(Command::new("node")
        .arg(&script)
        .args([url.as_str(), "Hello from the Rust backend", "Hello from the edited backend"])
        .arg(&api)
        .env("DEV_CHECK_REBUILD_TIMEOUT_MS", A_COMPILE.as_millis().to_string())
        .current_dir(repo_root().join("ui")));
    assert_eq!(check.code, 0, "{check:?}\n{}", dev.lines().join("\n"));
    assert!(check.stdout.contains("dev check: ok"), "{check:?}");
    dev.wait_for("restarted the backend", 1, Duration::from_secs(5));
    // The backend's own log lines, streamed into dev's output.
    dev.wait_for("backend | ", 1, Duration::from_secs(5));
    assert!(
        dev.lines().iter().any(|l| l.starts_with("backend | ") && l.contains("GET /hello")),
        "{}",
        dev.lines().join("\n")
    );
    let relay_port = published_relay_port();

    a_backend_of_another_user_makes_its_socket_in_the_relays_volume();

    let (status, left, lines) = dev.terminate();
    assert!(status.success(), "{status}: {}", lines.join("\n"));
    assert_eq!(left, Vec::<String>::new(), "processes left in the session");
    nothing_of_the_session_is_left(&volume, relay_port);

    // Killed outright: the supervisors stop what dev started. (The edit above was built by
    // the session, so this one starts with nothing to compile.)
    let mut dev = Running::start(ws.command(&["dev", "--browser"]));
    dev.wait_for("The extension runs at http://127.0.0.1:", 1, NO_COMPILE);
    let relay_port = published_relay_port();
    let backend = run(&mut engine().docker(&["ps", "--filter", "name=xtask-dev-", "--format", "{{.Names}}"]));
    let backend = backend.assert_ok().stdout.lines().find(|n| !n.ends_with("-relay")).unwrap().to_string();
    let volume =
        run(&mut engine().docker(&["inspect", "--format", "{{range .Mounts}}{{.Name}}{{end}}", &backend]));
    let volume = volume.assert_ok().stdout.trim().to_string();
    let session = dev.child.id() as i32;
    // SAFETY: kill(2) sends a signal; no memory is involved.
    unsafe { libc::kill(session, libc::SIGKILL) };
    let _ = dev.child.wait();
    let start = Instant::now();
    while !processes_in_session(session).is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(processes_in_session(session), Vec::<String>::new(), "processes left after SIGKILL");
    nothing_of_the_session_is_left(&volume, relay_port);
}

/// The port on 127.0.0.1 the session's relay publishes.
fn published_relay_port() -> u16 {
    let running = run(&mut engine().docker(&["ps", "--filter", "name=xtask-dev-", "--format", "{{.Names}}"]));
    let relay = running.assert_ok().stdout.lines().find(|n| n.ends_with("-relay")).unwrap().to_string();
    let port = run(&mut engine().docker(&["port", &relay, "7070/tcp"]));
    let port = port.assert_ok().stdout.clone();
    let port = port
        .trim()
        .strip_prefix("127.0.0.1:")
        .unwrap_or_else(|| panic!("published on 127.0.0.1 only: {port}"));
    port.parse().unwrap()
}

/// No container, no volume, no listening port of the session's.
fn nothing_of_the_session_is_left(volume: &str, relay_port: u16) {
    let start = Instant::now();
    let left = || {
        let containers =
            run(&mut engine().docker(&["ps", "-a", "--filter", "name=xtask-dev-", "--format", "{{.Names}}"]));
        let containers = containers.assert_ok().stdout.trim().to_string();
        let volume_there = run(&mut engine().docker(&["volume", "inspect", volume])).code == 0;
        let listening = std::net::TcpStream::connect(("127.0.0.1", relay_port)).is_ok();
        (containers, volume_there, listening)
    };
    while left() != (String::new(), false, false) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        left(),
        (String::new(), false, false),
        "(containers, the relay's volume, its port) left behind"
    );
}

/// What a macOS user's session does (dev runs the backend as the user's uid; CI runs as
/// root): the relay opens the volume to every user, and a backend running as uid 1000
/// makes its socket there and answers through the relay.
fn a_backend_of_another_user_makes_its_socket_in_the_relays_volume() {
    let docker = |args: &[&str]| run(&mut engine().docker(args));
    let (relay, backend) = ("xtask-uid-test-relay", "xtask-uid-test-backend");
    docker(&["rm", "-f", "-v", relay, backend]);
    docker(&[
        "run",
        "-d",
        "--rm",
        "--init",
        "--name",
        relay,
        "-v",
        "/run/guest-services",
        "-p",
        "127.0.0.1::7070",
        "--entrypoint",
        "/dev-relay",
        REFERENCE,
        "--listen",
        "0.0.0.0:7070",
        "--socket",
        "/run/guest-services/backend.sock",
        "--open",
        "/run/guest-services",
    ])
    .assert_ok();
    docker(&[
        "run",
        "-d",
        "--rm",
        "--init",
        "--name",
        backend,
        "--network",
        "none",
        "--user",
        "1000:1000",
        "--volumes-from",
        relay,
        REFERENCE,
    ])
    .assert_ok();
    let port = docker(&["port", relay, "7070/tcp"])
        .assert_ok()
        .stdout
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let start = Instant::now();
    let mut answer = String::new();
    while !answer.contains("\"message\":\"Hello from") && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
        answer = http_get(port, "/hello");
    }
    // The socket, seen from this machine (the tests' engine keeps its volumes here).
    let volume = docker(&["inspect", "--format", "{{range .Mounts}}{{.Name}}{{end}}", relay]);
    let volume = volume.assert_ok().stdout.trim().to_string();
    let folder = docker(&["volume", "inspect", "--format", "{{.Mountpoint}}", &volume]);
    let socket = PathBuf::from(folder.assert_ok().stdout.trim()).join("backend.sock");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&socket).unwrap());
    docker(&["rm", "-f", "-v", backend, relay]);
    assert!(
        answer.contains("\"message\":\"Hello from"),
        "uid 1000's backend answers through the relay: {answer}"
    );
    assert_eq!(owner, 1000, "the socket is the backend user's");
}

/// GET PATH on 127.0.0.1:PORT: the whole answer, or "" when there is none.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(stream, "GET {path} HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// POST to the dev server's harness endpoint: what the page's ddClient does.
fn harness_get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let body = format!(r#"{{"method":"GET","path":"{path}"}}"#);
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /__harness/vm HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn in_a_browser_without_an_engine_the_backend_runs_as_a_local_process() {
    let (ws, _turn) = Workspace::new("dev-browser-local");
    let no_engine = format!("unix://{}", ws.dir.join("no-engine.sock").display());
    ws.build_first(&["dev", "--browser"], &[("DOCKER_HOST", no_engine.clone())]);
    let mut command = ws.command(&["dev", "--browser"]);
    command.env("DOCKER_HOST", &no_engine);
    let mut dev = Running::start(command);
    dev.wait_for("The extension runs at http://127.0.0.1:", 1, NO_COMPILE);
    let url = dev.url();
    let answer = harness_get(&url, "/hello");
    assert!(answer.contains(r#"\"message\":\"Hello from the Rust backend\""#), "{answer}");
    // Built for this machine's own target (what macOS takes too), not the image's musl one.
    let backends: Vec<String> = command_lines_in_session(dev.child.id() as i32)
        .into_iter()
        .filter(|c| c.contains("--socket") && !c.contains("__supervise"))
        .collect();
    assert_eq!(backends.len(), 1, "the backend is a process of the session: {backends:?}");
    let host = String::from_utf8(Command::new("rustc").arg("-vV").output().unwrap().stdout).unwrap();
    let host = host.lines().find_map(|l| l.strip_prefix("host: ")).unwrap().to_string();
    assert!(backends[0].contains(&format!("/{host}/debug/")), "{backends:?}");

    ws.touch_source("backend/src/main.rs", "// a change");
    dev.wait_for("restarted the backend", 1, A_COMPILE);
    assert!(harness_get(&url, "/health").contains("200"), "the new backend answers");
    dev.wait_for("backend | ", 1, Duration::from_secs(5));
    assert!(
        dev.lines().iter().any(|l| l.starts_with("backend | ") && l.contains("GET /hello")),
        "the backend's log lines stream into dev's output: {}",
        dev.lines().join("\n")
    );

    let (status, left, lines) = dev.terminate();
    assert!(status.success(), "{status}: {}", lines.join("\n"));
    assert_eq!(left, Vec::<String>::new(), "processes left in the session");
}

/// A compose backend, as most published extensions have (`vm.composefile`): the backend's
/// service beside another it reads, here a small HTTP server in an image built from scratch
/// (no registry can be pulled from). `dev --browser` runs the file's services as one Compose
/// project with the dev image as the extension's own; the backend answers through the relay
/// with what the other service serves; every service's lines are in dev's output; a change to
/// the backend recreates its service only; the stop removes the project's containers, network
/// and own volumes, and leaves an `external` one.
#[test]
fn in_a_browser_a_compose_backend_runs_with_its_other_services() {
    require("busybox");
    let (ws, _turn) = Workspace::new("dev-compose");
    let docker = |args: &[&str]| run(&mut engine().docker(args));

    // The other service: busybox's httpd serving a greeting, an image built here.
    let image = ws.dir.join("greeting-image");
    std::fs::create_dir_all(image.join("www")).unwrap();
    std::fs::copy("/bin/busybox", image.join("busybox")).unwrap();
    std::fs::write(image.join("www/greeting.txt"), "Hello from the greeting service\n").unwrap();
    std::fs::write(
        image.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nENTRYPOINT [\"/bin/busybox\", \"httpd\", \"-f\", \"-vv\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
    )
    .unwrap();
    let mut build = engine().docker(&["buildx", "build", "--load", "--tag", "xtask-test/greeting:1"]);
    build.arg(&image);
    run(&mut build).assert_ok();
    docker(&["volume", "create", "xtask-test-shared"]).assert_ok();

    // The backend reads it: a route of the copy's own.
    let api = ws.root.join("backend/src/api.rs");
    let text = std::fs::read_to_string(&api).unwrap();
    let route = r#".route("/greeting", get(|| async {
            tokio::task::spawn_blocking(|| {
                use std::io::{Read, Write};
                let mut stream = std::net::TcpStream::connect("greeting:8080").map_err(|e| e.to_string())?;
                stream.write_all(b"GET /greeting.txt HTTP/1.0\r\nHost: greeting\r\n\r\n").map_err(|e| e.to_string())?;
                let mut answer = String::new();
                stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
                Ok::<String, String>(answer)
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
            .unwrap_or_else(|e| format!("no greeting: {e}"))
        }))
        .route("/hello", get(hello))"#;
    std::fs::write(&api, text.replacen(r#".route("/hello", get(hello))"#, route, 1)).unwrap();
    let compose = "services:\n  backend:\n    image: ${DESKTOP_PLUGIN_IMAGE}\n    depends_on: [greeting]\n  greeting:\n    image: xtask-test/greeting:1\n    volumes:\n      - shared:/shared\n      - cache:/cache\nvolumes:\n  shared:\n    external: true\n    name: xtask-test-shared\n  cache: {}\n";
    std::fs::write(ws.root.join("extension/docker-compose.yaml"), compose).unwrap();
    let manifest = ws.root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replacen(
        "socket = \"backend.sock\"",
        "socket = \"backend.sock\"\ncompose-file = \"extension/docker-compose.yaml\"",
        1,
    );
    std::fs::write(&manifest, text).unwrap();

    ws.build_first(&["dev", "--browser"], &[]);
    let project_containers = || {
        let listed = docker(&[
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            "{{.Names}} {{.ID}}",
        ]);
        listed
            .assert_ok()
            .stdout
            .lines()
            .filter(|l| l.starts_with("xtask-dev-"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(project_containers(), Vec::<String>::new(), "--browser --once took the project down");

    let mut dev = Running::start(ws.command(&["dev", "--browser"]));
    dev.wait_for("The extension runs at http://127.0.0.1:", 1, NO_COMPILE);
    let url = dev.url();
    let answer = harness_get(&url, "/greeting");
    assert!(answer.contains("Hello from the greeting service"), "{answer}\n{}", dev.lines().join("\n"));
    // Both services' lines, each prefixed with its name by Compose.
    dev.wait_for("greeting-1", 1, Duration::from_secs(20));
    let id_of = |service: &str| {
        project_containers().into_iter().find(|l| l.contains(&format!("-{service}-"))).unwrap_or_default()
    };
    let (backend_before, greeting_before) = (id_of("backend"), id_of("greeting"));
    assert!(!backend_before.is_empty() && !greeting_before.is_empty(), "{:?}", project_containers());

    // A backend change: its service recreated from the new image, the other one kept.
    ws.touch_source("backend/src/main.rs", "// a change");
    dev.wait_for("restarted the backend", 1, A_COMPILE);
    assert_ne!(id_of("backend"), backend_before, "the backend's service is recreated");
    assert_eq!(id_of("greeting"), greeting_before, "the other service keeps running");
    assert!(harness_get(&url, "/greeting").contains("Hello from the greeting service"));

    let (status, left, lines) = dev.terminate();
    assert!(status.success(), "{status}: {}", lines.join("\n"));
    assert_eq!(left, Vec::<String>::new(), "processes left in the session");
    assert_eq!(project_containers(), Vec::<String>::new(), "the project's containers are gone");
    let volumes = docker(&["volume", "ls", "--format", "{{.Name}}"]);
    let volumes = volumes.assert_ok().stdout.clone();
    assert!(
        !volumes.lines().any(|v| v.starts_with("xtask-dev-")),
        "the project's volumes are gone: {volumes}"
    );
    assert!(volumes.lines().any(|v| v == "xtask-test-shared"), "the external volume stays: {volumes}");
    let networks = docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !networks.assert_ok().stdout.lines().any(|n| n.starts_with("xtask-dev-")),
        "the project's network is gone"
    );
    docker(&["volume", "rm", "xtask-test-shared"]).assert_ok();
}
