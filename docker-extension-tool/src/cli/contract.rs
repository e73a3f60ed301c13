//! `cargo xtask contract [--check]`: the UI's TypeScript for the contract, written (as `dist`
//! and `dev` write it) or compared with what the Rust types give (as `test` does).

use anyhow::bail;
use xshell::Shell;

use crate::build::contract::{self, ContractOutcome};
use crate::cli::flags;
use crate::plan::ContractGen;
use crate::workspace::config::Config;

impl flags::Contract {
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
