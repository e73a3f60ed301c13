//! The plan of a `dist` run: plain data, decided before anything runs. `--dry-run` prints
//! it; the unit tests assert on it; `dist` carries it out.

pub(crate) mod dev;
pub(crate) mod image;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};

use crate::image::attest::Provenance;
use crate::image::builtin::Layers;
use crate::image::metadata;
use crate::image::spec::ImageSpec;
use crate::model::binary::BinaryKind;
use crate::model::engine::Engine;
use crate::model::reference::{BaseImage, ImageReference};
use crate::model::rules;
use crate::model::targets::{
    choose_builder, env_spelling, is_apple, target_kind, target_os, Builder, Os, Variant,
};
use crate::plan::image::{AttachPlan, Attestations, ImageBuild, Output, RegistryClient, SbomSources};
use crate::util::digest::Digest;
use crate::util::process::Argv;
use crate::workspace::config::{Config, HostFile};
use crate::workspace::machine::{Machine, ZIGBUILD_CACHE_DIR};

/// What a command asks of a plan: dist's flags, typed and with their paths resolved, or
/// what `dev` and `build-host` ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Request {
    /// `--tag NAME[:TAG]`: the repository, and the tag when given.
    pub reference: Option<ImageReference>,
    /// `--push`, `--load` or `--oci PATH`.
    pub output: Option<Output>,
    pub engine: Option<Engine>,
    /// The buildx builder instance to use.
    pub builder: Option<String>,
    /// One variant only.
    pub platform: Option<Variant>,
    pub build_with: BTreeMap<String, Builder>,
    /// Where the context goes (absolute).
    pub out: Option<Utf8PathBuf>,
    pub no_image: bool,
    /// Push a non-semver tag, one platform, or over a published tag.
    pub force: bool,
    /// What a push attaches.
    pub attestations: Attestations,
    /// Binaries built elsewhere, at DIR/TARGET/NAME.
    pub prebuilt: Option<Utf8PathBuf>,
    pub profile: Profile,
    /// `--deny-warnings`: advice fails the build too.
    pub deny_warnings: bool,
}

/// Which cargo profile builds the binaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Profile {
    /// `--release`: what ships.
    #[default]
    Release,
    /// Cargo's dev profile, for `dev`: a one-line change rebuilds in under a second rather
    /// than several.
    Dev,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub reference: ImageReference,
    /// zig and cargo-zigbuild from this virtual environment's bin, first on PATH.
    pub zig_venv: Option<Utf8PathBuf>,
    pub variants: Vec<Variant>,
    pub cargo_runs: Vec<CargoRun>,
    /// The UI's TypeScript for the contract, generated before the UI builds.
    pub contract: Option<ContractGen>,
    /// Host binaries from elsewhere, fetched before the context is laid out.
    pub downloads: Vec<Download>,
    pub ui: Option<UiBuild>,
    /// The build context's final location; it is assembled beside it and renamed.
    pub context: Utf8PathBuf,
    pub files: Vec<ContextFile>,
    pub image: ImageStep,
    /// Warnings fail the context's check too (`--deny-warnings`, or the config's key).
    pub deny_warnings: bool,
}

/// One invocation of a builder: every target it builds, so build scripts and proc-macros
/// compile once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CargoRun {
    pub builder: Builder,
    pub packages: Vec<String>,
    pub targets: Vec<String>,
    /// Environment set for this run only.
    pub env: Vec<(String, String)>,
    /// `--release` (dist), or cargo's dev profile (`dev`: a one-line change rebuilds in
    /// under a second rather than several).
    pub release: bool,
    /// A package outside the workspace (`--manifest-path`): the dev relay.
    pub manifest_path: Option<Utf8PathBuf>,
}

/// The empty SDK folder (under the target folder) that stands in for Apple's where there is
/// none, so rustc does not warn on each darwin link (see `cargo_runs`).
pub(crate) const NO_APPLE_SDK: &str = "xtask/no-apple-sdk/MacOSX.sdk";

/// The oldest macOS the host binaries run on, unless MACOSX_DEPLOYMENT_TARGET says otherwise.
/// Left unset, zig stamps the newest macOS it knows, and the binaries then refuse to start
/// on older ones. Every macOS that runs Docker Desktop is newer than this.
pub(crate) const MACOS_DEPLOYMENT_TARGET: &str = "11.0";

impl CargoRun {
    /// Every (builder, target) pair of some runs.
    pub(crate) fn targets_of(runs: &[CargoRun]) -> BTreeSet<(Builder, String)> {
        runs.iter().flat_map(|r| r.targets.iter().map(|t| (r.builder, t.clone()))).collect()
    }

    /// The targets whose standard library the local toolchain needs: every one some
    /// builder other than cross compiles (cross's images bring their own).
    pub(crate) fn rustup_targets_of(runs: &[CargoRun]) -> BTreeSet<String> {
        Self::targets_of(runs).into_iter().filter(|(b, _)| *b != Builder::Cross).map(|(_, t)| t).collect()
    }

    /// The command line, as `--dry-run` shows it (with its environment).
    pub(crate) fn display(&self) -> String {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        format!("{}{}", env.concat(), self.argv())
    }

