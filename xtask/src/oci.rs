//! OCI images: read from an archive, a layout folder or a registry copy, entirely in
//! memory, and (see `builtin`) written.
//!
//! `check` reads images from outside, so every byte here is untrusted: sizes are capped,
//! every blob's digest is verified, paths are normalised and never written to disk (a
//! layer's files live in a map), and nothing panics on what an archive holds.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{bail, Context};
use camino::Utf8Path;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::targets::Variant;

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// More than any extension image should hold: an archive past this is refused rather than
/// read into memory.
const MAX_BLOBS: u64 = 2 << 30;
/// The most a variant's layers may unpack to (a small archive can unpack to a lot).
const MAX_UNPACKED: u64 = 4 << 30;

/// `sha256:` and the hex digest of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The parts of an image config that checks read (others are kept out of the way).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: RunConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
}

/// An image layout in memory: the top index and every blob by digest.
pub struct Layout {
    pub index: Index,
    blobs: BTreeMap<String, Vec<u8>>,
}

/// One platform's image in a layout.
pub struct Image {
    pub variant: Variant,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

/// An attestation manifest (BuildKit's provenance or SBOM), and what it attests.
pub struct Attestation {
    /// The platform of the image it describes.
    pub platform: String,
    /// `provenance`, `SBOM`, or the predicate type as written.
    pub kinds: Vec<String>,
}

/// What a layout holds, sorted out.
#[derive(Default)]
pub struct Contents {
    pub images: Vec<Image>,
    pub attestations: Vec<Attestation>,
    /// Platforms that are neither an extension variant nor an attestation.
    pub others: Vec<String>,
}

impl Layout {
    /// Reads an OCI archive (a tar of a layout: `oci-layout`, `index.json`, `blobs/`).
    pub fn read_archive(path: &Utf8Path) -> anyhow::Result<Layout> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
        let mut archive = tar::Archive::new(file);
        let mut index = None;
        let mut blobs = BTreeMap::new();
        let mut total = 0u64;
        let not_tar = || format!("{path} is not a tar archive (expected an OCI archive from `dist --oci`)");
        let entries = archive.entries().with_context(not_tar)?;
        for entry in entries {
            let mut entry = entry.with_context(not_tar)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            let name = name.trim_start_matches("./");
            total = total.saturating_add(entry.size());
            if total > MAX_BLOBS {
                bail!(
                    "{path} holds more than {} GiB: larger than any extension image should be",
                    MAX_BLOBS >> 30
                );
            }
            let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 26));
            entry.read_to_end(&mut bytes).with_context(|| format!("reading {name} in {path}"))?;
            if name == "index.json" {
                index = Some(bytes);
            } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                blobs.insert(format!("sha256:{hex}"), bytes);
            }
        }
        let index = index.with_context(|| format!("{path} has no index.json: it is not an OCI archive"))?;
        Layout::new(&index, blobs, path.as_str())
    }

    /// Reads a layout folder (what `skopeo copy … oci:DIR` writes).
    pub fn read_dir(dir: &Utf8Path) -> anyhow::Result<Layout> {
        let index =
            std::fs::read(dir.join("index.json")).with_context(|| format!("{dir} has no index.json"))?;
        let mut blobs = BTreeMap::new();
        let blob_dir = dir.join("blobs/sha256");
        let mut total = 0u64;
        for entry in blob_dir.read_dir_utf8().with_context(|| format!("reading {blob_dir}"))? {
            let entry = entry?;
            total = total.saturating_add(entry.metadata()?.len());
            if total > MAX_BLOBS {
                bail!(
                    "{dir} holds more than {} GiB: larger than any extension image should be",
                    MAX_BLOBS >> 30
                );
            }
            blobs.insert(format!("sha256:{}", entry.file_name()), std::fs::read(entry.path())?);
        }
        Layout::new(&index, blobs, dir.as_str())
    }

    fn new(index: &[u8], blobs: BTreeMap<String, Vec<u8>>, source: &str) -> anyhow::Result<Layout> {
        let index: Index = serde_json::from_slice(index)
            .with_context(|| format!("the index.json of {source} is not an OCI index"))?;
        Ok(Layout { index, blobs })
    }

    /// A blob's bytes, verified against its digest.
    pub fn blob(&self, descriptor: &Descriptor) -> anyhow::Result<&[u8]> {
        let bytes = self
            .blobs
            .get(&descriptor.digest)
            .with_context(|| format!("blob {} is missing from the image", descriptor.digest))?;
        if digest(bytes) != descriptor.digest {
            bail!("blob {} does not have that digest: the image is corrupt", descriptor.digest);
        }
        Ok(bytes)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, descriptor: &Descriptor, what: &str) -> anyhow::Result<T> {
        serde_json::from_slice(self.blob(descriptor)?)
            .with_context(|| format!("blob {} is not a valid {what}", descriptor.digest))
    }

    /// Every platform image, attestation and stray manifest, following nested indexes.
    pub fn contents(&self) -> anyhow::Result<Contents> {
        let mut contents = Contents::default();
        let mut pending: Vec<Descriptor> = self.index.manifests.clone();
        let mut platforms_by_digest = BTreeMap::new();
        let mut attestations = vec![];
        let mut seen = 0;
        while let Some(descriptor) = pending.pop() {
            seen += 1;
            if seen > 10_000 {
                bail!("the image's indexes nest too deeply or loop");
            }
            let bytes = self.blob(&descriptor)?;
            let probe: serde_json::Value = serde_json::from_slice(bytes)
                .with_context(|| format!("blob {} is not JSON", descriptor.digest))?;
            let is_index = [INDEX, DOCKER_LIST].contains(&descriptor.media_type.as_str())
                || probe.get("manifests").is_some();
            if is_index {
                let index: Index = self.json(&descriptor, "image index")?;
                pending.extend(index.manifests);
                continue;
            }
            if descriptor.annotations.get("vnd.docker.reference.type").map(String::as_str)
                == Some("attestation-manifest")
            {
                attestations.push(descriptor);
                continue;
            }
            let manifest: Manifest = self.json(&descriptor, "image manifest")?;
            let config: ImageConfig = self.json(&manifest.config, "image config")?;
            let (os, arch, variant) = match &descriptor.platform {
                Some(p) => (p.os.clone(), p.architecture.clone(), p.variant.clone()),
                None => (config.os.clone(), config.architecture.clone(), config.variant.clone()),
            };
            let platform = match &variant {
                Some(v) => format!("{os}/{arch}/{v}"),
                None => format!("{os}/{arch}"),
            };
            platforms_by_digest.insert(descriptor.digest.clone(), platform.clone());
            match Variant::parse_platform(&platform) {
                Some(variant) if os == "linux" => contents.images.push(Image { variant, manifest, config }),
                _ => contents.others.push(platform),
            }
        }
        for descriptor in attestations {
            let subject =
                descriptor.annotations.get("vnd.docker.reference.digest").cloned().unwrap_or_default();
            let platform = platforms_by_digest
                .get(&subject)
                .cloned()
                .unwrap_or_else(|| format!("an image not in this index ({subject})"));
            let manifest: Manifest = self.json(&descriptor, "attestation manifest")?;
            let kinds = manifest
                .layers
                .iter()
                .filter_map(|l| l.annotations.get("in-toto.io/predicate-type"))
                .map(|t| {
                    if t.contains("slsa.dev/provenance") {
                        "provenance".to_string()
                    } else if t.contains("spdx") || t.contains("cyclonedx") {
                        "SBOM".to_string()
                    } else {
                        t.clone()
                    }
                })
                .collect();
            contents.attestations.push(Attestation { platform, kinds });
        }
        contents.images.sort_by_key(|i| i.variant);
        contents.attestations.sort_by(|a, b| a.platform.cmp(&b.platform));
        Ok(contents)
    }

    /// The files of an image: its layers applied in order, whiteouts honoured.
    pub fn files(&self, manifest: &Manifest) -> anyhow::Result<Tree> {
        let mut tree = Tree::default();
        let mut unpacked = 0u64;
        for layer in &manifest.layers {
            let bytes = self.blob(layer)?;
            tree.apply_layer(bytes, &mut unpacked)
                .with_context(|| format!("reading layer {}", layer.digest))?;
        }
        Ok(tree)
    }
}

