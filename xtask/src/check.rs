//! `cargo xtask check`: the offline twin of `docker extension validate`. The same checks run
//! on a build context (dist runs them before building the image) and on an OCI archive of
//! the built image. Every problem is reported, one line each, with where and how to fix it.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use xshell::{cmd, Shell};

use crate::binary::{self, Cpu, Format};
use crate::config::Config;
use crate::plan::CONTEXT_DIR;
use crate::targets::{Os, Variant};
use crate::{dockerfile, flags, rules};

/// The labels `docker extension validate` requires, non-empty.
pub const REQUIRED_LABELS: &[&str] = &[
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.vendor",
    "com.docker.desktop.extension.api.version",
    "com.docker.desktop.extension.icon",
    "com.docker.extension.screenshots",
    "com.docker.extension.detailed-description",
    "com.docker.extension.publisher-url",
    "com.docker.extension.changelog",
    "com.docker.extension.categories",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a label, a file in a variant, the archive.
    pub place: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn problem(place: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem { place: place.into(), message: message.into() }
}

pub fn report(problems: &[Problem], what: &str) -> String {
    let n = problems.len();
    let mut s = format!("{what} has {n} problem{}:", if n == 1 { "" } else { "s" });
    for p in problems {
        s.push_str(&format!("\n  - {}: {}", p.place, p.message));
    }
    s
}

/// One image variant as the checks see it: its files, labels and entrypoint.
pub struct VariantView {
    pub variant: Variant,
    /// Folders that make up the variant's filesystem, searched in order.
    pub roots: Vec<Utf8PathBuf>,
    pub labels: BTreeMap<String, String>,
    pub entrypoint: Vec<String>,
}

impl VariantView {
    fn file(&self, image_path: &str) -> Option<Utf8PathBuf> {
        let rel = image_path.trim_start_matches('/');
        self.roots.iter().map(|root| root.join(rel)).find(|p| p.is_file())
    }
}

/// Checks a context written by dist: the files each variant gets, with the labels the
/// config gives the Dockerfile.
pub fn check_context(context: &Utf8Path, config: &Config, variants: &[Variant]) -> Vec<Problem> {
    let labels: BTreeMap<String, String> = dockerfile::labels(config)
        .into_iter()
        .map(|(k, v)| (k.to_string(), dockerfile::label_text(&v)))
        .collect();
    let mut problems = vec![];
    if !context.join("Dockerfile").is_file() {
        problems.push(problem(
            format!("{context}/Dockerfile"),
            "is missing: run `cargo xtask dist --no-image` to write the context",
        ));
    }
    for &variant in variants {
        let view = VariantView {
            variant,
            roots: vec![context.join(variant.arch()), context.to_path_buf()],
            labels: labels.clone(),
            entrypoint: if config.backend.is_some() { vec!["/backend".into()] } else { vec![] },
        };
        problems.extend(check_variant(&view, config.base_image == "scratch"));
    }
    dedup(problems)
}

/// Labels are shared by both variants: report a label problem once.
fn dedup(problems: Vec<Problem>) -> Vec<Problem> {
    let mut seen = std::collections::BTreeSet::new();
    problems.into_iter().filter(|p| seen.insert((p.place.clone(), p.message.clone()))).collect()
}

/// Every check on one variant: labels, metadata.json, the files it names and their headers.
pub fn check_variant(view: &VariantView, scratch: bool) -> Vec<Problem> {
    let mut problems = check_labels(&view.labels);
    let arch = view.variant.arch();
    let place = |path: &str| format!("{arch}:{path}");
    let Some(metadata_file) = view.file("metadata.json") else {
        problems.push(problem(place("/metadata.json"), "is missing: Docker Desktop reads it first"));
        return problems;
    };
    let metadata: Value = match std::fs::read_to_string(&metadata_file)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            problems.push(problem(place("/metadata.json"), format!("is not valid JSON ({e})")));
            return problems;
        }
    };
    problems.extend(check_metadata_keys(&metadata).into_iter().map(|m| problem(place("/metadata.json"), m)));
    for path in crate::metadata::named_paths(&metadata) {
        if view.file(&path).is_none() {
            problems.push(problem(place(&path), "is named in metadata.json but missing from the image"));
        }
    }
    // Host binaries: the variant's CPU, in the OS's format.
    for group in metadata["host"]["binaries"].as_array().into_iter().flatten() {
        for os in Os::ALL {
            for entry in group[os.key()].as_array().into_iter().flatten() {
                let Some(path) = entry["path"].as_str() else { continue };
                let Some(file) = view.file(path) else { continue };
                if let Some(message) =
                    check_binary(&file, os.format(), view.variant, os.arm64_runs_x86_64(), false)
                {
                    problems.push(problem(place(path), message));
                }
            }
        }
    }
    // The backend: what the image runs, a Linux binary of the variant's CPU.
    if metadata.get("vm").is_some() {
        match view.entrypoint.first() {
            None if metadata["vm"].get("composefile").is_none() => {
                problems.push(problem(
                    place("/"),
                    "metadata.json declares a backend (`vm`), but the image has no entrypoint to run",
                ));
            }
            None => {}
            Some(entry) => match view.file(entry) {
                None => problems.push(problem(place(entry), "is the image's entrypoint but is missing")),
                Some(file) => {
                    if let Some(message) = check_binary(&file, Format::Elf, view.variant, false, scratch) {
                        problems.push(problem(place(entry), message));
                    }
                }
            },
        }
    }
    problems
}

