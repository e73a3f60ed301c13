//! The entry point an extension's xtask calls ([`Tasks`]), the tasks an author adds beside
//! the tool's commands, and the test suites a workspace adds to `cargo xtask test`.

use std::process::ExitCode;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::cli::suite::TestSuite;
use crate::cli::{self, Command};

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
        if let Some(clash) = self.tasks.iter().find(|t| cli::spec_of(&t.name).is_some() || t.name == "help") {
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
        let command = match cli::parse(args) {
            Ok(command) => command,
            Err(error) => {
                let listing = if error.command.is_none() { self.listing() } else { String::new() };
                eprintln!("error: {}\n\n{}{listing}", error.message, cli::usage_of(&error));
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

    fn run_command(&self, command: Command) -> anyhow::Result<()> {
        let sh = Shell::new()?;
        let Command::Help(topic) = command else {
            return command.execute(&cli::Invocation { sh: &sh, suites: &self.suites });
        };
        if let Some(task) = topic.as_deref().and_then(|name| self.tasks.iter().find(|t| t.name == name)) {
            println!("Usage: cargo xtask {} [ARGS]\n\n{}", task.name, task.about);
            return Ok(());
        }
        match topic.as_deref() {
            None => println!("{}{}", cli::usage(), self.listing()),
            Some(name) => match cli::spec_of(name) {
                Some(spec) => println!("{}", spec.usage()),
                None => anyhow::bail!("no such command `{name}`: see `cargo xtask help`"),
            },
        }
        Ok(())
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
