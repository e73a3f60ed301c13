//! `cargo xtask doctor`: one line per prerequisite, ok or missing, and for each missing one
//! the exact command that fixes it. Exits 0 when `cargo xtask dist` can build the image.

use anyhow::bail;
use xshell::{cmd, Shell};

use crate::config::Config;
use crate::engine::{BuilderFacts, Check};
use crate::flags;
use crate::machine::{version, Machine};
use crate::plan::Plan;
use crate::services::SERVER_VERSION;
use crate::targets::Variant;
use crate::tools::{self, CROSS_INSTALL, ZIGBUILD_CARGO, ZIGBUILD_PIP, ZIG_PIP};

#[derive(Debug, PartialEq, Eq)]
pub struct Prerequisite {
    pub name: String,
    /// What was found (a version), or why it is missing.
    pub found: Result<String, String>,
    pub fix: String,
}

fn check(name: &str, found: Option<String>, fix: &str) -> Prerequisite {
    Prerequisite { name: name.into(), found: found.ok_or_else(|| "not found".to_string()), fix: fix.into() }
}

impl flags::Doctor {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        let mut checks = vec![];

        let rustup = version(sh, "rustup", &["--version"]);
        let has_rustup = rustup.is_some();
        checks.push(check(
            "rustup",
            rustup,
            "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh",
        ));
        let plan = Plan::without_image(&config, &Machine::probe(sh, &config)?)?;
        let (targets, cross_targets) = (plan.rustup_targets(), plan.cross_targets());
        let installed = tools::installed_targets(sh).unwrap_or_default();
        let missing: Vec<&str> =
            targets.iter().filter(|t| !installed.contains(*t)).map(String::as_str).collect();
        let add = format!("rustup target add {}", missing.join(" "));
        for target in &targets {
            let found = installed.contains(target).then(|| "installed".to_string());
            checks.push(check(&format!("target {target}"), found, &add));
        }
        let zig = tools::zig_version(sh);
        let has_zig = zig.is_some();
        checks.push(check("zig", zig, ZIG_PIP));
        let zigbuild = version(sh, "cargo-zigbuild", &["--version"]);
        let has_zigbuild = zigbuild.is_some();
        let zigbuild_fix = if tools::has_pip(sh) { ZIGBUILD_PIP } else { ZIGBUILD_CARGO };
        checks.push(check("cargo-zigbuild", zigbuild, zigbuild_fix));
        let mut cross_ok = true;
        if !cross_targets.is_empty() {
            let cross = version(sh, "cross", &["--version"]);
            let engine =
                version(sh, "docker", &["--version"]).or_else(|| version(sh, "podman", &["--version"]));
            cross_ok = cross.is_some() && engine.is_some();
            checks.push(check("cross", cross, CROSS_INSTALL));
            checks.push(check(
                "container engine for cross",
                engine,
                "install Docker Desktop (https://docs.docker.com/desktop/) or podman (https://podman.io)",
            ));
        }

        let docker = version(sh, "docker", &["--version"]);
        let has_docker = docker.is_some();
        checks.push(check("docker", docker, "install Docker Desktop: https://docs.docker.com/desktop/"));
        let buildx = version(sh, "docker", &["buildx", "version"]);
        let has_buildx = buildx.is_some();
        checks.push(check(
            "docker buildx",
            buildx,
            "Docker Desktop includes buildx; elsewhere: https://github.com/docker/buildx#installing",
        ));
        // The same checks, and the same sentences, as dist's.
        let mut buildx_ok = false;
        if has_docker {
            let running = Check::DockerRunning.run(sh);
            checks.push(Prerequisite {
                name: "docker engine".into(),
                found: match &running {
                    Ok(()) => {
                        Ok(version(sh, "docker", &["info", "--format", SERVER_VERSION]).unwrap_or_default())
                    }
                    Err(e) => Err(e.to_string()),
                },
                fix: "start Docker Desktop (or your Docker engine)".into(),
            });
            if has_buildx && running.is_ok() {
                let exports = Check::BuilderExports { builder: None, platforms: Variant::ALL.len() };
                let inspect =
                    cmd!(sh, "docker buildx inspect").quiet().ignore_stderr().read().unwrap_or_default();
                let facts = BuilderFacts::parse(&inspect);
                let result = exports.run(sh);
                buildx_ok = result.is_ok();
                checks.push(Prerequisite {
                    name: format!(
                        "buildx builder {} exports linux/amd64 + linux/arm64",
                        facts.name.as_deref().unwrap_or("(current)")
                    ),
                    found: match result {
                        Ok(()) => Ok(format!("driver {}", facts.driver.unwrap_or_default())),
                        Err(e) => Err(e.to_string().lines().next().unwrap_or_default().to_string()),
                    },
                    fix: "docker buildx create --name extensions --driver docker-container --use".into(),
                });
            }
        }
        if has_docker {
            checks.push(check(
                "docker extension",
                version(sh, "docker", &["extension", "version"]),
                "comes with Docker Desktop 4.8 or later (needed to install the extension): https://docs.docker.com/desktop/",
            ));
        }
        let podman = version(sh, "podman", &["--version"]);
        let buildah = version(sh, "buildah", &["--version"]);
        let daemonless = podman.is_some() || buildah.is_some();
        checks.push(check(
            "podman or buildah",
            podman.or(buildah),
            "sudo apt-get install buildah   (macOS: brew install podman)",
        ));
        let mut node_ok = true;
        if config.ui.is_some() {
            let node = version(sh, "node", &["--version"]);
            let node_fix = "install Node.js 20.19 or later: https://nodejs.org/";
            match &node {
                Some(v) if !node_recent_enough(v) => {
                    node_ok = false;
                    checks.push(Prerequisite {
                        name: "node".into(),
                        found: Err(format!("{v} is older than 20.19, which Vite needs")),
                        fix: node_fix.into(),
                    });
                }
                _ => {
                    node_ok = node.is_some();
                    checks.push(check("node", node, node_fix));
                }
            }
            let npm = version(sh, "npm", &["--version"]);
            node_ok &= npm.is_some();
            checks.push(check("npm", npm, "comes with Node.js: https://nodejs.org/"));
        }

        print!("{}", render(&checks));
        let toolchain_ok = (has_rustup || missing.is_empty())
            && ((has_zig && has_zigbuild) || tools::has_pip(sh))
            && cross_ok
            && node_ok;
        let engine = if buildx_ok {
            Some("docker buildx")
        } else if daemonless {
            Some("podman or buildah")
        } else {
            None
        };
        match (toolchain_ok, engine) {
            (true, Some(engine)) => {
                println!("\ncargo xtask dist can build the image (with {engine}).");
                if !has_zig || !has_zigbuild {
                    println!("It installs zig and cargo-zigbuild itself on first use.");
                }
                Ok(())
            }
            (true, None) => bail!(
                "cargo xtask dist can write the build context (--no-image) but has no image builder: \
                 install Docker Desktop, or buildah or podman (see the fixes above)"
            ),
            (false, _) => bail!("cargo xtask dist cannot run yet: run the fixes above"),
        }
    }
}

fn node_recent_enough(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 20 || (major == 20 && minor >= 19)
}

pub fn render(checks: &[Prerequisite]) -> String {
    let width = checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        match &c.found {
            Ok(found) => out.push_str(&format!("ok       {:<width$}  {found}\n", c.name)),
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
            [check("zig", Some("0.13.0".into()), ZIG_PIP), check("docker", None, "install Docker Desktop")];
        assert_eq!(
            render(&checks),
            "ok       zig     0.13.0\nmissing  docker  not found; fix: install Docker Desktop\n"
        );
    }
}
