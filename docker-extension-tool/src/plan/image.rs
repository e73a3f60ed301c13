//! The image step of a plan, as plain data: which engine builds what, where it goes, the
//! checks made before anything is compiled and the commands that build the image. Each
//! check is a sentence and the commands that answer it; each step a command or a write of
//! the builtin engine. `--dry-run` prints both lists, and `pipeline::engine` runs exactly
//! those, in that order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};

use crate::image::attest::Provenance;
use crate::image::builtin::Layers;
use crate::image::spec::ImageSpec;
use crate::model::engine::Engine;
use crate::model::reference::ImageReference;
use crate::model::targets::Variant;
use crate::util::digest::Digest;
use crate::util::process::Argv;
use crate::workspace::machine::SourceDate;

/// Where the built image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Push every platform to the registry (`--push`).
    Push,
    /// Load into the local image store (`--load`).
    Load,
    /// Write an OCI archive holding every platform (`--oci PATH`).
    Oci(Utf8PathBuf),
    /// Only build: buildx keeps the result in its cache, buildah/podman in local storage.
    Build,
}

/// What a push (buildx) or any image (builtin) attaches: buildah and podman attach nothing.
/// Nothing by default: attestations go in the image's index as manifests of platform
/// `unknown/unknown` beside the two platforms, and Docker's Marketplace validator has
/// refused such indexes as not multi-platform (docker/extensions-sdk#305; the README's
/// "Attestations" has the evidence). `--attest` attaches them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Attestations {
    /// `--attest`: an SBOM (buildx: made by Docker Hub's scanner image) and max-mode provenance.
    SbomAndProvenance,
    /// `--no-sbom`: provenance only, for builders that cannot pull the scanner.
    Provenance,
    /// Nothing: the default (`--no-attest` says so too).
    #[default]
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageBuild {
    pub engine: Engine,
    pub reference: ImageReference,
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
    /// The builtin engine's registry client (what its `--push` runs).
    pub registry: RegistryClient,
    /// What the builtin engine attaches to each platform's image (`None`: nothing, as in
    /// the dev loop or with `--no-attest`; buildx makes its own, on a push).
    pub attach: Option<AttachPlan>,
}

/// The builtin engine's attachments, as inputs read when the image is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttachPlan {
    /// `None` with `--no-sbom`.
    pub sbom: Option<SbomSources>,
    pub provenance: Option<Provenance>,
}

/// Where an SBOM's packages are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SbomSources {
    /// The workspace, whose `cargo metadata` resolves the crates.
    pub workspace: Utf8PathBuf,
    /// Per platform: each workspace package whose binaries it holds, and the target it is
    /// built for (the crates compiled in depend on it).
    pub shipped: BTreeMap<Variant, BTreeSet<(String, String)>>,
    /// The UI's npm lock file, when the image holds a UI.
    pub npm_lock: Option<Utf8PathBuf>,
    /// Per platform, the host binaries from elsewhere it holds: name, URL and SHA-256.
    pub downloads: BTreeMap<Variant, BTreeSet<(String, String, Digest)>>,
    /// What else decides cargo's resolve: the workspace's manifests and Cargo.lock (features
    /// and dependencies), and the compiler (`rustc --version`, which decides each target's
    /// cfg values). With the fields above, the key of the inventory's cache.
    pub manifests: Vec<Utf8PathBuf>,
    pub rustc: String,
    /// Where the inventory of these sources is kept: a warm dist reads it rather than
    /// asking cargo and rustc again.
    pub cache: Utf8PathBuf,
}

impl fmt::Display for AttachPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut what = vec![];
        if self.sbom.is_some() {
            what.push(
                "an SBOM (SPDX: the crates in its binaries, the UI's npm packages, downloaded host binaries)",
            );
        }
        if self.provenance.is_some() {
            what.push("provenance (SLSA v0.2: source, revision, tool, toolchain)");
        }
        write!(f, "attach to each platform's image: {}", what.join(" and "))
    }
}

/// A check made before anything is compiled: it fails in seconds, with the fix, rather
/// than after minutes of cross-compiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
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
    NotPublished { reference: ImageReference, command: Argv, absent_exit: Option<i32> },
    /// The builtin engine's registry client is built (the first push compiles it).
    RegistryClient(RegistryClient),
}

