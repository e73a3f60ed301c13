//! The tool on Windows, where most authors work, proven here under Wine: its unit tests
//! built for `x86_64-pc-windows-gnu` and run, and its Windows build run as an author on
//! Windows runs it: `doctor`, `dist` of an extension with a UI and `check`.
//!
//! Where this proof ends: under Wine a Windows program can start a Linux program but gets no
//! handle to wait for it, so cargo, rustc, node and npm cannot be the real ones. They are
//! Windows stand-ins (a small C program, built here with MinGW): `cargo.exe` and `rustc.exe`
//! answer with this workspace's real `cargo metadata` (its paths as Windows sees them) and
//! `rustc -vV`; `node.exe` records what it is given, behind an `npm.cmd` that is Node's own
//! shim line for line. So the extension under test has a UI and no Rust binaries (nothing
//! for cargo to compile). What runs for real under Wine: the tool's Windows build, Wine's
//! `cmd.exe` running the batch file, the program search, the builtin image writer, `check`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::common::wine::{self, windows_path};
use crate::common::*;

const TARGET: &str = "x86_64-pc-windows-gnu";

/// The stand-in, one program for every name (see the module's notes): records each call's
/// arguments (UTF-8, one per line, a blank line after) in `%STANDIN_DIR%\NAME.calls`; prints
/// `KEY.out` and writes the files `KEY.files` lists (in its current folder), KEY being the
/// name and all its arguments joined by `.`, else the name and the first one, else the name.
/// `node.exe` running `npm-cli.js` answers as `npm`.
const STANDIN_C: &str = r#"
#include <windows.h>
#include <stdio.h>
#include <wchar.h>
#define BIG 4096
static void utf8(FILE *f, const wchar_t *w) {
    static char buf[BIG * 4];
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, sizeof buf, NULL, NULL);
    if (n > 1) fwrite(buf, 1, n - 1, f);
}
static void key(wchar_t *out, const wchar_t *dir, const wchar_t *name, wchar_t **args, int n, const wchar_t *ext) {
    swprintf(out, BIG, L"%ls\\%ls", dir, name);
    size_t start = wcslen(dir) + 1;
    for (int i = 0; i < n; i++) { wcsncat(out, L".", BIG - wcslen(out) - 1); wcsncat(out, args[i], BIG - wcslen(out) - 1); }
    for (wchar_t *c = out + start; *c; c++) if (wcschr(L"\\/:*?\"<>| ", *c)) *c = L'_';
    wcsncat(out, ext, BIG - wcslen(out) - 1);
}
static void make_files(const wchar_t *list) {
    FILE *f = _wfopen(list, L"rb");
    if (!f) return;
    char line[BIG];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        for (char *c = line; *c; c++) if (*c == '/') { *c = 0; CreateDirectoryA(line, NULL); *c = '/'; }
        FILE *out = fopen(line, "wb");
        if (out) { fprintf(out, "written by the stand-in: %s\n", line); fclose(out); }
    }
    fclose(f);
}
int wmain(int argc, wchar_t **argv) {
    static wchar_t dir[BIG], name[BIG], path[BIG];
    if (!GetEnvironmentVariableW(L"STANDIN_DIR", dir, BIG)) { fputs("STANDIN_DIR is not set\n", stderr); return 99; }
    const wchar_t *self = argv[0];
    for (const wchar_t *p = argv[0]; *p; p++) if (*p == L'\\' || *p == L'/') self = p + 1;
    wcsncpy(name, self, BIG - 1);
    wchar_t *dot = wcsrchr(name, L'.');
    if (dot && !_wcsicmp(dot, L".exe")) *dot = 0;
    wchar_t **args = argv + 1;
    int n = argc - 1;
    if (n > 0 && wcsstr(args[0], L"npm-cli.js")) { wcscpy(name, L"npm"); args++; n--; }
    swprintf(path, BIG, L"%ls\\%ls.calls", dir, name);
    FILE *calls = _wfopen(path, L"ab");
    if (calls) { for (int i = 0; i < n; i++) { utf8(calls, args[i]); fputc('\n', calls); } fputc('\n', calls); fclose(calls); }
    int tries[3] = { n, n > 0 ? 1 : 0, 0 };
    for (int t = 0; t < 3; t++) {
        key(path, dir, name, args, tries[t], L".files");
        make_files(path);
        key(path, dir, name, args, tries[t], L".out");
        FILE *answer = _wfopen(path, L"rb");
        if (answer) {
            char buf[65536]; size_t got;
            while ((got = fread(buf, 1, sizeof buf, answer)) > 0) fwrite(buf, 1, got, stdout);
            fclose(answer);
            return 0;
        }
    }
    return 0;
}
"#;

