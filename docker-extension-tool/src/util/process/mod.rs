//! Starting programs, and how they end: the one place the tool starts an outside program.
//!
//! * `find`: a program is found as the platform's shell finds it (PATH; on Windows PATHEXT,
//!   `npm.cmd` through `cmd.exe` with its arguments checked, `py -3` for Python, a venv's
//!   `Scripts\`). Plain functions, tested with simulated Windows folders on any OS.
//! * `command`: [`Argv`], a command line as data (what `--dry-run` prints), and `cmd!`,
//!   which every other module uses to run one (an architecture test holds that).
//! * Here: long-running children for `dev`, which starts a dev server, a backend process or
//!   container, and must leave nothing behind.
//!
//! Each long-running child starts in a process group of its own (`npx` → node → esbuild is a
//! tree), so stopping it reaches every process it started: on Unix SIGTERM to the group, then
//! SIGKILL after a grace period; on Windows a Job Object (`job`) holds the tree and is
//! terminated, and kills it too when this process ends however it ends (kill on close).
//! Ctrl-C and SIGTERM (Windows: Ctrl-C, Ctrl-Break, a closed console) set a flag the dev loop
//! polls, so it cleans up itself instead of dying mid-way.
//!
//! Killed outright (SIGKILL, a closed terminal), a Unix process cannot clean up: so each
//! group is led by a supervisor, this same program run as `__supervise -- PROGRAM ARGS…`,
//! which starts the child in its group and watches its own parent. When the parent is gone,
//! it stops the group as `Group::stop` would (SIGTERM, a grace period, SIGKILL): a dev server
//! dies with it, an attached `docker run` passes the SIGTERM to its container, which ends
//! and is removed (`--rm`). On Linux and macOS alike (no parent-death signal needed).

pub(crate) mod command;
pub(crate) mod find;
#[cfg(windows)]
mod job;

pub(crate) use command::{cmd, Argv};

/// How Python 3 starts through `sh`'s PATH: `py -3`, `python` or `python3` on Windows (never
/// the Store's alias), `python3` or `python` elsewhere; the program found, and the
/// arguments before a script's.
pub(crate) fn python(sh: &xshell::Shell) -> Option<Argv> {
    let search = command::search_path(sh);
    let (launch, args) = find::python(&search, &find::is_program_file)?;
    Some(Argv::new(launch.path(), args))
}

use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

static STOP: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: all a signal handler may safely do.
    STOP.store(true, Ordering::SeqCst);
}

/// From now on, Ctrl-C and SIGTERM (Windows: Ctrl-C, Ctrl-Break, a closed console) ask to
/// stop rather than kill this process.
pub(crate) fn catch_stop_signals() {
    #[cfg(windows)]
    job::catch_console_events(&STOP);
    #[cfg(unix)]
    {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    }
}

/// Whether Ctrl-C or SIGTERM came.
pub(crate) fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Says that everything started has been stopped: on Windows, a closed console's handler
/// waits for this before letting the process end.
pub(crate) fn stopped_everything() {
    #[cfg(windows)]
    job::cleaned_up();
}

/// The hidden first argument with which a program supervises a child (see the module's
/// notes): `Tasks` hands it to [`supervise`].
#[cfg(unix)]
pub(crate) const SUPERVISE: &str = "__supervise";

/// A child started in its own process group (Windows: its own Job Object).
pub(crate) struct Group {
    pub(crate) child: Child,
    /// The job holding the child's tree; dropping it ends the tree.
    #[cfg(windows)]
    job: job::Job,
}

