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
    for (os, _) in &config.host_targets {
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
