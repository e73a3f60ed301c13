//! The steps of a dist, shared by the commands that build (`dist`, `dev`, `build-host`):
//! compile the cargo runs, build the UI, lay out and check the context, and (in `engine`)
//! build the image.

pub(crate) mod engine;

use std::collections::BTreeSet;

use xshell::Shell;

use crate::builders::cargo::{self, Artifacts};
use crate::builders::contract::{self, ContractOutcome, TypeChange};
use crate::builders::downloads;
use crate::builders::ui;
use crate::context::ownership::{check_context_destination, refuse_tracked, Ledger};
use crate::context::staging::{Placed, Staging};
use crate::plan::image::RegistryClient;
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
        let built = report
            .step(&title, || cargo::run(sh, report, run, &config.members, &config.root, &config.target_dir))
            .inspect_err(|_| crate::builders::tools::forget_zig_probe(&config.tools_dir()))?;
        artifacts.extend(built);
    }
    Ok(())
}

/// Writes the contract's TypeScript when its Rust types changed; returns the types that
/// differ from what the file held (for the UI build's error).
pub(crate) fn generate_contract(
    sh: &Shell,
    report: &Report,
    config: &Config,
    plan: &Plan,
) -> anyhow::Result<Vec<TypeChange>> {
    let Some(gen) = &plan.contract else { return Ok(vec![]) };
    let stamp = config.target_dir.join("xtask/contract.stamp");
    report.step(&format!("Generating the UI's contract ({})", config.relative(&gen.output)), || {
        Ok(match contract::generate(sh, gen, &config.root, &stamp)? {
            ContractOutcome::UpToDate => {
                report.say(&format!(
                    "    up to date: nothing in {} changed",
                    config.relative(&gen.package_dir)
                ));
                vec![]
            }
            ContractOutcome::Unchanged => {
                report.say(&format!("    the types of {} give the same file", gen.package));
                vec![]
            }
            ContractOutcome::Written(changes) => {
                report.say(&format!("    rewritten: {}", contract::list(&changes)));
                changes
            }
        })
    })
}

/// Builds the UI, unless nothing that decides its output changed. `contract_changes`: the
/// contract's types this run rewrote, named when the UI's build fails.
pub(crate) fn build_ui(
    sh: &Shell,
    report: &Report,
    config: &Config,
    plan: &Plan,
    contract_changes: &[TypeChange],
) -> anyhow::Result<()> {
    let Some(ui_build) = &plan.ui else { return Ok(()) };
    let stamp = config.target_dir.join("xtask/ui-build.stamp");
    report.step("Building the UI", || {
        let built = ui::build(sh, report, ui_build, &stamp, &config.root).map_err(|e| {
            match (&plan.contract, contract_changes.is_empty()) {
                (Some(gen), false) => e.context(format!(
                    "the UI does not build against the contract's TypeScript ({}), rewritten from the \
                     Rust types of `{}`: {}. Change the UI's uses of those types (the type checker's \
                     message above says where), or the Rust types back",
                    config.relative(&gen.output),
                    gen.package,
                    contract::list(contract_changes)
                )),
                (Some(gen), true) => e.context(format!(
                    "the UI's build failed; it is type-checked against {}, generated from the Rust types of `{}`",
                    config.relative(&gen.output),
                    gen.package
                )),
                (None, _) => e,
            }
        })?;
        if built == ui::UiOutcome::UpToDate {
            report.say(&format!("    up to date: nothing in {} changed", ui_build.dir));
        }
        Ok(())
    })
}

/// Fetches the host binaries from elsewhere that the download cache lacks.
pub(crate) fn fetch_downloads(
    sh: &Shell,
    report: &Report,
    config: &Config,
    plan: &Plan,
) -> anyhow::Result<()> {
    if plan.downloads.is_empty() {
        return Ok(());
    }
    let client = RegistryClient::in_target(&config.target_dir);
    report.step("Fetching host binaries (verified by SHA-256)", || {
        downloads::ensure(sh, report, &plan.downloads, &client)
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
        report.verdict(&problems, "the context", plan.deny_warnings)?;
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