/// What is wrong with a binary at a path that must be `format` for `variant`, if anything.
fn check_binary(
    file: &Utf8Path,
    format: Format,
    variant: Variant,
    emulated_ok: bool,
    static_required: bool,
) -> Option<String> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    let cpu = variant.cpu();
    let wanted = binary::BinaryKind { format, cpu };
    let info = match binary::inspect(&bytes) {
        Ok(info) => info,
        Err(what) => {
            return Some(format!(
                "is {what}; the {variant} variant needs {} here",
                binary::with_article(&wanted.to_string())
            ))
        }
    };
    let cpu_ok = info.cpu == cpu || (emulated_ok && variant == Variant::Arm64 && info.cpu == Cpu::X86_64);
    if info.format != format || !cpu_ok || info.library_only {
        return Some(format!(
            "is {}; the {variant} variant needs {} executable here (rebuild with `cargo xtask dist`)",
            binary::with_article(&info.describe()),
            binary::with_article(&wanted.to_string())
        ));
    }
    if static_required && !info.static_linked {
        return Some(format!(
            "is {}; on a `scratch` image the backend must be statically linked (build it for a -musl target)",
            binary::with_article(&info.describe())
        ));
    }
    None
}

/// Unknown keys in metadata.json: `docker extension validate` rejects them.
fn check_metadata_keys(metadata: &Value) -> Vec<String> {
    let mut problems = vec![];
    let Some(object) = metadata.as_object() else {
        return vec!["must be a JSON object".into()];
    };
    let allowed: &[(&str, &[&str])] = &[
        ("", &["icon", "vm", "ui", "host"]),
        ("vm", &["image", "composefile", "exposes"]),
        ("ui", &["dashboard-tab"]),
        ("ui.dashboard-tab", &["title", "root", "src", "backend"]),
        ("host", &["binaries"]),
    ];
    for (path, keys) in allowed {
        let node = if path.is_empty() {
            Some(metadata)
        } else {
            path.split('.').try_fold(metadata, |v, k| v.get(k))
        };
        for key in node.and_then(Value::as_object).into_iter().flat_map(|o| o.keys()) {
            if !keys.contains(&key.as_str()) {
                let full = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                problems.push(format!(
                    "has the unknown key `{full}` (allowed here: {}); Docker Desktop rejects it",
                    keys.join(", ")
                ));
            }
        }
    }
    if object.get("icon").and_then(Value::as_str).is_none_or(str::is_empty) {
        problems.push("has no `icon`".into());
    }
    if let Some(vm) = object.get("vm") {
        if vm.get("image").is_none() && vm.get("composefile").is_none() {
            problems.push("has a `vm` with neither `image` nor `composefile`".into());
        }
    }
    problems
}

