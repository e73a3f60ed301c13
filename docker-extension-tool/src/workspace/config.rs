//! The extension's config: `[workspace.metadata.extension]` in the root `Cargo.toml`, read
//! through `cargo metadata`, checked, and resolved (files read, defaults filled in).
//! Everything downstream (plan, generators) is a function of [`Config`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Metadata, MetadataCommand};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::model::binary::Cpu;
use crate::model::reference::{BaseImage, ImageReference};
use crate::model::rules;
use crate::model::targets::{target_cpu, Builder, Os, Variant};
use crate::util::digest::Digest;
use crate::util::files::{confined, MAX_LABEL_FILE};
use crate::util::report::{problem, problems_report, Problem};
use crate::workspace::migrate;

pub(crate) const KEY: &str = "workspace.metadata.extension";
/// Host binaries are every `[[bin]]` of the workspace's crates under this folder.
pub(crate) const HOST_BINARIES_DIR: &str = "host-binaries";
pub(crate) const DEFAULT_API_VERSION: &str = ">= 0.3.4";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// The workspace root (paths in the config are relative to it) and its Cargo.toml.
    pub root: Utf8PathBuf,
    pub manifest: Utf8PathBuf,
    pub target_dir: Utf8PathBuf,
    /// The config's `image` and `tag` (by default the packages' version), as one reference.
    pub reference: ImageReference,
    pub labels: Labels,
    /// The icon file, relative to `root`; it goes to the image root under its file name.
    pub icon: Utf8PathBuf,
    pub base_image: BaseImage,
    pub backend: Option<Backend>,
    pub ui: Option<Ui>,
    /// Where the UI's TypeScript for the backend's and host binaries' JSON comes from.
    pub contract: Option<Contract>,
    pub host_binaries: Vec<HostBinary>,
    /// Host binaries from elsewhere (`host-binaries.NAME`): a vendor's download or a script.
    pub external_host_binaries: Vec<ExternalHostBinary>,
    /// Per OS that ships host binaries: the target built for each variant.
    pub host_targets: BTreeMap<Os, VariantTargets>,
    /// `build-with` from the config: builder per OS key (`darwin`, …, `backend`) or target.
    pub build_with: BTreeMap<String, Builder>,
    /// The workspace's packages by manifest path (to read cargo's artifact messages).
    pub members: BTreeMap<Utf8PathBuf, String>,
    /// `deny-warnings = true`: `dist` and `check` fail on advice too (for CI).
    pub deny_warnings: bool,
}

/// The Marketplace labels, resolved to their final text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Labels {
    pub title: String,
    pub description: String,
    pub vendor: String,
    pub api_version: String,
    pub icon_url: String,
    pub screenshots: Vec<Screenshot>,
    pub detailed_description: String,
    pub publisher_url: String,
    pub additional_urls: Vec<Link>,
    pub changelog: String,
    pub categories: Vec<String>,
    pub account_info: Option<String>,
    /// The repository the sources are in (`org.opencontainers.image.source`): the
    /// `repository` the extension's packages share.
    pub source: Option<String>,
    /// The licenses of what the image ships (`org.opencontainers.image.licenses`): the
    /// extension's packages' `license` expressions, joined with AND when they differ.
    pub licenses: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Screenshot {
    pub alt: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Link {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backend {
    pub package: String,
    pub bin: String,
    pub socket: String,
    /// A compose file (relative to root) for `vm.composefile`, instead of `vm.image`.
    pub compose_file: Option<Utf8PathBuf>,
    pub targets: BTreeMap<Variant, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ui {
    pub dir: Utf8PathBuf,
    pub build: Vec<String>,
    /// The build's output folder, relative to `dir`.
    pub output: Utf8PathBuf,
    /// The dev server (`cargo xtask dev`), run in `dir`; dev adds Vite's
    /// `--port PORT --strictPort --host 127.0.0.1`.
    pub dev: Vec<String>,
}

/// The typed contract: a package whose `typescript` example prints the TypeScript of the
/// types the backend and the host binaries serialize; `output` is where the UI reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Contract {
    pub package: String,
    /// The package's folder (its sources decide the output).
    pub package_dir: Utf8PathBuf,
    /// The generated file, relative to `root`.
    pub output: Utf8PathBuf,
}

/// The example of the contract's package that prints its TypeScript, and the feature it needs.
pub(crate) const CONTRACT_EXAMPLE: &str = "typescript";
pub(crate) const CONTRACT_FEATURE: &str = "typescript";

/// The dev server when the config names none: the UI's own Vite.
pub(crate) const DEFAULT_UI_DEV: [&str; 3] = ["npx", "--no-install", "vite"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HostBinary {
    pub package: String,
    pub bin: String,
    /// The OSes it ships to (of those the extension ships host binaries to): all of them,
    /// unless its package says `[package.metadata.extension] os = [...]` (or
    /// `[package.metadata.extension.bin.NAME] os = [...]` for one of its binaries).
    pub oses: BTreeSet<Os>,
}

impl HostBinary {
    /// Whether it ships to `os`.
    pub(crate) fn ships_to(&self, os: Os) -> bool {
        self.oses.contains(&os)
    }
}

/// A host binary not built from the workspace's crates: for each OS it ships to and each
/// image variant, a download (verified by SHA-256) or a script of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExternalHostBinary {
    pub name: String,
    /// Every variant of each OS it ships to (the Windows arm64 variant may carry the amd64
    /// file, which Windows on ARM runs emulated).
    pub files: BTreeMap<(Os, Variant), HostFile>,
}

/// What one variant's file of an external host binary is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostFile {
    /// `url`'s bytes (SHA-256 `sha256`), or its `member` when it is an archive.
    /// `cpu`: what the file must run on (a universal Mach-O may hold more).
    Download { url: String, sha256: Digest, member: Option<String>, cpu: Cpu },
    /// A script of the workspace (relative to the root): `.sh` for macOS and Linux, `.cmd`
    /// or `.bat` for Windows.
    Script(Utf8PathBuf),
    /// A folder of the workspace (relative to the root) holding the executable, NAME(.exe),
    /// at its top and the files it needs beside it (a vendor's runtime: DLLs, libraries,
    /// data), `companions` (relative to it, sorted, `/` between names). All of them go to the
    /// OS's folder of the image as they are. `cpu`: what the executable must run on.
    Folder { dir: Utf8PathBuf, companions: Vec<String>, cpu: Cpu },
}

impl ExternalHostBinary {
    /// Its file name on `os` (what metadata.json names, what the UI runs): NAME(.exe) for a
    /// download, NAME.sh / NAME.cmd for a script.
    pub(crate) fn file_name(&self, os: Os) -> Option<String> {
        let file = self.files.get(&(os, Variant::Amd64))?;
        Some(match file {
            HostFile::Download { .. } | HostFile::Folder { .. } => {
                format!("{}{}", self.name, os.exe_suffix())
            }
            HostFile::Script(path) => format!("{}.{}", self.name, path.extension().unwrap_or("sh")),
        })
    }
}

/// Which target each image variant gets for one OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VariantTargets {
    pub amd64: String,
    /// `None`: the arm64 variant carries the amd64 build, which that OS runs emulated.
    pub arm64: Option<String>,
}

impl VariantTargets {
    /// The target whose build the variant carries.
    pub(crate) fn for_variant(&self, variant: Variant) -> &str {
        match variant {
            Variant::Amd64 => &self.amd64,
            Variant::Arm64 => self.arm64.as_deref().unwrap_or(&self.amd64),
        }
    }
}

