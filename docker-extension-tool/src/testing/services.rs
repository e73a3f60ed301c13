//! A private Docker engine and registry, for the tests (and anyone who wants one): dockerd
//! with the containerd image store and buildx, and a registry on a free 127.0.0.1 port.
//!
//! Both run on their own socket, data root and port under one folder, reached through
//! `DOCKER_HOST`/`DOCKER_CONFIG` and the registry's address, so nothing touches a Docker the
//! user already runs. `cargo xtask test` starts them once for the whole run and passes them
//! to every test through the environment ([`ENV_DOCKER_HOST`] …); a test binary run on its
//! own starts its own. They are stopped by pid when their owner drops them, and, as a
//! backstop when the owner is killed, by the kernel (`setpriv --pdeathsig`).
//!
//! The engine comes from `cargo xtask setup --for-tests`: the machine's own dockerd when it
//! is new enough (25+, for the containerd store), else Debian 13's packages unpacked under
//! `target/tools/docker-engine` (see [`install_engine`]).

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::util::process::cmd;

use crate::util::process::{Argv, Group};
use crate::workspace::machine::{runs, version};

/// The variables through which `cargo xtask test` hands its services to the tests.
#[cfg(feature = "self-test")]
pub(crate) const ENV_DOCKER_HOST: &str = "XTASK_TEST_DOCKER_HOST";
#[cfg(feature = "self-test")]
pub(crate) const ENV_DOCKER_CONFIG: &str = "XTASK_TEST_DOCKER_CONFIG";
#[cfg(feature = "self-test")]
pub(crate) const ENV_REGISTRY: &str = "XTASK_TEST_REGISTRY";
#[cfg(feature = "self-test")]
pub(crate) const ENV_REGISTRY_LOG: &str = "XTASK_TEST_REGISTRY_LOG";
#[cfg(feature = "self-test")]
pub(crate) const ENV_ENGINE_PATH: &str = "XTASK_TEST_ENGINE_PATH";

/// Debian 13's engine, which runs on Debian 12 when unpacked beside it (with Debian 12's
/// runc: 13's needs a newer glibc).
#[cfg(feature = "self-test")]
const DEBIAN_SUITE: &str = "trixie";
#[cfg(feature = "self-test")]
// tini: docker-init (`docker run --init`, which `dev` uses) is a link to its tini-static.
// docker-compose: Compose v2, the CLI plugin `dev` runs a compose backend with.
const ENGINE_PACKAGES: &[&str] = &["docker.io", "docker-buildx", "containerd", "tini", "docker-compose"];

/// Where the engine's programs are.
#[derive(Debug, Clone)]
pub(crate) struct EngineProgram {
    /// Folders to put first on PATH (dockerd, containerd); empty for the machine's own.
    pub path: Vec<Utf8PathBuf>,
    /// The buildx CLI plugin.
    pub buildx: Utf8PathBuf,
    /// The Compose v2 CLI plugin, when there is one.
    pub compose: Option<Utf8PathBuf>,
}

fn unpacked_root(tools: &Utf8Path) -> Utf8PathBuf {
    tools.join("docker-engine")
}

/// The engine to use: the unpacked one if setup made it, else the machine's own if it is
/// new enough and has buildx.
pub(crate) fn locate_engine(sh: &Shell, tools: &Utf8Path) -> Option<EngineProgram> {
    let root = unpacked_root(tools);
    let buildx = root.join("usr/libexec/docker/cli-plugins/docker-buildx");
    let compose = root.join("usr/libexec/docker/cli-plugins/docker-compose");
    // docker-init is a link into tini's package, Compose a package of its own: an engine
    // unpacked before they were fetched too is fetched again.
    if root.join("usr/sbin/dockerd").is_file()
        && buildx.is_file()
        && compose.is_file()
        && root.join("usr/bin/docker-init").is_file()
    {
        let path = vec![root.join("usr/sbin"), root.join("usr/bin")];
        return Some(EngineProgram { path, buildx, compose: Some(compose) });
    }
    let major = version(sh, "dockerd", &["--version"])
        .and_then(|v| v.split_whitespace().nth(2).and_then(|n| n.split('.').next()?.parse::<u32>().ok()))?;
    let system_buildx =
        ["/usr/libexec/docker/cli-plugins/docker-buildx", "/usr/lib/docker/cli-plugins/docker-buildx"]
            .iter()
            .map(Utf8PathBuf::from)
            .find(|p| p.is_file())?;
    let system_compose =
        ["/usr/libexec/docker/cli-plugins/docker-compose", "/usr/lib/docker/cli-plugins/docker-compose"]
            .iter()
            .map(Utf8PathBuf::from)
            .find(|p| p.is_file());
    (major >= 25).then_some(EngineProgram { path: vec![], buildx: system_buildx, compose: system_compose })
}

