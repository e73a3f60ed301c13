//! What the builtin engine attaches to each platform's image, stored the way buildx stores
//! it: an SBOM (SPDX 2.3: the packages whose code that platform's files hold) and a
//! provenance statement (SLSA provenance v0.2: the source, its revision, the tool and the
//! toolchain), each an in-toto statement whose subject is the platform's manifest, as the
//! layers of an attestation manifest (platform `unknown/unknown`, annotated with the digest
//! of the manifest it describes). skopeo, `docker buildx imagetools inspect`, `docker load`
//! and `check` read them as they read buildx's.
//!
//! Every byte follows from the inputs: no clock (the time is `SOURCE_DATE_EPOCH`'s), no
//! path of the machine, no random document namespace; so the image digest stays the same
//! from one machine to the next.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::model::reference::ImageReference;
use crate::model::targets::Variant;
use crate::util::digest::Digest;

/// An in-toto statement's media type, as an attestation manifest's layer.
pub(crate) use crate::image::oci::IN_TOTO;
/// The predicate types, as BuildKit writes them.
pub(crate) const SPDX: &str = "https://spdx.dev/Document";
pub(crate) const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v0.2";
/// The annotations that tie attestations to what they describe.
pub(crate) const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
pub(crate) const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
pub(crate) const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub(crate) const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// Where a package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub(crate) enum Ecosystem {
    Cargo,
    Npm,
    /// A file fetched by URL and verified by its SHA-256: a host binary from elsewhere.
    Download,
}

/// A package whose code is in the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub(crate) struct Component {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    /// Its license expression, as its manifest declares it.
    pub license: Option<String>,
    /// Where it is fetched from (a registry's URL), or its repository.
    pub download: Option<String>,
    /// Its SHA-256, when the file itself is what is known (a download).
    pub sha256: Option<Digest>,
}

impl Component {
    /// Its package URL (purl): `pkg:cargo/serde@1.0.228`, `pkg:npm/%40docker/extension-api-client@0.3.4`.
    pub(crate) fn purl(&self) -> String {
        match self.ecosystem {
            Ecosystem::Cargo => format!("pkg:cargo/{}@{}", self.name, self.version),
            Ecosystem::Npm => format!("pkg:npm/{}@{}", self.name.replace('@', "%40"), self.version),
            Ecosystem::Download => format!(
                "pkg:generic/{}?checksum={}&download_url={}",
                percent_encoded(&self.name),
                self.sha256.as_ref().map(Digest::to_string).unwrap_or_default(),
                percent_encoded(self.download.as_deref().unwrap_or_default())
            ),
        }
    }

    /// An SPDX identifier: letters, digits, `.` and `-` only.
    fn spdx_id(&self) -> String {
        let raw = match self.ecosystem {
            Ecosystem::Cargo => format!("cargo-{}-{}", self.name, self.version),
            Ecosystem::Npm => format!("npm-{}-{}", self.name, self.version),
            Ecosystem::Download => {
                format!(
                    "download-{}-{}",
                    self.name,
                    self.sha256.as_ref().map(Digest::short).unwrap_or_default()
                )
            }
        };
        let clean: String =
            raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
        format!("SPDXRef-Package-{clean}")
    }
}

/// A purl qualifier's value: everything but letters, digits and `-._~` percent-encoded.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The facts a provenance statement records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provenance {
    /// The repository the sources are in (the packages' `repository`).
    pub source: Option<String>,
    /// The commit (`SOURCE_REVISION`, else git's HEAD).
    pub revision: Option<String>,
    /// What `rustc --version` said.
    pub rustc: String,
    /// The cargo profile the binaries were built with.
    pub profile: String,
}

/// What the builtin engine attaches to each platform's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attach {
    /// Per platform, the packages its files hold; `None`: no SBOM (`--no-sbom`).
    pub sbom: Option<BTreeMap<Variant, Vec<Component>>>,
    /// `None`: no provenance.
    pub provenance: Option<Provenance>,
}

