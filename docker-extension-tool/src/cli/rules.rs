//! `cargo xtask rules`: the rulebook (see `verify::rulebook`) as a Markdown table.

use crate::cli::args::{Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Rules;

impl Cmd for Rules {
    const SPEC: Spec = Spec::new(
        "rules",
        "List the rules check and dist hold an extension to: severity, who refuses it",
        "",
        "Prints every rule `check` and `dist` hold an extension to, as a Markdown table: its id\n\
         (which each problem names), its severity, and who refuses what it guards against (Docker\n\
         Desktop, Compose as Docker Desktop runs a compose backend, the Marketplace's validator, the\n\
         OCI image format). Advice is a warning: it fails only with --deny-warnings.",
    );

    fn from_args(_: &mut Parsed) -> Result<Rules, UsageError> {
        Ok(Rules)
    }

    fn execute(self, _: &Invocation) -> anyhow::Result<()> {
        print!("{}", crate::verify::rulebook::markdown_table());
        Ok(())
    }
}
