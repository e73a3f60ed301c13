//! `cargo xtask uninstall [IMAGE]`: Docker Desktop's own `docker extension rm` for this
//! extension's image, which authors otherwise keep in a Makefile, with the refusals `dev`
//! makes (Docker not running, no `docker extension` plugin).

use anyhow::Context;

use crate::cli::args::{Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::dev::{listed_name, require_docker_desktop};
use crate::util::process::cmd;
use crate::workspace::config::Config;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Uninstall {
    pub image: Option<String>,
}

impl Cmd for Uninstall {
    const SPEC: Spec = Spec::new(
        "uninstall",
        "Remove the extension from Docker Desktop",
        "[IMAGE]",
        "Removes the extension from Docker Desktop (`docker extension rm`), under the name Docker\n\
         Desktop lists it by; says so when it is not installed. IMAGE defaults to the config's image.",
    )
    .positionals(1, "");

    fn from_args(args: &mut Parsed) -> Result<Uninstall, UsageError> {
        Ok(Uninstall { image: args.positional() })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        let sh = cx.sh;
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
}
