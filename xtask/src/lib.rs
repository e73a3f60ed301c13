//! The xtask of a Docker Desktop extension written in Rust: `cargo xtask help`.
//!
//! Shape: config (what the author wrote) → plan (plain data: builds, layout, image
//! commands) → run. Each command is one module with `fn run(self, sh: &Shell)`.

pub mod bench;
pub mod binary;
pub mod build;
pub mod build_host;
pub mod builtin;
pub mod check;
pub mod config;
pub mod dev;
pub mod dist;
pub mod dockerfile;
pub mod doctor;
pub mod engine;
pub mod files;
pub mod flags;
pub mod layout;
pub mod machine;
pub mod metadata;
pub mod new;
pub mod oci;
pub mod ownership;
pub mod plan;
pub mod processes;
pub mod report;
pub mod reproducible;
pub mod rules;
pub mod services;
pub mod setup;
pub mod targets;
pub mod test;
pub mod tools;
pub mod ui;
pub mod validate;

#[cfg(test)]
mod testing;

use std::process::ExitCode;

use xshell::Shell;

use flags::Command;

/// Runs `cargo xtask ARGS…`; errors print as a story, outermost step first.
pub fn main() -> ExitCode {
    let command = match flags::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(usage) => {
            eprintln!("error: {}\n\n{}", usage.message, usage.usage);
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    match command {
        Command::Dist(dist) => dist.run(&sh),
        Command::Dev(dev) => dev.run(&sh),
        Command::Check(check) => check.run(&sh),
        Command::Help(topic) => match flags::usage_of(topic.as_deref()) {
            Some(usage) => {
                println!("{usage}");
                Ok(())
            }
            None => anyhow::bail!("no such command `{}`: see `cargo xtask help`", topic.unwrap_or_default()),
        },
        Command::Setup(setup) => setup.run(&sh),
        Command::Bench(bench) => bench.run(&sh),
        Command::Test(test) => test.run(&sh),
        Command::New(new) => new.run_new(&sh),
        Command::Init(init) => init.run_init(&sh),
        Command::Doctor(doctor) => doctor.run(&sh),
        Command::Validate(validate) => validate.run(&sh),
        Command::BuildHost(build_host) => build_host.run(&sh),
    }
}