/// The tool that writes the statements.
fn tool() -> String {
    format!("{}-{}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

/// The in-toto subject: the platform's image manifest, named as BuildKit names it.
fn subject(reference: &ImageReference, variant: Variant, manifest_digest: &Digest) -> Value {
    let platform = variant.platform().replace('/', "%2F");
    let name =
        format!("pkg:docker/{}@{}?platform={platform}", reference.repository(), reference.tag_or_latest());
    json!([{ "name": name, "digest": { "sha256": manifest_digest.hex() } }])
}

/// The SBOM statement (SPDX 2.3) of one platform's image.
pub(crate) fn sbom_statement(
    reference: &ImageReference,
    variant: Variant,
    manifest_digest: &Digest,
    components: &[Component],
    created: &str,
) -> Vec<u8> {
    let unique: BTreeSet<&Component> = components.iter().collect();
    let image_id = "SPDXRef-Image";
    let mut packages = vec![json!({
        "name": reference.repository(),
        "SPDXID": image_id,
        "versionInfo": reference.tag_or_latest(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:docker/{}@{}?platform={}", reference.repository(), reference.tag_or_latest(), variant.platform().replace('/', "%2F")),
        }],
    })];
    let mut relationships = vec![
        json!({ "spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id }),
    ];
    for component in &unique {
        let id = component.spdx_id();
        let mut package = json!({
            "name": component.name,
            "SPDXID": id,
            "versionInfo": component.version,
            "downloadLocation": component.download.as_deref().unwrap_or("NOASSERTION"),
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": component.license.as_deref().unwrap_or("NOASSERTION"),
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": component.purl(),
            }],
        });
        // A download: no version to name, the file's own hash instead.
        if component.version.is_empty() {
            package.as_object_mut().map(|p| p.shift_remove("versionInfo"));
        }
        if let Some(sha256) = &component.sha256 {
            package["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sha256.hex() }]);
        }
        packages.push(package);
        relationships.push(
            json!({ "spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": id }),
        );
    }
    // A namespace unique to this document, from what it says (no random part).
    let listed: String = unique.iter().map(|c| format!("{}\n", c.purl())).collect();
    let namespace = format!(
        "https://spdx.org/spdxdocs/{}-{}-{}",
        reference.repository().replace('/', "-"),
        variant.arch(),
        crate::util::files::short_hash(&format!("{reference}\n{listed}"))
    );
    let document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{reference} {}", variant.platform()),
        "documentNamespace": namespace,
        "creationInfo": { "created": created, "creators": [format!("Tool: {}", tool())] },
        "packages": packages,
        "relationships": relationships,
    });
    statement(SPDX, &subject(reference, variant, manifest_digest), &document)
}

/// The provenance statement (SLSA provenance v0.2, as BuildKit writes it) of one
/// platform's image.
pub(crate) fn provenance_statement(
    reference: &ImageReference,
    variant: Variant,
    manifest_digest: &Digest,
    facts: &Provenance,
) -> Vec<u8> {
    let mut materials = vec![];
    if let Some(source) = &facts.source {
        let uri = format!("git+{source}");
        materials.push(match &facts.revision {
            Some(revision) => json!({ "uri": uri, "digest": { "sha1": revision } }),
            None => json!({ "uri": uri }),
        });
    }
    materials.push(
        json!({ "uri": format!("pkg:cargo/{}@{}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")) }),
    );
    let mut config_source = json!({ "entryPoint": "Cargo.toml" });
    if let Some(source) = &facts.source {
        config_source["uri"] = json!(source);
    }
    if let Some(revision) = &facts.revision {
        config_source["digest"] = json!({ "sha1": revision });
    }
    let predicate = json!({
        "builder": { "id": format!("pkg:cargo/{}@{}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")) },
        "buildType": "https://github.com/docker-extension-tool/builtin-engine@v1",
        "invocation": {
            "configSource": config_source,
            "parameters": {
                "engine": "builtin",
                "platform": variant.platform(),
                "profile": facts.profile,
                "rustc": facts.rustc,
            },
            "environment": { "platform": variant.platform() },
        },
        "metadata": {
            "reproducible": true,
            "completeness": { "parameters": true, "environment": true, "materials": false },
        },
        "materials": materials,
    });
    statement(SLSA_PROVENANCE, &subject(reference, variant, manifest_digest), &predicate)
}

