//! Building the image from the context: docker buildx, or buildah / podman (no daemon).
//! The commands are plain data (`ImageBuild::commands`), shown by `--dry-run` and run as is.

use std::fmt;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{cmd, Shell};

use crate::machine::runs;
use crate::ownership::Ledger;
use crate::targets::Variant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `docker buildx build`: Docker Desktop's builder (BuildKit).
    Buildx,
    /// `podman build --manifest`: no daemon.
    Podman,
    /// `buildah build --manifest`: no daemon.
    Buildah,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Buildx => "buildx",
            Engine::Podman => "podman",
            Engine::Buildah => "buildah",
        }
    }

    /// The engines this machine has, in the order `dist` prefers them.
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
            Engine::Buildx => "docker",
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
            _ => Err("not an image builder this tool drives; use buildx, buildah or podman".into()),
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
    pub context: Utf8PathBuf,
    /// Where the engine writes the image digest (buildx `--metadata-file`, buildah `--digestfile`).
    pub digest_file: Utf8PathBuf,
}

/// What a finished image build produced, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageResult {
    pub reference: String,
    pub digest: Option<String>,
    pub archive: Option<Utf8PathBuf>,
    pub note: Option<String>,
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

    /// The checks made before building, each as a sentence and the command that answers it.
    pub fn preflight(&self) -> Vec<(String, Vec<String>)> {
        let mut checks = vec![];
        match self.engine {
            Engine::Buildx => {
                let mut inspect = argv(["docker", "buildx", "inspect"]);
                inspect.extend(self.builder.clone());
                checks.push((format!("the builder can build {}", self.platform_list()), inspect));
                if self.output == Output::Load && self.platforms.len() > 1 {
                    checks.push((
                        "the image store can hold a multi-platform image (containerd)".into(),
                        argv(["docker", "info", "--format", "{{json .DriverStatus}}"]),
                    ));
                }
                if self.output == Output::Push && !self.force {
                    checks.push((
                        format!("{} is not published yet", self.reference),
                        argv(["docker", "buildx", "imagetools", "inspect", &self.reference]),
                    ));
                }
            }
            Engine::Buildah | Engine::Podman => {
                if self.output == Output::Push && !self.force {
                    let remote = format!("docker://{}", self.reference);
                    checks.push((
                        format!("{} is not published yet", self.reference),
                        argv(["skopeo", "inspect", "--raw", &remote]),
                    ));
                }
            }
        }
        checks
    }

    /// The commands that build (and push or export) the image, exactly as they run.
    pub fn commands(&self) -> Vec<Vec<String>> {
        let platforms = self.platform_list();
        let context = self.context.as_str();
        let digest_file = self.digest_file.as_str();
        match self.engine {
            Engine::Buildx => {
                let mut build = argv(["docker", "buildx", "build", "--platform", &platforms]);
                build.extend(argv(["--tag", &self.reference]));
                if let Some(builder) = &self.builder {
                    build.extend(argv(["--builder", builder]));
                }
                match &self.output {
                    Output::Push => build.extend(argv(["--push", "--sbom=true", "--provenance=mode=max"])),
                    Output::Load => build.push("--load".into()),
                    Output::Oci(path) => {
                        let dest = format!("type=oci,dest={}", Self::partial_archive(path));
                        build.extend(argv(["--output", &dest]));
                    }
                    Output::Build => {}
                }
                build.extend(argv(["--metadata-file", digest_file, context]));
                vec![build]
            }
            Engine::Buildah | Engine::Podman => {
                let program = self.engine.program();
                let reference = self.reference.as_str();
                // --layers: one layer per step (buildah otherwise squashes them into one), so
                // the shared files' layers are identical in both variants.
                let mut commands = vec![argv([
                    program,
                    "build",
                    "--layers",
                    "--platform",
                    &platforms,
                    "--manifest",
                    reference,
                    context,
                ])];
                let destination = match &self.output {
                    Output::Push => Some(format!("docker://{reference}")),
                    Output::Oci(path) => Some(format!("oci-archive:{}", Self::partial_archive(path))),
                    Output::Load | Output::Build => None,
                };
                if let Some(destination) = destination {
                    commands.push(argv([
                        program,
                        "manifest",
                        "push",
                        "--all",
                        "--digestfile",
                        digest_file,
                        reference,
                        &destination,
                    ]));
                }
                commands
            }
        }
    }

    /// buildah and podman add to a manifest list of the same name from an earlier build,
    /// which would then hold duplicate entries: it is removed first, when it exists.
    pub fn stale_manifest_removal(&self) -> Option<Vec<String>> {
        match self.engine {
            Engine::Buildx => None,
            Engine::Buildah | Engine::Podman => {
                Some(argv([self.engine.program(), "manifest", "rm", &self.reference]))
            }
        }
    }

    /// The checks that can fail an image build, run before anything is compiled: the
    /// builder can build every platform, the image store can take it, the tag is new.
    pub fn check(&self, sh: &Shell) -> anyhow::Result<()> {
        self.check_builder(sh)?;
        self.check_not_published(sh)
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
        if self.stale_manifest_removal().is_some() {
            let program = self.engine.program();
            if runs(sh, program, &["manifest", "exists", &self.reference]) {
                let reference = &self.reference;
                eprintln!("    $ {program} manifest rm {reference}");
                cmd!(sh, "{program} manifest rm {reference}").quiet().ignore_stdout().run()?;
            }
        }
        for command in self.commands() {
            let (program, args) = command.split_first().expect("commands are never empty");
            eprintln!("    $ {}", command.join(" "));
            let ran = cmd!(sh, "{program} {args...}")
                .quiet()
                .run()
                .with_context(|| format!("`{}` failed (its output is above)", command.join(" ")));
            if let (Err(e), Output::Oci(path)) = (ran, &self.output) {
                let _ = std::fs::remove_file(Self::partial_archive(path));
                return Err(e);
            }
        }
        let mut result = ImageResult {
            reference: self.reference.clone(),
            digest: read_digest(&self.digest_file),
            archive: None,
            note: None,
        };
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
            Output::Build | Output::Load if self.engine != Engine::Buildx => {
                result.note = Some(format!(
                    "in local containers-storage as the manifest list {} ({} images)",
                    self.reference,
                    self.engine.program()
                ));
            }
            _ => {}
        }
        Ok(result)
    }

    fn check_builder(&self, sh: &Shell) -> anyhow::Result<()> {
        if self.engine != Engine::Buildx {
            return Ok(());
        }
        let builder = self.builder.clone();
        let inspect = cmd!(sh, "docker buildx inspect {builder...}").quiet().ignore_stderr().read();
        let name = self.builder.as_deref().unwrap_or("the current builder");
        let Ok(inspect) = inspect else {
            bail!(
                "`docker buildx inspect{}` failed: {name} does not exist or is not running. \
                 Create one that builds both platforms:\n    docker buildx create --name extensions --driver docker-container --use\n\
                 then run again with --builder extensions",
                self.builder.as_ref().map(|b| format!(" {b}")).unwrap_or_default()
            );
        };
        let builder = BuilderFacts::parse(&inspect);
        let name = builder.name.as_deref().unwrap_or(name);
        let missing: Vec<&str> = self
            .platforms
            .iter()
            .map(|v| v.platform())
            .filter(|p| !builder.platforms.iter().any(|b| b == p || b.starts_with(&format!("{p}/"))))
            .collect();
        let needs_containerd = builder.driver.as_deref() == Some("docker") && self.platforms.len() > 1
            || self.output == Output::Load && self.platforms.len() > 1;
        let containerd = needs_containerd && containerd_store(sh);
        if !missing.is_empty() {
            bail!(
                "the buildx builder `{name}` (driver {}) cannot build {}: its platforms are {}.\n\
                 Fix it in one of these ways:\n\
                 - create a builder that can, as Docker's extension template does:\n      docker buildx create --name extensions --driver docker-container --platform linux/amd64,linux/arm64 --use\n  and run again with --builder extensions\n\
                 - or, in Docker Desktop, turn on the containerd image store (Settings > General > \"Use containerd for pulling and storing images\")",
                builder.driver.as_deref().unwrap_or("unknown"),
                missing.join(" and "),
                if builder.platforms.is_empty() { "none".to_string() } else { builder.platforms.join(", ") },
            );
        }
        if needs_containerd && !containerd {
            if self.output == Output::Load {
                bail!(
                    "--load of two platforms needs Docker's containerd image store: the classic \
                     image store cannot hold a multi-platform image.\n\
                     Fix it in one of these ways:\n\
                     - in Docker Desktop, turn on Settings > General > \"Use containerd for pulling and storing images\"\n\
                     - load only your machine's platform: --load --platform linux/{}\n\
                     - write an archive of both instead: --oci target/extension.tar",
                    host_arch()
                );
            }
            bail!(
                "the buildx builder `{name}` uses the `docker` driver with the classic image \
                 store, which cannot build a multi-platform image.\n\
                 Fix it in one of these ways:\n\
                 - create a docker-container builder, as Docker's extension template does:\n      docker buildx create --name extensions --driver docker-container --use\n  and run again with --builder extensions\n\
                 - or, in Docker Desktop, turn on Settings > General > \"Use containerd for pulling and storing images\""
            );
        }
        Ok(())
    }

    fn check_not_published(&self, sh: &Shell) -> anyhow::Result<()> {
        if self.output != Output::Push || self.force {
            return Ok(());
        }
        let reference = &self.reference;
        let published = match self.engine {
            Engine::Buildx => runs(sh, "docker", &["buildx", "imagetools", "inspect", reference]),
            Engine::Buildah | Engine::Podman => {
                if !runs(sh, "skopeo", &["--version"]) {
                    eprintln!("    note: skopeo is not installed, so whether {reference} is already published cannot be checked");
                    false
                } else {
                    runs(sh, "skopeo", &["inspect", "--raw", &format!("docker://{reference}")])
                }
            }
        };
        if published {
            bail!(
                "{reference} is already published, and a released tag must not change under its \
                 users (the Marketplace and Docker Desktop cache it). Bump the version \
                 ([workspace.package] version, or `tag`), or pass --force to overwrite it"
            );
        }
        Ok(())
    }
}

