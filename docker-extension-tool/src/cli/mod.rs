//! The command line: [`tasks::Tasks`] (what an extension's xtask runs) and one module per
//! command. Each command's file declares its flags once ([`args::Spec`]: usage, parse and
//! help come from it), its typed struct and how it runs; the table below is the only other
//! place that names it.

pub(crate) mod args;
pub(crate) mod bench;
pub(crate) mod build_host;
pub(crate) mod check;
pub(crate) mod contract;
pub(crate) mod dev;
pub(crate) mod dist;
pub(crate) mod doctor;
pub(crate) mod new;
pub(crate) mod release_tag;
pub(crate) mod rules;
#[cfg(feature = "self-test")]
pub mod self_test;
pub(crate) mod setup;
pub(crate) mod share;
pub(crate) mod suite;
pub(crate) mod tasks;
pub(crate) mod test;
pub(crate) mod uninstall;
pub(crate) mod upgrade;
pub(crate) mod validate;
#[cfg(test)]
mod workflow_commands;

use xshell::Shell;

use crate::cli::args::{Parsed, Spec, UsageError};
use crate::cli::suite::TestSuite;

/// What a command runs with.
pub(crate) struct Invocation<'a> {
    pub sh: &'a Shell,
    /// The test suites the xtask adds (`setup --for-tests` prepares them, `test` runs them).
    pub suites: &'a [Box<dyn TestSuite>],
}

/// A command of the tool: its declaration, its typed flags, what it runs.
pub(crate) trait Cmd: Sized {
    const SPEC: Spec;

    /// The typed flags from the parsed words: the rules between flags live here.
    fn from_args(args: &mut Parsed) -> Result<Self, UsageError>;

    fn execute(self, cx: &Invocation) -> anyhow::Result<()>;
}

/// The table of commands: a command is its file and one line here.
macro_rules! commands {
    ($($variant:ident($command:ty)),* $(,)?) => {
        /// A command of the tool, its flags typed.
        #[derive(Debug, PartialEq, Eq)]
        pub(crate) enum Command {
            $($variant($command),)*
            /// `help [COMMAND]`, `--help`, `COMMAND --help`.
            Help(Option<String>),
        }

        /// Every command, in the order the help lists them.
        pub(crate) static COMMANDS: &[&Spec] = &[$(&<$command as Cmd>::SPEC),*];

        impl Command {
            fn from_args(name: &str, parsed: &mut Parsed) -> Result<Command, UsageError> {
                $(
                    if name == <$command as Cmd>::SPEC.name {
                        return <$command as Cmd>::from_args(parsed).map(Command::$variant);
                    }
                )*
                unreachable!("`{name}` is in COMMANDS")
            }

            /// Runs the command (help is the caller's: it knows the xtask's own tasks).
            pub(crate) fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
                match self {
                    $(Command::$variant(command) => command.execute(cx),)*
                    Command::Help(_) => unreachable!("help is printed by the caller"),
                }
            }
        }
    };
}

commands! {
    Dev(dev::Dev),
    Dist(dist::Dist),
    Check(check::Check),
    Rules(rules::Rules),
    Validate(validate::Validate),
    BuildHost(build_host::BuildHost),
    Doctor(doctor::Doctor),
    New(new::New),
    Init(new::Init),
    Setup(setup::Setup),
    Test(test::Test),
    Bench(bench::Bench),
    Upgrade(upgrade::Upgrade),
    ReleaseTag(release_tag::ReleaseTag),
    Contract(contract::Contract),
    Uninstall(uninstall::Uninstall),
    Share(share::Share),
}

/// The tool's usage: every command with its summary.
pub(crate) fn usage() -> String {
    let mut rows: Vec<(String, &str)> = COMMANDS.iter().map(|c| (c.name.to_string(), c.summary)).collect();
    rows.push(("help".into(), "Print this help, or a command's: cargo xtask help dist"));
    format!(
        "Build, check and start Docker Desktop extensions written in Rust.\n\n\
         Usage: cargo xtask <command> [options]\n\nCommands:{}\n\n\
         Run `cargo xtask <command> --help` for a command's options.",
        args::aligned(&rows, 2)
    )
}

/// A command's declaration, by name.
pub(crate) fn spec_of(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().copied().find(|c| c.name == name)
}

/// The usage text of a command (or of the tool: `None`).
pub(crate) fn usage_of(error: &UsageError) -> String {
    error.command.map_or_else(usage, Spec::usage)
}

/// Parses the arguments after `cargo xtask`.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    let Some(name) = args.next() else {
        return Ok(Command::Help(None));
    };
    let rest: Vec<String> = args.collect();
    let Some(spec) = spec_of(&name) else {
        return match name.as_str() {
            "help" | "--help" | "-h" => Ok(Command::Help(rest.into_iter().next())),
            other => Err(UsageError { message: format!("unknown command `{other}`"), command: None }),
        };
    };
    // `COMMAND --help` anywhere before a `--`.
    if rest.iter().take_while(|a| *a != "--").any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help(Some(name)));
    }
    let mut parsed = spec.parse(rest)?;
    Command::from_args(&name, &mut parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Command, UsageError> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn each_command_reads_every_flag_it_declares() {
        for spec in COMMANDS {
            // The words that make each command's parse succeed, so it reads its flags.
            let words = match spec.name {
                "new" => "x --image a/b --title T --vendor V",
                "init" => "--image a/b --title T --vendor V",
                "release-tag" => "v1.2.3",
                "build-host" => "--target x86_64-unknown-linux-musl --out o",
                _ => "",
            };
            let mut parsed = spec.parse(words.split_whitespace().map(String::from).collect()).unwrap();
            Command::from_args(spec.name, &mut parsed)
                .unwrap_or_else(|e| panic!("{}: {}", spec.name, e.message));
            assert_eq!(parsed.unread(), Vec::<&str>::new(), "`{}` declares flags it never reads", spec.name);
        }
    }

    #[test]
    fn the_tools_usage_lists_every_command_aligned() {
        let usage = usage();
        let listed: Vec<&str> = usage
            .lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter(|l| !l.starts_with("    "))
            .collect();
        assert_eq!(listed.len(), COMMANDS.len() + 1, "{usage}");
        let column = |line: &str| {
            let name = line.trim_start();
            let after = &name[name.find(' ').unwrap_or(name.len())..];
            line.len() - after.trim_start().len()
        };
        let columns: std::collections::BTreeSet<usize> = listed.iter().map(|l| column(l)).collect();
        assert_eq!(columns.len(), 1, "every summary starts in one column:\n{usage}");
    }

    #[test]
    fn help_anywhere_before_a_double_dash() {
        assert_eq!(parse_str("dist --push --help").unwrap(), Command::Help(Some("dist".into())));
        assert_eq!(parse_str("help check").unwrap(), Command::Help(Some("check".into())));
        let Command::Test(test) = parse_str("test -- --help").unwrap() else { panic!() };
        assert_eq!(test.cargo_args, ["--help"]);
    }

    #[test]
    fn an_unknown_command_is_the_tools_usage_error() {
        let error = parse_str("frob").unwrap_err();
        assert!(error.message.contains("unknown command `frob`"));
        assert_eq!(error.command, None);
        assert!(usage_of(&error).contains("Commands:"));
    }
}
