//! `cargo xtask dev`: the local dev loop, with Docker Desktop or in a plain browser.
//!
//! The plan is dist's, narrowed to this machine: this CPU's image variant, this OS's host
//! binaries, cargo's dev profile (a one-line change rebuilds in under a second, where the
//! release profile's LTO takes several), a context of its own (under `target/xtask/dev/`) and
//! the one-platform image written by the builtin engine (a few hundredths of a second) and
//! `docker load`ed as `IMAGE:dev`, so a dev build never takes a release tag's name.
//!
//! Then one of two sessions:
//! * Docker Desktop: `docker extension install -f` (or `update -f` when `ls` lists it), the
//!   UI's dev server (Vite, hot reload) on a free port, `docker extension dev ui-source`
//!   pointing the tab at it, and `dev debug` with `--debug`; `dev reset` at the end.
//! * `--browser`: the backend as Docker Desktop runs `vm.image`: a container from the image,
//!   with no network, making its socket in `/run/guest-services`. That folder is a volume,
//!   never a bind mount: Docker Desktop (macOS, Windows, Docker Desktop for Linux) runs
//!   containers in a VM, and a Unix socket in a bind mount cannot be reached from the host.
//!   The dev image (only it) carries a relay (`relay`), run in a container of its own on the
//!   same volume, publishing a port on 127.0.0.1 and relaying each connection to the
//!   socket: the same path on every OS. With no engine, the backend runs as a local process
//!   built for this machine's own target (Linux, macOS; Windows cannot run it). Either
//!   way its log lines stream into dev's output (`backend | …`). The dev server runs with the
//!   harness's stand-in Docker Desktop (`ui/harness/vite-plugin.mjs`, the same one the UI's
//!   browser test uses).
//!
//! Both watch the backend, the host binaries, the config's folders and `Cargo.toml`
//! (notify, debounced), rebuild only the cargo runs a change touches, and update the
//! extension or restart the backend: one line per rebuild, printed once the new backend
//! answers. Ctrl-C or SIGTERM stops every process the session started (whole process groups)
//! and resets Docker Desktop's tab; killed outright, each group's supervisor stops it
//! (`util::process`), and the containers, started attached with `--rm`, go with it.

mod compose;
mod relay;

use std::collections::BTreeSet;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use notify::{RecursiveMode, Watcher};
use xshell::Shell;

use crate::util::process::cmd;

use crate::builders::cargo::{ArtifactKey, Artifacts};
use crate::context::ownership::Ledger;
use crate::model::targets::Os;
use crate::pipeline;
use crate::plan::dev::{dev_plan, DevRequest};
use crate::plan::image::Check;
use crate::plan::{CargoRun, ImageStep, Plan};
use crate::util::process::{self, Group};
use crate::util::report::Report;
use crate::workspace::config::Protected;
use crate::workspace::config::{current_dir, Backend, Config, HOST_BINARIES_DIR};
use crate::workspace::machine::{runs, Machine};

/// The tag of dev images: never a release's.
/// How long the watch waits for changes to settle (an editor's save is several events).
const DEBOUNCE: Duration = Duration::from_millis(300);
/// How long a child gets to stop after SIGTERM.
const GRACE: Duration = Duration::from_secs(5);

/// What `dev` was asked for (its flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// In a plain browser, without Docker Desktop.
    pub browser: bool,
    /// Build, install or update, then exit; with `browser`: build, start, and stop once
    /// the backend and the dev server answer.
    pub once: bool,
    /// Also open devtools on Docker Desktop's tab.
    pub debug: bool,
    /// The UI dev server's port (a free one when not given).
    pub port: Option<u16>,
    /// Where to append one JSON line per event (ready, each rebuild), for scripts and
    /// `bench`.
    pub events: Option<Utf8PathBuf>,
}

/// Runs a dev session until Ctrl-C or SIGTERM (or once, with `--once`), stopping every
/// process it started.
pub(crate) fn run(sh: &Shell, options: Options) -> anyhow::Result<()> {
    process::catch_stop_signals();
    let mut session = Session::new(sh, options)?;
    let once = session.flags.once;
    let result = session.start().and_then(|()| if once { Ok(()) } else { session.watch() });
    session.stop();
    process::stopped_everything();
    result
}

/// What a rebuild delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivered {
    /// `--browser`: the new backend answers.
    BackendRestarted,
    HostBinariesInPlace,
    /// Docker Desktop: the extension was updated (this reference).
    Updated(String),
}