    pub(crate) fn argv(&self) -> Argv {
        let mut argv = match self.builder {
            Builder::Cargo => Argv::new("cargo", ["build"]),
            Builder::Zigbuild => Argv::new("cargo", ["zigbuild"]),
            Builder::Cross => Argv::new("cross", ["build"]),
            Builder::RustLld => Argv::new("cargo", ["build"]),
        };
        if self.release {
            argv.push(["--release"]);
        }
        if let Some(manifest) = &self.manifest_path {
            argv.push(["--manifest-path", manifest.as_str()]);
        }
        argv.push(["--message-format=json-render-diagnostics"]);
        for package in &self.packages {
            argv.push(["--package", package]);
        }
        for target in &self.targets {
            argv.push(["--target", target]);
        }
        argv
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UiBuild {
    pub dir: Utf8PathBuf,
    pub command: Vec<String>,
    pub output: Utf8PathBuf,
}

/// Generating the contract's TypeScript: `command` (run in the workspace root) prints the
/// declarations, written to `output` after a header; skipped when nothing that decides
/// them changed (the package's files, Cargo.lock, the workspace's Cargo.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContractGen {
    pub package: String,
    pub package_dir: Utf8PathBuf,
    /// Absolute.
    pub output: Utf8PathBuf,
    pub command: Argv,
}

/// Where the contract's generator is built, per workspace (see `ContractGen::from_config`).
pub(crate) const CONTRACT_BUILD_DIR: &str = "xtask/contract-build";

impl ContractGen {
    /// The config's contract, if it has one.
    pub(crate) fn from_config(config: &Config) -> Option<ContractGen> {
        use crate::workspace::config::{CONTRACT_EXAMPLE, CONTRACT_FEATURE};
        let contract = config.contract.as_ref()?;
        // A target folder of this workspace's own: `cargo run` runs the example from the
        // target folder's `examples/typescript`, one path for every workspace that shares a
        // target folder (CARGO_TARGET_DIR), so another workspace's build could replace it
        // between this one's build and run, and its types would be written here.
        let target_dir = config
            .target_dir
            .join(CONTRACT_BUILD_DIR)
            .join(crate::util::files::short_hash(config.root.as_str()));
        let command = Argv::new(
            "cargo",
            [
                "run",
                "--quiet",
                "--package",
                &contract.package,
                "--example",
                CONTRACT_EXAMPLE,
                "--features",
                CONTRACT_FEATURE,
                "--target-dir",
                target_dir.as_str(),
            ],
        );
        Some(ContractGen {
            package: contract.package.clone(),
            package_dir: contract.package_dir.clone(),
            output: config.root.join(&contract.output),
            command,
        })
    }
}

/// One file (or folder) of the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContextFile {
    /// Relative to the context root.
    pub dest: Utf8PathBuf,
    pub source: Source,
    /// For binaries: what the header must say before the file is laid out.
    pub expect: Option<Expect>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A binary from a cargo run, found through cargo's own artifact messages.
    Artifact { package: String, bin: String, target: String },
    /// A file of the workspace.
    File(Utf8PathBuf),
    /// A folder: the UI build's output.
    Folder(Utf8PathBuf),
    /// Generated text (Dockerfile, metadata.json).
    Text(String),
    /// A binary built elsewhere (`--prebuilt`), checked like dist's own.
    Prebuilt { path: Utf8PathBuf, target: String },
    /// A host binary from a download: the verified file in the download cache (see
    /// [`Download`]), copied byte for byte (a vendor's code signature stays valid).
    Download { url: String, path: Utf8PathBuf },
    /// A host binary that is a script of the workspace, made executable.
    Script(Utf8PathBuf),
    /// The executable of a host binary's folder (see `HostFile::Folder`): copied byte for
    /// byte (a vendor's signature stays valid), checked by its header, made executable.
    Vendor(Utf8PathBuf),
    /// A file of a host binary's folder besides its executable: copied byte for byte, its
    /// execute bit as the source has it.
    Companion(Utf8PathBuf),
}

/// Where downloads are kept, under the target folder: by SHA-256, so a changed URL or
/// hash never reuses another file, and a second run needs no network.
pub(crate) const DOWNLOADS_DIR: &str = "xtask/downloads";

/// One download of the plan: fetched (unless the cache has it), verified by SHA-256, and
/// for an archive, one member taken out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Download {
    pub url: String,
    pub sha256: Digest,
    /// The file inside the archive, when the URL is one.
    pub member: Option<String>,
    /// Where the URL's bytes are kept.
    pub fetched: Utf8PathBuf,
    /// What the context takes: `fetched`, or the member taken out beside it.
    pub file: Utf8PathBuf,
}

impl Download {
    fn new(downloads_dir: &Utf8Path, url: &str, sha256: &Digest, member: Option<&str>) -> Download {
        let dir = downloads_dir.join(sha256.hex());
        let name: String = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
            .collect();
        let name = if name.is_empty() || name.starts_with('.') { "download".to_string() } else { name };
        let fetched = dir.join(name);
        let file = match member {
            Some(member) => dir.join("members").join(member),
            None => fetched.clone(),
        };
        Download { url: url.into(), sha256: sha256.clone(), member: member.map(String::from), fetched, file }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expect {
    pub kind: BinaryKind,
    /// The backend runs on a `scratch` image, which has no libc to link against.
    pub static_linked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
// One plan per run: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ImageStep {
    Build(ImageBuild),
    /// `--no-image`.
    Skip,
}

pub(crate) const CONTEXT_DIR: &str = "extension";
/// Where the builtin engine writes the image when no output is asked for.
pub(crate) const DEFAULT_ARCHIVE: &str = "extension.tar";

/// A path dist writes that must be free, or something dist wrote itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// The build context folder (`--out`).
    Context(Utf8PathBuf),
    /// The OCI archive (`--oci`).
    Archive(Utf8PathBuf),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Context(path) => {
                write!(f, "{path} is free, or a context dist wrote, holding nothing else")
            }
            Destination::Archive(path) => {
                write!(f, "{path} is free, or an archive dist wrote, unchanged since")
            }
        }
    }
}

