//! Running Windows programs here, under Wine (Debian's `wine`, `wine64`), for the tests that
//! run the Windows builds: host binaries, the tool itself and its unit tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{repo_root, require, Output, TempDir};

/// The stand-in for `bcryptprimitives.dll`, which Wine 8 lacks and Rust's std (1.78 and
/// later) imports for `ProcessPrng`: a few lines over `SystemFunction036` (RtlGenRandom).
/// Built here, placed beside an exe in a test's own folder only (never in an image).
pub const PRNG_SHIM: &str = "#include <windows.h>\n\
     BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);\n\
     __declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {\n\
     \treturn SystemFunction036(data, (ULONG)length);\n}\n";

/// Builds `bcryptprimitives.dll` (the shim) into `dir`.
pub fn build_shim(dir: &Path) -> PathBuf {
    require("x86_64-w64-mingw32-gcc");
    let source = dir.join("prng.c");
    std::fs::write(&source, PRNG_SHIM).unwrap();
    let dll = dir.join("bcryptprimitives.dll");
    super::run(
        Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-o"])
            .arg(&dll)
            .arg(&source)
            .arg("-ladvapi32"),
    )
    .assert_ok();
    dll
}

/// A test folder holding the shim, for Rust programs built for Windows to run from.
pub fn prepared_dir(name: &str) -> TempDir {
    require("wine");
    let dir = TempDir::new(name);
    build_shim(dir.path());
    dir
}

/// The prefix (Wine's C: drive and registry) every test shares: its first start takes
/// ~15 s.
pub fn prefix() -> PathBuf {
    repo_root().join("target/wine-prefix")
}

/// `wine ARGS` in `dir`, with `env` set (Wine passes the environment to Windows programs;
/// `WINEPATH` is prepended to their PATH).
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new("wine");
    command
        .args(args)
        .current_dir(dir)
        .env("WINEDEBUG", "-all")
        .env("WINEPREFIX", prefix())
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        // The cargo running these tests (a Linux program, which a Windows program cannot
        // wait for): cargo_metadata would start it rather than look on PATH.
        .env_remove("CARGO")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    command
}

/// Runs `wine ARGS` in `dir` to its end.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    super::run(&mut run_in(dir, args, env))
}

/// A path here as a Windows program under Wine sees it: on the `Z:` drive, `\` between
/// names.
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.to_str().unwrap().replace('/', "\\"))
}
