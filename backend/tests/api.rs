//! The backend, run as a real process on a real Unix socket (where there are: the backend
//! runs in Docker Desktop's Linux VM; on Windows these tests are compiled out).
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the reason

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const BACKEND: &str = env!("CARGO_BIN_EXE_rust-starter-backend");

/// A backend process on a socket in its own temp folder; killed and cleaned up on drop.
struct Backend {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    stderr_file: PathBuf,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn temp_dir() -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("backend-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Backend {
    fn start() -> Backend {
        Backend::start_in(temp_dir())
    }

    fn start_in(dir: PathBuf) -> Backend {
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("backend.sock");
        let stderr_file = dir.join("stderr.log");
        let child = Command::new(BACKEND)
            .arg("--socket")
            .arg(&socket)
            .stderr(std::fs::File::create(&stderr_file).unwrap())
            .spawn()
            .unwrap();
        let backend = Backend { child, dir, socket, stderr_file };
        let start = Instant::now();
        while UnixStream::connect(&backend.socket).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "the backend did not start listening");
            thread::sleep(Duration::from_millis(20));
        }
        backend
    }

    fn get(&self, path: &str) -> Response {
        request(&self.socket, "GET", path, None, b"")
    }

    fn post_json(&self, path: &str, body: &str) -> Response {
        request(&self.socket, "POST", path, Some("application/json"), body.as_bytes())
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: String,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`, so the body ends at EOF).
fn request(socket: &Path, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Response {
    let mut stream = UnixStream::connect(socket).expect("connect to the backend");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and stop reading before the whole body is sent.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let status = headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    Response { status, headers: headers.to_string(), body: body.to_string() }
}

#[test]
fn routes() {
    let backend = Backend::start();

    let hello = backend.get("/hello");
    assert_eq!(hello.status, 200);
    assert!(hello.headers.to_lowercase().contains("content-type: application/json"), "{}", hello.headers);
    let json = hello.json();
    assert_eq!(json["message"], "Hello from the Rust backend");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["arch"], std::env::consts::ARCH);

    assert_eq!(backend.get("/health").json(), serde_json::json!({ "status": "ok" }));

    let echo = backend.post_json("/echo", r#"{"message": "  hi there "}"#);
    assert_eq!(echo.status, 200);
    assert_eq!(echo.json(), serde_json::json!({ "message": "hi there", "length": 8 }));

    // Each bad input: its status, and a JSON error saying what is wrong.
    // (method, path, content type, body, status, part of the error message)
    type BadRequest<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, &'a str);
    let cases: &[BadRequest] = &[
        ("POST", "/echo", Some("application/json"), "{not json", 400, "Failed to parse"),
        ("POST", "/echo", Some("application/json"), r#"{"msg": "x"}"#, 422, "unknown field `msg`"),
        ("POST", "/echo", Some("application/json"), r#"{"message": "   "}"#, 422, "must not be empty"),
        ("POST", "/echo", Some("text/plain"), r#"{"message": "x"}"#, 415, "Content-Type"),
        ("GET", "/nope", None, "", 404, "no route for GET /nope"),
        ("DELETE", "/hello", None, "", 405, "/hello does not take DELETE"),
    ];
    for (method, path, content_type, body, status, message) in cases {
        let response = request(&backend.socket, method, path, *content_type, body.as_bytes());
        assert_eq!(response.status, *status, "{method} {path} {body}: {}", response.body);
        let json = response.json();
        assert_eq!(json["status"], *status);
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(message), "{method} {path}: {error:?} should contain {message:?}");
    }
    let long = format!(r#"{{"message": "{}"}}"#, "x".repeat(1001));
    let response = backend.post_json("/echo", &long);
    assert_eq!(response.status, 422);
    assert!(response.json()["error"].as_str().unwrap().contains("1001 characters"));

    // One log line per request, with method, path and status.
    let log = backend.stderr();
    assert!(log.contains("GET /hello 200"), "{log}");
    assert!(log.contains("GET /nope 404"), "{log}");
    assert!(log.contains("POST /echo 415"), "{log}");
}

#[test]
fn many_concurrent_clients_all_get_answers() {
    let backend = Backend::start();
    let socket = backend.socket.clone();
    let clients: Vec<_> = (0..50)
        .map(|client| {
            let socket = socket.clone();
            thread::spawn(move || {
                (0..4)
                    .map(|i| {
                        let body = format!(r#"{{"message": "client {client} request {i}"}}"#);
                        let response =
                            request(&socket, "POST", "/echo", Some("application/json"), body.as_bytes());
                        assert_eq!(response.status, 200);
                        assert_eq!(response.json()["message"], format!("client {client} request {i}"));
                    })
                    .count()
            })
        })
        .collect();
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(answered, 200);
    assert_eq!(backend.stderr().matches("POST /echo 200").count(), 200);
}

#[test]
fn oversized_body_gets_413_and_the_server_keeps_serving() {
    let backend = Backend::start();
    let big = format!(r#"{{"message": "{}"}}"#, "x".repeat(100 * 1024));
    let response = backend.post_json("/echo", &big);
    assert_eq!(response.status, 413);
    assert!(response.json()["error"].as_str().unwrap().contains("65536-byte limit"));
    assert_eq!(backend.get("/health").status, 200);
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    let mut backend = Backend::start();
    let socket = backend.socket.clone();
    let slow = thread::spawn(move || request(&socket, "GET", "/hello?delay_ms=800", None, b""));
    thread::sleep(Duration::from_millis(300));
    backend.signal("TERM");
    let response = slow.join().unwrap();
    assert_eq!(response.status, 200, "the request in flight completes");
    assert_eq!(response.json()["message"], "Hello from the Rust backend");
    let done = Instant::now();
    let status = loop {
        if let Some(status) = backend.child.try_wait().unwrap() {
            break status;
        }
        assert!(done.elapsed() < Duration::from_secs(1), "still running a second after its last request");
        thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
    assert!(!backend.socket.exists(), "the socket file is removed");
    assert!(backend.stderr().contains("SIGTERM: finishing requests in flight"));
}

#[test]
fn sigint_stops_an_idle_server() {
    let mut backend = Backend::start();
    backend.signal("INT");
    let start = Instant::now();
    while backend.child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(1));
        thread::sleep(Duration::from_millis(10));
    }
    assert!(!backend.socket.exists());
}

#[test]
fn replaces_a_stale_socket_file() {
    let dir = temp_dir();
    // A socket file nobody listens on, as a killed backend leaves behind.
    drop(std::os::unix::net::UnixListener::bind(dir.join("backend.sock")).unwrap());
    assert!(dir.join("backend.sock").exists());
    let backend = Backend::start_in(dir);
    assert_eq!(backend.get("/health").status, 200);
    assert!(backend.stderr().contains("removed a stale socket file"));
}

fn run_backend(args: &[&str]) -> (i32, String) {
    let output = Command::new(BACKEND).args(args).stdin(Stdio::null()).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn refuses_what_it_cannot_use() {
    let (code, stderr) = run_backend(&["--socket", "/nonexistent-folder/backend.sock"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the folder /nonexistent-folder does not exist"), "{stderr}");

    let dir = temp_dir();
    let file = dir.join("not-a-socket");
    std::fs::write(&file, "data").unwrap();
    let (code, stderr) = run_backend(&["--socket", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("exists and is not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "data", "the file is left alone");

    let backend = Backend::start_in(dir.join("live"));
    let (code, stderr) = run_backend(&["--socket", backend.socket.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("another server is already listening"), "{stderr}");

    // A folder this user cannot write to. Root ignores permission bits, so as root the
    // backend runs as `nobody` (setpriv, from util-linux).
    let locked = dir.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let socket = locked.join("backend.sock");
    let is_root = Command::new("id").arg("-u").output().unwrap().stdout.starts_with(b"0\n");
    let mut command = if is_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BACKEND]);
        c
    } else {
        Command::new(BACKEND)
    };
    let output = command.arg("--socket").arg(&socket).stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("the folder {} is not writable by this user", locked.display())),
        "{stderr}"
    );

    let (code, stderr) = run_backend(&["--port", "80"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unexpected argument `--port`"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
