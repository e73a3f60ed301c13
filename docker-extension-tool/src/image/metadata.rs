//! The extension as Docker Desktop reads it: metadata.json as one typed model, and the
//! names of the image labels. The model generates metadata.json (a pure function of the
//! config), checks one read from an image (`deny_unknown_fields`: `docker extension validate`
//! rejects unknown keys too) and lists the files it names: one shape, in one place.
//!
//! `host.binaries` is keyed by OS only, never by CPU: each image variant carries the build
//! for its own CPU at the same path, so one metadata.json serves both variants.

use serde::{Deserialize, Serialize};

use std::collections::BTreeSet;

use crate::model::targets::{Os, Variant};
use crate::workspace::config::{Config, HostFile};

/// Where the UI lives in the image, and its entry page.
pub(crate) const UI_ROOT: &str = "/ui";
pub(crate) const UI_ENTRY: &str = "index.html";
/// Docker Desktop replaces this with the extension's own image when it installs it.
pub(crate) const OWN_IMAGE: &str = "${DESKTOP_PLUGIN_IMAGE}";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metadata {
    pub icon: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<Vm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<UiSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Host>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Vm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composefile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposes: Option<Socket>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Socket {
    pub socket: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UiSection {
    #[serde(rename = "dashboard-tab")]
    pub dashboard_tab: Tab,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tab {
    pub title: String,
    pub root: String,
    pub src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Socket>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Host {
    pub binaries: Vec<HostBinaries>,
}

/// The host binaries per OS: the keys are exactly `Os::key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostBinaries {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub darwin: Option<Vec<BinaryPath>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<BinaryPath>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Vec<BinaryPath>>,
}

impl HostBinaries {
    pub(crate) fn for_os(&self, os: Os) -> &[BinaryPath] {
        let list = match os {
            Os::Darwin => &self.darwin,
            Os::Windows => &self.windows,
            Os::Linux => &self.linux,
        };
        list.as_deref().unwrap_or_default()
    }

    fn for_os_mut(&mut self, os: Os) -> &mut Option<Vec<BinaryPath>> {
        match os {
            Os::Darwin => &mut self.darwin,
            Os::Windows => &mut self.windows,
            Os::Linux => &mut self.linux,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BinaryPath {
    pub path: String,
}

impl Metadata {
    pub(crate) fn from_config(config: &Config) -> Metadata {
        let socket = config.backend.as_ref().map(|b| Socket { socket: b.socket.clone() });
        let vm = config.backend.as_ref().map(|backend| match &backend.compose_file {
            Some(compose) => Vm {
                image: None,
                composefile: Some(compose.file_name().unwrap_or("docker-compose.yaml").to_string()),
                exposes: socket.clone(),
            },
            None => Vm { image: Some(OWN_IMAGE.to_string()), composefile: None, exposes: socket.clone() },
        });
        let ui = config.ui.as_ref().map(|_| UiSection {
            dashboard_tab: Tab {
                title: config.labels.title.clone(),
                root: UI_ROOT.into(),
                src: UI_ENTRY.into(),
                backend: socket.clone(),
            },
        });
        let mut binaries = HostBinaries::default();
        for os in config.host_targets.keys() {
            let built = config
                .host_binaries
                .iter()
                .filter(|b| b.ships_to(*os))
                .map(|b| format!("{}{}", b.bin, os.exe_suffix()));
            let external = config.external_host_binaries.iter().filter_map(|b| b.file_name(*os));
            let mut paths: Vec<BinaryPath> = built
                .chain(external)
                .map(|name| BinaryPath { path: format!("/{}/{name}", os.key()) })
                .collect();
            // A host binary's folder: every folder and file beside its executable, as
            // vendors list them for Docker Desktop to install (a runtime's DLLs, libraries).
            for binary in &config.external_host_binaries {
                if let Some(HostFile::Folder { companions, .. }) = binary.files.get(&(*os, Variant::Amd64)) {
                    let mut listed = BTreeSet::new();
                    for companion in companions {
                        let mut folder = String::new();
                        for part in companion
                            .split('/')
                            .collect::<Vec<_>>()
                            .split_last()
                            .map_or(&[][..], |(_, dirs)| dirs)
                        {
                            folder = if folder.is_empty() {
                                (*part).to_string()
                            } else {
                                format!("{folder}/{part}")
                            };
                            listed.insert(folder.clone());
                        }
                        listed.insert(companion.clone());
                    }
                    paths.extend(
                        listed.into_iter().map(|rel| BinaryPath { path: format!("/{}/{rel}", os.key()) }),
                    );
                }
            }
            if !paths.is_empty() {
                *binaries.for_os_mut(*os) = Some(paths);
            }
        }
        let host = (binaries != HostBinaries::default()).then(|| Host { binaries: vec![binaries] });
        Metadata { icon: config.icon_file_name().to_string(), vm, ui, host }
    }

    /// metadata.json's text as written into the context.
    pub(crate) fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("the model serializes");
        text.push('\n');
        text
    }

    /// Reads metadata.json; the error names the key path and what is wrong.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Metadata, String> {
        let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // serde: "unknown field `x`, expected one of `a`, `b` at line 1 column 9".
            let unknown = inner.strip_prefix("unknown field `").and_then(|rest| {
                let allowed = rest.split_once("expected one of ")?.1;
                let allowed = allowed.rsplit_once(" at line").map_or(allowed, |(a, _)| a);
                Some(allowed.replace('`', ""))
            });
            match unknown {
                Some(allowed) => format!("has the unknown key `{path}` (allowed here: {allowed})"),
                None if path == "." => format!("is not valid: {inner}"),
                None => format!("is not valid at `{path}`: {inner}"),
            }
        })
    }

    /// Every file metadata.json names, as absolute paths in the image.
    pub(crate) fn named_paths(&self) -> Vec<String> {
        let mut paths = vec![format!("/{}", self.icon)];
        paths.extend(self.vm.as_ref().and_then(|vm| vm.composefile.as_ref()).map(|c| format!("/{c}")));
        if let Some(ui) = &self.ui {
            let tab = &ui.dashboard_tab;
            paths.push(format!("{}/{}", tab.root.trim_end_matches('/'), tab.src));
        }
        for group in self.host.iter().flat_map(|h| &h.binaries) {
            for os in Os::ALL {
                paths.extend(group.for_os(os).iter().map(|b| b.path.clone()));
            }
        }
        paths
    }

    /// What is wrong with a model that parsed, beyond its shape.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = vec![];
        if self.icon.trim().is_empty() {
            problems.push("has an empty `icon`".to_string());
        }
        if let Some(vm) = &self.vm {
            if vm.image.is_none() && vm.composefile.is_none() {
                problems.push("has a `vm` with neither `image` nor `composefile`".to_string());
            }
        }
        problems
    }
}

/// metadata.json's text for a config.
pub(crate) fn metadata_json(config: &Config) -> String {
    Metadata::from_config(config).to_json()
}

/// The image labels, by name: what the Marketplace and `docker extension validate` read.
pub(crate) mod label {
    pub(crate) const TITLE: &str = "org.opencontainers.image.title";
    pub(crate) const DESCRIPTION: &str = "org.opencontainers.image.description";
    pub(crate) const VENDOR: &str = "org.opencontainers.image.vendor";
    pub(crate) const VERSION: &str = "org.opencontainers.image.version";
    pub(crate) const API_VERSION: &str = "com.docker.desktop.extension.api.version";
    pub(crate) const ICON: &str = "com.docker.desktop.extension.icon";
    pub(crate) const SCREENSHOTS: &str = "com.docker.extension.screenshots";
    pub(crate) const DETAILED_DESCRIPTION: &str = "com.docker.extension.detailed-description";
    pub(crate) const PUBLISHER_URL: &str = "com.docker.extension.publisher-url";
    pub(crate) const ADDITIONAL_URLS: &str = "com.docker.extension.additional-urls";
    pub(crate) const CHANGELOG: &str = "com.docker.extension.changelog";
    pub(crate) const CATEGORIES: &str = "com.docker.extension.categories";
    pub(crate) const ACCOUNT_INFO: &str = "com.docker.extension.account-info";
    // The OCI's own, which registries, scanners and Renovate read.
    pub(crate) const SOURCE: &str = "org.opencontainers.image.source";
    pub(crate) const LICENSES: &str = "org.opencontainers.image.licenses";
    pub(crate) const REVISION: &str = "org.opencontainers.image.revision";
    pub(crate) const CREATED: &str = "org.opencontainers.image.created";

    /// The labels `docker extension validate` requires, non-empty.
    pub(crate) const REQUIRED: &[&str] = &[
        TITLE,
        DESCRIPTION,
        VENDOR,
        API_VERSION,
        ICON,
        SCREENSHOTS,
        DETAILED_DESCRIPTION,
        PUBLISHER_URL,
        CHANGELOG,
        CATEGORIES,
    ];
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::workspace::sample::{check_golden, sample_config};

    #[test]
    fn golden() {
        check_golden("metadata.json", &metadata_json(&sample_config()));
    }

    /// The community schema (json.schemastore.org, draft-07), vendored under tests/data/schema.
    const SCHEMA: &str = include_str!("../../tests/data/schema/docker-extension-metadata.schema.json");

    /// The draft-07 keywords that schema uses; any other keyword fails the test rather
    /// than being skipped, so the check cannot pass by ignoring part of the schema.
    fn validate(schema: &Value, root: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        for (keyword, rule) in schema.as_object().unwrap() {
            match keyword.as_str() {
                "$schema" | "$id" | "title" | "description" | "definitions" => {}
                "$ref" => {
                    let name = rule.as_str().unwrap().strip_prefix("#/definitions/").unwrap();
                    validate(&root["definitions"][name], root, value, at, errors);
                }
                "allOf" => rule.as_array().unwrap().iter().for_each(|s| validate(s, root, value, at, errors)),
                "type" => {
                    let ok = match rule.as_str().unwrap() {
                        "object" => value.is_object(),
                        "array" => value.is_array(),
                        "string" => value.is_string(),
                        other => panic!("type {other} is not handled"),
                    };
                    if !ok {
                        errors.push(format!("{at}: is not of type {rule}"));
                    }
                }
                "required" => {
                    for key in rule.as_array().unwrap() {
                        if value.get(key.as_str().unwrap()).is_none() {
                            errors.push(format!("{at}: lacks required {key}"));
                        }
                    }
                }
                "properties" => {
                    for (key, sub) in rule.as_object().unwrap() {
                        if let Some(v) = value.get(key) {
                            validate(sub, root, v, &format!("{at}.{key}"), errors);
                        }
                    }
                }
                "items" => {
                    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                        validate(rule, root, item, &format!("{at}[{i}]"), errors);
                    }
                }
                other => panic!("schema keyword {other} is not handled by this test's validator"),
            }
        }
    }

    #[test]
    fn validates_against_the_community_schema() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let mut errors = vec![];
        let generated = serde_json::to_value(Metadata::from_config(&sample_config())).unwrap();
        validate(&schema, &schema, &generated, "$", &mut errors);
        assert_eq!(errors, Vec::<String>::new());
        // The validator does catch a violation.
        let mut broken = generated;
        broken["ui"]["dashboard-tab"].as_object_mut().unwrap().remove("src");
        broken["host"]["binaries"] = json!("not a list");
        validate(&schema, &schema, &broken, "$", &mut errors);
        assert_eq!(
            errors,
            ["$.ui.dashboard-tab: lacks required \"src\"", "$.host.binaries: is not of type \"array\""]
        );
    }

    #[test]
    fn names_every_file_it_needs() {
        let paths = Metadata::from_config(&sample_config()).named_paths();
        assert_eq!(
            paths,
            [
                "/icon.svg",
                "/ui/index.html",
                "/darwin/sample",
                "/darwin/sample-helper",
                "/windows/sample.exe",
                "/windows/sample-helper.exe",
                "/linux/sample",
                "/linux/sample-helper",
            ]
        );
    }

    #[test]
    fn reading_back_names_the_key_path_of_an_unknown_key() {
        let generated = metadata_json(&sample_config());
        assert_eq!(Metadata::parse(generated.as_bytes()).unwrap(), Metadata::from_config(&sample_config()));
        let err = Metadata::parse(br#"{"icon": "i.svg", "ui": {"dashboard-tab": {"title": "t", "root": "/ui", "src": "i", "height": 3}}}"#)
            .unwrap_err();
        assert_eq!(
            err,
            "has the unknown key `ui.dashboard-tab.height` (allowed here: title, root, src, backend)"
        );
        let err = Metadata::parse(br#"{"icon": "i.svg", "name": "old"}"#).unwrap_err();
        assert_eq!(err, "has the unknown key `name` (allowed here: icon, vm, ui, host)");
        assert!(Metadata::parse(b"[1, 2]").is_err());
        assert!(Metadata::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn a_compose_file_replaces_the_image_and_no_backend_means_no_vm() {
        let mut config = sample_config();
        config.backend.as_mut().unwrap().compose_file = Some("extension/docker-compose.yaml".into());
        let m = serde_json::to_value(Metadata::from_config(&config)).unwrap();
        assert_eq!(
            m["vm"],
            json!({ "composefile": "docker-compose.yaml", "exposes": { "socket": "sample.sock" } })
        );
        config.backend = None;
        let m = serde_json::to_value(Metadata::from_config(&config)).unwrap();
        assert!(m.get("vm").is_none());
        assert!(m["ui"]["dashboard-tab"].get("backend").is_none());
    }
}
