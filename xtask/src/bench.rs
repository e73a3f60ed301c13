//! `cargo xtask bench`: what dist costs, measured as ratios within one run (the machines
//! are noisy, so every figure is compared with another taken at the same time).
//!
//! * A warm, no-op `dist --no-image` against the bare cargo runs of the same plan.
//! * For each image engine here (builtin always; buildah; buildx when a Docker engine
//!   answers, or the tests' private engine when setup installed one), a whole warm
//!   `dist --oci` against its image step alone (dist records its steps' durations).
//!
//! Runs are interleaved, so a slow moment of the machine falls on every kind alike; each
//! figure is the median of `--runs` runs.

use std::time::{Duration, Instant};

use anyhow::Context;
use camino::Utf8PathBuf;
use xshell::{cmd, Shell};

use crate::config::Config;
use crate::dist::TIMINGS_FILE;
use crate::engine::Engine;
use crate::flags;
use crate::machine::{runs, Machine};
use crate::plan::Plan;
use crate::services::{self, Services, SERVER_VERSION};

impl flags::Bench {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        let root = config.root.clone();
        let plan = Plan::without_image(&config, &Machine::probe(sh, &config)?)?;
        sh.change_dir(&root);
        let xtask = std::env::current_exe().context("finding the xtask binary")?;
        let rounds = self.runs.max(1);

        // The engines to measure; a private Docker engine when none answers but setup
        // installed the tests' one (stopped when this returns).
        let mut engines = vec![Engine::Builtin];
        if runs(sh, "buildah", &["--version"]) {
            engines.push(Engine::Buildah);
        }
        let mut _private = None;
        let mut docker_env: Vec<(&'static str, String)> = vec![];
        if runs(sh, "docker", &["info", "--format", SERVER_VERSION]) {
            engines.push(Engine::Buildx);
        } else if let Some(engine) = services::locate_engine(sh, &config.tools_dir()) {
            eprintln!("==> No Docker engine answers: starting the tests' private one for buildx");
            let dir = Utf8PathBuf::from(format!("/tmp/xtask-bench-services-{}", std::process::id()));
            let private = Services::start(sh, &engine, &dir)?;
            docker_env = private.env();
            _private = Some(private);
            engines.push(Engine::Buildx);
        }

        eprintln!("==> Warming up: cargo xtask dist --no-image, then once per engine");
        cmd!(sh, "{xtask} dist --no-image").quiet().ignore_stdout().ignore_stderr().run()?;
        let archive = |engine: Engine| config.target_dir.join(format!("xtask/bench-{engine}.tar"));
        let dist_with = |engine: Engine| -> anyhow::Result<(Duration, f64)> {
            let engine_name = engine.name();
            let out = archive(engine);
            let elapsed = time(|| {
                cmd!(sh, "{xtask} dist --engine {engine_name} --oci {out}")
                    .envs(docker_env.iter().map(|(k, v)| (*k, v.as_str())))
                    .quiet()
                    .ignore_stdout()
                    .ignore_stderr()
                    .run()
            })
            .with_context(|| format!("dist --engine {engine_name}"))?;
            Ok((elapsed, image_step_seconds(&config)?))
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
                cmd!(sh, "{xtask} dist --no-image").quiet().ignore_stdout().ignore_stderr().run()
            })?);
            cargo.push(time(|| {
                for run in &plan.cargo_runs {
                    let argv = run.argv();
                    let (program, args) = argv.split_first().expect("a program");
                    cmd!(sh, "{program} {args...}")
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
        Ok(())
    }
}

/// How long the last dist's image step took, from the timings it recorded.
fn image_step_seconds(config: &Config) -> anyhow::Result<f64> {
    let path = config.target_dir.join(TIMINGS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let steps: Vec<serde_json::Value> =
        serde_json::from_str(&text).with_context(|| format!("parsing {path}"))?;
    steps
        .iter()
        .find(|s| s["step"].as_str().is_some_and(|t| t.starts_with("Building the image")))
        .and_then(|s| s["seconds"].as_f64())
        .with_context(|| format!("{path} records no image step"))
}

fn time(f: impl FnOnce() -> xshell::Result<()>) -> anyhow::Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