impl Delivered {
    /// What `--events` says (a reader matches it, not the sentence).
    fn key(&self) -> &'static str {
        match self {
            Delivered::BackendRestarted => "backend-restarted",
            Delivered::HostBinariesInPlace => "host-binaries-in-place",
            Delivered::Updated(_) => "extension-updated",
        }
    }
}

impl std::fmt::Display for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivered::BackendRestarted => f.write_str("restarted the backend"),
            Delivered::HostBinariesInPlace => f.write_str("the host binaries are in place"),
            Delivered::Updated(reference) => write!(f, "updated {reference}"),
        }
    }
}

/// What a change touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Backend,
    HostBinaries,
    /// The config or the files it names: everything is planned again.
    Config,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Backend => "backend",
            Part::HostBinaries => "host binaries",
            Part::Config => "config",
        }
    }
}

struct Session<'a> {
    sh: &'a Shell,
    /// What the session prints (quiet while it watches).
    report: Report,
    flags: Options,
    root: Utf8PathBuf,
    config: Config,
    /// The config narrowed to this machine (this OS's host binaries, the dev tag).
    dev_config: Config,
    machine: Machine,
    plan: Plan,
    artifacts: Artifacts,
    protected: Protected,
    ledger: Ledger,
    /// A Docker engine answers (Docker Desktop's, or any in `--browser`).
    docker: bool,
    /// The UI dev server's port, when there is a UI.
    port: Option<u16>,
    /// Where the backend makes its socket when it runs as a local process (`--browser`, no
    /// engine).
    guest: Utf8PathBuf,
    dev_server: Option<Group>,
    /// `--browser`: the backend, as a local process or an attached `docker run`.
    backend: Option<Group>,
    /// `--browser` with an engine: the relay's attached `docker run`.
    relay: Option<Group>,
    /// `--browser` with an engine and a compose backend: the session's Compose project.
    compose: Option<compose::Project>,
    /// The port on 127.0.0.1 the relay publishes (the session's, kept across restarts).
    relay_port: Option<u16>,
    /// Docker Desktop's tab points at the dev server: reset it at the end.
    ui_source_set: bool,
}

impl<'a> Session<'a> {
    fn new(sh: &'a Shell, flags: Options) -> anyhow::Result<Session<'a>> {
        let cwd = current_dir()?;
        let config = Config::load(&cwd)?;
        sh.change_dir(&config.root);
        let machine = Machine::probe(sh, &config)?;
        let docker = crate::pipeline::engine::docker_answers(sh);
        if !flags.browser {
            require_docker_desktop(
                sh,
                "Without Docker Desktop, run the extension in a plain browser: cargo xtask dev --browser",
            )?;
        }
        // Docker Desktop's --once installs and exits: no dev server.
        let dev_server = !flags.once || flags.browser;
        let port = match (&config.ui, flags.port, dev_server) {
            (None, _, _) | (_, _, false) => None,
            (Some(_), Some(port), _) => {
                if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                    bail!("--port {port}: the port is taken (another program listens on it): give another --port, or leave --port out to take a free one");
                }
                Some(port)
            }
            (Some(_), None, _) => Some(process::free_port()?),
        };
        let relay_manifest = relay::write_package(&dev_dir(&config).join("relay"))?;
        let (dev_config, plan) = plan_for_dev(&config, &machine, docker, &relay_manifest)?;
        let relay_port = match (&config.backend, docker && flags.browser) {
            (Some(_), true) => Some(process::free_port()?),
            _ => None,
        };
        if !docker && flags.browser && config.backend.is_some() && cfg!(windows) {
            bail!(
                "no Docker engine answers, and on Windows the backend (a Unix-socket server for \
                 Docker Desktop's Linux VM) cannot run as a local process: start Docker Desktop, \
                 then run `cargo xtask dev --browser` again"
            );
        }
        Ok(Session {
            sh,
            report: Report::new(),
            root: config.root.clone(),
            protected: config.protected(),
            ledger: Ledger::open(&config.target_dir),
            guest: guest_dir(&config),
            config,
            dev_config,
            machine,
            plan,
            artifacts: Artifacts::new(),
            docker,
            port,
            dev_server: None,
            backend: None,
            relay: None,
            compose: None,
            relay_port,
            ui_source_set: false,
            flags,
        })
    }