/// A step of the image build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Run {
    /// A program, run as it is; `only_if` first decides whether it runs.
    Command { argv: Argv, only_if: Option<Argv> },
    /// dist writes the image itself (the builtin engine) as an OCI archive at `to`.
    WriteArchive { to: Utf8PathBuf, layers: Layers },
    /// The same, as an OCI layout folder (what the registry client pushes).
    WriteLayout { to: Utf8PathBuf },
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Run::Command { argv, only_if: Some(condition) } => {
                write!(f, "{argv} (only if `{condition}` succeeds)")
            }
            Run::Command { argv, only_if: None } => write!(f, "{argv}"),
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

/// A Go template for `docker info`: the image store's driver (the containerd store shows
/// its snapshotter).
pub(crate) const DRIVER_STATUS: &str = "{{json .DriverStatus}}";

/// A Go template for `docker info`: it answers only when the daemon does.
pub(crate) const SERVER_VERSION: &str = "{{.ServerVersion}}";

impl Check {
    pub(crate) fn describe(&self) -> String {
        match self {
            Check::DockerRunning => "Docker is running".into(),
            Check::BuilderExports { builder, platforms } => format!(
                "the buildx builder {} can export {}",
                builder.as_deref().unwrap_or("in use"),
                if *platforms > 1 { "a multi-platform image" } else { "the image" }
            ),
            Check::ContainerdStore => "the image store can hold a multi-platform image (containerd)".into(),
            Check::NotPublished { reference, .. } => format!("{reference} is not published yet"),
            Check::RegistryClient(_) => "the registry client is built (on the first push only)".into(),
        }
    }

    /// The commands whose answers decide the check.
    pub(crate) fn commands(&self) -> Vec<Argv> {
        match self {
            Check::DockerRunning => vec![docker_info(SERVER_VERSION)],
            Check::BuilderExports { builder, platforms } => {
                let inspect = argv("docker", ["buildx", "inspect"]).with(builder);
                let mut commands = vec![inspect];
                if *platforms > 1 {
                    commands.push(docker_info(DRIVER_STATUS));
                }
                commands
            }
            Check::ContainerdStore => vec![docker_info(DRIVER_STATUS)],
            Check::NotPublished { command, .. } => vec![command.clone()],
            Check::RegistryClient(client) => vec![client.install()],
        }
    }
}

impl ImageBuild {
    pub(crate) fn platform_list(&self) -> String {
        self.platforms.iter().map(|v| v.platform()).collect::<Vec<_>>().join(",")
    }

    /// An OCI archive is written beside its final path under a hidden name, then renamed:
    /// a failed build leaves the previous archive intact.
    pub(crate) fn partial_archive(path: &Utf8Path) -> Utf8PathBuf {
        let name = path.file_name().unwrap_or("image.tar");
        path.with_file_name(format!(".{name}.dist-partial"))
    }