/// The Marketplace's label rules.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Vec<Problem> {
    let mut problems = vec![];
    let place = |label: &str| format!("label {label}");
    for &label in REQUIRED_LABELS {
        match labels.get(label) {
            None => problems.push(problem(
                place(label),
                "is missing; the Marketplace requires it (set it in [workspace.metadata.extension])",
            )),
            Some(v) if v.trim().is_empty() => {
                problems.push(problem(place(label), "is empty; the Marketplace requires a value"))
            }
            Some(_) => {}
        }
    }
    let get = |label: &str| labels.get(label).filter(|v| !v.trim().is_empty());
    if let Some(title) = get("org.opencontainers.image.title") {
        if title.to_lowercase().split(|c: char| !c.is_alphanumeric()).any(|w| w == "extension") {
            problems.push(problem(
                place("org.opencontainers.image.title"),
                format!(
                    "`{title}` contains the word \"extension\", which the Marketplace asks titles not to"
                ),
            ));
        }
    }
    if let Some(v) = get("com.docker.desktop.extension.api.version") {
        if let Err(e) = rules::api_version(v) {
            problems.push(problem(place("com.docker.desktop.extension.api.version"), e));
        }
    }
    for label in ["com.docker.desktop.extension.icon", "com.docker.extension.publisher-url"] {
        if let Some(v) = get(label) {
            if let Err(e) = rules::url(v) {
                problems.push(problem(place(label), e));
            }
        }
    }
    if let Some(icon) = get("com.docker.desktop.extension.icon") {
        let lower = icon.to_lowercase();
        if ![".svg", ".png", ".jpg", ".jpeg"]
            .iter()
            .any(|ext| lower.split(['?', '#']).next().unwrap_or("").ends_with(ext))
        {
            problems.push(problem(
                place("com.docker.desktop.extension.icon"),
                "must be the URL of an .svg, .png or .jpg file",
            ));
        }
    }
    let json_list = |label: &str, fields: [&str; 2], problems: &mut Vec<Problem>| {
        let Some(v) = get(label) else { return };
        let parsed: Result<Vec<BTreeMap<String, Value>>, _> = serde_json::from_str(v);
        let Ok(items) = parsed else {
            problems.push(problem(
                place(label),
                format!("must be a JSON array of {{\"{}\": …, \"{}\": …}} objects", fields[0], fields[1]),
            ));
            return;
        };
        for (i, item) in items.iter().enumerate() {
            for field in fields {
                match item.get(field).and_then(Value::as_str) {
                    Some(s) if !s.trim().is_empty() => {
                        if field == "url" {
                            if let Err(e) = rules::url(s) {
                                problems.push(problem(format!("{}[{i}].url", place(label)), e));
                            }
                        }
                    }
                    _ => problems.push(problem(
                        format!("{}[{i}]", place(label)),
                        format!("needs a non-empty \"{field}\" string"),
                    )),
                }
            }
            if let Some(extra) = item.keys().find(|k| !fields.contains(&k.as_str())) {
                problems.push(problem(
                    format!("{}[{i}]", place(label)),
                    format!("has the unknown key \"{extra}\""),
                ));
            }
        }
        if items.is_empty() && label == "com.docker.extension.screenshots" {
            problems
                .push(problem(place(label), "lists no screenshot; the Marketplace requires at least one"));
        }
    };
    json_list("com.docker.extension.screenshots", ["alt", "url"], &mut problems);
    json_list("com.docker.extension.additional-urls", ["title", "url"], &mut problems);
    if let Some(categories) = get("com.docker.extension.categories") {
        for category in categories.split(',') {
            if let Err(e) = rules::category(category.trim()) {
                problems.push(problem(place("com.docker.extension.categories"), e));
            }
        }
    }
    problems
}

// ---- The command ------------------------------------------------------------------------

impl flags::Check {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let problems = match &self.archive {
            Some(archive) => {
                // Not a file: an image reference, exported from docker's image store.
                let saved = if archive.exists() { None } else { Some(save_image(sh, archive.as_str())?) };
                let file = saved.as_ref().map(|(_, file)| file.as_path()).unwrap_or(archive);
                let (problems, sizes) = check_archive(sh, file)?;
                for size in sizes {
                    println!("{size}");
                }
                problems
            }
            None => {
                let config = Config::load_current()?;
                let context = config.target_dir.join(CONTEXT_DIR);
                let mut problems = vec![];
                if let Err(e) = rules::release_tag(&config.tag) {
                    problems.push(problem("tag", e));
                }
                if !context.is_dir() {
                    problems.push(problem(
                        context.to_string(),
                        "does not exist: run `cargo xtask dist --no-image` first",
                    ));
                } else {
                    problems.extend(check_context(&context, &config, &Variant::ALL));
                }
                problems
            }
        };
        let what = match &self.archive {
            Some(archive) => archive.to_string(),
            None => "the extension".to_string(),
        };
        if !problems.is_empty() {
            bail!("{}", report(&problems, &what));
        }
        println!("{what}: no problems found");
        Ok(())
    }
}

