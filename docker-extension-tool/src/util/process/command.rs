//! A command line as data ([`Argv`]), and [`cmd!`]: the one way the tool starts an outside
//! program. Both find the program as the platform's shell does (`find`): `npm` is
//! `npm.cmd` on Windows, run through `cmd.exe` with its arguments checked for what cmd's
//! parser would act on. What `--dry-run` prints is the `Argv` that runs.

use std::ffi::{OsStr, OsString};

use xshell::Shell;

use super::find::{self, Launch, Platform, SearchPath};

/// A command line: a program and its arguments, never empty. What `--dry-run` prints of it
/// is what runs: [`Argv::cmd`] makes the command from the same words.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Argv {
    program: OsString,
    args: Vec<OsString>,
}

impl Argv {
    /// `program` and `args`.
    pub(crate) fn new<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: impl IntoIterator<Item = S>,
    ) -> Argv {
        Argv {
            program: program.as_ref().to_owned(),
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
        }
    }

    /// `program` alone (arguments follow with [`Argv::arg`]).
    pub(crate) fn of(program: impl AsRef<OsStr>) -> Argv {
        Argv { program: program.as_ref().to_owned(), args: vec![] }
    }

    /// The program as given (a name PATH is searched for, or a path).
    pub(crate) fn program(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    /// One more argument.
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Argv {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments.
    pub(crate) fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Argv {
        self.push(args);
        self
    }

    /// What `cmd!` calls for `a{b}`: text joined to the last argument.
    #[doc(hidden)]
    pub(crate) fn __extend_arg(mut self, fragment: impl AsRef<OsStr>) -> Argv {
        match self.args.last_mut() {
            Some(last) => last.push(fragment),
            None => self.program.push(fragment),
        }
        self
    }

    /// Adds arguments at the end.
    pub(crate) fn push<S: AsRef<OsStr>>(&mut self, args: impl IntoIterator<Item = S>) {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    }

    /// The same command line with more arguments.
    pub(crate) fn with<S: AsRef<OsStr>>(self, args: impl IntoIterator<Item = S>) -> Argv {
        self.args(args)
    }

    /// Every word, the program first.
    pub(crate) fn words(&self) -> Vec<String> {
        std::iter::once(&self.program).chain(&self.args).map(|w| w.to_string_lossy().into_owned()).collect()
    }

    /// Where `sh` would find the program, and how it is started; refused when it is not
    /// there, or when it is a batch file and an argument is one cmd.exe would act on.
    pub(crate) fn launch(&self, sh: &Shell) -> Result<Launch, find::Refusal> {
        let search = SearchPath::new(
            Platform::HERE,
            sh.var_os("PATH").as_deref(),
            sh.var_os("PATHEXT").as_deref(),
            sh.current_dir(),
        );
        let args: Vec<String> = self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        find::launch(&self.program.to_string_lossy(), &args, &search, &find::is_program_file)
    }

    /// The command, to run with xshell: the program as [`Argv::launch`] finds it, these
    /// arguments, never through a shell of ours (a batch file is run by `cmd.exe`, which
    /// Rust's std hands each argument quoted for its parser).
    pub(crate) fn cmd<'a>(&self, sh: &'a Shell) -> anyhow::Result<xshell::Cmd<'a>> {
        let launch = self.launch(sh)?;
        Ok(sh.cmd(launch.path()).args(&self.args))
    }
}

/// Where programs run through `sh` are looked for: its PATH and PATHEXT (which may differ
/// from this process's), from its current folder.
pub(crate) fn search_path(sh: &Shell) -> SearchPath {
    SearchPath::new(
        Platform::HERE,
        sh.var_os("PATH").as_deref(),
        sh.var_os("PATHEXT").as_deref(),
        sh.current_dir(),
    )
}

impl std::fmt::Display for Argv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.words().join(" "))
    }
}

