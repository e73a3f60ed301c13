//! `cargo xtask bench`: what dist costs, measured as ratios within one run (the machines
//! are noisy, so every figure is compared with another taken at the same time).
//!
//! * A warm, no-op `dist --no-image` against the bare cargo runs of the same plan.
//! * For each image engine here (builtin always; buildah; buildx when a Docker engine
//!   answers, or the tests' private engine when setup installed one), a whole warm
//!   `dist --oci` against its image step alone (dist records its steps' durations).
//!
//! * The dev loop's latency: in a copy of the workspace (the user's sources are never
//!   edited), `dev --browser` runs and a line is appended to the backend's `main.rs`;
//!   measured until the dev loop has the new backend answering on its socket. With the
//!   backend as a container (when an engine is there) and as a local process.
//!
//! * The cold compile of an extension's xtask (the tool as a dependency, built as cargo
//!   builds a git dependency: not incrementally) against the floor: a binary using only
//!   the crates an xtask would use anyway (xshell, cargo_metadata, camino, anyhow, serde,
//!   serde_json), each from an empty target folder, alternating.
//!
//! Runs are interleaved, so a slow moment of the machine falls on every kind alike; each
//! figure is the median of `--runs` runs.

use std::time::{Duration, Instant};

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::util::process::cmd;

use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::dist::IMAGE_STEP;
use crate::cli::{Cmd, Invocation};
use crate::model::engine::Engine;
use crate::plan::image::SERVER_VERSION;
use crate::plan::Plan;
#[cfg(unix)]
#[cfg(all(unix, feature = "self-test"))]
use crate::testing::services::{self, Services};
use crate::util::files::write_atomic;
use crate::workspace::config::Config;
use crate::workspace::machine::{runs, Machine};

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bench {
    pub runs: usize,
    /// `--cold-compile`: only the cold compile against the floor.
    pub cold_compile_only: bool,
}

impl Cmd for Bench {
    const SPEC: Spec = Spec::new(
        "bench",
        "Measure a warm, no-op dist against the bare cargo builds it runs",
        "[--runs N] [--cold-compile]",
        "Times, interleaved, N times (default 5), and prints the medians and their ratios:\n\
         - a warm, no-op `cargo xtask dist --no-image` against the same cargo runs without dist;\n\
         - for each image engine here (builtin, buildah, buildx), a whole warm `dist --oci` against\n  \
         its image step alone. With no Docker engine running, the tests' private one is used\n  \
         when `cargo xtask setup --for-tests` installed it;\n\
         - the dev loop: a backend change until the new backend answers;\n\
         - the cold compile of an extension's xtask against the floor crates (xshell,\n  \
         cargo_metadata, camino, anyhow, serde, serde_json), alternating builds from empty\n  \
         target folders (--cold-compile: this one only).",
    )
    .options(&[
        Opt::value("--runs", "N", "How many times each is timed (default 5)"),
        Opt::switch("--cold-compile", "Only the cold compile of an extension's xtask"),
    ]);