    /// The checks made before building, in order.
    pub(crate) fn checks(&self) -> Vec<Check> {
        let mut checks = vec![];
        let multi = self.platforms.len();
        let publish_check = |command: Argv| Check::NotPublished {
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
                    let reference = self.reference.to_string();
                    checks
                        .push(publish_check(argv("docker", ["buildx", "imagetools", "inspect", &reference])));
                }
            }
            Engine::Buildah | Engine::Podman => {
                if self.output == Output::Push && !self.force {
                    let remote = format!("docker://{}", self.reference);
                    checks.push(publish_check(argv("skopeo", ["inspect", "--raw", &remote])));
                }
            }
            Engine::Builtin => {
                if self.output == Output::Load {
                    checks.push(Check::DockerRunning);
                }
                if self.output == Output::Push {
                    checks.push(Check::RegistryClient(self.registry.clone()));
                }
                if self.output == Output::Push && !self.force {
                    checks.push(Check::NotPublished {
                        reference: self.reference.clone(),
                        command: self.registry.command(["digest", &self.reference.to_string()]),
                        absent_exit: Some(3),
                    });
                }
            }
        }
        checks
    }

    /// The commands that build (and push or export) the image, exactly as they run.
    pub(crate) fn commands(&self) -> Vec<Run> {
        let platforms = self.platform_list();
        let context = self.context.as_str();
        let digest_file = self.digest_file.as_str();
        let always = |argv: Argv| Run::Command { argv, only_if: None };
        match self.engine {
            Engine::Buildx => {
                let reference = self.reference.to_string();
                let mut build =
                    argv("docker", ["buildx", "build", "--platform", &platforms, "--tag", &reference]);
                if let Some(builder) = &self.builder {
                    build.push(["--builder", builder]);
                }
                for label in self.build_label_args() {
                    build.push(["--label", &label]);
                }
                match &self.output {
                    Output::Push => build.push(["--push"]),
                    Output::Load => build.push(["--load"]),
                    Output::Oci(path) => {
                        let dest = format!("type=oci,dest={}", Self::partial_archive(path));
                        build.push(["--output", &dest]);
                    }
                    Output::Build => {}
                }
                // Said every time: buildx attaches provenance unless told not to.
                if self.output != Output::Build {
                    build.push(match self.attestations {
                        Attestations::SbomAndProvenance => ["--sbom=true", "--provenance=mode=max"],
                        Attestations::Provenance => ["--sbom=false", "--provenance=mode=max"],
                        Attestations::None => ["--sbom=false", "--provenance=false"],
                    });
                }
                build.push(["--metadata-file", digest_file, context]);
                vec![always(build)]
            }
            Engine::Buildah | Engine::Podman => {
                let program = self.engine.program();
                let reference = self.reference.to_string();
                let reference = reference.as_str();
                // A manifest list of the same name from an earlier build would gain
                // duplicate entries: it goes first.
                let mut commands = vec![Run::Command {
                    argv: argv(program, ["manifest", "rm", reference]),
                    only_if: Some(argv(program, ["manifest", "exists", reference])),
                }];
                // --layers: one layer per step (buildah otherwise squashes them into one), so
                // the shared files' layers are identical in both variants.
                let mut build = argv(program, ["build", "--layers", "--platform", &platforms]);
                for label in self.build_label_args() {
                    build.push(["--label", &label]);
                }
                build.push(["--manifest", reference, context]);
                commands.push(always(build));
                let destination = match &self.output {
                    Output::Push => Some(format!("docker://{reference}")),
                    Output::Oci(path) => Some(format!("oci-archive:{}", Self::partial_archive(path))),
                    Output::Load | Output::Build => None,
                };
                if let Some(destination) = destination {
                    commands.push(always(argv(
                        program,
                        ["manifest", "push", "--all", "--digestfile", digest_file, reference, &destination],
                    )));
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
                        always(argv("docker", ["load", "--input", archive.as_str()])),
                    ]
                }
                Output::Push => {
                    let layout = self.scratch.join(format!("builtin-push-{}", self.context_hash()));
                    let push = self.registry.command(["push", layout.as_str(), &self.reference.to_string()]);
                    vec![Run::WriteLayout { to: layout }, always(push)]
                }
                Output::Build => unreachable!("the plan gives the builtin engine --oci, --load or --push"),
            },
        }
    }

    /// `KEY=VALUE` for each of the build's own labels (the Dockerfile has the config's).
    fn build_label_args(&self) -> Vec<String> {
        self.spec.build_labels.iter().map(|(key, value)| format!("{key}={value}")).collect()
    }

    /// The archive the builtin engine writes for `docker load`, in dist's own folder (one
    /// per context, like the digest file: concurrent runs never share it).
    pub(crate) fn load_archive(&self) -> Utf8PathBuf {
        self.scratch.join(format!("builtin-load-{}.tar", self.context_hash()))
    }

    pub(crate) fn context_hash(&self) -> String {
        crate::util::files::short_hash(self.context.as_str())
    }
}

/// The builtin engine's registry client: a binary of this tool (feature `registry`), built
/// from the tool's own sources, wherever they came from (a path, git, a registry: the
/// folder cargo compiled this tool from), into the target folder on the first push. So no
/// first `cargo xtask` compiles an HTTP and TLS stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryClient {
    /// Where `cargo install` puts it (`ROOT/bin/`).
    pub root: Utf8PathBuf,
    /// Its cargo target folder (kept: a second build is a no-op).
    pub build_dir: Utf8PathBuf,
}

/// The cargo target folder (under the workspace's) where the tool's own binaries are
/// compiled when needed: the registry client on the first push; the new tool in `upgrade`,
/// in a folder of its own under it per source folder (see `cli::upgrade`).
pub(crate) const TOOL_BUILD_DIR: &str = "xtask/tool-build";

/// The name of the registry client's binary (a `[[bin]]` of this tool).
pub(crate) const REGISTRY_CLIENT: &str = "docker-extension-registry";