/// The current folder, as a UTF-8 path.
pub(crate) fn current_dir() -> anyhow::Result<Utf8PathBuf> {
    let dir = std::env::current_dir().context("reading the current folder")?;
    Utf8PathBuf::from_path_buf(dir)
        .map_err(|p| anyhow::anyhow!("the current folder {} is not UTF-8", p.display()))
}

impl Config {
    /// Reads the config of the workspace the current folder is in.
    pub(crate) fn load_current() -> anyhow::Result<Config> {
        Config::load(&current_dir()?)
    }

    /// Reads the config of the workspace that `cargo metadata` finds from `dir`.
    pub(crate) fn load(dir: &Utf8Path) -> anyhow::Result<Config> {
        let metadata = MetadataCommand::new()
            .current_dir(dir)
            .no_deps()
            .exec()
            .with_context(|| format!("running `cargo metadata` in {dir}"))?;
        Config::from_metadata(&metadata)
    }

    pub(crate) fn from_metadata(metadata: &Metadata) -> anyhow::Result<Config> {
        let root = metadata.workspace_root.clone();
        let manifest = root.join("Cargo.toml");
        let raw = parse_raw(&metadata.workspace_metadata, &manifest)?;
        let mut problems = Problems { manifest: &manifest, list: vec![] };
        let config = resolve(raw, metadata, &mut problems);
        if problems.list.is_empty() {
            Ok(config)
        } else {
            bail!("{}", problems.report())
        }
    }

    /// What no command may replace: the workspace root and the folders of its sources.
    pub(crate) fn protected(&self) -> Protected {
        let mut source_dirs: Vec<Utf8PathBuf> = self
            .members
            .keys()
            .filter_map(|manifest| manifest.parent())
            .filter(|dir| *dir != self.root)
            .map(Utf8Path::to_path_buf)
            .collect();
        source_dirs.extend(self.ui.as_ref().map(|ui| self.root.join(&ui.dir)));
        source_dirs.extend(self.icon.parent().filter(|p| !p.as_str().is_empty()).map(|p| self.root.join(p)));
        source_dirs.sort();
        source_dirs.dedup();
        Protected { root: self.root.clone(), source_dirs, case: crate::util::files::PathCase::HERE }
    }

    /// A path under the workspace as the config writes it: relative to the root.
    pub(crate) fn relative<'a>(&self, path: &'a Utf8Path) -> &'a Utf8Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    /// Where setup puts the tools it installs itself (the zig virtual environment, the
    /// test engine): the target folder, so `cargo clean` removes them too.
    pub(crate) fn tools_dir(&self) -> Utf8PathBuf {
        self.target_dir.join("tools")
    }

    pub(crate) fn icon_file_name(&self) -> &str {
        self.icon.file_name().unwrap_or("icon.svg")
    }
}

/// The workspace facts the checks protect.
#[derive(Debug, Clone)]
pub(crate) struct Protected {
    pub root: Utf8PathBuf,
    /// Folders that hold the workspace's sources (packages, the UI), besides the root.
    pub source_dirs: Vec<Utf8PathBuf>,
    /// How paths compare here (`UI` is `ui` on Windows and macOS).
    pub case: crate::util::files::PathCase,
}

/// Problems found while resolving the config, placed at their key path.
struct Problems<'a> {
    manifest: &'a Utf8Path,
    list: Vec<Problem>,
}

impl Problems<'_> {
    fn add(&mut self, key: &str, message: impl fmt::Display) {
        let key = if key.is_empty() { KEY.to_string() } else { format!("{KEY}.{key}") };
        self.list.push(problem(format!("`{key}`"), message.to_string()));
    }

    /// A problem in a place outside the config's table (a package's own metadata).
    fn add_at(&mut self, place: &str, message: impl fmt::Display) {
        self.list.push(problem(place.to_string(), message.to_string()));
    }

    fn check(&mut self, key: &str, result: Result<(), String>) {
        if let Err(message) = result {
            self.add(key, message);
        }
    }

    /// Whether a problem was reported under `key` (or a key inside it).
    fn any_for(&self, key: &str) -> bool {
        let prefix = format!("`{KEY}.{key}");
        self.list.iter().any(|p| p.place.starts_with(&prefix))
    }

    fn report(&self) -> String {
        problems_report(&self.list, &format!("the extension config in {}", self.manifest))
    }
}

