//! A compose backend (`vm.composefile`) in `dev --browser`: the file's services run as
//! Docker Desktop runs them, as one Compose project of the session's own, with
//! `DESKTOP_PLUGIN_IMAGE` the dev image. Docker Desktop gives the services its
//! `/run/guest-services` folder; here that is a named volume the dev relay shares, added to
//! every service by an override file beside the author's (which is never written to). A
//! rebuild recreates the services that run the extension's own image, and only them; the
//! stop takes the project down with the volumes it created (an `external` one survives).

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::util::process::cmd;
use crate::verify::compose;

/// The session's Compose project.
#[derive(Debug, Clone)]
pub(super) struct Project {
    /// `-p`: the session's name, so nothing of the author's other projects is touched.
    pub name: String,
    /// The author's file, then the override.
    pub files: [Utf8PathBuf; 2],
    /// The services that run the extension's own image: recreated on each rebuild.
    pub own_services: Vec<String>,
    /// The named volume mounted at `/run/guest-services` in every service and the relay.
    pub guest_volume: String,
}

impl Project {
    /// The project for `compose_file` (relative to `root`), its override written under `dir`,
    /// the shared volume mounted at `guest_services` in every service.
    pub(super) fn prepare(
        name: &str,
        root: &Utf8Path,
        compose_file: &Utf8Path,
        dir: &Utf8Path,
        guest_services: &str,
    ) -> anyhow::Result<Project> {
        let file = root.join(compose_file);
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("reading the compose file {file}"))?;
        let services = compose::services(&text).with_context(|| {
            format!("{file} is not a compose file Compose can read: `cargo xtask check` says why")
        })?;
        let guest_volume = format!("{name}-guest");
        let mut text = String::from(
            "# Written by `cargo xtask dev` for its Compose project: Docker Desktop's /run/guest-services\n\
             # in every service, shared with the dev relay. Your compose file is not changed.\nservices:\n",
        );
        for (service, _) in &services {
            text.push_str(&format!(
                "  {}:\n    volumes:\n      - {}\n",
                yaml_string(service),
                yaml_string(&format!("{guest_volume}:{guest_services}"))
            ));
        }
        text.push_str(&format!("volumes:\n  {}:\n    external: true\n", yaml_string(&guest_volume)));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        let override_file = dir.join("compose.override.yaml");
        crate::util::files::write_atomic(&override_file, text.as_bytes())?;
        Ok(Project {
            name: name.to_string(),
            files: [file, override_file],
            own_services: services.into_iter().filter(|(_, own)| *own).map(|(name, _)| name).collect(),
            guest_volume,
        })
    }

    /// `docker compose -p NAME -f FILE -f OVERRIDE`, with the dev image as the extension's.
    fn compose<'a>(&self, sh: &'a Shell, reference: &str, args: &[&str]) -> anyhow::Result<xshell::Cmd<'a>> {
        let (name, [file, override_file]) = (&self.name, &self.files);
        Ok(cmd!(sh, "docker compose -p {name} -f {file} -f {override_file} {args...}")?
            .env("DESKTOP_PLUGIN_IMAGE", reference))
    }

    /// `up`, attached: every service's lines prefixed with its name, the containers stopped
    /// when it is (a session killed outright: its supervisor stops it).
    pub(super) fn up(&self, sh: &Shell, reference: &str) -> anyhow::Result<std::process::Command> {
        Ok(self.compose(sh, reference, &["up", "--no-color", "--remove-orphans"])?.into())
    }

    /// After a rebuild: the services that run the extension's own image, recreated from the
    /// new dev image; the others keep running.
    pub(super) fn recreate_own(&self, sh: &Shell, reference: &str) -> anyhow::Result<()> {
        let mut args = vec!["up", "--detach", "--no-deps", "--force-recreate"];
        args.extend(self.own_services.iter().map(String::as_str));
        self.compose(sh, reference, &args)?
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("recreating {} from the new image", self.own_services.join(", ")))
    }

    /// Takes the project down: its containers, networks and the volumes it created.
    pub(super) fn down(&self, sh: &Shell, reference: &str) {
        let args = ["down", "--volumes", "--remove-orphans", "--timeout", "5"];
        if let Ok(down) = self.compose(sh, reference, &args) {
            let _ = down.quiet().ignore_stdout().ignore_stderr().run();
        }
    }
}

/// A YAML double-quoted string.
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