/// Installs the engine when no usable one is there: Debian 13's docker.io, docker-buildx
/// and containerd, downloaded with apt from a side source list (the machine's own lists
/// stay as they are) and unpacked under `tools`. Quiet when it is already there.
#[cfg(feature = "self-test")]
pub(crate) fn install_engine(sh: &Shell, tools: &Utf8Path) -> anyhow::Result<()> {
    if locate_engine(sh, tools).is_some() {
        return Ok(());
    }
    if !runs(sh, "apt-get", &["--version"]) || !runs(sh, "dpkg", &["--version"]) {
        bail!(
            "the tests need a Docker engine with the containerd image store (dockerd 25 or \
             later) and buildx, and this is not a Debian-like system to fetch them on: install \
             Docker Engine (https://docs.docker.com/engine/install/) and run the tests again"
        );
    }
    eprintln!(
        "==> Fetching a Docker engine for the tests (Debian {DEBIAN_SUITE}: {})",
        ENGINE_PACKAGES.join(", ")
    );
    let apt = tools.join("apt");
    let (lists, debs) = (apt.join("lists"), apt.join("debs"));
    sh.create_dir(lists.join("partial"))?;
    sh.create_dir(debs.join("partial"))?;
    let sources = apt.join("sources.list");
    sh.write_file(&sources, format!("deb http://deb.debian.org/debian {DEBIAN_SUITE} main\n"))?;
    let options = [
        format!("Dir::Etc::sourcelist={sources}"),
        "Dir::Etc::sourceparts=-".to_string(),
        format!("Dir::State::Lists={lists}"),
        format!("Dir::Cache::archives={debs}"),
        "APT::Sandbox::User=root".to_string(),
    ];
    let options: Vec<String> = options.iter().flat_map(|o| ["-o".to_string(), o.clone()]).collect();
    let apt_options = &options;
    cmd!(sh, "apt-get {apt_options...} update -qq")?
        .quiet()
        .ignore_stdout()
        .run()
        .context("apt-get update (Debian trixie lists) failed")?;
    let packages = ENGINE_PACKAGES;
    {
        let _dir = sh.push_dir(&debs);
        cmd!(sh, "apt-get {options...} download -qq {packages...}")?
            .quiet()
            .ignore_stdout()
            .run()
            .context("downloading the Docker engine packages failed")?;
    }
    // Unpacked beside, then renamed: an interrupted install leaves nothing half-there.
    let root = unpacked_root(tools);
    let staging = tools.join(".docker-engine.partial");
    if staging.exists() {
        sh.remove_path(&staging)?;
    }
    for deb in sh.read_dir(&debs)? {
        if deb.extension().is_some_and(|e| e == "deb") {
            cmd!(sh, "dpkg -x {deb} {staging}")?.quiet().run().context("unpacking the engine")?;
        }
    }
    // An older unpacking (this function's own) is replaced whole.
    let old = tools.join(".docker-engine.old");
    if root.exists() {
        if old.exists() {
            sh.remove_path(&old)?;
        }
        std::fs::rename(&root, &old).with_context(|| format!("renaming {root} to {old}"))?;
    }
    std::fs::rename(&staging, &root).with_context(|| format!("renaming {staging} to {root}"))?;
    if old.exists() {
        sh.remove_path(&old)?;
    }
    sh.remove_path(&debs)?;
    Ok(())
}

