//! The generated Dockerfile, built for real by buildah: label values with quotes, `$`,
//! backslashes and line breaks come out of the image exactly as the config says, and the
//! OCI's source, licenses, revision and created labels say where the image comes from.

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
    // The packages' license and repository become the OCI labels; two licenses, both.
    for (manifest, license) in
        [("backend/Cargo.toml", "MIT"), ("host-binaries/hello/Cargo.toml", "Apache-2.0")]
    {
        fixture.edit(
            manifest,
            "publish = false\n",
            &format!(
                "publish = false\nlicense = \"{license}\"\nrepository = \"https://example.com/fixture\"\n"
            ),
        );
    }
    fixture.commit_all();
    let git = |args: &[&str]| {
        let out = run(Command::new("git").args(args).current_dir(fixture.root()));
        out.assert_ok().stdout.trim().to_string()
    };
    let head = git(&["rev-parse", "HEAD"]);
    let committed = git(&["log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ"]);
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
        assert_eq!(labels["org.opencontainers.image.source"], "https://example.com/fixture");
        assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0 AND MIT");
        assert_eq!(labels["org.opencontainers.image.revision"], head.as_str(), "the commit built");
        assert_eq!(labels["org.opencontainers.image.created"], committed.as_str(), "the last commit's time");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/backend", "--socket", "/run/guest-services/fixture.sock"])
        );
    }
    // The archive the xtask checks itself agrees.
    run(&mut xtask(fixture.root(), &["check", archive.to_str().unwrap()])).assert_ok();
}
