//! OCI images: read from an archive, a layout folder or a registry copy, and (see
//! `builtin`) written.
//!
//! `check` reads images from outside, so every byte here is hostile until proven otherwise:
//!
//! * nothing is read whole: a blob is a reader that yields exactly the size its descriptor
//!   gives and fails at its end unless the bytes hash to its digest (more, fewer or other
//!   bytes are an error, never trusted and never kept);
//! * JSON blobs (indexes, manifests, configs) are capped at [`MAX_JSON`] before they are
//!   read, nested indexes at [`MAX_DEPTH`] levels and [`MAX_DESCRIPTORS`] in all;
//! * a layer is streamed through the decompressor, never unpacked to memory or disk: its
//!   files are recorded by name and size only, capped at [`MAX_ENTRIES`] entries and
//!   [`MAX_UNPACKED`] bytes per variant (a gzip bomb stops there); tar extensions (long
//!   names, PAX records) are capped at [`MAX_NAME`];
//! * entries that would land outside the image root (`..`, absolute names, links that
//!   climb out) are reported, not skipped; whiteouts and replaced folders are removed by
//!   range, so a layer of many entries is not quadratic;
//! * the few files a check looks into (metadata.json, the binaries it names) are copied
//!   to a private temporary folder under names of the checker's choosing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::model::targets::Variant;
use crate::util::digest::Digest;

