//! Building the image from the context: runs the image step of a plan (see `plan::image`)
//! with docker buildx, buildah or podman, or writes it with the builtin engine, and the
//! checks before it.

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::util::process::cmd;

use crate::context::ownership::Ledger;
use crate::image::attest::Attach;
use crate::image::builtin::Layers;
use crate::model::engine::Engine;
use crate::model::reference::ImageReference;
use crate::plan::image::{Check, ImageBuild, Output, Run, DRIVER_STATUS, SERVER_VERSION};
use crate::util::digest::Digest;
use crate::util::process::Argv;
use crate::util::report::Report;
use crate::workspace::machine::runs;

/// What a finished image build produced, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageResult {
    pub reference: ImageReference,
    pub digest: Option<Digest>,
    pub archive: Option<Utf8PathBuf>,
    pub note: Option<String>,
}

impl Check {
    pub(crate) fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        match self {
            Check::DockerRunning => docker_running(sh),
            Check::BuilderExports { builder, platforms } => {
                builder_exports(sh, builder.as_deref(), *platforms)
            }
            Check::ContainerdStore => {
                if containerd_store(sh) {
                    return Ok(());
                }
                bail!(
                    "--load of two platforms needs Docker's containerd image store: the classic \
                     image store cannot hold a multi-platform image.\n\
                     Fix it in one of these ways:\n\
                     - in Docker Desktop, turn on Settings > General > \"Use containerd for pulling and storing images\"\n\
                     - load only your machine's platform: --load --platform linux/{}\n\
                     - write an archive of both instead: --oci target/extension.tar",
                    host_arch()
                )
            }
            Check::NotPublished { reference, command, absent_exit } => {
                if command.program() == "skopeo" && !runs(sh, "skopeo", &["--version"]) {
                    eprintln!("    note: skopeo is not installed, so whether {reference} is already published cannot be checked");
                    return Ok(());
                }
                let asked = command.cmd(sh)?.quiet().ignore_status().output()?;
                if let (Some(absent), false) = (absent_exit, asked.status.success()) {
                    if asked.status.code() == Some(*absent) {
                        return Ok(());
                    }
                    bail!(
                        "cannot tell whether {reference} is already published: `{command}` failed: {}",
                        String::from_utf8_lossy(&asked.stderr).trim()
                    );
                }
                if asked.status.success() {
                    bail!(
                        "{reference} is already published, and a released tag must not change under its \
                         users (the Marketplace and Docker Desktop cache it). Bump the version \
                         ([workspace.package] version, or `tag`), or pass --force to overwrite it"
                    );
                }
                Ok(())
            }
            Check::RegistryClient(client) => client.ensure(sh).map(drop),
        }
    }
}

/// Whether a Docker engine answers (the CLI and its plugins answer without one).
pub(crate) fn docker_answers(sh: &Shell) -> bool {
    docker_running(sh).is_ok()
}

/// `docker info` answers only when the engine does; the buildx plugin answers without it.
fn docker_running(sh: &Shell) -> anyhow::Result<()> {
    let info = cmd!(sh, "docker info --format {SERVER_VERSION}")?.quiet().ignore_status().output()?;
    if info.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&info.stderr);
    let said = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("no answer").trim();
    bail!("{}", docker_not_running(said))
}

/// The one sentence for a Docker that does not answer: dist and doctor both say it.
pub(crate) fn docker_not_running(docker_said: &str) -> String {
    format!(
        "Docker is not running (docker says: {docker_said}): start Docker Desktop (or your Docker \
         engine) and run again, or build without a daemon with --engine buildah or --engine podman"
    )
}

