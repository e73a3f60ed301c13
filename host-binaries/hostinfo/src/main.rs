//! `hostinfo`: facts about the user's machine (OS, CPU, the tools on PATH), for the
//! extension's UI, which runs inside Docker Desktop and cannot see them itself. The UI runs
//! it with `ddClient.extension.host.cli.exec("hostinfo", ["--json"])`.

use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rust_starter_api::{HostFacts, ToolFact};

const USAGE: &str = "\
Usage: hostinfo [--json] [--tool NAME]... [--no-tools]

Prints facts about this machine: OS and version, CPU, and the versions of tools on PATH.

Options:
  --json        Print one JSON object (what the extension's UI reads)
  --tool NAME   Look for this tool on PATH (repeatable; default: docker, git, kubectl, node)
  --no-tools    Do not look for any tool
  --help        Print this help
  --version     Print the version";

const DEFAULT_TOOLS: &[&str] = &["docker", "git", "kubectl", "node"];
/// A tool that takes longer than this to print its version counts as not working.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Options {
    json: bool,
    tools: Vec<String>,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hostinfo: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let facts = facts(&options.tools);
    if options.json {
        match serde_json::to_string(&facts) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("hostinfo: cannot write the facts as JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", human(&facts));
    }
    ExitCode::SUCCESS
}

/// `Ok(None)`: --help or --version was answered.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options { json: false, tools: vec![] };
    let (mut tools_given, mut no_tools) = (false, false);
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => options.json = true,
            "--no-tools" => no_tools = true,
            "--tool" => match args.next() {
                Some(name) if !name.is_empty() && !name.starts_with('-') => {
                    options.tools.push(name);
                    tools_given = true;
                }
                _ => return Err("--tool needs a program name".into()),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--version" | "-V" => {
                println!("hostinfo {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    if no_tools && tools_given {
        return Err("--no-tools and --tool contradict each other".into());
    }
    if !tools_given && !no_tools {
        options.tools = DEFAULT_TOOLS.iter().copied().map(String::from).collect();
    }
    Ok(Some(options))
}

fn facts(tools: &[String]) -> HostFacts {
    // Each tool is asked in parallel: a slow one does not hold up the others.
    let lookups: Vec<_> = tools
        .iter()
        .map(|name| {
            let name = name.clone();
            (name.clone(), thread::spawn(move || tool_version(&name)))
        })
        .collect();
    let cpus = thread::available_parallelism().map_or(1, std::num::NonZero::get);
    HostFacts {
        version: env!("CARGO_PKG_VERSION").into(),
        os: std::env::consts::OS.into(),
        os_version: os_version(),
        arch: std::env::consts::ARCH.into(),
        cpus: u32::try_from(cpus).unwrap_or(u32::MAX),
        hostname: hostname(),
        tools: lookups
            .into_iter()
            .map(|(name, lookup)| {
                let version = lookup.join().ok().flatten();
                ToolFact { name, found: version.is_some(), version }
            })
            .collect(),
    }
}

fn human(facts: &HostFacts) -> String {
    let unknown = |text: &Option<String>| text.clone().unwrap_or_else(|| "unknown".into());
    let mut s = format!(
        "OS: {} ({})\nCPU: {}, {} cores\nHost name: {}\n",
        unknown(&facts.os_version),
        facts.os,
        facts.arch,
        facts.cpus,
        unknown(&facts.hostname)
    );
    for tool in &facts.tools {
        let version = tool.version.as_deref().unwrap_or("not found");
        s.push_str(&format!("{:<10} {version}\n", tool.name));
    }
    s
}

/// The first line a command prints, if it starts, succeeds and answers in time.
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().ok()? {
            break status;
        }
        if start.elapsed() > TOOL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let line = out.lines().map(str::trim).find(|l| !l.is_empty())?.to_string();
    status.success().then_some(line)
}

fn tool_version(name: &str) -> Option<String> {
    match name {
        "kubectl" => first_line(name, &["version", "--client"]),
        _ => first_line(name, &["--version"]),
    }
}

fn os_version() -> Option<String> {
    if cfg!(target_os = "macos") {
        first_line("sw_vers", &["-productVersion"]).map(|v| format!("macOS {v}"))
    } else if cfg!(windows) {
        first_line("cmd", &["/c", "ver"])
    } else {
        let release = std::fs::read_to_string("/etc/os-release").ok()?;
        release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string())
    }
}

fn hostname() -> Option<String> {
    std::env::var("COMPUTERNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| first_line("hostname", &[]))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> + '_ {
        s.split_whitespace().map(String::from)
    }

    #[test]
    fn flags() {
        let options = parse(args("--json --tool cargo")).unwrap().unwrap();
        assert!(options.json);
        assert_eq!(options.tools, ["cargo"]);
        assert_eq!(parse(args("")).unwrap().unwrap().tools, DEFAULT_TOOLS);
        assert!(parse(args("--no-tools")).unwrap().unwrap().tools.is_empty());
        assert!(parse(args("--frob")).unwrap_err().contains("`--frob`"));
        assert!(parse(args("--tool")).unwrap_err().contains("needs a program"));
    }

    #[test]
    fn finds_a_tool_that_exists_and_not_one_that_does_not() {
        // cargo runs this test, so it is on PATH.
        let facts = facts(&["cargo".into(), "surely-not-a-tool-xyz".into()]);
        assert!(facts.tools[0].found);
        assert!(facts.tools[0].version.as_deref().unwrap().starts_with("cargo "));
        assert!(!facts.tools[1].found);
        assert_eq!(facts.arch, std::env::consts::ARCH);
    }
}