pub(crate) const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// An attestation's statement, a layer of an attestation manifest.
pub(crate) const IN_TOTO: &str = "application/vnd.in-toto+json";
/// Docker's own index (a manifest list) and manifest: what older registries and engines serve.
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
#[cfg(feature = "registry")]
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The most an index, manifest or image config may be.
pub(crate) const MAX_JSON: u64 = 4 << 20;
/// How deep indexes may nest (buildx nests one level; OCI allows more, nothing needs 8).
pub(crate) const MAX_DEPTH: usize = 8;
/// How many manifests and indexes an image may name in all.
pub(crate) const MAX_DESCRIPTORS: usize = 1000;
/// The most a variant's layers may unpack to: an extension with a model of a gigabyte
/// fits; a gzip bomb stops here.
pub(crate) const MAX_UNPACKED: u64 = 2 << 30;
/// How many entries a variant's layers may hold.
pub(crate) const MAX_ENTRIES: usize = 200_000;
/// The longest name a tar extension may give an entry (long names, PAX records).
pub(crate) const MAX_NAME: u64 = 64 * 1024;
/// How many entries an OCI archive (the outer tar) may hold.
const MAX_ARCHIVE_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Parsed as the descriptor is read: a malformed digest makes the whole JSON invalid.
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
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
pub(crate) struct ImageConfig {
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
pub(crate) struct RunConfig {
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
}

/// An image layout: its top index, and where each blob's bytes are.
pub(crate) struct Layout {
    pub index: Index,
    store: Store,
    /// What must live as long as the layout: the temporary folder its files are in.
    _keep: Option<Box<dyn std::any::Any>>,
}

enum Store {
    /// An OCI archive: each blob's place in the file (offset of its bytes, their length).
    Archive { path: Utf8PathBuf, blobs: BTreeMap<Digest, (u64, u64)> },
    /// A layout folder: `blobs/sha256/<hex>`.
    Folder(Utf8PathBuf),
}

/// One platform's image in a layout.
pub(crate) struct Image {
    pub variant: Variant,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

/// An attestation manifest (BuildKit's provenance or SBOM), and what it attests.
pub(crate) struct Attestation {
    /// The platform of the image it describes.
    pub platform: String,
    /// `provenance`, `SBOM`, or the predicate type as written.
    pub kinds: Vec<String>,
    /// What is wrong with its statements: one that is not about the image it is attached
    /// to, or not of the type its annotation says, or cannot be read.
    pub problems: Vec<String>,
}

/// What a layout holds, sorted out.
#[derive(Default)]
pub(crate) struct Contents {
    pub images: Vec<Image>,
    pub attestations: Vec<Attestation>,
    /// Platforms that are neither an extension variant nor an attestation.
    pub others: Vec<String>,
}

/// A blob's bytes, as they are read: exactly `size` of them, and they must hash to the
/// digest. The error comes at the end of the bytes (or as soon as there are too many).
pub(crate) struct Verified<R> {
    inner: R,
    digest: Digest,
    size: u64,
    read: u64,
    hasher: Sha256,
    checked: bool,
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.size {
            return Err(invalid(format!(
                "blob {} holds more than the {} bytes its descriptor says",
                self.digest, self.size
            )));
        }
        self.hasher.update(&buf[..n]);
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            if self.read != self.size {
                return Err(invalid(format!(
                    "blob {} holds {} bytes, but its descriptor says {}",
                    self.digest, self.read, self.size
                )));
            }
            let found = Digest::from_hasher(self.hasher.clone());
            if found != self.digest {
                return Err(invalid(format!(
                    "blob {} does not have that digest (its bytes hash to {found}): the image is corrupt",
                    self.digest
                )));
            }
        }
        Ok(n)
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// The entries of a tar, with the names tar extensions give them (GNU long names, PAX
/// `path` and `linkpath`), each extension read with a cap: the raw reader never
/// allocates what a header claims.
struct TarEntry<'a, R: Read> {
    entry: tar::Entry<'a, R>,
    /// Counted over every raw entry, extensions included: the same in every pass.
    ordinal: usize,
    name: String,
    link: Option<String>,
}

fn each_entry<R: Read>(
    entries: tar::Entries<'_, R>,
    mut visit: impl FnMut(TarEntry<'_, R>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let (mut long_name, mut long_link): (Option<String>, Option<String>) = (None, None);
    for (ordinal, entry) in entries.raw(true).enumerate() {
        let mut entry = entry.context("not a valid tar archive")?;
        let kind = entry.header().entry_type();
        let extension = |entry: &mut tar::Entry<'_, R>| -> anyhow::Result<Vec<u8>> {
            let size = entry.header().size().context("a tar header with a bad size")?;
            if size > MAX_NAME {
                bail!("a tar extension header of {size} bytes (names longer than {MAX_NAME} are refused)");
            }
            let mut bytes = vec![];
            entry.take(MAX_NAME).read_to_end(&mut bytes).context("reading a tar extension header")?;
            Ok(bytes)
        };
        match kind {
            tar::EntryType::GNULongName => {
                let bytes = extension(&mut entry)?;
                long_name = Some(c_string(&bytes));
                continue;
            }
            tar::EntryType::GNULongLink => {
                let bytes = extension(&mut entry)?;
                long_link = Some(c_string(&bytes));
                continue;
            }
            tar::EntryType::XHeader => {
                let bytes = extension(&mut entry)?;
                for (key, value) in pax_records(&bytes)? {
                    match key.as_str() {
                        "path" => long_name = Some(value),
                        "linkpath" => long_link = Some(value),
                        "size" => bail!("a PAX header gives an entry a size of its own ({value}): larger than any extension image holds"),
                        _ => {}
                    }
                }
                continue;
            }
            tar::EntryType::XGlobalHeader => {
                extension(&mut entry)?;
                continue;
            }
            _ => {}
        }
        let name = match long_name.take() {
            Some(name) => name,
            None => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
        };
        let link = match long_link.take() {
            Some(link) => Some(link),
            None => entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()),
        };
        if !visit(TarEntry { entry, ordinal, name, link })? {
            break;
        }
    }
    Ok(())
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `LEN key=value\n` records.
fn pax_records(bytes: &[u8]) -> anyhow::Result<Vec<(String, String)>> {
    let mut records = vec![];
    let mut rest = bytes;
    while !rest.is_empty() && rest[0] != 0 {
        let space = rest.iter().position(|&b| b == b' ').context("a PAX record without a length")?;
        let length: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > space + 1 && *l <= rest.len())
            .context("a PAX record with a bad length")?;
        let record = &rest[space + 1..length];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        let (key, value) = match record.iter().position(|&b| b == b'=') {
            Some(eq) => (&record[..eq], &record[eq + 1..]),
            None => bail!("a PAX record without `=`"),
        };
        records
            .push((String::from_utf8_lossy(key).into_owned(), String::from_utf8_lossy(value).into_owned()));
        rest = &rest[length..];
    }
    Ok(records)
}

