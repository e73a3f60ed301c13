//! The dev relay: how `cargo xtask dev --browser` reaches a backend container on every OS.
//!
//! Docker Desktop runs containers in a VM, so a Unix socket a container makes in a bind
//! mount cannot be connected to from the host (macOS, Windows, Docker Desktop for Linux).
//! The dev image (never a release image) carries this relay. It runs in a container of its
//! own beside the backend, sharing the backend's socket folder (a volume, not a bind
//! mount), and relays each TCP connection on a published port to the backend's Unix
//! socket. The backend keeps `--network none`, as in Docker Desktop.
//!
//! ```text
//! dev-relay --listen ADDR --socket PATH [--open DIR]
//! ```
//!
//! `--open DIR` first makes DIR writable by every user (mode 1777), so a backend running as
//! the developer's uid can make its socket there. A connection made while the backend is
//! not listening (it is restarting) is closed at once: the harness retries it.
//!
//! Standard library only: the tool writes this file into a package of its own and builds it
//! with the backend's builder and target, for the dev image.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

const USAGE: &str = "usage: dev-relay --listen ADDR --socket PATH [--open DIR]";

fn main() -> ExitCode {
    let mut listen = None;
    let mut socket = None;
    let mut open = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--listen" => &mut listen,
            "--socket" => &mut socket,
            "--open" => &mut open,
            _ => {
                eprintln!("dev-relay: unexpected argument `{arg}`\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        *slot = args.next();
    }
    let (Some(listen), Some(socket)) = (listen, socket) else {
        eprintln!("dev-relay: --listen and --socket are needed\n{USAGE}");
        return ExitCode::from(2);
    };
    if let Some(dir) = open {
        use std::os::unix::fs::PermissionsExt;
        let made = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)));
        if let Err(e) = made {
            eprintln!("dev-relay: cannot open {dir} to every user: {e}");
            return ExitCode::FAILURE;
        }
    }
    let listener = match TcpListener::bind(&listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("dev-relay: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("dev-relay: {listen} -> {socket}");
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let socket = socket.clone();
        std::thread::spawn(move || relay(client, &socket));
    }
    ExitCode::SUCCESS
}

/// Copies both ways until each side has said all it has to say.
fn relay(client: TcpStream, socket: &str) {
    let Ok(backend) = UnixStream::connect(socket) else {
        // Not listening (yet): close, so the caller retries.
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(client_reader), Ok(backend_reader)) = (client.try_clone(), backend.try_clone()) else { return };
    let upstream = std::thread::spawn(move || {
        copy(client_reader, &backend);
        let _ = backend.shutdown(Shutdown::Write);
    });
    copy(backend_reader, &client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = upstream.join();
}

fn copy(mut from: impl Read, mut to: impl Write) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