fn builder_exports(sh: &Shell, builder: Option<&str>, platforms: usize) -> anyhow::Result<()> {
    let given = builder.map(str::to_string);
    let inspect =
        cmd!(sh, "docker buildx inspect {given...}").and_then(|c| Ok(c.quiet().ignore_stderr().read()?));
    let name = builder.unwrap_or("in use");
    let Ok(inspect) = inspect else {
        bail!(
            "`docker buildx inspect{}` failed: the builder {name} does not exist. Create one that \
             exports multi-platform images:\n    docker buildx create --name extensions --driver docker-container --use\n\
             then run again with --builder extensions",
            builder.map(|b| format!(" {b}")).unwrap_or_default()
        );
    };
    let facts = BuilderFacts::parse(&inspect);
    let name = facts.name.as_deref().unwrap_or(name);
    // docker-container, kubernetes and remote builders export any platform list; the
    // docker driver only through the containerd image store.
    if facts.driver.as_deref() != Some("docker") || platforms < 2 || containerd_store(sh) {
        return Ok(());
    }
    bail!(
        "the buildx builder `{name}` uses the `docker` driver with the classic image store, which \
         cannot export a multi-platform image.\n\
         Fix it in one of these ways:\n\
         - create a docker-container builder, as Docker's extension template does:\n      docker buildx create --name extensions --driver docker-container --use\n  and run again with --builder extensions\n\
         - or, in Docker Desktop, turn on the containerd image store (Settings > General > \"Use containerd for pulling and storing images\")"
    )
}

impl ImageBuild {
    /// The builtin engine's image of the context, announced as the step that writes it.
    fn builtin_image(
        &self,
        report: &Report,
        step: &Run,
        layers: Layers,
    ) -> anyhow::Result<crate::image::builtin::BuiltImage> {
        report.say(&format!("    {step}"));
        let attach = match &self.attach {
            Some(plan) => {
                report.say(&format!("    {plan}"));
                let sbom = match &plan.sbom {
                    Some(sources) => Some(
                        crate::builders::inventory::components(sources)
                            .context("listing the packages for the SBOM")?,
                    ),
                    None => None,
                };
                Some(Attach { sbom, provenance: plan.provenance.clone() })
            }
            None => None,
        };
        let scratch = self.scratch.join(format!("builtin-{}", self.context_hash()));
        crate::image::builtin::build(
            &self.spec,
            &self.reference,
            &self.context,
            &self.platforms,
            self.epoch.seconds,
            layers,
            attach.as_ref(),
            &scratch,
        )
    }

    /// Runs every check, in order; the first failure stops.
    pub(crate) fn check(&self, sh: &Shell) -> anyhow::Result<()> {
        for check in self.checks() {
            check.run(sh)?;
        }
        Ok(())
    }

    /// Builds, and exports or pushes, the image (after `check`). An archive replaces the
    /// previous one only if the ledger still says dist wrote it, and is recorded there.
    pub(crate) fn run(
        &self,
        sh: &Shell,
        report: &Report,
        ledger: &mut Ledger,
    ) -> anyhow::Result<ImageResult> {
        if let Output::Oci(path) = &self.output {
            let partial = Self::partial_archive(path);
            if partial.exists() {
                sh.remove_path(&partial).with_context(|| format!("removing {partial}"))?;
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_str().is_empty()) {
                sh.create_dir(parent).with_context(|| format!("creating {parent}"))?;
            }
        }
        if self.digest_file.exists() {
            sh.remove_path(&self.digest_file)?;
        }
        if let Some(parent) = self.digest_file.parent() {
            sh.create_dir(parent).with_context(|| format!("creating {parent}"))?;
        }
        let mut built = None;
        for step in self.commands() {
            let ran = match &step {
                Run::Command { argv, only_if } => {
                    run_command(sh, report, argv, only_if.as_ref()).map(|()| None)
                }
                Run::WriteArchive { to, layers } => {
                    self.builtin_image(report, &step, *layers).and_then(|image| {
                        crate::image::builtin::write_archive(&image, &self.reference, to)
                            .map(|()| Some(image))
                    })
                }
                Run::WriteLayout { to } => {
                    self.builtin_image(report, &step, Layers::Gzip).and_then(|image| {
                        crate::image::builtin::write_layout(&image, &self.reference, to).map(|()| Some(image))
                    })
                }
            };
            match ran {
                Ok(image) => built = image.or(built),
                Err(e) => {
                    if let Output::Oci(path) = &self.output {
                        let _ = std::fs::remove_file(Self::partial_archive(path));
                    }
                    return Err(e);
                }
            }
        }
        let digest = match &built {
            Some(image) => Some(image.index_digest.clone()),
            None => read_digest(&self.digest_file),
        };
        let mut result = ImageResult { reference: self.reference.clone(), digest, archive: None, note: None };
        if let (Some(image), Output::Load) = (&built, &self.output) {
            if !containerd_store(sh) {
                result.note = Some(format!(
                    "Docker's classic image store holds one platform: it loaded {} only (the containerd store takes both)",
                    crate::image::builtin::archive_platform(image).platform()
                ));
            }
        }
        match &self.output {
            Output::Oci(path) => {
                let partial = Self::partial_archive(path);
                if let Err(e) = ledger.check_file_destination(path, "--oci") {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e);
                }
                std::fs::rename(&partial, path).with_context(|| format!("renaming {partial} to {path}"))?;
                ledger.record(path)?;
                result.archive = Some(path.clone());
            }
            Output::Build if self.engine == Engine::Buildx => {
                result.note = Some("built in the builder's cache only: pass --load, --push or --oci PATH to get the image out".into());
            }
            Output::Build | Output::Load if matches!(self.engine, Engine::Buildah | Engine::Podman) => {
                result.note = Some(format!(
                    "in local containers-storage as the manifest list {} ({} images)",
                    self.reference,
                    self.engine.program()
                ));
            }
            Output::Push if matches!(self.engine, Engine::Buildah | Engine::Podman) => {
                result.note =
                    Some(format!("{} pushes no SBOM or provenance attestations (buildx does)", self.engine));
            }
            _ => {}
        }
        Ok(result)
    }
}