/// Node's `npm.cmd`, as the Windows installer ships it (the lines that matter): node.exe
/// beside it runs npm's CLI with the batch file's arguments.
const NPM_CMD: &str =
    "@ECHO off\r\nSETLOCAL\r\n\"%~dp0\\node.exe\" \"%~dp0\\node_modules\\npm\\bin\\npm-cli.js\" %*\r\n";

/// The UI's build command in the extension under test: arguments with spaces, letters
/// outside ASCII and one of cmd.exe's operators, which npm.cmd must hand on unchanged.
const UI_BUILD: [&str; 6] = ["npm", "run", "build", "--", "--mode", "José Núñez & co"];

/// cargo for the Windows target, linked by MinGW, in a target folder of its own.
fn cargo_for_windows() -> Command {
    require("x86_64-w64-mingw32-gcc");
    let mut command = Command::new("cargo");
    command
        .current_dir(repo_root())
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", "x86_64-w64-mingw32-gcc")
        .env("CARGO_TARGET_DIR", windows_target_dir());
    command
}

/// The Windows builds' target folder: under target/, unless the checkout's path has a space:
/// rustc hands MinGW's dlltool (which makes the import libraries of Windows' DLLs) a
/// command line that splits such a path, so then it is one under the temporary folder.
fn windows_target_dir() -> PathBuf {
    let inside = repo_root().join("target/windows-tests");
    if !inside.to_str().unwrap().contains(char::is_whitespace) {
        return inside;
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    repo_root().hash(&mut hasher);
    std::env::temp_dir().join(format!("xtask-windows-tests-{:016x}", hasher.finish()))
}

/// The tool's Windows build, built once per run (the two tests here build in one target
/// folder, one at a time).
fn windows_tool() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let _turn = one_build_at_a_time();
        let output = run(cargo_for_windows().args([
            "build",
            "--quiet",
            "--target",
            TARGET,
            "--package",
            "docker-extension-tool",
            "--bin",
            "docker-extension-tool",
        ]));
        assert_eq!(output.code, 0, "building the tool for Windows:\n{}", output.stderr);
        windows_target_dir().join(format!("{TARGET}/debug/docker-extension-tool.exe"))
    })
}

fn one_build_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static BUILDS: Mutex<()> = Mutex::new(());
    BUILDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The tool's unit tests and its architecture test, built for Windows and run under Wine:
