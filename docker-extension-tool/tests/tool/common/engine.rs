//! The real Docker engine and registry the tests use: the ones `cargo xtask test` started
//! for the whole run (handed over through `XTASK_TEST_*` variables), or, when a test binary
//! runs on its own, ones it starts for itself (stopped by the kernel when it exits).

use std::process::Command;
use std::sync::OnceLock;

use docker_extension_tool::self_test::TestServices;

use super::{repo_root, run, TempDir};

pub struct TestEngine {
    pub docker_host: String,
    pub docker_config: String,
    /// `127.0.0.1:PORT`.
    pub registry: String,
    pub registry_log: String,
    pub path: String,
}

impl TestEngine {
    /// Points a command at this engine (and nothing else).
    pub fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("DOCKER_HOST", &self.docker_host)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("PATH", &self.path)
    }

    /// `docker ARGS` against this engine.
    pub fn docker(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command.args(args);
        self.apply(&mut command);
        command
    }

    /// How many blob uploads the registry has started so far (from its access log).
    pub fn blob_uploads(&self) -> usize {
        std::fs::read_to_string(&self.registry_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"POST /v2/") && l.contains("/blobs/uploads/"))
            .count()
    }
}

pub fn engine() -> &'static TestEngine {
    static ENGINE: OnceLock<TestEngine> = OnceLock::new();
    ENGINE.get_or_init(|| TestServices::handed_over().map(|s| TestEngine::from(&s)).unwrap_or_else(start_own))
}

impl From<&TestServices> for TestEngine {
    fn from(services: &TestServices) -> TestEngine {
        TestEngine {
            docker_host: services.docker_host.clone(),
            docker_config: services.docker_config.clone(),
            registry: services.registry.clone(),
            registry_log: services.registry_log.clone(),
            path: services.path.clone(),
        }
    }
}

const SERVICES_PREFIX: &str = "/tmp/xtask-test-services-";

/// The folders of services whose test binary has exited (its pid is gone).
fn remove_stale_service_dirs() {
    for entry in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let path = entry.path();
        let Some(pid) = path.to_str().and_then(|p| p.strip_prefix(SERVICES_PREFIX)) else { continue };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Services of this test binary's own, started on a thread that lives as long as the
/// process: the kernel stops them when it exits (`setpriv --pdeathsig`).
fn start_own() -> TestEngine {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        remove_stale_service_dirs();
        let dir = std::path::PathBuf::from(format!("{SERVICES_PREFIX}{}", std::process::id()));
        let services = TestServices::start(&repo_root(), &dir).expect("starting the test engine");
        sender.send(TestEngine::from(&services)).unwrap();
        let _keep = services;
        loop {
            std::thread::park();
        }
    });
    receiver.recv().expect("the test engine's thread failed (see its panic above)")
}

/// A backend container started the way Docker Desktop starts `vm.image`: no network, the
/// guest-services folder bound, the image's own entrypoint. Waits for its socket.
pub struct BackendContainer {
    pub id: String,
    pub socket: std::path::PathBuf,
    _guest: TempDir,
}

impl BackendContainer {
    pub fn start(reference: &str, name: &str) -> BackendContainer {
        let guest = TempDir::for_sockets(name);
        let volume = format!("{}:/run/guest-services", guest.path().display());
        let started =
            run(&mut engine().docker(&["run", "-d", "--network", "none", "-v", &volume, reference]));
        let id = started.assert_ok().stdout.trim().to_string();
        let socket = guest.join("backend.sock");
        let start = std::time::Instant::now();
        while !socket.exists() {
            let waited = start.elapsed() < std::time::Duration::from_secs(20);
            assert!(waited, "no socket: {:?}", run(&mut engine().docker(&["logs", &id])));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        BackendContainer { id, socket, _guest: guest }
    }

    /// `docker stop` (SIGTERM), its exit code, then `docker rm`.
    pub fn stop(self) -> String {
        run(&mut engine().docker(&["stop", "--time", "10", &self.id])).assert_ok();
        let code = run(&mut engine().docker(&["inspect", "--format", "{{.State.ExitCode}}", &self.id]));
        let code = code.assert_ok().stdout.trim().to_string();
        run(&mut engine().docker(&["rm", &self.id])).assert_ok();
        code
    }
}

/// `GET path` over a Unix socket: the status line and the body.
pub fn unix_get(socket: &std::path::Path, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The tests that push to the shared registry take turns (one test binary runs them side by
/// side): its storage takes one push of the same blobs at a time, and some tests count the
/// uploads in its log.
pub fn registry_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