// ---- The config as written -------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    /// The format version (see `migrate`): absent is 0.
    config_version: Option<u32>,
    image: String,
    tag: Option<String>,
    title: String,
    description: String,
    vendor: String,
    api_version: Option<String>,
    icon: Utf8PathBuf,
    icon_url: Option<String>,
    assets_url: Option<String>,
    #[serde(default)]
    screenshots: Vec<RawScreenshot>,
    detailed_description: Text,
    changelog: Text,
    publisher_url: String,
    #[serde(default)]
    additional_urls: Vec<RawLink>,
    categories: Vec<String>,
    account_info: Option<String>,
    base_image: Option<String>,
    backend: Option<RawBackend>,
    ui: Option<RawUi>,
    contract: Option<RawContract>,
    #[serde(default)]
    host_binaries: BTreeMap<String, BTreeMap<String, RawHostFile>>,
    #[serde(default)]
    targets: RawTargets,
    #[serde(default)]
    build_with: BTreeMap<String, String>,
    #[serde(default)]
    deny_warnings: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScreenshot {
    alt: String,
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    title: String,
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBackend {
    package: String,
    bin: Option<String>,
    socket: String,
    compose_file: Option<Utf8PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    dir: Utf8PathBuf,
    build: Vec<String>,
    output: Utf8PathBuf,
    dev: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostFile {
    url: Option<String>,
    sha256: Option<String>,
    path: Option<String>,
    script: Option<Utf8PathBuf>,
    folder: Option<Utf8PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    package: String,
    output: Utf8PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    darwin: Option<Toggle<RawPair>>,
    windows: Option<Toggle<RawPair>>,
    linux: Option<Toggle<RawPair>>,
    backend: Option<RawPair>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    amd64: Option<Toggle<String>>,
    arm64: Option<Toggle<String>>,
}

/// `false` (turned off), `true` (the defaults) or a value.
#[derive(Debug)]
enum Toggle<T> {
    Off,
    Default,
    On(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Buffer once, then decide: a bool toggles, anything else must be a `T`.
        let value = serde_json::Value::deserialize(deserializer)?;
        match value {
            serde_json::Value::Bool(false) => Ok(Toggle::Off),
            serde_json::Value::Bool(true) => Ok(Toggle::Default),
            other => T::deserialize(other).map(Toggle::On).map_err(de::Error::custom),
        }
    }
}

/// Inline text, or `{ file = "extension/changelog.html" }`.
#[derive(Debug, Clone)]
enum Text {
    Inline(String),
    File(Utf8PathBuf),
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, or a table `{ file = \"path\" }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::Inline(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
                let mut file = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "file" => file = Some(map.next_value::<Utf8PathBuf>()?),
                        other => return Err(de::Error::unknown_field(other, &["file"])),
                    }
                }
                file.map(Text::File).ok_or_else(|| de::Error::missing_field("file"))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

fn parse_raw(workspace_metadata: &serde_json::Value, manifest: &Utf8Path) -> anyhow::Result<RawConfig> {
    let Some(value) = workspace_metadata.get("extension") else {
        bail!(
            "{manifest} has no [{KEY}] table: this workspace is not set up as a Docker Desktop \
             extension (see the README's config reference, or start one with `cargo xtask new`)"
        );
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." { KEY.to_string() } else { format!("{KEY}.{path}") };
        anyhow::anyhow!("`{key}` in {manifest}: {}", e.inner())
    })
}

// ---- Resolution -------------------------------------------------------------------------

fn resolve(raw: RawConfig, metadata: &Metadata, problems: &mut Problems) -> Config {
    let root = metadata.workspace_root.clone();
    let members: Vec<&cargo_metadata::Package> = metadata.workspace_packages();

    if let Some(version) = raw.config_version.filter(|v| *v > migrate::CURRENT) {
        problems.add(
            migrate::KEY,
            format!(
                "is {version}, newer than this tool ({} {}) reads ({}): it needs a newer tool; run `cargo xtask upgrade`",
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                migrate::CURRENT
            ),
        );
    }
    problems.check("image", rules::image_repository(&raw.image));
    let (labels, icon) = resolve_labels(&raw, &root, problems);
    let base_image = match raw.base_image.as_deref().map(str::parse::<BaseImage>) {
        None => BaseImage::Scratch,
        Some(Ok(base_image)) => base_image,
        Some(Err(e)) => {
            problems.add(
                "base-image",
                format!("{e}: give an image reference (`debian:13-slim`, `alpine:3.20@sha256:…`) or `scratch` (the default)"),
            );
            BaseImage::Scratch
        }
    };

    let backend = raw.backend.map(|b| resolve_backend(b, raw.targets.backend, &root, &members, problems));
    let ui = raw.ui.map(|ui| resolve_ui(ui, &root, problems));
    let contract = raw.contract.map(|c| resolve_contract(c, &root, &members, problems));
    let host_binaries = host_binaries(&root, &members, problems);
    let host_targets = resolve_host_targets(
        [
            (Os::Darwin, raw.targets.darwin),
            (Os::Windows, raw.targets.windows),
            (Os::Linux, raw.targets.linux),
        ],
        problems,
    );
    for host in &host_binaries {
        if !host.oses.is_empty() && !host.oses.iter().any(|os| host_targets.contains_key(os)) {
            let listed: Vec<&str> = host.oses.iter().map(|os| os.key()).collect();
            problems.add(
                "targets",
                format!(
                    "the host binary `{}` ships only to {} (its package's `os`), and the extension ships no host binaries there: turn that OS on, or remove the crate",
                    host.bin,
                    listed.join(", ")
                ),
            );
        }
    }
    let external_host_binaries: Vec<ExternalHostBinary> = raw
        .host_binaries
        .into_iter()
        .map(|(name, files)| resolve_external(name, files, &root, &host_targets, &host_binaries, problems))
        .collect();
    host_file_collisions(&host_binaries, &external_host_binaries, &host_targets, problems);
    let build_with = resolve_build_with(raw.build_with, problems);
    let tag = match raw.tag {
        Some(tag) => tag,
        None => default_tag(&backend, &host_binaries, &members, problems),
    };
    if !tag.is_empty() {
        problems.check("tag", rules::tag(&tag));
    }
    // The same rules as the two checks above: a reference that cannot be made is a problem
    // already reported, and this config is refused.
    let reference = ImageReference::new(&raw.image, Some(&tag))
        .unwrap_or_else(|_| ImageReference::new("invalid", None).expect("a valid repository"));
    let shipped: Vec<&cargo_metadata::Package> = {
        let names: BTreeSet<&str> = backend
            .iter()
            .map(|b| b.package.as_str())
            .chain(host_binaries.iter().map(|h| h.package.as_str()))
            .collect();
        members.iter().copied().filter(|p| names.contains(p.name.as_str())).collect()
    };
    let labels = Labels { source: package_source(&shipped), licenses: package_licenses(&shipped), ..labels };

    Config {
        manifest: root.join("Cargo.toml"),
        target_dir: metadata.target_directory.clone(),
        root,
        reference,
        labels,
        icon,
        base_image,
        backend,
        ui,
        contract,
        host_binaries,
        external_host_binaries,
        host_targets,
        build_with,
        members: members.iter().map(|p| (p.manifest_path.clone(), p.name.to_string())).collect(),
        deny_warnings: raw.deny_warnings,
    }
}

/// The Marketplace's labels and the icon file, as the config gives them.
fn resolve_labels(raw: &RawConfig, root: &Utf8Path, problems: &mut Problems) -> (Labels, Utf8PathBuf) {
    problems.check("title", non_empty(&raw.title, "the extension's name, as the Marketplace shows it"));
    problems.check("description", non_empty(&raw.description, "a one-line summary"));
    problems.check("vendor", non_empty(&raw.vendor, "who publishes the extension"));
    let api_version = raw.api_version.clone().unwrap_or_else(|| DEFAULT_API_VERSION.into());
    problems.check("api-version", rules::api_version(&api_version));

    let assets_url = raw.assets_url.clone().map(|url| {
        problems.check("assets-url", rules::url(&url));
        if url.ends_with('/') {
            url
        } else {
            format!("{url}/")
        }
    });
    // A relative path is a file of this repository, served under `assets-url`.
    let asset_url = |key: &str, value: &str, problems: &mut Problems| -> String {
        if value.contains("://") {
            problems.check(key, rules::url(value));
            return value.to_string();
        }
        match confined(root, Utf8Path::new(value)) {
            Err(e) => problems.add(key, e),
            Ok(path) if !path.is_file() => problems.add(key, format!("{value} does not exist (a path relative to {root}); add the file or give an https:// URL")),
            Ok(_) => {}
        }
        match &assets_url {
            Some(base) => format!("{base}{value}"),
            None => {
                problems.add(key, format!("`{value}` is a file path, so `assets-url` must say where the repository's files are served (e.g. https://raw.githubusercontent.com/ORG/REPO/main/)"));
                String::new()
            }
        }
    };

    let icon = raw.icon.clone();
    let icon_ext = icon.extension().unwrap_or_default().to_ascii_lowercase();
    if let Err(e) = confined(root, &icon) {
        problems.add("icon", e);
    } else if !root.join(&icon).is_file() {
        problems.add(
            "icon",
            format!("{icon} does not exist (a path relative to {root}); add the icon there or fix the path"),
        );
    } else if !matches!(icon_ext.as_str(), "svg" | "png" | "jpg" | "jpeg") {
        problems.add(
            "icon",
            format!("{icon} is not an .svg, .png or .jpg file, the formats Docker Desktop shows"),
        );
    }
    let icon_url = match raw.icon_url.clone() {
        Some(url) => {
            problems.check("icon-url", rules::url(&url));
            url
        }
        None => asset_url("icon", icon.as_str(), problems),
    };

    if raw.screenshots.is_empty() {
        problems.add("screenshots", "the Marketplace requires at least one screenshot: add `screenshots = [{ alt = \"…\", url = \"extension/screenshots/1.png\" }]` (2400x1600 recommended)");
    }
    let screenshots: Vec<Screenshot> = raw
        .screenshots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            problems.check(
                &format!("screenshots[{i}].alt"),
                non_empty(&s.alt, "a description of the screenshot"),
            );
            let url = asset_url(&format!("screenshots[{i}].url"), &s.url, problems);
            Screenshot { alt: s.alt.clone(), url }
        })
        .collect();

    let detailed_description =
        read_text(root, "detailed-description", raw.detailed_description.clone(), problems);
    let changelog = read_text(root, "changelog", raw.changelog.clone(), problems);
    problems.check("publisher-url", rules::url(&raw.publisher_url));
    let additional_urls: Vec<Link> = raw
        .additional_urls
        .iter()
        .enumerate()
        .map(|(i, link)| {
            problems.check(&format!("additional-urls[{i}].title"), non_empty(&link.title, "the link's text"));
            problems.check(&format!("additional-urls[{i}].url"), rules::url(&link.url));
            Link { title: link.title.clone(), url: link.url.clone() }
        })
        .collect();
    if raw.categories.is_empty() {
        problems.add(
            "categories",
            format!("give at least one Marketplace category, from: {}", rules::CATEGORIES.join(", ")),
        );
    }
    for (i, category) in raw.categories.iter().enumerate() {
        problems.check(&format!("categories[{i}]"), rules::category(category));
    }
    no_duplicates("categories", "", raw.categories.iter().map(String::as_str), problems);
    no_duplicates("screenshots", ".url", screenshots.iter().map(|s| s.url.as_str()), problems);
    no_duplicates("additional-urls", ".title", additional_urls.iter().map(|l| l.title.as_str()), problems);
    if let Some(account_info) = &raw.account_info {
        if account_info != "required" && !account_info.is_empty() {
            problems.add("account-info", format!("`{account_info}` is not allowed: use \"required\" (the extension needs a Docker login) or leave it out"));
        }
    }
    let labels = Labels {
        title: raw.title.clone(),
        description: raw.description.clone(),
        vendor: raw.vendor.clone(),
        api_version,
        icon_url,
        screenshots,
        detailed_description,
        publisher_url: raw.publisher_url.clone(),
        additional_urls,
        changelog,
        categories: raw.categories.clone(),
        account_info: raw.account_info.clone().filter(|a| !a.is_empty()),
        // From the packages, once they are known (`resolve`).
        source: None,
        licenses: None,
    };
    (labels, icon)
}

