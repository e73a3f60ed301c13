//! The real Docker engine and registry the tests use: the ones `cargo xtask test` started
//! for the whole run (handed over through `XTASK_TEST_*` variables), or, when a test binary
//! runs on its own, ones it starts for itself (stopped by the kernel when it exits).

use std::process::Command;
use std::sync::OnceLock;

use xtask::services::{self, Services};

use super::repo_root;

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
    ENGINE.get_or_init(|| {
        let var = |name: &str| std::env::var(name).ok();
        if let (Some(docker_host), Some(docker_config), Some(registry), Some(registry_log), Some(path)) = (
            var(services::ENV_DOCKER_HOST),
            var(services::ENV_DOCKER_CONFIG),
            var(services::ENV_REGISTRY),
            var(services::ENV_REGISTRY_LOG),
            var(services::ENV_ENGINE_PATH),
        ) {
            return TestEngine { docker_host, docker_config, registry, registry_log, path };
        }
        start_own()
    })
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
        let sh = xshell::Shell::new().unwrap();
        let tools = camino::Utf8PathBuf::try_from(repo_root().join("target/tools")).unwrap();
        let engine = services::locate_engine(&sh, &tools)
            .expect("no Docker engine for the tests: run `cargo xtask setup --for-tests`");
        remove_stale_service_dirs();
        let dir = camino::Utf8PathBuf::from(format!("{SERVICES_PREFIX}{}", std::process::id()));
        let services = Services::start(&sh, &engine, &dir).expect("starting the test engine");
        sender
            .send(TestEngine {
                docker_host: services.docker_host.clone(),
                docker_config: services.docker_config.to_string(),
                registry: services.registry.clone(),
                registry_log: services.registry_log.to_string(),
                path: services.path.clone(),
            })
            .unwrap();
        let _keep = services;
        loop {
            std::thread::park();
        }
    });
    receiver.recv().expect("the test engine's thread failed (see its panic above)")
}