/// the program search over real Windows paths and PATHEXT, a `.cmd` run through Wine's
/// cmd.exe with its arguments quoted (an `&` in one stays text), paths compared and joined the
/// Windows way, the image writer and reader, the config, the plan; the layering, read from
/// the sources by the Windows build.
#[test]
fn the_tools_unit_tests_pass_on_windows_under_wine() {
    require("wine");
    let dir = TempDir::new("windows-unit-tests");
    let dll = wine::build_shim(dir.path());
    // cargo's runner for the target: the shim beside the test executable (in this target
    // folder of the tests' own), then Wine. In the Windows target folder, whose path has no
    // space: cargo splits a runner's value into words.
    let runner = windows_target_dir().join("run-under-wine.sh");
    std::fs::create_dir_all(windows_target_dir()).unwrap();
    std::fs::write(
        &runner,
        format!(
            "#!/bin/sh\nexe=\"$1\"; shift\ncp -f '{}' \"$(dirname \"$exe\")/\"\nWINEDEBUG=-all WINEPREFIX='{}' WINEDLLOVERRIDES='mscoree,mshtml=' exec wine \"$exe\" \"$@\"\n",
            dll.display(),
            wine::prefix().display()
        ),
    )
    .unwrap();
    make_executable(&runner);
    let output = {
        let _turn = one_build_at_a_time();
        run(cargo_for_windows()
            .args([
                "test",
                "--target",
                TARGET,
                "--package",
                "docker-extension-tool",
                "--lib",
                "--test",
                "tool",
            ])
            .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", &runner))
    };
    assert_eq!(output.code, 0, "the unit tests under Wine:\n{}\n{}", output.stdout, output.stderr);
    let passed: usize = output
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(passed >= 100, "{}", output.stdout);
    for ran in [
        "util::process::command::tests::a_batch_file_is_found_by_its_name_and_gets_its_arguments_quoted ... ok",
        "util::process::find::tests::on_windows_npm_is_the_cmd_shim_found_through_pathext ... ok",
        "context::ownership::tests::where_names_ignore_case_another_spelling_is_the_same_folder ... ok",
        // A process tree in a Job Object: stopping the group ends cmd.exe and its ping.
        "util::process::tests::a_group_ends_its_whole_tree_on_windows ... ok",
        // The architecture test, in a plain `cargo test` of the tool, on Windows too.
        "architecture::layers_are_used_downward_only_and_no_module_cycle ... ok",
        "architecture::programs_are_started_by_the_process_module_only ... ok",
    ] {
        assert!(output.stdout.contains(ran), "{ran}\n{}", output.stdout);
    }
}

/// Paths in JSON as a Windows program sees them: every string naming a place under `/`
/// becomes `Z:\…`.
fn as_seen_from_windows(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if s.starts_with('/') => Value::String(windows_path(Path::new(&s))),
        Value::Array(items) => Value::Array(items.into_iter().map(as_seen_from_windows).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, as_seen_from_windows(v))).collect())
        }
        other => other,
    }
}

/// The calls a stand-in recorded: each call's arguments.
fn calls(answers: &Path, name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(answers.join(format!("{name}.calls"))).unwrap_or_default();
    text.split("\n\n").filter(|c| !c.is_empty()).map(|c| c.lines().map(String::from).collect()).collect()
}

/// A copy of an OCI archive with one byte of its first layer changed: its digest no longer
/// matches.
fn with_a_corrupt_layer(from: &Path, to: &Path) {
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut out = tar::Builder::new(std::fs::File::create(to).unwrap());
    let mut corrupted = false;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut bytes = vec![];
        entry.read_to_end(&mut bytes).unwrap();
        if !corrupted && bytes.starts_with(&[0x1f, 0x8b]) && bytes.len() > 64 {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            corrupted = true;
        }
        header.set_cksum();
        out.append(&header, bytes.as_slice()).unwrap();
    }
    out.finish().unwrap();
    assert!(corrupted, "a gzip layer to corrupt");
}

