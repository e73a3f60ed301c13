//! Host binaries built elsewhere: `cargo xtask build-host` writes them as DIR/TARGET/NAME,
//! and `dist --prebuilt DIR` takes them instead of compiling, checked by header exactly as
//! its own builds are. (The release workflow's matrix does this across runners.)

use crate::common::fixture::Fixture;
use crate::common::*;

const AMD64: &str = "x86_64-unknown-linux-musl";
const ARM64: &str = "aarch64-unknown-linux-musl";

#[test]
fn build_host_then_dist_prebuilt_uses_those_binaries_and_checks_them() {
    let fixture = Fixture::new("prebuilt");
    let prebuilt = fixture.root().join("prebuilt");
    let args = ["build-host", "--target", AMD64, "--target", ARM64, "--out", prebuilt.to_str().unwrap()];
    let built = run(&mut fixture.command(&args));
    built.assert_ok();
    assert!(built.stdout.contains("cargo xtask dist --prebuilt"), "{}", built.stdout);
    for target in [AMD64, ARM64] {
        assert!(prebuilt.join(target).join("hello").is_file(), "{target}");
    }

    // The plan compiles only the backend: the host binaries come from the folder.
    let dry = run(&mut fixture.command(&[
        "dist",
        "--dry-run",
        "--no-image",
        "--prebuilt",
        prebuilt.to_str().unwrap(),
    ]));
    let plan = &dry.assert_ok().stdout;
    assert!(plan.contains("--package fixture-backend"), "{plan}");
    assert!(!plan.contains("--package hello"), "{plan}");
    assert!(plan.contains(&format!("{}/{AMD64}/hello (prebuilt)", prebuilt.display())), "{plan}");

    let context = fixture.root().join("context");
    let args =
        ["dist", "--no-image", "--prebuilt", prebuilt.to_str().unwrap(), "--out", context.to_str().unwrap()];
    run(&mut fixture.command(&args)).assert_ok();
    for (variant, target) in [("amd64", AMD64), ("arm64", ARM64)] {
        let placed = std::fs::read(context.join(variant).join("linux/hello")).unwrap();
        assert_eq!(placed, std::fs::read(prebuilt.join(target).join("hello")).unwrap(), "{variant}");
    }

    // A prebuilt binary for the wrong CPU is refused, naming the file; the context stays.
    let before = snapshot(&context);
    std::fs::copy(prebuilt.join(ARM64).join("hello"), prebuilt.join(AMD64).join("hello")).unwrap();
    let wrong = run(&mut fixture.command(&args));
    assert_eq!(wrong.code, 1, "{wrong:?}");
    let says = format!(
        "{}/{AMD64}/hello is a static aarch64 ELF executable, but /amd64/linux/hello in the image must be",
        prebuilt.display()
    );
    assert!(wrong.stderr.contains(&says), "{}", wrong.stderr);
    assert_eq!(snapshot(&context), before);

    // A target folder without the binary: said, with the command that makes it.
    std::fs::remove_file(prebuilt.join(AMD64).join("hello")).unwrap();
    let missing = run(&mut fixture.command(&args));
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains(&format!("{AMD64} has no hello")), "{}", missing.stderr);
    assert!(
        missing.stderr.contains(&format!("cargo xtask build-host --target {AMD64}")),
        "{}",
        missing.stderr
    );
}