/// A running dockerd and registry, stopped when dropped.
pub(crate) struct Services {
    pub dir: Utf8PathBuf,
    pub docker_host: String,
    pub docker_config: Utf8PathBuf,
    /// `127.0.0.1:PORT`.
    pub registry: String,
    /// The registry's access log (the tests count uploads in it).
    #[cfg_attr(not(feature = "self-test"), allow(dead_code))]
    pub registry_log: Utf8PathBuf,
    /// PATH with the engine's programs first.
    pub path: String,
    dockerd: Group,
    registry_process: Group,
}

/// Detaches what a killed run's dockerd left mounted under `dir` (its data root is bound
/// onto itself; container file systems, network namespaces), deepest first, so the folder
/// can be emptied. Only mounts under `dir`, which this module's engine made, are touched.
#[cfg(target_os = "linux")]
fn unmount_leftovers(dir: &Utf8Path) -> anyhow::Result<()> {
    let dir = crate::util::files::canonical(dir).with_context(|| format!("resolving {dir}"))?;
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else { return Ok(()) };
    let mut leftovers: Vec<String> = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        // /proc/mounts writes a space, tab, newline and backslash as octal escapes.
        .map(|point| {
            point.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
        })
        .filter(|point| Utf8Path::new(point).starts_with(&dir))
        .collect();
    leftovers.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in leftovers {
        let c_point = std::ffi::CString::new(point.as_str()).context("a mount point with a NUL")?;
        // SAFETY: a valid C string; MNT_DETACH only detaches the mount from this path.
        if unsafe { libc::umount2(c_point.as_ptr(), libc::MNT_DETACH) } != 0 {
            let error = std::io::Error::last_os_error();
            bail!(
                "unmounting {point}, left mounted by an earlier run's engine: {error} (umount -l it as root)"
            );
        }
    }
    Ok(())
}

/// Elsewhere the engine runs in a VM: nothing of it is mounted here.
#[cfg(not(target_os = "linux"))]
fn unmount_leftovers(_dir: &Utf8Path) -> anyhow::Result<()> {
    Ok(())
}

impl Services {
    /// Starts both under `dir` (emptied first). `dir` should be short: Unix socket paths
    /// have a length limit of about 100 bytes.
    pub(crate) fn start(sh: &Shell, engine: &EngineProgram, dir: &Utf8Path) -> anyhow::Result<Services> {
        if dir.exists() {
            unmount_leftovers(dir)?;
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {dir}"))?;
        }
        let docker_config = dir.join("config");
        std::fs::create_dir_all(docker_config.join("cli-plugins"))?;
        std::os::unix::fs::symlink(&engine.buildx, docker_config.join("cli-plugins/docker-buildx"))?;
        if let Some(compose) = &engine.compose {
            std::os::unix::fs::symlink(compose, docker_config.join("cli-plugins/docker-compose"))?;
        }
        std::fs::write(docker_config.join("config.json"), "{}\n")?;
        let daemon_json = dir.join("daemon.json");
        std::fs::write(
            &daemon_json,
            r#"{"features": {"containerd-snapshotter": true}, "iptables": false, "ip6tables": false, "userland-proxy": true}"#,
        )?;
        let socket = dir.join("docker.sock");
        let docker_host = format!("unix://{socket}");
        let mut path: Vec<String> = engine.path.iter().map(std::string::ToString::to_string).collect();
        path.extend(std::env::var("PATH").ok());
        let path = path.join(":");

        let (data, exec) = (dir.join("data"), dir.join("exec"));
        let pidfile = dir.join("docker.pid");
        let log = std::fs::File::create(dir.join("dockerd.log"))?;
        let dockerd = spawn_supervised(
            sh,
            "dockerd",
            &[
                "--config-file",
                daemon_json.as_str(),
                "--data-root",
                data.as_str(),
                "--exec-root",
                exec.as_str(),
                "-H",
                &docker_host,
                "--pidfile",
                pidfile.as_str(),
            ],
            &path,
            log,
        )
        .context("starting dockerd")?;

        let port = crate::util::process::free_port()?;
        let registry = format!("127.0.0.1:{port}");
        let registry_config = dir.join("registry.yml");
        std::fs::write(
            &registry_config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {registry}\n",
                dir.join("registry-data")
            ),
        )?;
        let registry_log = dir.join("registry.log");
        let log = std::fs::File::create(&registry_log)?;
        let registry_process =
            spawn_supervised(sh, "docker-registry", &["serve", registry_config.as_str()], &path, log)
                .context("starting docker-registry (apt-get install docker-registry)")?;

