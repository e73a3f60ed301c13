//! Finding a program as the platform's shell finds it, and how it is started: the part of
//! starting a program that differs between Unix and Windows, as plain functions of PATH,
//! PATHEXT and a view of the file system, so every rule is tested on any OS.
//!
//! Unix: the first folder of PATH holding a file of that name. Windows, as `cmd.exe`
//! searches: for a name without one of PATHEXT's extensions, each folder of PATH in turn
//! with each extension in PATHEXT's order (`npm` is `npm.cmd` there: Node ships no
//! `npm.exe`, and Rust's std appends only `.exe`); a batch file (`.cmd`, `.bat`) is run by
//! `cmd.exe`, whose parser sees every argument, so an argument it cannot be handed safely
//! (the CVE-2024-24576 class: `%`, `!`, `^`, `"`, line breaks) is refused with a message
//! instead. Python is `py -3`, `python` or `python3` on Windows, never the Microsoft Store's
//! alias (`…\Microsoft\WindowsApps\python.exe` invites to the Store and exits 9009), and a
//! virtual environment keeps its programs in `Scripts\` there, `bin/` elsewhere.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// How an OS finds and starts programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    /// Linux and macOS: PATH, no extensions, any executable file.
    Unix,
    /// PATH and PATHEXT; `.cmd` and `.bat` through `cmd.exe`.
    Windows,
}

impl Platform {
    /// The platform this program runs on.
    pub(crate) const HERE: Platform = if cfg!(windows) { Platform::Windows } else { Platform::Unix };

    /// What separates a path's folders, besides `/`.
    fn is_separator(self, c: char) -> bool {
        c == '/' || (self == Platform::Windows && c == '\\')
    }
}

/// PATHEXT when it is not set: what `cmd.exe` uses then.
const DEFAULT_PATHEXT: &str = ".COM;.EXE;.BAT;.CMD";

/// The extensions of PATHEXT a process can be started from: programs (`.exe`, `.com`) and
/// batch files. (PATHEXT also lists script types such as `.js` and `.vbs`, which need a
/// host program: they are not started by name.)
const STARTABLE: [&str; 4] = [".exe", ".com", ".bat", ".cmd"];

/// Where programs are looked for: PATH's folders and, on Windows, PATHEXT's extensions.
#[derive(Debug, Clone)]
pub(crate) struct SearchPath {
    pub(crate) platform: Platform,
    /// PATH's folders, in order.
    pub(crate) folders: Vec<PathBuf>,
    /// PATHEXT's startable extensions, lowercase with their dot, in order (Windows only).
    pub(crate) extensions: Vec<String>,
    /// The folder a relative path with a separator is relative to (the child's folder).
    pub(crate) current_dir: PathBuf,
}

impl SearchPath {
    /// From PATH and PATHEXT as given (a shell's, which may differ from this process's).
    /// A Windows PATH is split on `;` whatever OS this runs on (tests simulate Windows).
    pub(crate) fn new(
        platform: Platform,
        path: Option<&OsStr>,
        pathext: Option<&OsStr>,
        current_dir: PathBuf,
    ) -> SearchPath {
        let folders = match (path, platform) {
            (None, _) => vec![],
            // Split as the platform does (`;` on Windows), whatever this OS's separator is.
            (Some(path), Platform::Windows) if !cfg!(windows) => {
                path.to_string_lossy().split(';').filter(|f| !f.is_empty()).map(PathBuf::from).collect()
            }
            (Some(path), _) => std::env::split_paths(path).filter(|f| !f.as_os_str().is_empty()).collect(),
        };
        let pathext = pathext.map(|p| p.to_string_lossy().into_owned()).filter(|p| !p.trim().is_empty());
        let extensions = match platform {
            Platform::Unix => vec![],
            Platform::Windows => pathext
                .as_deref()
                .unwrap_or(DEFAULT_PATHEXT)
                .split(';')
                .map(|e| e.trim().to_ascii_lowercase())
                .filter(|e| STARTABLE.contains(&e.as_str()))
                .collect(),
        };
        SearchPath { platform, folders, extensions, current_dir }
    }
}