    /// The first build, then the session's processes.
    fn start(&mut self) -> anyhow::Result<()> {
        self.report.step("Checking the toolchain", || {
            crate::builders::tools::ensure_for(self.sh, &self.plan.cargo_runs, &self.config.tools_dir())
        })?;
        self.build(&[Part::Config].into_iter().collect())?;
        if self.flags.browser {
            self.start_backend()?;
            self.start_dev_server()?;
            let stop = if self.flags.once { "--once: stopping it now" } else { "Ctrl-C stops it" };
            match self.port {
                Some(port) => println!(
                    "The extension runs at http://127.0.0.1:{port}/ with a stand-in Docker Desktop ({stop})."
                ),
                None => println!("The backend runs; the extension has no UI to show ({stop})."),
            }
        } else {
            let installed = self.install_or_update()?;
            println!("{} {}", if installed { "Installed" } else { "Updated" }, self.plan.reference);
            if self.flags.once {
                return Ok(());
            }
            self.start_dev_server()?;
            self.point_docker_desktop()?;
            println!("Docker Desktop shows {} with hot reload (Ctrl-C stops it).", self.plan.reference);
            if self.config.backend.is_some() {
                println!(
                    "The backend's logs: Docker Desktop hides extension containers; turn on Settings > \
                     Extensions > Show Docker Extensions system containers, then see the backend's \
                     container in Containers (or `docker ps`, `docker logs`). `--browser` prints them here."
                );
            }
        }
        Ok(())
    }

    /// Compiles what `parts` touch, lays out the context, writes and loads the image.
    fn build(&mut self, parts: &BTreeSet<Part>) -> anyhow::Result<()> {
        if parts.contains(&Part::Config) {
            self.config = Config::load(&self.root)?;
            self.protected = self.config.protected();
            let relay_manifest = relay::write_package(&dev_dir(&self.config).join("relay"))?;
            let (dev_config, plan) = plan_for_dev(&self.config, &self.machine, self.docker, &relay_manifest)?;
            self.dev_config = dev_config;
            self.plan = plan;
        }
        let backend = self.config.backend.as_ref().map(|b| b.package.clone());
        let touched = |run: &&CargoRun| {
            parts.contains(&Part::Config)
                || run.packages.iter().any(|p| {
                    let is_backend = backend.as_ref() == Some(p);
                    (is_backend && parts.contains(&Part::Backend))
                        || (!is_backend && parts.contains(&Part::HostBinaries))
                })
        };
        let runs: Vec<&CargoRun> = self.plan.cargo_runs.iter().filter(touched).collect();
        pipeline::compile(self.sh, &self.report, &self.config, runs.into_iter(), &mut self.artifacts)?;
        if parts.contains(&Part::Config) {
            // The contract's package is a member: its changes are the config's part.
            let changes = pipeline::generate_contract(self.sh, &self.report, &self.config, &self.plan)?;
            pipeline::build_ui(self.sh, &self.report, &self.config, &self.plan, &changes)?;
            pipeline::fetch_downloads(self.sh, &self.report, &self.config, &self.plan)?;
        }
        pipeline::lay_out(&self.report, &self.dev_config, &self.plan, &self.artifacts, &self.protected)?;
        if let ImageStep::Build(build) = &self.plan.image {
            let (sh, report, ledger) = (self.sh, &self.report, &mut self.ledger);
            report.step("Loading the image", || build.run(sh, report, ledger))?;
        }
        Ok(())
    }

    // ---- Docker Desktop -----------------------------------------------------------------

