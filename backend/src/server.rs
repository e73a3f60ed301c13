//! Listening on the socket, and stopping cleanly: on SIGTERM (Docker stopping the container)
//! or SIGINT, stop accepting, let requests in flight finish, remove the socket file, exit.

use std::io::ErrorKind;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::api;

/// How long requests in flight may take to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn serve(socket: &Path) -> Result<(), String> {
    let listener = bind(socket)?;
    eprintln!("listening on {}", socket.display());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let stop_signal = stop_signal()?;
    tokio::spawn(async move {
        let name = stop_signal.await;
        eprintln!("{name}: finishing requests in flight, then stopping");
        let _ = stop_tx.send(true);
    });
    let mut draining = stop_rx.clone();
    let server = axum::serve(listener, api::router()).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let drain_deadline = async move {
        let _ = draining.wait_for(|stop| *stop).await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    let result = tokio::select! {
        result = server => result.map_err(|e| format!("serving on {}: {e}", socket.display())),
        () = drain_deadline => {
            eprintln!("requests still running after {DRAIN_TIMEOUT:?}; stopping anyway");
            Ok(())
        }
    };
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => eprintln!("could not remove {}: {e}", socket.display()),
    }
    eprintln!("stopped");
    result
}

/// Resolves with the signal's name when SIGTERM or SIGINT arrives.
fn stop_signal() -> Result<impl std::future::Future<Output = &'static str>, String> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// Binds the socket, replacing a stale socket file left by a backend that died.
fn bind(socket: &Path) -> Result<UnixListener, String> {
    let shown = socket.display();
    let dir = socket.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!(
            "cannot listen on {shown}: the folder {} does not exist (Docker Desktop creates \
             /run/guest-services in the backend's container; elsewhere, pass --socket PATH)",
            dir.display()
        ));
    }
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return Err(format!("another server is already listening on {shown}"));
            }
            std::fs::remove_file(socket)
                .map_err(|e| format!("cannot remove the stale socket {shown}: {e}"))?;
            eprintln!("removed a stale socket file at {shown}");
        }
        Ok(_) => return Err(format!("{shown} exists and is not a socket; refusing to replace it")),
        Err(_) => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(socket).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => {
            format!("cannot create {shown}: the folder {} is not writable by this user", dir.display())
        }
        _ => format!("cannot listen on {shown}: {e}"),
    })?;
    listener.set_nonblocking(true).map_err(|e| format!("cannot listen on {shown}: {e}"))?;
    UnixListener::from_std(listener).map_err(|e| format!("cannot listen on {shown}: {e}"))
}
