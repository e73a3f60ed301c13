//! `cargo xtask bench`: what dist costs on top of cargo when nothing changed. Runs a warm,
//! no-op `dist --no-image` and the bare cargo runs of the same plan, interleaved, and
//! reports each median and their ratio (one run, so both see the same machine load).

use std::time::{Duration, Instant};

use anyhow::Context;
use xshell::{cmd, Shell};

use crate::config::Config;
use crate::flags;
use crate::machine::Machine;
use crate::plan::Plan;

impl flags::Bench {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        let root = config.root.clone();
        let plan = Plan::without_image(&config, &Machine::probe(sh, &config)?)?;
        sh.change_dir(&root);
        let xtask = std::env::current_exe().context("finding the xtask binary")?;
        let runs = self.runs.max(1);

        eprintln!("==> Warming up: cargo xtask dist --no-image");
        cmd!(sh, "{xtask} dist --no-image").quiet().ignore_stdout().ignore_stderr().run()?;

        let (mut dist, mut cargo) = (vec![], vec![]);
        for i in 0..runs {
            eprintln!("==> Run {}/{runs}", i + 1);
            dist.push(time(|| {
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
        }
        let (dist, cargo) = (median(&mut dist), median(&mut cargo));
        let binaries = plan.files.iter().filter(|f| f.expect.is_some()).count();
        let targets = plan.targets().len();
        println!("Warm no-op build of {binaries} binaries for {targets} targets, median of {runs} interleaved runs:");
        println!("  cargo xtask dist --no-image   {:>7.2}s", dist.as_secs_f64());
        println!("  the same cargo runs, bare     {:>7.2}s", cargo.as_secs_f64());
        println!("  ratio                         {:>7.2}x", dist.as_secs_f64() / cargo.as_secs_f64());
        Ok(())
    }
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