/// The UI's folder, its build and dev commands.
fn resolve_ui(ui: RawUi, root: &Utf8Path, problems: &mut Problems) -> Ui {
    match confined(root, &ui.dir) {
        Err(e) => problems.add("ui.dir", e),
        Ok(path) if !path.is_dir() => {
            problems.add("ui.dir", format!("{} is not a folder (a path relative to {root})", ui.dir));
        }
        Ok(_) => {}
    }
    if ui.build.is_empty() || ui.build[0].is_empty() {
        problems.add("ui.build", "give the UI's build command as a list, e.g. [\"npm\", \"run\", \"build\"]");
    }
    if ui.output.is_absolute() || ui.output.as_str().is_empty() {
        problems.add("ui.output", "give the build's output folder relative to `ui.dir`, e.g. \"dist\"");
    } else if let Err(e) = confined(root, &ui.dir.join(&ui.output)) {
        problems.add("ui.output", e);
    }
    let dev = ui.dev.unwrap_or_else(|| DEFAULT_UI_DEV.map(String::from).to_vec());
    if dev.first().is_none_or(std::string::String::is_empty) {
        problems.add("ui.dev", "give the UI's dev server command as a list, e.g. [\"npx\", \"vite\"]");
    }
    Ui { dir: ui.dir, build: ui.build, output: ui.output, dev }
}

/// The host binaries' targets for each OS that is not turned off.
fn resolve_contract(
    raw: RawContract,
    root: &Utf8Path,
    members: &[&cargo_metadata::Package],
    problems: &mut Problems,
) -> Contract {
    let package_dir = match member(members, &raw.package, "contract.package", problems) {
        None => Utf8PathBuf::new(),
        Some(package) => {
            let has_example = package
                .targets
                .iter()
                .any(|t| t.name == CONTRACT_EXAMPLE && t.kind.iter().any(|k| k.to_string() == "example"));
            let has_feature = package.features.contains_key(CONTRACT_FEATURE);
            if !has_example || !has_feature {
                problems.add(
                    "contract.package",
                    format!(
                        "package `{}` has no example `{CONTRACT_EXAMPLE}` with a feature `{CONTRACT_FEATURE}`: \
                         add examples/{CONTRACT_EXAMPLE}.rs printing the types' TypeScript (ts-rs), with \
                         `required-features = [\"{CONTRACT_FEATURE}\"]` (see the template's api/ crate)",
                        raw.package
                    ),
                );
            }
            package.manifest_path.parent().map(Utf8Path::to_path_buf).unwrap_or_default()
        }
    };
    if raw.output.extension() != Some("ts") {
        problems.add(
            "contract.output",
            format!("{} is not a TypeScript file: give a path ending in .ts", raw.output),
        );
    } else {
        match confined(root, &raw.output) {
            Err(e) => problems.add("contract.output", e),
            Ok(path) if !path.parent().is_some_and(Utf8Path::is_dir) => problems.add(
                "contract.output",
                format!(
                    "{} is not in an existing folder (a path relative to {root}, in the UI's sources)",
                    raw.output
                ),
            ),
            Ok(path) if path.is_dir() => {
                problems
                    .add("contract.output", format!("{} is a folder: give the file to generate", raw.output));
            }
            Ok(_) => {}
        }
    }
    Contract { package: raw.package, package_dir, output: raw.output }
}