fn statement(predicate_type: &str, subject: &Value, predicate: &Value) -> Vec<u8> {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": subject,
        "predicate": predicate,
    });
    serde_json::to_vec(&statement).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest's digest the statements are about.
    fn abc() -> Digest {
        Digest::of(b"abc")
    }

    fn components() -> Vec<Component> {
        vec![
            Component {
                ecosystem: Ecosystem::Npm,
                name: "@docker/extension-api-client".into(),
                version: "0.3.4".into(),
                license: Some("Apache-2.0".into()),
                download: None,
                sha256: None,
            },
            Component {
                ecosystem: Ecosystem::Cargo,
                name: "serde".into(),
                version: "1.0.228".into(),
                license: Some("MIT OR Apache-2.0".into()),
                download: Some("https://crates.io/api/v1/crates/serde/1.0.228/download".into()),
                sha256: None,
            },
        ]
    }

    #[test]
    fn a_download_is_listed_by_its_url_and_hash() {
        let reference = ImageReference::new("acme/ext", Some("1.0.0")).unwrap();
        let sha = "ab".repeat(32);
        let vendor = Component {
            ecosystem: Ecosystem::Download,
            name: "vendorctl".into(),
            version: String::new(),
            license: None,
            download: Some("https://example.com/v1/vendorctl.tar.gz?x=1".into()),
            sha256: Some(Digest::from_hex(&sha).unwrap()),
        };
        assert_eq!(
            vendor.purl(),
            format!("pkg:generic/vendorctl?checksum=sha256:{sha}&download_url=https%3A%2F%2Fexample.com%2Fv1%2Fvendorctl.tar.gz%3Fx%3D1")
        );
        let bytes = sbom_statement(&reference, Variant::Amd64, &abc(), &[vendor], "2023-11-14T22:13:20Z");
        let statement: Value = serde_json::from_slice(&bytes).unwrap();
        let package = &statement["predicate"]["packages"][1];
        assert_eq!(package["SPDXID"], "SPDXRef-Package-download-vendorctl-abababababab");
        assert_eq!(package["downloadLocation"], "https://example.com/v1/vendorctl.tar.gz?x=1");
        assert_eq!(package["checksums"], json!([{ "algorithm": "SHA256", "checksumValue": sha }]));
        assert!(package.get("versionInfo").is_none(), "{package}");
    }

    #[test]
    fn the_sbom_lists_each_package_once_with_its_purl_and_license() {
        let reference = ImageReference::new("acme/ext", Some("1.0.0")).unwrap();
        let mut twice = components();
        twice.extend(components());
        let bytes = sbom_statement(&reference, Variant::Arm64, &abc(), &twice, "2023-11-14T22:13:20Z");
        assert_eq!(
            bytes,
            sbom_statement(&reference, Variant::Arm64, &abc(), &components(), "2023-11-14T22:13:20Z")
        );
        let statement: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(statement["predicateType"], SPDX);
        assert_eq!(statement["subject"][0]["name"], "pkg:docker/acme/ext@1.0.0?platform=linux%2Farm64");
        assert_eq!(statement["subject"][0]["digest"]["sha256"], abc().hex());
        let packages = statement["predicate"]["packages"].as_array().unwrap();
        assert_eq!(packages.len(), 3, "the image and two packages");
        let purls: Vec<&str> =
            packages.iter().map(|p| p["externalRefs"][0]["referenceLocator"].as_str().unwrap()).collect();
        assert!(purls.contains(&"pkg:cargo/serde@1.0.228"));
        assert!(purls.contains(&"pkg:npm/%40docker/extension-api-client@0.3.4"));
        for package in packages {
            let id = package["SPDXID"].as_str().unwrap();
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'), "{id}");
        }
        assert_eq!(statement["predicate"]["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn provenance_names_the_source_revision_and_toolchain() {
        let reference = ImageReference::new("acme/ext", Some("1.0.0")).unwrap();
        let facts = Provenance {
            source: Some("https://github.com/acme/ext".into()),
            revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
            profile: "release".into(),
        };
        let statement: Value =
            serde_json::from_slice(&provenance_statement(&reference, Variant::Amd64, &abc(), &facts))
                .unwrap();
        assert_eq!(statement["predicateType"], SLSA_PROVENANCE);
        let invocation = &statement["predicate"]["invocation"];
        assert_eq!(invocation["configSource"]["uri"], "https://github.com/acme/ext");
        assert_eq!(invocation["configSource"]["digest"]["sha1"], "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(invocation["parameters"]["rustc"], "rustc 1.95.0 (59807616e 2026-04-14)");
        assert_eq!(statement["predicate"]["materials"][0]["uri"], "git+https://github.com/acme/ext");
    }
}
