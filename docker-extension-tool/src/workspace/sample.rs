//! A config with every field set, for the pure tests (generators, plan).

use std::collections::BTreeMap;

use crate::model::reference::{BaseImage, ImageReference};
use crate::model::targets::{Os, Variant};
use crate::workspace::config::{
    Backend, Config, Contract, HostBinary, Labels, Link, Screenshot, Ui, VariantTargets,
};

pub(crate) fn sample_config() -> Config {
    let mut host_targets = BTreeMap::new();
    for os in Os::ALL {
        host_targets.insert(
            os,
            VariantTargets {
                amd64: os.default_target(Variant::Amd64).into(),
                arm64: Some(os.default_target(Variant::Arm64).into()),
            },
        );
    }
    Config {
        root: "/work/sample".into(),
        manifest: "/work/sample/Cargo.toml".into(),
        target_dir: "/work/sample/target".into(),
        reference: ImageReference::new("example/sample", Some("1.2.3")).unwrap(),
        labels: Labels {
            title: "Sample".into(),
            description: "A sample: \"quoted\", $HOME and a \\ backslash.".into(),
            vendor: "Example Inc.".into(),
            api_version: ">= 0.3.4".into(),
            icon_url: "https://example.com/icon.svg".into(),
            screenshots: vec![Screenshot { alt: "The tab".into(), url: "https://example.com/1.png".into() }],
            detailed_description: "<p>Line one,</p>\n  <p>line two.</p>\n".into(),
            publisher_url: "https://example.com".into(),
            additional_urls: vec![Link { title: "Docs".into(), url: "https://example.com/docs".into() }],
            changelog: "<ul><li>First</li></ul>".into(),
            categories: vec!["utility-tools".into(), "volumes".into()],
            account_info: None,
            source: Some("https://github.com/example/sample".into()),
            licenses: Some("MIT OR Apache-2.0".into()),
        },
        icon: "extension/icon.svg".into(),
        base_image: BaseImage::Scratch,
        backend: Some(Backend {
            package: "sample-backend".into(),
            bin: "sample-backend".into(),
            socket: "sample.sock".into(),
            compose_file: None,
            targets: Variant::ALL.iter().map(|&v| (v, Os::Linux.default_target(v).to_string())).collect(),
        }),
        ui: Some(Ui {
            dir: "ui".into(),
            build: vec!["npm".into(), "run".into(), "build".into()],
            output: "dist".into(),
            dev: crate::workspace::config::DEFAULT_UI_DEV.map(String::from).to_vec(),
        }),
        contract: Some(Contract {
            package: "sample-api".into(),
            package_dir: "/work/sample/api".into(),
            output: "ui/src/api.ts".into(),
        }),
        host_binaries: vec![
            HostBinary {
                package: "sample-cli".into(),
                bin: "sample".into(),
                oses: Os::ALL.into_iter().collect(),
            },
            HostBinary {
                package: "sample-cli".into(),
                bin: "sample-helper".into(),
                oses: Os::ALL.into_iter().collect(),
            },
        ],
        external_host_binaries: vec![],
        host_targets,
        build_with: BTreeMap::new(),
        members: BTreeMap::new(),
        deny_warnings: false,
    }
}

/// Compares `actual` with the golden file; `UPDATE_GOLDEN=1` rewrites the file instead.
pub(crate) fn check_golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_GOLDEN=1 to write it", path.display()));
    assert!(
        expected == actual,
        "{name} differs from {}; if the change is intended, run with UPDATE_GOLDEN=1\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