    /// `install -f`, or `update -f` when Docker Desktop lists the extension. True: installed.
    fn install_or_update(&self) -> anyhow::Result<bool> {
        let sh = self.sh;
        let listed =
            cmd!(sh, "docker extension ls")?.quiet().read().context("`docker extension ls` failed")?;
        let installed = is_listed(&listed, self.dev_config.reference.repository());
        let verb = if installed { "update" } else { "install" };
        let reference = self.plan.reference.to_string();
        let output = cmd!(sh, "docker extension {verb} -f {reference}")?.quiet().ignore_status().output()?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr).to_string()
                + &String::from_utf8_lossy(&output.stdout);
            if said.contains("Marketplace") {
                bail!(
                    "Docker Desktop refused to {verb} {reference}: it allows only extensions from the \
                     Marketplace. Turn off Settings > Extensions > \"Allow only extensions distributed \
                     through the Docker Marketplace\", then run `cargo xtask dev` again"
                );
            }
            bail!("`docker extension {verb} -f {reference}` failed: {}", said.trim());
        }
        Ok(!installed)
    }

    /// The tab loads the UI from the dev server; `--debug` opens its devtools.
    fn point_docker_desktop(&mut self) -> anyhow::Result<()> {
        let sh = self.sh;
        let reference = self.plan.reference.to_string();
        if let Some(port) = self.port {
            let url = format!("http://localhost:{port}");
            cmd!(sh, "docker extension dev ui-source {reference} {url}")?.quiet().ignore_stdout().run()?;
            self.ui_source_set = true;
        }
        if self.flags.debug {
            cmd!(sh, "docker extension dev debug {reference}")?.quiet().ignore_stdout().run()?;
        }
        Ok(())
    }

    // ---- The browser --------------------------------------------------------------------

    /// The backend, as Docker Desktop runs `vm.image` (a container from the image, reached
    /// through the relay), or a local process when no engine answers; returns once it
    /// answers.
    fn start_backend(&mut self) -> anyhow::Result<()> {
        let Some(backend) = self.config.backend.clone() else { return Ok(()) };
        if let (Some(port), Some(file)) = (self.relay_port, backend.compose_file.clone()) {
            return self.start_compose(&backend, port, &file);
        }
        self.stop_backend();
        let sh = self.sh;
        if let Some(port) = self.relay_port {
            let name = container_name(&self.root);
            let relay_name = format!("{name}-relay");
            let reference = self.plan.reference.to_string();
            if self.relay.is_none() {
                // An anonymous volume, which the backend's container shares.
                self.start_relay(&backend, port, GUEST_SERVICES)?;
            }
            remove_container(sh, &name, false);
            let user = user_flag();
            let command: std::process::Command = cmd!(
                sh,
                "docker run --rm --init --name {name} --network none {user...} --volumes-from {relay_name} {reference}"
            )?
            .into();
            self.backend =
                Some(Group::spawn_supervised("the backend's container", command, Some("backend"))?);
        } else {
            std::fs::create_dir_all(&self.guest).with_context(|| format!("creating {}", self.guest))?;
            let socket = self.guest.join(&backend.socket);
            if socket.exists() {
                std::fs::remove_file(&socket).with_context(|| format!("removing the old socket {socket}"))?;
            }
            let binary = self.local_backend()?;
            let command: std::process::Command = cmd!(sh, "{binary} --socket {socket}")?.into();
            self.backend = Some(Group::spawn_supervised("the backend", command, Some("backend"))?);
        }
        self.wait_for_backend(&backend.socket)
    }

    /// A compose backend: the file's services as the session's Compose project (see
    /// `compose`), started attached the first time, its own image's services recreated after
    /// a rebuild; returns once the backend answers through the relay.
    fn start_compose(&mut self, backend: &Backend, port: u16, file: &Utf8Path) -> anyhow::Result<()> {
        let sh = self.sh;
        let name = container_name(&self.root);
        let reference = self.plan.reference.to_string();
        let project =
            compose::Project::prepare(&name, &self.root, file, &dev_dir(&self.config), GUEST_SERVICES)?;
        if self.relay.is_none() {
            let volume = &project.guest_volume;
            cmd!(sh, "docker volume create {volume}")?
                .quiet()
                .ignore_stdout()
                .run()
                .with_context(|| format!("creating the volume {volume} for /run/guest-services"))?;
            self.start_relay(backend, port, &format!("{volume}:{GUEST_SERVICES}"))?;
        }
        self.compose = Some(project.clone());
        let running = |group: &mut Option<Group>| group.as_mut().is_some_and(|g| g.exited().is_none());
        if running(&mut self.backend) {
            project.recreate_own(sh, &reference)?;
        }
        if !running(&mut self.backend) {
            let command = project.up(sh, &reference)?;
            self.backend =
                Some(Group::spawn_supervised("the compose backend (docker compose up)", command, None)?);
        }
        self.wait_for_backend(&backend.socket)
    }

    /// The relay's container, publishing `port` on 127.0.0.1, its socket folder `volume`
    /// (a `-v` argument: anonymous, or a named volume and where it goes).
    fn start_relay(&mut self, backend: &Backend, port: u16, volume: &str) -> anyhow::Result<()> {
        let sh = self.sh;
        let relay_name = format!("{}-relay", container_name(&self.root));
        let reference = self.plan.reference.to_string();
        // A relay left by a session that could not clean up, with its volume.
        remove_container(sh, &relay_name, true);
        let publish = format!("127.0.0.1:{port}:{}", relay::RELAY_PORT);
        let listen = format!("0.0.0.0:{}", relay::RELAY_PORT);
        let socket = format!("{GUEST_SERVICES}/{}", backend.socket);
        let entrypoint = format!("/{}", relay::RELAY);
        let command: std::process::Command = cmd!(
            sh,
            "docker run --rm --init --name {relay_name} -v {volume} -p {publish} --entrypoint {entrypoint} {reference} --listen {listen} --socket {socket} --open {GUEST_SERVICES}"
        )?
        .into();
        self.relay = Some(Group::spawn_supervised("the dev relay's container", command, Some("relay"))?);
        let relay = self.relay.as_mut().expect("just started");
        process::wait_until("the dev relay's container", Duration::from_secs(30), || {
            relay.exited().is_some() || container_running(sh, &relay_name)
        })?;
        if let Some(status) = relay.exited() {
            bail!("the dev relay's container exited ({status}); its output is above");
        }
        Ok(())
    }

    /// Waits until the backend answers: through the relay, or on its local socket.
    fn wait_for_backend(&mut self, socket_name: &str) -> anyhow::Result<()> {
        let (relay_port, socket) = (self.relay_port, self.guest.join(socket_name));
        let what = match relay_port {
            Some(port) => format!("the backend, through the dev relay on 127.0.0.1:{port}"),
            None => format!("the backend on {socket}"),
        };
        let started = self.backend.as_mut().context("no backend was started")?;
        process::wait_until(&what, Duration::from_secs(30), || {
            started.exited().is_some()
                || match relay_port {
                    Some(port) => process::http_answers(port),
                    None => process::socket_accepts(&socket),
                }
        })?;
        if let Some(status) = started.exited() {
            bail!("the backend exited ({status}); its output is above");
        }
        Ok(())
    }

    /// The backend built for this machine's own target (Linux, macOS).
    fn local_backend(&self) -> anyhow::Result<Utf8PathBuf> {
        let backend = self.config.backend.as_ref().context("the extension has no backend")?;
        let key = ArtifactKey {
            package: backend.package.clone(),
            bin: backend.bin.clone(),
            target: self.machine.host.clone(),
        };
        self.artifacts
            .get(&key)
            .cloned()
            .with_context(|| format!("the backend was not built for {} (this machine)", self.machine.host))
    }

    /// Stops the backend (its container goes with its attached `docker run`: `--rm`).
    fn stop_backend(&mut self) {
        // A compose project down, even when its `up` has ended: its containers, networks and
        // its own volumes.
        if let Some(project) = &self.compose {
            project.down(self.sh, &self.plan.reference.to_string());
        }
        if let Some(mut backend) = self.backend.take() {
            if self.compose.is_none() && self.relay_port.is_some() {
                remove_container(self.sh, &container_name(&self.root), false);
            }
            backend.stop(GRACE);
        }
    }

    /// Stops the relay, and removes its volume (a compose project's named one too).
    fn stop_relay(&mut self) {
        if let Some(mut relay) = self.relay.take() {
            let (sh, name) = (self.sh, format!("{}-relay", container_name(&self.root)));
            remove_container(sh, &name, true);
            relay.stop(GRACE);
            if let Some(project) = self.compose.take() {
                let volume = &project.guest_volume;
                if let Ok(remove) = cmd!(sh, "docker volume rm -f {volume}") {
                    let _ = remove.quiet().ignore_stdout().ignore_stderr().run();
                }
            }
        }
    }

    // ---- Both ---------------------------------------------------------------------------

    /// The UI's dev server on the session's port; with `--browser`, with the harness.
    fn start_dev_server(&mut self) -> anyhow::Result<()> {
        let (Some(ui), Some(port)) = (self.config.ui.clone(), self.port) else { return Ok(()) };
        let dir = self.root.join(&ui.dir);
        let (program, args) = ui.dev.split_first().context("ui.dev is empty")?;
        let port_text = port.to_string();
        let sh = self.sh;
        let mut command: std::process::Command =
            cmd!(sh, "{program} {args...} --port {port_text} --strictPort --host 127.0.0.1")?.into();
        command.current_dir(&dir).stdin(std::process::Stdio::null());
        if self.flags.browser {
            let socket = self.config.backend.as_ref().map(|b| self.guest.join(&b.socket));
            let host_bin =
                Os::here().map(|os| self.plan.context.join(self.plan.variants[0].arch()).join(os.key()));
            match self.relay_port {
                Some(port) => command.env("HARNESS_BACKEND_URL", format!("http://127.0.0.1:{port}")),
                None => command
                    .env("HARNESS_SOCKET", socket.map(|s| s.to_string()).unwrap_or_else(|| "none".into())),
            };
            command.env("HARNESS_HOST_BIN", host_bin.map(|p| p.to_string()).unwrap_or_default());
        }
        self.report.say(&format!("==> Starting the UI's dev server: {} in {dir}", ui.dev.join(" ")));
        let mut server = Group::spawn_supervised("the UI's dev server", command, None)?;
        let ready =
            process::wait_until(&format!("the dev server on port {port}"), Duration::from_secs(60), || {
                process::http_ok(port) || server.exited().is_some()
            });
        if let Some(status) = server.exited() {
            bail!("the UI's dev server (`{}`) exited ({status}); its output is above", ui.dev.join(" "));
        }
        self.dev_server = Some(server);
        ready
    }

    /// Rebuilds on every change until Ctrl-C or SIGTERM.
    fn watch(&mut self) -> anyhow::Result<()> {
        let (sender, events) = channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = sender.send(event);
        })
        .context("starting the file watcher")?;
        for (path, mode) in self.watched() {
            watcher.watch(path.as_std_path(), mode).with_context(|| format!("watching {path}"))?;
        }
        self.report.set_quiet(true);
        eprintln!("Watching the backend, the host binaries, the config and extension/ for changes.");
        self.event(&serde_json::json!({ "event": "watching" }))?;
        while !process::stop_requested() {
            let Some(changed) = self.next_change(&events) else { continue };
            let parts: BTreeSet<Part> = changed.iter().filter_map(|(_, part)| *part).collect();
            let names: Vec<String> = changed
                .iter()
                .map(|(path, _)| path.strip_prefix(&self.root).unwrap_or(path).to_string())
                .collect();
            let start = Instant::now();
            let done = self.build(&parts).and_then(|()| self.deliver(&parts));
            let what = parts.iter().map(|p| p.name()).collect::<Vec<_>>().join(" and ");
            let seconds = start.elapsed().as_secs_f64();
            let parts: Vec<&str> = parts.iter().map(|p| p.name()).collect();
            match done {
                Ok(delivered) => {
                    eprintln!(
                        "rebuilt {what} in {seconds:.1}s ({} changed): {delivered}",
                        short_list(&names)
                    );
                    self.event(&serde_json::json!({
                        "event": "rebuilt", "parts": parts, "seconds": seconds, "delivered": delivered.key(),
                    }))?;
                }
                Err(e) => {
                    eprintln!(
                        "rebuilding {what} failed ({} changed): {e:#}\nfix it and save again",
                        short_list(&names)
                    );
                    self.event(&serde_json::json!({
                        "event": "failed", "parts": parts, "error": format!("{e:#}"),
                    }))?;
                }
            }
        }
        Ok(())
    }

    /// Appends one event to the `--events` file, as a JSON line.
    fn event(&self, event: &serde_json::Value) -> anyhow::Result<()> {
        let Some(path) = &self.flags.events else { return Ok(()) };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {path}"))?;
        let line = format!("{event}\n");
        std::io::Write::write_all(&mut file, line.as_bytes()).with_context(|| format!("writing {path}"))
    }

    /// After a rebuild: the extension updated, or the backend restarted.
    fn deliver(&mut self, parts: &BTreeSet<Part>) -> anyhow::Result<Delivered> {
        if self.flags.browser {
            let touches_backend = parts.contains(&Part::Backend) || parts.contains(&Part::Config);
            if touches_backend && self.config.backend.is_some() {
                if parts.contains(&Part::Config) {
                    // The socket's name, or the relay itself, may have changed.
                    self.stop_backend();
                    self.stop_relay();
                }
                self.start_backend()?;
                return Ok(Delivered::BackendRestarted);
            }
            return Ok(Delivered::HostBinariesInPlace);
        }
        self.install_or_update()?;
        self.point_docker_desktop()?;
        Ok(Delivered::Updated(self.plan.reference.to_string()))
    }

    /// The changes of one burst of saves: waits for the first, then until they settle.
    fn next_change(
        &self,
        events: &Receiver<notify::Result<notify::Event>>,
    ) -> Option<Vec<(Utf8PathBuf, Option<Part>)>> {
        let mut changed: Vec<(Utf8PathBuf, Option<Part>)> = vec![];
        let mut last = None;
        loop {
            let timeout = if last.is_some() { DEBOUNCE } else { Duration::from_millis(100) };
            match events.recv_timeout(timeout) {
                Ok(Ok(event)) if !matches!(event.kind, notify::EventKind::Access(_)) => {
                    for path in event.paths {
                        let Ok(path) = Utf8PathBuf::from_path_buf(path) else { continue };
                        if let Some(part) = self.part_of(&path) {
                            if !changed.iter().any(|(p, _)| *p == path) {
                                changed.push((path, Some(part)));
                            }
                            last = Some(Instant::now());
                        }
                    }
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) if last.is_some() => return Some(changed),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
            if process::stop_requested() {
                return None;
            }
        }
    }

    /// The folders to watch: every package's, and the config's own.
    fn watched(&self) -> Vec<(Utf8PathBuf, RecursiveMode)> {
        let mut watched = vec![(self.root.clone(), RecursiveMode::NonRecursive)];
        for dir in &self.protected.source_dirs {
            let ui = self.config.ui.as_ref().map(|ui| self.root.join(&ui.dir));
            if Some(dir) != ui.as_ref()
                && !dir.ends_with("xtask")
                && !dir.starts_with(self.root.join("xtask"))
                && !dir.starts_with(self.root.join("docker-extension-tool"))
            {
                watched.push((dir.clone(), RecursiveMode::Recursive));
            }
        }
        watched.sort();
        watched.dedup();
        watched
    }

    /// What a changed path touches (`None`: nothing dev builds).
    fn part_of(&self, path: &Utf8Path) -> Option<Part> {
        let rel = path.strip_prefix(&self.root).ok()?;
        if rel.components().any(|c| c.as_str() == "target" || c.as_str().starts_with('.')) {
            return None;
        }
        if rel == "Cargo.toml" || rel == "Cargo.lock" {
            return Some(Part::Config);
        }
        let backend_dir = self
            .config
            .backend
            .as_ref()
            .and_then(|b| self.config.members.iter().find(|(_, name)| **name == b.package))
            .and_then(|(manifest, _)| manifest.parent().map(Utf8Path::to_path_buf));
        if backend_dir.is_some_and(|dir| path.starts_with(dir)) {
            return Some(Part::Backend);
        }
        if rel.starts_with(HOST_BINARIES_DIR) {
            return Some(Part::HostBinaries);
        }
        let ui = self.config.ui.as_ref().map(|ui| self.root.join(&ui.dir));
        if ui.is_some_and(|ui| path.starts_with(ui))
            || rel.starts_with("xtask")
            || rel.starts_with("docker-extension-tool")
        {
            return None;
        }
        (rel.components().count() > 1).then_some(Part::Config)
    }

    /// Stops every process the session started, and resets Docker Desktop's tab.
    fn stop(&mut self) {
        self.report.set_quiet(false);
        if let Some(mut server) = self.dev_server.take() {
            server.stop(GRACE);
        }
        self.stop_backend();
        self.stop_relay();
        if self.ui_source_set || (self.flags.debug && !self.flags.once && !self.flags.browser) {
            let sh = self.sh;
            let reference = self.plan.reference.to_string();
            if let Ok(reset) = cmd!(sh, "docker extension dev reset {reference}") {
                let _ = reset.quiet().ignore_stdout().run();
            }
        }
    }
}

