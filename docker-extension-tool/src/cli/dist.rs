//! `cargo xtask dist`: config → request → plan → builds → verified context → image.

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::builders::cargo::Artifacts;
use crate::builders::{tools, ui};
use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::context::ownership::{resolve_destination, Ledger};
use crate::context::staging::Placed;
use crate::model::engine::Engine;
use crate::model::reference::ImageReference;
use crate::model::targets::{Builder, Variant};
use crate::pipeline::engine::ImageResult;
use crate::pipeline::{build_ui, check_destination, compile, fetch_downloads, generate_contract, lay_out};
use crate::plan::image::{Attestations, Output};
use crate::plan::{ImageStep, Plan, Request};
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

/// `cargo xtask dist`: what the user asked of a plan, and how to run it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Dist {
    /// What the plan is asked for (its paths as given: `run` makes them absolute).
    pub request: Request,
    /// `--dry-run`: print the plan, run nothing.
    pub dry_run: bool,
    /// `--events FILE`: the steps' durations and the peak memory, as JSON.
    pub events: Option<Utf8PathBuf>,
}

impl Cmd for Dist {
    const SPEC: Spec = Spec::new(
        "dist",
        "Cross-compile, lay out and build the two-platform extension image",
        "[options]",
        "Cross-compiles the backend and host binaries, builds the UI, writes the build context\n\
         (target/extension: Dockerfile, metadata.json, per-variant binaries) and builds the image\n\
         for linux/amd64 and linux/arm64.",
    )
    .options(&[
        Opt::value("--tag", "NAME[:TAG]", "Image reference (default: the config's image and tag)"),
        Opt::switch("--push", "Push both platforms to the registry (attestations only with --attest)"),
        Opt::switch("--load", "Load the image into Docker (two platforms need the containerd store)"),
        Opt::value(
            "--oci",
            "PATH",
            "Write an OCI archive holding both platforms (the builtin engine\n\
             writes target/extension.tar when no output is given)",
        ),
        Opt::value(
            "--engine",
            "ENGINE",
            "buildx, buildah, podman or builtin (default: buildx when docker\n\
             has it, else podman, else buildah, else builtin: dist writes the\n\
             image itself, reproducibly, with no engine at all)",
        ),
        Opt::value("--builder", "NAME", "The buildx builder to use"),
        Opt::value("--platform", "PLATFORM", "Build one variant only: linux/amd64 or linux/arm64"),
        Opt::value(
            "--build-with",
            "KEY=BUILDER",
            "Build an OS (darwin, windows, linux, backend) or a target with\n\
             zigbuild, cross, cargo or rust-lld (repeatable; overrides the config)",
        )
        .repeated(),
        Opt::value("--out", "DIR", "Where to write the build context (default: target/extension)"),
        Opt::value(
            "--prebuilt",
            "DIR",
            "Take host binaries built elsewhere from DIR/TARGET/NAME (see\n\
             build-host); each is checked by its header as dist's own builds are",
        ),
        Opt::switch("--no-image", "Write the context only"),
        Opt::switch("--dry-run", "Print the plan (checks, builds, layout, image commands); run nothing"),
        Opt::switch(
            "--attest",
            "Attach an SBOM and provenance to each platform's image, in the\n\
             image's index as buildx does (buildx: a push; builtin: any image).\n\
             Off by default: Docker's Marketplace validator has refused indexes\n\
             holding attestation manifests (see the README, Attestations)",
        ),
        Opt::switch("--no-sbom", "Attach provenance only (the SBOM needs Docker Hub's scanner image)"),
        Opt::switch("--no-attest", "Attach nothing (the default)"),
        Opt::switch("--force", "Push a non-semver or `latest` tag, one platform, or over an existing tag"),
        Opt::switch(
            "--deny-warnings",
            "Fail on advice too (each warning names its rule: `cargo xtask rules`);\n\
             the config's `deny-warnings = true` does the same",
        ),
        Opt::value("--events", "FILE", "Write each step's duration and dist's peak memory to FILE as JSON"),
    ]);

