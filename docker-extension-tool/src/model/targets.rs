//! Which Rust targets an extension is built for, which image variant carries each build,
//! and which builder compiles each target on this machine.

use std::fmt;

use crate::model::binary::{BinaryKind, Cpu, Format};

/// An image variant. Docker Desktop pulls the one matching the user's CPU, so a variant
/// carries every binary built for that CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Variant {
    Amd64,
    Arm64,
}

impl Variant {
    pub(crate) const ALL: [Variant; 2] = [Variant::Amd64, Variant::Arm64];

    /// The name Docker uses for the CPU: `TARGETARCH`, and the context folder.
    pub(crate) fn arch(self) -> &'static str {
        match self {
            Variant::Amd64 => "amd64",
            Variant::Arm64 => "arm64",
        }
    }

    pub(crate) fn platform(self) -> &'static str {
        match self {
            Variant::Amd64 => "linux/amd64",
            Variant::Arm64 => "linux/arm64",
        }
    }

    pub(crate) fn cpu(self) -> Cpu {
        match self {
            Variant::Amd64 => Cpu::X86_64,
            Variant::Arm64 => Cpu::Aarch64,
        }
    }

    /// The variant a platform or architecture names: `linux/arm64`, `linux/arm64/v8`,
    /// `arm64` (with or without the OS, with or without arm64's `v8`). The one place
    /// platform strings are matched: the builder check, doctor and check all use it.
    pub(crate) fn parse_platform(s: &str) -> Option<Variant> {
        match s.strip_prefix("linux/").unwrap_or(s) {
            "amd64" => Some(Variant::Amd64),
            "arm64" | "arm64/v8" => Some(Variant::Arm64),
            _ => None,
        }
    }
}

impl Variant {
    /// The variant this machine's CPU runs (what Docker Desktop pulls here).
    pub(crate) fn here() -> Option<Variant> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Variant::Amd64),
            "aarch64" => Some(Variant::Arm64),
            _ => None,
        }
    }
}

impl std::str::FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Variant, String> {
        Variant::parse_platform(s)
            .ok_or_else(|| "an extension image is linux/amd64 or linux/arm64".to_string())
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arch())
    }
}

/// A desktop OS that host binaries are built for: the keys of `host.binaries` in metadata.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Os {
    Darwin,
    Windows,
    Linux,
}

impl Os {
    pub(crate) const ALL: [Os; 3] = [Os::Darwin, Os::Windows, Os::Linux];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Os::Darwin => "darwin",
            Os::Windows => "windows",
            Os::Linux => "linux",
        }
    }

    pub(crate) fn format(self) -> Format {
        match self {
            Os::Darwin => Format::MachO,
            Os::Windows => Format::Pe,
            Os::Linux => Format::Elf,
        }
    }

    pub(crate) fn exe_suffix(self) -> &'static str {
        match self {
            Os::Windows => ".exe",
            _ => "",
        }
    }

    /// The default target for each OS and variant.
    pub(crate) fn default_target(self, variant: Variant) -> &'static str {
        match (self, variant) {
            (Os::Darwin, Variant::Amd64) => "x86_64-apple-darwin",
            (Os::Darwin, Variant::Arm64) => "aarch64-apple-darwin",
            (Os::Windows, Variant::Amd64) => "x86_64-pc-windows-gnu",
            (Os::Windows, Variant::Arm64) => "aarch64-pc-windows-gnullvm",
            (Os::Linux, Variant::Amd64) => "x86_64-unknown-linux-musl",
            (Os::Linux, Variant::Arm64) => "aarch64-unknown-linux-musl",
        }
    }

    /// Whether this OS on arm64 runs x86_64 builds (Rosetta 2, Windows' x64 emulation), so
    /// the arm64 variant may carry the x86_64 build instead of its own.
    pub(crate) fn arm64_runs_x86_64(self) -> bool {
        matches!(self, Os::Darwin | Os::Windows)
    }

    /// Whether `target` builds for this OS.
    pub(crate) fn matches_target(self, target: &str) -> bool {
        match self {
            Os::Darwin => target.ends_with("-apple-darwin"),
            Os::Windows => target.contains("-windows-"),
            Os::Linux => target.contains("-linux-"),
        }
    }
}

