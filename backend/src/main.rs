//! The extension's backend. Docker Desktop runs it in a container of the extension's own
//! image, in its VM, and the UI reaches it through `ddClient.extension.vm.service`, which
//! forwards to the Unix socket named in metadata.json (`/run/guest-services/<socket>`).

#[cfg(unix)]
mod api;
#[cfg(unix)]
mod server;

use std::process::ExitCode;

const USAGE: &str = "\
Usage: rust-starter-backend [--socket PATH]

Serves the extension's API on a Unix socket.

Options:
  --socket PATH   The socket to listen on (default: /run/guest-services/backend.sock)
  --help          Print this help
  --version       Print the version";

pub const DEFAULT_SOCKET: &str = "/run/guest-services/backend.sock";

fn main() -> ExitCode {
    let mut socket = DEFAULT_SOCKET.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" | "-V" => {
                println!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            "--socket" => match args.next() {
                Some(path) if !path.is_empty() => socket = path,
                _ => return usage_error("--socket needs a path"),
            },
            other => match other.strip_prefix("--socket=") {
                Some(path) if !path.is_empty() => socket = path.to_string(),
                _ => return usage_error(&format!("unexpected argument `{other}`")),
            },
        }
    }
    run(std::path::Path::new(&socket))
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

#[cfg(unix)]
fn run(socket: &std::path::Path) -> ExitCode {
    // One thread is plenty for a UI's requests, and keeps the footprint in the VM small.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(server::serve(socket)),
        Err(e) => Err(format!("cannot start the async runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(unix))]
fn run(_: &std::path::Path) -> ExitCode {
    eprintln!("error: the backend runs in Docker Desktop's Linux VM; build it for Linux");
    ExitCode::FAILURE
}