/// `argv!("program arg {value} {list...}")`: xshell's syntax (each `{value}` one argument,
/// `{list...}` several; never a shell), giving the [`Argv`] (to print, keep in a plan, or
/// run).
macro_rules! argv {
    ($cmd:literal) => {{
        // A name no caller's variable has: items in this block shadow the caller's locals.
        fn __argv_of_program<P: AsRef<::std::ffi::OsStr>>(program: P) -> $crate::util::process::command::Argv {
            $crate::util::process::command::Argv::of(program)
        }
        let argv: $crate::util::process::command::Argv = ::xshell::__cmd!(__argv_of_program $cmd);
        argv
    }};
}
pub(crate) use argv;

/// `cmd!(sh, "program arg {value} {list...}")`: the command [`argv!`] gives, run through the
/// shell `sh` with the program found as the platform finds it ([`Argv::cmd`]). Gives
/// `anyhow::Result<xshell::Cmd>`: a program that is not there, or an argument a batch file
/// cannot be given, is an error before anything starts. The one way the tool runs a program.
macro_rules! cmd {
    ($sh:expr, $cmd:literal) => {
        $crate::util::process::command::argv!($cmd).cmd(&$sh)
    };
}
pub(crate) use cmd;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_macro_gives_xshells_words() {
        let (file, list, empty) = ("a file.txt", vec!["x", "y z"], Vec::<String>::new());
        let argv = argv!("git -C {file} log --format=%ct {list...} {empty...} pre{file}");
        assert_eq!(
            argv.words(),
            ["git", "-C", "a file.txt", "log", "--format=%ct", "x", "y z", "prea file.txt"]
        );
        assert_eq!(argv.program(), "git");
    }

    #[test]
    fn a_program_that_is_not_there_is_an_error_before_anything_starts() {
        let sh = Shell::new().unwrap();
        sh.set_var("PATH", "");
        let error = cmd!(&sh, "npm ci").map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("`npm` was not found"), "{error}");
    }

    #[test]
    fn the_command_runs_the_program_found() {
        let sh = Shell::new().unwrap();
        // Windows (under Wine here too): `cmd` is found as `…\system32\cmd.exe`.
        let said = if cfg!(windows) {
            cmd!(&sh, "cmd /d /c echo found").unwrap().read().unwrap()
        } else {
            cmd!(&sh, "cargo --version").unwrap().read().unwrap()
        };
        assert!(said.starts_with(if cfg!(windows) { "found" } else { "cargo " }), "{said}");
    }

    /// A `.cmd` found by its bare name runs through cmd.exe, each argument quoted so that
    /// cmd's operators in it are text (an `&` does not start a second command); what cmd
    /// would expand is refused before anything runs. Run under Wine by the tool's suite.
    #[test]
    #[cfg(windows)]
    fn a_batch_file_is_found_by_its_name_and_gets_its_arguments_quoted() {
        let dir = std::env::temp_dir().join(format!("xtask batch test {}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("record.cmd"), "@echo off\r\necho %*> \"%~dp0args.txt\"\r\n").unwrap();
        let sh = Shell::new().unwrap();
        sh.change_dir(&dir);
        let path = std::env::join_paths(
            std::iter::once(dir.clone())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        sh.set_var("PATH", path);
        let (folder, injection) = (r"C:\Program Files\my ext", "x&echo injected>pwned.txt");
        let launch = argv!("record ci {folder} {injection}").launch(&sh).unwrap();
        assert!(matches!(launch, Launch::Batch(_)), "{launch:?}");
        cmd!(&sh, "record ci {folder} {injection}").unwrap().run().unwrap();
        let recorded = std::fs::read_to_string(dir.join("args.txt")).unwrap();
        assert!(recorded.contains(&format!("\"{folder}\"")), "{recorded}");
        assert!(recorded.contains(&format!("\"{injection}\"")), "{recorded}");
        assert!(!dir.join("pwned.txt").exists(), "the & started a second command: {recorded}");
        let percent = "100%";
        let refused = cmd!(&sh, "record {percent}").map(|_| ()).unwrap_err().to_string();
        assert!(refused.contains("`%`") && refused.contains("record.cmd"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