impl Os {
    /// This machine's OS.
    pub(crate) fn here() -> Option<Os> {
        match std::env::consts::OS {
            "macos" => Some(Os::Darwin),
            "windows" => Some(Os::Windows),
            "linux" => Some(Os::Linux),
            _ => None,
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Whether a target builds for macOS (Apple's linker and SDK matter for it).
pub(crate) fn is_apple(target: &str) -> bool {
    Os::Darwin.matches_target(target)
}

/// The OS a target builds for, when it is one this tool lays out host binaries for.
pub(crate) fn target_os(target: &str) -> Option<Os> {
    Os::ALL.into_iter().find(|os| os.matches_target(target))
}

/// The CPU a target triple builds for, from its first component.
pub(crate) fn target_cpu(target: &str) -> Option<Cpu> {
    match target.split('-').next()? {
        "x86_64" => Some(Cpu::X86_64),
        "aarch64" | "arm64" | "arm64e" => Some(Cpu::Aarch64),
        "i686" | "i586" | "i386" => Some(Cpu::X86),
        arm if arm.starts_with("arm") || arm.starts_with("thumb") => Some(Cpu::Arm),
        _ => None,
    }
}

/// The kind of binary a target produces, when it is one this tool lays out.
pub(crate) fn target_kind(target: &str) -> Option<BinaryKind> {
    let format = target_os(target)?.format();
    Some(BinaryKind { format, cpu: target_cpu(target)? })
}

/// A target as Cargo spells it in environment variables: `X86_64_UNKNOWN_LINUX_MUSL`.
pub(crate) fn env_spelling(target: &str) -> String {
    target.to_uppercase().replace(['-', '.'], "_")
}

/// How a target gets compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Builder {
    /// Plain `cargo build`: the host's own target, or one whose linker the user configured.
    Cargo,
    /// `cargo zigbuild`: zig as the linker, for every OS from any host.
    Zigbuild,
    /// `cross build`: inside cross-rs's container images (needs docker or podman).
    Cross,
    /// Plain `cargo build` linked by rustup's own `rust-lld` with the target's
    /// self-contained musl: static Linux binaries with no zig and no C toolchain, for
    /// packages that compile no C for their target (zig first builds its own musl for each
    /// target, minutes on a first dist).
    RustLld,
}

impl Builder {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Builder::Cargo => "cargo",
            Builder::Zigbuild => "zigbuild",
            Builder::Cross => "cross",
            Builder::RustLld => "rust-lld",
        }
    }
}

impl std::str::FromStr for Builder {
    type Err = String;

