//! Building the image from the context: docker buildx, or buildah / podman (no daemon).
//!
//! An [`ImageBuild`] is plain data. Its [`Check`]s (each a sentence and the commands that
//! answer it) run before anything is compiled, and its [`Run`]s build the image; `--dry-run`
//! prints both lists and dist runs exactly those, in that order.

use std::fmt;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{cmd, Shell};

use crate::context::ownership::Ledger;
use crate::image::builtin::Layers;
use crate::image::spec::ImageSpec;
use crate::model::targets::Variant;
use crate::testing::services::SERVER_VERSION;
use crate::workspace::machine::runs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `docker buildx build`: Docker Desktop's builder (BuildKit).
    Buildx,
    /// `podman build --manifest`: no daemon.
    Podman,
    /// `buildah build --manifest`: no daemon.
    Buildah,
    /// dist writes the image itself (see `builtin`): no engine at all, reproducible.
    Builtin,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Buildx => "buildx",
            Engine::Podman => "podman",
            Engine::Buildah => "buildah",
            Engine::Builtin => "builtin",
        }
    }

    /// The engines this machine has, in the order `dist` prefers them (the builtin one,
    /// always there, is the fallback and not listed).
    pub fn detect(sh: &Shell) -> Vec<Engine> {
        let mut engines = vec![];
        if runs(sh, "docker", &["buildx", "version"]) {
            engines.push(Engine::Buildx);
        }
        if runs(sh, "podman", &["--version"]) {
            engines.push(Engine::Podman);
        }
        if runs(sh, "buildah", &["--version"]) {
            engines.push(Engine::Buildah);
        }
        engines
    }

    fn program(self) -> &'static str {
        match self {
            Engine::Buildx | Engine::Builtin => "docker",
            Engine::Podman => "podman",
            Engine::Buildah => "buildah",
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "buildx" | "docker" => Ok(Engine::Buildx),
            "podman" => Ok(Engine::Podman),
            "buildah" => Ok(Engine::Buildah),
            "builtin" => Ok(Engine::Builtin),
            _ => Err("not an image builder this tool drives; use buildx, buildah, podman or builtin".into()),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the built image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Push every platform to the registry (`--push`).
    Push,
    /// Load into the local image store (`--load`).
    Load,
    /// Write an OCI archive holding every platform (`--oci PATH`).
    Oci(Utf8PathBuf),
    /// Only build: buildx keeps the result in its cache, buildah/podman in local storage.
    Build,
}

/// What a push attaches (buildx only: buildah and podman attach nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attestations {
    /// An SBOM (made by Docker Hub's scanner image) and max-mode provenance: the default.
    SbomAndProvenance,
    /// `--no-sbom`: provenance only, for builders that cannot pull the scanner.
    Provenance,
    /// `--no-attest`: nothing.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuild {
    pub engine: Engine,
    pub reference: String,
    pub platforms: Vec<Variant>,
    pub output: Output,
    /// `--builder`: the buildx builder instance to use.
    pub builder: Option<String>,
    /// `--force`: push over an existing tag.
    pub force: bool,
    pub attestations: Attestations,
    pub context: Utf8PathBuf,
    /// Where the engine writes the image digest (buildx `--metadata-file`, buildah `--digestfile`).
    pub digest_file: Utf8PathBuf,
    /// What the image holds: the builtin engine builds it from this (the others from the
    /// Dockerfile rendered from it).
    pub spec: ImageSpec,
    /// Every timestamp in a builtin image (`SOURCE_DATE_EPOCH`).
    pub epoch: SourceDate,
    /// dist's own folder (target/xtask): the builtin engine's scratch files.
    pub scratch: Utf8PathBuf,
    /// How the builtin engine stores the layers of an image it loads (`--load`).
    pub load_layers: Layers,
}

/// The time a builtin image says it was made, and where that came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDate {
    pub seconds: u64,
    pub from: SourceDateFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceDateFrom {
    /// The `SOURCE_DATE_EPOCH` variable.
    Variable,
    /// The last commit's time.
    LastCommit,
    /// Neither: 1970.
    Zero,
}

