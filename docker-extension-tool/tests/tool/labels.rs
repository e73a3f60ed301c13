//! The generated Dockerfile, built for real by buildah: label values with quotes, `$`,
//! backslashes and line breaks come out of the image exactly as the config says.

use std::process::Command;

use crate::common::fixture::Fixture;
use crate::common::*;
use serde_json::Value;

#[test]
fn tricky_label_values_survive_a_real_build() {
    require("buildah");
    require("skopeo");
    let fixture = Fixture::new("labels");
    fixture.edit(
        "Cargo.toml",
        "description = \"A test fixture.\"",
        "description = '''He said \"hi\": it costs $5, ${HOME} stays, and C:\\path\\to keeps its backslashes.'''",
    );
    fixture.edit(
        "Cargo.toml",
        "detailed-description = \"<p>Details</p>\"",
        "detailed-description = \"\"\"\n<p>One line,</p>\n    <p>and \"another\".</p>\n\"\"\"",
    );
    fixture.edit(
        "Cargo.toml",
        "publisher-url = \"https://example.com\"",
        "publisher-url = \"https://example.com\"\naccount-info = \"required\"\nadditional-urls = [{ title = \"Docs & more\", url = \"https://example.com/docs?a=1&b=2\" }]",
    );
    let archive = fixture.build_archive("ext.tar");

    for arch in ["amd64", "arm64"] {
        let inspect = run(Command::new("skopeo").args([
            "--override-arch",
            arch,
            "inspect",
            "--config",
            &format!("oci-archive:{}", archive.display()),
        ]));
        let config: Value = serde_json::from_str(&inspect.assert_ok().stdout).unwrap();
        let labels = &config["config"]["Labels"];
        assert_eq!(
            labels["org.opencontainers.image.description"],
            r#"He said "hi": it costs $5, ${HOME} stays, and C:\path\to keeps its backslashes."#
        );
        // A Dockerfile value cannot hold a line break: lines join with one space (HTML).
        assert_eq!(
            labels["com.docker.extension.detailed-description"],
            r#"<p>One line,</p> <p>and "another".</p>"#
        );
        assert_eq!(labels["com.docker.extension.account-info"], "required");
        let links: Value =
            serde_json::from_str(labels["com.docker.extension.additional-urls"].as_str().unwrap()).unwrap();
        assert_eq!(
            links,
            serde_json::json!([{ "title": "Docs & more", "url": "https://example.com/docs?a=1&b=2" }])
        );
        assert_eq!(labels["org.opencontainers.image.version"], "1.2.3");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/backend", "--socket", "/run/guest-services/fixture.sock"])
        );
    }
    // The archive the xtask checks itself agrees.
    run(&mut xtask(fixture.root(), &["check", archive.to_str().unwrap()])).assert_ok();
}