impl Layout {
    /// Reads an OCI archive (a tar of a layout: `oci-layout`, `index.json`, `blobs/`):
    /// where each blob is in the file, and the index. No blob is read yet.
    pub(crate) fn read_archive(path: &Utf8Path) -> anyhow::Result<Layout> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
        let length = file.metadata().with_context(|| format!("reading {path}"))?.len();
        let mut archive = tar::Archive::new(file);
        let mut index = None;
        let mut blobs = BTreeMap::new();
        let mut count = 0usize;
        let not_tar = || format!("{path} is not a tar archive (expected an OCI archive from `dist --oci`)");
        let entries = archive.entries_with_seek().with_context(not_tar)?;
        each_entry(entries, |mut found| {
            count += 1;
            if count > MAX_ARCHIVE_ENTRIES {
                bail!("{path} holds more than {MAX_ARCHIVE_ENTRIES} entries: not an extension image");
            }
            if !found.entry.header().entry_type().is_file() {
                return Ok(true);
            }
            let size = found.entry.header().size().context("a tar header with a bad size")?;
            let offset = found.entry.raw_file_position();
            if offset.checked_add(size).is_none_or(|end| end > length) {
                bail!(
                    "{path} is truncated: its entry {} claims {size} bytes past the end of the file",
                    found.name
                );
            }
            let name = found.name.trim_start_matches("./");
            if name == "index.json" {
                if size > MAX_JSON {
                    bail!("the index.json of {path} is larger than {}", crate::util::report::size(MAX_JSON));
                }
                let mut bytes = vec![];
                (&mut found.entry).take(MAX_JSON).read_to_end(&mut bytes).context("reading index.json")?;
                index = Some(bytes);
            } else if let Some(digest) = name.strip_prefix("blobs/sha256/").and_then(Digest::from_file_name) {
                // A blob whose name is no digest is never asked for: no descriptor can name it.
                blobs.insert(digest, (offset, size));
            }
            Ok(true)
        })
        .with_context(not_tar)?;
        let index = index.with_context(|| format!("{path} has no index.json: it is not an OCI archive"))?;
        Ok(Layout {
            index: parse_index(&index, path.as_str())?,
            store: Store::Archive { path: path.into(), blobs },
            _keep: None,
        })
    }

    /// Reads a layout folder (what `skopeo copy … oci:DIR` writes): its index; blobs are
    /// read when asked for.
    pub(crate) fn read_dir(dir: &Utf8Path) -> anyhow::Result<Layout> {
        let index = crate::util::files::read_capped(&dir.join("index.json"), MAX_JSON)
            .with_context(|| format!("{dir} has no readable index.json"))?;
        Ok(Layout {
            index: parse_index(&index, dir.as_str())?,
            store: Store::Folder(dir.to_path_buf()),
            _keep: None,
        })
    }

    /// The same layout, keeping `guard` (a temporary folder holding its files) alive.
    pub(crate) fn keeping(mut self, guard: impl std::any::Any) -> Layout {
        self._keep = Some(Box::new(guard));
        self
    }

    /// A blob's bytes, as a reader that checks their size and digest (see [`Verified`]).
    pub(crate) fn open(&self, descriptor: &Descriptor) -> anyhow::Result<Verified<Box<dyn Read>>> {
        let digest = &descriptor.digest;
        let (inner, stored): (Box<dyn Read>, u64) = match &self.store {
            Store::Archive { path, blobs } => {
                let &(offset, length) =
                    blobs.get(digest).with_context(|| format!("blob {digest} is missing from the image"))?;
                let mut file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
                file.seek(SeekFrom::Start(offset)).with_context(|| format!("reading {path}"))?;
                (Box::new(file.take(length)), length)
            }
            Store::Folder(dir) => {
                let path = dir.join("blobs/sha256").join(digest.hex());
                let meta = std::fs::symlink_metadata(&path)
                    .with_context(|| format!("blob {digest} is missing from the image ({path})"))?;
                if !meta.is_file() {
                    bail!("blob {digest} ({path}) is not a regular file");
                }
                let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
                (Box::new(file.take(meta.len())), meta.len())
            }
        };
        if stored != descriptor.size {
            bail!(
                "blob {digest} holds {stored} bytes, but the descriptor that names it says {}: the image is corrupt",
                descriptor.size
            );
        }
        Ok(Verified {
            inner,
            digest: digest.clone(),
            size: descriptor.size,
            read: 0,
            hasher: Sha256::new(),
            checked: false,
        })
    }

    /// A JSON blob's bytes (an index, a manifest, a config), verified, capped.
    pub(crate) fn json_bytes(&self, descriptor: &Descriptor, what: &str) -> anyhow::Result<Vec<u8>> {
        if descriptor.size > MAX_JSON {
            bail!(
                "the {what} {} is {} bytes, more than the {} any {what} needs",
                descriptor.digest,
                descriptor.size,
                crate::util::report::size(MAX_JSON)
            );
        }
        let mut bytes = vec![];
        self.open(descriptor)?.read_to_end(&mut bytes).with_context(|| format!("reading the {what}"))?;
        Ok(bytes)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, descriptor: &Descriptor, what: &str) -> anyhow::Result<T> {
        serde_json::from_slice(&self.json_bytes(descriptor, what)?)
            .with_context(|| format!("blob {} is not a valid {what}", descriptor.digest))
    }

    /// Every platform image, attestation and stray manifest, following nested indexes.
    pub(crate) fn contents(&self) -> anyhow::Result<Contents> {
        let mut contents = Contents::default();
        let mut pending: Vec<(Descriptor, usize)> =
            self.index.manifests.iter().map(|d| (d.clone(), 1)).collect();
        let mut platforms_by_digest = BTreeMap::new();
        let mut attestations = vec![];
        let mut seen_indexes = BTreeSet::new();
        let mut seen = 0;
        while let Some((descriptor, depth)) = pending.pop() {
            seen += 1;
            if seen > MAX_DESCRIPTORS {
                bail!("the image names more than {MAX_DESCRIPTORS} manifests and indexes: not an extension image");
            }
            let bytes = self.json_bytes(&descriptor, "manifest or index")?;
            let probe: serde_json::Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("blob {} is not JSON", descriptor.digest))?;
            let is_index = [INDEX, DOCKER_LIST].contains(&descriptor.media_type.as_str())
                || probe.get("manifests").is_some();
            if is_index {
                if depth >= MAX_DEPTH {
                    bail!("the image's indexes nest more than {MAX_DEPTH} deep: not an image Docker Desktop reads");
                }
                if !seen_indexes.insert(descriptor.digest.clone()) {
                    bail!("the image's index {} names itself (through others): a loop", descriptor.digest);
                }
                let index: Index = serde_json::from_slice(&bytes)
                    .with_context(|| format!("blob {} is not a valid image index", descriptor.digest))?;
                pending.extend(index.manifests.into_iter().map(|d| (d, depth + 1)));
                continue;
            }
            if descriptor.annotations.get("vnd.docker.reference.type").map(String::as_str)
                == Some("attestation-manifest")
            {
                attestations.push(descriptor);
                continue;
            }
            let manifest: Manifest = serde_json::from_slice(&bytes)
                .with_context(|| format!("blob {} is not a valid image manifest", descriptor.digest))?;
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
            let platform = subject
                .parse::<Digest>()
                .ok()
                .and_then(|digest| platforms_by_digest.get(&digest))
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
            let problems = self.statement_problems(&manifest, &subject);
            contents.attestations.push(Attestation { platform, kinds, problems });
        }
        contents.images.sort_by_key(|i| i.variant);
        contents.attestations.sort_by(|a, b| a.platform.cmp(&b.platform));
        Ok(contents)
    }

    /// Each in-toto statement of an attestation manifest must be about `subject` (the
    /// manifest it is attached to) and of the predicate type its annotation names.
    fn statement_problems(&self, manifest: &Manifest, subject: &str) -> Vec<String> {
        let mut problems = vec![];
        for layer in manifest.layers.iter().filter(|l| l.media_type == IN_TOTO) {
            let statement: serde_json::Value = match self.json(layer, "in-toto statement") {
                Ok(statement) => statement,
                Err(e) => {
                    problems.push(format!("{e:#}"));
                    continue;
                }
            };
            let about = subject.parse::<Digest>().ok();
            let subjects = statement["subject"].as_array().map(Vec::as_slice).unwrap_or_default();
            let names_it = |s: &serde_json::Value| {
                about.as_ref().is_some_and(|about| s["digest"]["sha256"].as_str() == Some(about.hex()))
            };
            if !subjects.iter().any(names_it) {
                problems.push(format!(
                    "the statement {} is not about the image it is attached to ({subject})",
                    layer.digest
                ));
            }
            let annotated = layer.annotations.get("in-toto.io/predicate-type");
            if annotated.map(String::as_str) != statement["predicateType"].as_str() {
                problems.push(format!(
                    "the statement {} is a {}, but its annotation says {}",
                    layer.digest,
                    statement["predicateType"].as_str().unwrap_or("statement of no type"),
                    annotated.map_or("nothing", String::as_str)
                ));
            }
        }
        problems
    }

    /// Streams one layer's tar to `visit` (decompressed when it is gzip), then reads the
    /// blob to its end so its size and digest are checked. `budget` is what may still be
    /// unpacked: every byte out of the decompressor counts.
    fn read_layer(
        &self,
        layer: &Descriptor,
        budget: &mut u64,
        stop_early: bool,
        visit: &mut dyn FnMut(TarEntry<'_, &mut dyn Read>) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        // Its bytes are checked first (size, digest): nothing unverified reaches the
        // decompressor.
        std::io::copy(&mut self.open(layer)?, &mut std::io::sink())?;
        let mut blob = BufReader::new(self.open(layer)?);
        let head = blob.fill_buf().with_context(|| format!("reading layer {}", layer.digest))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            bail!("the layer is zstd-compressed, which this check cannot read (gzip or plain tar only)");
        }
        let mut decompressed: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::bufread::MultiGzDecoder::new(&mut blob))
        } else {
            Box::new(&mut blob)
        };
        let mut counted = Budget { inner: &mut decompressed, left: budget };
        {
            let reader: &mut dyn Read = &mut counted;
            let mut archive = tar::Archive::new(reader);
            each_entry(archive.entries().context("the layer is not a tar archive")?, &mut *visit)
                .context("the layer is not a valid tar archive")?;
        }
        if stop_early {
            return Ok(());
        }
        // The rest of the tar (its end blocks), then the rest of the blob: read, so its
        // size and digest are checked.
        std::io::copy(&mut counted, &mut std::io::sink()).context("reading the layer to its end")?;
        drop(decompressed);
        std::io::copy(&mut blob, &mut std::io::sink()).context("reading the layer to its end")?;
        Ok(())
    }

    /// The files of an image: its layers applied in order, whiteouts honoured, by name
    /// and size only. What is wrong with the entries (names outside the root, links that
    /// climb out, hard links to nothing) is in [`Tree::problems`].
    pub(crate) fn files(&self, manifest: &Manifest) -> anyhow::Result<Tree> {
        let mut tree = Tree::default();
        let mut budget = MAX_UNPACKED;
        for (i, layer) in manifest.layers.iter().enumerate() {
            let mut visit = |found: TarEntry<'_, &mut dyn Read>| tree.apply(i, &layer.digest, found);
            self.read_layer(layer, &mut budget, false, &mut visit)
                .with_context(|| format!("reading layer {}", layer.digest))?;
        }
        Ok(tree)
    }

    /// Copies the regular files at `paths` (as the tree has them) into `dir`, one file
    /// each under a name of this reader's choosing; returns where each went.
    pub(crate) fn extract(
        &self,
        manifest: &Manifest,
        tree: &Tree,
        paths: &[String],
        dir: &Utf8Path,
    ) -> anyhow::Result<BTreeMap<String, Utf8PathBuf>> {
        let mut wanted: BTreeMap<usize, BTreeMap<usize, Vec<String>>> = BTreeMap::new();
        for path in paths {
            if let Some(Node::File { at, .. }) = normalise(path).and_then(|p| tree.entries.get(&p)) {
                wanted.entry(at.layer).or_default().entry(at.entry).or_default().push(path.clone());
            }
        }
        let mut found = BTreeMap::new();
        let mut budget = MAX_UNPACKED;
        for (layer, mut entries) in wanted {
            let descriptor = &manifest.layers[layer];
            let mut visit = |mut entry: TarEntry<'_, &mut dyn Read>| -> anyhow::Result<bool> {
                if let Some(names) = entries.remove(&entry.ordinal) {
                    let to = dir.join(format!("file-{}", found.len()));
                    let mut file = std::fs::File::create(&to).with_context(|| format!("creating {to}"))?;
                    std::io::copy(&mut entry.entry, &mut file)
                        .with_context(|| format!("reading /{}", names[0]))?;
                    for name in names {
                        found.insert(name, to.clone());
                    }
                }
                Ok(!entries.is_empty())
            };
            self.read_layer(descriptor, &mut budget, true, &mut visit)
                .with_context(|| format!("reading layer {}", descriptor.digest))?;
        }
        Ok(found)
    }
}