impl fmt::Display for SourceDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match self.from {
            SourceDateFrom::Variable => "SOURCE_DATE_EPOCH",
            SourceDateFrom::LastCommit => "the last commit's time",
            SourceDateFrom::Zero => "no SOURCE_DATE_EPOCH and no commit",
        };
        write!(f, "{} ({}, {from})", self.seconds, crate::image::builtin::rfc3339(self.seconds))
    }
}

/// What a finished image build produced, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageResult {
    pub reference: String,
    pub digest: Option<String>,
    pub archive: Option<Utf8PathBuf>,
    pub note: Option<String>,
}

/// A check made before anything is compiled: it fails in seconds, with the fix, rather
/// than after minutes of cross-compiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The Docker engine answers (Docker Desktop is started).
    DockerRunning,
    /// The buildx builder can export an image of every platform. No platform list is
    /// asked for: the Dockerfile has no RUN step, so no platform needs emulation.
    BuilderExports { builder: Option<String>, platforms: usize },
    /// `--load` of several platforms needs Docker's containerd image store.
    ContainerdStore,
    /// The tag is not published yet (a released tag must not change under its users).
    /// With `absent_exit`, only that exit code means "not published" and any other failure
    /// is an error; without it, any failure does.
    NotPublished { reference: String, command: Vec<String>, absent_exit: Option<i32> },
}

/// A step of the image build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// A program, run as it is; `only_if` first decides whether it runs.
    Command { argv: Vec<String>, only_if: Option<Vec<String>> },
    /// dist writes the image itself (the builtin engine) as an OCI archive at `to`.
    WriteArchive { to: Utf8PathBuf, layers: Layers },
    /// The same, as an OCI layout folder (what the registry client pushes).
    WriteLayout { to: Utf8PathBuf },
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Run::Command { argv, only_if: Some(condition) } => {
                write!(f, "{} (only if `{}` succeeds)", argv.join(" "), condition.join(" "))
            }
            Run::Command { argv, only_if: None } => f.write_str(&argv.join(" ")),
            Run::WriteArchive { to, layers: Layers::Gzip } => {
                write!(f, "write the image as an OCI archive (builtin): {to}")
            }
            Run::WriteArchive { to, layers: Layers::Uncompressed } => {
                write!(f, "write the image as an OCI archive (builtin, uncompressed layers to load): {to}")
            }
            Run::WriteLayout { to } => write!(f, "write the image as an OCI layout (builtin): {to}"),
        }
    }
}

const DRIVER_STATUS: &str = "{{json .DriverStatus}}";

impl Check {
    pub fn describe(&self) -> String {
        match self {
            Check::DockerRunning => "Docker is running".into(),
            Check::BuilderExports { builder, platforms } => format!(
                "the buildx builder {} can export {}",
                builder.as_deref().unwrap_or("in use"),
                if *platforms > 1 { "a multi-platform image" } else { "the image" }
            ),
            Check::ContainerdStore => "the image store can hold a multi-platform image (containerd)".into(),
            Check::NotPublished { reference, .. } => format!("{reference} is not published yet"),
        }
    }

    /// The commands whose answers decide the check.
    pub fn commands(&self) -> Vec<Vec<String>> {
        match self {
            Check::DockerRunning => vec![argv(["docker", "info", "--format", SERVER_VERSION])],
            Check::BuilderExports { builder, platforms } => {
                let mut inspect = argv(["docker", "buildx", "inspect"]);
                inspect.extend(builder.clone());
                let mut commands = vec![inspect];
                if *platforms > 1 {
                    commands.push(argv(["docker", "info", "--format", DRIVER_STATUS]));
                }
                commands
            }
            Check::ContainerdStore => vec![argv(["docker", "info", "--format", DRIVER_STATUS])],
            Check::NotPublished { command, .. } => vec![command.clone()],
        }
    }

    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
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
                let (program, args) = command.split_first().expect("a command");
                if program == "skopeo" && !runs(sh, "skopeo", &["--version"]) {
                    eprintln!("    note: skopeo is not installed, so whether {reference} is already published cannot be checked");
                    return Ok(());
                }
                let asked = cmd!(sh, "{program} {args...}").quiet().ignore_status().output()?;
                if let (Some(absent), false) = (absent_exit, asked.status.success()) {
                    if asked.status.code() == Some(*absent) {
                        return Ok(());
                    }
                    bail!(
                        "cannot tell whether {reference} is already published: `{}` failed: {}",
                        command.join(" "),
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
        }
    }
}

