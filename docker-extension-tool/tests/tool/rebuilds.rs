//! The UI build is skipped only when nothing that decides its output changed: its files,
//! its build command and its output folder. A stale UI in an image is a bug users see.

use crate::common::fixture::Fixture;
use crate::common::*;

const UI_CONFIG: &str = r#"
[workspace.metadata.extension.ui]
dir = "ui"
build = ["sh", "build.sh", "one"]
output = "dist"
"#;

/// A UI "build" that writes its argument and a source file's text into index.html.
const BUILD_SH: &str = "out=${OUT:-dist}\nmkdir -p \"$out\"\nprintf '%s %s\\n' \"$1\" \"$(cat page.txt)\" > \"$out/index.html\"\n";

fn dist(fixture: &Fixture) -> Output {
    let context = fixture.context();
    let args = ["dist", "--no-image", "--platform", "linux/amd64", "--out", context.to_str().unwrap()];
    let output = run(&mut fixture.command(&args));
    output.assert_ok();
    output
}

fn page(fixture: &Fixture) -> String {
    std::fs::read_to_string(fixture.context().join("ui/index.html")).unwrap()
}

#[test]
fn the_ui_is_rebuilt_when_its_sources_or_its_config_change() {
    let fixture = Fixture::new("ui-rebuilds");
    let manifest = std::fs::read_to_string(fixture.root().join("Cargo.toml")).unwrap();
    fixture.write("Cargo.toml", &format!("{manifest}{UI_CONFIG}"));
    fixture.write("ui/build.sh", BUILD_SH);
    fixture.write("ui/page.txt", "first");

    let first = dist(&fixture);
    assert!(!first.stderr.contains("up to date"), "{}", first.stderr);
    assert_eq!(page(&fixture), "one first\n");

    let unchanged = dist(&fixture);
    assert!(unchanged.stderr.contains("up to date: nothing in"), "{}", unchanged.stderr);

    // The build command changed: the old output must not be reused.
    fixture.edit("Cargo.toml", "\"build.sh\", \"one\"", "\"build.sh\", \"two\"");
    let output = dist(&fixture);
    assert!(!output.stderr.contains("up to date"), "{}", output.stderr);
    assert_eq!(page(&fixture), "two first\n");

    // A source file changed.
    fixture.write("ui/page.txt", "second");
    dist(&fixture);
    assert_eq!(page(&fixture), "two second\n");

    // The output folder changed: built again, into the new folder.
    fixture.edit("Cargo.toml", "output = \"dist\"", "output = \"build\"");
    fixture.edit(
        "Cargo.toml",
        "[\"sh\", \"build.sh\", \"two\"]",
        "[\"env\", \"OUT=build\", \"sh\", \"build.sh\", \"three\"]",
    );
    let output = dist(&fixture);
    assert!(!output.stderr.contains("up to date"), "{}", output.stderr);
    assert_eq!(page(&fixture), "three second\n");
}
