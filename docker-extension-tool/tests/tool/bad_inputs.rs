//! Every bad input gets one clear error naming the input, what is wrong and how to fix it,
//! a non-zero exit, and leaves the previous build context exactly as it was, and every
//! other file of the workspace (tracked or not) byte-identical: dist never removes or
//! replaces what it did not make.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::fixture::{aarch64_elf_header, fake_linker, narrow_path, Fixture};
use crate::common::*;

/// A good context from the unbroken fixture: what each case starts with.
fn good_context() -> &'static Path {
    static GOOD: OnceLock<(Fixture, PathBuf)> = OnceLock::new();
    &GOOD
        .get_or_init(|| {
            let fixture = Fixture::new("good");
            let context = fixture.build_context();
            assert!(context.join("amd64/linux/hello").is_file());
            (fixture, context)
        })
        .1
}

/// How a case runs the xtask.
enum Env {
    /// The test machine as it is.
    Normal,
    /// A recording stand-in docker on PATH, answering per these variables.
    StandIn(&'static [(&'static str, &'static str)]),
    /// PATH holding only these programs.
    Only(&'static [&'static str]),
}

/// What happens to the previous context: every case leaves it untouched.
#[derive(PartialEq)]
enum Context {
    Untouched,
}

struct Case {
    name: &'static str,
    setup: fn(&Fixture),
    args: &'static [&'static str],
    env: Env,
    exit: i32,
    /// Each must appear in stderr.
    says: &'static [&'static str],
    context: Context,
}

const TOOLS: &[&str] = &["cargo", "rustc", "rustup", "cargo-zigbuild", "python3"];