/// How a found program is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launch {
    /// The program's file, started directly.
    Direct(PathBuf),
    /// A batch file (`.cmd`, `.bat`), which Windows runs through `cmd.exe` (Rust's std puts
    /// it on `cmd.exe`'s command line with each argument quoted for cmd's parser).
    Batch(PathBuf),
}

impl Launch {
    /// The file that is started.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Launch::Direct(path) | Launch::Batch(path) => path,
        }
    }
}

/// Why a program cannot be started as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such program in PATH's folders (or at the path given).
    NotFound { program: String, tried: Vec<String>, path: bool },
    /// A batch file would get an argument cmd.exe's parser could change or break out of.
    UnsafeForBatch { program: String, script: PathBuf, argument: String, why: &'static str },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotFound { program, tried, path: true } => write!(
                f,
                "`{program}` was not found: there is no {} (relative to the command's folder)",
                tried.join(", no ")
            ),
            Refusal::NotFound { program, tried, path: false } if tried.len() > 1 => write!(
                f,
                "`{program}` was not found: none of {} is in a folder of PATH; install it, or put the folder it is in on PATH",
                tried.join(", ")
            ),
            Refusal::NotFound { program, .. } => write!(
                f,
                "`{program}` was not found on PATH; install it, or put the folder it is in on PATH"
            ),
            Refusal::UnsafeForBatch { program, script, argument, why } => write!(
                f,
                "cannot pass the argument `{}` to `{program}`: it is a batch file ({}), run by cmd.exe, \
                 and the argument holds {why}, which cmd.exe's parser would act on rather than pass on. \
                 Give that value without it (a file path: rename the folder, or use another one)",
                argument.escape_debug(),
                script.display()
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Whether `path` is a file a process may be started from (Unix: with an execute bit).
pub(crate) fn is_program_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    meta.is_file()
}

/// Finds `program` as the platform's shell would, asking `exists` about candidate files.
pub(crate) fn find(
    program: &str,
    search: &SearchPath,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<Launch, Refusal> {
    let platform = search.platform;
    let names = candidate_names(program, search);
    let tried = names.clone();
    let has_folder = program.chars().any(|c| platform.is_separator(c));
    let not_found =
        || Refusal::NotFound { program: program.to_string(), tried: tried.clone(), path: has_folder };
    let candidates: Vec<PathBuf> = if has_folder {
        // A path: taken as it is (relative to the child's folder), with PATHEXT's
        // extensions on Windows when it has none of them.
        names
            .iter()
            .map(|name| {
                if is_absolute(name, platform) {
                    PathBuf::from(name)
                } else {
                    search.current_dir.join(name)
                }
            })
            .collect()
    } else {
        search
            .folders
            .iter()
            .filter(|folder| !(platform == Platform::Windows && is_store_alias_folder(folder, program)))
            .flat_map(|folder| names.iter().map(move |name| folder.join(name)))
            .collect()
    };
    let found = candidates.into_iter().find(|candidate| exists(candidate)).ok_or_else(not_found)?;
    Ok(match platform {
        Platform::Windows if is_batch(&found) => Launch::Batch(found),
        _ => Launch::Direct(found),
    })
}

/// Whether `path` is absolute on `platform` (a drive or a UNC path on Windows), whatever
/// this OS's own rule.
fn is_absolute(path: &str, platform: Platform) -> bool {
    match platform {
        Platform::Unix => path.starts_with('/'),
        Platform::Windows => {
            let bytes = path.as_bytes();
            path.starts_with(r"\\")
                || (bytes.len() > 2
                    && bytes[0].is_ascii_alphabetic()
                    && bytes[1] == b':'
                    && platform.is_separator(bytes[2] as char))
        }
    }
}

/// The file names `program` may be: itself (Unix, or a name with a startable extension on
/// Windows), or itself with each of PATHEXT's extensions.
fn candidate_names(program: &str, search: &SearchPath) -> Vec<String> {
    match search.platform {
        Platform::Unix => vec![program.to_string()],
        Platform::Windows => {
            let lower = program.to_ascii_lowercase();
            if search.extensions.iter().any(|e| lower.ends_with(e.as_str())) {
                vec![program.to_string()]
            } else {
                search.extensions.iter().map(|e| format!("{program}{e}")).collect()
            }
        }
    }
}

/// A `.cmd` or `.bat` file.
fn is_batch(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("cmd") || e.eq_ignore_ascii_case("bat"))
}