fn argv<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// Whether Docker uses the containerd image store (`docker info` shows its snapshotter).
fn containerd_store(sh: &Shell) -> bool {
    let format = "{{json .DriverStatus}}";
    let info = cmd!(sh, "docker info --format {format}").quiet().ignore_stderr().read();
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
            context: "/w/target/extension".into(),
            digest_file: "/w/target/xtask/image-metadata.json".into(),
        }
    }

    #[test]
    fn buildx_push() {
        let commands = build(Engine::Buildx, Output::Push).commands();
        assert_eq!(
            commands,
            vec![argv([
                "docker",
                "buildx",
                "build",
                "--platform",
                "linux/amd64,linux/arm64",
                "--tag",
                "example/ext:1.2.3",
                "--push",
                "--sbom=true",
                "--provenance=mode=max",
                "--metadata-file",
                "/w/target/xtask/image-metadata.json",
                "/w/target/extension",
            ])]
        );
    }

    #[test]
    fn buildah_oci() {
        let commands = build(Engine::Buildah, Output::Oci("/w/ext.tar".into())).commands();
        assert_eq!(commands.len(), 2);
        assert_eq!(commands[0].join(" "), "buildah build --layers --platform linux/amd64,linux/arm64 --manifest example/ext:1.2.3 /w/target/extension");
        assert_eq!(commands[1].last().unwrap(), "oci-archive:/w/.ext.tar.dist-partial");
    }

    #[test]
    fn podman_and_buildah_push_the_whole_manifest_list() {
        let commands = build(Engine::Podman, Output::Push).commands();
        assert_eq!(
            commands,
            vec![
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
        assert_eq!(buildah.commands()[1][0], "buildah");
        assert_eq!(
            buildah.stale_manifest_removal().unwrap(),
            argv(["buildah", "manifest", "rm", "example/ext:1.2.3"])
        );
        assert_eq!(
            buildah.preflight()[0].1,
            argv(["skopeo", "inspect", "--raw", "docker://example/ext:1.2.3"])
        );
        // Only a build: the image stays in local storage, nothing is pushed.
        assert_eq!(build(Engine::Podman, Output::Build).commands().len(), 1);
        // --force skips the published-tag check.
        let forced = ImageBuild { force: true, ..build(Engine::Buildx, Output::Push) };
        assert!(forced.preflight().iter().all(|(_, argv)| !argv.contains(&"imagetools".to_string())));
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