    fn from_args(args: &mut Parsed) -> Result<Dist, UsageError> {
        let (push, load, oci) = (args.switch("--push"), args.switch("--load"), args.path("--oci"));
        let outputs = [push, load, oci.is_some()].iter().filter(|&&b| b).count();
        if outputs > 1 {
            return Err(args.error("--push, --load and --oci are exclusive: choose one"));
        }
        let no_image = args.switch("--no-image");
        if no_image && outputs > 0 {
            return Err(args
                .error("--no-image builds no image, so it cannot be combined with --push, --load or --oci"));
        }
        let engine: Option<Engine> = args.parsed("--engine")?;
        let (attest, no_sbom, no_attest) =
            (args.switch("--attest"), args.switch("--no-sbom"), args.switch("--no-attest"));
        if (attest || no_sbom || no_attest) && !push && engine != Some(Engine::Builtin) {
            return Err(args.error(
                "--attest, --no-sbom and --no-attest say what a push attaches (or any image of the builtin engine): use them with --push or --engine builtin",
            ));
        }
        if attest && no_attest {
            return Err(args.error("--attest and --no-attest contradict each other: choose one"));
        }
        // Nothing unless asked (see `Attestations`); `--no-sbom` asks for provenance alone.
        let attestations = if no_attest {
            Attestations::None
        } else if no_sbom {
            Attestations::Provenance
        } else if attest {
            Attestations::SbomAndProvenance
        } else {
            Attestations::None
        };
        let mut build_with = std::collections::BTreeMap::new();
        for value in args.strings("--build-with") {
            let Some((key, builder)) = value.split_once('=') else {
                return Err(
                    args.error(format!("--build-with takes KEY=BUILDER (e.g. windows=cross), not `{value}`"))
                );
            };
            let builder: Builder =
                builder.parse().map_err(|e| args.error(format!("--build-with {value}: {e}")))?;
            build_with.insert(key.to_string(), builder);
        }
        let reference: Option<ImageReference> = args.parsed("--tag")?;
        let request = Request {
            reference,
            output: match (push, load, oci) {
                (true, _, _) => Some(Output::Push),
                (_, true, _) => Some(Output::Load),
                (_, _, Some(path)) => Some(Output::Oci(path)),
                _ => None,
            },
            engine,
            builder: args.string("--builder"),
            platform: args.parsed("--platform")?,
            build_with,
            out: args.path("--out"),
            no_image,
            force: args.switch("--force"),
            attestations,
            prebuilt: args.path("--prebuilt"),
            profile: Default::default(),
            deny_warnings: args.switch("--deny-warnings"),
        };
        Ok(Dist { request, dry_run: args.switch("--dry-run"), events: args.path("--events") })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl Dist {
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

    /// The request, its paths made absolute where they really point.
    pub(crate) fn request(&self, cwd: &Utf8Path) -> Request {
        let mut request = self.request.clone();
        if let Some(Output::Oci(path)) = &request.output {
            request.output = Some(Output::Oci(resolve_destination(cwd, path)));
        }
        request.out = request.out.map(|out| resolve_destination(cwd, &out));
        request
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Command};

    fn dist(s: &str) -> Dist {
        match parse(s.split_whitespace().map(String::from)) {
            Ok(Command::Dist(dist)) => dist,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dist_flags_become_a_typed_request() {
        let dist = dist(
            "dist --push --tag=example/ext:1.2.3 --build-with windows=cross --platform linux/arm64 --dry-run",
        );
        let request = &dist.request;
        assert_eq!(request.output, Some(Output::Push));
        assert_eq!(request.reference.as_ref().unwrap().to_string(), "example/ext:1.2.3");
        assert_eq!(request.build_with, [("windows".to_string(), Builder::Cross)].into());
        assert_eq!(request.platform, Some(Variant::Arm64));
        assert_eq!(request.attestations, Attestations::None);
        assert!(dist.dry_run);
        let dist = self::dist("dist --tag localhost:5000/acme/ext --oci out.tar --engine buildah");
        let reference = dist.request.reference.as_ref().unwrap();
        assert_eq!((reference.repository(), reference.tag()), ("localhost:5000/acme/ext", None));
        assert_eq!(dist.request.output, Some(Output::Oci("out.tar".into())));
        assert_eq!(dist.request.engine, Some(Engine::Buildah));
        assert_eq!(self::dist("dist --push --attest").request.attestations, Attestations::SbomAndProvenance);
        assert_eq!(self::dist("dist --push --no-sbom").request.attestations, Attestations::Provenance);
        // Relative paths are the current folder's (an absolute one on every OS).
        let cwd = Utf8PathBuf::try_from(std::env::temp_dir()).unwrap();
        let resolved = self::dist("dist --oci out.tar --out ctx").request(&cwd);
        assert_eq!(resolved.output, Some(Output::Oci(cwd.join("out.tar"))));
        assert_eq!(resolved.out, Some(cwd.join("ctx")));
    }

    #[test]
    fn every_bad_flag_is_a_usage_error_with_dists_usage() {
        for (args, says) in [
            ("dist --push --load", "exclusive"),
            ("dist --no-image --push", "--no-image"),
            ("dist --tag", "--tag needs a value"),
            ("dist --frobnicate", "unexpected option `--frobnicate`"),
            ("dist --engine kaniko", "--engine kaniko: not an image builder"),
            ("dist --platform linux/s390x", "--platform linux/s390x: an extension image is"),
            ("dist --build-with windows=make", "--build-with windows=make: `make` is not a builder"),
            (
                "dist --tag Example/Ext:1.0",
                "--tag Example/Ext:1.0: `Example/Ext` is not a valid image repository",
            ),
            ("dist --out a --out b", "--out is given twice"),
            ("dist --dry-run=yes", "--dry-run takes no value"),
            ("dist stray", "unexpected argument `stray`"),
            ("dist --attest", "use them with --push or --engine builtin"),
            ("dist --push --attest --no-attest", "contradict"),
        ] {
            let error = parse(args.split_whitespace().map(String::from)).unwrap_err();
            assert!(error.message.contains(says), "{args}: {}", error.message);
            assert_eq!(error.command.map(|c| c.name), Some("dist"), "{args}");
            assert!(crate::cli::usage_of(&error).starts_with("Usage: cargo xtask dist [options]"));
        }
    }
}