/// Where Docker Desktop has the backend make its socket.
const GUEST_SERVICES: &str = "/run/guest-services";

/// Whether a container of that name runs.
fn container_running(sh: &Shell, name: &str) -> bool {
    let format = "{{.State.Running}}";
    let state = cmd!(sh, "docker container inspect --format {format} {name}")
        .and_then(|c| Ok(c.quiet().ignore_stderr().read()?));
    state.is_ok_and(|s| s.trim() == "true")
}

/// Removes the container `name` if it is there (with its anonymous volumes: `volumes`),
/// saying nothing: what a stop does whatever state the container is in.
fn remove_container(sh: &Shell, name: &str, volumes: bool) {
    let volumes = volumes.then_some("-v");
    if let Ok(remove) = cmd!(sh, "docker rm -f {volumes...} {name}") {
        let _ = remove.quiet().ignore_stdout().ignore_stderr().run();
    }
}

/// The session's plan (see `plan::dev`) for this machine, its relay's package written.
fn plan_for_dev(
    config: &Config,
    machine: &Machine,
    docker: bool,
    relay_manifest: &Utf8Path,
) -> anyhow::Result<(Config, Plan)> {
    let relay = (relay::RELAY.to_string(), relay_manifest.to_path_buf());
    let request = DevRequest::here(docker, relay, dev_dir(config).join("context"))?;
    dev_plan(config, machine, &request)
}