/// A file system in memory: normalised absolute paths (without the leading `/`).
#[derive(Debug, Default)]
pub struct Tree {
    pub entries: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { bytes: Vec<u8>, mode: u32 },
    Dir { mode: u32 },
    Symlink { target: String },
}

impl Tree {
    /// A regular file's bytes, following no link.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        match self.entries.get(&normalise(path)?) {
            Some(Node::File { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }

    /// Whether a folder exists at `path`.
    pub fn is_dir(&self, path: &str) -> bool {
        normalise(path).is_some_and(|p| matches!(self.entries.get(&p), Some(Node::Dir { .. })))
    }

    fn apply_layer(&mut self, bytes: &[u8], unpacked: &mut u64) -> anyhow::Result<()> {
        let reader: Box<dyn Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(bytes))
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            bail!("the layer is zstd-compressed, which this check cannot read (gzip or plain tar only)");
        } else {
            Box::new(bytes)
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().context("the layer is not a tar archive")? {
            let mut entry = entry.context("the layer is not a valid tar archive")?;
            let raw = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            let Some(path) = normalise(&raw) else { continue };
            let name = path.rsplit('/').next().unwrap_or_default().to_string();
            let parent = path.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default();
            if name == ".wh..wh..opq" {
                // An opaque folder: what the lower layers put in it goes.
                let prefix = format!("{parent}/");
                self.entries.retain(|p, _| parent.is_empty() || !p.starts_with(&prefix));
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if parent.is_empty() { hidden.to_string() } else { format!("{parent}/{hidden}") };
                let prefix = format!("{gone}/");
                self.entries.retain(|p, _| *p != gone && !p.starts_with(&prefix));
                continue;
            }
            let header = entry.header();
            let mode = header.mode().unwrap_or(0o644);
            let kind = header.entry_type();
            let link = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            let node = if kind.is_dir() {
                Node::Dir { mode }
            } else if kind.is_symlink() {
                Node::Symlink { target: link }
            } else if kind.is_hard_link() {
                let target = link;
                match normalise(&target).and_then(|t| self.entries.get(&t).cloned()) {
                    Some(node) => node,
                    None => continue,
                }
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                *unpacked = unpacked.saturating_add(entry.size());
                if *unpacked > MAX_UNPACKED {
                    bail!("the image unpacks to more than {} GiB", MAX_UNPACKED >> 30);
                }
                let mut bytes = vec![];
                entry.read_to_end(&mut bytes).with_context(|| format!("reading /{path}"))?;
                Node::File { bytes, mode }
            } else {
                continue; // devices, fifos: nothing an extension image holds or checks
            };
            // A file replacing a folder replaces what was under it.
            if !matches!(node, Node::Dir { .. }) {
                let prefix = format!("{path}/");
                self.entries.retain(|p, _| !p.starts_with(&prefix));
            }
            self.entries.insert(path, node);
        }
        Ok(())
    }
}

