//! The steps of a dist, shared by the commands that build (`dist`, `dev`, `build-host`):
//! compile the cargo runs, build the UI, lay out and check the context, and (in `engine`)
//! build the image.

pub(crate) mod engine;

use std::collections::BTreeSet;

use anyhow::bail;
use xshell::Shell;

use crate::build::cargo::{self, Artifacts};
use crate::build::ui;
use crate::context::ownership::{check_context_destination, refuse_tracked, Ledger};
use crate::context::staging::{Placed, Staging};
use crate::plan::{CargoRun, Destination, Plan};
use crate::util::report::Report;
use crate::verify::check;
use crate::workspace::config::Config;
use crate::workspace::config::Protected;

/// Runs cargo runs, one step each, adding the binaries they report to `artifacts`.
pub(crate) fn compile<'a>(
    sh: &Shell,
    report: &Report,
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
        let built = report.step(&title, || {
            cargo::run(sh, report, run, &config.members, &config.root, &config.target_dir)
        })?;
        artifacts.extend(built);
    }
    Ok(())
}

/// Builds the UI, unless nothing that decides its output changed.
pub(crate) fn build_ui(sh: &Shell, report: &Report, config: &Config, plan: &Plan) -> anyhow::Result<()> {
    let Some(ui_build) = &plan.ui else { return Ok(()) };
    let stamp = config.target_dir.join("xtask/ui-build.stamp");
    report.step("Building the UI", || {
        if ui::build(sh, report, ui_build, &stamp, &config.root)? == ui::UiOutcome::UpToDate {
            report.say(&format!("    up to date: nothing in {} changed", ui_build.dir));
        }
        Ok(())
    })
}

/// Lays out the plan's context from `artifacts`: staged, checked, then renamed into place.
pub(crate) fn lay_out(
    report: &Report,
    config: &Config,
    plan: &Plan,
    artifacts: &Artifacts,
    protected: &Protected,
) -> anyhow::Result<Vec<Placed>> {
    report.step(&format!("Laying out {}", plan.context), || {
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
pub(crate) fn check_destination(
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
