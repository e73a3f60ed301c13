//! `cargo xtask uninstall` and `cargo xtask share`: Docker Desktop's own extension
//! commands for this extension's image, which authors otherwise keep in a Makefile, with
//! the refusals `dev` makes (Docker not running, no `docker extension` plugin).

use anyhow::Context;
use xshell::Shell;

use crate::util::process::cmd;

use crate::cli::flags;
use crate::dev::{listed_name, require_docker_desktop};
use crate::workspace::config::Config;

impl flags::Desktop {
    pub(crate) fn uninstall(self, sh: &Shell) -> anyhow::Result<()> {
        let repository = match self.image {
            Some(image) => image,
            None => Config::load_current()?.reference.repository().to_string(),
        };
        require_docker_desktop(sh, "Without Docker Desktop no extension is installed to remove.")?;
        let listed =
            cmd!(sh, "docker extension ls")?.quiet().read().context("`docker extension ls` failed")?;
        let Some(name) = listed_name(&listed, repository.split_once('@').map_or(&repository, |(r, _)| r))
        else {
            println!("{repository} is not installed in Docker Desktop: nothing to remove.");
            return Ok(());
        };
        cmd!(sh, "docker extension rm {name}")?
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("`docker extension rm {name}` failed (its message is above)"))?;
        println!("Removed {name} from Docker Desktop.");
        Ok(())
    }

    pub(crate) fn share(self, sh: &Shell) -> anyhow::Result<()> {
        let reference = match self.image {
            Some(image) => image,
            None => Config::load_current()?.reference.to_string(),
        };
        require_docker_desktop(
            sh,
            "A share link is made by Docker Desktop, for an image already pushed: push it (cargo xtask dist --push), then run this where Docker Desktop is.",
        )?;
        let link = cmd!(sh, "docker extension share {reference}")?
            .quiet()
            .read()
            .with_context(|| format!("`docker extension share {reference}` failed: is {reference} pushed? (cargo xtask dist --push)"))?;
        println!("{}", link.trim());
        Ok(())
    }
}
