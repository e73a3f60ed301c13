//! `cargo xtask share [IMAGE:TAG]`: Docker Desktop's preview link of a published image
//! (`docker extension share`), with the refusals `dev` makes (Docker not running, no
//! `docker extension` plugin).

use anyhow::Context;

use crate::cli::args::{Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::dev::require_docker_desktop;
use crate::util::process::cmd;
use crate::workspace::config::Config;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Share {
    pub image: Option<String>,
}

impl Cmd for Share {
    const SPEC: Spec = Spec::new(
        "share",
        "Print Docker Desktop's preview link of the published image (docker extension share)",
        "[IMAGE:TAG]",
        "Prints the link Docker Desktop makes for a published extension image (`docker extension\n\
         share`): whoever opens it gets the extension's page in Docker Desktop, to install it from\n\
         there before it is in the Marketplace. IMAGE:TAG defaults to the config's image and tag.",
    )
    .positionals(1, "");

    fn from_args(args: &mut Parsed) -> Result<Share, UsageError> {
        Ok(Share { image: args.positional() })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        let sh = cx.sh;
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
