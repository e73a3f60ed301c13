//! What the image holds, as one `ImageSpec`: its labels, its layers (the COPY steps) and
//! its entrypoint, a pure function of the config. The Dockerfile is rendered from it (for
//! buildx, buildah, podman), and the built-in writer builds the same layers from it.
//!
//! No RUN step: every binary was cross-compiled before the build, so neither variant needs
//! emulation, and the build takes seconds.

use crate::image::metadata::label;
use crate::workspace::config::Config;

/// The image, as the Dockerfile and the built-in writer both make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub base_image: String,
    /// In the order `docker extension validate` lists them, optional ones only when set;
    /// values as the image carries them (see [`label_text`]).
    pub labels: Vec<(&'static str, String)>,
    /// One layer each, in order.
    pub copies: Vec<Copy>,
    pub entrypoint: Option<Vec<String>>,
}

/// A `COPY` step: context paths to a folder of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Paths in the context; for a variant's copy, the variant's folder (`${TARGETARCH}/`),
    /// whose contents go to `dest`.
    pub sources: Vec<String>,
    pub dest: String,
    /// `COPY ${TARGETARCH}/ /`: the variant's own binaries, and executables all.
    pub per_variant: bool,
    /// Why the layer is where it is (a Dockerfile comment).
    pub comment: Option<&'static str>,
}

/// The folder of a variant's binaries in the context, as the Dockerfile names it.
pub const VARIANT_FOLDER: &str = "${TARGETARCH}/";

impl ImageSpec {
    pub fn from_config(config: &Config) -> ImageSpec {
        let mut shared = vec!["metadata.json".to_string(), config.icon_file_name().to_string()];
        if let Some(compose) = config.backend.as_ref().and_then(|b| b.compose_file.as_ref()) {
            shared.push(compose.file_name().unwrap_or("docker-compose.yaml").to_string());
        }
        let mut copies = vec![Copy {
            sources: shared,
            dest: "/".into(),
            per_variant: false,
            comment: Some("The same in both variants, so these layers are shared."),
        }];
        if config.ui.is_some() {
            copies.push(Copy {
                sources: vec!["ui".into()],
                dest: "/ui".into(),
                per_variant: false,
                comment: None,
            });
        }
        if config.backend.is_some() || !config.host_binaries.is_empty() && !config.host_targets.is_empty() {
            copies.push(Copy {
                sources: vec![VARIANT_FOLDER.into()],
                dest: "/".into(),
                per_variant: true,
                comment: Some(
                    "The binaries built for this variant's CPU: /backend, /darwin, /windows, /linux.",
                ),
            });
        }
        ImageSpec {
            base_image: config.base_image.clone(),
            labels: labels(config).into_iter().map(|(k, v)| (k, label_text(&v))).collect(),
            copies,
            entrypoint: config.backend.as_ref().map(|backend| {
                vec!["/backend".into(), "--socket".into(), format!("/run/guest-services/{}", backend.socket)]
            }),
        }
    }

    pub fn dockerfile(&self) -> String {
        let mut d = String::new();
        d.push_str(crate::context::ownership::GENERATED_HEADER);
        d.push_str(" from [workspace.metadata.extension] in Cargo.toml.\n");
        d.push_str("# Do not edit: change the config and run dist again.\n");
        d.push_str(&format!("FROM {}\n", self.base_image));
        d.push_str("ARG TARGETARCH\n");
        let labels: Vec<String> =
            self.labels.iter().map(|(key, value)| format!("{key}={}", quote(value))).collect();
        d.push_str(&format!("LABEL {}\n", labels.join(" \\\n      ")));
        for copy in &self.copies {
            if let Some(comment) = copy.comment {
                d.push_str(&format!("# {comment}\n"));
            }
            d.push_str(&format!("COPY {} {}\n", copy.sources.join(" "), copy.dest));
        }
        if let Some(entrypoint) = &self.entrypoint {
            let words: Vec<String> =
                entrypoint.iter().map(|w| serde_json::to_string(w).expect("a string")).collect();
            d.push_str(&format!("ENTRYPOINT [{}]\n", words.join(", ")));
        }
        d
    }
}

/// The image labels with their config values, in the order `docker extension validate`
/// lists them. Optional labels appear only when set.
fn labels(config: &Config) -> Vec<(&'static str, String)> {
    let l = &config.labels;
    let mut labels = vec![
        (label::TITLE, l.title.clone()),
        (label::DESCRIPTION, l.description.clone()),
        (label::VENDOR, l.vendor.clone()),
        (label::API_VERSION, l.api_version.clone()),
        (label::ICON, l.icon_url.clone()),
        (label::SCREENSHOTS, json_array(&l.screenshots)),
        (label::DETAILED_DESCRIPTION, l.detailed_description.clone()),
        (label::PUBLISHER_URL, l.publisher_url.clone()),
    ];
    if !l.additional_urls.is_empty() {
        labels.push((label::ADDITIONAL_URLS, json_array(&l.additional_urls)));
    }
    labels.push((label::CHANGELOG, l.changelog.clone()));
    labels.push((label::CATEGORIES, l.categories.join(",")));
    if let Some(account_info) = &l.account_info {
        labels.push((label::ACCOUNT_INFO, account_info.clone()));
    }
    labels.push((label::VERSION, config.tag.clone()));
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
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

pub fn dockerfile(config: &Config) -> String {
    ImageSpec::from_config(config).dockerfile()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::sample::{check_golden, sample_config};

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
        assert_eq!(label_text("<p>one</p>\n  <p>two</p>\n"), "<p>one</p> <p>two</p>");
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
