//! metadata.json, what Docker Desktop reads first: a pure function of the config.
//!
//! `host.binaries` is keyed by OS only, never by CPU: each image variant carries the build
//! for its own CPU at the same path, so one metadata.json serves both variants.

use serde_json::{json, Map, Value};

use crate::config::Config;

/// Where the UI lives in the image, and its entry page.
pub const UI_ROOT: &str = "/ui";
pub const UI_ENTRY: &str = "index.html";

pub fn metadata(config: &Config) -> Value {
    let mut root = Map::new();
    root.insert("icon".into(), json!(config.icon_file_name()));
    if let Some(backend) = &config.backend {
        let vm = match &backend.compose_file {
            Some(compose) => json!({ "composefile": compose.file_name().unwrap_or("docker-compose.yaml") }),
            None => json!({ "image": "${DESKTOP_PLUGIN_IMAGE}" }),
        };
        let mut vm = vm.as_object().cloned().unwrap_or_default();
        vm.insert("exposes".into(), json!({ "socket": backend.socket }));
        root.insert("vm".into(), Value::Object(vm));
    }
    if config.ui.is_some() {
        let mut tab = json!({ "title": config.labels.title, "root": UI_ROOT, "src": UI_ENTRY });
        if let Some(backend) = &config.backend {
            tab["backend"] = json!({ "socket": backend.socket });
        }
        root.insert("ui".into(), json!({ "dashboard-tab": tab }));
    }
    let mut binaries = Map::new();
    for os in config.host_targets.keys() {
        let paths: Vec<Value> = config
            .host_binaries
            .iter()
            .map(|b| json!({ "path": format!("/{}/{}{}", os.key(), b.bin, os.exe_suffix()) }))
            .collect();
        if !paths.is_empty() {
            binaries.insert(os.key().into(), Value::Array(paths));
        }
    }
    if !binaries.is_empty() {
        root.insert("host".into(), json!({ "binaries": [binaries] }));
    }
    Value::Object(root)
}

/// metadata.json's text as written into the context.
pub fn metadata_json(config: &Config) -> String {
    let mut text = serde_json::to_string_pretty(&metadata(config)).expect("JSON serializes");
    text.push('\n');
    text
}

/// Every file metadata.json names, as absolute paths in the image.
pub fn named_paths(metadata: &Value) -> Vec<String> {
    let mut paths = vec![];
    if let Some(icon) = metadata["icon"].as_str() {
        paths.push(format!("/{icon}"));
    }
    if let Some(compose) = metadata["vm"]["composefile"].as_str() {
        paths.push(format!("/{compose}"));
    }
    let tab = &metadata["ui"]["dashboard-tab"];
    if let (Some(root), Some(src)) = (tab["root"].as_str(), tab["src"].as_str()) {
        paths.push(format!("{}/{src}", root.trim_end_matches('/')));
    }
    for group in metadata["host"]["binaries"].as_array().into_iter().flatten() {
        for (_, list) in group.as_object().into_iter().flatten() {
            for entry in list.as_array().into_iter().flatten() {
                paths.extend(entry["path"].as_str().map(str::to_string));
            }
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_golden, sample_config};

    #[test]
    fn golden() {
        check_golden("metadata.json", &metadata_json(&sample_config()));
    }

    /// The community schema (json.schemastore.org, draft-07), vendored under tests/schema.
    const SCHEMA: &str = include_str!("../tests/schema/docker-extension-metadata.schema.json");

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
        validate(&schema, &schema, &metadata(&sample_config()), "$", &mut errors);
        assert_eq!(errors, Vec::<String>::new());
        // The validator does catch a violation.
        let mut broken = metadata(&sample_config());
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
        let paths = named_paths(&metadata(&sample_config()));
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
    fn a_compose_file_replaces_the_image_and_no_backend_means_no_vm() {
        let mut config = sample_config();
        config.backend.as_mut().unwrap().compose_file = Some("extension/docker-compose.yaml".into());
        let m = metadata(&config);
        assert_eq!(
            m["vm"],
            json!({ "composefile": "docker-compose.yaml", "exposes": { "socket": "sample.sock" } })
        );
        config.backend = None;
        let m = metadata(&config);
        assert!(m.get("vm").is_none());
        assert!(m["ui"]["dashboard-tab"].get("backend").is_none());
    }
}