impl Plan {
    pub(crate) fn new(config: &Config, request: &Request, machine: &Machine) -> anyhow::Result<Plan> {
        let reference = match &request.reference {
            Some(given) if given.tag().is_some() => given.clone(),
            Some(given) => given.with_tag(config.reference.tag_or_latest()),
            None => config.reference.clone(),
        };
        let tag = reference.tag_or_latest().to_string();
        if request.output == Some(Output::Push) && !request.force {
            refuse_unsafe_push(&tag, request.platform)?;
        }
        let variants: Vec<Variant> = match request.platform {
            Some(v) => vec![v],
            None => Variant::ALL.to_vec(),
        };
        let context = match &request.out {
            Some(out) if out.is_absolute() => out.clone(),
            Some(out) => config.root.join(out),
            None => config.target_dir.join(CONTEXT_DIR),
        };

        let mut files = shared_files(config, &tag);
        let ui = config.ui.as_ref().map(|ui| {
            let dir = config.root.join(&ui.dir);
            let output = dir.join(&ui.output);
            files.push(ContextFile {
                dest: "ui".into(),
                source: Source::Folder(output.clone()),
                expect: None,
            });
            UiBuild { dir, command: ui.build.clone(), output }
        });
        let contract = ContractGen::from_config(config);
        let mut builds = Builds::new(config, request, machine);
        let mut downloads = BTreeSet::new();
        for &variant in &variants {
            files.extend(variant_binaries(config, variant, &mut builds)?);
            files.extend(external_host_binaries(config, variant, &mut downloads));
        }

        Ok(Plan {
            image: image_step(request, machine, &reference, &variants, &context, config, &tag)?,
            zig_venv: machine.zig_venv.clone(),
            reference,
            variants,
            cargo_runs: builds.runs(),
            contract,
            downloads: downloads.into_iter().collect(),
            ui,
            context,
            files,
            deny_warnings: request.deny_warnings || config.deny_warnings,
        })
    }

    /// Every program the plan starts, as its commands name them (`npm`, `cargo`, `buildah`):
    /// what `--dry-run` shows where PATH finds it.
    pub(crate) fn programs(&self) -> BTreeSet<String> {
        let mut programs: BTreeSet<String> = self.cargo_runs.iter().map(|run| run.argv().program()).collect();
        programs.extend(self.contract.iter().map(|contract| contract.command.program()));
        if let Some(ui) = &self.ui {
            // `npm ci` first, when its packages are stale.
            programs.insert("npm".into());
            programs.extend(ui.command.first().cloned());
        }
        if let ImageStep::Build(build) = &self.image {
            for check in build.checks() {
                programs.extend(check.commands().iter().map(Argv::program));
            }
            for run in build.commands() {
                if let image::Run::Command { argv, only_if } = run {
                    programs.extend(std::iter::once(argv).chain(only_if).map(|a| a.program()));
                }
            }
        }
        programs
    }

    /// The top-level names of the context: what an older dist's unmarked context holds.
    pub(crate) fn context_names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self
            .files
            .iter()
            .filter_map(|f| f.dest.components().next())
            .map(|c| c.as_str().to_string())
            .collect();
        names.extend(Variant::ALL.iter().map(|v| v.arch().to_string()));
        names
    }

    /// Every path the plan writes to that must be free or dist's own, checked before
    /// anything is compiled.
    pub(crate) fn destinations(&self) -> Vec<Destination> {
        let mut destinations = vec![Destination::Context(self.context.clone())];
        if let ImageStep::Build(ImageBuild { output: Output::Oci(path), .. }) = &self.image {
            destinations.push(Destination::Archive(path.clone()));
        }
        destinations
    }

    /// The plan of everything the config builds, with no image: what setup, doctor and
    /// bench look at.
    pub(crate) fn without_image(config: &Config, machine: &Machine) -> anyhow::Result<Plan> {
        Plan::new(config, &Request { no_image: true, ..Request::default() }, machine)
    }

    /// Every (builder, target) pair the plan compiles.
    pub(crate) fn targets(&self) -> BTreeSet<(Builder, String)> {
        CargoRun::targets_of(&self.cargo_runs)
    }

    #[cfg(test)]
    pub(crate) fn builders(&self) -> BTreeSet<Builder> {
        self.cargo_runs.iter().map(|r| r.builder).collect()
    }

    /// The targets whose standard library the local toolchain needs.
    pub(crate) fn rustup_targets(&self) -> BTreeSet<String> {
        CargoRun::rustup_targets_of(&self.cargo_runs)
    }

    /// The targets only cross compiles.
    pub(crate) fn cross_targets(&self) -> BTreeSet<String> {
        let local = self.rustup_targets();
        self.targets().into_iter().map(|(_, t)| t).filter(|t| !local.contains(t)).collect()
    }
}

/// The binaries a plan places: each compiled by the builder chosen for its target (its
/// (builder, package) → targets collected for the cargo runs), or taken from `--prebuilt`.
struct Builds<'a> {
    config: &'a Config,
    request: &'a Request,
    machine: &'a Machine,
    compiled: BTreeMap<(Builder, String), BTreeSet<String>>,
}