/// `./a/b`, `/a//b/`, `a/./b` → `a/b`; `None` for the root or a path that climbs out (`..`).
pub fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = vec![];
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_never_climb_out() {
        assert_eq!(normalise("./ui/index.html").as_deref(), Some("ui/index.html"));
        assert_eq!(normalise("/a//b/./c/").as_deref(), Some("a/b/c"));
        assert_eq!(normalise("../etc/passwd"), None);
        assert_eq!(normalise("a/../../b"), None);
        assert_eq!(normalise("/"), None);
    }

    fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(vec![]);
        for (path, bytes) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *bytes).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        let mut tree = Tree::default();
        let mut unpacked = 0;
        tree.apply_layer(&layer(&[("a/one", b"1"), ("a/two", b"2"), ("b/three", b"3")]), &mut unpacked)
            .unwrap();
        tree.apply_layer(
            &layer(&[("a/.wh.one", b""), ("b/.wh..wh..opq", b""), ("b/four", b"4")]),
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(tree.file("/a/one"), None);
        assert_eq!(tree.file("a/two"), Some(&b"2"[..]));
        assert_eq!(tree.file("b/three"), None, "the opaque folder hides the lower layer's file");
        assert_eq!(tree.file("b/four"), Some(&b"4"[..]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut tree = Tree::default();
        let mut unpacked = 0;
        for bytes in
            [&b"\x1f\x8bnot gzip at all"[..], &[0u8; 700][..], &[0xffu8; 1024][..], b"\x28\xb5\x2f\xfd"]
        {
            let _ = tree.apply_layer(bytes, &mut unpacked);
        }
        assert!(Layout::new(b"{\"manifests\": 5}", BTreeMap::new(), "x").is_err());
    }
}