/// Exports an image from docker's store into an OCI archive (`docker image save` writes
/// the OCI layout since Docker 25), in a temporary folder that lives as long as the result.
fn save_image(sh: &Shell, reference: &str) -> anyhow::Result<(xshell::TempDir, Utf8PathBuf)> {
    let repository =
        reference.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(reference, |(r, _)| r);
    if rules::image_repository(repository).is_err() {
        bail!("{reference} does not exist: give an OCI archive (`cargo xtask dist --oci {reference}` writes one) or an image reference");
    }
    if !crate::machine::runs(sh, "docker", &["--version"]) {
        bail!(
            "{reference} is not a file, and there is no docker to export it as an image: give an OCI archive              (`cargo xtask dist --oci target/extension.tar`)"
        );
    }
    let temp = sh.create_temp_dir().context("creating a temporary folder")?;
    let file = Utf8PathBuf::try_from(temp.path().join("image.tar"))?;
    cmd!(sh, "docker image save --output {file} {reference}").quiet().ignore_stdout().run().with_context(
        || {
            format!(
                "docker has no image {reference}: build it with `cargo xtask dist --load`, or pull it first"
            )
        },
    )?;
    Ok((temp, file))
}

/// Checks an OCI archive: both platforms present, the tag, and each variant in full.
/// Also returns one line per variant with its compressed layer sizes (what users download).
pub fn check_archive(sh: &Shell, archive: &Utf8Path) -> anyhow::Result<(Vec<Problem>, Vec<String>)> {
    if !archive.is_file() {
        bail!("{archive} does not exist: build one with `cargo xtask dist --oci {archive}`");
    }
    let temp = sh.create_temp_dir().context("creating a temporary folder")?;
    let dir = Utf8PathBuf::try_from(temp.path().to_path_buf())?;
    let layout = dir.join("layout");
    std::fs::create_dir_all(&layout)?;
    cmd!(sh, "tar -xf {archive} -C {layout}").quiet().run().with_context(|| {
        format!("{archive} is not a tar archive (expected an OCI archive from `dist --oci`)")
    })?;
    let oci = OciLayout { dir: layout };
    let images = oci.images().with_context(|| format!("reading the OCI layout in {archive}"))?;
    let mut problems = vec![];
    let mut sizes = vec![];
    for variant in Variant::ALL {
        if !images.iter().any(|(v, _)| *v == variant) {
            problems.push(problem(
                archive.to_string(),
                format!(
                    "has no {} image; Docker Desktop needs both linux/amd64 and linux/arm64",
                    variant.platform()
                ),
            ));
        }
    }
    for (variant, manifest) in images {
        let layer_sizes: Vec<u64> =
            manifest["layers"].as_array().into_iter().flatten().filter_map(|l| l["size"].as_u64()).collect();
        sizes.push(format!(
            "{}: {} layers, {} compressed ({})",
            variant.platform(),
            layer_sizes.len(),
            crate::report::size(layer_sizes.iter().sum()),
            layer_sizes.iter().map(|s| crate::report::size(*s)).collect::<Vec<_>>().join(" + ")
        ));
        let root = dir.join(variant.arch());
        std::fs::create_dir_all(&root)?;
        let (config, layers) = oci.image(&manifest)?;
        for layer in layers {
            cmd!(sh, "tar -xf {layer} -C {root}")
                .quiet()
                .run()
                .with_context(|| format!("unpacking layer {layer}"))?;
            apply_whiteouts(&root)?;
        }
        let labels: BTreeMap<String, String> = config["config"]["Labels"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        let entrypoint: Vec<String> = config["config"]["Entrypoint"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        if let Some(version) = labels.get("org.opencontainers.image.version") {
            if let Err(e) = rules::release_tag(version) {
                problems.push(problem("label org.opencontainers.image.version", e));
            }
        }
        // No C library in the image: the backend must be static.
        let has_libc = ["lib", "usr/lib", "lib64"].iter().any(|d| root.join(d).is_dir());
        let view = VariantView { variant, roots: vec![root], labels, entrypoint };
        problems.extend(check_variant(&view, !has_libc));
    }
    Ok((dedup(problems), sizes))
}

/// A layer deletes a file of the layers below it with a `.wh.<name>` file beside it (the
/// OCI image spec's whiteouts); `.wh..wh..opq` (an opaque folder) is only dropped, as what
/// the layer itself brought cannot be told apart once unpacked.
fn apply_whiteouts(root: &Utf8Path) -> anyhow::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<(String, bool)> = vec![];
        for entry in dir.read_dir_utf8().with_context(|| format!("reading {dir}"))? {
            let entry = entry?;
            entries.push((entry.file_name().to_string(), entry.file_type()?.is_dir()));
        }
        for (name, is_dir) in &entries {
            let path = dir.join(name);
            if name == ".wh..wh..opq" {
                std::fs::remove_file(&path)?;
            } else if let Some(hidden) = name.strip_prefix(".wh.") {
                let target = dir.join(hidden);
                if target.is_dir() {
                    std::fs::remove_dir_all(&target)?;
                } else if target.exists() {
                    std::fs::remove_file(&target)?;
                }
                std::fs::remove_file(&path)?;
            } else if *is_dir {
                stack.push(path);
            }
        }
    }
    Ok(())
}