impl RegistryClient {
    /// Its place in a workspace's target folder.
    pub(crate) fn in_target(target_dir: &Utf8Path) -> RegistryClient {
        RegistryClient { root: target_dir.join("xtask/registry"), build_dir: target_dir.join(TOOL_BUILD_DIR) }
    }

    /// The binary, once built.
    pub(crate) fn program(&self) -> Utf8PathBuf {
        self.root.join("bin").join(format!("{REGISTRY_CLIENT}{}", std::env::consts::EXE_SUFFIX))
    }

    /// The command that builds it (a no-op when it is up to date).
    pub(crate) fn install(&self) -> Argv {
        let tool_dir = env!("CARGO_MANIFEST_DIR");
        argv(
            "cargo",
            [
                "install",
                "--quiet",
                "--locked",
                "--debug",
                "--path",
                tool_dir,
                "--features",
                "registry",
                "--bin",
                REGISTRY_CLIENT,
                "--root",
                self.root.as_str(),
                "--target-dir",
                self.build_dir.as_str(),
            ],
        )
    }

    /// A command of the client: `push LAYOUT REFERENCE`, `digest REFERENCE`, `pull …`.
    pub(crate) fn command<S: AsRef<std::ffi::OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Argv {
        Argv::new(self.program().as_str(), args)
    }
}

fn argv<S: AsRef<std::ffi::OsStr>>(program: &str, args: impl IntoIterator<Item = S>) -> Argv {
    Argv::new(program, args)
}

fn docker_info(template: &str) -> Argv {
    argv("docker", ["info", "--format", template])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words<const N: usize>(items: [&str; N]) -> Vec<String> {
        items.map(String::from).to_vec()
    }
    use crate::workspace::machine::SourceDateFrom;

    fn build(engine: Engine, output: Output) -> ImageBuild {
        ImageBuild {
            engine,
            reference: "example/ext:1.2.3".parse().unwrap(),
            platforms: Variant::ALL.to_vec(),
            output,
            builder: None,
            force: false,
            attestations: Attestations::SbomAndProvenance,
            context: "/w/target/extension".into(),
            digest_file: "/w/target/xtask/image-metadata.json".into(),
            spec: ImageSpec::from_config(&crate::workspace::sample::sample_config(), "1.2.3"),
            epoch: SourceDate { seconds: 0, from: SourceDateFrom::Zero },
            scratch: "/w/target/xtask".into(),
            load_layers: Layers::Gzip,
            registry: RegistryClient::in_target("/w/target".into()),
            attach: None,
        }
    }

    fn argvs(build: &ImageBuild) -> Vec<Vec<String>> {
        build
            .commands()
            .into_iter()
            .map(|r| match r {
                Run::Command { argv, .. } => argv.words(),
                Run::WriteArchive { to, .. } | Run::WriteLayout { to } => {
                    vec!["WRITE".into(), to.to_string()]
                }
            })
            .collect()
    }

    #[test]
    fn buildx_push_with_each_attestation_choice() {
        let expected = |attest: [&str; 2]| {
            let mut argv = words([
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
            words(["--metadata-file", "/w/target/xtask/image-metadata.json", "/w/target/extension"])
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
            checks[2].commands().iter().map(Argv::words).collect::<Vec<_>>(),
            [words(["docker", "buildx", "imagetools", "inspect", "example/ext:1.2.3"])]
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
            // The OS's own path beside the archive (`\` on Windows).
            &format!("oci-archive:{}", camino::Utf8Path::new("/w").join(".ext.tar.dist-partial"))
        );
    }

    #[test]
    fn podman_and_buildah_push_the_whole_manifest_list() {
        let commands = argvs(&build(Engine::Podman, Output::Push));
        assert_eq!(
            commands[1..],
            [
                words([
                    "podman",
                    "build",
                    "--layers",
                    "--platform",
                    "linux/amd64,linux/arm64",
                    "--manifest",
                    "example/ext:1.2.3",
                    "/w/target/extension",
                ]),
                words([
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
            buildah.checks()[0].commands().iter().map(Argv::words).collect::<Vec<_>>(),
            [words(["skopeo", "inspect", "--raw", "docker://example/ext:1.2.3"])]
        );
        // Only a build: the image stays in local storage, nothing is pushed.
        assert_eq!(build(Engine::Podman, Output::Build).commands().len(), 2);
    }
}
