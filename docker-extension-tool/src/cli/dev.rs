//! `cargo xtask dev`: the local dev loop (see `dev`).

use camino::Utf8PathBuf;
use xshell::Shell;

use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::dev::{self, Options};

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Dev {
    pub browser: bool,
    pub once: bool,
    pub debug: bool,
    pub port: Option<u16>,
    /// `--events FILE`: one JSON line per event.
    pub events: Option<Utf8PathBuf>,
}

impl Cmd for Dev {
    const SPEC: Spec = Spec::new(
        "dev",
        "The local dev loop: build for this machine, install into Docker Desktop (or\n\
         run in a plain browser with --browser), rebuild on every change",
        "[--browser] [--once] [--debug] [--port PORT] [--events FILE]",
        "The local dev loop. Builds for this machine only (this OS's host binaries, the backend for\n\
         this CPU's Linux, cargo's dev profile), writes the one-platform image and loads it as\n\
         IMAGE:dev, then:\n\
         - with Docker Desktop: installs the extension (or updates it when it is installed), runs\n  \
         the UI's dev server (Vite: hot reload) and points Docker Desktop's tab at it;\n\
         - with --browser, no Docker Desktop needed: runs the backend as Docker Desktop does (a\n  \
         container from the image when a Docker engine answers, else a local process) and serves\n  \
         the UI with a stand-in Docker Desktop at a local URL.\n\
         Every change to the backend, the host binaries, extension/ or the config rebuilds what it\n\
         touches and updates the extension (or restarts the backend), one line each. UI changes are\n\
         Vite's. Ctrl-C (or SIGTERM) resets Docker Desktop's tab and stops every process it started.",
    )
    .options(&[
        Opt::switch("--browser", "Run in a plain browser, without Docker Desktop"),
        Opt::switch(
            "--once",
            "Build, load, install or update, then exit (scripts, CI); with --browser:\n\
             build, start the backend and the UI's dev server, and stop once both\n\
             answer (a smoke test of the dev loop)",
        ),
        Opt::switch("--debug", "Also open devtools on the tab (docker extension dev debug)"),
        Opt::value("--port", "PORT", "The UI dev server's port (default: a free one)"),
        Opt::value("--events", "FILE", "Append a JSON line to FILE for each event (ready, each rebuild)"),
    ]);

    fn from_args(args: &mut Parsed) -> Result<Dev, UsageError> {
        let port = match args.string("--port") {
            None => None,
            Some(value) => match value.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => return Err(args.error(format!("--port takes a port number (1-65535), not `{value}`"))),
            },
        };
        let dev = Dev {
            browser: args.switch("--browser"),
            once: args.switch("--once"),
            debug: args.switch("--debug"),
            port,
            events: args.path("--events"),
        };
        if dev.browser && dev.debug {
            return Err(args.error(
                "--debug is for Docker Desktop's tab: --browser runs in a browser, with its own devtools",
            ));
        }
        if dev.once && !dev.browser && (dev.debug || dev.port.is_some()) {
            return Err(args.error(
                "--once installs and exits: it starts no dev server, so --debug and --port do not apply",
            ));
        }
        Ok(dev)
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl Dev {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let options = Options {
            browser: self.browser,
            once: self.once,
            debug: self.debug,
            port: self.port,
            events: self.events,
        };
        dev::run(sh, options)
    }
}