fn parse_index(bytes: &[u8], source: &str) -> anyhow::Result<Index> {
    serde_json::from_slice(bytes).with_context(|| format!("the index.json of {source} is not an OCI index"))
}

/// A reader that stops with an error once more than `left` bytes came through it.
struct Budget<'a, R: Read + ?Sized> {
    inner: &'a mut R,
    left: &'a mut u64,
}

impl<R: Read + ?Sized> Read for Budget<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > *self.left {
            return Err(invalid(format!(
                "the image unpacks to more than {} per variant: larger than an extension image should be (a gzip bomb?)",
                crate::util::report::size(MAX_UNPACKED)
            )));
        }
        *self.left -= n as u64;
        Ok(n)
    }
}

/// How many problems with entries a tree keeps as sentences.
pub(crate) const MAX_TREE_PROBLEMS: usize = 1000;

/// Where an entry is: its layer and its ordinal among the layer's raw tar entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    layer: usize,
    entry: usize,
}

/// A file system as names: normalised paths (without the leading `/`), never bytes.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    entries: BTreeMap<String, Node>,
    /// What is wrong with the entries, one sentence each (the first [`MAX_TREE_PROBLEMS`];
    /// `more_problems` counts the rest).
    pub problems: Vec<String>,
    pub more_problems: usize,
    /// What the regular files add up to (hard links counted once).
    pub unpacked: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    File { size: u64, mode: u32, at: At },
    Dir { mode: u32 },
    Symlink { target: String },
}

