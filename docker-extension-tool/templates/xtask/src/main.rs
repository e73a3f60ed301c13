//! This extension's build tasks: `cargo xtask help` lists them. The commands (`dist`, `dev`,
//! `check`, `test`, …) are the build tool's, `docker-extension-tool`, pinned in Cargo.lock
//! (`xtask/Cargo.toml` says where it comes from). Tasks of your own go here, beside them.

use std::process::ExitCode;

use docker_extension_tool::{TaskContext, Tasks};

fn main() -> ExitCode {
    Tasks::new()
        .task(
            "hello",
            "An example task of this extension's own: say where and at which commit it runs",
            hello,
        )
        .run()
}

/// `cargo xtask hello [NAME]`: an example of a task of your own (change it, or remove it).
/// It runs in the workspace's root folder; run programs with xshell's `cmd!`, never a shell.
fn hello(task: &TaskContext) -> anyhow::Result<()> {
    let sh = &task.sh;
    let name = task.args().first().map_or("world", String::as_str);
    let commit = xshell::cmd!(sh, "git rev-parse --short HEAD").quiet().ignore_stderr().read();
    let commit = commit.unwrap_or_else(|_| "no commit yet".to_string());
    println!("Hello, {name}, from {} ({commit})", task.root());
    Ok(())
}