/// An unpacked OCI image layout (index.json and blobs/).
pub struct OciLayout {
    pub dir: Utf8PathBuf,
}

const INDEX_TYPES: &[&str] =
    &["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

impl OciLayout {
    pub fn blob(&self, digest: &str) -> anyhow::Result<Utf8PathBuf> {
        let (algorithm, hex) =
            digest.split_once(':').with_context(|| format!("`{digest}` is not a digest"))?;
        let path = self.dir.join("blobs").join(algorithm).join(hex);
        if !path.is_file() {
            bail!("blob {digest} is missing from the archive");
        }
        Ok(path)
    }

    pub fn json(&self, digest: &str) -> anyhow::Result<Value> {
        let path = self.blob(digest)?;
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        serde_json::from_str(&text).with_context(|| format!("parsing blob {digest}"))
    }

    /// The platform images of the archive (attestations skipped), following nested indexes.
    pub fn images(&self) -> anyhow::Result<Vec<(Variant, Value)>> {
        let index_path = self.dir.join("index.json");
        let index: Value = serde_json::from_str(
            &std::fs::read_to_string(&index_path)
                .context("the archive has no index.json: it is not an OCI archive")?,
        )?;
        let mut descriptors: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
        let mut images = vec![];
        while let Some(descriptor) = descriptors.pop() {
            let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
            let digest = descriptor["digest"].as_str().unwrap_or_default();
            let manifest = self.json(digest)?;
            let manifest_type = manifest["mediaType"].as_str().unwrap_or(media_type);
            if INDEX_TYPES.contains(&media_type)
                || INDEX_TYPES.contains(&manifest_type)
                || manifest.get("manifests").is_some()
            {
                descriptors.extend(manifest["manifests"].as_array().cloned().unwrap_or_default());
                continue;
            }
            if descriptor["annotations"]["vnd.docker.reference.type"].as_str() == Some("attestation-manifest")
            {
                continue;
            }
            let platform = &descriptor["platform"];
            let config = self.json(manifest["config"]["digest"].as_str().unwrap_or_default())?;
            let (os, arch) = match (platform["os"].as_str(), platform["architecture"].as_str()) {
                (Some(os), Some(arch)) => (os.to_string(), arch.to_string()),
                _ => (
                    config["os"].as_str().unwrap_or_default().to_string(),
                    config["architecture"].as_str().unwrap_or_default().to_string(),
                ),
            };
            if os != "linux" {
                continue;
            }
            if let Some(variant) = Variant::parse_platform(&arch) {
                images.push((variant, manifest));
            }
        }
        images.sort_by_key(|(v, _)| *v);
        Ok(images)
    }

    /// An image's config and its layer blobs, in order.
    pub fn image(&self, manifest: &Value) -> anyhow::Result<(Value, Vec<Utf8PathBuf>)> {
        let config = self.json(manifest["config"]["digest"].as_str().unwrap_or_default())?;
        let layers = manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| self.blob(l["digest"].as_str().unwrap_or_default()))
            .collect::<anyhow::Result<_>>()?;
        Ok((config, layers))
    }
}