impl Tree {
    /// The node at `path`, following no link.
    pub(crate) fn get(&self, path: &str) -> Option<&Node> {
        self.entries.get(&normalise(path)?)
    }

    /// Whether a regular file is at `path`.
    pub(crate) fn is_file(&self, path: &str) -> bool {
        matches!(self.get(path), Some(Node::File { .. }))
    }

    /// Whether a folder exists at `path`.
    pub(crate) fn is_dir(&self, path: &str) -> bool {
        matches!(self.get(path), Some(Node::Dir { .. }))
    }

    /// The entries, in order.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.entries.iter()
    }

    fn problem(&mut self, sentence: String) {
        if self.problems.len() < MAX_TREE_PROBLEMS {
            self.problems.push(sentence);
        } else {
            self.more_problems += 1;
        }
    }

    /// Removes `path` and everything under it, by range: each entry goes at most once.
    fn remove_tree(&mut self, path: &str) {
        self.entries.remove(path);
        self.remove_under(path);
    }

    /// Removes everything under `path` (the whole tree for the root, `""`).
    fn remove_under(&mut self, path: &str) {
        if path.is_empty() {
            self.entries.clear();
            return;
        }
        // Every key `path/…` sorts between `path/` and `path0` ('0' follows '/').
        let (from, to) = (format!("{path}/"), format!("{path}0"));
        let under: Vec<String> = self.entries.range(from..to).map(|(k, _)| k.clone()).collect();
        for key in under {
            self.entries.remove(&key);
        }
    }

    fn apply<R: Read>(
        &mut self,
        layer: usize,
        digest: &Digest,
        found: TarEntry<'_, R>,
    ) -> anyhow::Result<bool> {
        let TarEntry { entry, ordinal, name, link } = found;
        let header = entry.header();
        let place = || format!("`{name}` in layer {}", digest.short());
        if name.starts_with('/') {
            self.problem(format!(
                "{} is an absolute path: a layer's names are relative to the image root",
                place()
            ));
        }
        let Some(path) = normalise(&name) else {
            if name.split('/').any(|p| p == "..") {
                self.problem(format!("{} climbs out of the image root with `..`", place()));
            }
            return Ok(true); // the root itself
        };
        let file_name = path.rsplit('/').next().unwrap_or_default().to_string();
        let parent = path.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default();
        if file_name == ".wh..wh..opq" {
            // An opaque folder: what the lower layers put in it goes.
            self.remove_under(&parent);
            return Ok(true);
        }
        if let Some(hidden) = file_name.strip_prefix(".wh.") {
            let gone = if parent.is_empty() { hidden.to_string() } else { format!("{parent}/{hidden}") };
            self.remove_tree(&gone);
            return Ok(true);
        }
        let mode = header.mode().unwrap_or(0o644);
        let kind = header.entry_type();
        let node = if kind.is_dir() {
            Node::Dir { mode }
        } else if kind.is_symlink() {
            let target = link.unwrap_or_default();
            if !target.starts_with('/') && resolve(&parent, &target).is_none() {
                self.problem(format!(
                    "{} is a symbolic link to `{target}`, which climbs out of the image root",
                    place()
                ));
            }
            Node::Symlink { target }
        } else if kind.is_hard_link() {
            let target = link.unwrap_or_default();
            match normalise(&target) {
                None => {
                    self.problem(format!("{} is a hard link to `{target}`, outside the image root", place()));
                    return Ok(true);
                }
                Some(target_path) => match self.entries.get(&target_path) {
                    Some(node @ Node::File { .. }) => node.clone(),
                    _ => {
                        self.problem(format!(
                            "{} is a hard link to `{target}`, which is not a file of the image",
                            place()
                        ));
                        return Ok(true);
                    }
                },
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = header.size().context("a tar header with a bad size")?;
            self.unpacked = self.unpacked.saturating_add(size);
            if self.unpacked > MAX_UNPACKED {
                bail!(
                    "the image unpacks to more than {} per variant: larger than an extension image should be",
                    crate::util::report::size(MAX_UNPACKED)
                );
            }
            Node::File { size, mode, at: At { layer, entry: ordinal } }
        } else {
            return Ok(true); // devices, fifos: nothing an extension image holds or checks
        };
        // A file replacing a folder replaces what was under it.
        if !matches!(node, Node::Dir { .. }) {
            self.remove_under(&path);
        }
        self.entries.insert(path, node);
        if self.entries.len() > MAX_ENTRIES {
            bail!("the image holds more than {MAX_ENTRIES} files: not an extension image");
        }
        Ok(true)
    }
}