/// Runs a step's command (when its condition holds), echoing it first.
fn run_command(sh: &Shell, report: &Report, argv: &Argv, only_if: Option<&Argv>) -> anyhow::Result<()> {
    if let Some(condition) = only_if {
        if condition.cmd(sh).and_then(|c| Ok(c.quiet().ignore_stdout().ignore_stderr().run()?)).is_err() {
            return Ok(());
        }
    }
    report.say(&format!("    $ {argv}"));
    argv.cmd(sh)?.quiet().run().with_context(|| format!("`{argv}` failed (its output is above)"))
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// Whether Docker uses the containerd image store (`docker info` shows its snapshotter).
pub(crate) fn containerd_store(sh: &Shell) -> bool {
    let info = cmd!(sh, "docker info --format {DRIVER_STATUS}")
        .and_then(|c| Ok(c.quiet().ignore_stderr().read()?));
    info.is_ok_and(|s| s.contains("io.containerd.snapshotter"))
}

/// What `docker buildx inspect` says about a builder.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BuilderFacts {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub platforms: Vec<String>,
}

impl BuilderFacts {
    pub(crate) fn parse(inspect: &str) -> BuilderFacts {
        let mut facts = BuilderFacts::default();
        for line in inspect.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match key.trim() {
                "Name" if facts.name.is_none() => facts.name = Some(value.to_string()),
                "Driver" => facts.driver = Some(value.to_string()),
                "Platforms" => facts.platforms.extend(
                    value
                        .split(',')
                        .map(|p| p.trim().trim_end_matches('*').to_string())
                        .filter(|p| !p.is_empty()),
                ),
                _ => {}
            }
        }
        facts
    }
}

/// The digest an engine wrote: buildx's metadata file (JSON) or buildah's `--digestfile`.
fn read_digest(file: &Utf8Path) -> Option<Digest> {
    let text = std::fs::read_to_string(file).ok()?;
    let text = text.trim();
    if text.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        json.get("containerimage.digest")?.as_str()?.parse().ok()
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_facts() {
        let facts = BuilderFacts::parse(
            "Name:          extensions\nDriver:        docker-container\nNodes:\nName:      extensions0\n\
             Platforms: linux/amd64, linux/amd64/v2, linux/arm64*, linux/386\n",
        );
        assert_eq!(facts.name.as_deref(), Some("extensions"));
        assert_eq!(facts.driver.as_deref(), Some("docker-container"));
        assert_eq!(facts.platforms, ["linux/amd64", "linux/amd64/v2", "linux/arm64", "linux/386"]);
    }
}