impl<'a> Builds<'a> {
    fn new(config: &'a Config, request: &'a Request, machine: &'a Machine) -> Builds<'a> {
        Builds { config, request, machine, compiled: BTreeMap::new() }
    }

    /// The context file for `bin` of `package` built for `target`, placed at `dest`.
    fn binary(
        &mut self,
        os_key: &str,
        package: &str,
        bin: &str,
        target: &str,
        dest: Utf8PathBuf,
        static_linked: bool,
    ) -> anyhow::Result<ContextFile> {
        let kind =
            target_kind(target).with_context(|| format!("{target} is not a target this tool lays out"))?;
        let expect = Some(Expect { kind, static_linked });
        // Host binaries only: build-host makes them; the backend is built here.
        if let Some(dir) = self.request.prebuilt.as_ref().filter(|_| os_key != "backend") {
            let suffix = target_os(target).map_or("", Os::exe_suffix);
            let name = format!("{bin}{suffix}");
            let file = dir.join(target).join(&name);
            if file.is_file() {
                return Ok(ContextFile {
                    dest,
                    source: Source::Prebuilt { path: file, target: target.into() },
                    expect,
                });
            }
            if dir.join(target).is_dir() {
                bail!(
                    "--prebuilt {dir}: {dir}/{target} has no {name}, which {dest} needs; build it with \
                     `cargo xtask build-host --target {target} --out {dir}`, or remove {dir}/{target} to build every {target} binary here"
                );
            }
        }
        let requested = [target, os_key]
            .iter()
            .find_map(|key| self.request.build_with.get(*key).or_else(|| self.config.build_with.get(*key)))
            .copied();
        let pure_rust = self.machine.pure_rust.contains(package);
        let builder = choose_builder(
            &self.machine.host,
            target,
            requested,
            self.machine.linker_configured(target),
            pure_rust,
        )
        .map_err(|reason| anyhow::anyhow!("cannot build {dest} (package `{package}`): {reason}"))?;
        self.compiled.entry((builder, package.to_string())).or_default().insert(target.to_string());
        Ok(ContextFile {
            dest,
            source: Source::Artifact { package: package.into(), bin: bin.into(), target: target.into() },
            expect,
        })
    }

    fn runs(self) -> Vec<CargoRun> {
        let mut runs = group_runs(self.compiled, self.machine, &self.config.target_dir);
        for run in &mut runs {
            run.release = self.request.profile == Profile::Release;
        }
        runs
    }
}

/// The plan of `build-host`: the host binaries for `targets`, compiled as dist would and
/// laid out as TARGET/NAME, what `dist --prebuilt` reads.
pub(crate) fn host_binary_builds(
    config: &Config,
    machine: &Machine,
    targets: &[String],
) -> anyhow::Result<(Vec<CargoRun>, Vec<ContextFile>)> {
    if config.host_binaries.is_empty() {
        bail!(
            "this extension has no host binaries (crates under {}/)",
            crate::workspace::config::HOST_BINARIES_DIR
        );
    }
    let request = Request::default();
    let mut builds = Builds::new(config, &request, machine);
    let mut files = vec![];
    for target in targets {
        let os = target_os(target).with_context(|| {
            format!(
                "--target {target}: not a macOS, Windows or Linux target, so no host binary is built for it"
            )
        })?;
        for host in config.host_binaries.iter().filter(|h| h.ships_to(os)) {
            let dest = Utf8PathBuf::from(format!("{target}/{}{}", host.bin, os.exe_suffix()));
            files.push(builds.binary(os.key(), &host.package, &host.bin, target, dest, false)?);
        }
    }
    Ok((builds.runs(), files))
}

/// Packages that need the same targets from the same builder share one run; cross runs
/// one target at a time (it picks one container image per run).
fn group_runs(
    builds: BTreeMap<(Builder, String), BTreeSet<String>>,
    machine: &Machine,
    target_dir: &Utf8Path,
) -> Vec<CargoRun> {
    let mut runs: BTreeMap<(Builder, Vec<String>), Vec<String>> = BTreeMap::new();
    for ((builder, package), targets) in builds {
        if builder == Builder::Cross {
            for target in targets {
                runs.entry((builder, vec![target])).or_default().push(package.clone());
            }
        } else {
            runs.entry((builder, targets.into_iter().collect())).or_default().push(package);
        }
    }
    let mut runs: Vec<CargoRun> = runs
        .into_iter()
        .map(|((builder, targets), packages)| {
            let darwin = targets.iter().any(|t| is_apple(t));
            let mut env = vec![];
            // rustc asks xcrun for the SDK on every Apple link and warns when there is none
            // (rustc 1.86+); zig needs none for a program that links no Apple framework. An
            // empty stand-in answers rustc; a framework link still fails, with dist's hint.
            if darwin && builder == Builder::Zigbuild && !machine.apple_sdk {
                env.push(("SDKROOT".to_string(), target_dir.join(NO_APPLE_SDK).to_string()));
            }
            if darwin && machine.macos_deployment_target.is_none() {
                env.push(("MACOSX_DEPLOYMENT_TARGET".to_string(), MACOS_DEPLOYMENT_TARGET.to_string()));
            }
            // cargo-zigbuild rewrites its linker wrappers in a cache shared by every build on
            // the machine, on each run: two at once (two workspaces, a dist beside a dev
            // loop) fail with "Text file busy". One wrapper folder per target folder.
            if builder == Builder::Zigbuild && !machine.zigbuild_cache_set {
                env.push((ZIGBUILD_CACHE_DIR.to_string(), target_dir.join("xtask/zigbuild").to_string()));
            }
            // rustc finds rust-lld in its own toolchain, with the target's self-contained
            // C runtime and musl.
            if builder == Builder::RustLld {
                for target in &targets {
                    env.push((
                        format!("CARGO_TARGET_{}_LINKER", env_spelling(target)),
                        "rust-lld".to_string(),
                    ));
                }
            }
            CargoRun { builder, packages, targets, env, release: true, manifest_path: None }
        })
        .collect();
    // The widest run first: it builds the shared dependencies for the most targets.
    runs.sort_by(|a, b| b.targets.len().cmp(&a.targets.len()).then(a.cmp(b)));
    runs
}

/// A release tag must be one a user can install for good: semver, not `latest`, and both
/// platforms (`--force` is the way out, for a throwaway test tag).
fn refuse_unsafe_push(tag: &str, platform: Option<Variant>) -> anyhow::Result<()> {
    rules::release_tag(tag).map_err(|e| anyhow::anyhow!("refusing to push: {e} (or pass --force)"))?;
    if let Some(platform) = platform {
        bail!(
            "refusing to push only {}: Docker Desktop and the Marketplace need both \
             platforms under one tag, and a published tag is never pushed over, so this \
             release would stay broken. Drop --platform to push both (or pass --force for a \
             throwaway test tag)",
            platform.platform()
        );
    }
    Ok(())
}

/// The files both variants carry at the top of the context: the Dockerfile, metadata.json,
/// the icon and the compose file.
fn shared_files(config: &Config, tag: &str) -> Vec<ContextFile> {
    // The labels name the tag this build really carries (`--tag` included).
    let dockerfile = ImageSpec::from_config(config, tag).dockerfile();
    let mut files = vec![
        ContextFile { dest: "Dockerfile".into(), source: Source::Text(dockerfile), expect: None },
        ContextFile {
            dest: "metadata.json".into(),
            source: Source::Text(metadata::metadata_json(config)),
            expect: None,
        },
        ContextFile {
            dest: config.icon_file_name().into(),
            source: Source::File(config.root.join(&config.icon)),
            expect: None,
        },
    ];
    if let Some(compose) = config.backend.as_ref().and_then(|b| b.compose_file.as_ref()) {
        let name = compose.file_name().unwrap_or("docker-compose.yaml");
        files.push(ContextFile {
            dest: name.into(),
            source: Source::File(config.root.join(compose)),
            expect: None,
        });
    }
    files
}

/// One variant's binaries: the backend at `/<variant>/backend`, each host binary at
/// `/<variant>/<os>/<bin>`, the builds that make them added to `builds`.
fn variant_binaries(
    config: &Config,
    variant: Variant,
    builds: &mut Builds,
) -> anyhow::Result<Vec<ContextFile>> {
    let mut files = vec![];
    if let Some(backend) = &config.backend {
        let target = &backend.targets[&variant];
        let dest = Utf8PathBuf::from(format!("{variant}/backend"));
        let static_linked = config.base_image == BaseImage::Scratch;
        files.push(builds.binary("backend", &backend.package, &backend.bin, target, dest, static_linked)?);
    }
    for (os, targets) in &config.host_targets {
        let target = targets.for_variant(variant);
        for host in config.host_binaries.iter().filter(|h| h.ships_to(*os)) {
            let dest = Utf8PathBuf::from(format!("{variant}/{os}/{}{}", host.bin, os.exe_suffix()));
            files.push(builds.binary(os.key(), &host.package, &host.bin, target, dest, false)?);
        }
    }
    Ok(files)
}

/// One variant's host binaries from elsewhere: downloads (added to `downloads`) and scripts.
fn external_host_binaries(
    config: &Config,
    variant: Variant,
    downloads: &mut BTreeSet<Download>,
) -> Vec<ContextFile> {
    let downloads_dir = config.target_dir.join(DOWNLOADS_DIR);
    let mut files = vec![];
    for os in config.host_targets.keys() {
        for binary in &config.external_host_binaries {
            let (Some(file), Some(name)) = (binary.files.get(&(*os, variant)), binary.file_name(*os)) else {
                continue;
            };
            let dest = Utf8PathBuf::from(format!("{variant}/{os}/{name}"));
            let mut beside = vec![];
            let placed = match file {
                HostFile::Download { url, sha256, member, cpu } => {
                    let download = Download::new(&downloads_dir, url, sha256, member.as_deref());
                    let source = Source::Download { url: url.clone(), path: download.file.clone() };
                    downloads.insert(download);
                    let kind = BinaryKind { format: os.format(), cpu: *cpu };
                    ContextFile { dest, source, expect: Some(Expect { kind, static_linked: false }) }
                }
                HostFile::Script(path) => {
                    ContextFile { dest, source: Source::Script(config.root.join(path)), expect: None }
                }
                HostFile::Folder { dir, companions, cpu } => {
                    let dir = config.root.join(dir);
                    for companion in companions {
                        let dest = Utf8PathBuf::from(format!("{variant}/{os}/{companion}"));
                        beside.push(ContextFile {
                            dest,
                            source: Source::Companion(dir.join(companion)),
                            expect: None,
                        });
                    }
                    let kind = BinaryKind { format: os.format(), cpu: *cpu };
                    let source = Source::Vendor(dir.join(&name));
                    ContextFile { dest, source, expect: Some(Expect { kind, static_linked: false }) }
                }
            };
            files.push(placed);
            files.extend(beside);
        }
    }
    files
}

fn image_step(
    request: &Request,
    machine: &Machine,
    reference: &ImageReference,
    variants: &[Variant],
    context: &Utf8Path,
    config: &Config,
    tag: &str,
) -> anyhow::Result<ImageStep> {
    let target_dir = &config.target_dir;
    if request.no_image {
        return Ok(ImageStep::Skip);
    }
    // With no engine on the machine, dist writes the image itself.
    let engine = request.engine.or(machine.engines.first().copied()).unwrap_or(Engine::Builtin);
    engine.builds_from(&config.base_image)?;
    // The one place of this rule: the flags alone cannot tell which engine runs.
    if request.builder.is_some() && engine != Engine::Buildx {
        match request.engine {
            Some(chosen) => bail!("--builder names a buildx builder, but --engine chooses {chosen}: drop one of them"),
            None => bail!("--builder names a buildx builder, but the engine found here is {engine}: install Docker's buildx, or drop --builder"),
        }
    }
    // In dist's own folder, never beside the context (which may be anywhere); one per
    // context, so two runs with different --out never share it.
    let digest_file = target_dir
        .join(format!("xtask/image-metadata-{}.json", crate::util::files::short_hash(context.as_str())));
    let output = match (engine, request.output.clone()) {
        // The builtin engine keeps no image anywhere but in a file: by default, this one.
        (Engine::Builtin, None) => Output::Oci(target_dir.join(DEFAULT_ARCHIVE)),
        (_, output) => output.unwrap_or(Output::Build),
    };
    Ok(ImageStep::Build(ImageBuild {
        attestations: request.attestations,
        engine,
        reference: reference.clone(),
        platforms: variants.to_vec(),
        output,
        builder: request.builder.clone(),
        force: request.force,
        context: context.to_path_buf(),
        spec: ImageSpec::from_config(config, tag)
            .with_build_facts(machine.source_revision.as_deref(), machine.source_date.seconds),
        epoch: machine.source_date,
        scratch: target_dir.join("xtask"),
        digest_file,
        // The dev loop's image goes straight into the local engine, and is rebuilt often.
        registry: RegistryClient::in_target(target_dir),
        load_layers: match request.profile {
            Profile::Release => Layers::Gzip,
            Profile::Dev => Layers::Uncompressed,
        },
        attach: attach_plan(engine, request, machine, variants, config),
    }))
}

/// What the builtin engine attaches: an SBOM and provenance for a release build, as buildx
/// does on a push (`--no-sbom`, `--no-attest` drop them); nothing in the dev loop.
fn attach_plan(
    engine: Engine,
    request: &Request,
    machine: &Machine,
    variants: &[Variant],
    config: &Config,
) -> Option<AttachPlan> {
    if engine != Engine::Builtin || request.profile != Profile::Release {
        return None;
    }
    let provenance = Provenance {
        source: config.labels.source.clone(),
        revision: machine.source_revision.clone(),
        rustc: machine.rustc.clone(),
        profile: "release".into(),
    };
    let sbom = SbomSources {
        workspace: config.root.clone(),
        shipped: variants
            .iter()
            .map(|&variant| {
                let mut shipped = BTreeSet::new();
                if let Some(backend) = &config.backend {
                    shipped.insert((backend.package.clone(), backend.targets[&variant].clone()));
                }
                for (os, targets) in &config.host_targets {
                    for host in config.host_binaries.iter().filter(|h| h.ships_to(*os)) {
                        shipped.insert((host.package.clone(), targets.for_variant(variant).to_string()));
                    }
                }
                (variant, shipped)
            })
            .collect(),
        npm_lock: config.ui.as_ref().map(|ui| config.root.join(&ui.dir).join("package-lock.json")),
        downloads: variants
            .iter()
            .map(|&variant| {
                let mut downloads = BTreeSet::new();
                for binary in &config.external_host_binaries {
                    for os in config.host_targets.keys() {
                        if let Some(HostFile::Download { url, sha256, .. }) =
                            binary.files.get(&(*os, variant))
                        {
                            downloads.insert((binary.name.clone(), url.clone(), sha256.clone()));
                        }
                    }
                }
                (variant, downloads)
            })
            .collect(),
        manifests: std::iter::once(config.manifest.clone())
            .chain(std::iter::once(config.root.join("Cargo.lock")))
            .chain(config.members.keys().cloned())
            .collect(),
        rustc: machine.rustc.clone(),
        cache: config.target_dir.join("xtask/sbom-inventory"),
    };
    match request.attestations {
        Attestations::SbomAndProvenance => {
            Some(AttachPlan { sbom: Some(sbom), provenance: Some(provenance) })
        }
        Attestations::Provenance => Some(AttachPlan { sbom: None, provenance: Some(provenance) }),
        Attestations::None => None,
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        writeln!(
            s,
            "Plan for {} ({})",
            self.reference,
            self.variants.iter().map(|v| v.platform()).collect::<Vec<_>>().join(", ")
        )?;
        writeln!(s, "\nChecks, before anything is compiled:")?;
        for destination in self.destinations() {
            writeln!(s, "  check {destination}")?;
        }
        // In the order dist runs them: the UI first (a type error fails in seconds).
        if let Some(contract) = &self.contract {
            writeln!(
                s,
                "\nContract: {} <- {} (skipped when nothing in {} changed)",
                contract.output, contract.command, contract.package_dir
            )?;
        }
        if let Some(ui) = &self.ui {
            writeln!(
                s,
                "\nUI: in {}: {} (skipped when nothing in it changed), output {}",
                ui.dir,
                ui.command.join(" "),
                ui.output
            )?;
        }
        if !self.downloads.is_empty() {
            writeln!(s, "\nDownloads (kept by SHA-256; a second run reads the cache, not the network):")?;
            for download in &self.downloads {
                let member = download.member.as_ref().map(|m| format!(", its {m}")).unwrap_or_default();
                writeln!(
                    s,
                    "  {} (sha256 {}){member} -> {}",
                    download.url,
                    download.sha256.hex(),
                    download.file
                )?;
            }
        }
        writeln!(s, "\nCargo runs:")?;
        if let Some(venv) = &self.zig_venv {
            writeln!(s, "  (with {venv} first on PATH: zig and cargo-zigbuild were installed there)")?;
        }
        for run in &self.cargo_runs {
            writeln!(s, "  {}", run.display())?;
        }
        writeln!(s, "\nContext {}:", self.context)?;
        for file in &self.files {
            let from = match &file.source {
                Source::Artifact { package, bin, target } => format!("{bin} of {package} for {target}"),
                Source::File(path) => path.to_string(),
                Source::Folder(path) => format!("{path}/"),
                Source::Text(_) => "generated".to_string(),
                Source::Prebuilt { path, .. } => format!("{path} (prebuilt)"),
                Source::Download { url, .. } => format!("{url} (downloaded)"),
                Source::Script(path) => format!("{path} (script)"),
                Source::Vendor(path) => format!("{path} (a host binary's folder: its executable)"),
                Source::Companion(path) => format!("{path} (beside it)"),
            };
            let expect = match &file.expect {
                Some(e) => format!(" [{}{}]", if e.static_linked { "static " } else { "" }, e.kind),
                None => String::new(),
            };
            writeln!(s, "  {:<28} <- {from}{expect}", file.dest)?;
        }
        writeln!(s, "\nImage:")?;
        match &self.image {
            ImageStep::Skip => writeln!(s, "  none (--no-image)")?,
            ImageStep::Build(build) => {
                for check in build.checks() {
                    let commands: Vec<String> = check.commands().iter().map(ToString::to_string).collect();
                    writeln!(s, "  check {}: {}", check.describe(), commands.join("; "))?;
                }
                for command in build.commands() {
                    writeln!(s, "  {command}")?;
                }
                if let Some(attach) = &build.attach {
                    writeln!(s, "  {attach}")?;
                }
            }
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::targets::Os;
    use crate::workspace::sample::sample_config;

    fn machine(engines: &[Engine]) -> Machine {
        Machine::for_tests("x86_64-unknown-linux-gnu", engines)
    }

    fn plan(config: &Config, request: &Request) -> Plan {
        Plan::new(config, request, &machine(&[Engine::Buildah])).unwrap()
    }

    fn dest(plan: &Plan, dest: &str) -> ContextFile {
        plan.files.iter().find(|f| f.dest == dest).unwrap_or_else(|| panic!("no {dest} in the plan")).clone()
    }

    /// A Rust host binary whose package says `os = ["windows"]`: built for Windows only,
    /// laid out and listed there only, in its SBOM only there.
    #[test]
    fn a_host_binary_for_some_oses_is_built_laid_out_and_listed_for_those_only() {
        let mut config = sample_config();
        config.host_binaries[1].oses = [Os::Windows].into();
        let plan = plan(&config, &Request::default());
        let helpers: Vec<&str> =
            plan.files.iter().map(|f| f.dest.as_str()).filter(|d| d.contains("sample-helper")).collect();
        assert_eq!(helpers, ["amd64/windows/sample-helper.exe", "arm64/windows/sample-helper.exe"]);
        // The package still builds for every OS (its other binary ships everywhere).
        assert!(plan.files.iter().any(|f| f.dest == "amd64/darwin/sample"));
        let metadata = crate::image::metadata::Metadata::from_config(&config);
        let listed: Vec<String> = Os::ALL
            .into_iter()
            .flat_map(|os| {
                metadata
                    .host
                    .iter()
                    .flat_map(|h| &h.binaries)
                    .flat_map(move |g| g.for_os(os))
                    .map(|b| b.path.clone())
            })
            .filter(|p| p.contains("sample-helper"))
            .collect();
        assert_eq!(listed, ["/windows/sample-helper.exe"]);
    }

    #[test]
    fn darwin_links_get_an_empty_sdk_where_there_is_no_apple_sdk() {
        let no_sdk = Machine { apple_sdk: false, ..machine(&[Engine::Buildah]) };
        let plan = Plan::new(&sample_config(), &Request::default(), &no_sdk).unwrap();
        let runs: Vec<String> = plan.cargo_runs.iter().map(CargoRun::display).collect();
        // The OS's own path (`\` on Windows) under the target folder.
        let sdk = Utf8Path::new("/work/sample/target").join("xtask/no-apple-sdk/MacOSX.sdk");
        assert!(
            runs[0].starts_with(&format!("SDKROOT={sdk} MACOSX_DEPLOYMENT_TARGET=11.0 cargo zigbuild")),
            "{runs:?}"
        );
        assert!(!runs[1].contains("SDKROOT"), "no darwin target, no SDK: {runs:?}");
        let with_sdk =
            Plan::new(&sample_config(), &Request::default(), &machine(&[Engine::Buildah])).unwrap();
        assert!(!with_sdk.cargo_runs[0].display().contains("SDKROOT"), "a Mac's own SDK is left to rustc");
    }

    #[test]
    fn one_run_per_builder_and_target_set() {
        let plan = plan(&sample_config(), &Request::default());
        let runs: Vec<String> = plan.cargo_runs.iter().map(CargoRun::display).collect();
        assert_eq!(
            runs,
            [
                "MACOSX_DEPLOYMENT_TARGET=11.0 cargo zigbuild --release --message-format=json-render-diagnostics \
                 --package sample-cli --target aarch64-apple-darwin --target aarch64-pc-windows-gnullvm \
                 --target aarch64-unknown-linux-musl --target x86_64-apple-darwin --target x86_64-pc-windows-gnu \
                 --target x86_64-unknown-linux-musl",
                "cargo zigbuild --release --message-format=json-render-diagnostics --package sample-backend \
                 --target aarch64-unknown-linux-musl --target x86_64-unknown-linux-musl",
            ]
        );
        assert_eq!(plan.reference.to_string(), "example/sample:1.2.3");
        assert_eq!(plan.context, "/work/sample/target/extension");
    }

    #[test]
    fn each_variant_gets_its_own_cpu_and_the_backend_must_be_static() {
        let plan = plan(&sample_config(), &Request::default());
        let backend = dest(&plan, "arm64/backend");
        assert_eq!(
            backend.source,
            Source::Artifact {
                package: "sample-backend".into(),
                bin: "sample-backend".into(),
                target: "aarch64-unknown-linux-musl".into()
            }
        );
        let expect = backend.expect.unwrap();
        assert!(expect.static_linked);
        assert_eq!(expect.kind.to_string(), "aarch64 ELF");
        assert_eq!(dest(&plan, "amd64/darwin/sample").expect.unwrap().kind.to_string(), "x86_64 Mach-O");
        assert_eq!(
            dest(&plan, "arm64/windows/sample-helper.exe").expect.unwrap().kind.to_string(),
            "Aarch64 PE"
        );
        assert!(!dest(&plan, "amd64/linux/sample").expect.unwrap().static_linked);
        // 2 variants x (backend + 3 OSes x 2 binaries), plus Dockerfile, metadata, icon, ui.
        assert_eq!(plan.files.len(), 2 * 7 + 4);
    }

    #[test]
    fn without_an_arm64_windows_build_the_arm64_variant_carries_the_x86_64_exe() {
        let mut config = sample_config();
        config.host_targets.get_mut(&Os::Windows).unwrap().arm64 = None;
        let plan = plan(&config, &Request::default());
        let exe = dest(&plan, "arm64/windows/sample.exe");
        assert_eq!(
            exe.source,
            Source::Artifact {
                package: "sample-cli".into(),
                bin: "sample".into(),
                target: "x86_64-pc-windows-gnu".into()
            }
        );
        assert_eq!(exe.expect.unwrap().kind.to_string(), "x86-64 PE");
        assert!(!plan.targets().iter().any(|(_, t)| t == "aarch64-pc-windows-gnullvm"));
    }

    #[test]
    fn an_os_turned_off_is_left_out() {
        let mut config = sample_config();
        config.host_targets.remove(&Os::Linux);
        let plan = plan(&config, &Request::default());
        assert!(!plan.files.iter().any(|f| f.dest.as_str().contains("/linux/")));
        // The backend still needs the musl targets.
        assert!(plan.targets().contains(&(Builder::Zigbuild, "x86_64-unknown-linux-musl".into())));
    }

    #[test]
    fn one_platform_narrows_everything() {
        let request = Request { platform: Some(Variant::Arm64), ..Request::default() };
        let plan = plan(&sample_config(), &request);
        assert!(plan.files.iter().all(|f| !f.dest.as_str().starts_with("amd64/")));
        assert!(plan.targets().iter().all(|(_, t)| t.starts_with("aarch64-")));
        let ImageStep::Build(build) = &plan.image else { panic!() };
        assert_eq!(build.platforms, [Variant::Arm64]);
    }

    #[test]
    fn build_with_picks_builders_per_os_or_target_and_flags_win() {
        let mut config = sample_config();
        config.build_with.insert("linux".into(), Builder::Cross);
        config.build_with.insert("x86_64-pc-windows-gnu".into(), Builder::Cross);
        let request = Request {
            build_with: [("aarch64-unknown-linux-musl".to_string(), Builder::Zigbuild)].into(),
            ..Request::default()
        };
        let plan = plan(&config, &request);
        let cross: Vec<(Vec<String>, Vec<String>)> = plan
            .cargo_runs
            .iter()
            .filter(|r| r.builder == Builder::Cross)
            .map(|r| (r.packages.clone(), r.targets.clone()))
            .collect();
        // cross: one target per run; the flag keeps aarch64 linux on zigbuild.
        assert_eq!(
            cross,
            [
                (vec!["sample-cli".to_string()], vec!["x86_64-pc-windows-gnu".to_string()]),
                (vec!["sample-cli".to_string()], vec!["x86_64-unknown-linux-musl".to_string()]),
            ]
        );
        let argv = plan.cargo_runs.iter().find(|r| r.builder == Builder::Cross).unwrap().argv();
        assert_eq!(argv.words()[..2], ["cross", "build"]);
        // x86_64 musl: cross for the host binary, zigbuild for the backend, so rustup needs it.
        assert!(plan.rustup_targets().contains("x86_64-unknown-linux-musl"));
        assert!(!plan.rustup_targets().contains("x86_64-pc-windows-gnu"));
        assert_eq!(plan.cross_targets(), ["x86_64-pc-windows-gnu".to_string()].into());
        assert_eq!(plan.builders(), [Builder::Zigbuild, Builder::Cross].into());
    }

    #[test]
    fn refusals_name_the_file_and_the_reason() {
        let mut config = sample_config();
        config.build_with.insert("darwin".into(), Builder::Cross);
        let err = Plan::new(&config, &Request::default(), &machine(&[])).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot build amd64/darwin/sample (package `sample-cli`): cross has no images"),
            "{err}"
        );
        let request = Request {
            output: Some(Output::Push),
            reference: Some("example/sample:latest".parse().unwrap()),
            ..Request::default()
        };
        let err = Plan::new(&sample_config(), &request, &machine(&[])).unwrap_err().to_string();
        assert!(err.contains("refusing to push: `latest` is not a release tag"), "{err}");
        let forced = Request { force: true, ..request };
        assert!(Plan::new(&sample_config(), &forced, &machine(&[Engine::Buildx])).is_ok());
    }

    #[test]
    fn the_engine_is_the_flag_or_the_first_found() {
        let config = sample_config();
        let engine = |request: &Request, found: &[Engine]| match Plan::new(&config, request, &machine(found))
            .unwrap()
            .image
        {
            ImageStep::Build(b) => Some(b.engine),
            ImageStep::Skip => None,
        };
        assert_eq!(engine(&Request::default(), &[Engine::Buildx, Engine::Buildah]), Some(Engine::Buildx));
        assert_eq!(engine(&Request::default(), &[Engine::Podman, Engine::Buildah]), Some(Engine::Podman));
        let buildah = Request { engine: Some(Engine::Buildah), ..Request::default() };
        assert_eq!(engine(&buildah, &[Engine::Buildx]), Some(Engine::Buildah));
        // No engine here: dist writes the image itself, into target/extension.tar.
        let ImageStep::Build(builtin) = Plan::new(&config, &Request::default(), &machine(&[])).unwrap().image
        else {
            panic!("an image step")
        };
        assert_eq!(builtin.engine, Engine::Builtin);
        assert_eq!(builtin.output, Output::Oci("/work/sample/target/extension.tar".into()));
        let none = Request { no_image: true, ..Request::default() };
        assert_eq!(Plan::new(&config, &none, &machine(&[Engine::Buildx])).unwrap().image, ImageStep::Skip);
        // `--builder` is buildx's: refused with another engine, chosen or found.
        let builder = Request { builder: Some("ext".into()), ..Request::default() };
        assert_eq!(engine(&builder, &[Engine::Buildx]), Some(Engine::Buildx));
        let chosen = Request { engine: Some(Engine::Buildah), ..builder.clone() };
        let error = Plan::new(&config, &chosen, &machine(&[Engine::Buildx])).unwrap_err().to_string();
        assert!(error.contains("--engine chooses buildah"), "{error}");
        let error = Plan::new(&config, &builder, &machine(&[Engine::Podman])).unwrap_err().to_string();
        assert!(error.contains("the engine found here is podman"), "{error}");
    }

    #[test]
    fn zigbuild_keeps_its_wrappers_in_the_target_folder_unless_the_user_chose_a_place() {
        let config = sample_config();
        let machine = Machine { zigbuild_cache_set: false, ..machine(&[]) };
        let plan = Plan::new(&config, &Request::default(), &machine).unwrap();
        let wrappers =
            ("CARGO_ZIGBUILD_CACHE_DIR".to_string(), config.target_dir.join("xtask/zigbuild").to_string());
        for run in &plan.cargo_runs {
            assert_eq!(run.env.contains(&wrappers), run.builder == Builder::Zigbuild, "{}", run.display());
        }
        assert!(plan.cargo_runs.iter().any(|r| r.builder == Builder::Zigbuild));
    }

    #[test]
    fn a_deployment_target_set_by_the_user_is_left_alone() {
        let mut machine = machine(&[]);
        machine.macos_deployment_target = Some("13.0".into());
        let plan = Plan::new(&sample_config(), &Request::default(), &machine).unwrap();
        assert!(plan.cargo_runs.iter().all(|r| r.env.is_empty()));
    }
}
