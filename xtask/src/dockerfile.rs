//! The extension's Dockerfile and its Marketplace labels: pure functions of the config.
//!
//! No RUN step: every binary was cross-compiled before the build, so neither variant needs
//! emulation, and the build takes seconds.

use crate::config::Config;

/// The image labels, in the order `docker extension validate` lists them. Optional labels
/// appear only when set.
pub fn labels(config: &Config) -> Vec<(&'static str, String)> {
    let l = &config.labels;
    let mut labels = vec![
        ("org.opencontainers.image.title", l.title.clone()),
        ("org.opencontainers.image.description", l.description.clone()),
        ("org.opencontainers.image.vendor", l.vendor.clone()),
        ("com.docker.desktop.extension.api.version", l.api_version.clone()),
        ("com.docker.desktop.extension.icon", l.icon_url.clone()),
        ("com.docker.extension.screenshots", json_array(&l.screenshots)),
        ("com.docker.extension.detailed-description", l.detailed_description.clone()),
        ("com.docker.extension.publisher-url", l.publisher_url.clone()),
    ];
    if !l.additional_urls.is_empty() {
        labels.push(("com.docker.extension.additional-urls", json_array(&l.additional_urls)));
    }
    labels.push(("com.docker.extension.changelog", l.changelog.clone()));
    labels.push(("com.docker.extension.categories", l.categories.join(",")));
    if let Some(account_info) = &l.account_info {
        labels.push(("com.docker.extension.account-info", account_info.clone()));
    }
    labels.push(("org.opencontainers.image.version", config.tag.clone()));
    labels
}

/// A label whose value is a JSON array (screenshots, additional URLs).
fn json_array<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).expect("label values serialize")
}

/// The text a label carries in the image: a Dockerfile cannot hold a newline inside a
/// value, so line breaks become spaces (the long labels are HTML, where that changes
/// nothing) and surrounding whitespace goes.
pub fn label_text(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A double-quoted Dockerfile word: `\`, `"` and `$` (variable expansion) are escaped.
fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in label_text(value).chars() {
        if matches!(c, '\\' | '"' | '$') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

pub fn dockerfile(config: &Config) -> String {
    let mut d = String::new();
    d.push_str(crate::ownership::GENERATED_HEADER);
    d.push_str(" from [workspace.metadata.extension] in Cargo.toml.\n");
    d.push_str("# Do not edit: change the config and run dist again.\n");
    d.push_str(&format!("FROM {}\n", config.base_image));
    d.push_str("ARG TARGETARCH\n");
    let labels: Vec<String> =
        labels(config).iter().map(|(key, value)| format!("{key}={}", quote(value))).collect();
    d.push_str(&format!("LABEL {}\n", labels.join(" \\\n      ")));
    d.push_str("# The same in both variants, so these layers are shared.\n");
    let mut shared = vec!["metadata.json".to_string(), config.icon_file_name().to_string()];
    if let Some(compose) = config.backend.as_ref().and_then(|b| b.compose_file.as_ref()) {
        shared.push(compose.file_name().unwrap_or("docker-compose.yaml").to_string());
    }
    d.push_str(&format!("COPY {} /\n", shared.join(" ")));
    if config.ui.is_some() {
        d.push_str("COPY ui /ui\n");
    }
    if config.backend.is_some() || !config.host_binaries.is_empty() && !config.host_targets.is_empty() {
        d.push_str("# The binaries built for this variant's CPU: /backend, /darwin, /windows, /linux.\n");
        d.push_str("COPY ${TARGETARCH}/ /\n");
    }
    if let Some(backend) = &config.backend {
        d.push_str(&format!(
            "ENTRYPOINT [\"/backend\", \"--socket\", \"/run/guest-services/{}\"]\n",
            backend.socket
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_golden, sample_config};

    #[test]
    fn golden() {
        check_golden("Dockerfile", &dockerfile(&sample_config()));
    }

    #[test]
    fn without_backend_or_binaries_there_is_no_variant_copy_and_no_entrypoint() {
        let mut config = sample_config();
        config.backend = None;
        config.host_binaries.clear();
        config.base_image = "alpine:3.20".into();
        let d = dockerfile(&config);
        assert!(d.contains("\nFROM alpine:3.20\n"));
        assert!(!d.contains("TARGETARCH}/"), "{d}");
        assert!(!d.contains("ENTRYPOINT"), "{d}");
    }

    #[test]
    fn label_values_are_escaped_for_the_dockerfile() {
        assert_eq!(quote("a \"b\" $c \\d"), "\"a \\\"b\\\" \\$c \\\\d\"");
        assert_eq!(quote("<p>one</p>\n  <p>two</p>\n"), "\"<p>one</p> <p>two</p>\"");
    }

    #[test]
    fn optional_labels_only_when_set() {
        let mut config = sample_config();
        let keys = |c: &Config| labels(c).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert!(keys(&config).contains(&"com.docker.extension.additional-urls"));
        assert!(!keys(&config).contains(&"com.docker.extension.account-info"));
        config.labels.additional_urls.clear();
        config.labels.account_info = Some("required".into());
        assert!(!keys(&config).contains(&"com.docker.extension.additional-urls"));
        assert!(keys(&config).contains(&"com.docker.extension.account-info"));
    }
}