fn resolve_external(
    name: String,
    raw: BTreeMap<String, RawHostFile>,
    root: &Utf8Path,
    host_targets: &BTreeMap<Os, VariantTargets>,
    built: &[HostBinary],
    problems: &mut Problems,
) -> ExternalHostBinary {
    let key = format!("host-binaries.{name}");
    if let Err(e) = rules::crate_name(&name) {
        problems.add(&key, format!("`{name}` is not a usable host binary name: {e}"));
    }
    if let Some(other) = built.iter().find(|b| b.bin == name) {
        problems.add(
            &key,
            format!("`{name}` is also a binary of the crate `{}` under {HOST_BINARIES_DIR}/: Docker Desktop installs host binaries by name, so rename one", other.package),
        );
    }
    // Each key: an OS (both variants) or OS-CPU.
    let mut given: BTreeMap<(Os, Option<Variant>), (String, RawHostFile)> = BTreeMap::new();
    for (slot, file) in raw {
        let (os_name, cpu) = match slot.split_once('-') {
            Some((os, cpu)) => (os, Some(cpu)),
            None => (slot.as_str(), None),
        };
        let os = Os::ALL.into_iter().find(|os| os.key() == os_name);
        let variant = cpu.map(|cpu| Variant::ALL.into_iter().find(|v| v.to_string() == cpu));
        match (os, variant) {
            (Some(os), None) => {
                given.insert((os, None), (slot, file));
            }
            (Some(os), Some(Some(variant))) => {
                given.insert((os, Some(variant)), (slot, file));
            }
            _ => problems.add(
                &format!("{key}.{slot}"),
                "is not an OS or an OS and a CPU: use darwin, windows, linux, or darwin-amd64, darwin-arm64, windows-amd64, windows-arm64, linux-amd64, linux-arm64",
            ),
        }
    }
    // Each slot's file, read once (a key for both CPUs serves two variants).
    let given: BTreeMap<(Os, Option<Variant>), (String, Option<HostFile>)> = given
        .into_iter()
        .map(|((os, variant), (slot, raw))| {
            let file = resolve_host_file(&format!("{key}.{slot}"), &name, os, raw, root, problems);
            ((os, variant), (slot, file))
        })
        .collect();
    let mut files = BTreeMap::new();
    for os in Os::ALL {
        let whole = given.get(&(os, None));
        let amd64 = given.get(&(os, Some(Variant::Amd64)));
        let arm64 = given.get(&(os, Some(Variant::Arm64)));
        if whole.is_none() && amd64.is_none() && arm64.is_none() {
            continue;
        }
        if !host_targets.contains_key(&os) {
            problems.add(
                &format!("{key}.{os}"),
                format!("the extension ships no {os} host binaries (`targets.{os} = false`): remove this host binary's {os} files, or turn {os} back on"),
            );
            continue;
        }
        // For each variant: the file, and the CPU it must run on.
        let chosen: [(Variant, Option<HostFile>, Cpu); 2] = match (whole, amd64, arm64) {
            (Some((slot, _)), Some(_), _) | (Some((slot, _)), _, Some(_)) => {
                problems.add(
                    &format!("{key}.{slot}"),
                    format!("give either `{os}` (both CPUs) or `{os}-amd64` and `{os}-arm64`, not both"),
                );
                continue;
            }
            (Some((slot, file)), None, None) => {
                if os == Os::Linux && matches!(file, Some(HostFile::Download { .. })) {
                    problems.add(
                        &format!("{key}.{slot}"),
                        "one download cannot run on both CPUs of Linux: give `linux-amd64` and `linux-arm64`",
                    );
                    continue;
                }
                // darwin: a universal Mach-O holds both; windows: the arm64 variant runs x86_64.
                let arm64_cpu = if os == Os::Windows { Cpu::X86_64 } else { Cpu::Aarch64 };
                [(Variant::Amd64, file.clone(), Cpu::X86_64), (Variant::Arm64, file.clone(), arm64_cpu)]
            }
            (None, amd64, arm64) => {
                let Some((_, amd64_file)) = amd64 else {
                    problems.add(
                        &format!("{key}.{os}-amd64"),
                        format!("is missing: the amd64 variant needs this host binary's {os} file too"),
                    );
                    continue;
                };
                let arm64 = match arm64 {
                    Some((_, file)) => (file.clone(), Cpu::Aarch64),
                    None if os.arm64_runs_x86_64() => (amd64_file.clone(), Cpu::X86_64),
                    None => {
                        problems.add(&format!("{key}.{os}-arm64"), format!("is missing: the arm64 variant needs an arm64 {os} file (or one `{os}` file for both)"));
                        continue;
                    }
                };
                [(Variant::Amd64, amd64_file.clone(), Cpu::X86_64), (Variant::Arm64, arm64.0, arm64.1)]
            }
        };
        for (variant, file, cpu) in chosen {
            let Some(file) = file else { continue };
            let file = match file {
                HostFile::Download { url, sha256, member, .. } => {
                    HostFile::Download { url, sha256, member, cpu }
                }
                HostFile::Folder { dir, companions, .. } => HostFile::Folder { dir, companions, cpu },
                script @ HostFile::Script(_) => script,
            };
            files.insert((os, variant), file);
        }
    }
    // metadata.json lists an OS's files once for both variants: a folder's files are the
    // same in both.
    for os in Os::ALL {
        let companions = |variant| match files.get(&(os, variant)) {
            Some(HostFile::Folder { companions, .. }) => Some(companions),
            _ => None,
        };
        if let (Some(amd64), Some(arm64)) = (companions(Variant::Amd64), companions(Variant::Arm64)) {
            if amd64 != arm64 {
                problems.add(
                    &format!("{key}.{os}"),
                    format!("the {os} folders of the two CPUs hold different files: metadata.json lists an OS's files once for both variants, so give both the same files (with each CPU's own bytes)"),
                );
            }
        }
    }
    if files.is_empty() && !problems.any_for(&key) {
        problems.add(&key, "names no file for any OS: give e.g. `linux-amd64 = { url = \"…\", sha256 = \"…\" }` or `linux = { script = \"…\" }`");
    }
    ExternalHostBinary { name, files }
}

/// One slot's file: a download (url and sha256, and `path` for an archive), a script, or a
/// folder.
fn resolve_host_file(
    key: &str,
    name: &str,
    os: Os,
    raw: RawHostFile,
    root: &Utf8Path,
    problems: &mut Problems,
) -> Option<HostFile> {
    // The CPU is the variant's, set where the file is given to one.
    let cpu = Cpu::X86_64;
    if let Some(folder) = raw.folder {
        if raw.url.is_some() || raw.script.is_some() || raw.sha256.is_some() || raw.path.is_some() {
            problems.add(
                key,
                "a folder takes nothing else: give either `folder`, or `url` and `sha256`, or `script`",
            );
            return None;
        }
        return resolve_host_folder(&format!("{key}.folder"), name, os, &folder, root, problems)
            .map(|companions| HostFile::Folder { dir: folder, companions, cpu });
    }
    match (raw.url, raw.script) {
        (Some(url), None) => {
            let mut ok = true;
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || url.contains(char::is_whitespace)
            {
                problems.add(&format!("{key}.url"), format!("`{url}` is not an http(s) URL"));
                ok = false;
            }
            let sha256 = Digest::from_hex(&raw.sha256.unwrap_or_default()).ok();
            if sha256.is_none() {
                problems.add(&format!("{key}.sha256"), "give the download's SHA-256 as 64 hex digits (`shasum -a 256 FILE`, `Get-FileHash FILE`): it is checked before the file is used");
                ok = false;
            }
            let file_name = url.split(['?', '#']).next().unwrap_or_default().to_ascii_lowercase();
            let archive = [".tar.gz", ".tgz", ".zip"].iter().any(|ext| file_name.ends_with(ext));
            let member = match (archive, raw.path) {
                (true, None) => {
                    problems.add(
                        &format!("{key}.path"),
                        "is missing: the URL is an archive; give the host binary's path inside it",
                    );
                    ok = false;
                    None
                }
                (false, Some(_)) => {
                    problems.add(
                        &format!("{key}.path"),
                        "is only for archives (.tar.gz, .tgz, .zip); this URL is the file itself",
                    );
                    ok = false;
                    None
                }
                (true, Some(path)) => {
                    let clean = path.trim_start_matches("./");
                    if clean.is_empty() || clean.starts_with('/') || clean.split('/').any(|c| c == "..") {
                        problems.add(
                            &format!("{key}.path"),
                            format!("`{path}` is not a path inside the archive (relative, no `..`)"),
                        );
                        ok = false;
                    }
                    Some(clean.to_string())
                }
                (false, None) => None,
            };
            sha256.filter(|_| ok).map(|sha256| HostFile::Download { url, sha256, member, cpu })
        }
        (None, Some(script)) => {
            if raw.sha256.is_some() || raw.path.is_some() {
                problems.add(key, "a script takes no `sha256` or `path`: those are for downloads");
            }
            let wanted: &[&str] = if os == Os::Windows { &["cmd", "bat"] } else { &["sh"] };
            if !script.extension().is_some_and(|e| wanted.contains(&e)) {
                problems.add(
                    &format!("{key}.script"),
                    format!("{script}: a {os} script ends in .{}", wanted.join(" or .")),
                );
                return None;
            }
            let real = match confined(root, &script) {
                Err(e) => {
                    problems.add(&format!("{key}.script"), e);
                    return None;
                }
                Ok(real) => real,
            };
            if os != Os::Windows {
                let mut head = [0u8; 2];
                let read =
                    std::fs::File::open(&real).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
                match read {
                    Err(_) if !real.is_file() => {
                        problems.add(
                            &format!("{key}.script"),
                            format!("{script} does not exist (a path relative to {root})"),
                        );
                        return None;
                    }
                    Ok(()) if head == *b"#!" => {}
                    _ => {
                        problems.add(&format!("{key}.script"), format!("{script} does not start with `#!` (e.g. `#!/bin/sh`): macOS and Linux run it by its shebang"));
                        return None;
                    }
                }
            } else if !real.is_file() {
                problems.add(
                    &format!("{key}.script"),
                    format!("{script} does not exist (a path relative to {root})"),
                );
                return None;
            }
            Some(HostFile::Script(script))
        }
        (Some(_), Some(_)) => {
            problems.add(key, "give either `url` (with `sha256`) or `script`, not both");
            None
        }
        (None, None) => {
            problems.add(key, "give `url` and `sha256` (a download) or `script` (a file of the workspace)");
            None
        }
    }
}