impl Group {
    /// Starts `command` (made by `cmd!`: the program already found) as a group.
    pub(crate) fn spawn(name: &str, mut command: std::process::Command) -> anyhow::Result<Group> {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        #[cfg(windows)]
        let job = job::Job::new().with_context(|| format!("creating a Windows job object for {name}"))?;
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        #[cfg(windows)]
        if let Err(e) = job.assign(&child) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            return Err(anyhow::Error::new(e).context(format!("putting {name} in its job object")));
        }
        Ok(Group {
            child,
            #[cfg(windows)]
            job,
        })
    }

    /// Starts `command` led by a supervisor (on Unix), so the group ends with this process
    /// even when it is killed outright; with a `prefix`, each line the child prints goes to
    /// this process's stderr after it (`backend | …`).
    pub(crate) fn spawn_supervised(
        name: &str,
        command: std::process::Command,
        prefix: Option<&str>,
    ) -> anyhow::Result<Group> {
        let mut command = supervised(command)?;
        if prefix.is_some() {
            command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        }
        let mut group = Group::spawn(name, command)?;
        if let Some(prefix) = prefix {
            let streams: [Option<Box<dyn std::io::Read + Send>>; 2] = [
                group.child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
                group.child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            ];
            for stream in streams.into_iter().flatten() {
                let prefix = prefix.to_string();
                std::thread::spawn(move || {
                    use std::io::BufRead;
                    for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                        eprintln!("{prefix} | {line}");
                    }
                });
            }
        }
        Ok(group)
    }

    /// Whether it has exited (and how), without waiting.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM to the whole group, then SIGKILL after `grace` (Windows: the whole job is
    /// terminated); always reaped.
    pub(crate) fn stop(&mut self, grace: Duration) {
        #[cfg(unix)]
        {
            let group = self.child.id() as libc::pid_t;
            // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
            unsafe { libc::kill(-group, libc::SIGTERM) };
            let start = Instant::now();
            while start.elapsed() < grace {
                if self.exited().is_some() && !group_alive(group) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: as above.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        #[cfg(windows)]
        {
            // No signal to ask a Windows tree to stop: the job ends every process in it.
            let _ = grace;
            self.job.terminate();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `command` run by this program's supervisor: the same program, arguments, folder and
/// environment, after `__supervise --`. (Windows: the command itself.)
// Consumed where there is no supervisor (Windows): the command itself is returned.
#[cfg_attr(unix, allow(clippy::needless_pass_by_value))]
fn supervised(command: std::process::Command) -> anyhow::Result<std::process::Command> {
    #[cfg(unix)]
    {
        let this = std::env::current_exe().context("finding this program, to supervise a child")?;
        let mut supervised = std::process::Command::new(this);
        supervised.arg(SUPERVISE).arg("--").arg(command.get_program()).args(command.get_args());
        if let Some(dir) = command.get_current_dir() {
            supervised.current_dir(dir);
        }
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => supervised.env(key, value),
                None => supervised.env_remove(key),
            };
        }
        supervised.stdin(std::process::Stdio::null());
        Ok(supervised)
    }
    #[cfg(not(unix))]
    Ok(command)
}

/// `__supervise -- PROGRAM ARGS…`: runs the program in this process group and exits with
/// its status; if this process's parent goes away first, stops the whole group (SIGTERM,
/// 5 s, SIGKILL). Its own SIGTERM and SIGINT are ignored once the child runs: a stop of the
/// group reaches the child, and the supervisor reports how it ended.
#[cfg(unix)]
pub(crate) fn supervise(args: &[String]) -> std::process::ExitCode {
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: {SUPERVISE} -- PROGRAM [ARGS…]");
        return std::process::ExitCode::from(2);
    };
    // SAFETY: getppid cannot fail and touches no memory.
    let parent = unsafe { libc::getppid() };
    let mut child = match std::process::Command::new(program).args(rest).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("error: starting {program}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // SAFETY: SIG_IGN is a valid disposition; set after the child started, which keeps the
    // default ones.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return std::process::ExitCode::from(
                status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1),
            );
        }
        // SAFETY: as above.
        if unsafe { libc::getppid() } != parent {
            // SAFETY: kill(2) with pid 0 signals this process group; no memory involved.
            unsafe { libc::kill(0, libc::SIGTERM) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) && !matches!(child.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: as above; this ends the supervisor too.
            unsafe { libc::kill(0, libc::SIGKILL) };
            return std::process::ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether any process of the group is left (signal 0 only asks).
#[cfg(unix)]
fn group_alive(group: libc::pid_t) -> bool {
    // SAFETY: signal 0 checks for existence and sends nothing.
    unsafe { libc::kill(-group, 0) == 0 }
}

/// Waits until `ready` says so, a stop is requested, or `timeout` passes.
pub(crate) fn wait_until(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while !ready() {
        if stop_requested() {
            anyhow::bail!("stopped while waiting for {what}");
        }
        if start.elapsed() > timeout {
            anyhow::bail!("{what} was not ready after {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Whether an HTTP server answers `GET /` on 127.0.0.1:`port` with a success.
pub(crate) fn http_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 2")
}

/// Whether an HTTP server answers on 127.0.0.1:`port`, whatever its status: a relay that
/// accepts the connection but finds no backend behind it closes it without an answer.
pub(crate) fn http_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"GET / HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 7];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1."
}

/// Whether a Unix socket accepts connections.
#[cfg(unix)]
pub(crate) fn socket_accepts(path: &camino::Utf8Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

#[cfg(not(unix))]
pub(crate) fn socket_accepts(path: &camino::Utf8Path) -> bool {
    path.exists()
}

/// A port on 127.0.0.1 that nothing listens on right now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree (cmd.exe, and the ping it starts) is one job: stopping the group ends both, not
    /// only the child. Run under Wine by the tool's suite.
    #[test]
    #[cfg(windows)]
    fn a_group_ends_its_whole_tree_on_windows() {
        let mut command = std::process::Command::new("cmd.exe");
        command.args(["/d", "/c", "ping -n 60 127.0.0.1 >nul"]);
        let mut group = Group::spawn("a tree", command).unwrap();
        let start = Instant::now();
        while group.job.active_processes().unwrap() < 2 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(group.job.active_processes().unwrap(), 2, "cmd.exe and its ping, in the job");
        group.stop(Duration::from_secs(1));
        let start = Instant::now();
        while group.job.active_processes().unwrap() > 0 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(group.job.active_processes().unwrap(), 0, "the whole tree ended");
    }

    /// The same on Unix: a process group (sh, and the sleep it starts) ends whole.
    #[test]
    #[cfg(unix)]
    fn a_group_ends_its_whole_tree_on_unix() {
        let mut command = std::process::Command::new("sh");
        command.args(["-c", "sleep 60 & echo $!; wait"]).stdout(std::process::Stdio::piped());
        let mut group = Group::spawn("a tree", command).unwrap();
        let mut line = String::new();
        let stdout = group.child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let grandchild: libc::pid_t = line.trim().parse().unwrap();
        // Running: there, and (where /proc tells) not a zombie waiting for a reaper.
        let running = || {
            // SAFETY: signal 0 only asks whether the process exists.
            let there = unsafe { libc::kill(grandchild, 0) } == 0;
            let zombie = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            });
            there && !zombie
        };
        assert!(running(), "the sleep runs");
        group.stop(Duration::from_secs(1));
        let start = Instant::now();
        while running() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!running(), "the grandchild ended with the group");
    }
}
