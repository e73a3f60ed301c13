//! `cargo xtask dev`: the local dev loop (see `dev`).

use xshell::Shell;

use crate::cli::flags;
use crate::dev::{self, Options};

impl flags::Dev {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let options = Options {
            browser: self.browser,
            once: self.once,
            debug: self.debug,
            port: self.port,
            events: self.events,
        };
        dev::run(sh, options)
    }
}