/// A host binary's folder: inside the workspace, no link leading out, the executable
/// NAME(.exe) at its top. Its other files, the companions, relative and sorted.
fn resolve_host_folder(
    key: &str,
    name: &str,
    os: Os,
    folder: &Utf8Path,
    root: &Utf8Path,
    problems: &mut Problems,
) -> Option<Vec<String>> {
    let real = match confined(root, folder) {
        Err(e) => {
            problems.add(key, e);
            return None;
        }
        Ok(real) if !real.is_dir() => {
            problems.add(key, format!("{folder} is not a folder (a path relative to {root})"));
            return None;
        }
        Ok(real) => real,
    };
    let executable = format!("{name}{}", os.exe_suffix());
    if !real.join(&executable).is_file() {
        problems.add(
            key,
            format!("{folder} holds no {executable} at its top: the executable Docker Desktop runs by the host binary's name"),
        );
        return None;
    }
    match crate::util::files::links_leaving(root, &real, |_, _| false) {
        Ok(leaving) if !leaving.is_empty() => {
            let (link, target) = &leaving[0];
            problems.add(
                key,
                format!("{link} is a symbolic link to {target}, outside the workspace: an image carries only files from inside it; copy the file in"),
            );
            return None;
        }
        Err(e) => {
            problems.add(key, format!("{folder} cannot be read: {e:#}"));
            return None;
        }
        Ok(_) => {}
    }
    match crate::util::files::files_under(&real, |_, _| false) {
        Ok(files) => {
            let mut companions: Vec<String> = files
                .iter()
                .map(|rel| crate::util::files::slashed(rel))
                .filter(|rel| *rel != executable)
                .collect();
            companions.sort();
            Some(companions)
        }
        Err(e) => {
            problems.add(key, format!("{folder} cannot be read: {e:#}"));
            None
        }
    }
}

/// Two host binaries that would put a file at the same path of an OS's folder (a folder's
/// companion named like another's executable, two folders with the same file).
fn host_file_collisions(
    built: &[HostBinary],
    external: &[ExternalHostBinary],
    host_targets: &BTreeMap<Os, VariantTargets>,
    problems: &mut Problems,
) {
    for os in host_targets.keys() {
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        let mut claim = |path: String, owner: &str, problems: &mut Problems| {
            if let Some(other) = owners.insert(path.clone(), owner.to_string()) {
                if other != owner {
                    problems.add(
                        &format!("host-binaries.{owner}.{os}"),
                        format!("puts /{os}/{path} in the image, as `{other}` does: Docker Desktop installs an OS's host binaries into one folder, so rename or remove one"),
                    );
                }
            }
        };
        for host in built.iter().filter(|h| h.ships_to(*os)) {
            claim(format!("{}{}", host.bin, os.exe_suffix()), &host.bin, problems);
        }
        for binary in external {
            if let Some(name) = binary.file_name(*os) {
                claim(name, &binary.name, problems);
            }
            if let Some(HostFile::Folder { companions, .. }) = binary.files.get(&(*os, Variant::Amd64)) {
                for companion in companions {
                    claim(companion.clone(), &binary.name, problems);
                }
            }
        }
    }
}

fn resolve_host_targets(
    raw_targets: [(Os, Option<Toggle<RawPair>>); 3],
    problems: &mut Problems,
) -> BTreeMap<Os, VariantTargets> {
    let mut host_targets = BTreeMap::new();
    for (os, setting) in raw_targets {
        let pair = match setting {
            Some(Toggle::Off) => continue,
            None | Some(Toggle::Default) => RawPair::default(),
            Some(Toggle::On(pair)) => pair,
        };
        if let Some(targets) = resolve_os_targets(os, pair, problems) {
            host_targets.insert(os, targets);
        }
    }

    host_targets
}

/// `build-with`: which builder compiles an OS's, the backend's or one target's binaries.
fn resolve_build_with(raw: BTreeMap<String, String>, problems: &mut Problems) -> BTreeMap<String, Builder> {
    let mut build_with = BTreeMap::new();
    for (key, builder) in raw {
        let known_key =
            matches!(key.as_str(), "darwin" | "windows" | "linux" | "backend") || key.contains('-');
        if !known_key {
            problems.add(&format!("build-with.{key}"), "keys are an OS (darwin, windows, linux), `backend`, or a target such as x86_64-pc-windows-gnu");
        }
        match builder.parse::<Builder>() {
            Ok(b) => {
                build_with.insert(key, b);
            }
            Err(e) => problems.add(&format!("build-with.{key}"), e),
        }
    }

    build_with
}

/// A value given twice in a list: the Marketplace would show it twice.
fn no_duplicates<'a>(key: &str, field: &str, values: impl Iterator<Item = &'a str>, problems: &mut Problems) {
    let mut first_at = BTreeMap::new();
    for (i, value) in values.enumerate() {
        if value.is_empty() {
            continue;
        }
        match first_at.entry(value) {
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(i);
            }
            std::collections::btree_map::Entry::Occupied(first) => problems.add(
                &format!("{key}[{i}]{field}"),
                format!("`{value}` is already given at {key}[{}]{field}; remove one of them", first.get()),
            ),
        }
    }
}

fn non_empty(value: &str, what: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("is empty; the Marketplace requires it ({what})"))
    } else {
        Ok(())
    }
}

fn read_text(root: &Utf8Path, key: &str, text: Text, problems: &mut Problems) -> String {
    let text = match text {
        Text::Inline(s) => s,
        Text::File(path) => {
            let read = confined(root, &path).map_err(anyhow::Error::msg).and_then(|real| {
                let bytes = crate::util::files::read_capped(&real, MAX_LABEL_FILE)?;
                String::from_utf8(bytes).with_context(|| format!("{path} is not UTF-8 text"))
            });
            match read {
                Ok(s) => s,
                Err(e) => {
                    problems.add(key, format!("cannot read {path} (relative to {root}): {e:#}"));
                    return String::new();
                }
            }
        }
    };
    problems.check(key, non_empty(&text, "text or HTML"));
    text
}

/// The workspace package `name` a key names, or a problem under `key` listing the members.
fn member<'a>(
    members: &[&'a cargo_metadata::Package],
    name: &str,
    key: &str,
    problems: &mut Problems,
) -> Option<&'a cargo_metadata::Package> {
    let found = members.iter().copied().find(|p| p.name.as_str() == name);
    if found.is_none() {
        let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
        problems
            .add(key, format!("`{name}` is not a package of this workspace (members: {})", names.join(", ")));
    }
    found
}