/// The dev session's own folder: per workspace, so checkouts that share a target folder
/// (`CARGO_TARGET_DIR`) never share a context or a backend socket.
fn dev_dir(config: &Config) -> Utf8PathBuf {
    config.target_dir.join("xtask/dev").join(crate::util::files::short_hash(config.root.as_str()))
}

/// Where the local backend makes its socket (`--browser` with no engine): the dev folder,
/// unless the socket's path would pass the ~100 bytes a Unix socket path may have (a
/// workspace in a long path): then a folder of the session's own in the temporary folder.
fn guest_dir(config: &Config) -> Utf8PathBuf {
    let guest = dev_dir(config).join("guest");
    let longest_socket = config.backend.as_ref().map_or(0, |b| guest.join(&b.socket).as_str().len());
    if longest_socket < 100 {
        return guest;
    }
    let temp = Utf8PathBuf::try_from(std::env::temp_dir()).unwrap_or_else(|_| Utf8PathBuf::from("/tmp"));
    temp.join(format!("xtask-dev-{}", crate::util::files::short_hash(config.root.as_str())))
}

/// Docker running, with Docker Desktop's `docker extension` CLI plugin: what `dev`,
/// `uninstall` and `share` need, each refusal said the same way (`otherwise`: what to do
/// without Docker Desktop).
pub(crate) fn require_docker_desktop(sh: &Shell, otherwise: &str) -> anyhow::Result<()> {
    if !crate::pipeline::engine::docker_answers(sh) {
        Check::DockerRunning.run(sh)?;
    }
    if !runs(sh, "docker", &["extension", "version"]) {
        bail!(
            "the `docker extension` CLI plugin is not here: it comes with Docker Desktop \
             (https://docs.docker.com/desktop/). {otherwise}"
        );
    }
    Ok(())
}