/// Whether `folder` is `%LOCALAPPDATA%\Microsoft\WindowsApps` and `program` one of the
/// Python names Windows puts there as aliases to the Microsoft Store (they print an
/// invitation to install Python and exit 9009). Other programs there (winget) are real.
fn is_store_alias_folder(folder: &Path, program: &str) -> bool {
    let folder = folder.to_string_lossy().replace('\\', "/").to_ascii_lowercase();
    let python =
        ["python", "python3", "python.exe", "python3.exe"].contains(&program.to_ascii_lowercase().as_str());
    python && folder.trim_end_matches('/').ends_with("microsoft/windowsapps")
}

/// Checks that `argument` can be handed to a batch file: cmd.exe parses a batch file's
/// command line (and again each time the script uses `%*`), so a value holding one of its
/// special characters would be expanded or would end the quoting. Quoted, spaces and
/// `& | < > ( )` are safe; these are not.
pub(crate) fn batch_safe(argument: &str) -> Result<(), &'static str> {
    for c in argument.chars() {
        let why = match c {
            '%' => "`%` (cmd.exe expands %NAME% as a variable)",
            '!' => "`!` (cmd.exe expands !NAME! where delayed expansion is on)",
            '^' => "`^` (cmd.exe's escape character)",
            '"' => "a double quote (it would end cmd.exe's quoting of the argument)",
            '\r' | '\n' => "a line break (it ends cmd.exe's command line)",
            '\0' => "a NUL character",
            _ => continue,
        };
        return Err(why);
    }
    Ok(())
}

