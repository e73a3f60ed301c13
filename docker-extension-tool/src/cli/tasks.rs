//! The entry point an extension's xtask calls ([`Tasks`]), the tasks an author adds beside
//! the tool's commands, and the test suites a workspace adds to `cargo xtask test`.

use std::process::ExitCode;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::cli::flags::{self, Command};

/// An extension's `cargo xtask`: the tool's commands, and the extension's own tasks.
///
/// ```no_run
/// use docker_extension_tool::Tasks;
///
/// fn main() -> std::process::ExitCode {
///     Tasks::new()
///         .task("hello", "Print the workspace's folder", |task| {
///             println!("hello from {}", task.root());
///             Ok(())
///         })
///         .run()
/// }
/// ```
#[derive(Default)]
pub struct Tasks {
    tasks: Vec<Task>,
    suites: Vec<Box<dyn TestSuite>>,
}

/// What a task runs.
type TaskFn = Box<dyn Fn(&TaskContext) -> anyhow::Result<()>>;

struct Task {
    name: String,
    about: String,
    run: TaskFn,
}

/// What a task gets: a shell in the workspace's root folder, and its arguments.
pub struct TaskContext {
    /// Runs programs (xshell's `cmd!`), in the workspace's root folder.
    pub sh: Shell,
    root: Utf8PathBuf,
    args: Vec<String>,
}

impl TaskContext {
    /// The workspace's root folder (where its `Cargo.toml` is).
    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    /// The arguments after the task's name.
    pub fn args(&self) -> &[String] {
        &self.args
    }
}

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

impl Tasks {
    /// The tool's commands, and no task of the extension's yet.
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// Adds a task: `cargo xtask NAME ARGS…` runs `run`. A task cannot take the name of one
    /// of the tool's commands.
    pub fn task(
        mut self,
        name: &str,
        about: &str,
        run: impl Fn(&TaskContext) -> anyhow::Result<()> + 'static,
    ) -> Tasks {
        self.tasks.push(Task { name: name.to_string(), about: about.to_string(), run: Box::new(run) });
        self
    }

    /// Adds a test suite to `cargo xtask test` (and its preparation to `setup --for-tests`).
    pub fn test_suite(mut self, suite: impl TestSuite + 'static) -> Tasks {
        self.suites.push(Box::new(suite));
        self
    }

    /// Runs `cargo xtask ARGS…` (the process's arguments); errors print as a story,
    /// outermost step first. Usage errors exit with 2, failures with 1.
    pub fn run(self) -> ExitCode {
        self.run_with(std::env::args().skip(1))
    }

    /// The same, with the arguments given.
    pub fn run_with(self, args: impl IntoIterator<Item = String>) -> ExitCode {
        let args: Vec<String> = args.into_iter().collect();
        if let Some(clash) = self.tasks.iter().find(|t| flags::usage_of(Some(&t.name)).is_some()) {
            eprintln!(
                "error: the xtask registers a task named `{}`, which is a command of the tool: rename the task",
                clash.name
            );
            return ExitCode::from(2);
        }
        #[cfg(unix)]
        if args.first().map(String::as_str) == Some(crate::util::process::SUPERVISE) {
            return crate::util::process::supervise(&args[1..]);
        }
        if let Some(task) = args.first().and_then(|name| self.tasks.iter().find(|t| t.name == *name)) {
            return finish(run_task(task, args[1..].to_vec()));
        }
        let command = match flags::parse(args) {
            Ok(command) => command,
            Err(usage) => {
                eprintln!("error: {}\n\n{}{}", usage.message, usage.usage, self.listing_if(usage.usage));
                return ExitCode::from(2);
            }
        };
        finish(self.run_command(command))
    }

    /// The extension's tasks, as the help lists them (after the tool's usage).
    fn listing(&self) -> String {
        if self.tasks.is_empty() {
            return String::new();
        }
        let width = self.tasks.iter().map(|t| t.name.len()).max().unwrap_or(0).max(9);
        let mut s = String::from("\n\nTasks of this extension (its xtask/src/main.rs):");
        for task in &self.tasks {
            s.push_str(&format!("\n  {:<width$} {}", task.name, task.about));
        }
        s
    }

    fn listing_if(&self, usage: &str) -> String {
        if usage == flags::USAGE {
            self.listing()
        } else {
            String::new()
        }
    }

    fn run_command(&self, command: Command) -> anyhow::Result<()> {
        let sh = Shell::new()?;
        match command {
            Command::Dist(dist) => dist.run(&sh),
            Command::Dev(dev) => dev.run(&sh),
            Command::Check(check) => check.run(&sh),
            Command::Help(topic) => {
                if let Some(task) =
                    topic.as_deref().and_then(|name| self.tasks.iter().find(|t| t.name == name))
                {
                    println!("Usage: cargo xtask {} [ARGS]\n\n{}", task.name, task.about);
                    return Ok(());
                }
                match flags::usage_of(topic.as_deref()) {
                    Some(usage) => {
                        println!("{usage}{}", self.listing_if(usage));
                        Ok(())
                    }
                    None => {
                        anyhow::bail!(
                            "no such command `{}`: see `cargo xtask help`",
                            topic.unwrap_or_default()
                        )
                    }
                }
            }
            Command::Setup(setup) => setup.run(&sh, &self.suites),
            Command::Bench(bench) => bench.run(&sh),
            Command::Test(test) => test.run(&sh, &self.suites),
            Command::New(new) => new.run_new(&sh),
            Command::Init(init) => init.run_init(&sh),
            Command::Doctor(doctor) => doctor.run(&sh),
            Command::Validate(validate) => validate.run(&sh),
            Command::BuildHost(build_host) => build_host.run(&sh),
            Command::Upgrade(upgrade) => upgrade.run(&sh),
            Command::ReleaseTag(release_tag) => release_tag.run(),
            Command::Contract(contract) => contract.run(&sh),
            Command::Uninstall(desktop) => desktop.uninstall(&sh),
            Command::Share(desktop) => desktop.share(&sh),
            Command::Rules => {
                print!("{}", crate::verify::rulebook::markdown_table());
                Ok(())
            }
        }
    }
}

fn run_task(task: &Task, args: Vec<String>) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    let located = crate::util::process::cmd!(sh, "cargo locate-project --workspace --message-format plain")?
        .quiet()
        .read()
        .context("finding the workspace (`cargo locate-project --workspace`)")?;
    let manifest = Utf8PathBuf::from(located.trim());
    let root = manifest.parent().context("the workspace's Cargo.toml has no folder")?.to_path_buf();
    sh.change_dir(&root);
    let context = TaskContext { sh, root, args };
    (task.run)(&context).with_context(|| format!("cargo xtask {}", task.name))
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
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
