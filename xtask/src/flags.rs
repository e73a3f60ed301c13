//! Command-line flags: one struct per command, parsed by hand (no proc-macro to compile).

use std::collections::VecDeque;

use camino::Utf8PathBuf;

pub const USAGE: &str = "\
Build, check and start Docker Desktop extensions written in Rust.

Usage: cargo xtask <command> [options]

Commands:
  dist      Cross-compile, lay out and build the two-platform extension image
  check     Check the config and context, or a built image archive, offline
  doctor    Check this machine's prerequisites and print the fix for each missing one
  new       Start a new extension workspace from this template
  init      Rename this copy of the template in place (after \"Use this template\")
  setup     Install the build tools dist needs (rustup targets, zig, cargo-zigbuild)
  test      Install what the tests need, then run every test of the workspace
  bench     Measure a warm, no-op dist against the bare cargo builds it runs
  help      Print this help, or a command's: cargo xtask help dist

Run `cargo xtask <command> --help` for a command's options.";

pub const DIST_USAGE: &str = "\
Usage: cargo xtask dist [options]

Cross-compiles the backend and host binaries, builds the UI, writes the build context
(target/extension: Dockerfile, metadata.json, per-variant binaries) and builds the image
for linux/amd64 and linux/arm64.

Options:
  --tag NAME[:TAG]         Image reference (default: the config's image and tag)
  --push                   Push both platforms to the registry (with SBOM and provenance)
  --load                   Load the image into Docker (two platforms need the containerd store)
  --oci PATH               Write an OCI archive holding both platforms
  --engine ENGINE          buildx, buildah or podman (default: buildx when docker has it,
                           else podman, else buildah)
  --builder NAME           The buildx builder to use
  --platform PLATFORM      Build one variant only: linux/amd64 or linux/arm64
  --build-with KEY=BUILDER Build an OS (darwin, windows, linux, backend) or a target with
                           zigbuild, cross or cargo (repeatable; overrides the config)
  --out DIR                Where to write the build context (default: target/extension)
  --no-image               Write the context only
  --dry-run                Print the plan (builds, layout, image commands); run nothing
  --force                  Push a non-semver or `latest` tag, or over an existing tag";

pub const CHECK_USAGE: &str = "\
Usage: cargo xtask check [ARCHIVE | IMAGE]

Without an argument: checks the config and the build context written by dist.
With ARCHIVE (an OCI archive from `dist --oci`), or an IMAGE in docker's store (exported
with `docker image save`): checks the built image, both platforms.
Prints every problem, one per line, and exits non-zero if there is any.";

pub const DOCTOR_USAGE: &str = "\
Usage: cargo xtask doctor

Checks each prerequisite of dist and prints, for each missing one, the command that
installs it. Exits 0 when dist can run.";

pub const NEW_USAGE: &str = "\
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
  --no-host-binaries     Leave the host binaries out";

pub const SETUP_USAGE: &str = "\
Usage: cargo xtask setup [--for-tests]

Installs what dist needs to cross-compile: the configured rustup targets, zig and
cargo-zigbuild. With --for-tests, also what the tests use: buildah, skopeo, Wine, the
MinGW compiler, qemu-user, Chromium (Debian packages) and the UI's npm packages.";

pub const TEST_USAGE: &str = "\
Usage: cargo xtask test [-- CARGO TEST ARGS]

Installs what the tests need (`setup --for-tests`), then runs every test: the Rust
workspace's (`cargo test --workspace`) and the UI's (`npm test`, then the browser test).";

pub const BENCH_USAGE: &str = "\
Usage: cargo xtask bench [--runs N]

Times a warm, no-op `cargo xtask dist --no-image` against the same cargo runs without
dist around them, interleaved, N times (default 5); prints the medians and their ratio.";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Dist(Dist),
    Check(Check),
    Doctor(Doctor),
    New(New),
    Init(New),
    Setup(Setup),
    Test(Test),
    Bench(Bench),
    Help(Option<String>),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Bench {
    pub runs: usize,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dist {
    pub tag: Option<String>,
    pub push: bool,
    pub load: bool,
    pub oci: Option<Utf8PathBuf>,
    pub engine: Option<String>,
    pub builder: Option<String>,
    pub platform: Option<String>,
    pub build_with: Vec<(String, String)>,
    pub out: Option<Utf8PathBuf>,
    pub no_image: bool,
    pub dry_run: bool,
    pub force: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Doctor;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Check {
    pub archive: Option<Utf8PathBuf>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct New {
    pub path: Option<Utf8PathBuf>,
    pub image: String,
    pub title: String,
    pub vendor: String,
    pub host_binaries: Vec<String>,
    pub no_backend: bool,
    pub no_host_binaries: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Setup {
    pub for_tests: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Test {
    pub cargo_args: Vec<String>,
}

/// A usage error: printed with the command's usage, exit code 2.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    pub usage: &'static str,
}

struct Args {
    args: VecDeque<String>,
    usage: &'static str,
}

impl Args {
    fn error<T>(&self, message: String) -> Result<T, UsageError> {
        Err(UsageError { message, usage: self.usage })
    }

    /// The value of `--flag VALUE` or `--flag=VALUE`, when `arg` is that flag.
    fn value(&mut self, arg: &str, flag: &str) -> Result<Option<String>, UsageError> {
        if let Some(value) = arg.strip_prefix(flag).and_then(|rest| rest.strip_prefix('=')) {
            return Ok(Some(value.to_string()));
        }
        if arg != flag {
            return Ok(None);
        }
        match self.args.pop_front() {
            Some(value) if !value.starts_with("--") => Ok(Some(value)),
            _ => self.error(format!("{flag} needs a value")),
        }
    }
}

/// Parses the arguments after `cargo xtask`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, UsageError> {
    let mut args = Args { args: args.into_iter().collect(), usage: USAGE };
    let Some(command) = args.args.pop_front() else {
        return Ok(Command::Help(None));
    };
    match command.as_str() {
        "dist" => parse_dist(args).map(Command::Dist),
        "check" => parse_check(args).map(Command::Check),
        "doctor" => {
            args.usage = DOCTOR_USAGE;
            match args.args.pop_front() {
                None => Ok(Command::Doctor(Doctor)),
                Some(h) if h == "--help" || h == "-h" => Ok(Command::Help(Some("doctor".into()))),
                Some(other) => args.error(format!("unexpected argument `{other}`")),
            }
        }
        "new" => parse_new(args, true).map(Command::New),
        "init" => parse_new(args, false).map(Command::Init),
        "setup" => {
            args.usage = SETUP_USAGE;
            let mut setup = Setup::default();
            while let Some(arg) = args.args.pop_front() {
                match arg.as_str() {
                    "--for-tests" => setup.for_tests = true,
                    "--help" | "-h" => return Ok(Command::Help(Some("setup".into()))),
                    other => return args.error(format!("unexpected argument `{other}`")),
                }
            }
            Ok(Command::Setup(setup))
        }
        "test" => {
            let mut test = Test::default();
            match args.args.pop_front().as_deref() {
                None => {}
                Some("--") => test.cargo_args = args.args.into_iter().collect(),
                Some("--help" | "-h") => return Ok(Command::Help(Some("test".into()))),
                Some(other) => {
                    args.usage = TEST_USAGE;
                    return args
                        .error(format!("unexpected argument `{other}` (pass cargo test's after `--`)"));
                }
            }
            Ok(Command::Test(test))
        }
        "bench" => {
            args.usage = BENCH_USAGE;
            let mut bench = Bench { runs: 5 };
            while let Some(arg) = args.args.pop_front() {
                if arg == "--help" || arg == "-h" {
                    return Ok(Command::Help(Some("bench".into())));
                }
                match args.value(&arg, "--runs")? {
                    Some(n) => match n.parse() {
                        Ok(n) if n > 0 => bench.runs = n,
                        _ => return args.error(format!("--runs takes a positive number, not `{n}`")),
                    },
                    None => return args.error(format!("unexpected argument `{arg}`")),
                }
            }
            Ok(Command::Bench(bench))
        }
        "help" | "--help" | "-h" => Ok(Command::Help(args.args.pop_front())),
        other => args.error(format!("unknown command `{other}`")),
    }
}

pub fn usage_of(command: Option<&str>) -> Option<&'static str> {
    Some(match command {
        None => USAGE,
        Some("dist") => DIST_USAGE,
        Some("check") => CHECK_USAGE,
        Some("doctor") => DOCTOR_USAGE,
        Some("new" | "init") => NEW_USAGE,
        Some("setup") => SETUP_USAGE,
        Some("test") => TEST_USAGE,
        Some("bench") => BENCH_USAGE,
        Some(_) => return None,
    })
}

fn parse_dist(mut args: Args) -> Result<Dist, UsageError> {
    args.usage = DIST_USAGE;
    let mut dist = Dist::default();
    while let Some(arg) = args.args.pop_front() {
        match arg.as_str() {
            "--push" => dist.push = true,
            "--load" => dist.load = true,
            "--no-image" => dist.no_image = true,
            "--dry-run" => dist.dry_run = true,
            "--force" => dist.force = true,
            "--help" | "-h" => return Err(UsageError { message: String::new(), usage: DIST_USAGE }),
            _ => {
                if let Some(v) = args.value(&arg, "--tag")? {
                    dist.tag = Some(v);
                } else if let Some(v) = args.value(&arg, "--oci")? {
                    dist.oci = Some(v.into());
                } else if let Some(v) = args.value(&arg, "--engine")? {
                    dist.engine = Some(v);
                } else if let Some(v) = args.value(&arg, "--builder")? {
                    dist.builder = Some(v);
                } else if let Some(v) = args.value(&arg, "--platform")? {
                    dist.platform = Some(v);
                } else if let Some(v) = args.value(&arg, "--out")? {
                    dist.out = Some(v.into());
                } else if let Some(v) = args.value(&arg, "--build-with")? {
                    let Some((key, builder)) = v.split_once('=') else {
                        return args.error(format!(
                            "--build-with takes KEY=BUILDER (e.g. windows=cross), not `{v}`"
                        ));
                    };
                    dist.build_with.push((key.to_string(), builder.to_string()));
                } else {
                    return args.error(format!("unexpected argument `{arg}`"));
                }
            }
        }
    }
    let outputs = [dist.push, dist.load, dist.oci.is_some()].iter().filter(|&&b| b).count();
    if outputs > 1 {
        return args.error("--push, --load and --oci are exclusive: choose one".into());
    }
    if dist.no_image && outputs > 0 {
        return args.error(
            "--no-image builds no image, so it cannot be combined with --push, --load or --oci".into(),
        );
    }
    Ok(dist)
}

fn parse_check(mut args: Args) -> Result<Check, UsageError> {
    args.usage = CHECK_USAGE;
    let mut check = Check::default();
    while let Some(arg) = args.args.pop_front() {
        match arg.as_str() {
            "--help" | "-h" => return Err(UsageError { message: String::new(), usage: CHECK_USAGE }),
            a if a.starts_with('-') => return args.error(format!("unexpected option `{a}`")),
            _ if check.archive.is_some() => {
                return args.error(format!("unexpected argument `{arg}`: check takes one archive"))
            }
            _ => check.archive = Some(arg.into()),
        }
    }
    Ok(check)
}

fn parse_new(mut args: Args, with_path: bool) -> Result<New, UsageError> {
    args.usage = NEW_USAGE;
    let mut new = New::default();
    let (mut image, mut title, mut vendor) = (None, None, None);
    while let Some(arg) = args.args.pop_front() {
        match arg.as_str() {
            "--no-backend" => new.no_backend = true,
            "--no-host-binaries" => new.no_host_binaries = true,
            "--help" | "-h" => return Err(UsageError { message: String::new(), usage: NEW_USAGE }),
            _ => {
                if let Some(v) = args.value(&arg, "--image")? {
                    image = Some(v);
                } else if let Some(v) = args.value(&arg, "--title")? {
                    title = Some(v);
                } else if let Some(v) = args.value(&arg, "--vendor")? {
                    vendor = Some(v);
                } else if let Some(v) = args.value(&arg, "--host-binary")? {
                    new.host_binaries.push(v);
                } else if arg.starts_with('-') {
                    return args.error(format!("unexpected option `{arg}`"));
                } else if with_path && new.path.is_none() {
                    new.path = Some(arg.into());
                } else {
                    return args.error(format!("unexpected argument `{arg}`"));
                }
            }
        }
    }
    if with_path && new.path.is_none() {
        return args.error(
            "give the new extension's folder: cargo xtask new PATH --image … --title … --vendor …".into(),
        );
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
        return args.error("--no-host-binaries and --host-binary contradict each other".into());
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

    #[test]
    fn dist_flags() {
        let Command::Dist(dist) = parse_str(
            "dist --push --tag=example/ext:1.2.3 --build-with windows=cross --platform linux/arm64",
        )
        .unwrap() else {
            panic!()
        };
        assert!(dist.push);
        assert_eq!(dist.tag.as_deref(), Some("example/ext:1.2.3"));
        assert_eq!(dist.build_with, [("windows".to_string(), "cross".to_string())]);
        assert_eq!(dist.platform.as_deref(), Some("linux/arm64"));
    }

    #[test]
    fn dist_refusals() {
        assert!(parse_str("dist --push --load").unwrap_err().message.contains("exclusive"));
        assert!(parse_str("dist --no-image --push").unwrap_err().message.contains("--no-image"));
        assert!(parse_str("dist --tag").unwrap_err().message.contains("--tag needs a value"));
        assert!(parse_str("dist --frobnicate").unwrap_err().message.contains("`--frobnicate`"));
        assert!(parse_str("frob").unwrap_err().message.contains("unknown command `frob`"));
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
        assert!(parse_str("new x --image a/b").unwrap_err().message.contains("missing --title, --vendor"));
    }
}