/// Finds `program` and checks `args` for how it is started.
pub(crate) fn launch(
    program: &str,
    args: &[String],
    search: &SearchPath,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<Launch, Refusal> {
    let launch = find(program, search, exists)?;
    if let Launch::Batch(script) = &launch {
        for argument in args {
            batch_safe(argument).map_err(|why| Refusal::UnsafeForBatch {
                program: program.to_string(),
                script: script.clone(),
                argument: argument.clone(),
                why,
            })?;
        }
    }
    Ok(launch)
}

/// How to run Python 3 here: the program and the arguments before a script's. Windows: the
/// `py` launcher (`py -3`), else `python`, else `python3`, never the Store's aliases; Unix:
/// `python3`, else `python`.
pub(crate) fn python(search: &SearchPath, exists: &dyn Fn(&Path) -> bool) -> Option<(Launch, Vec<String>)> {
    let choices: &[(&str, &[&str])] = match search.platform {
        Platform::Windows => &[("py", &["-3"]), ("python", &[]), ("python3", &[])],
        Platform::Unix => &[("python3", &[]), ("python", &[])],
    };
    choices.iter().find_map(|(program, args)| {
        let launch = find(program, search, exists).ok()?;
        Some((launch, args.iter().map(|a| (*a).to_string()).collect()))
    })
}

/// The folder of a virtual environment's programs: `Scripts` on Windows, `bin` elsewhere.
pub(crate) fn venv_programs(venv: &Path, platform: Platform) -> PathBuf {
    venv.join(match platform {
        Platform::Windows => "Scripts",
        Platform::Unix => "bin",
    })
}

/// A virtual environment's Python: `Scripts\python.exe` on Windows, `bin/python3` elsewhere.
pub(crate) fn venv_python(venv: &Path, platform: Platform) -> PathBuf {
    venv_programs(venv, platform).join(match platform {
        Platform::Windows => "python.exe",
        Platform::Unix => "python3",
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A simulated file system: the files that exist. Windows compares names without case.
    struct Files {
        platform: Platform,
        files: BTreeSet<String>,
    }

    impl Files {
        fn new(platform: Platform, files: &[&str]) -> Files {
            let files = files.iter().map(|f| Files::key(platform, Path::new(f))).collect();
            Files { platform, files }
        }

        fn key(platform: Platform, path: &Path) -> String {
            let text = path.to_string_lossy().into_owned();
            match platform {
                Platform::Windows => text.replace('/', "\\").to_ascii_lowercase(),
                // Run on Windows, `find` joins a simulated Unix folder and a name with `\`.
                Platform::Unix => text.replace('\\', "/"),
            }
        }

        fn exists(&self) -> impl Fn(&Path) -> bool + '_ {
            |path| self.files.contains(&Files::key(self.platform, path))
        }
    }

    fn windows(path: &str, pathext: Option<&str>) -> SearchPath {
        SearchPath::new(Platform::Windows, Some(OsStr::new(path)), pathext.map(OsStr::new), r"C:\work".into())
    }

    /// A path of the simulated Windows file system, as `find` builds it here.
    fn win(folder: &str, name: &str) -> String {
        Files::key(Platform::Windows, &Path::new(folder).join(name))
    }

    fn found(launch: &Launch) -> String {
        Files::key(Platform::Windows, launch.path())
    }

    const NODE: &str = r"C:\Program Files\nodejs";
    const PATH: &str = r"C:\Windows\system32;C:\Windows;C:\Program Files\nodejs;C:\Users\José Núñez\AppData\Local\Microsoft\WindowsApps";
    const PATHEXT: &str = ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC";

    #[test]
    fn on_windows_npm_is_the_cmd_shim_found_through_pathext() {
        // Node's folder holds `npm` (a shell script for Git Bash), `npm.cmd` and `npm.ps1`.
        let files = Files::new(
            Platform::Windows,
            &[
                &win(NODE, "node.exe"),
                &win(NODE, "npm"),
                &win(NODE, "npm.cmd"),
                &win(NODE, "npm.ps1"),
                &win(NODE, "npx.cmd"),
            ],
        );
        let search = windows(PATH, Some(PATHEXT));
        assert_eq!(search.extensions, [".com", ".exe", ".bat", ".cmd"], "only startable ones, in order");
        let npm = find("npm", &search, &files.exists()).unwrap();
        assert!(matches!(npm, Launch::Batch(_)), "{npm:?}");
        assert_eq!(found(&npm), win(NODE, "npm.cmd"));
        assert_eq!(found(&find("node", &search, &files.exists()).unwrap()), win(NODE, "node.exe"));
        assert!(matches!(find("node", &search, &files.exists()).unwrap(), Launch::Direct(_)));
        // Named with its extension, in any case: as it is.
        assert_eq!(found(&find("NPX.CMD", &search, &files.exists()).unwrap()), win(NODE, "npx.cmd"));
        // The same folder with no PATHEXT set: cmd.exe's default list.
        let default = windows(PATH, None);
        assert_eq!(found(&find("npm", &default, &files.exists()).unwrap()), win(NODE, "npm.cmd"));
        // PATHEXT's order decides: an .exe before a .cmd of the same name.
        let both = Files::new(Platform::Windows, &[&win(NODE, "npm.cmd"), &win(NODE, "npm.exe")]);
        assert_eq!(found(&find("npm", &search, &both.exists()).unwrap()), win(NODE, "npm.exe"));
        // PATH's order before PATHEXT's: the first folder with any match.
        let earlier =
            Files::new(Platform::Windows, &[&win(r"C:\Windows\system32", "npm.bat"), &win(NODE, "npm.exe")]);
        let first = find("npm", &search, &earlier.exists()).unwrap();
        assert!(matches!(first, Launch::Batch(_)));
        assert_eq!(found(&first), win(r"C:\Windows\system32", "npm.bat"));
    }

    #[test]
    fn what_is_not_there_is_named_with_every_name_tried() {
        let files = Files::new(Platform::Windows, &[&win(NODE, "npm")]);
        let refusal = find("npm", &windows(PATH, None), &files.exists()).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "`npm` was not found: none of npm.com, npm.exe, npm.bat, npm.cmd is in a folder of PATH; \
             install it, or put the folder it is in on PATH"
        );
        let unix = SearchPath::new(Platform::Unix, Some(OsStr::new("/usr/bin")), None, "/".into());
        let refusal = find("npm", &unix, &|_: &Path| false).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "`npm` was not found on PATH; install it, or put the folder it is in on PATH"
        );
    }

    #[test]
    fn a_path_is_taken_as_it_is_with_pathext_on_windows() {
        let files = Files::new(Platform::Windows, &[r"d:\tools\node\npm.cmd"]);
        let npm = find(r"D:\Tools\node\npm", &windows(PATH, None), &files.exists()).unwrap();
        assert_eq!(found(&npm), r"d:\tools\node\npm.cmd");
        let files = Files::new(Platform::Windows, &[r"c:\work\node_modules\.bin\vite.cmd"]);
        let search = windows(PATH, None);
        let vite =
            find(r"node_modules\.bin\vite", &search, &files.exists()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(vite, Launch::Batch(_)));
        // Not searched for in PATH's folders.
        let none = Files::new(Platform::Windows, &[&win(NODE, "vite.cmd")]);
        let refusal = find(r".\vite", &search, &none.exists()).unwrap_err().to_string();
        assert!(
            refusal.starts_with(r"`.\vite` was not found: there is no .\vite.com, no .\vite.exe"),
            "{refusal}"
        );
        // Unix: as it is, relative to the child's folder.
        let unix = SearchPath::new(Platform::Unix, Some(OsStr::new("/usr/bin")), None, "/work/ui".into());
        let files = Files::new(Platform::Unix, &["/work/ui/node_modules/.bin/vite"]);
        let vite = find("node_modules/.bin/vite", &unix, &files.exists()).unwrap();
        assert_eq!(vite, Launch::Direct("/work/ui/node_modules/.bin/vite".into()));
    }

    #[test]
    fn on_unix_the_first_folder_with_the_name_and_no_extensions() {
        let search = SearchPath::new(
            Platform::Unix,
            Some(&std::env::join_paths(["/usr/local/bin", "/usr/bin"]).unwrap()),
            Some(OsStr::new(".EXE;.CMD")),
            "/".into(),
        );
        assert!(search.extensions.is_empty(), "PATHEXT means nothing on Unix");
        let files = Files::new(Platform::Unix, &["/usr/bin/npm", "/usr/local/bin/npm", "/usr/bin/npm.cmd"]);
        assert_eq!(
            find("npm", &search, &files.exists()).unwrap(),
            Launch::Direct("/usr/local/bin/npm".into())
        );
        // A `.cmd` on Unix is no batch file: started directly, like any file.
        assert_eq!(
            find("npm.cmd", &search, &files.exists()).unwrap(),
            Launch::Direct("/usr/bin/npm.cmd".into())
        );
    }

    #[test]
    fn python_is_the_launcher_then_python_never_the_store_alias() {
        let store = r"C:\Users\José Núñez\AppData\Local\Microsoft\WindowsApps";
        let python_org = r"C:\Users\José Núñez\AppData\Local\Programs\Python\Python312";
        let path = format!(r"{store};{python_org};C:\Windows");
        let search = windows(&path, None);
        // Only the Store's aliases: no Python at all (winget, beside them, is real).
        let aliases_only = Files::new(
            Platform::Windows,
            &[&win(store, "python.exe"), &win(store, "python3.exe"), &win(store, "winget.exe")],
        );
        assert!(python(&search, &aliases_only.exists()).is_none());
        assert_eq!(
            found(&find("winget", &search, &aliases_only.exists()).unwrap()),
            win(store, "winget.exe")
        );
        // python.org's installer: python.exe, and the py launcher in C:\Windows.
        let installed = Files::new(
            Platform::Windows,
            &[&win(store, "python.exe"), &win(python_org, "python.exe"), &win(r"C:\Windows", "py.exe")],
        );
        let (launch, args) = python(&search, &installed.exists()).unwrap();
        assert_eq!((found(&launch), args), (win(r"C:\Windows", "py.exe"), vec!["-3".to_string()]));
        // Without the launcher: python.exe, the real one after the alias's folder.
        let no_launcher =
            Files::new(Platform::Windows, &[&win(store, "python.exe"), &win(python_org, "python.exe")]);
        let (launch, args) = python(&search, &no_launcher.exists()).unwrap();
        assert_eq!((found(&launch), args.len()), (win(python_org, "python.exe"), 0));
        // A python3.exe only (some distributions).
        let python3 = Files::new(Platform::Windows, &[&win(python_org, "python3.exe")]);
        assert_eq!(found(&python(&search, &python3.exists()).unwrap().0), win(python_org, "python3.exe"));
        // Unix: python3 first.
        let unix = SearchPath::new(Platform::Unix, Some(OsStr::new("/usr/bin")), None, "/".into());
        let files = Files::new(Platform::Unix, &["/usr/bin/python", "/usr/bin/python3"]);
        assert_eq!(python(&unix, &files.exists()).unwrap().0, Launch::Direct("/usr/bin/python3".into()));
    }

    #[test]
    fn a_venv_keeps_its_programs_in_scripts_on_windows() {
        let venv = Path::new("venv");
        assert_eq!(venv_programs(venv, Platform::Windows), Path::new("venv").join("Scripts"));
        assert_eq!(
            venv_python(venv, Platform::Windows),
            Path::new("venv").join("Scripts").join("python.exe")
        );
        assert_eq!(venv_programs(venv, Platform::Unix), Path::new("venv").join("bin"));
        assert_eq!(venv_python(venv, Platform::Unix), Path::new("venv").join("bin").join("python3"));
    }

    #[test]
    fn batch_files_get_only_arguments_cmd_exe_passes_on_unchanged() {
        let files = Files::new(Platform::Windows, &[&win(NODE, "npm.cmd"), &win(NODE, "node.exe")]);
        let search = windows(PATH, None);
        let args = |list: &[&str]| list.iter().map(|a| (*a).to_string()).collect::<Vec<_>>();
        // Spaces, letters outside ASCII and cmd's operators, quoted, pass.
        let fine = args(&["ci", r"C:\Users\José Núñez\my ext", "a&b|c<d>e(f)", "--prefix=x y"]);
        assert!(matches!(launch("npm", &fine, &search, &files.exists()), Ok(Launch::Batch(_))));
        for (argument, named) in [
            ("100%", "`%`"),
            ("%PATH%", "`%`"),
            ("hello!", "`!`"),
            ("a^b", "`^`"),
            ("say \"hi\"", "a double quote"),
            ("two\nlines", "a line break"),
            ("cr\r", "a line break"),
        ] {
            let refusal = launch("npm", &args(&["ci", argument]), &search, &files.exists()).unwrap_err();
            let message = refusal.to_string();
            assert!(message.contains(named), "{argument:?}: {message}");
            assert!(message.contains("`npm`") && message.contains("npm.cmd"), "{message}");
            assert!(message.contains(&argument.escape_debug().to_string()), "{message}");
        }
        // A program (.exe) takes any argument: its own parser, not cmd.exe's.
        assert!(launch("node", &args(&["-e", "console.log(\"100%!\")"]), &search, &files.exists()).is_ok());
    }

    #[test]
    fn windows_path_lists_split_on_semicolons_whatever_the_os() {
        let search = windows(r"C:\a;;C:\b c;D:\d", None);
        assert_eq!(
            search.folders,
            [PathBuf::from(r"C:\a"), PathBuf::from(r"C:\b c"), PathBuf::from(r"D:\d")]
        );
    }
}