        let services = Services {
            dir: dir.to_path_buf(),
            docker_host,
            docker_config,
            registry,
            registry_log,
            path,
            dockerd,
            registry_process,
        };
        services.wait_ready(sh)?;
        Ok(services)
    }

    fn wait_ready(&self, sh: &Shell) -> anyhow::Result<()> {
        let start = Instant::now();
        let _env = self.push_env(sh);
        let registry_url = format!("http://{}/v2/", self.registry);
        loop {
            let docker = crate::pipeline::engine::docker_answers(sh);
            let registry = std::net::TcpStream::connect(&self.registry).is_ok();
            if docker && registry {
                // buildx sets up its state in DOCKER_CONFIG on first use: once, here, rather
                // than racing in the first tests that run it at the same time.
                cmd!(sh, "docker buildx inspect")?
                    .quiet()
                    .ignore_stdout()
                    .run()
                    .context("docker buildx inspect")?;
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                bail!(
                    "the test engine did not come up in 60 s (docker answers: {docker}, registry {registry_url} \
                     answers: {registry}); the end of {}/dockerd.log:\n{}",
                    self.dir,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The environment a client needs: `DOCKER_HOST`, `DOCKER_CONFIG` and PATH.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DOCKER_HOST", self.docker_host.clone()),
            ("DOCKER_CONFIG", self.docker_config.to_string()),
            ("PATH", self.path.clone()),
        ]
    }

    /// The same, for the tests of a `cargo xtask test` run.
    #[cfg(feature = "self-test")]
    pub(crate) fn test_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (ENV_DOCKER_HOST, self.docker_host.clone()),
            (ENV_DOCKER_CONFIG, self.docker_config.to_string()),
            (ENV_REGISTRY, self.registry.clone()),
            (ENV_REGISTRY_LOG, self.registry_log.to_string()),
            (ENV_ENGINE_PATH, self.path.clone()),
        ]
    }

    fn push_env<'a>(&self, sh: &'a Shell) -> Vec<xshell::PushEnv<'a>> {
        self.env().into_iter().map(|(k, v)| sh.push_env(k, v)).collect()
    }

    /// Stops both by pid: SIGTERM, then SIGKILL after 20 s.
    pub(crate) fn stop(&mut self) {
        for process in [&mut self.dockerd, &mut self.registry_process] {
            process.stop(Duration::from_secs(20));
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns a long-running program that the kernel stops when this process dies
/// (`setpriv --pdeathsig TERM`, where util-linux has it), in its own process group.
fn spawn_supervised(
    sh: &Shell,
    program: &str,
    args: &[&str],
    path: &str,
    log: std::fs::File,
) -> anyhow::Result<Group> {
    let argv = if runs(sh, "setpriv", &["--version"]) {
        Argv::new("setpriv", ["--pdeathsig", "TERM", "--", program]).with(args)
    } else {
        Argv::new(program, args)
    };
    let mut command: std::process::Command = argv.cmd(sh)?.env("PATH", path).into();
    let err = log.try_clone()?;
    command.stdin(Stdio::null()).stdout(log).stderr(err);
    Group::spawn(&argv.to_string(), command)
}
