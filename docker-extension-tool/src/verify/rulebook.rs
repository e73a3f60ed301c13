//! Every rule `check` and `dist` hold an extension to, with its severity and its source: an
//! error only where the platform refuses the thing (Docker Desktop, Compose as Docker
//! Desktop runs a compose backend, the Marketplace's validator, the OCI image format), and
//! a warning for advice, printed with its place and the exit status left at 0 (unless
//! `--deny-warnings`, or `deny-warnings = true` in the config, for CI). `cargo xtask rules`
//! prints this list as the README's table.

use crate::util::report::{Problem, Severity};

/// Who refuses what a rule guards against (or that nobody does: advice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Docker Desktop, installing or running the extension.
    DockerDesktop,
    /// Docker Compose, which Docker Desktop runs a `vm.composefile` with.
    Compose,
    /// The Marketplace's validator (`docker extension validate`).
    Marketplace,
    /// The OCI image format: what any engine or registry refuses to read.
    ImageFormat,
    /// Nobody refuses it: good practice, a warning.
    Advice,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::DockerDesktop => "Docker Desktop",
            Source::Compose => "Compose (how Docker Desktop runs `vm.composefile`)",
            Source::Marketplace => "the Marketplace's validator",
            Source::ImageFormat => "the OCI image format",
            Source::Advice => "advice",
        }
    }
}

/// A rule: its id (printed after each problem), severity, source, and what it asks for.
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub source: Source,
    pub asks: &'static str,
}

impl Rule {
    /// A problem breaking this rule, at `place`.
    pub(crate) fn problem(&'static self, place: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { place: place.into(), message: message.into(), severity: self.severity, rule: Some(self.id) }
    }
}

const fn error(id: &'static str, source: Source, asks: &'static str) -> Rule {
    Rule { id, severity: Severity::Error, source, asks }
}

const fn advice(id: &'static str, asks: &'static str) -> Rule {
    Rule { id, severity: Severity::Warning, source: Source::Advice, asks }
}

// ---- The compose file ---------------------------------------------------------------------

pub(crate) static COMPOSE_YAML: Rule =
    error("compose-yaml", Source::Compose, "the compose file is UTF-8 YAML, a mapping of Compose's keys");
pub(crate) static COMPOSE_SERVICES: Rule = error("compose-services", Source::Compose, "it declares services");
pub(crate) static COMPOSE_UNKNOWN_KEY: Rule =
    error("compose-unknown-key", Source::Compose, "every key is one of Compose's (or an `x-` extension)");
pub(crate) static COMPOSE_UNDECLARED_VOLUME: Rule = error(
    "compose-undeclared-volume",
    Source::Compose,
    "a named volume a service mounts is declared under the top-level `volumes`",
);
pub(crate) static COMPOSE_NO_IMAGE: Rule = error(
    "compose-no-image",
    Source::DockerDesktop,
    "every service has an `image` (Docker Desktop pulls images; it has no build context)",
);
pub(crate) static COMPOSE_UNPINNED_IMAGE: Rule = advice(
    "compose-unpinned-image",
    "images other than the extension's own (`${DESKTOP_PLUGIN_IMAGE}`) are pinned by digest, so every user runs the bytes you tested",
);
pub(crate) static COMPOSE_DOCKER_SOCKET: Rule = advice(
    "compose-docker-socket",
    "the engine is mounted as `/var/run/docker.sock.raw` (Docker Desktop's own socket in its VM); keep `docker.sock` where the engine must translate Windows paths, as Docker's Volumes Backup does",
);
pub(crate) static COMPOSE_VERSION: Rule =
    advice("compose-version", "no top-level `version:` (Compose ignores it and says it is obsolete)");

// ---- The image ------------------------------------------------------------------------------