    fn from_args(args: &mut Parsed) -> Result<Bench, UsageError> {
        let runs = match args.string("--runs") {
            None => 5,
            Some(n) => match n.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(args.error(format!("--runs takes a positive number, not `{n}`"))),
            },
        };
        Ok(Bench { runs, cold_compile_only: args.switch("--cold-compile") })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl Bench {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        if self.cold_compile_only {
            return print_cold_compiles(sh, &config, self.runs);
        }
        let root = config.root.clone();
        let plan = Plan::without_image(&config, &Machine::probe(sh, &config)?)?;
        // The bare cargo runs find cargo-zigbuild where dist does.
        crate::builders::tools::activate_zig_venv(sh, &config.tools_dir());
        sh.change_dir(&root);
        let xtask = std::env::current_exe().context("finding the xtask binary")?;
        let rounds = self.runs.max(1);

        // The engines to measure; a private Docker engine when none answers but setup
        // installed the tests' one (stopped when this returns).
        let mut engines = vec![Engine::Builtin];
        if runs(sh, "buildah", &["--version"]) {
            engines.push(Engine::Buildah);
        }
        let mut private_engine = None;
        let mut docker_env: Vec<(&'static str, String)> = vec![];
        if runs(sh, "docker", &["info", "--format", SERVER_VERSION]) {
            engines.push(Engine::Buildx);
        } else if let Some(private) = PrivateEngine::start(sh, &config)? {
            docker_env = private.env();
            private_engine = Some(private);
            engines.push(Engine::Buildx);
        }

        eprintln!("==> Warming up: cargo xtask dist --no-image, then once per engine");
        cmd!(sh, "{xtask} dist --no-image")?.quiet().ignore_stdout().ignore_stderr().run()?;
        let archive = |engine: Engine| config.target_dir.join(format!("xtask/bench-{engine}.tar"));
        let events = config.target_dir.join("xtask/bench-dist-events.json");
        let dist_with = |engine: Engine| -> anyhow::Result<(Duration, f64)> {
            let engine_name = engine.name();
            let out = archive(engine);
            // The builtin engine's image with its attestations (what the figure has always
            // measured; `--attest` is not the default since extension images carry none).
            let attest: &[&str] = if engine == Engine::Builtin { &["--attest"] } else { &[] };
            let elapsed = time(|| {
                cmd!(sh, "{xtask} dist --engine {engine_name} --oci {out} --events {events} {attest...}")?
                    .envs(docker_env.iter().map(|(k, v)| (*k, v.as_str())))
                    .quiet()
                    .ignore_stdout()
                    .ignore_stderr()
                    .run()?;
                Ok(())
            })
            .with_context(|| format!("dist --engine {engine_name}"))?;
            Ok((elapsed, image_step_seconds(&events)?))
        };
        for &engine in &engines {
            dist_with(engine)?;
        }

        let (mut dist_no_image, mut cargo) = (vec![], vec![]);
        let mut by_engine: Vec<(Engine, Vec<Duration>, Vec<f64>)> =
            engines.iter().map(|&e| (e, vec![], vec![])).collect();
        for i in 0..rounds {
            eprintln!("==> Run {}/{rounds}", i + 1);
            dist_no_image.push(time(|| {
                Ok(cmd!(sh, "{xtask} dist --no-image")?.quiet().ignore_stdout().ignore_stderr().run()?)
            })?);
            cargo.push(time(|| {
                for run in &plan.cargo_runs {
                    run.argv()
                        .cmd(sh)?
                        .envs(run.env.iter().map(|(k, v)| (k, v)))
                        .quiet()
                        .ignore_stdout()
                        .ignore_stderr()
                        .run()?;
                }
                Ok(())
            })?);
            for (engine, whole, image) in &mut by_engine {
                let (elapsed, step) = dist_with(*engine)?;
                whole.push(elapsed);
                image.push(step);
            }
        }

        let (dist, cargo) = (median(&mut dist_no_image), median(&mut cargo));
        let binaries = plan.files.iter().filter(|f| f.expect.is_some()).count();
        let targets = plan.targets().len();
        println!("Warm no-op build of {binaries} binaries for {targets} targets, median of {rounds} interleaved runs:");
        println!("  cargo xtask dist --no-image   {:>7.2}s", dist.as_secs_f64());
        println!("  the same cargo runs, bare     {:>7.2}s", cargo.as_secs_f64());
        println!("  ratio                         {:>7.2}x", dist.as_secs_f64() / cargo.as_secs_f64());
        println!("\nThe image step against the whole warm `dist --oci`, per engine (medians):");
        for (engine, whole, image) in &mut by_engine {
            let whole = median(whole).as_secs_f64();
            image.sort_by(f64::total_cmp);
            let image = image[image.len() / 2];
            println!(
                "  {:<8} whole dist {:>6.2}s   image step {:>6.3}s   {:>5.1}% of the dist",
                engine.name(),
                whole,
                image,
                100.0 * image / whole
            );
        }
        for &engine in &engines {
            let _ = std::fs::remove_file(archive(engine));
        }

        if let Some(backend) = &config.backend {
            let copy = DevCopy::make(sh, &config)?;
            let main = copy.main_rs(&config, &backend.package)?;
            println!("\nThe dev loop (`dev --browser`): a one-line backend change until the new backend answers (medians of {rounds}):");
            let mut modes: Vec<(&str, Vec<(&'static str, String)>)> = vec![];
            if !docker_env.is_empty() || runs(sh, "docker", &["info", "--format", SERVER_VERSION]) {
                modes.push(("the backend as a container", docker_env.clone()));
            }
            modes.push((
                "the backend as a local process",
                vec![("DOCKER_HOST", format!("unix://{}/no-engine.sock", copy.root))],
            ));
            for (mode, env) in modes {
                let mut latencies = dev_latencies(&xtask, &copy, &main, &env, rounds)?;
                println!("  {mode:<32} {:>6.2}s", median(&mut latencies).as_secs_f64());
            }
        }
        drop(private_engine);

        println!();
        print_cold_compiles(sh, &config, rounds)
    }
}

fn print_cold_compiles(sh: &Shell, config: &Config, rounds: usize) -> anyhow::Result<()> {
    let rounds = rounds.max(1);
    let (mut floor, mut xtask) = cold_compiles(sh, config, rounds)?;
    let (floor, xtask) = (median(&mut floor).as_secs_f64(), median(&mut xtask).as_secs_f64());
    println!("Cold compile (empty target folder, dev profile; medians of {rounds} alternating builds):");
    println!("  the floor: xshell, cargo_metadata, camino, anyhow, serde, serde_json  {floor:>6.2}s");
    println!("  an extension's xtask, the tool as a dependency                       {xtask:>6.2}s");
    println!(
        "  ratio                                                                {:>6.2}x",
        xtask / floor
    );
    Ok(())
}

/// The floor's manifest: the crates an extension's xtask would use without the tool.
const FLOOR_MANIFEST: &str = r#"[package]
name = "floor"
version = "0.1.0"
edition = "2021"

[dependencies]
anyhow = "1"
camino = "1"
cargo_metadata = "0.23"
serde = { version = "1", features = ["derive"] }
serde_json = "1"
xshell = "0.2"

[workspace]
"#;

const FLOOR_MAIN: &str = r#"fn main() {
    let _ = (
        anyhow::anyhow!("floor"),
        camino::Utf8PathBuf::new(),
        cargo_metadata::MetadataCommand::new(),
        serde_json::json!({}),
        xshell::Shell::new(),
    );
}
"#;

/// Two crates under target/xtask/bench-cold (the floor, and an xtask over this tool's
/// sources), built alternately from empty target folders; their durations.
fn cold_compiles(
    sh: &Shell,
    config: &Config,
    rounds: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let dir = config.target_dir.join("xtask/bench-cold");
    let tool_dir = env!("CARGO_MANIFEST_DIR");
    let xtask_manifest = format!(
        "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\
         docker-extension-tool = {{ path = {tool_dir:?} }}\nanyhow = \"1\"\nxshell = \"0.2\"\n\n[workspace]\n"
    );
    let xtask_main =
        "fn main() -> std::process::ExitCode {\n    docker_extension_tool::Tasks::new().run()\n}\n";
    let crates = [("floor", FLOOR_MANIFEST.to_string(), FLOOR_MAIN), ("xtask", xtask_manifest, xtask_main)];
    for (name, manifest, main) in &crates {
        let root = dir.join(name);
        write_atomic(&root.join("Cargo.toml"), manifest.as_bytes())?;
        write_atomic(&root.join("src/main.rs"), main.as_bytes())?;
        // The versions the workspace builds with, fetched once.
        std::fs::copy(config.root.join("Cargo.lock"), root.join("Cargo.lock"))
            .with_context(|| format!("copying Cargo.lock to {root}"))?;
        let manifest_path = root.join("Cargo.toml");
        cmd!(sh, "cargo fetch --quiet --manifest-path {manifest_path}")?.quiet().run()?;
    }
    let (mut floor, mut xtask) = (vec![], vec![]);
    for i in 0..rounds {
        eprintln!("==> Cold compiles {}/{rounds}", i + 1);
        for (name, _, _) in &crates {
            let manifest_path = dir.join(name).join("Cargo.toml");
            let target = dir.join(format!("target-{name}"));
            if target.exists() {
                std::fs::remove_dir_all(&target).with_context(|| format!("removing {target}"))?;
            }
            let elapsed = time(|| {
                cmd!(sh, "cargo build --quiet --offline --manifest-path {manifest_path}")?
                    .env("CARGO_TARGET_DIR", &target)
                    .env("CARGO_INCREMENTAL", "0")
                    .quiet()
                    .run()?;
                Ok(())
            })
            .with_context(|| format!("the cold build of {name}"))?;
            if *name == "floor" {
                floor.push(elapsed);
            } else {
                xtask.push(elapsed);
            }
        }
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {dir}"))?;
    Ok((floor, xtask))
}

/// The tests' private Docker engine, for the buildx figures where no engine answers but
/// `setup` installed it (Linux; in the tool's own repository, whose xtask has the
/// `self-test` feature: an extension's xtask does not compile the engine): stopped, then its folder removed, when dropped.
struct PrivateEngine {
    #[cfg(all(unix, feature = "self-test"))]
    services: Services,
}

impl PrivateEngine {
    #[cfg(all(unix, feature = "self-test"))]
    fn start(sh: &Shell, config: &Config) -> anyhow::Result<Option<PrivateEngine>> {
        let Some(engine) = services::locate_engine(sh, &config.tools_dir()) else { return Ok(None) };
        eprintln!("==> No Docker engine answers: starting the tests' private one for buildx");
        let dir = Utf8PathBuf::from(format!("/tmp/xtask-bench-services-{}", std::process::id()));
        Ok(Some(PrivateEngine { services: Services::start(sh, &engine, &dir)? }))
    }

    #[cfg(not(all(unix, feature = "self-test")))]
    fn start(_: &Shell, _: &Config) -> anyhow::Result<Option<PrivateEngine>> {
        Ok(None)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        #[cfg(all(unix, feature = "self-test"))]
        return self.services.env();
        #[cfg(not(all(unix, feature = "self-test")))]
        vec![]
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        #[cfg(all(unix, feature = "self-test"))]
        {
            self.services.stop();
            let _ = std::fs::remove_dir_all(&self.services.dir);
        }
    }
}

/// A copy of the workspace's own files (and the UI's installed packages), for the dev loop
/// to edit: under target/xtask, dist's own folder.
struct DevCopy {
    root: Utf8PathBuf,
}

impl DevCopy {
    fn make(sh: &Shell, config: &Config) -> anyhow::Result<DevCopy> {
        let root = config.target_dir.join("xtask/bench-dev");
        if root.exists() {
            std::fs::remove_dir_all(&root).with_context(|| format!("removing {root}"))?;
        }
        for rel in crate::cli::new::template_files(config)? {
            let to = root.join(&rel);
            std::fs::create_dir_all(to.parent().unwrap_or(&root))?;
            std::fs::copy(config.root.join(&rel), &to).with_context(|| format!("copying {rel}"))?;
        }
        // In the tool's repository the xtask depends on the tool's folder, which is not the
        // template's: the copy links to it (the bench never edits it).
        if let Some(tool) = crate::cli::new::tool_folder_in(config) {
            let rel = tool.strip_prefix(&config.root).context("the tool's folder")?;
            let link = root.join(rel);
            #[cfg(unix)]
            let linked = std::os::unix::fs::symlink(&tool, &link);
            #[cfg(windows)]
            let linked = std::os::windows::fs::symlink_dir(&tool, &link);
            linked.with_context(|| format!("linking {link} to {tool}"))?;
        }
        if let Some(ui) = &config.ui {
            let from = config.root.join(&ui.dir).join("node_modules");
            let to = root.join(&ui.dir).join("node_modules");
            if from.is_dir() {
                cmd!(sh, "cp -a {from} {to}")?.quiet().run().context("copying the UI's packages")?;
            }
        }
        Ok(DevCopy { root })
    }

    fn main_rs(&self, config: &Config, package: &str) -> anyhow::Result<Utf8PathBuf> {
        let (manifest, _) = config
            .members
            .iter()
            .find(|(_, name)| *name == package)
            .context("the backend package is not a member")?;
        let rel = manifest
            .parent()
            .and_then(|d| d.strip_prefix(&config.root).ok())
            .context("the backend's folder")?;
        Ok(self.root.join(rel).join("src/main.rs"))
    }
}

/// Runs `dev --browser` in the copy and times `rounds` one-line changes of `main_rs` (the
/// first change, which builds everything in the copy's own target folder, is not timed).
fn dev_latencies(
    xtask: &std::path::Path,
    copy: &DevCopy,
    main_rs: &camino::Utf8Path,
    env: &[(&'static str, String)],
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    let events = copy.root.join("target/dev-events.jsonl");
    let _ = std::fs::remove_file(&events);
    // dev's own output, for when it fails (a bench prints only its figures).
    let log_path = copy.root.join("target/dev-output.log");
    std::fs::create_dir_all(copy.root.join("target"))?;
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {log_path}"))?;
    let sh = Shell::new()?;
    sh.change_dir(&copy.root);
    let mut command: std::process::Command = cmd!(sh, "{xtask} dev --browser --events {events}")?
        // A target folder of its own: cargo's fingerprints do not depend on the checkout's
        // folder, so sharing the workspace's would make cargo check this copy's files for
        // the workspace's next build (and miss the user's edits).
        .env("CARGO_TARGET_DIR", copy.root.join("target"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .into();
    command.stdout(log.try_clone()?).stderr(log);
    let mut dev = crate::util::process::Group::spawn("dev --browser", command)?;
    let tail = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    // The events dev has written so far; waits for the next one of a kind.
    let mut seen = 0;
    let mut next_event = |kind: &str| -> anyhow::Result<serde_json::Value> {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&events).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            while seen < lines.len() {
                let event: serde_json::Value = serde_json::from_str(lines[seen])
                    .with_context(|| format!("{events} holds a line that is not JSON"))?;
                seen += 1;
                if event["event"] == "failed" {
                    anyhow::bail!("the dev loop failed: {}", event["error"]);
                }
                if event["event"] == kind {
                    return Ok(event);
                }
            }
            if dev.exited().is_some() {
                anyhow::bail!(
                    "dev --browser exited before its {kind:?} event; the end of its output:\n{}",
                    tail()
                );
            }
            if start.elapsed() > Duration::from_secs(300) {
                anyhow::bail!("dev --browser wrote no {kind:?} event in 300 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let result = (|| {
        next_event("watching")?;
        let mut latencies = vec![];
        for i in 0..=rounds {
            let start = Instant::now();
            let mut file = std::fs::OpenOptions::new().append(true).open(main_rs)?;
            std::io::Write::write_all(&mut file, format!("// bench change {i}\n").as_bytes())?;
            drop(file);
            let rebuilt = next_event("rebuilt")?;
            if rebuilt["delivered"] != "backend-restarted" {
                anyhow::bail!("the dev loop rebuilt without restarting the backend: {rebuilt}");
            }
            // The first change also warms what the dev profile builds: not counted.
            if i > 0 {
                latencies.push(start.elapsed());
            }
        }
        Ok(latencies)
    })();
    dev.stop(Duration::from_secs(10));
    result
}

/// How long a dist's image step took, from the events it wrote (`--events`).
fn image_step_seconds(events: &Utf8Path) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(events).with_context(|| format!("reading {events}"))?;
    let report: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {events}"))?;
    report["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["key"] == IMAGE_STEP)
        .and_then(|s| s["seconds"].as_f64())
        .with_context(|| format!("{events} records no image step"))
}

fn time(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