/// Whether `docker extension ls` lists the image (by repository, with or without a tag).
fn is_listed(listed: &str, repository: &str) -> bool {
    listed_name(listed, repository).is_some()
}

/// The name `docker extension ls` lists the image under (its repository, with or without a
/// tag), if it lists it.
pub(crate) fn listed_name<'a>(listed: &'a str, repository: &str) -> Option<&'a str> {
    listed.lines().skip(1).filter_map(|l| l.split_whitespace().next()).find(|name| {
        *name == repository
            || name.rsplit_once(':').is_some_and(|(repo, tag)| repo == repository && !tag.contains('/'))
    })
}

/// One container per workspace, so two checkouts' dev sessions do not collide.
fn container_name(root: &Utf8Path) -> String {
    format!("xtask-dev-{}", crate::util::files::short_hash(root.as_str()))
}

/// The backend's container runs as this user, so the socket it makes is this user's.
fn user_flag() -> Vec<String> {
    #[cfg(unix)]
    {
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        vec!["--user".into(), format!("{uid}:{gid}")]
    }
    #[cfg(not(unix))]
    vec![]
}

fn short_list(names: &[String]) -> String {
    match names {
        [] => "nothing".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_extension_ls_is_read_by_repository() {
        // Lines joined, not written with `\n`: `new` renames whole words, and the `n` of an
        // escape would glue itself to the name.
        let listed = [
            "EXTENSION   DESCRIPTION   VENDOR   VERSION",
            "example/rust-starter:dev   A thing   Example  dev",
        ]
        .join("\n");
        let listed = listed.as_str();
        assert!(is_listed(listed, "example/rust-starter"));
        assert!(!is_listed(listed, "example/rust"));
        assert!(is_listed("EXTENSION\nacme/ext   x\n", "acme/ext"));
        assert!(!is_listed("EXTENSION\n", "acme/ext"), "the header is not an extension");
    }

    #[test]
    fn container_names_are_per_workspace() {
        assert_ne!(container_name("/a".into()), container_name("/b".into()));
        assert!(container_name("/a".into()).starts_with("xtask-dev-"));
    }
}
