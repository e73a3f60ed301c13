//! `cargo xtask doctor`: one line per prerequisite, ok or missing, and for each missing one
//! the exact command that fixes it. Exits 0 when `cargo xtask dist` can build the image.
//!
//! A list of checks, one function per area (Rust, zig, cross, the image engines, the UI),
//! each line saying whether a missing prerequisite blocks dist or only narrows what it can
//! do. The engine checks are dist's own (`engine::Check`), so both say the same thing.

use anyhow::bail;
use xshell::Shell;

use crate::util::process::cmd;

use crate::builders::tools::{self, fixes, this_os, CROSS_INSTALL, ZIGBUILD_CARGO};
use crate::cli::args::{Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::model::targets::{Builder, Variant};
use crate::pipeline::engine::BuilderFacts;
use crate::plan::image::Check;
use crate::plan::image::SERVER_VERSION;
use crate::plan::Plan;
use crate::workspace::config::Config;
use crate::workspace::machine::{version, Machine};
use crate::workspace::toolchain::{self, ToolchainPin};

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Prerequisite {
    pub name: String,
    /// What was found (a version), or why it is missing.
    pub found: Result<String, String>,
    pub fix: String,
    /// Missing, it stops dist (rather than narrowing what dist can do).
    pub blocks: bool,
    /// Found, but not the one asked for (the toolchain the workspace pins).
    pub differs: bool,
}

fn check(name: &str, found: Option<String>, fix: &str) -> Prerequisite {
    Prerequisite {
        name: name.into(),
        found: found.ok_or_else(|| "not found".to_string()),
        fix: fix.into(),
        blocks: false,
        differs: false,
    }
}

impl Prerequisite {
    fn blocking(mut self) -> Prerequisite {
        self.blocks = true;
        self
    }

    fn ok(&self) -> bool {
        self.found.is_ok()
    }
}

/// How the image gets made here, best first.
#[derive(Debug, PartialEq)]
enum ImageWay {
    Buildx,
    Daemonless,
    /// Always there: dist writes the image itself.
    Builtin,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Doctor;

impl Cmd for Doctor {
    const SPEC: Spec = Spec::new(
        "doctor",
        "Check this machine's prerequisites and print the fix for each missing one",
        "",
        "Checks each prerequisite of dist and prints, for each missing one, the command that\n\
         installs it. Exits 0 when dist can run.",
    );

    fn from_args(_: &mut Parsed) -> Result<Doctor, UsageError> {
        Ok(Doctor)
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl Doctor {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        let machine = Machine::probe(sh, &config)?;
        let plan = Plan::without_image(&config, &machine)?;
        // zig and cargo-zigbuild from setup's virtual environment, when it made one.
        tools::activate_zig_venv(sh, &config.tools_dir());
        let mut lines = vec![pinned_toolchain(&config.root, &machine.rustc)?];
        lines.extend(rust(sh, &plan));
        // zig and cargo-zigbuild (and the Python they come from) only where a build uses them:
        // an extension with no Rust binaries needs neither.
        let zigbuild = plan.cargo_runs.iter().any(|run| run.builder == Builder::Zigbuild);
        if zigbuild {
            lines.extend(zig(sh));
        }
        lines.extend(cross(sh, &plan));
        let (engine_lines, way) = engines(sh);
        lines.extend(engine_lines);
        if config.ui.is_some() {
            lines.extend(node(sh));
        }
        print!("{}", render(&lines));
        if lines.iter().any(|l| l.blocks && !l.ok()) {
            bail!("cargo xtask dist cannot run yet: run the fixes above");
        }
        let with = match way {
            ImageWay::Buildx => "docker buildx",
            ImageWay::Daemonless => "podman or buildah",
            ImageWay::Builtin => "its builtin engine, writing the image itself",
        };
        println!("\ncargo xtask dist can build the image (with {with}).");
        if zigbuild && (!tools::has_zig(sh) || !tools::has_zigbuild(sh)) {
            println!("It installs zig and cargo-zigbuild itself on first use.");
        }
        Ok(())
    }
}

/// The compiler that runs in the workspace, against the one `rust-toolchain.toml` pins: the
/// image's binaries (and its digest) are the pinned compiler's.
fn pinned_toolchain(root: &camino::Utf8Path, rustc: &str) -> anyhow::Result<Prerequisite> {
    let name = "rust toolchain";
    let install = format!("rustup toolchain install (in {root}: it reads {})", toolchain::FILE);
    let Some(pin) = ToolchainPin::read(root)? else {
        return Ok(check(name, Some(format!("{rustc} (not pinned: add {})", toolchain::FILE)), &install));
    };
    // rustup's proxies set it for what they run (`cargo +TOOLCHAIN` among them), and it
    // wins over the file.
    let overridden = std::env::var("RUSTUP_TOOLCHAIN").ok();
    Ok(match pin.is_run_by(rustc) {
        Some(false) => {
            let by = overridden.map(|o| format!(" (RUSTUP_TOOLCHAIN={o} is set)")).unwrap_or_default();
            Prerequisite {
                found: Err(format!(
                    "{rustc} runs here{by}, but {} pins {}: the image's binaries, and its digest, would not be the pinned compiler's",
                    toolchain::FILE,
                    pin.channel
                )),
                differs: true,
                ..check(name, None, &format!("{install}, and run cargo without `+TOOLCHAIN` or RUSTUP_TOOLCHAIN"))
            }
        }
        _ => check(name, Some(format!("{rustc} ({} pins {})", toolchain::FILE, pin.channel)), &install),
    })
}

/// rustup, and each target the plan compiles locally.
fn rust(sh: &Shell, plan: &Plan) -> Vec<Prerequisite> {
    let rustup = version(sh, "rustup", &["--version"]);
    let has_rustup = rustup.is_some();
    let mut lines = vec![check("rustup", rustup, fixes::rustup(this_os()))];
    let targets = plan.rustup_targets();
    let installed = tools::installed_targets(sh).unwrap_or_default();
    let missing: Vec<&str> = targets.iter().filter(|t| !installed.contains(*t)).map(String::as_str).collect();
    let add = format!("rustup target add {}", missing.join(" "));
    for target in &targets {
        let found = installed.contains(target).then(|| "installed".to_string());
        // dist adds a missing target itself, with rustup.
        let line = check(&format!("target {target}"), found, &add);
        lines.push(if has_rustup { line } else { line.blocking() });
    }
    if !has_rustup && !missing.is_empty() {
        lines[0].blocks = true;
    }
    lines
}

/// zig and cargo-zigbuild: dist installs them when pip (or cargo) can.
fn zig(sh: &Shell) -> Vec<Prerequisite> {
    let os = this_os();
    let python = tools::python(sh);
    let installable = tools::has_pip(sh);
    let zigbuild_fix = if installable { fixes::zigbuild_pip(os) } else { ZIGBUILD_CARGO.to_string() };
    let zig = check("zig", tools::zig_version(sh), &fixes::zig(os));
    let zigbuild = check("cargo-zigbuild", version(sh, "cargo-zigbuild", &["--version"]), &zigbuild_fix);
    // Python with pip is how dist installs them itself (`py -3` on Windows).
    let python = Prerequisite {
        found: match (&python, installable) {
            (Some(python), true) => Ok(format!("{python} (with pip)")),
            (Some(python), false) => Err(format!("{python} has no pip")),
            (None, _) => Err("not found".into()),
        },
        ..check("python", None, fixes::python_install(os))
    };
    let zig_there = zig.ok() && zigbuild.ok();
    if installable || zig_there {
        vec![python, zig, zigbuild]
    } else {
        vec![python, zig.blocking(), zigbuild.blocking()]
    }
}

/// cross and a container engine, when the config asks for cross.
fn cross(sh: &Shell, plan: &Plan) -> Vec<Prerequisite> {
    if plan.cross_targets().is_empty() {
        return vec![];
    }
    let engine = version(sh, "docker", &["--version"]).or_else(|| version(sh, "podman", &["--version"]));
    vec![
        check("cross", version(sh, "cross", &["--version"]), CROSS_INSTALL).blocking(),
        check(
            "container engine for cross",
            engine,
            "install Docker Desktop (https://docs.docker.com/desktop/) or podman (https://podman.io)",
        )
        .blocking(),
    ]
}

/// docker, its engine and buildx builder, the extension plugin, podman or buildah: none
/// blocks (the builtin engine is always there), each widens what dist can do.
fn engines(sh: &Shell) -> (Vec<Prerequisite>, ImageWay) {
    let docker = version(sh, "docker", &["--version"]);
    let has_docker = docker.is_some();
    let mut lines = vec![check("docker", docker, "install Docker Desktop: https://docs.docker.com/desktop/")];
    let buildx = version(sh, "docker", &["buildx", "version"]);
    let has_buildx = buildx.is_some();
    lines.push(check(
        "docker buildx",
        buildx,
        "Docker Desktop includes buildx; elsewhere: https://github.com/docker/buildx#installing",
    ));
    let mut buildx_ok = false;
    if has_docker {
        let running = Check::DockerRunning.run(sh);
        lines.push(Prerequisite {
            name: "docker engine".into(),
            found: match &running {
                Ok(()) => {
                    Ok(version(sh, "docker", &["info", "--format", SERVER_VERSION]).unwrap_or_default())
                }
                Err(e) => Err(e.to_string()),
            },
            fix: "start Docker Desktop (or your Docker engine)".into(),
            blocks: false,
            differs: false,
        });
        if has_buildx && running.is_ok() {
            let inspect = cmd!(sh, "docker buildx inspect")
                .and_then(|c| Ok(c.quiet().ignore_stderr().read()?))
                .unwrap_or_default();
            let facts = BuilderFacts::parse(&inspect);
            let result = Check::BuilderExports { builder: None, platforms: Variant::ALL.len() }.run(sh);
            buildx_ok = result.is_ok();
            lines.push(Prerequisite {
                name: format!(
                    "buildx builder {} exports linux/amd64 + linux/arm64",
                    facts.name.as_deref().unwrap_or("(current)")
                ),
                found: match result {
                    Ok(()) => Ok(format!("driver {}", facts.driver.unwrap_or_default())),
                    Err(e) => Err(e.to_string().lines().next().unwrap_or_default().to_string()),
                },
                fix: "docker buildx create --name extensions --driver docker-container --use".into(),
                blocks: false,
                differs: false,
            });
        }
        lines.push(check(
            "docker extension",
            version(sh, "docker", &["extension", "version"]),
            "comes with Docker Desktop 4.8 or later (needed to install the extension): https://docs.docker.com/desktop/",
        ));
    }
    let daemonless = version(sh, "podman", &["--version"]).or_else(|| version(sh, "buildah", &["--version"]));
    let has_daemonless = daemonless.is_some();
    lines.push(check("podman or buildah", daemonless, fixes::podman_or_buildah(this_os())));
    let way = if buildx_ok {
        ImageWay::Buildx
    } else if has_daemonless {
        ImageWay::Daemonless
    } else {
        ImageWay::Builtin
    };
    (lines, way)
}

/// node (recent enough for Vite) and npm, for the UI.
fn node(sh: &Shell) -> Vec<Prerequisite> {
    let node_fix = fixes::node(this_os());
    let node = match version(sh, "node", &["--version"]) {
        Some(v) if !node_recent_enough(&v) => Prerequisite {
            name: "node".into(),
            found: Err(format!("{v} is older than 20.19, which Vite needs")),
            fix: node_fix.into(),
            blocks: true,
            differs: false,
        },
        found => check("node", found, node_fix).blocking(),
    };
    vec![
        node,
        check("npm", version(sh, "npm", &["--version"]), &format!("it comes with Node.js: {node_fix}"))
            .blocking(),
    ]
}

fn node_recent_enough(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 20 || (major == 20 && minor >= 19)
}

pub(crate) fn render(checks: &[Prerequisite]) -> String {
    let width = checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        match &c.found {
            Ok(found) => out.push_str(&format!("ok       {:<width$}  {found}\n", c.name)),
            Err(why) if c.differs => {
                out.push_str(&format!("differs  {:<width$}  {why}; fix: {}\n", c.name, c.fix));
            }
            Err(why) => out.push_str(&format!("missing  {:<width$}  {why}; fix: {}\n", c.name, c.fix)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions() {
        assert!(node_recent_enough("v20.20.2"));
        assert!(node_recent_enough("v22.1.0"));
        assert!(!node_recent_enough("v20.11.1"));
        assert!(!node_recent_enough("v18.19.0"));
    }

    #[test]
    fn renders_one_line_each_with_the_fix() {
        let checks =
            [check("zig", Some("0.13.0".into()), "fix"), check("docker", None, "install Docker Desktop")];
        assert_eq!(
            render(&checks),
            "ok       zig     0.13.0\nmissing  docker  not found; fix: install Docker Desktop\n"
        );
    }
}