pub(crate) static IMAGE_READABLE: Rule = error(
    "image-readable",
    Source::ImageFormat,
    "the image reads back: every blob has its size and digest, every layer is a tar",
);
pub(crate) static IMAGE_ENTRIES: Rule = error(
    "image-entries",
    Source::ImageFormat,
    "layer entries stay inside the image (no `..`, absolute paths or links leading out)",
);
pub(crate) static IMAGE_PLATFORMS: Rule = error(
    "image-platforms",
    Source::Marketplace,
    "the image has linux/amd64 and linux/arm64, both in its index",
);
pub(crate) static INDEX_ATTESTATIONS: Rule = advice(
    "index-attestations",
    "the index holds the two platforms only: attestation manifests beside them (`unknown/unknown`) have made Docker's Marketplace validator say the image is not multi-platform (docker/extensions-sdk#305)",
);
pub(crate) static METADATA_JSON: Rule = error(
    "metadata-json",
    Source::DockerDesktop,
    "`/metadata.json` is there and valid (Docker Desktop reads it first)",
);
pub(crate) static METADATA_PATHS: Rule =
    error("metadata-paths", Source::DockerDesktop, "every file metadata.json names is in the image");
pub(crate) static HOST_BINARY_EXECUTABLE: Rule = error(
    "host-binary-executable",
    Source::DockerDesktop,
    "host binaries have an execute bit (installed as they are)",
);
pub(crate) static HOST_BINARY_FORMAT: Rule = error(
    "host-binary-format",
    Source::DockerDesktop,
    "each host binary is its OS's executable for the variant's CPU; a script is its OS's kind (`#!` for macOS and Linux)",
);
pub(crate) static BACKEND_ENTRYPOINT: Rule = error(
    "backend-entrypoint",
    Source::DockerDesktop,
    "a `vm.image` backend is the image's entrypoint, a Linux executable for the variant's CPU, static on `scratch`",
);
pub(crate) static LABELS_REQUIRED: Rule =
    error("labels-required", Source::Marketplace, "the labels the Marketplace requires are there, not empty");
pub(crate) static LABEL_VALUES: Rule = error(
    "label-values",
    Source::Marketplace,
    "label values are what the Marketplace reads: an API version range, URLs, an .svg/.png/.jpg icon, JSON lists of objects, known categories",
);
pub(crate) static LABEL_VERSION: Rule =
    error("label-version", Source::Marketplace, "the image's version is a semver release (`1.2.3`)");
pub(crate) static TITLE_WORD: Rule =
    advice("title-word", "the title does not say \"extension\" (the Marketplace asks)");
pub(crate) static LABEL_LIST_LENGTH: Rule =
    advice("label-list-length", "screenshots and links are a few (at most 100 are checked)");

/// Every rule, in the order of the README's table.
pub(crate) static ALL: &[&Rule] = &[
    &COMPOSE_YAML,
    &COMPOSE_SERVICES,
    &COMPOSE_UNKNOWN_KEY,
    &COMPOSE_UNDECLARED_VOLUME,
    &COMPOSE_NO_IMAGE,
    &COMPOSE_UNPINNED_IMAGE,
    &COMPOSE_DOCKER_SOCKET,
    &COMPOSE_VERSION,
    &IMAGE_READABLE,
    &IMAGE_ENTRIES,
    &IMAGE_PLATFORMS,
    &INDEX_ATTESTATIONS,
    &METADATA_JSON,
    &METADATA_PATHS,
    &HOST_BINARY_EXECUTABLE,
    &HOST_BINARY_FORMAT,
    &BACKEND_ENTRYPOINT,
    &LABELS_REQUIRED,
    &LABEL_VALUES,
    &LABEL_VERSION,
    &TITLE_WORD,
    &LABEL_LIST_LENGTH,
];

/// The rules as a Markdown table: what `cargo xtask rules` prints and the README holds.
pub(crate) fn markdown_table() -> String {
    let mut table = String::from("| rule | severity | refused by | asks that |\n|---|---|---|---|\n");
    for rule in ALL {
        let severity = match rule.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        table.push_str(&format!("| `{}` | {severity} | {} | {} |\n", rule.id, rule.source.name(), rule.asks));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_errors_name_who_refuses() {
        let mut ids: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "an id twice");
        for rule in ALL {
            assert_eq!(
                rule.severity == Severity::Warning,
                rule.source == Source::Advice,
                "{}: a warning is advice, an error has a source that refuses",
                rule.id
            );
        }
        assert!(markdown_table().lines().count() == ALL.len() + 2);
    }
}