fn resolve_backend(
    raw: RawBackend,
    targets: Option<RawPair>,
    root: &Utf8Path,
    members: &[&cargo_metadata::Package],
    problems: &mut Problems,
) -> Backend {
    problems.check("backend.socket", rules::socket_name(&raw.socket));
    let bin = match member(members, &raw.package, "backend.package", problems) {
        None => raw.bin.unwrap_or_default(),
        Some(package) => {
            let bins: Vec<&str> =
                package.targets.iter().filter(|t| t.is_bin()).map(|t| t.name.as_str()).collect();
            match (raw.bin, bins.as_slice()) {
                (Some(bin), _) if bins.contains(&bin.as_str()) => bin,
                (Some(bin), _) => {
                    problems.add(
                        "backend.bin",
                        format!(
                            "package `{}` has no binary `{bin}` (it has: {})",
                            raw.package,
                            bins.join(", ")
                        ),
                    );
                    bin
                }
                (None, [only]) => only.to_string(),
                (None, []) => {
                    problems.add(
                        "backend.package",
                        format!("package `{}` has no binary to run as the backend", raw.package),
                    );
                    String::new()
                }
                (None, many) => {
                    problems.add(
                        "backend.bin",
                        format!(
                            "package `{}` has several binaries ({}); say which is the backend with `bin`",
                            raw.package,
                            many.join(", ")
                        ),
                    );
                    String::new()
                }
            }
        }
    };
    if let Some(compose) = &raw.compose_file {
        match confined(root, compose) {
            Err(e) => problems.add("backend.compose-file", e),
            Ok(path) if !path.is_file() => problems
                .add("backend.compose-file", format!("{compose} does not exist (a path relative to {root})")),
            Ok(_) => {}
        }
    }
    let targets = targets.unwrap_or_default();
    let mut resolved = BTreeMap::new();
    for (variant, setting) in [(Variant::Amd64, targets.amd64), (Variant::Arm64, targets.arm64)] {
        let key = format!("targets.backend.{variant}");
        let target = match setting {
            None | Some(Toggle::Default) => Os::Linux.default_target(variant).to_string(),
            Some(Toggle::On(target)) => target,
            Some(Toggle::Off) => {
                problems.add(&key, format!("the {variant} image variant runs its own backend in Docker Desktop's VM, so it needs a Linux {variant} target"));
                continue;
            }
        };
        check_target(&key, &target, Os::Linux, variant, problems);
        resolved.insert(variant, target);
    }
    Backend {
        package: raw.package,
        bin,
        socket: raw.socket,
        compose_file: raw.compose_file,
        targets: resolved,
    }
}

fn resolve_os_targets(os: Os, pair: RawPair, problems: &mut Problems) -> Option<VariantTargets> {
    let key = |variant: Variant| format!("targets.{os}.{variant}");
    let amd64 = match pair.amd64 {
        None | Some(Toggle::Default) => os.default_target(Variant::Amd64).to_string(),
        Some(Toggle::On(target)) => target,
        Some(Toggle::Off) => {
            problems.add(&key(Variant::Amd64), format!("x86_64 machines cannot run arm64 builds; to ship no {os} binaries at all, set `targets.{os} = false`"));
            return None;
        }
    };
    check_target(&key(Variant::Amd64), &amd64, os, Variant::Amd64, problems);
    let arm64 = match pair.arm64 {
        None | Some(Toggle::Default) => Some(os.default_target(Variant::Arm64).to_string()),
        Some(Toggle::On(target)) => Some(target),
        Some(Toggle::Off) if os.arm64_runs_x86_64() => None,
        Some(Toggle::Off) => {
            problems.add(&key(Variant::Arm64), format!("{os} on arm64 cannot run x86_64 binaries, so the arm64 variant needs its own build; give an aarch64 target or set `targets.{os} = false`"));
            None
        }
    };
    if let Some(arm64) = &arm64 {
        check_target(&key(Variant::Arm64), arm64, os, Variant::Arm64, problems);
    }
    Some(VariantTargets { amd64, arm64 })
}

/// A target must build for the OS and the variant's CPU it is configured for.
fn check_target(key: &str, target: &str, os: Os, variant: Variant, problems: &mut Problems) {
    if !os.matches_target(target) {
        problems.add(
            key,
            format!("`{target}` does not build for {os}; the default is {}", os.default_target(variant)),
        );
    } else if target_cpu(target) != Some(variant.cpu()) {
        problems.add(
            key,
            format!(
                "`{target}` does not build for the {variant} variant's CPU ({}); the default is {}",
                variant.cpu().name_in(os.format()),
                os.default_target(variant)
            ),
        );
    }
}

fn host_binaries(
    root: &Utf8Path,
    members: &[&cargo_metadata::Package],
    problems: &mut Problems,
) -> Vec<HostBinary> {
    let dir = root.join(HOST_BINARIES_DIR);
    let mut bins: Vec<HostBinary> = vec![];
    for package in members.iter().filter(|p| p.manifest_path.starts_with(&dir)) {
        let section = &package.metadata["extension"];
        let place = format!("{}: [package.metadata.extension]", package.manifest_path);
        let for_package = oses_of(&section["os"], &format!("{place} os"), problems);
        for target in package.targets.iter().filter(|t| t.is_bin()) {
            let own = &section["bin"][target.name.as_str()]["os"];
            let oses = if own.is_null() {
                for_package.clone()
            } else {
                oses_of(own, &format!("{place}.bin.{} os", target.name), problems)
            };
            bins.push(HostBinary { package: package.name.to_string(), bin: target.name.clone(), oses });
        }
    }
    bins.sort();
    let mut seen = BTreeMap::new();
    for bin in &bins {
        if let Some(other) = seen.insert(bin.bin.as_str(), bin.package.as_str()) {
            problems.add("", format!("the host binary name `{}` is built by two packages under {HOST_BINARIES_DIR}/ (`{other}` and `{}`); Docker Desktop installs host binaries by name, so rename one ([[bin]] name in its Cargo.toml)", bin.bin, bin.package));
        }
    }
    bins
}

/// An OS list (`["darwin", "windows"]`) from a package's metadata: every OS when absent.
fn oses_of(value: &serde_json::Value, place: &str, problems: &mut Problems) -> BTreeSet<Os> {
    if value.is_null() {
        return Os::ALL.into_iter().collect();
    }
    let names: Option<Vec<&str>> =
        value.as_array().and_then(|a| a.iter().map(serde_json::Value::as_str).collect());
    let Some(names) = names.filter(|n| !n.is_empty()) else {
        problems.add_at(
            place,
            "is not a list of OSes: give e.g. `os = [\"darwin\", \"windows\"]` (darwin, windows, linux)",
        );
        return BTreeSet::new();
    };
    let mut oses = BTreeSet::new();
    for name in names {
        match Os::ALL.into_iter().find(|os| os.key() == name) {
            Some(os) => {
                oses.insert(os);
            }
            None => problems.add_at(
                place,
                format!("`{name}` is not an OS host binaries ship to: use darwin, windows or linux"),
            ),
        }
    }
    oses
}

/// The repository the shipped packages name, when they name one.
fn package_source(shipped: &[&cargo_metadata::Package]) -> Option<String> {
    let sources: BTreeSet<&str> = shipped.iter().filter_map(|p| p.repository.as_deref()).collect();
    (sources.len() == 1).then(|| sources.into_iter().collect()).filter(|s: &String| !s.trim().is_empty())
}

