//! `cargo xtask validate [IMAGE]`: Docker's own validation where it exists, this tool's
//! `check` where it does not. `docker extension validate` comes with Docker Desktop's
//! extension CLI plugin; without it (CI runners, Linux without Docker Desktop) the same
//! rules are checked offline, and the output says which ran.

use anyhow::Context;
use xshell::Shell;

use crate::util::process::cmd;

use crate::cli::args::{Parsed, Spec, UsageError};
use crate::cli::check::Check;
use crate::cli::{Cmd, Invocation};
use crate::workspace::config::Config;
use crate::workspace::machine::runs;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Validate {
    pub image: Option<String>,
}

impl Cmd for Validate {
    const SPEC: Spec = Spec::new(
        "validate",
        "Docker's own check (docker extension validate) when Docker Desktop is here, else check",
        "[IMAGE]",
        "Runs Docker's own validation, `docker extension validate -a -s -i IMAGE`, when the docker\n\
         extension plugin is here (it comes with Docker Desktop); otherwise says so and runs\n\
         `cargo xtask check IMAGE`. IMAGE defaults to the config's image and tag.",
    )
    .positionals(1, "");

    fn from_args(args: &mut Parsed) -> Result<Validate, UsageError> {
        Ok(Validate { image: args.positional() })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl Validate {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let image = match self.image {
            Some(image) => image,
            None => Config::load_current()?.reference.to_string(),
        };
        if runs(sh, "docker", &["extension", "version"]) {
            eprintln!("==> docker extension validate -a -s -i {image}");
            return cmd!(sh, "docker extension validate -a -s -i {image}")?.quiet().run().with_context(
                || format!("`docker extension validate` found problems in {image} (its output is above)"),
            );
        }
        eprintln!(
            "note: the `docker extension` plugin (part of Docker Desktop) is not here, so Docker's own \
             validation cannot run; running `cargo xtask check {image}` instead"
        );
        Check { source: Some(image), ..Check::default() }.run(sh)
    }
}
