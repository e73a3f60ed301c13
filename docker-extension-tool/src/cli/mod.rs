//! The command line: flags (lexopt) and one module per command.

pub mod bench;
pub mod build_host;
pub mod check;
pub mod dev;
pub mod dist;
pub mod doctor;
pub mod flags;
pub mod new;
pub mod setup;
pub mod test;
pub mod validate;

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
