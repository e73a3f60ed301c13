//! `cargo xtask dist`: config → plan → builds → verified context → image.

pub mod engine;

use std::collections::BTreeSet;

use anyhow::bail;
use camino::Utf8Path;
use xshell::Shell;

use crate::build::cargo::{self, Artifacts};
use crate::build::{tools, ui};
use crate::cli::flags;
use crate::context::ownership::{check_context_destination, refuse_tracked, resolve_destination, Ledger};
use crate::context::staging::{Placed, Staging};
use crate::model::targets::Variant;
use crate::pipeline::engine::ImageResult;
use crate::plan::image::Output;
use crate::plan::{CargoRun, Destination, ImageStep, Plan};
use crate::util::report::{self, step};
use crate::verify::check;
use crate::workspace::config::Protected;
use crate::workspace::config::{current_dir, Config};
use crate::workspace::machine::Machine;

/// Where dist records how long each of its steps took (for `cargo xtask bench`).
pub const TIMINGS_FILE: &str = "xtask/dist-timings.json";

impl flags::Dist {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let cwd = current_dir()?;
        let (config, plan) = step("Reading the config and planning", || {
            let config = Config::load(&cwd)?;
            let request = self.resolved(&cwd);
            let machine = Machine::probe(sh, &config)?;
            let plan = Plan::new(&config, &request, &machine)?;
            Ok((config, plan))
        })?;
        if self.dry_run {
            print!("{plan}");
            return Ok(());
        }
        sh.change_dir(&config.root);

        let protected = config.protected();
        let mut ledger = Ledger::open(&config.target_dir);
        step("Checking where dist writes", || {
            let names = plan.context_names();
            for destination in plan.destinations() {
                check_destination(sh, &destination, &protected, &ledger, &names)?;
            }
            Ok(())
        })?;
        if let Some(ui_build) = &plan.ui {
            step("Checking the UI's sources", || ui::check_sources(&config.root, ui_build))?;
        }
        if let ImageStep::Build(build) = &plan.image {
            step(&format!("Checking the image builder ({})", build.engine), || build.check(sh))?;
        }
        step("Checking the toolchain", || tools::ensure_for(sh, &plan.cargo_runs, &config.tools_dir()))?;
        let mut artifacts = Artifacts::new();
        compile(sh, &config, plan.cargo_runs.iter(), &mut artifacts)?;
        build_ui(sh, &config, &plan)?;
        let placed = lay_out(&config, &plan, &artifacts, &protected)?;

        let image = match &plan.image {
            ImageStep::Build(build) => {
                let title =
                    format!("Building the image with {} for {}", build.engine, platforms(&plan.variants));
                Some(step(&title, || build.run(sh, &mut ledger))?)
            }
            ImageStep::Skip => None,
        };
        print!("{}", summary(&plan, &placed, image.as_ref()));
        report::write_timings(&config.target_dir.join(TIMINGS_FILE))?;
        Ok(())
    }

    /// The flags with their paths made absolute, where they really point.
    fn resolved(&self, cwd: &Utf8Path) -> flags::Dist {
        let mut flags = self.clone();
        flags.out = self.out.as_ref().map(|out| resolve_destination(cwd, out));
        if let Some(Output::Oci(path)) = &self.output {
            flags.output = Some(Output::Oci(resolve_destination(cwd, path)));
        }
        flags
    }
}

/// Runs cargo runs, one step each, adding the binaries they report to `artifacts`.
pub fn compile<'a>(
    sh: &Shell,
    config: &Config,
    runs: impl Iterator<Item = &'a CargoRun>,
    artifacts: &mut Artifacts,
) -> anyhow::Result<()> {
    for run in runs {
        let profile = if run.release { "" } else { " (dev profile)" };
        let title = format!(
            "Building {} with {} for {}{profile}",
            run.packages.join(", "),
            run.builder,
            run.targets.join(", ")
        );
        artifacts
            .extend(step(&title, || cargo::run(sh, run, &config.members, &config.root, &config.target_dir))?);
    }
    Ok(())
}

/// Builds the UI, unless nothing that decides its output changed.
pub fn build_ui(sh: &Shell, config: &Config, plan: &Plan) -> anyhow::Result<()> {
    let Some(ui_build) = &plan.ui else { return Ok(()) };
    let stamp = config.target_dir.join("xtask/ui-build.stamp");
    step("Building the UI", || {
        if ui::build(sh, ui_build, &stamp, &config.root)? == ui::UiOutcome::UpToDate {
            crate::util::report::say(&format!("    up to date: nothing in {} changed", ui_build.dir));
        }
        Ok(())
    })
}

/// Lays out the plan's context from `artifacts`: staged, checked, then renamed into place.
pub fn lay_out(
    config: &Config,
    plan: &Plan,
    artifacts: &Artifacts,
    protected: &Protected,
) -> anyhow::Result<Vec<Placed>> {
    step(&format!("Laying out {}", plan.context), || {
        let staging = Staging::new(&plan.context)?;
        let placed = staging.lay_out(&plan.files, artifacts, &config.root)?;
        let problems = check::check_context(&staging.dir, config, &plan.variants);
        if !problems.is_empty() {
            bail!("{}", check::report(&problems, "the context"));
        }
        staging.commit(protected, &plan.context_names())?;
        Ok(placed)
    })
}

/// A destination must be free or dist's own (see `ownership`).
fn check_destination(
    sh: &Shell,
    destination: &Destination,
    protected: &Protected,
    ledger: &Ledger,
    context_names: &BTreeSet<String>,
) -> anyhow::Result<()> {
    match destination {
        Destination::Context(context) => {
            check_context_destination(context, protected, context_names)?;
            refuse_tracked(sh, &protected.root, context, "choose a new folder for --out")
        }
        Destination::Archive(path) => {
            ledger.check_file_destination(path, "--oci")?;
            refuse_tracked(sh, &protected.root, path, "give --oci a path that git does not track")
        }
    }
}

fn platforms(variants: &[Variant]) -> String {
    variants.iter().map(|v| v.platform()).collect::<Vec<_>>().join(", ")
}

fn summary(plan: &Plan, placed: &[Placed], image: Option<&ImageResult>) -> String {
    let mut rows =
        vec![vec!["variant".into(), "path".into(), "built for".into(), "size".into(), "binary".into()]];
    for p in placed {
        let (variant, path) = p.dest.as_str().split_once('/').unwrap_or(("", p.dest.as_str()));
        rows.push(vec![
            variant.into(),
            format!("/{path}"),
            p.target.clone(),
            report::size(p.size),
            p.info.describe(),
        ]);
    }
    let mut s = format!("\nExtension {}\n", plan.reference);
    s.push_str(&report::table(&rows));
    s.push_str(&format!("\n  context  {}\n", plan.context));
    if let Some(image) = image {
        s.push_str(&format!("  image    {}\n", image.reference));
        if let Some(digest) = &image.digest {
            s.push_str(&format!("  digest   {digest}\n"));
        }
        if let Some(archive) = &image.archive {
            s.push_str(&format!("  archive  {archive}\n"));
        }
        if let Some(note) = &image.note {
            s.push_str(&format!("  note     {note}\n"));
        }
    }
    s
}