/// Whether a Docker engine answers (the CLI and its plugins answer without one).
pub fn docker_answers(sh: &Shell) -> bool {
    docker_running(sh).is_ok()
}

/// `docker info` answers only when the engine does; the buildx plugin answers without it.
fn docker_running(sh: &Shell) -> anyhow::Result<()> {
    let info = cmd!(sh, "docker info --format {SERVER_VERSION}").quiet().ignore_status().output()?;
    if info.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&info.stderr);
    let said = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("no answer").trim();
    bail!("{}", docker_not_running(said))
}

/// The one sentence for a Docker that does not answer: dist and doctor both say it.
pub fn docker_not_running(docker_said: &str) -> String {
    format!(
        "Docker is not running (docker says: {docker_said}): start Docker Desktop (or your Docker \
         engine) and run again, or build without a daemon with --engine buildah or --engine podman"
    )
}

fn builder_exports(sh: &Shell, builder: Option<&str>, platforms: usize) -> anyhow::Result<()> {
    let given = builder.map(str::to_string);
    let inspect = cmd!(sh, "docker buildx inspect {given...}").quiet().ignore_stderr().read();
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
    fn platform_list(&self) -> String {
        self.platforms.iter().map(|v| v.platform()).collect::<Vec<_>>().join(",")
    }

    /// An OCI archive is written beside its final path under a hidden name, then renamed:
    /// a failed build leaves the previous archive intact.
    pub fn partial_archive(path: &Utf8Path) -> Utf8PathBuf {
        let name = path.file_name().unwrap_or("image.tar");
        path.with_file_name(format!(".{name}.dist-partial"))
    }

    /// The checks made before building, in order.
    pub fn checks(&self) -> Vec<Check> {
        let mut checks = vec![];
        let multi = self.platforms.len();
        let publish_check = |command: Vec<String>| Check::NotPublished {
            reference: self.reference.clone(),
            command,
            absent_exit: None,
        };
        match self.engine {
            Engine::Buildx => {
                checks.push(Check::DockerRunning);
                checks.push(Check::BuilderExports { builder: self.builder.clone(), platforms: multi });
                if self.output == Output::Load && multi > 1 {
                    checks.push(Check::ContainerdStore);
                }
                if self.output == Output::Push && !self.force {
                    checks.push(publish_check(argv([
                        "docker",
                        "buildx",
                        "imagetools",
                        "inspect",
                        &self.reference,
                    ])));
                }
            }
            Engine::Buildah | Engine::Podman => {
                if self.output == Output::Push && !self.force {
                    let remote = format!("docker://{}", self.reference);
                    checks.push(publish_check(argv(["skopeo", "inspect", "--raw", &remote])));
                }
            }
            Engine::Builtin => {
                if self.output == Output::Load {
                    checks.push(Check::DockerRunning);
                }
                if self.output == Output::Push && !self.force {
                    let mut command = registry_client();
                    command.extend(argv(["digest", &self.reference]));
                    checks.push(Check::NotPublished {
                        reference: self.reference.clone(),
                        command,
                        absent_exit: Some(3),
                    });
                }
            }
        }
        checks
    }

    /// The commands that build (and push or export) the image, exactly as they run.
    pub fn commands(&self) -> Vec<Run> {
        let platforms = self.platform_list();
        let context = self.context.as_str();
        let digest_file = self.digest_file.as_str();
        let always = |argv: Vec<String>| Run::Command { argv, only_if: None };
        match self.engine {
            Engine::Buildx => {
                let mut build = argv(["docker", "buildx", "build", "--platform", &platforms]);
                build.extend(argv(["--tag", &self.reference]));
                if let Some(builder) = &self.builder {
                    build.extend(argv(["--builder", builder]));
                }
                match &self.output {
                    Output::Push => {
                        build.push("--push".into());
                        build.extend(match self.attestations {
                            Attestations::SbomAndProvenance => argv(["--sbom=true", "--provenance=mode=max"]),
                            Attestations::Provenance => argv(["--sbom=false", "--provenance=mode=max"]),
                            Attestations::None => argv(["--sbom=false", "--provenance=false"]),
                        });
                    }
                    Output::Load => build.push("--load".into()),
                    Output::Oci(path) => {
                        let dest = format!("type=oci,dest={}", Self::partial_archive(path));
                        build.extend(argv(["--output", &dest]));
                    }
                    Output::Build => {}
                }
                build.extend(argv(["--metadata-file", digest_file, context]));
                vec![always(build)]
            }
            Engine::Buildah | Engine::Podman => {
                let program = self.engine.program();
                let reference = self.reference.as_str();
                // A manifest list of the same name from an earlier build would gain
                // duplicate entries: it goes first.
                let mut commands = vec![Run::Command {
                    argv: argv([program, "manifest", "rm", reference]),
                    only_if: Some(argv([program, "manifest", "exists", reference])),
                }];
                // --layers: one layer per step (buildah otherwise squashes them into one), so
                // the shared files' layers are identical in both variants.
                commands.push(always(argv([
                    program,
                    "build",
                    "--layers",
                    "--platform",
                    &platforms,
                    "--manifest",
                    reference,
                    context,
                ])));
                let destination = match &self.output {
                    Output::Push => Some(format!("docker://{reference}")),
                    Output::Oci(path) => Some(format!("oci-archive:{}", Self::partial_archive(path))),
                    Output::Load | Output::Build => None,
                };
                if let Some(destination) = destination {
                    commands.push(always(argv([
                        program,
                        "manifest",
                        "push",
                        "--all",
                        "--digestfile",
                        digest_file,
                        reference,
                        &destination,
                    ])));
                }
                commands
            }
            Engine::Builtin => match &self.output {
                Output::Oci(path) => {
                    vec![Run::WriteArchive { to: Self::partial_archive(path), layers: Layers::Gzip }]
                }
                Output::Load => {
                    let archive = self.load_archive();
                    vec![
                        Run::WriteArchive { to: archive.clone(), layers: self.load_layers },
                        always(argv(["docker", "load", "--input", archive.as_str()])),
                    ]
                }
                Output::Push => {
                    let layout = self.scratch.join(format!("builtin-push-{}", self.context_hash()));
                    let mut push = registry_client();
                    push.extend(argv(["push", layout.as_str(), &self.reference]));
                    vec![Run::WriteLayout { to: layout }, always(push)]
                }
                Output::Build => unreachable!("the plan gives the builtin engine --oci, --load or --push"),
            },
        }
    }

    /// The archive the builtin engine writes for `docker load`, in dist's own folder (one
    /// per context, like the digest file: concurrent runs never share it).
    fn load_archive(&self) -> Utf8PathBuf {
        self.scratch.join(format!("builtin-load-{}.tar", self.context_hash()))
    }

    fn context_hash(&self) -> String {
        crate::context::ownership::short_hash(self.context.as_str())
    }

    /// The builtin engine's image of the context, announced as the step that writes it.
    fn builtin_image(&self, step: &Run, layers: Layers) -> anyhow::Result<crate::image::builtin::BuiltImage> {
        crate::util::report::say(&format!("    {step}"));
        let scratch = self.scratch.join(format!("builtin-{}", self.context_hash()));
        crate::image::builtin::build(
            &self.spec,
            &self.context,
            &self.platforms,
            self.epoch.seconds,
            layers,
            &scratch,
        )
    }

    /// Runs every check, in order; the first failure stops.
    pub fn check(&self, sh: &Shell) -> anyhow::Result<()> {
        for check in self.checks() {
            check.run(sh)?;
        }
        Ok(())
    }

    /// Builds, and exports or pushes, the image (after `check`). An archive replaces the
    /// previous one only if the ledger still says dist wrote it, and is recorded there.
    pub fn run(&self, sh: &Shell, ledger: &mut Ledger) -> anyhow::Result<ImageResult> {
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
                Run::Command { argv, only_if } => run_command(sh, argv, only_if.as_deref()).map(|()| None),
                Run::WriteArchive { to, layers } => self.builtin_image(&step, *layers).and_then(|image| {
                    crate::image::builtin::write_archive(&image, &self.reference, to).map(|()| Some(image))
                }),
                Run::WriteLayout { to } => self.builtin_image(&step, Layers::Gzip).and_then(|image| {
                    crate::image::builtin::write_layout(&image, &self.reference, to).map(|()| Some(image))
                }),
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

/// The builtin engine's registry client, compiled on first use (it carries an HTTP and TLS
/// stack that every first `cargo xtask` need not compile).
fn registry_client() -> Vec<String> {
    argv([
        "cargo",
        "run",
        "--quiet",
        "--package",
        "docker-extension-tool",
        "--features",
        "registry",
        "--bin",
        "docker-extension-registry",
        "--",
    ])
}

/// Runs a step's command (when its condition holds), echoing it first.
fn run_command(sh: &Shell, argv: &[String], only_if: Option<&[String]>) -> anyhow::Result<()> {
    if let Some(condition) = only_if {
        let (program, args) = condition.split_first().expect("a condition is a command");
        if cmd!(sh, "{program} {args...}").quiet().ignore_stdout().ignore_stderr().run().is_err() {
            return Ok(());
        }
    }
    let (program, args) = argv.split_first().expect("commands are never empty");
    crate::util::report::say(&format!("    $ {}", argv.join(" ")));
    cmd!(sh, "{program} {args...}")
        .quiet()
        .run()
        .with_context(|| format!("`{}` failed (its output is above)", argv.join(" ")))
}

fn argv<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(std::string::ToString::to_string).collect()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// Whether Docker uses the containerd image store (`docker info` shows its snapshotter).
pub fn containerd_store(sh: &Shell) -> bool {
    let info = cmd!(sh, "docker info --format {DRIVER_STATUS}").quiet().ignore_stderr().read();
    info.is_ok_and(|s| s.contains("io.containerd.snapshotter"))
}

/// What `docker buildx inspect` says about a builder.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BuilderFacts {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub platforms: Vec<String>,
}

impl BuilderFacts {
    pub fn parse(inspect: &str) -> BuilderFacts {
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

fn read_digest(file: &Utf8Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let text = text.trim();
    if text.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        json.get("containerimage.digest")?.as_str().map(str::to_string)
    } else if text.starts_with("sha256:") {
        Some(text.to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(engine: Engine, output: Output) -> ImageBuild {
        ImageBuild {
            engine,
            reference: "example/ext:1.2.3".into(),
            platforms: Variant::ALL.to_vec(),
            output,
            builder: None,
            force: false,
            attestations: Attestations::SbomAndProvenance,
            context: "/w/target/extension".into(),
            digest_file: "/w/target/xtask/image-metadata.json".into(),
            spec: ImageSpec::from_config(&crate::workspace::sample::sample_config()),
            epoch: SourceDate { seconds: 0, from: SourceDateFrom::Zero },
            scratch: "/w/target/xtask".into(),
            load_layers: Layers::Gzip,
        }
    }

    fn argvs(build: &ImageBuild) -> Vec<Vec<String>> {
        build
            .commands()
            .into_iter()
            .map(|r| match r {
                Run::Command { argv, .. } => argv,
                Run::WriteArchive { to, .. } | Run::WriteLayout { to } => {
                    vec!["WRITE".into(), to.to_string()]
                }
            })
            .collect()
    }

    #[test]
    fn buildx_push_with_each_attestation_choice() {
        let expected = |attest: [&str; 2]| {
            let mut argv = argv([
                "docker",
                "buildx",
                "build",
                "--platform",
                "linux/amd64,linux/arm64",
                "--tag",
                "example/ext:1.2.3",
                "--push",
            ]);
            argv.extend(attest.map(String::from));
            argv.extend(argv_tail());
            vec![argv]
        };
        fn argv_tail() -> Vec<String> {
            argv(["--metadata-file", "/w/target/xtask/image-metadata.json", "/w/target/extension"])
        }
        let mut push = build(Engine::Buildx, Output::Push);
        assert_eq!(argvs(&push), expected(["--sbom=true", "--provenance=mode=max"]));
        push.attestations = Attestations::Provenance;
        assert_eq!(argvs(&push), expected(["--sbom=false", "--provenance=mode=max"]));
        push.attestations = Attestations::None;
        assert_eq!(argvs(&push), expected(["--sbom=false", "--provenance=false"]));
    }

    #[test]
    fn buildx_checks_ask_what_the_build_needs() {
        let checks = build(Engine::Buildx, Output::Push).checks();
        assert_eq!(checks[0], Check::DockerRunning);
        assert_eq!(checks[1], Check::BuilderExports { builder: None, platforms: 2 });
        assert_eq!(
            checks[2].commands(),
            [argv(["docker", "buildx", "imagetools", "inspect", "example/ext:1.2.3"])]
        );
        let load = build(Engine::Buildx, Output::Load).checks();
        assert!(load.contains(&Check::ContainerdStore));
        let one = ImageBuild { platforms: vec![Variant::Arm64], ..build(Engine::Buildx, Output::Load) };
        assert!(!one.checks().contains(&Check::ContainerdStore), "one platform loads into any store");
        assert_eq!(one.checks()[1].commands().len(), 1, "one platform: no store question");
        let forced = ImageBuild { force: true, ..build(Engine::Buildx, Output::Push) };
        assert!(!forced.checks().iter().any(|c| matches!(c, Check::NotPublished { .. })));
    }

    #[test]
    fn buildah_oci() {
        let commands = build(Engine::Buildah, Output::Oci("/w/ext.tar".into())).commands();
        assert_eq!(commands.len(), 3);
        assert_eq!(commands[0].to_string(), "buildah manifest rm example/ext:1.2.3 (only if `buildah manifest exists example/ext:1.2.3` succeeds)");
        assert_eq!(commands[1].to_string(), "buildah build --layers --platform linux/amd64,linux/arm64 --manifest example/ext:1.2.3 /w/target/extension");
        assert_eq!(
            argvs(&build(Engine::Buildah, Output::Oci("/w/ext.tar".into())))[2].last().unwrap(),
            "oci-archive:/w/.ext.tar.dist-partial"
        );
    }

    #[test]
    fn podman_and_buildah_push_the_whole_manifest_list() {
        let commands = argvs(&build(Engine::Podman, Output::Push));
        assert_eq!(
            commands[1..],
            [
                argv([
                    "podman",
                    "build",
                    "--layers",
                    "--platform",
                    "linux/amd64,linux/arm64",
                    "--manifest",
                    "example/ext:1.2.3",
                    "/w/target/extension",
                ]),
                argv([
                    "podman",
                    "manifest",
                    "push",
                    "--all",
                    "--digestfile",
                    "/w/target/xtask/image-metadata.json",
                    "example/ext:1.2.3",
                    "docker://example/ext:1.2.3",
                ]),
            ]
        );
        let buildah = build(Engine::Buildah, Output::Push);
        assert_eq!(argvs(&buildah)[2][0], "buildah");
        assert_eq!(
            buildah.checks()[0].commands(),
            [argv(["skopeo", "inspect", "--raw", "docker://example/ext:1.2.3"])]
        );
        // Only a build: the image stays in local storage, nothing is pushed.
        assert_eq!(build(Engine::Podman, Output::Build).commands().len(), 2);
    }

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
