//! `cargo xtask contract [--check]`: the UI's TypeScript for the contract, written (as `dist`
//! and `dev` write it) or compared with what the Rust types give (as `test` does).

use anyhow::bail;
use xshell::Shell;

use crate::builders::contract::{self, ContractOutcome};
use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::plan::ContractGen;
use crate::workspace::config::Config;

/// `contract [--check]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Contract {
    pub check: bool,
}

impl Cmd for Contract {
    const SPEC: Spec = Spec::new(
        "contract",
        "Write the UI's TypeScript for the backend's and host binaries' JSON from their\n\
         Rust types (dist and dev do it too); --check says which types are stale",
        "[--check]",
        "Writes the UI's TypeScript for the JSON the backend answers and the host binaries print\n\
         (the config's `contract.output`) from the Rust types of the contract's package (its\n\
         `typescript` example, ts-rs). `dist` and `dev` do this before the UI builds; run it to see\n\
         a type change in your editor at once.",
    )
    .options(&[Opt::switch(
        "--check",
        "Write nothing; exit 1 naming each type the file declares differently from the\n\
         Rust types (what `cargo xtask test` runs)",
    )]);

    fn from_args(args: &mut Parsed) -> Result<Contract, UsageError> {
        Ok(Contract { check: args.switch("--check") })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl Contract {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let config = Config::load_current()?;
        let Some(gen) = ContractGen::from_config(&config) else {
            bail!(
                "this extension has no contract: add [workspace.metadata.extension.contract] with the \
                 package of its Rust types and the TypeScript file to write (see the README's config reference)"
            );
        };
        let output = config.relative(&gen.output);
        if self.check {
            check(sh, &config, &gen)?;
            println!("{output} is what the Rust types of `{}` give", gen.package);
            return Ok(());
        }
        let stamp = config.target_dir.join("xtask/contract.stamp");
        match contract::generate(sh, &gen, &config.root, &stamp)? {
            ContractOutcome::UpToDate | ContractOutcome::Unchanged => println!("{output} is up to date"),
            ContractOutcome::Written(changes) => println!("{output} rewritten: {}", contract::list(&changes)),
        }
        Ok(())
    }
}

/// Fails naming every type the file declares differently from the Rust types.
pub(crate) fn check(sh: &Shell, config: &Config, gen: &ContractGen) -> anyhow::Result<()> {
    let changes = contract::stale(sh, gen, &config.root)?;
    if !changes.is_empty() {
        let output = config.relative(&gen.output);
        bail!(
            "{output} is not what the Rust types of `{}` give: {}. Run `cargo xtask contract` (or dist) and \
             commit the file, then fix what the UI's type check reports",
            gen.package,
            contract::list(&changes)
        );
    }
    Ok(())
}