fn cases() -> Vec<Case> {
    use Context::*;
    use Env::*;
    vec![
        Case {
            name: "unknown config key",
            setup: |f| f.edit("Cargo.toml", "title = \"Fixture\"", "title = \"Fixture\"\ntitel = \"Typo\""),
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension",
                "unknown field `titel`",
                "expected one of",
                "Cargo.toml",
            ],
        },
        Case {
            name: "unknown key in a nested table",
            setup: |f| {
                f.edit("Cargo.toml", "socket = \"fixture.sock\"", "socket = \"fixture.sock\"\nport = 8080");
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["`workspace.metadata.extension.backend", "unknown field `port`"],
        },
        Case {
            name: "missing icon",
            setup: |f| std::fs::remove_file(f.root().join("extension/icon.svg")).unwrap(),
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.icon`",
                "extension/icon.svg does not exist",
                "add the icon there",
            ],
        },
        Case {
            name: "empty category",
            setup: |f| f.edit("Cargo.toml", "categories = [\"utility-tools\"]", "categories = [\"\"]"),
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["`workspace.metadata.extension.categories[0]`", "a category is empty"],
        },
        Case {
            name: "unknown category",
            setup: |f| {
                f.edit("Cargo.toml", "categories = [\"utility-tools\"]", "categories = [\"utilities\"]");
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["`utilities` is not a Marketplace category", "use one of: ci-cd", "utility-tools"],
        },
        Case {
            name: "bad URL",
            setup: |f| {
                f.edit(
                    "Cargo.toml",
                    "publisher-url = \"https://example.com\"",
                    "publisher-url = \"example.com\"",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.publisher-url`",
                "`example.com` is not an http(s) URL",
                "https://host/path",
            ],
        },
        Case {
            name: "bad tag in the config",
            setup: |f| {
                f.edit(
                    "Cargo.toml",
                    "image = \"example/fixture\"",
                    "image = \"example/fixture\"\ntag = \"-1.0\"",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["`workspace.metadata.extension.tag`", "`-1.0` is not a valid image tag"],
        },
        Case {
            name: "description linked to a file outside",
            setup: |f| {
                let secret = secret_outside(f);
                std::os::unix::fs::symlink(&secret, f.root().join("extension/description.html")).unwrap();
                f.edit(
                    "Cargo.toml",
                    "detailed-description = \"<p>Details</p>\"",
                    "detailed-description = { file = \"extension/description.html\" }",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.detailed-description`",
                "extension/description.html is a symbolic link to ",
                ".secret, outside the workspace",
                "copy the file into it",
            ],
        },
        Case {
            name: "icon linked to a file outside",
            setup: |f| {
                let secret = secret_outside(f);
                std::fs::remove_file(f.root().join("extension/icon.svg")).unwrap();
                std::os::unix::fs::symlink(&secret, f.root().join("extension/icon.svg")).unwrap();
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.icon`",
                "extension/icon.svg is a symbolic link to",
                "outside the workspace",
            ],
        },
        Case {
            name: "changelog reached through a linked folder",
            setup: |f| {
                let secret = secret_outside(f);
                std::os::unix::fs::symlink(secret.parent().unwrap(), f.root().join("extension/notes"))
                    .unwrap();
                let name = secret.file_name().unwrap().to_str().unwrap().to_string();
                f.edit(
                    "Cargo.toml",
                    "changelog = \"<p>Changes</p>\"",
                    &format!("changelog = {{ file = \"extension/notes/{name}\" }}"),
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.changelog`",
                "through the symbolic link extension/notes",
                "outside the workspace",
            ],
        },
        Case {
            name: "compose file linked to a file outside",
            setup: |f| {
                let secret = secret_outside(f);
                std::os::unix::fs::symlink(&secret, f.root().join("extension/docker-compose.yaml")).unwrap();
                f.edit(
                    "Cargo.toml",
                    "socket = \"fixture.sock\"",
                    "socket = \"fixture.sock\"\ncompose-file = \"extension/docker-compose.yaml\"",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.backend.compose-file`",
                "is a symbolic link to",
                "outside the workspace",
            ],
        },
        Case {
            name: "description by an absolute path",
            setup: |f| {
                let secret = secret_outside(f);
                f.edit(
                    "Cargo.toml",
                    "detailed-description = \"<p>Details</p>\"",
                    &format!("detailed-description = {{ file = \"{}\" }}", secret.display()),
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.detailed-description`",
                "is an absolute path",
                "relative to",
            ],
        },
        Case {
            name: "changelog climbing out with ..",
            setup: |f| {
                let secret = secret_outside(f);
                let name = secret.file_name().unwrap().to_str().unwrap().to_string();
                f.edit(
                    "Cargo.toml",
                    "changelog = \"<p>Changes</p>\"",
                    &format!("changelog = {{ file = \"extension/../../{name}\" }}"),
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["`workspace.metadata.extension.changelog`", "climbs out of the workspace", "with `..`"],
        },
        Case {
            name: "a link in the UI's sources leads outside",
            setup: |f| {
                with_ui(f, "mkdir -p dist && cp src/*.txt dist/ && echo '<html></html>' > dist/index.html\n");
                let secret = secret_outside(f);
                std::os::unix::fs::symlink(&secret, f.root().join("ui/src/data.txt")).unwrap();
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["ui/src/data.txt is a symbolic link to", "outside the workspace", "the UI build"],
        },
        Case {
            name: "the UI build writes a link that leads outside",
            setup: |f| {
                let secret = secret_outside(f);
                with_ui(
                    f,
                    &format!("mkdir -p dist && echo '<html></html>' > dist/index.html && ln -sf '{}' dist/leak.txt\n", secret.display()),
                );
            },
            args: &["--no-image"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "ui/dist/leak.txt, which the UI build wrote, is a symbolic link to",
                "outside the workspace",
            ],
        },
        Case {
            name: "bad image repository in --tag",
            setup: |_| {},
            args: &["--tag", "Example/Fixture:1.0.0"],
            env: Normal,
            exit: 2,
            context: Untouched,
            says: &[
                "--tag Example/Fixture:1.0.0: `Example/Fixture` is not a valid image repository",
                "lowercase",
                "Usage: cargo xtask dist",
            ],
        },
        Case {
            name: "latest on push",
            setup: |_| {},
            args: &["--push", "--tag", "example/fixture:latest"],
            env: StandIn(&[]),
            exit: 1,
            context: Untouched,
            says: &["refusing to push", "`latest` is not a release tag", "--force"],
        },
        Case {
            name: "non-semver tag on push",
            setup: |_| {},
            args: &["--push", "--tag", "example/fixture:v1"],
            env: StandIn(&[]),
            exit: 1,
            context: Untouched,
            says: &["refusing to push", "`v1` is not a semver tag", "e.g. 1.2.3"],
        },
        Case {
            name: "tag already published",
            setup: |_| {},
            args: &["--push"],
            env: StandIn(&[("STANDIN_PUBLISHED", "example/fixture:1.2.3")]),
            exit: 1,
            context: Untouched,
            says: &["example/fixture:1.2.3 is already published", "Bump the version", "--force"],
        },
        Case {
            name: "docker driver on the classic image store",
            setup: |_| {},
            args: &[],
            env: StandIn(&[
                ("STANDIN_DRIVER", "docker"),
                ("STANDIN_DRIVER_STATUS", "[[Backing Filesystem extfs]]"),
            ]),
            exit: 1,
            context: Untouched,
            says: &[
                "`desktop-linux` uses the `docker` driver with the classic image store",
                "docker buildx create --name extensions --driver docker-container",
                "containerd image store",
            ],
        },
        Case {
            name: "Docker not started",
            setup: |_| {},
            args: &["--load"],
            env: StandIn(&[("STANDIN_DOCKER_DOWN", "1")]),
            exit: 1,
            context: Untouched,
            says: &[
                "Docker is not running (docker says: Cannot connect to the Docker daemon",
                "start Docker Desktop",
                "--engine buildah",
            ],
        },
        Case {
            name: "--no-sbom without --push",
            setup: |_| {},
            args: &["--load", "--no-sbom"],
            env: Normal,
            exit: 2,
            context: Untouched,
            says: &[
                "--attest, --no-sbom and --no-attest say what a push attaches",
                "Usage: cargo xtask dist",
            ],
        },
        Case {
            name: "load of two platforms on the classic image store",
            setup: |_| {},
            args: &["--load"],
            env: StandIn(&[("STANDIN_DRIVER_STATUS", "[[Backing Filesystem extfs]]")]),
            exit: 1,
            context: Untouched,
            says: &[
                "--load of two platforms needs Docker's containerd image store",
                "--load --platform linux/",
                "--oci",
            ],
        },
        Case {
            name: "missing target with no rustup",
            setup: |f| {
                f.edit("Cargo.toml", "windows = false", "windows = false\nlinux = { amd64 = \"x86_64-unknown-linux-gnux32\", arm64 = \"aarch64-unknown-linux-musl\" }");
            },
            args: &["--no-image"],
            env: Only(&["cargo", "rustc"]),
            exit: 1,
            context: Untouched,
            says: &[
                "x86_64-unknown-linux-gnux32 is not installed",
                "rustup is not on PATH",
                "`rustup target add x86_64-unknown-linux-gnux32`",
            ],
        },
        Case {
            name: "wrong-CPU binary from a misconfigured linker",
            setup: |f| {
                let fake = f.root().join("fake-aarch64.elf");
                std::fs::write(&fake, aarch64_elf_header()).unwrap();
                let linker = fake_linker(f.root(), &fake);
                f.write(
                    ".cargo/config.toml",
                    &format!("[target.x86_64-unknown-linux-musl]\nlinker = \"{}\"\n", linker.display()),
                );
            },
            args: &["--no-image", "--platform", "linux/amd64"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "x86_64-unknown-linux-musl/release/",
                "is a static aarch64 ELF executable, but /amd64/",
                "in the image must be a",
            ],
        },
        Case {
            name: "the same binary name in two crates",
            setup: |f| {
                f.write(
                    "host-binaries/other/Cargo.toml",
                    &format!(
                        "{}\n[[bin]]\nname = \"hello\"\npath = \"src/main.rs\"\n",
                        crate::common::fixture::package("other")
                    ),
                );
                f.write("host-binaries/other/src/main.rs", "fn main() {}\n");
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "the host binary name `hello` is built by two packages",
                "`hello` and `other`",
                "rename one",
            ],
        },
        Case {
            name: "backend not static",
            setup: |f| {
                f.edit(
                    "Cargo.toml",
                    "windows = false",
                    "windows = false\nbackend = { amd64 = \"x86_64-unknown-linux-gnu\" }",
                );
            },
            args: &["--no-image", "--platform", "linux/amd64"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "is a dynamically linked x86-64 ELF executable",
                "/amd64/backend in the image must be a static x86-64 ELF executable",
                "build the backend for a -musl target",
            ],
        },
        Case {
            name: "a base image that is no image reference",
            setup: |f| {
                f.edit(
                    "Cargo.toml",
                    "categories = [",
                    "base-image = \"Alpine:3.20@sha256:abc\"\ncategories = [",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.base-image`",
                "`sha256:abc` is not a sha256 digest",
                "give an image reference (`debian:13-slim`, `alpine:3.20@sha256:…`) or `scratch`",
            ],
        },
        Case {
            name: "a base image with the builtin engine",
            setup: |f| f.edit("Cargo.toml", "categories = [", "base-image = \"alpine:3.20\"\ncategories = ["),
            args: &["--engine", "builtin"],
            env: Only(TOOLS),
            exit: 1,
            context: Untouched,
            says: &["the builtin engine writes `FROM scratch` images only", "`alpine:3.20`", "--engine"],
        },
        Case {
            name: "cross for an Apple target",
            setup: |f| f.edit("Cargo.toml", "darwin = false", "darwin = true"),
            args: &["--no-image", "--build-with", "darwin=cross"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["cannot build amd64/darwin/hello", "cross has no images for Apple targets", "zigbuild"],
        },
        Case {
            name: "Apple framework without a macOS SDK",
            setup: |f| {
                f.edit("Cargo.toml", "darwin = false", "darwin = { arm64 = false }");
                f.write("host-binaries/hello/src/main.rs", "#[link(name = \"CoreFoundation\", kind = \"framework\")]\nextern \"C\" {\n    fn CFAbsoluteTimeGetCurrent() -> f64;\n}\n\nfn main() {\n    println!(\"{}\", unsafe { CFAbsoluteTimeGetCurrent() });\n}\n");
            },
            args: &["--no-image", "--platform", "linux/amd64"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "linking for x86_64-apple-darwin failed",
                "Apple framework CoreFoundation",
                "SDKROOT",
                "MacOSX SDK",
            ],
        },
        Case {
            name: "backend package not in the workspace",
            setup: |f| f.edit("Cargo.toml", "package = \"fixture-backend\"", "package = \"nope\""),
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.backend.package`",
                "`nope` is not a package of this workspace",
                "fixture-backend",
            ],
        },
        Case {
            name: "Linux arm64 turned off",
            setup: |f| f.edit("Cargo.toml", "windows = false", "windows = false\nlinux = { arm64 = false }"),
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.targets.linux.arm64`",
                "linux on arm64 cannot run x86_64 binaries",
                "`targets.linux = false`",
            ],
        },
        Case {
            name: "a target for the wrong CPU in the config",
            setup: |f| {
                f.edit("Cargo.toml", "darwin = false", "darwin = { amd64 = \"aarch64-apple-darwin\" }");
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.targets.darwin.amd64`",
                "`aarch64-apple-darwin` does not build for the amd64 variant's CPU",
                "the default is x86_64-apple-darwin",
            ],
        },
        Case {
            name: "screenshot file missing",
            setup: |f| {
                f.edit(
                    "Cargo.toml",
                    "url = \"https://example.com/shot.png\"",
                    "url = \"extension/shot.png\"",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.screenshots[0].url`",
                "extension/shot.png does not exist",
                "`assets-url` must say where",
            ],
        },
        Case {
            name: "unsupported platform",
            setup: |_| {},
            args: &["--platform", "linux/s390x"],
            env: Normal,
            exit: 2,
            context: Untouched,
            says: &[
                "--platform linux/s390x: an extension image is linux/amd64 or linux/arm64",
                "Usage: cargo xtask dist",
            ],
        },
        Case {
            name: "unknown engine",
            setup: |_| {},
            args: &["--engine", "kaniko"],
            env: Normal,
            exit: 2,
            context: Untouched,
            says: &[
                "--engine kaniko: not an image builder",
                "use buildx, buildah, podman or builtin",
                "Usage: cargo xtask dist",
            ],
        },
        // ---- Destinations that dist did not make: refused, nothing removed ----------------
        Case {
            name: "--out at the UI's sources",
            setup: |f| {
                f.write("ui/package.json", "{ \"name\": \"ui\" }\n");
                f.write("ui/src/main.ts", "console.log(\"ui\");\n");
                f.commit_all();
            },
            args: &["--no-image", "--out", "ui"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "refusing to write to ",
                "/ui: it is a folder holding package.json, src",
                "choose a new folder for --out",
            ],
        },
        Case {
            name: "--out at the workspace root",
            setup: |_| {},
            args: &["--no-image", "--out", "."],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["refusing to write to ", "it is the workspace root", "choose a new folder for --out"],
        },
        Case {
            name: "--out at a tracked file",
            setup: |_| {},
            args: &["--no-image", "--out", "README.md"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["refusing to write to ", "/README.md: it is a file, which dist did not make"],
        },
        Case {
            name: "--out at a folder holding one unrelated file",
            setup: |f| f.write("mine/notes.txt", "my notes\n"),
            args: &["--no-image", "--out", "mine"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["/mine: it is a folder holding notes.txt, which dist did not make"],
        },
        Case {
            name: "--out at a symlink to the workspace",
            setup: |f| std::os::unix::fs::symlink(f.root(), f.root().join("workspace-link")).unwrap(),
            args: &["--no-image", "--out", "workspace-link"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["/workspace-link: it is a symbolic link"],
        },
        Case {
            name: "--out inside a source folder, through a symlink",
            setup: |f| std::os::unix::fs::symlink(f.root(), f.root().join("workspace-link")).unwrap(),
            args: &["--no-image", "--out", "workspace-link/backend/out"],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &["/backend/out: it is inside ", "holds the workspace's sources"],
        },
        Case {
            name: "--oci at a folder",
            setup: |f| f.write("images/keep.txt", "mine\n"),
            args: &["--oci", "images"],
            env: StandIn(&[]),
            exit: 1,
            context: Untouched,
            says: &[
                "refusing to write to ",
                "/images: it is a folder",
                "give --oci a path that does not exist",
            ],
        },
        Case {
            name: "--oci at an unrelated file",
            setup: |_| {},
            args: &["--oci", "README.md"],
            env: StandIn(&[]),
            exit: 1,
            context: Untouched,
            says: &["/README.md: it is a file, which dist did not make", "remove it yourself"],
        },
        // ---- Releases that would stay broken, and lists with a value twice --------------
        Case {
            name: "push of one platform",
            setup: |_| {},
            args: &["--push", "--platform", "linux/amd64"],
            env: StandIn(&[]),
            exit: 1,
            context: Untouched,
            says: &[
                "refusing to push only linux/amd64",
                "both platforms under one tag",
                "Drop --platform",
                "--force",
            ],
        },
        Case {
            name: "a category twice",
            setup: |f| {
                f.edit(
                    "Cargo.toml",
                    "categories = [\"utility-tools\"]",
                    "categories = [\"utility-tools\", \"volumes\", \"utility-tools\"]",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.categories[2]`",
                "`utility-tools` is already given at categories[0]",
            ],
        },
        Case {
            name: "a screenshot URL twice",
            setup: |f| {
                f.edit(
                    "Cargo.toml",
                    "screenshots = [{ alt = \"A screenshot\", url = \"https://example.com/shot.png\" }]",
                    "screenshots = [{ alt = \"One\", url = \"https://example.com/shot.png\" }, { alt = \"Two\", url = \"https://example.com/shot.png\" }]",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.screenshots[1].url`",
                "is already given at screenshots[0].url",
            ],
        },
        Case {
            name: "an additional URL title twice",
            setup: |f| {
                f.edit(
                    "Cargo.toml",
                    "categories = [",
                    "additional-urls = [{ title = \"Docs\", url = \"https://example.com/a\" }, { title = \"Docs\", url = \"https://example.com/b\" }]\ncategories = [",
                );
            },
            args: &[],
            env: Normal,
            exit: 1,
            context: Untouched,
            says: &[
                "`workspace.metadata.extension.additional-urls[1].title`",
                "`Docs` is already given at additional-urls[0].title",
            ],
        },
        Case {
            name: "conflicting outputs",
            setup: |_| {},
            args: &["--push", "--load"],
            env: Normal,
            exit: 2,
            context: Untouched,
            says: &["--push, --load and --oci are exclusive", "Usage: cargo xtask dist"],
        },
    ]
}

/// What a file outside the workspace holds: it must appear in no output.
const SECRET: &str = "SECRET-7f3a9c-not-for-any-image";

/// A file beside the fixture (outside its workspace) holding [`SECRET`].
fn secret_outside(f: &Fixture) -> PathBuf {
    let root = f.root();
    let secret = root.with_file_name(format!("{}.secret", root.file_name().unwrap().to_str().unwrap()));
    std::fs::write(&secret, SECRET).unwrap();
    secret
}

/// Gives the fixture a UI whose build is `script` (sh, in ui/), committed.
fn with_ui(f: &Fixture, script: &str) {
    f.write("ui/build.sh", script);
    f.write("ui/src/main.txt", "the UI's source\n");
    f.edit(
        "Cargo.toml",
        "[workspace.metadata.extension.targets]",
        "[workspace.metadata.extension.ui]\ndir = \"ui\"\nbuild = [\"sh\", \"build.sh\"]\noutput = \"dist\"\n\n[workspace.metadata.extension.targets]",
    );
}

fn run_case(case: &Case) -> Result<(), String> {
    let fixture = Fixture::new(&case.name.replace(' ', "-"));
    let context = fixture.root().join("context");
    // The previous, good context, copied with its mtimes.
    let copy = std::process::Command::new("cp").arg("-a").arg(good_context()).arg(&context).status().unwrap();
    assert!(copy.success());
    let before = snapshot(&context);
    (case.setup)(&fixture);
    // Everything else in the workspace, tracked or not, after the case's own edits.
    let workspace_before = workspace_files(fixture.root(), &["context", "ui/dist"]);

    let mut args = vec!["dist"];
    if !case.args.contains(&"--out") {
        args.extend(["--out", context.to_str().unwrap()]);
    }
    args.extend(case.args);
    let standin = StandInDocker::new();
    let narrowed = TempDir::new("narrow-path");
    let mut command = fixture.command(&args);
    command.env_remove("SDKROOT");
    // A case that sets its own linker (.cargo/config.toml) builds in a target folder apart
    // (outside the workspace, which must stay as it was): cargo does not fingerprint the
    // linker, so another fixture's build in the shared folder would take its (deliberately
    // wrong) binaries as up to date.
    if fixture.root().join(".cargo/config.toml").exists() {
        command.env(
            "CARGO_TARGET_DIR",
            crate::common::fixture::shared_target_dir().with_file_name("fixture-target-own-linker"),
        );
    }
    match &case.env {
        Env::Normal => {}
        Env::StandIn(vars) => {
            command.env("PATH", standin.path_var()).env("STANDIN_DIR", standin.dir.path());
            for (k, v) in *vars {
                command.env(k, v);
            }
        }
        Env::Only(programs) => {
            command.env("PATH", narrow_path(narrowed.path(), programs));
        }
    }
    let output = run(&mut command);

    let mut faults = vec![];
    if output.code != case.exit {
        faults.push(format!("exit code {} (expected {})", output.code, case.exit));
    }
    let first_error = output.stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
    if first_error.is_empty() {
        faults.push("no line starting with `error: `".into());
    }
    for needle in case.says {
        if !output.stderr.contains(needle) {
            faults.push(format!("stderr lacks {needle:?}"));
        }
    }
    if output.stdout.contains(SECRET) || output.stderr.contains(SECRET) {
        faults.push("the secret from outside the workspace is in the output".into());
    }
    match case.context {
        Context::Untouched => {
            if snapshot(&context) != before {
                faults.push("the previous context changed".into());
            }
        }
    }
    let workspace_after = workspace_files(fixture.root(), &["context", "ui/dist"]);
    if workspace_after != workspace_before {
        let changed: Vec<String> = workspace_before
            .keys()
            .chain(workspace_after.keys())
            .filter(|k| workspace_before.get(*k) != workspace_after.get(*k))
            .map(|k| k.display().to_string())
            .collect();
        faults.push(format!("files of the workspace changed: {changed:?}"));
    }
    let leftovers: Vec<String> = std::fs::read_dir(fixture.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".staging-") || n.contains(".old-"))
        .collect();
    if !leftovers.is_empty() {
        faults.push(format!("left behind {leftovers:?}"));
    }
    if faults.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}\n--- stderr:\n{}", case.name, faults.join("; "), output.stderr))
    }
}

#[test]
fn every_bad_input_gets_a_clear_error_and_leaves_the_context_alone() {
    good_context();
    let cases = cases();
    assert!(cases.len() >= 15);
    // A few at a time: most fail in milliseconds, the ones that compile share a target folder.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases.iter().map(|case| scope.spawn(move || run_case(case))).collect();
        handles.into_iter().filter_map(|h| h.join().unwrap().err()).collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