    fn from_str(s: &str) -> Result<Builder, String> {
        match s {
            "cargo" => Ok(Builder::Cargo),
            "zigbuild" | "cargo-zigbuild" => Ok(Builder::Zigbuild),
            "cross" => Ok(Builder::Cross),
            "rust-lld" => Ok(Builder::RustLld),
            _ => Err(format!("`{s}` is not a builder; use zigbuild, cross, cargo or rust-lld")),
        }
    }
}

impl fmt::Display for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether rustup's `rust-lld` links `target` on its own: a static musl Linux target, whose
/// C runtime and libc the toolchain ships (self-contained).
pub(crate) fn rust_lld_links(target: &str) -> bool {
    target.ends_with("-unknown-linux-musl")
}

/// Picks the builder for `target` on a machine whose own target is `host`.
///
/// `requested` is what the config or `--build-with` asked for; `linker_configured` says
/// whether the user set a linker for `target` (so plain cargo can link it); `pure_rust`
/// whether the package compiles no C for its target (so no C compiler is needed). The
/// error is one sentence saying why that builder cannot build that target here and what to
/// do.
pub(crate) fn choose_builder(
    host: &str,
    target: &str,
    requested: Option<Builder>,
    linker_configured: bool,
    pure_rust: bool,
) -> Result<Builder, String> {
    let apple = is_apple(target);
    let msvc = target.ends_with("-msvc");
    let apple_host = is_apple(host);
    match requested {
        None if target == host || linker_configured => Ok(Builder::Cargo),
        None if pure_rust && rust_lld_links(target) => Ok(Builder::RustLld),
        Some(Builder::RustLld) if rust_lld_links(target) => Ok(Builder::RustLld),
        Some(Builder::RustLld) => Err(format!(
            "rust-lld links static musl Linux targets only, not {target}: build it with zigbuild (the default)"
        )),
        // Xcode's linker links both Mac CPUs.
        None if apple && apple_host => Ok(Builder::Cargo),
        None if msvc => Err(format!(
            "{target} needs Microsoft's linker, which zig cannot stand in for: use the \
             matching -pc-windows-gnu or -pc-windows-gnullvm target, or set \
             build-with.\"{target}\" = \"cargo\" on a Windows machine with MSVC"
        )),
        None => Ok(Builder::Zigbuild),

        Some(Builder::Cross) if apple => Err(format!(
            "cross has no images for Apple targets (Apple's SDK may not be redistributed), \
             so it cannot build {target}: build it with zigbuild (the default)"
        )),
        Some(Builder::Cross) if target.ends_with("-windows-gnullvm") || msvc => {
            Err(format!("cross has no image for {target}: build it with zigbuild (the default)"))
        }
        Some(Builder::Cross) => Ok(Builder::Cross),

        Some(Builder::Zigbuild) if msvc => Err(format!(
            "zig cannot link {target} (it needs Microsoft's linker): use the matching \
             -pc-windows-gnu or -pc-windows-gnullvm target instead"
        )),
        Some(Builder::Zigbuild) => Ok(Builder::Zigbuild),

        Some(Builder::Cargo) if target == host || linker_configured => Ok(Builder::Cargo),
        Some(Builder::Cargo) if apple && apple_host => Ok(Builder::Cargo),
        Some(Builder::Cargo) => Err(format!(
            "plain cargo cannot link {target} on {host} without a linker for it: set \
             `linker` under [target.{target}] in .cargo/config.toml (or \
             CARGO_TARGET_{}_LINKER), or build it with zigbuild (the default)",
            env_spelling(target)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: &str = "x86_64-unknown-linux-gnu";

    #[test]
    fn defaults() {
        for os in Os::ALL {
            for variant in Variant::ALL {
                let target = os.default_target(variant);
                assert!(os.matches_target(target), "{target}");
                assert_eq!(target_cpu(target), Some(variant.cpu()), "{target}");
                let builder = choose_builder(LINUX, target, None, false, false).unwrap();
                assert_eq!(builder, Builder::Zigbuild, "{target}");
            }
        }
        assert_eq!(choose_builder(LINUX, LINUX, None, false, false), Ok(Builder::Cargo));
        // A package that compiles no C links its musl targets with rust-lld, no zig.
        for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
            assert_eq!(choose_builder(LINUX, target, None, false, true), Ok(Builder::RustLld), "{target}");
            assert_eq!(choose_builder(LINUX, target, None, false, false), Ok(Builder::Zigbuild), "{target}");
            assert_eq!(
                choose_builder(LINUX, target, Some(Builder::Zigbuild), false, true),
                Ok(Builder::Zigbuild)
            );
            assert_eq!(
                choose_builder(LINUX, target, Some(Builder::RustLld), false, false),
                Ok(Builder::RustLld)
            );
        }
        for target in ["aarch64-apple-darwin", "x86_64-pc-windows-gnu", "aarch64-unknown-linux-gnu"] {
            assert_eq!(choose_builder(LINUX, target, None, false, true), Ok(Builder::Zigbuild), "{target}");
            let err = choose_builder(LINUX, target, Some(Builder::RustLld), false, true).unwrap_err();
            assert!(err.contains("static musl Linux targets only"), "{err}");
        }
        let mac = "aarch64-apple-darwin";
        assert_eq!(choose_builder(mac, "x86_64-apple-darwin", None, false, false), Ok(Builder::Cargo));
        let musl = "x86_64-unknown-linux-musl";
        assert_eq!(choose_builder(LINUX, musl, None, true, false), Ok(Builder::Cargo));
    }

    #[test]
    fn refusals_are_sentences() {
        let err =
            choose_builder(LINUX, "aarch64-apple-darwin", Some(Builder::Cross), false, false).unwrap_err();
        assert!(err.starts_with("cross has no images for Apple targets"), "{err}");
        let err = choose_builder(LINUX, "aarch64-pc-windows-gnullvm", Some(Builder::Cross), false, false)
            .unwrap_err();
        assert!(err.contains("cross has no image for aarch64-pc-windows-gnullvm"), "{err}");
        let err =
            choose_builder(LINUX, "x86_64-apple-darwin", Some(Builder::Cargo), false, false).unwrap_err();
        assert!(err.contains("CARGO_TARGET_X86_64_APPLE_DARWIN_LINKER"), "{err}");
        let err = choose_builder(LINUX, "x86_64-pc-windows-msvc", None, false, false).unwrap_err();
        assert!(err.contains("-pc-windows-gnu"), "{err}");
        let err = choose_builder(LINUX, "x86_64-pc-windows-msvc", Some(Builder::Zigbuild), false, false)
            .unwrap_err();
        assert!(err.starts_with("zig cannot link"), "{err}");
    }

    #[test]
    fn cross_where_it_has_images() {
        let gnu = "x86_64-pc-windows-gnu";
        assert_eq!(choose_builder(LINUX, gnu, Some(Builder::Cross), false, false), Ok(Builder::Cross));
    }
}
