//! `cargo xtask dist`: config → request → plan → builds → verified context → image.

use anyhow::Context;
use camino::Utf8Path;
use xshell::Shell;

use crate::build::cargo::Artifacts;
use crate::build::{tools, ui};
use crate::cli::flags;
use crate::context::ownership::{resolve_destination, Ledger};
use crate::context::staging::Placed;
use crate::model::targets::Variant;
use crate::pipeline::engine::ImageResult;
use crate::pipeline::{build_ui, check_destination, compile, fetch_downloads, generate_contract, lay_out};
use crate::plan::image::{Attestations, Output};
use crate::plan::{ImageStep, Plan, Profile, Request};
use crate::util::files::write_atomic;
use crate::util::process::{find::Launch, Argv};
use crate::util::report::{self, Report};
use crate::verify::check;
use crate::workspace::config::{current_dir, Config};
use crate::workspace::machine::Machine;

/// The backend's compose file, checked before anything compiles (the context's check finds
/// the same problems later, in the copy).
fn check_compose_file(
    report: &Report,
    root: &Utf8Path,
    compose: &Utf8Path,
    deny_warnings: bool,
) -> anyhow::Result<()> {
    let path = root.join(compose);
    let bytes = crate::util::files::read_capped(&path, check::MAX_COMPOSE)
        .with_context(|| format!("reading the compose file {compose}"))?;
    let problems = check::compose_problems(compose.as_str(), &bytes);
    report.verdict(&problems, &format!("the compose file {compose}"), deny_warnings)
}

/// Where this machine's PATH finds each program the plan starts: what really runs (on
/// Windows `npm` is `…\nodejs\npm.cmd`, run by cmd.exe). Read only: nothing starts.
fn programs_found(sh: &Shell, plan: &Plan) -> String {
    let programs = plan.programs();
    let width = programs.iter().map(|p| p.chars().count()).max().unwrap_or(0);
    let mut text = String::from("\nPrograms, as PATH finds them here:\n");
    for program in &programs {
        let found = match Argv::of(program).launch(sh) {
            Ok(Launch::Direct(path)) => path.display().to_string(),
            Ok(Launch::Batch(path)) => {
                format!("{} (a batch file: cmd.exe runs it, each argument quoted)", path.display())
            }
            Err(_) => "not found on PATH".to_string(),
        };
        text.push_str(&format!("  {program:<width$}  {found}\n"));
    }
    text
}

/// The key of dist's image step in its `--events` (what `bench` reads).
pub(crate) const IMAGE_STEP: &str = "image";

impl flags::Dist {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let report = Report::new();
        let cwd = current_dir()?;
        let (config, plan) = report.step("Reading the config and planning", || {
            let config = Config::load(&cwd)?;
            let request = self.request(&cwd);
            let machine = Machine::probe(sh, &config)?;
            let plan = Plan::new(&config, &request, &machine)?;
            Ok((config, plan))
        })?;
        if self.dry_run {
            print!("{plan}");
            print!("{}", programs_found(sh, &plan));
            return Ok(());
        }
        sh.change_dir(&config.root);

        let protected = config.protected();
        let mut ledger = Ledger::open(&config.target_dir);
        report.step("Checking where dist writes", || {
            let names = plan.context_names();
            for destination in plan.destinations() {
                check_destination(sh, &destination, &protected, &ledger, &names)?;
            }
            Ok(())
        })?;
        if let Some(ui_build) = &plan.ui {
            report.step("Checking the UI's sources", || ui::check_sources(&config.root, ui_build))?;
        }
        if let Some(compose) = config.backend.as_ref().and_then(|b| b.compose_file.as_ref()) {
            report.step("Checking the compose file", || {
                check_compose_file(&report, &config.root, compose, plan.deny_warnings)
            })?;
        }
        if let ImageStep::Build(build) = &plan.image {
            report.step(&format!("Checking the image builder ({})", build.engine), || build.check(sh))?;
        }
        report.step("Checking the toolchain", || {
            tools::ensure_for(sh, &plan.cargo_runs, &config.tools_dir())
        })?;
        // The UI first: its type check against the contract fails in seconds, not after the
        // cross-compiles.
        let contract_changes = generate_contract(sh, &report, &config, &plan)?;
        build_ui(sh, &report, &config, &plan, &contract_changes)?;
        fetch_downloads(sh, &report, &config, &plan)?;
        let mut artifacts = Artifacts::new();
        compile(sh, &report, &config, plan.cargo_runs.iter(), &mut artifacts)?;
        let placed = lay_out(&report, &config, &plan, &artifacts, &protected)?;

        let image = match &plan.image {
            ImageStep::Build(build) => {
                let title =
                    format!("Building the image with {} for {}", build.engine, platforms(&plan.variants));
                Some(report.keyed_step(Some(IMAGE_STEP), &title, || build.run(sh, &report, &mut ledger))?)
            }
            ImageStep::Skip => None,
        };
        print!("{}", summary(&plan, &placed, image.as_ref()));
        if let Some(events) = &self.events {
            let json = serde_json::to_string_pretty(&report.to_json())?;
            write_atomic(&cwd.join(events), json.as_bytes())?;
        }
        Ok(())
    }

    /// What the flags ask of a plan, their paths made absolute where they really point.
    pub(crate) fn request(&self, cwd: &Utf8Path) -> Request {
        let output = match &self.output {
            Some(Output::Oci(path)) => Some(Output::Oci(resolve_destination(cwd, path))),
            other => other.clone(),
        };
        // Nothing unless asked (see `Attestations`); `--no-sbom` asks for provenance alone.
        let attestations = if self.no_attest {
            Attestations::None
        } else if self.no_sbom {
            Attestations::Provenance
        } else if self.attest {
            Attestations::SbomAndProvenance
        } else {
            Attestations::None
        };
        Request {
            reference: self.reference.clone(),
            output,
            engine: self.engine,
            builder: self.builder.clone(),
            platform: self.platform,
            build_with: self.build_with.clone(),
            out: self.out.as_ref().map(|out| resolve_destination(cwd, out)),
            no_image: self.no_image,
            force: self.force,
            attestations,
            prebuilt: self.prebuilt.clone(),
            profile: Profile::Release,
            deny_warnings: self.deny_warnings,
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
