//! The test suites a workspace adds to `cargo xtask test` (the tool's repository adds the
//! tool's own this way): the trait the commands run them through.

use xshell::Shell;

/// More tests for `cargo xtask test`: prepared (installed) before the extension's own tests
/// run, run after them. The tool's repository adds the tool's own suite this way.
pub trait TestSuite {
    /// What the suite is, for the report.
    fn name(&self) -> String;

    /// Why the suite does not run here, if it does not (an OS it does not support, a CI job
    /// that leaves it to another): `cargo xtask test` reports it skipped, with this reason.
    fn skipped_because(&self) -> Option<String> {
        None
    }

    /// Installs what the suite needs (`cargo xtask setup --for-tests` runs this too).
    fn prepare(&self, _sh: &Shell) -> anyhow::Result<()> {
        Ok(())
    }

    /// Runs the suite; an error fails `cargo xtask test`. `cargo_args`: what was given after
    /// `cargo xtask test --` (cargo test's own arguments).
    fn run(&self, sh: &Shell, cargo_args: &[String]) -> anyhow::Result<()>;
}
