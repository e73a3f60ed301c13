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
        let buildx = Path::new(&engine().docker_config).join("cli-plugins/docker-buildx");
        std::os::unix::fs::symlink(std::fs::read_link(&buildx).unwrap(), plugins.join("docker-buildx"))
            .unwrap();
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
    dev.wait_for("Watching the backend", 1, Duration::from_secs(180));
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
    dev.wait_for("rebuilt backend", 1, Duration::from_secs(120));
    let updates = |ws: &Workspace| ws.calls().iter().filter(|c| c[0] == "update").count();
    let after_first = updates(&ws);
    assert_eq!(after_first, 3, "one more update: {:?}", ws.calls());

    // Two saves within the debounce: one rebuild.
    ws.touch_source("backend/src/main.rs", "// second change");
    std::thread::sleep(Duration::from_millis(60));
    ws.touch_source("backend/src/main.rs", "// third change");
    dev.wait_for("rebuilt backend", 2, Duration::from_secs(120));
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
    let mut dev = Running::start(ws.command(&["dev", "--browser"]));
    dev.wait_for("The extension runs at http://127.0.0.1:", 1, Duration::from_secs(240));
    let url = dev.url();
    let containers =
        run(&mut engine().docker(&["ps", "--filter", "name=xtask-dev-", "--format", "{{.Image}}"]));
    assert!(
        containers.assert_ok().stdout.contains(REFERENCE),
        "the backend runs as a container from the image: {containers:?}"
    );

    // Chromium: both buttons answer; then the greeting is edited in the source and the
    // page shows the new one after the rebuild, with no manual step.
    let api = ws.root.join("backend/src/api.rs");
    let script = repo_root().join("ui/harness/dev-check.mjs");
    let check = run(Command::new("node")
        .arg(&script)
        .args([url.as_str(), "Hello from the Rust backend", "Hello from the edited backend"])
        .arg(&api)
        .current_dir(repo_root().join("ui")));
    assert_eq!(check.code, 0, "{check:?}\n{}", dev.lines().join("\n"));
    assert!(check.stdout.contains("dev check: ok"), "{check:?}");
    dev.wait_for("restarted the backend", 1, Duration::from_secs(5));

    let (status, left, lines) = dev.terminate();
    assert!(status.success(), "{status}: {}", lines.join("\n"));
    assert_eq!(left, Vec::<String>::new(), "processes left in the session");
    let containers =
        run(&mut engine().docker(&["ps", "-a", "--filter", "name=xtask-dev-", "--format", "{{.Names}}"]));
    assert_eq!(containers.assert_ok().stdout.trim(), "", "the backend's container is removed");
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
    let mut command = ws.command(&["dev", "--browser"]);
    command.env("DOCKER_HOST", format!("unix://{}", ws.dir.join("no-engine.sock").display()));
    let mut dev = Running::start(command);
    dev.wait_for("The extension runs at http://127.0.0.1:", 1, Duration::from_secs(240));
    let url = dev.url();
    let answer = harness_get(&url, "/hello");
    assert!(answer.contains(r#"\"message\":\"Hello from the Rust backend\""#), "{answer}");
    let backends: Vec<String> =
        processes_in_session(dev.child.id() as i32).into_iter().filter(|p| p.contains("(backend")).collect();
    assert_eq!(backends.len(), 1, "the backend is a process of the session: {backends:?}");

    ws.touch_source("backend/src/main.rs", "// a change");
    dev.wait_for("restarted the backend", 1, Duration::from_secs(120));
    assert!(harness_get(&url, "/health").contains("200"), "the new backend answers");

    let (status, left, lines) = dev.terminate();
    assert!(status.success(), "{status}: {}", lines.join("\n"));
    assert_eq!(left, Vec::<String>::new(), "processes left in the session");
}