#[test]
fn on_windows_the_tool_finds_npm_cmd_builds_the_same_image_and_checks_it() {
    require("wine");
    let tool = windows_tool();
    let dir = TempDir::new("windows-tool");
    wine::build_shim(dir.path());
    std::fs::copy(tool, dir.join("docker-extension-tool.exe")).unwrap();

    // An extension with a UI and no Rust binaries, in a folder with spaces and accents.
    let ws = dir.join("Dépôt de José Núñez/ui only ext");
    // (In the workspace's own target folder, where `new` may write: whatever target folder
    // this test binary was built in.)
    let new = run(xtask(
        &repo_root(),
        &[
            "new",
            ws.to_str().unwrap(),
            "--image",
            "acme/ui-only",
            "--title",
            "UI Only",
            "--vendor",
            "Acme",
            "--no-backend",
            "--no-host-binaries",
            "--tool-path",
            repo_root().join("docker-extension-tool").to_str().unwrap(),
        ],
    )
    .env_remove("CARGO_TARGET_DIR"));
    new.assert_ok();
    let manifest = ws.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let build = format!("build = {}", serde_json::to_string(&UI_BUILD).unwrap());
    assert!(text.contains(r#"build = ["npm", "run", "build"]"#), "{text}");
    std::fs::write(&manifest, text.replace(r#"build = ["npm", "run", "build"]"#, &build)).unwrap();

    // The stand-ins and what they answer.
    let (bin, answers) = (dir.join("bin"), dir.join("answers"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&answers).unwrap();
    let source = dir.join("standin.c");
    std::fs::write(&source, STANDIN_C).unwrap();
    let standin = dir.join("standin.exe");
    run(Command::new("x86_64-w64-mingw32-gcc").args(["-municode", "-O2", "-o"]).arg(&standin).arg(&source))
        .assert_ok();
    for name in ["cargo.exe", "rustc.exe", "node.exe"] {
        std::fs::copy(&standin, bin.join(name)).unwrap();
    }
    std::fs::write(bin.join("npm.cmd"), NPM_CMD).unwrap();
    let metadata = |extra: &[&str]| {
        let output = run(Command::new("cargo")
            .args(["metadata", "--format-version", "1"])
            .args(extra)
            .current_dir(&ws)
            .env_remove("CARGO_TARGET_DIR"));
        as_seen_from_windows(serde_json::from_str(&output.assert_ok().stdout).unwrap()).to_string()
    };
    let answer = |key: &str, text: &str| std::fs::write(answers.join(key), text).unwrap();
    answer("cargo.metadata.--format-version.1.--no-deps.out", &metadata(&["--no-deps"]));
    answer("cargo.metadata.out", &metadata(&[]));
    let rustc = String::from_utf8(Command::new("rustc").arg("-vV").output().unwrap().stdout).unwrap();
    answer("rustc.-vV.out", &rustc.replace("x86_64-unknown-linux-gnu", TARGET));
    std::fs::create_dir_all(dir.join(format!("sysroot/lib/rustlib/{TARGET}/lib"))).unwrap();
    answer("rustc.--print.sysroot.out", &windows_path(&dir.join("sysroot")));
    answer("node.--version.out", "v22.11.0\n");
    answer("npm.--version.out", "10.9.0\n");
    answer("npm.ci.files", "node_modules/.package-lock.json\n");
    answer("npm.run.files", "dist/index.html\ndist/assets/app.js\n");
    let (standin_dir, path) = (windows_path(&answers), windows_path(&bin));
    let env = [
        ("STANDIN_DIR", standin_dir.as_str()),
        ("WINEPATH", path.as_str()),
        ("SOURCE_DATE_EPOCH", "1700000000"),
    ];
    let exe = windows_path(&dir.join("docker-extension-tool.exe"));
    let tool = |args: &[&str]| wine::run(&ws, &[&[exe.as_str()], args].concat(), &env);

    // doctor: npm is found as npm.cmd and node as node.exe; every fix is Windows's.
    let doctor = tool(&["doctor"]);
    assert_eq!(doctor.code, 0, "{doctor:?}");
    let line = |name: &str| {
        doctor
            .stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("{name}: {doctor:?}"))
    };
    assert!(line("node").starts_with("ok") && line("node").ends_with("v22.11.0"), "{doctor:?}");
    assert!(line("npm").starts_with("ok") && line("npm").ends_with("10.9.0"), "{doctor:?}");
    assert!(line("rustup").contains("fix: winget install Rustlang.Rustup"), "{doctor:?}");
    for unix in ["apt-get", "sudo", "curl", "python3", "| sh"] {
        assert!(!doctor.stdout.contains(unix), "a fix for another OS ({unix}): {doctor:?}");
    }
    assert!(!doctor.stdout.contains("zig"), "no Rust binaries, no zig: {doctor:?}");
    assert!(
        doctor.stdout.contains("cargo xtask dist can build the image (with its builtin engine"),
        "{doctor:?}"
    );

    // The dry run says what really runs: npm is the batch file, run by cmd.exe.
    let dry = tool(&["dist", "--dry-run", "--engine", "builtin"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let npm_cmd = format!("{}\\npm.cmd (a batch file: cmd.exe runs it", windows_path(&bin));
    assert!(dry.stdout.lines().any(|l| l.trim_start().starts_with("npm") && l.contains(&npm_cmd)), "{dry:?}");

    // dist: the UI built through npm.cmd, its arguments exactly as configured.
    std::fs::remove_file(answers.join("npm.calls")).unwrap();
    let archive = dir.join("from-windows.tar");
    let dist = tool(&["dist", "--engine", "builtin", "--oci", &windows_path(&archive)]);
    assert_eq!(dist.code, 0, "{dist:?}");
    let npm = calls(&answers, "npm");
    let build: Vec<String> = UI_BUILD[1..].iter().map(|a| (*a).to_string()).collect();
    assert_eq!(
        npm,
        [vec!["--version".to_string()], vec!["ci".into(), "--no-audit".into(), "--no-fund".into()], build]
    );
    assert!(
        dist.stderr.contains(&format!("Laying out {}", windows_path(&ws.join("target/extension")))),
        "Windows paths, no \\\\?\\: {dist:?}"
    );
    assert!(!format!("{}{}", dist.stdout, dist.stderr).contains(r"\\?\"), "{dist:?}");

    // The same sources make the same image on Linux: byte for byte.
    let linux_bin = dir.join("linux-bin");
    std::fs::create_dir_all(&linux_bin).unwrap();
    std::fs::write(
        linux_bin.join("npm"),
        "#!/bin/sh\ncase \"$1\" in\n  --version) echo 10.9.0 ;;\n  ci) mkdir -p node_modules && echo 'written by the stand-in: node_modules/.package-lock.json' > node_modules/.package-lock.json ;;\n  run) mkdir -p dist/assets && echo 'written by the stand-in: dist/index.html' > dist/index.html && echo 'written by the stand-in: dist/assets/app.js' > dist/assets/app.js ;;\nesac\n",
    )
    .unwrap();
    make_executable(&linux_bin.join("npm"));
    std::fs::remove_dir_all(ws.join("ui/node_modules")).unwrap();
    std::fs::remove_dir_all(ws.join("ui/dist")).unwrap();
    let linux_archive = dir.join("from-linux.tar");
    let path = format!("{}:{}", linux_bin.display(), std::env::var("PATH").unwrap());
    let linux = run(xtask(&ws, &["dist", "--engine", "builtin", "--oci", linux_archive.to_str().unwrap()])
        .env("PATH", path)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("CARGO_TARGET_DIR"));
    linux.assert_ok();
    assert!(
        std::fs::read(&archive).unwrap() == std::fs::read(&linux_archive).unwrap(),
        "the Windows build's image differs from Linux's: {}\n{}",
        dist.stdout,
        linux.stdout
    );

    // check: a good archive passes; a corrupt one gives the same problems as on Linux.
    let checked = tool(&["check", &windows_path(&archive)]);
    assert_eq!(checked.code, 0, "{checked:?}");
    assert!(checked.stdout.contains("no problems found"), "{checked:?}");
    let broken = dir.join("broken.tar");
    with_a_corrupt_layer(&archive, &broken);
    let on_windows = tool(&["check", &windows_path(&broken)]);
    let on_linux = run(&mut xtask(&ws, &["check", broken.to_str().unwrap()]));
    assert_eq!((on_windows.code, on_linux.code), (1, 1), "{on_windows:?}\n{on_linux:?}");
    let problems = |output: &Output, path: &str| -> Vec<String> {
        format!("{}{}", output.stdout, output.stderr)
            .replace(path, "ARCHIVE")
            .lines()
            .map(String::from)
            .collect()
    };
    let (windows_said, linux_said) =
        (problems(&on_windows, &windows_path(&broken)), problems(&on_linux, broken.to_str().unwrap()));
    assert!(linux_said.iter().any(|l| l.contains("sha256")), "{linux_said:#?}");
    assert_eq!(windows_said, linux_said);
}
