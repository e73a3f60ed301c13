//! `cargo xtask validate [IMAGE]`: Docker's own validation where it exists, this tool's
//! `check` where it does not. `docker extension validate` comes with Docker Desktop's
//! extension CLI plugin; without it (CI runners, Linux without Docker Desktop) the same
//! rules are checked offline, and the output says which ran.

use anyhow::Context;
use xshell::Shell;

use crate::util::process::cmd;

use crate::cli::flags;
use crate::workspace::config::Config;
use crate::workspace::machine::runs;

impl flags::Validate {
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
        flags::Check { source: Some(image), ..flags::Check::default() }.run(sh)
    }
}