/// The shipped packages' license expressions: one, or all of them joined with AND (the
/// image holds each package's binaries).
fn package_licenses(shipped: &[&cargo_metadata::Package]) -> Option<String> {
    let licenses: BTreeSet<&str> = shipped
        .iter()
        .filter_map(|p| p.license.as_deref())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match licenses.len() {
        0 => None,
        1 => licenses.into_iter().next().map(String::from),
        _ => Some(
            licenses
                .into_iter()
                .map(|l| if l.contains(' ') { format!("({l})") } else { l.to_string() })
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
    }
}

/// The tag defaults to the version the extension's packages share (the workspace version).
fn default_tag(
    backend: &Option<Backend>,
    host_binaries: &[HostBinary],
    members: &[&cargo_metadata::Package],
    problems: &mut Problems,
) -> String {
    let packages: BTreeSet<&str> = backend
        .iter()
        .map(|b| b.package.as_str())
        .chain(host_binaries.iter().map(|h| h.package.as_str()))
        .collect();
    let versions: BTreeSet<String> = members
        .iter()
        .filter(|p| packages.contains(p.name.as_str()))
        .map(|p| p.version.to_string())
        .collect();
    match versions.len() {
        1 => versions.into_iter().next().unwrap_or_default(),
        0 => {
            problems.add("tag", "there is no backend or host binary to take the version from: set `tag`");
            String::new()
        }
        _ => {
            problems.add("tag", format!("the extension's packages have different versions ({}): set `tag`, or give them one `version.workspace = true`", versions.into_iter().collect::<Vec<_>>().join(", ")));
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// A workspace on disk (only the files the config names), and cargo's metadata of it
    /// made here: a backend package and a host-binaries package, at version 2.4.6.
    struct Workspace {
        root: Utf8PathBuf,
    }

    impl Workspace {
        fn new(name: &str) -> Workspace {
            let root = Utf8PathBuf::try_from(std::env::temp_dir())
                .unwrap()
                .join(format!("config-resolve-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(root.join("extension")).unwrap();
            std::fs::write(root.join("extension/icon.svg"), "<svg/>").unwrap();
            Workspace { root }
        }

        fn package(&self, name: &str, dir: &str, bins: &[&str], metadata: &Value) -> Value {
            let manifest = self.root.join(dir).join("Cargo.toml");
            let targets: Vec<Value> = bins
                .iter()
                .map(|bin| {
                    json!({"kind": ["bin"], "crate_types": ["bin"], "name": bin,
                           "src_path": self.root.join(dir).join("src/main.rs"), "edition": "2021",
                           "doc": true, "doctest": false, "test": true})
                })
                .collect();
            json!({"name": name, "version": "2.4.6", "id": format!("path+file://{}#{name}@2.4.6", self.root.join(dir)),
                   "license": "MIT", "license_file": null, "description": null, "source": null,
                   "dependencies": [], "targets": targets, "features": {}, "manifest_path": manifest,
                   "metadata": metadata, "publish": null, "authors": [], "categories": [], "keywords": [],
                   "readme": null, "repository": "https://example.com/src", "homepage": null,
                   "documentation": null, "edition": "2021", "links": null, "default_run": null,
                   "rust_version": null})
        }

        /// The config as `extension` says, over two packages: `demo-backend` (one bin) and
        /// `demo-cli` under host-binaries/ (`demo`, and `demo-win` for Windows only).
        fn resolve(&self, extension: &Value) -> anyhow::Result<Config> {
            let packages = vec![
                self.package("demo-backend", "backend", &["demo-backend"], &Value::Null),
                self.package(
                    "demo-cli",
                    "host-binaries/demo",
                    &["demo", "demo-win"],
                    &json!({"extension": {"bin": {"demo-win": {"os": ["windows"]}}}}),
                ),
            ];
            let members: Vec<Value> = packages.iter().map(|p| p["id"].clone()).collect();
            let metadata = json!({"packages": packages, "workspace_members": members,
                                  "workspace_default_members": members, "resolve": null,
                                  "target_directory": self.root.join("target"), "version": 1,
                                  "workspace_root": self.root, "metadata": {"extension": extension}});
            Config::from_metadata(&serde_json::from_value(metadata).unwrap())
        }
    }

    impl Drop for Workspace {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    fn minimal() -> Value {
        json!({"config-version": 1, "image": "acme/demo", "title": "Demo", "description": "A demo.",
               "vendor": "Acme", "icon": "extension/icon.svg", "detailed-description": "<p>Hi</p>",
               "changelog": "<p>First</p>", "publisher-url": "https://example.com",
               "screenshots": [{"alt": "The tab", "url": "https://example.com/tab.png"}],
               "assets-url": "https://example.com/assets/", "categories": ["utility-tools"],
               "backend": {"package": "demo-backend", "socket": "demo.sock"}})
    }

    fn with(mut config: Value, key: &str, value: Value) -> Value {
        config[key] = value;
        config
    }

    #[test]
    fn defaults_come_from_the_workspace() {
        let workspace = Workspace::new("defaults");
        let config = workspace.resolve(&minimal()).unwrap();
        // The tag is the shipped packages' version; scratch and the API version by default.
        assert_eq!(config.reference.to_string(), "acme/demo:2.4.6");
        assert_eq!(config.base_image, BaseImage::Scratch);
        assert_eq!(config.labels.api_version, DEFAULT_API_VERSION);
        assert_eq!(config.labels.icon_url, "https://example.com/assets/extension/icon.svg");
        assert_eq!(config.labels.licenses.as_deref(), Some("MIT"));
        assert_eq!(config.labels.source.as_deref(), Some("https://example.com/src"));
        let backend = config.backend.as_ref().unwrap();
        assert_eq!((backend.bin.as_str(), backend.socket.as_str()), ("demo-backend", "demo.sock"));
        // Each [[bin]] under host-binaries/ ships to every OS unless its metadata says less.
        let oses: BTreeMap<&str, Vec<Os>> =
            config.host_binaries.iter().map(|h| (h.bin.as_str(), h.oses.iter().copied().collect())).collect();
        assert_eq!(oses["demo"], Os::ALL.to_vec());
        assert_eq!(oses["demo-win"], [Os::Windows]);
        assert_eq!(config.host_targets.len(), Os::ALL.len());
        assert!(!config.deny_warnings);
        assert_eq!(config.target_dir, workspace.root.join("target"));
    }

    #[test]
    fn what_the_config_says_wins_over_the_defaults() {
        let workspace = Workspace::new("overrides");
        let digest = format!("sha256:{}", "ab".repeat(32));
        let mut raw = with(minimal(), "tag", json!("3.0.0"));
        raw = with(raw, "base-image", json!(format!("alpine:3.20@{digest}")));
        raw = with(raw, "deny-warnings", json!(true));
        raw = with(raw, "targets", json!({"darwin": false, "windows": {"arm64": false}}));
        let config = workspace.resolve(&raw).unwrap();
        assert_eq!(config.reference.to_string(), "acme/demo:3.0.0");
        let BaseImage::Image(base) = &config.base_image else { panic!("{:?}", config.base_image) };
        assert_eq!(base.to_string(), format!("alpine:3.20@{digest}"));
        assert!(config.deny_warnings);
        assert!(!config.host_targets.contains_key(&Os::Darwin));
        assert_eq!(config.host_targets[&Os::Windows].arm64, None);
    }

    #[test]
    fn every_problem_is_named_by_its_key_at_once() {
        let workspace = Workspace::new("problems");
        let mut raw = with(minimal(), "image", json!("Acme/Demo"));
        raw = with(raw, "title", json!(""));
        raw = with(raw, "icon", json!("extension/missing.svg"));
        raw = with(raw, "base-image", json!("alpine@sha256:abc"));
        raw["backend"]["bin"] = json!("nope");
        let error = workspace.resolve(&raw).unwrap_err().to_string();
        for key in ["image", "title", "icon", "base-image", "backend.bin"] {
            assert!(error.contains(&format!("{KEY}.{key}")), "{key} is not named:\n{error}");
        }
        assert!(
            error.contains("package `demo-backend` has no binary `nope` (it has: demo-backend)"),
            "{error}"
        );
    }

    #[test]
    fn a_windows_only_binary_with_windows_off_is_refused_and_unknown_keys_are_named() {
        let workspace = Workspace::new("refusals");
        let raw = with(minimal(), "targets", json!({"windows": false}));
        let error = workspace.resolve(&raw).unwrap_err().to_string();
        assert!(error.contains("the host binary `demo-win` ships only to windows"), "{error}");
        let error = workspace.resolve(&with(minimal(), "colour", json!("red"))).unwrap_err().to_string();
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error = workspace.resolve(&with(minimal(), "config-version", json!(99))).unwrap_err().to_string();
        assert!(error.contains("newer than this tool"), "{error}");
    }
}
