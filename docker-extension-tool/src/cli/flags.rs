//! Command-line flags: one struct per command, parsed with lexopt (no dependencies, no
//! proc-macro to compile). Values become their types here (`FromStr` on `Engine`,
//! `Variant`, `Builder`, image references), so every usage error, whatever the flag, is
//! exit code 2 with the command's usage text, and the commands get typed values.

use std::collections::BTreeMap;
use std::str::FromStr;

use camino::Utf8PathBuf;
use lexopt::prelude::*;

use crate::model::engine::Engine;
use crate::model::reference::ImageReference;
use crate::model::targets::{Builder, Variant};
use crate::plan::image::Output;

pub(crate) const USAGE: &str = "\
Build, check and start Docker Desktop extensions written in Rust.

Usage: cargo xtask <command> [options]

Commands:
  dev       The local dev loop: build for this machine, install into Docker Desktop (or
            run in a plain browser with --browser), rebuild on every change
  dist      Cross-compile, lay out and build the two-platform extension image
  check     Check the config and context, or a built image (archive, store or registry)
  rules     List the rules check and dist hold an extension to: severity, who refuses it
  validate  Docker's own check (docker extension validate) when Docker Desktop is here, else check
  build-host Build the host binaries for some targets, for `dist --prebuilt` elsewhere
  doctor    Check this machine's prerequisites and print the fix for each missing one
  new       Start a new extension workspace from this template
  init      Rename this copy of the template in place (after \"Use this template\")
  setup     Install the build tools dist needs (rustup targets, zig, cargo-zigbuild)
  test      Run the extension's tests: clippy, Rust, UI, browser, packaging
  bench     Measure a warm, no-op dist against the bare cargo builds it runs
  upgrade   Take the tool's newest release: move the pin, migrate the config, refresh
            the files the template owns (workflows, CI script, the xtask's main.rs)
  release-tag Check a git tag (v1.2.3) against the version being released (the release
            workflow's first step); prints image=, registry= and version= lines
  contract  Write the UI's TypeScript for the backend's and host binaries' JSON from their
            Rust types (dist and dev do it too); --check says which types are stale
  uninstall Remove the extension from Docker Desktop
  share     Print Docker Desktop's preview link of the published image (docker extension share)
  help      Print this help, or a command's: cargo xtask help dist

Run `cargo xtask <command> --help` for a command's options.";

pub(crate) const DIST_USAGE: &str = "\
Usage: cargo xtask dist [options]

Cross-compiles the backend and host binaries, builds the UI, writes the build context
(target/extension: Dockerfile, metadata.json, per-variant binaries) and builds the image
for linux/amd64 and linux/arm64.

Options:
  --tag NAME[:TAG]         Image reference (default: the config's image and tag)
  --push                   Push both platforms to the registry (with SBOM and provenance;
                           the builtin engine attaches both to any image it writes)
  --load                   Load the image into Docker (two platforms need the containerd store)
  --oci PATH               Write an OCI archive holding both platforms (the builtin engine
                           writes target/extension.tar when no output is given)
  --engine ENGINE          buildx, buildah, podman or builtin (default: buildx when docker
                           has it, else podman, else buildah, else builtin: dist writes the
                           image itself, reproducibly, with no engine at all)
  --builder NAME           The buildx builder to use
  --platform PLATFORM      Build one variant only: linux/amd64 or linux/arm64
  --build-with KEY=BUILDER Build an OS (darwin, windows, linux, backend) or a target with
                           zigbuild, cross or cargo (repeatable; overrides the config)
  --out DIR                Where to write the build context (default: target/extension)
  --prebuilt DIR           Take host binaries built elsewhere from DIR/TARGET/NAME (see
                           build-host); each is checked by its header as dist's own builds are
  --no-image               Write the context only
  --dry-run                Print the plan (checks, builds, layout, image commands); run nothing
  --attest                 Attach an SBOM and provenance to each platform's image, in the
                           image's index as buildx does (buildx: a push; builtin: any image).
                           Off by default: Docker's Marketplace validator has refused indexes
                           holding attestation manifests (see the README, Attestations)
  --no-sbom                Attach provenance only (the SBOM needs Docker Hub's scanner image)
  --no-attest              Attach nothing (the default)
  --force                  Push a non-semver or `latest` tag, one platform, or over an existing tag
  --deny-warnings          Fail on advice too (each warning names its rule: `cargo xtask rules`);
                           the config's `deny-warnings = true` does the same
  --events FILE            Write each step's duration and dist's peak memory to FILE as JSON";

pub(crate) const DEV_USAGE: &str = "\
Usage: cargo xtask dev [--browser] [--once] [--debug] [--port PORT] [--events FILE]

The local dev loop. Builds for this machine only (this OS's host binaries, the backend for
this CPU's Linux, cargo's dev profile), writes the one-platform image and loads it as
IMAGE:dev, then:
- with Docker Desktop: installs the extension (or updates it when it is installed), runs
  the UI's dev server (Vite: hot reload) and points Docker Desktop's tab at it;
- with --browser, no Docker Desktop needed: runs the backend as Docker Desktop does (a
  container from the image when a Docker engine answers, else a local process) and serves
  the UI with a stand-in Docker Desktop at a local URL.
Every change to the backend, the host binaries, extension/ or the config rebuilds what it
touches and updates the extension (or restarts the backend), one line each. UI changes are
Vite's. Ctrl-C (or SIGTERM) resets Docker Desktop's tab and stops every process it started.

Options:
  --browser      Run in a plain browser, without Docker Desktop
  --once         Build, load, install or update, then exit (scripts, CI); with --browser:
                 build, start the backend and the UI's dev server, and stop once both
                 answer (a smoke test of the dev loop)
  --debug        Also open devtools on the tab (docker extension dev debug)
  --port PORT    The UI dev server's port (default: a free one)
  --events FILE  Append a JSON line to FILE for each event (ready, each rebuild)";

pub(crate) const CHECK_USAGE: &str = "\
Usage: cargo xtask check [ARCHIVE | LAYOUT | IMAGE | --published] [--deny-warnings]

Without an argument: checks the config and the build context written by dist.
With an OCI archive (`dist --oci`) or layout folder, an IMAGE in docker's store, or an
IMAGE in a registry (read with skopeo): checks the built image, both platforms.
--published: the config's image and tag, read from its registry (after `dist --push`).
Prints every problem, one per line with its rule (`cargo xtask rules` lists them), and
exits non-zero if there is an error: where Docker Desktop, Compose or the Marketplace's
validator refuses. Advice is a warning; --deny-warnings (or the config's
`deny-warnings = true`) fails on warnings too.";

pub(crate) const VALIDATE_USAGE: &str = "\
Usage: cargo xtask validate [IMAGE]

Runs Docker's own validation, `docker extension validate -a -s -i IMAGE`, when the docker
extension plugin is here (it comes with Docker Desktop); otherwise says so and runs
`cargo xtask check IMAGE`. IMAGE defaults to the config's image and tag.";

pub(crate) const CONTRACT_USAGE: &str = "\
Usage: cargo xtask contract [--check]

Writes the UI's TypeScript for the JSON the backend answers and the host binaries print
(the config's `contract.output`) from the Rust types of the contract's package (its
`typescript` example, ts-rs). `dist` and `dev` do this before the UI builds; run it to see
a type change in your editor at once.

Options:
  --check   Write nothing; exit 1 naming each type the file declares differently from the
            Rust types (what `cargo xtask test` runs)";

pub(crate) const UNINSTALL_USAGE: &str = "\
Usage: cargo xtask uninstall [IMAGE]

Removes the extension from Docker Desktop (`docker extension rm`), under the name Docker
Desktop lists it by; says so when it is not installed. IMAGE defaults to the config's image.";

pub(crate) const SHARE_USAGE: &str = "\
Usage: cargo xtask share [IMAGE:TAG]

Prints the link Docker Desktop makes for a published extension image (`docker extension
share`): whoever opens it gets the extension's page in Docker Desktop, to install it from
there before it is in the Marketplace. IMAGE:TAG defaults to the config's image and tag.";

pub(crate) const RELEASE_TAG_USAGE: &str = "\
Usage: cargo xtask release-tag TAG

Checks that the git tag TAG (`v1.2.3`, or `1.2.3`) is the version the image is released
as (the config's `tag`, by default the extension's packages' version) and exits 1 naming
both when it is not. Then prints, for a workflow's $GITHUB_OUTPUT:
  image=REPOSITORY:TAG
  registry=HOST        (docker.io for Docker Hub)
  version=TAG";

pub(crate) const BUILD_HOST_USAGE: &str = "\
Usage: cargo xtask build-host --target TARGET [--target TARGET…] --out DIR

Builds the host binaries for each TARGET (release, with the builder dist would choose),
checks each by its header, and writes them to DIR/TARGET/NAME[.exe]. On the machine that
builds the image, `cargo xtask dist --prebuilt DIR` takes them instead of compiling: for
darwin binaries that need Apple's SDK (built on a Mac), or a build matrix in CI.";

pub(crate) const DOCTOR_USAGE: &str = "\
Usage: cargo xtask doctor

Checks each prerequisite of dist and prints, for each missing one, the command that
installs it. Exits 0 when dist can run.";

pub(crate) const RULES_USAGE: &str = "\
Usage: cargo xtask rules

Prints every rule `check` and `dist` hold an extension to, as a Markdown table: its id
(which each problem names), its severity, and who refuses what it guards against (Docker
Desktop, Compose as Docker Desktop runs a compose backend, the Marketplace's validator, the
OCI image format). Advice is a warning: it fails only with --deny-warnings.";

pub(crate) const NEW_USAGE: &str = "\
Usage: cargo xtask new PATH --image ORG/NAME --title TITLE --vendor VENDOR [options]
       cargo xtask init --image ORG/NAME --title TITLE --vendor VENDOR [options]

new: creates a new extension workspace at PATH from this template.
init: renames this copy of the template in place.

Options:
  --image ORG/NAME       The image repository (required)
  --title TITLE          The extension's name in Docker Desktop (required)
  --vendor VENDOR        Who publishes it (required)
  --host-binary NAME     A host binary to start with (repeatable; default: the sample's)
  --no-backend           Leave the backend out
  --no-host-binaries     Leave the host binaries out
  --tool-git URL[#REF]   Take the build tool from this git repository, at REF (a tag, a
                         branch or a commit; default: the tool's release tag)
  --tool-version X.Y.Z   Take the build tool from crates.io, at that version
  --tool-path DIR        Take the build tool from a checkout on this machine (to work on it)

The new extension depends on the build tool (xtask/Cargo.toml, pinned in Cargo.lock): by
default its own repository, at the release tag it was built from (or its commit).";

pub(crate) const UPGRADE_USAGE: &str = "\
Usage: cargo xtask upgrade [--to VERSION|REF] [--dry-run]

Moves the build tool's pin (xtask/Cargo.toml, Cargo.lock) to its newest release tag (or
--to: a version, or a tag, branch or commit of its repository), and with the new tool:
migrates the config to its format, and refreshes the files the template owns (the
workflows, .cargo/config.toml, .ci/run, xtask/src/main.rs) where you have not edited
them; an edited one is left alone, with the new version written beside it (NAME.upgrade).
Prints each change. Runs on a clean git tree only, so `git diff` shows what it did; a
failure or an interrupt leaves every file as it was.

Options:
  --to VERSION|REF  The release (X.Y.Z) or git ref to take (default: the newest release)
  --dry-run         Print the changes and write nothing (the upgraded copy stays in
                    target/xtask/upgrade/work to look at)";

pub(crate) const SETUP_USAGE: &str = "\
Usage: cargo xtask setup [--for-tests]

Installs what dist needs to cross-compile: the configured rustup targets, zig and
cargo-zigbuild. With --for-tests, also what the extension's tests use: the UI's npm
packages (and it says which browser the browser test will use), then prepares the test
suites the xtask adds. No root, no system packages.";

pub(crate) const TEST_USAGE: &str = "\
Usage: cargo xtask test [--skip-browser] [-- CARGO TEST ARGS]

The extension's tests, on macOS, Windows or Linux (no root, no Docker): clippy (-D
warnings), the Rust workspace's tests (`cargo test --workspace`), the UI's unit tests
(`npm test`) and its browser test (headless Chromium, Chrome or Edge, with the real
backend and host binary; CHROMIUM=PATH chooses the browser), then a packaging test: dist
with the builtin engine, and `check` on the image. Then the suites the xtask adds.

Options:
  --skip-browser   No Chromium, Chrome or Edge here: skip the browser test (said so)";

pub(crate) const BENCH_USAGE: &str = "\
Usage: cargo xtask bench [--runs N] [--cold-compile]

Times, interleaved, N times (default 5), and prints the medians and their ratios:
- a warm, no-op `cargo xtask dist --no-image` against the same cargo runs without dist;
- for each image engine here (builtin, buildah, buildx), a whole warm `dist --oci` against
  its image step alone. With no Docker engine running, the tests' private one is used
  when `cargo xtask setup --for-tests` installed it;
- the dev loop: a backend change until the new backend answers;
- the cold compile of an extension's xtask against the floor crates (xshell,
  cargo_metadata, camino, anyhow, serde, serde_json), alternating builds from empty
  target folders (--cold-compile: this one only).";

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Dev(Dev),
    Dist(Dist),
    Check(Check),
    Doctor(Doctor),
    New(New),
    Init(New),
    Setup(Setup),
    Test(Test),
    Bench(Bench),
    Validate(Validate),
    BuildHost(BuildHost),
    Upgrade(Upgrade),
    ReleaseTag(ReleaseTag),
    Contract(Contract),
    Uninstall(Desktop),
    Share(Desktop),
    Rules,
    /// `help [COMMAND]`, `--help`, `COMMAND --help`.
    Help(Option<String>),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bench {
    pub runs: usize,
    /// `--cold-compile`: only the cold compile against the floor.
    pub cold_compile_only: bool,
}

/// What the user asked of `dist`, every value typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Dist {
    /// `--tag NAME[:TAG]`: the repository, and the tag when given.
    pub reference: Option<ImageReference>,
    /// `--push`, `--load` or `--oci PATH`.
    pub output: Option<Output>,
    pub engine: Option<Engine>,
    pub builder: Option<String>,
    /// `--platform`: build one variant only.
    pub platform: Option<Variant>,
    pub build_with: BTreeMap<String, Builder>,
    pub out: Option<Utf8PathBuf>,
    pub no_image: bool,
    pub dry_run: bool,
    pub force: bool,
    /// `--attest`: attach an SBOM and provenance (off by default).
    pub attest: bool,
    /// `--no-sbom` / `--no-attest`: provenance only, or nothing.
    pub no_sbom: bool,
    pub no_attest: bool,
    /// `--prebuilt DIR`: binaries built elsewhere, at DIR/TARGET/NAME.
    pub prebuilt: Option<Utf8PathBuf>,
    /// `--events FILE`: the steps' durations and the peak memory, as JSON.
    pub events: Option<Utf8PathBuf>,
    /// `--deny-warnings`: advice fails the build too.
    pub deny_warnings: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Doctor;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Dev {
    pub browser: bool,
    pub once: bool,
    pub debug: bool,
    pub port: Option<u16>,
    /// `--events FILE`: one JSON line per event.
    pub events: Option<Utf8PathBuf>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Check {
    /// An archive, a layout folder or an image reference, as given (see `ImageSource`).
    pub source: Option<String>,
    /// `--published`: the config's image and tag, from its registry.
    pub published: bool,
    /// `--deny-warnings`: advice fails the check too.
    pub deny_warnings: bool,
}

/// `uninstall [IMAGE]`, `share [IMAGE:TAG]`: Docker Desktop's own commands, for an image.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Desktop {
    pub image: Option<String>,
}

/// `contract [--check]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Contract {
    pub check: bool,
}

/// `release-tag TAG`: the git tag a release workflow runs for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReleaseTag {
    pub tag: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Validate {
    pub image: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BuildHost {
    pub targets: Vec<String>,
    pub out: Utf8PathBuf,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct New {
    pub path: Option<Utf8PathBuf>,
    pub image: String,
    pub title: String,
    pub vendor: String,
    pub host_binaries: Vec<String>,
    pub no_backend: bool,
    pub no_host_binaries: bool,
    /// `--tool-path DIR`: the build tool from a checkout on this machine.
    pub tool_path: Option<Utf8PathBuf>,
    /// `--tool-git URL[#REF]`: the build tool from another git repository or ref.
    pub tool_git: Option<String>,
    /// `--tool-version X.Y.Z`: the build tool from crates.io.
    pub tool_version: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Upgrade {
    /// `--to VERSION|REF`: the release or ref to take (default: the newest release).
    pub to: Option<String>,
    pub dry_run: bool,
    /// `--apply` (not in the usage): the new tool's half, run by the old one in a copy of
    /// the workspace. Every version keeps it.
    pub apply: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Setup {
    pub for_tests: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Test {
    /// `--skip-browser`: no browser here; the UI's browser test is skipped (said so).
    pub skip_browser: bool,
    pub cargo_args: Vec<String>,
}

/// A usage error: printed with the command's usage, exit code 2. An empty message is a
/// request for help (exit 0).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UsageError {
    pub message: String,
    pub usage: &'static str,
}

impl UsageError {
    fn new(usage: &'static str, message: impl Into<String>) -> UsageError {
        UsageError { message: message.into(), usage }
    }
}

/// One command's parse: lexopt's errors become sentences with this usage attached.
struct Args {
    parser: lexopt::Parser,
    usage: &'static str,
}

impl Args {
    fn error<T>(&self, message: impl Into<String>) -> Result<T, UsageError> {
        Err(UsageError::new(self.usage, message))
    }

    fn next(&mut self) -> Result<Option<lexopt::Arg<'_>>, UsageError> {
        let usage = self.usage;
        self.parser.next().map_err(|e| UsageError::new(usage, sentence(e)))
    }

    /// The value of the option just read, as text.
    fn string(&mut self, flag: &str) -> Result<String, UsageError> {
        match self.parser.value() {
            Ok(value) => value.into_string().or_else(|v| self.error(format!("{flag} {v:?} is not UTF-8"))),
            Err(_) => self.error(format!("{flag} needs a value")),
        }
    }

    /// The value of the option just read, parsed: the type's error names the fix.
    fn parsed<T: FromStr<Err = String>>(&mut self, flag: &str) -> Result<T, UsageError> {
        let value = self.string(flag)?;
        value.parse().or_else(|e| self.error(format!("{flag} {value}: {e}")))
    }

    /// Set a value flag once: a second one is a mistake, not an override.
    fn once<T>(&self, slot: &mut Option<T>, flag: &str, value: T) -> Result<(), UsageError> {
        if slot.is_some() {
            return self.error(format!("{flag} is given twice"));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// An argument no branch of the command's parse took.
fn unexpected<T>(usage: &'static str, arg: lexopt::Arg<'_>) -> Result<T, UsageError> {
    Err(UsageError::new(usage, sentence(arg.unexpected())))
}

fn sentence(error: lexopt::Error) -> String {
    match error {
        lexopt::Error::MissingValue { option: Some(option) } => format!("{option} needs a value"),
        lexopt::Error::UnexpectedOption(option) => format!("unexpected option `{option}`"),
        lexopt::Error::UnexpectedArgument(arg) => format!("unexpected argument `{}`", arg.to_string_lossy()),
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        other => other.to_string(),
    }
}

/// Parses the arguments after `cargo xtask`.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Command::Help(None));
    };
    let rest: Vec<String> = args.collect();
    let Some(usage) = usage_of(Some(&command)) else {
        return match command.as_str() {
            "help" | "--help" | "-h" => Ok(Command::Help(rest.into_iter().next())),
            other => Err(UsageError::new(USAGE, format!("unknown command `{other}`"))),
        };
    };
    // `COMMAND --help` anywhere before a `--`.
    if rest.iter().take_while(|a| *a != "--").any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help(Some(command)));
    }
    if command == "test" {
        return parse_test(rest);
    }
    let mut args = Args { parser: lexopt::Parser::from_args(rest), usage };
    match command.as_str() {
        "dist" => parse_dist(&mut args).map(Command::Dist),
        "dev" => parse_dev(&mut args).map(Command::Dev),
        "check" => parse_check(&mut args).map(Command::Check),
        "doctor" => parse_no_options(&mut args).map(|()| Command::Doctor(Doctor)),
        "rules" => parse_no_options(&mut args).map(|()| Command::Rules),
        "new" => parse_new(&mut args, true).map(Command::New),
        "init" => parse_new(&mut args, false).map(Command::Init),
        "setup" => parse_setup(&mut args).map(Command::Setup),
        "bench" => parse_bench(&mut args).map(Command::Bench),
        "validate" => parse_validate(&mut args).map(Command::Validate),
        "build-host" => parse_build_host(&mut args).map(Command::BuildHost),
        "upgrade" => parse_upgrade(&mut args).map(Command::Upgrade),
        "release-tag" => parse_release_tag(&mut args).map(Command::ReleaseTag),
        "contract" => parse_contract(&mut args).map(Command::Contract),
        "uninstall" => parse_desktop(&mut args).map(Command::Uninstall),
        "share" => parse_desktop(&mut args).map(Command::Share),
        _ => unreachable!("every command with a usage text is parsed above"),
    }
}

pub(crate) fn usage_of(command: Option<&str>) -> Option<&'static str> {
    Some(match command {
        None => USAGE,
        Some("dist") => DIST_USAGE,
        Some("dev") => DEV_USAGE,
        Some("check") => CHECK_USAGE,
        Some("doctor") => DOCTOR_USAGE,
        Some("rules") => RULES_USAGE,
        Some("new" | "init") => NEW_USAGE,
        Some("setup") => SETUP_USAGE,
        Some("test") => TEST_USAGE,
        Some("bench") => BENCH_USAGE,
        Some("validate") => VALIDATE_USAGE,
        Some("build-host") => BUILD_HOST_USAGE,
        Some("upgrade") => UPGRADE_USAGE,
        Some("release-tag") => RELEASE_TAG_USAGE,
        Some("contract") => CONTRACT_USAGE,
        Some("uninstall") => UNINSTALL_USAGE,
        Some("share") => SHARE_USAGE,
        Some(_) => return None,
    })
}

fn parse_dist(args: &mut Args) -> Result<Dist, UsageError> {
    let usage = args.usage;
    let mut dist = Dist::default();
    let mut reference = None;
    let (mut push, mut load, mut oci) = (false, false, None);
    while let Some(arg) = args.next()? {
        match arg {
            Long("push") => push = true,
            Long("load") => load = true,
            Long("no-image") => dist.no_image = true,
            Long("dry-run") => dist.dry_run = true,
            Long("force") => dist.force = true,
            Long("deny-warnings") => dist.deny_warnings = true,
            Long("attest") => dist.attest = true,
            Long("no-sbom") => dist.no_sbom = true,
            Long("no-attest") => dist.no_attest = true,
            Long("tag") => {
                let value: ImageReference = args.parsed("--tag")?;
                args.once(&mut reference, "--tag", value)?;
            }
            Long("oci") => {
                let value = args.string("--oci")?;
                args.once(&mut oci, "--oci", Utf8PathBuf::from(value))?;
            }
            Long("engine") => {
                let value = args.parsed("--engine")?;
                args.once(&mut dist.engine, "--engine", value)?;
            }
            Long("builder") => {
                let value = args.string("--builder")?;
                args.once(&mut dist.builder, "--builder", value)?;
            }
            Long("platform") => {
                let value = args.parsed("--platform")?;
                args.once(&mut dist.platform, "--platform", value)?;
            }
            Long("out") => {
                let value = args.string("--out")?;
                args.once(&mut dist.out, "--out", Utf8PathBuf::from(value))?;
            }
            Long("prebuilt") => {
                let value = args.string("--prebuilt")?;
                args.once(&mut dist.prebuilt, "--prebuilt", Utf8PathBuf::from(value))?;
            }
            Long("events") => {
                let value = args.string("--events")?;
                args.once(&mut dist.events, "--events", Utf8PathBuf::from(value))?;
            }
            Long("build-with") => {
                let value = args.string("--build-with")?;
                let Some((key, builder)) = value.split_once('=') else {
                    return args.error(format!(
                        "--build-with takes KEY=BUILDER (e.g. windows=cross), not `{value}`"
                    ));
                };
                let builder: Builder =
                    builder.parse().or_else(|e| args.error(format!("--build-with {value}: {e}")))?;
                dist.build_with.insert(key.to_string(), builder);
            }
            other => return unexpected(usage, other),
        }
    }
    dist.reference = reference;
    let outputs = [push, load, oci.is_some()].iter().filter(|&&b| b).count();
    if outputs > 1 {
        return args.error("--push, --load and --oci are exclusive: choose one");
    }
    if dist.no_image && outputs > 0 {
        return args
            .error("--no-image builds no image, so it cannot be combined with --push, --load or --oci");
    }
    if (dist.attest || dist.no_sbom || dist.no_attest) && !push && dist.engine != Some(Engine::Builtin) {
        return args.error(
            "--attest, --no-sbom and --no-attest say what a push attaches (or any image of the builtin engine): use them with --push or --engine builtin",
        );
    }
    if dist.attest && dist.no_attest {
        return args.error("--attest and --no-attest contradict each other: choose one");
    }
    if dist.builder.is_some() && dist.engine.is_some_and(|e| e != Engine::Buildx) {
        return args.error("--builder names a buildx builder, but --engine chooses another engine");
    }
    dist.output = match (push, load, oci) {
        (true, _, _) => Some(Output::Push),
        (_, true, _) => Some(Output::Load),
        (_, _, Some(path)) => Some(Output::Oci(path)),
        _ => None,
    };
    Ok(dist)
}

fn parse_dev(args: &mut Args) -> Result<Dev, UsageError> {
    let usage = args.usage;
    let mut dev = Dev::default();
    while let Some(arg) = args.next()? {
        match arg {
            Long("browser") => dev.browser = true,
            Long("once") => dev.once = true,
            Long("debug") => dev.debug = true,
            Long("events") => {
                let value = args.string("--events")?;
                args.once(&mut dev.events, "--events", Utf8PathBuf::from(value))?;
            }
            Long("port") => {
                let value = args.string("--port")?;
                match value.parse::<u16>() {
                    Ok(port) if port > 0 => args.once(&mut dev.port, "--port", port)?,
                    _ => return args.error(format!("--port takes a port number (1-65535), not `{value}`")),
                }
            }
            other => return unexpected(usage, other),
        }
    }
    if dev.browser && dev.debug {
        return args.error(
            "--debug is for Docker Desktop's tab: --browser runs in a browser, with its own devtools",
        );
    }
    if dev.once && !dev.browser && (dev.debug || dev.port.is_some()) {
        return args
            .error("--once installs and exits: it starts no dev server, so --debug and --port do not apply");
    }
    Ok(dev)
}

fn parse_validate(args: &mut Args) -> Result<Validate, UsageError> {
    let usage = args.usage;
    let mut validate = Validate::default();
    while let Some(arg) = args.next()? {
        match arg {
            Value(value) if validate.image.is_none() => {
                validate.image = Some(value.to_string_lossy().into_owned());
            }
            other => return unexpected(usage, other),
        }
    }
    Ok(validate)
}

fn parse_desktop(args: &mut Args) -> Result<Desktop, UsageError> {
    let usage = args.usage;
    let mut desktop = Desktop::default();
    while let Some(arg) = args.next()? {
        match arg {
            Value(value) if desktop.image.is_none() => {
                desktop.image = Some(value.to_string_lossy().into_owned());
            }
            other => return unexpected(usage, other),
        }
    }
    Ok(desktop)
}

fn parse_contract(args: &mut Args) -> Result<Contract, UsageError> {
    let usage = args.usage;
    let mut contract = Contract::default();
    while let Some(arg) = args.next()? {
        match arg {
            Long("check") => contract.check = true,
            other => return unexpected(usage, other),
        }
    }
    Ok(contract)
}

fn parse_release_tag(args: &mut Args) -> Result<ReleaseTag, UsageError> {
    let usage = args.usage;
    let mut tag = None;
    while let Some(arg) = args.next()? {
        match arg {
            Value(value) if tag.is_none() => tag = Some(value.to_string_lossy().into_owned()),
            other => return unexpected(usage, other),
        }
    }
    match tag {
        Some(tag) => Ok(ReleaseTag { tag }),
        None => args.error(
            "the git tag is missing: cargo xtask release-tag v1.2.3 (in a workflow: \"$GITHUB_REF_NAME\")",
        ),
    }
}

fn parse_build_host(args: &mut Args) -> Result<BuildHost, UsageError> {
    let usage = args.usage;
    let (mut targets, mut out) = (vec![], None);
    while let Some(arg) = args.next()? {
        match arg {
            Long("target") => targets.push(args.string("--target")?),
            Long("out") => {
                let value = args.string("--out")?;
                args.once(&mut out, "--out", Utf8PathBuf::from(value))?;
            }
            other => return unexpected(usage, other),
        }
    }
    if targets.is_empty() {
        return args.error("give at least one --target, e.g. --target aarch64-apple-darwin");
    }
    let Some(out) = out else {
        return args.error("give --out DIR: the folder the binaries go to");
    };
    Ok(BuildHost { targets, out })
}

fn parse_check(args: &mut Args) -> Result<Check, UsageError> {
    let usage = args.usage;
    let mut check = Check::default();
    while let Some(arg) = args.next()? {
        match arg {
            Long("published") => check.published = true,
            Long("deny-warnings") => check.deny_warnings = true,
            Value(value) if check.source.is_none() => {
                check.source = Some(value.to_string_lossy().into_owned());
            }
            Value(value) => {
                return args.error(format!(
                    "unexpected argument `{}`: check takes one archive or image",
                    value.to_string_lossy()
                ))
            }
            other => return unexpected(usage, other),
        }
    }
    if check.published && check.source.is_some() {
        return args.error("--published checks the config's own image: give it no image or archive");
    }
    Ok(check)
}

fn parse_no_options(args: &mut Args) -> Result<(), UsageError> {
    let usage = args.usage;
    match args.next()? {
        None => Ok(()),
        Some(other) => unexpected(usage, other),
    }
}

fn parse_setup(args: &mut Args) -> Result<Setup, UsageError> {
    let usage = args.usage;
    let mut setup = Setup::default();
    while let Some(arg) = args.next()? {
        match arg {
            Long("for-tests") => setup.for_tests = true,
            other => return unexpected(usage, other),
        }
    }
    Ok(setup)
}

fn parse_bench(args: &mut Args) -> Result<Bench, UsageError> {
    let usage = args.usage;
    let mut runs = None;
    let mut cold_compile_only = false;
    while let Some(arg) = args.next()? {
        match arg {
            Long("cold-compile") => cold_compile_only = true,
            Long("runs") => {
                let n = args.string("--runs")?;
                match n.parse::<usize>() {
                    Ok(n) if n > 0 => args.once(&mut runs, "--runs", n)?,
                    _ => return args.error(format!("--runs takes a positive number, not `{n}`")),
                }
            }
            other => return unexpected(usage, other),
        }
    }
    Ok(Bench { runs: runs.unwrap_or(5), cold_compile_only })
}

/// `test [--skip-browser] [-- CARGO TEST ARGS]`: everything after `--` goes to cargo test
/// as it is.
fn parse_test(rest: Vec<String>) -> Result<Command, UsageError> {
    let mut test = Test::default();
    let mut rest = rest.into_iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--skip-browser" if !test.skip_browser => test.skip_browser = true,
            "--skip-browser" => return Err(UsageError::new(TEST_USAGE, "--skip-browser is given twice")),
            "--" => {
                test.cargo_args = rest.collect();
                break;
            }
            other => {
                return Err(UsageError::new(
                    TEST_USAGE,
                    format!("unexpected argument `{other}` (pass cargo test's after `--`)"),
                ))
            }
        }
    }
    Ok(Command::Test(test))
}

fn parse_upgrade(args: &mut Args) -> Result<Upgrade, UsageError> {
    let usage = args.usage;
    let mut upgrade = Upgrade::default();
    while let Some(arg) = args.next()? {
        match arg {
            Long("dry-run") => upgrade.dry_run = true,
            Long("apply") => upgrade.apply = true,
            Long("to") => {
                let value = args.string("--to")?;
                args.once(&mut upgrade.to, "--to", value)?;
            }
            other => return unexpected(usage, other),
        }
    }
    if upgrade.apply && (upgrade.dry_run || upgrade.to.is_some()) {
        return args.error("--apply is the new tool's half of an upgrade: it takes no other option");
    }
    Ok(upgrade)
}

fn parse_new(args: &mut Args, with_path: bool) -> Result<New, UsageError> {
    let usage = args.usage;
    let mut new = New::default();
    let (mut image, mut title, mut vendor) = (None, None, None);
    while let Some(arg) = args.next()? {
        match arg {
            Long("no-backend") => new.no_backend = true,
            Long("no-host-binaries") => new.no_host_binaries = true,
            Long("image") => {
                let value = args.string("--image")?;
                args.once(&mut image, "--image", value)?;
            }
            Long("title") => {
                let value = args.string("--title")?;
                args.once(&mut title, "--title", value)?;
            }
            Long("vendor") => {
                let value = args.string("--vendor")?;
                args.once(&mut vendor, "--vendor", value)?;
            }
            Long("host-binary") => new.host_binaries.push(args.string("--host-binary")?),
            Long("tool-path") => {
                let value = args.string("--tool-path")?;
                args.once(&mut new.tool_path, "--tool-path", Utf8PathBuf::from(value))?;
            }
            Long("tool-git") => {
                let value = args.string("--tool-git")?;
                args.once(&mut new.tool_git, "--tool-git", value)?;
            }
            Long("tool-version") => {
                let value = args.string("--tool-version")?;
                args.once(&mut new.tool_version, "--tool-version", value)?;
            }
            Value(path) if with_path && new.path.is_none() => {
                new.path = Some(Utf8PathBuf::from(path.to_string_lossy().into_owned()));
            }
            other => return unexpected(usage, other),
        }
    }
    if with_path && new.path.is_none() {
        return args
            .error("give the new extension's folder: cargo xtask new PATH --image … --title … --vendor …");
    }
    let missing: Vec<&str> = [("--image", &image), ("--title", &title), ("--vendor", &vendor)]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(flag, _)| *flag)
        .collect();
    if !missing.is_empty() {
        return args.error(format!("missing {}", missing.join(", ")));
    }
    if new.no_host_binaries && !new.host_binaries.is_empty() {
        return args.error("--no-host-binaries and --host-binary contradict each other");
    }
    let sources = [
        ("--tool-path", new.tool_path.is_some()),
        ("--tool-git", new.tool_git.is_some()),
        ("--tool-version", new.tool_version.is_some()),
    ];
    let given: Vec<&str> = sources.iter().filter(|(_, given)| *given).map(|(flag, _)| *flag).collect();
    if given.len() > 1 {
        return args.error(format!("{} each say where the tool comes from: choose one", given.join(" and ")));
    }
    new.image = image.unwrap_or_default();
    new.title = title.unwrap_or_default();
    new.vendor = vendor.unwrap_or_default();
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Command, UsageError> {
        parse(s.split_whitespace().map(String::from))
    }

    fn dist(s: &str) -> Dist {
        match parse_str(s) {
            Ok(Command::Dist(dist)) => dist,
            other => panic!("{other:?}"),
        }
    }

    fn usage_error(s: &str) -> UsageError {
        let error = parse_str(s).unwrap_err();
        assert!(!error.message.is_empty(), "{s}");
        error
    }

    #[test]
    fn dist_flags_become_values() {
        let dist =
            dist("dist --push --tag=example/ext:1.2.3 --build-with windows=cross --platform linux/arm64");
        assert_eq!(dist.output, Some(Output::Push));
        assert_eq!(dist.reference.unwrap().to_string(), "example/ext:1.2.3");
        assert_eq!(dist.build_with, [("windows".to_string(), Builder::Cross)].into());
        assert_eq!(dist.platform, Some(Variant::Arm64));
        let dist = self::dist("dist --tag localhost:5000/acme/ext --oci out.tar --engine buildah");
        let reference = dist.reference.as_ref().unwrap();
        assert_eq!((reference.repository(), reference.tag()), ("localhost:5000/acme/ext", None));
        assert_eq!(dist.output, Some(Output::Oci("out.tar".into())));
        assert_eq!(dist.engine, Some(Engine::Buildah));
    }

    #[test]
    fn every_bad_flag_is_a_usage_error_with_the_commands_usage() {
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
        ] {
            let error = usage_error(args);
            assert!(error.message.contains(says), "{args}: {}", error.message);
            assert_eq!(error.usage, DIST_USAGE, "{args}");
        }
        let error = usage_error("frob");
        assert!(error.message.contains("unknown command `frob`"));
        assert_eq!(error.usage, USAGE);
        assert_eq!(usage_error("bench --runs 0").usage, BENCH_USAGE);
        let error = usage_error("release-tag");
        assert!(error.message.contains("the git tag is missing"), "{}", error.message);
        assert_eq!(error.usage, RELEASE_TAG_USAGE);
        assert!(usage_error("release-tag v1 v2").message.contains("unexpected argument `v2`"));
        assert_eq!(
            parse_str("release-tag v1.2.3").unwrap(),
            Command::ReleaseTag(ReleaseTag { tag: "v1.2.3".into() })
        );
    }

    #[test]
    fn help_anywhere_before_a_double_dash() {
        assert_eq!(parse_str("dist --push --help").unwrap(), Command::Help(Some("dist".into())));
        assert_eq!(parse_str("help check").unwrap(), Command::Help(Some("check".into())));
        let Command::Test(test) = parse_str("test -- --help").unwrap() else { panic!() };
        assert_eq!(test.cargo_args, ["--help"]);
    }

    #[test]
    fn new_flags() {
        let Command::New(new) =
            parse_str("new ../x --image a/b --title T --vendor V --host-binary one --host-binary two")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(new.path.as_deref(), Some(camino::Utf8Path::new("../x")));
        assert_eq!(new.host_binaries, ["one", "two"]);
        assert!(usage_error("new x --image a/b").message.contains("missing --title, --vendor"));
        assert!(usage_error("init x --image a/b --title T --vendor V")
            .message
            .contains("unexpected argument `x`"));
    }
}