/// A relative link target, resolved from the link's folder; `None` when it climbs out.
fn resolve(folder: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = folder.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// `./a/b`, `/a//b/`, `a/./b` → `a/b`; `None` for the root or a path that climbs out (`..`).
pub(crate) fn normalise(path: &str) -> Option<String> {
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
        assert_eq!(resolve("a/b", "../c").as_deref(), Some("a/c"));
        assert_eq!(resolve("a", "../../c"), None);
    }

    fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(vec![]);
        for (path, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *bytes).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn apply(tree: &mut Tree, layer_index: usize, bytes: &[u8]) -> anyhow::Result<()> {
        let mut archive = tar::Archive::new(bytes);
        each_entry(archive.entries()?, |found| tree.apply(layer_index, &Digest::of(b"layer"), found))
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        let mut tree = Tree::default();
        apply(&mut tree, 0, &layer(&[("a/one", b"1"), ("a/two", b"2"), ("b/three", b"3"), ("b/c/d", b"4")]))
            .unwrap();
        apply(&mut tree, 1, &layer(&[("a/.wh.one", b""), ("b/.wh..wh..opq", b""), ("b/four", b"4")]))
            .unwrap();
        assert!(!tree.is_file("/a/one"));
        assert!(tree.is_file("a/two"));
        assert!(!tree.is_file("b/three"), "the opaque folder hides the lower layer's file");
        assert!(!tree.is_file("b/c/d"));
        assert!(tree.is_file("b/four"));
        assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    }

    #[test]
    fn long_names_from_gnu_and_pax_headers_are_applied() {
        let long = format!("ui/{}/index.html", "d".repeat(150));
        let mut tree = Tree::default();
        apply(&mut tree, 0, &layer(&[(long.as_str(), b"<html>")])).unwrap();
        assert!(tree.is_file(&long), "{:?}", tree.entries().collect::<Vec<_>>());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[0u8; 700][..], &[0xffu8; 1024][..], b"\x28\xb5\x2f\xfd"] {
            let mut tree = Tree::default();
            let _ = apply(&mut tree, 0, bytes);
        }
        assert!(parse_index(b"{\"manifests\": 5}", "x").is_err());
        assert!(pax_records(b"99999 path=x\n").is_err());
        assert_eq!(pax_records(b"12 path=abc\n").unwrap(), [("path".to_string(), "abc".to_string())]);
    }

    /// A descriptor's digest is parsed with the index: one that would climb out of the
    /// blobs folder (or is no sha256 digest) makes the index invalid before any file is
    /// opened, and the error says which digest.
    #[test]
    fn a_descriptor_must_name_a_digest() {
        let index = |digest: &str| {
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{INDEX}","digest":"{digest}","size":2}}]}}"#
            )
        };
        let good = Digest::of(b"{}");
        let read = parse_index(index(&good.to_string()).as_bytes(), "x").unwrap();
        assert_eq!(read.manifests[0].digest, good);
        for bad in
            [format!("sha256:../../../{}", &good.hex()[9..]), format!("sha512:{}", good.hex()), "".into()]
        {
            let error = format!("{:#}", parse_index(index(&bad).as_bytes(), "x").unwrap_err());
            assert!(error.contains("is not a sha256 digest") && error.contains(&bad), "{error}");
        }
    }
}
