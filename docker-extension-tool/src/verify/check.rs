//! `cargo xtask check`: the offline twin of `docker extension validate`. The same checks run
//! on a build context (dist runs them before building the image) and on an OCI archive of
//! the built image. Every problem is reported, one line each, with where and how to fix it.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use xshell::Shell;

use crate::util::process::cmd;

use crate::image::metadata::{label, Metadata};
use crate::image::oci::{Layout, Tree};
use crate::image::spec::ImageSpec;
use crate::model::binary::{self, Cpu, Format};
use crate::model::reference::{BaseImage, ImageReference};
use crate::model::rules;
use crate::model::targets::{Os, Variant};
use crate::plan::image::RegistryClient;
pub(crate) use crate::util::report::{problem, Problem};
use crate::verify::compose;
use crate::verify::rulebook;
use crate::workspace::config::Config;
use crate::workspace::machine::runs;

/// One image variant as the checks see it: its files, labels and entrypoint.
pub(crate) struct VariantView<'a> {
    pub variant: Variant,
    pub files: Files<'a>,
    pub labels: BTreeMap<String, String>,
    pub entrypoint: Vec<String>,
}

/// Where a variant's files are: folders on disk (a context), or an image's layers (by
/// name, with copies of the few files a check reads).
pub(crate) enum Files<'a> {
    /// Searched in order.
    Folders(Vec<Utf8PathBuf>),
    Image {
        tree: &'a Tree,
        copies: &'a BTreeMap<String, Utf8PathBuf>,
    },
}

/// The most metadata.json may be: Docker Desktop's is a few hundred bytes.
pub(crate) const MAX_METADATA: u64 = 1 << 20;

impl Files<'_> {
    /// Where a regular file's bytes are on disk (`None`: missing, or not a regular file).
    fn path(&self, image_path: &str) -> Option<Utf8PathBuf> {
        match self {
            Files::Folders(roots) => {
                let rel = image_path.trim_start_matches('/');
                roots
                    .iter()
                    .map(|root| root.join(rel))
                    .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
            }
            Files::Image { tree, copies } => {
                tree.is_file(image_path).then_some(())?;
                copies.get(&crate::image::oci::normalise(image_path)?).cloned()
            }
        }
    }

    fn exists(&self, image_path: &str) -> bool {
        match self {
            Files::Folders(_) => self.path(image_path).is_some(),
            Files::Image { tree, .. } => tree.is_file(image_path),
        }
    }

    /// Whether the path is a folder (a host binary's folder lists its folders too).
    fn is_dir(&self, image_path: &str) -> bool {
        match self {
            Files::Folders(roots) => {
                let rel = image_path.trim_start_matches('/');
                roots.iter().any(|root| std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.is_dir()))
            }
            Files::Image { tree, .. } => tree.is_dir(image_path),
        }
    }

    /// Whether a regular file can be run (any execute bit); `None`: missing, or a platform
    /// without modes (a context on Windows).
    fn executable(&self, image_path: &str) -> Option<bool> {
        match self {
            Files::Folders(_) => {
                let meta = std::fs::metadata(self.path(image_path)?).ok()?;
                cfg!(unix).then(|| crate::util::files::is_executable(&meta))
            }
            Files::Image { tree, .. } => match tree.get(image_path)? {
                crate::image::oci::Node::File { mode, .. } => Some(mode & 0o111 != 0),
                _ => None,
            },
        }
    }

    /// A small file's bytes (`None`: missing); an error when it is larger than `max`.
    fn read_small(&self, image_path: &str, max: u64, what: &str) -> Option<Result<Vec<u8>, String>> {
        let path = self.path(image_path)?;
        Some(crate::util::files::read_capped(&path, max).map_err(|_| {
            format!("is larger than {}: not {what} Docker Desktop reads", crate::util::report::size(max))
        }))
    }

    /// What the binary at a path is (`None`: missing), read from its header in place.
    fn binary(&self, image_path: &str) -> Option<Result<binary::BinaryInfo, String>> {
        Some(binary::inspect_file(&self.path(image_path)?))
    }
}

/// The files a check of a variant reads besides metadata.json: the binaries metadata.json
/// names, the entrypoint and the compose file (what an image must provide copies of, see
/// [`Files::Image`]).
pub(crate) fn binaries_named(metadata: &[u8], entrypoint: &[String]) -> Vec<String> {
    let mut paths: Vec<String> = entrypoint.first().cloned().into_iter().collect();
    if let Ok(metadata) = Metadata::parse(metadata) {
        paths.extend(metadata.vm.as_ref().and_then(|vm| vm.composefile.as_ref()).map(|c| compose_path(c)));
        for group in metadata.host.iter().flat_map(|h| &h.binaries) {
            for os in Os::ALL {
                paths.extend(group.for_os(os).iter().map(|b| b.path.clone()));
            }
        }
    }
    paths
}

/// Checks a context written by dist: the files each variant gets, with the labels the
/// config gives the Dockerfile.
pub(crate) fn check_context(context: &Utf8Path, config: &Config, variants: &[Variant]) -> Vec<Problem> {
    let spec = ImageSpec::from_config(config, config.reference.tag_or_latest());
    let labels: BTreeMap<String, String> =
        spec.labels.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
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
            files: Files::Folders(vec![context.join(variant.arch()), context.to_path_buf()]),
            labels: labels.clone(),
            entrypoint: spec.entrypoint.clone().unwrap_or_default(),
        };
        problems.extend(check_variant(&view, config.base_image == BaseImage::Scratch));
    }
    dedup(problems)
}

/// Labels are shared by both variants: report a label problem once.
fn dedup(problems: Vec<Problem>) -> Vec<Problem> {
    let mut seen = std::collections::BTreeSet::new();
    problems.into_iter().filter(|p| seen.insert((p.place.clone(), p.message.clone()))).collect()
}

/// Every check on one variant: labels, metadata.json, the files it names and their headers.
pub(crate) fn check_variant(view: &VariantView, scratch: bool) -> Vec<Problem> {
    let mut problems = check_labels(&view.labels);
    let arch = view.variant.arch();
    let place = |path: &str| format!("{arch}:{path}");
    let metadata_bytes = match view.files.read_small("metadata.json", MAX_METADATA, "a metadata.json") {
        None => {
            problems.push(
                rulebook::METADATA_JSON
                    .problem(place("/metadata.json"), "is missing: Docker Desktop reads it first"),
            );
            return problems;
        }
        Some(Err(e)) => {
            problems.push(rulebook::METADATA_JSON.problem(place("/metadata.json"), e));
            return problems;
        }
        Some(Ok(bytes)) => bytes,
    };
    let metadata = match Metadata::parse(&metadata_bytes) {
        Ok(metadata) => metadata,
        Err(e) => {
            problems.push(
                rulebook::METADATA_JSON
                    .problem(place("/metadata.json"), format!("{e}; Docker Desktop rejects it")),
            );
            return problems;
        }
    };
    problems.extend(
        metadata.problems().into_iter().map(|m| rulebook::METADATA_JSON.problem(place("/metadata.json"), m)),
    );
    for path in metadata.named_paths() {
        if !view.files.exists(&path) && !view.files.is_dir(&path) {
            problems.push(
                rulebook::METADATA_PATHS
                    .problem(place(&path), "is named in metadata.json but missing from the image"),
            );
        }
    }
    // Host binaries: the variant's CPU, in the OS's format. The folders and files a host
    // binary's folder lists beside its executable (a runtime, libraries, data) are
    // companions: they must be there (above), and are not executables themselves.
    for group in metadata.host.iter().flat_map(|h| &h.binaries) {
        for os in Os::ALL {
            let listed = group.for_os(os);
            let folders: Vec<String> = listed
                .iter()
                .filter(|e| view.files.is_dir(&e.path))
                .map(|e| format!("{}/", e.path))
                .collect();
            for entry in listed {
                if view.files.is_dir(&entry.path)
                    || folders.iter().any(|folder| entry.path.starts_with(folder.as_str()))
                    || is_companion(&view.files, os, &entry.path)
                {
                    continue;
                }
                if view.files.executable(&entry.path) == Some(false) {
                    problems.push(rulebook::HOST_BINARY_EXECUTABLE.problem(
                        place(&entry.path),
                        "is not executable (mode without an x bit): Docker Desktop installs it as it is; rebuild with `cargo xtask dist`",
                    ));
                }
                if is_script(&entry.path) {
                    if let Some(message) = script_problem(&view.files, os, &entry.path) {
                        problems.push(rulebook::HOST_BINARY_FORMAT.problem(place(&entry.path), message));
                    }
                    continue;
                }
                let Some(info) = view.files.binary(&entry.path) else { continue };
                if let Some(message) =
                    check_binary(info, os.format(), view.variant, os.arm64_runs_x86_64(), false)
                {
                    problems.push(rulebook::HOST_BINARY_FORMAT.problem(place(&entry.path), message));
                }
            }
        }
    }
    // A compose file: checked as Docker Desktop will run it (the same problem from both
    // variants is reported once: its place names no variant).
    if let Some(compose) = metadata.vm.as_ref().and_then(|vm| vm.composefile.as_ref()) {
        let path = compose_path(compose);
        match view.files.read_small(&path, MAX_COMPOSE, "a compose file") {
            None => {} // reported above, as a path metadata.json names
            Some(Err(e)) => problems.push(rulebook::COMPOSE_YAML.problem(path, e)),
            Some(Ok(bytes)) => problems.extend(compose_problems(&path, &bytes)),
        }
    }
    // The backend: what the image runs, a Linux binary of the variant's CPU.
    if let Some(vm) = &metadata.vm {
        match view.entrypoint.first() {
            None if vm.composefile.is_none() => {
                problems.push(rulebook::BACKEND_ENTRYPOINT.problem(
                    place("/"),
                    "metadata.json declares a backend (`vm`), but the image has no entrypoint to run",
                ));
            }
            None => {}
            Some(entry) => match view.files.binary(entry) {
                None => problems.push(
                    rulebook::BACKEND_ENTRYPOINT
                        .problem(place(entry), "is the image's entrypoint but is missing"),
                ),
                Some(info) => {
                    if let Some(message) = check_binary(info, Format::Elf, view.variant, false, scratch) {
                        problems.push(rulebook::BACKEND_ENTRYPOINT.problem(place(entry), message));
                    }
                }
            },
        }
    }
    problems
}

/// The most a compose file may be (Docker Desktop's are a few KiB).
pub(crate) const MAX_COMPOSE: u64 = 1 << 20;

fn compose_path(composefile: &str) -> String {
    format!("/{}", composefile.trim_start_matches('/'))
}

/// The compose file's problems, each placed at `place:LINE`.
pub(crate) fn compose_problems(place: &str, bytes: &[u8]) -> Vec<Problem> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return vec![rulebook::COMPOSE_YAML.problem(place, "is not UTF-8 text: not a compose file")];
    };
    compose::check(text)
        .into_iter()
        .map(|(line, rule, message)| match line {
            0 => rule.problem(place, message),
            line => rule.problem(format!("{place}:{line}"), message),
        })
        .collect()
}

/// Whether a file listed with an OS's host binaries sits beside them rather than being one:
/// on Windows anything but an `.exe` or a batch file (DLLs, data); on macOS and Linux a
/// shared library, or a file that is neither executable nor an executable's format (a
/// README, a licence, data). A binary that lost its execute bit still has its header, and
/// is checked as one.
fn is_companion(files: &Files, os: Os, path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if os == Os::Windows {
        return ![".exe", ".cmd", ".bat"].iter().any(|ext| lower.ends_with(ext));
    }
    let name = lower.rsplit('/').next().unwrap_or_default();
    if name.ends_with(".dylib") || name.ends_with(".so") || name.contains(".so.") {
        return true;
    }
    !is_script(path)
        && files.executable(path) == Some(false)
        && !files.path(path).is_some_and(|p| executable_magic(&p))
}

/// Whether a file starts as an executable does: ELF, Mach-O (thin or universal), PE (`MZ`),
/// or a shebang. Anything else is data.
fn executable_magic(path: &Utf8Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    let Ok(mut file) = std::fs::File::open(path) else { return false };
    let read = file.read(&mut head).unwrap_or(0);
    binary::starts_like_executable(&head[..read])
}

/// A host binary that is a script: `.sh` (macOS, Linux) or `.cmd`/`.bat` (Windows).
fn is_script(path: &str) -> bool {
    [".sh", ".cmd", ".bat"].iter().any(|ext| path.ends_with(ext))
}

/// What is wrong with a script host binary, if anything: the OS's kind of script, and a
/// shebang for macOS and Linux (they run it by its first line). A missing one is reported
/// as a path metadata.json names.
fn script_problem(files: &Files, os: Os, path: &str) -> Option<String> {
    if !files.exists(path) {
        return None;
    }
    let windows = path.ends_with(".cmd") || path.ends_with(".bat");
    if windows != (os == Os::Windows) {
        return Some(format!(
            "is a {} script, but {os} runs {}",
            if windows { "Windows" } else { "shell" },
            if os == Os::Windows { ".cmd or .bat scripts" } else { ".sh scripts with a shebang" }
        ));
    }
    if windows {
        return None;
    }
    match files.read_small(path, MAX_METADATA, "a script")? {
        Err(e) => Some(e),
        Ok(bytes) if bytes.starts_with(b"#!") => None,
        Ok(_) => Some("is a script without a `#!` line: macOS and Linux run it by its shebang".into()),
    }
}

/// What is wrong with a binary at a path that must be `format` for `variant`, if anything.
fn check_binary(
    info: Result<binary::BinaryInfo, String>,
    format: Format,
    variant: Variant,
    emulated_ok: bool,
    static_required: bool,
) -> Option<String> {
    let cpu = variant.cpu();
    let wanted = binary::BinaryKind { format, cpu };
    let info = match info {
        Ok(info) => info,
        Err(what) => {
            return Some(format!(
                "is {what}; the {variant} variant needs {} here",
                binary::with_article(&wanted.to_string())
            ))
        }
    };
    let cpu_ok = info.runs_on(cpu) || (emulated_ok && variant == Variant::Arm64 && info.runs_on(Cpu::X86_64));
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

/// How many items of a JSON list label (screenshots, links) are checked one by one.
const MAX_LIST_ITEMS: usize = 100;

/// The Marketplace's label rules.
pub(crate) fn check_labels(labels: &BTreeMap<String, String>) -> Vec<Problem> {
    let mut problems = vec![];
    let place = |label: &str| format!("label {label}");
    for &label in label::REQUIRED {
        match labels.get(label) {
            None => problems.push(rulebook::LABELS_REQUIRED.problem(
                place(label),
                "is missing; the Marketplace requires it (set it in [workspace.metadata.extension])",
            )),
            Some(v) if v.trim().is_empty() => {
                problems.push(
                    rulebook::LABELS_REQUIRED
                        .problem(place(label), "is empty; the Marketplace requires a value"),
                );
            }
            Some(_) => {}
        }
    }
    let get = |label: &str| labels.get(label).filter(|v| !v.trim().is_empty());
    if let Some(title) = get(label::TITLE) {
        if title.to_lowercase().split(|c: char| !c.is_alphanumeric()).any(|w| w == "extension") {
            problems.push(rulebook::TITLE_WORD.problem(
                place(label::TITLE),
                format!(
                    "`{title}` contains the word \"extension\", which the Marketplace asks titles not to"
                ),
            ));
        }
    }
    if let Some(v) = get(label::API_VERSION) {
        if let Err(e) = rules::api_version(v) {
            problems.push(rulebook::LABEL_VALUES.problem(place(label::API_VERSION), e));
        }
    }
    for label in [label::ICON, label::PUBLISHER_URL] {
        if let Some(v) = get(label) {
            if let Err(e) = rules::url(v) {
                problems.push(rulebook::LABEL_VALUES.problem(place(label), e));
            }
        }
    }
    if let Some(icon) = get(label::ICON) {
        let lower = icon.to_lowercase();
        if ![".svg", ".png", ".jpg", ".jpeg"]
            .iter()
            .any(|ext| lower.split(['?', '#']).next().unwrap_or("").ends_with(ext))
        {
            problems.push(
                rulebook::LABEL_VALUES
                    .problem(place(label::ICON), "must be the URL of an .svg, .png or .jpg file"),
            );
        }
    }
    let json_list = |label: &str, fields: [&str; 2], problems: &mut Vec<Problem>| {
        let Some(v) = get(label) else { return };
        let parsed: Result<Vec<BTreeMap<String, Value>>, _> = serde_json::from_str(v);
        let Ok(mut items) = parsed else {
            problems.push(rulebook::LABEL_VALUES.problem(
                place(label),
                format!("must be a JSON array of {{\"{}\": …, \"{}\": …}} objects", fields[0], fields[1]),
            ));
            return;
        };
        if items.len() > MAX_LIST_ITEMS {
            problems.push(rulebook::LABEL_LIST_LENGTH.problem(
                place(label),
                format!(
                    "lists {} items; the Marketplace shows a few (at most {MAX_LIST_ITEMS} are checked)",
                    items.len()
                ),
            ));
            items.truncate(MAX_LIST_ITEMS);
        }
        for (i, item) in items.iter().enumerate() {
            for field in fields {
                match item.get(field).and_then(Value::as_str) {
                    Some(s) if !s.trim().is_empty() => {
                        if field == "url" {
                            if let Err(e) = rules::url(s) {
                                problems.push(
                                    rulebook::LABEL_VALUES.problem(format!("{}[{i}].url", place(label)), e),
                                );
                            }
                        }
                    }
                    _ => problems.push(rulebook::LABEL_VALUES.problem(
                        format!("{}[{i}]", place(label)),
                        format!("needs a non-empty \"{field}\" string"),
                    )),
                }
            }
            if let Some(extra) = item.keys().find(|k| !fields.contains(&k.as_str())) {
                problems.push(
                    rulebook::LABEL_VALUES.problem(
                        format!("{}[{i}]", place(label)),
                        format!("has the unknown key \"{extra}\""),
                    ),
                );
            }
        }
        if items.is_empty() && label == label::SCREENSHOTS {
            problems.push(
                rulebook::LABELS_REQUIRED
                    .problem(place(label), "lists no screenshot; the Marketplace requires at least one"),
            );
        }
    };
    json_list(label::SCREENSHOTS, ["alt", "url"], &mut problems);
    json_list(label::ADDITIONAL_URLS, ["title", "url"], &mut problems);
    if let Some(categories) = get(label::CATEGORIES) {
        for category in categories.split(',') {
            if let Err(e) = rules::category(category.trim()) {
                problems.push(rulebook::LABEL_VALUES.problem(place(label::CATEGORIES), e));
            }
        }
    }
    problems
}

// ---- Reading an image from wherever it is -----------------------------------------------

/// Where `read_image` may look.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    /// A file, a folder, docker's image store, then the registry.
    Anywhere,
    /// Only the registry: what users pull.
    Registry,
}

/// What `check` reads, decided once from its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageSource {
    /// An OCI archive file (`dist --oci` writes one; `docker save` too).
    Archive(Utf8PathBuf),
    /// An OCI layout folder (what `skopeo copy … oci:DIR` writes).
    Layout(Utf8PathBuf),
    /// An image by reference: in docker's store (when it names no registry and the check
    /// may look there), else in its registry.
    Image(ImageReference),
}

impl ImageSource {
    /// A file or folder that exists; else an image reference, unless the argument is
    /// plainly a path (it starts with `/` or `.`, ends with `.tar`, or its folder exists):
    /// then it is a path that does not exist.
    pub(crate) fn parse(source: &str) -> anyhow::Result<ImageSource> {
        let path = Utf8Path::new(source);
        if path.is_file() {
            return Ok(ImageSource::Archive(path.to_path_buf()));
        }
        if path.is_dir() {
            return Ok(ImageSource::Layout(path.to_path_buf()));
        }
        let looks_like_a_path = source.starts_with(['/', '.'])
            || source.ends_with(".tar")
            || path.parent().is_some_and(|p| !p.as_str().is_empty() && p.is_dir());
        if looks_like_a_path {
            bail!("{source} does not exist: give an OCI archive (`cargo xtask dist --oci {source}` writes one) or an image reference");
        }
        source.parse().map(ImageSource::Image).map_err(|e| {
            anyhow::anyhow!("{source} is neither a file nor an image reference ({e}): give an OCI archive (`cargo xtask dist --oci PATH` writes one) or an image reference")
        })
    }
}

impl std::fmt::Display for ImageSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageSource::Archive(path) | ImageSource::Layout(path) => path.fmt(f),
            ImageSource::Image(reference) => reference.fmt(f),
        }
    }
}

/// The image `source` names, and how to say where it was read from.
pub(crate) fn read_image(
    sh: &Shell,
    source: &ImageSource,
    place: Where,
    client: &RegistryClient,
) -> anyhow::Result<(Layout, String)> {
    let reference = match source {
        ImageSource::Archive(path) => return Ok((Layout::read_archive(path)?, path.to_string())),
        ImageSource::Layout(path) => return Ok((Layout::read_dir(path)?, path.to_string())),
        ImageSource::Image(reference) => reference,
    };
    let source = reference.to_string();
    let in_docker = place == Where::Anywhere
        && reference.registry().is_none()
        && runs(sh, "docker", &["image", "inspect", "--format", "{{.Id}}", &source]);
    if in_docker {
        let temp = sh.create_temp_dir().context("creating a temporary folder")?;
        let file = Utf8PathBuf::try_from(temp.path().join("image.tar"))?;
        cmd!(sh, "docker image save --output {file} {source}")?
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("exporting {source} from docker's image store"))?;
        return Ok((Layout::read_archive(&file)?.keeping(temp), format!("{source} (docker's image store)")));
    }
    let temp = sh.create_temp_dir().context("creating a temporary folder")?;
    let dir = Utf8PathBuf::try_from(temp.path().join("layout"))?;
    if !runs(sh, "skopeo", &["--version"]) {
        // The builtin engine's own registry client (compiled on first use).
        eprintln!("    skopeo is not here: reading {source} with the builtin registry client");
        let program = client.ensure(sh)?;
        cmd!(sh, "{program} pull {source} {dir}")?
            .quiet()
            .run()
            .with_context(|| format!("reading {source} from its registry"))?;
        return Ok((Layout::read_dir(&dir)?.keeping(temp), format!("{source} (registry)")));
    }
    let destination = format!("oci:{dir}");
    let remote = format!("docker://{source}");
    // Plain HTTP only for a registry on this machine, as Docker itself allows.
    let tls = if reference.is_loopback() { "--src-tls-verify=false" } else { "--src-tls-verify=true" };
    cmd!(sh, "skopeo copy --quiet --all {tls} {remote} {destination}")?
        .quiet()
        .run()
        .with_context(|| format!("reading {source} from its registry with skopeo"))?;
    Ok((Layout::read_dir(&dir)?.keeping(temp), format!("{source} (registry)")))
}

/// One variant's files by name, and copies (in a private temporary folder, removed when
/// the last value is dropped) of metadata.json and the binaries it names.
fn read_variant(
    layout: &Layout,
    manifest: &crate::image::oci::Manifest,
    entrypoint: &[String],
) -> anyhow::Result<(Tree, BTreeMap<String, Utf8PathBuf>, TempFolder)> {
    let tree = layout.files(manifest)?;
    let scratch = TempFolder::new()?;
    let mut copies = layout.extract(manifest, &tree, &["metadata.json".to_string()], &scratch.0)?;
    let metadata = copies
        .get("metadata.json")
        .map(|path| crate::util::files::read_capped(path, MAX_METADATA).unwrap_or_default())
        .unwrap_or_default();
    let binaries = binaries_named(&metadata, entrypoint);
    let binaries: Vec<String> = binaries.iter().filter(|p| tree.is_file(p)).cloned().collect();
    let scratch_binaries = scratch.0.join("binaries");
    std::fs::create_dir_all(&scratch_binaries).with_context(|| format!("creating {scratch_binaries}"))?;
    copies.extend(layout.extract(manifest, &tree, &binaries, &scratch_binaries)?);
    let copies =
        copies.into_iter().filter_map(|(k, v)| Some((crate::image::oci::normalise(&k)?, v))).collect();
    Ok((tree, copies, scratch))
}

/// A private temporary folder (mode 0700), removed when dropped.
pub(crate) struct TempFolder(pub Utf8PathBuf);

impl TempFolder {
    pub(crate) fn new() -> anyhow::Result<TempFolder> {
        let base =
            Utf8PathBuf::try_from(std::env::temp_dir()).context("the temporary folder is not UTF-8")?;
        for attempt in 0..100u32 {
            let dir = base.join(format!("xtask-check-{}-{attempt}", std::process::id()));
            #[cfg_attr(not(unix), allow(unused_mut))]
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&dir) {
                Ok(()) => return Ok(TempFolder(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {dir}")),
            }
        }
        bail!("cannot create a temporary folder under {base}")
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks an image layout: both platforms present, the tag, and each variant in full.
/// Also returns a line per variant (its compressed layer sizes: what users download) and
/// per attestation.
pub(crate) fn check_layout(layout: &Layout, what: &str) -> anyhow::Result<(Vec<Problem>, Vec<String>)> {
    let mut problems = vec![];
    let contents = match layout.contents() {
        Ok(contents) => contents,
        Err(e) => {
            problems.push(rulebook::IMAGE_READABLE.problem(what, format!("cannot be read: {e:#}")));
            return Ok((problems, vec![]));
        }
    };
    let mut lines = vec![];
    for variant in Variant::ALL {
        if !contents.images.iter().any(|image| image.variant == variant) {
            problems.push(rulebook::IMAGE_PLATFORMS.problem(
                what,
                format!(
                    "has no {} image; Docker Desktop needs both linux/amd64 and linux/arm64",
                    variant.platform()
                ),
            ));
        }
    }
    for other in &contents.others {
        lines.push(format!("{other}: not an extension platform (ignored)"));
    }
    for image in &contents.images {
        let variant = image.variant;
        let sizes: Vec<u64> = image.manifest.layers.iter().map(|l| l.size).collect();
        lines.push(format!(
            "{}: {} layers, {} compressed ({})",
            variant.platform(),
            sizes.len(),
            crate::util::report::size(sizes.iter().sum()),
            sizes.iter().map(|s| crate::util::report::size(*s)).collect::<Vec<_>>().join(" + ")
        ));
        let entrypoint = image.config.config.entrypoint.clone().unwrap_or_default();
        let read = read_variant(layout, &image.manifest, &entrypoint);
        let (tree, copies, _scratch) = match read {
            Ok(read) => read,
            Err(e) => {
                problems.push(
                    rulebook::IMAGE_READABLE
                        .problem(format!("{}:/", variant.arch()), format!("cannot be read: {e:#}")),
                );
                continue;
            }
        };
        problems.extend(
            tree.problems
                .iter()
                .map(|p| rulebook::IMAGE_ENTRIES.problem(format!("{}:/", variant.arch()), p.clone())),
        );
        if tree.more_problems > 0 {
            problems.push(rulebook::IMAGE_ENTRIES.problem(
                format!("{}:/", variant.arch()),
                format!("{} more entries are wrong in these ways", tree.more_problems),
            ));
        }
        let labels = image.config.config.labels.clone().unwrap_or_default();
        if let Some(version) = labels.get(label::VERSION) {
            if let Err(e) = rules::release_tag(version) {
                problems.push(rulebook::LABEL_VERSION.problem(format!("label {}", label::VERSION), e));
            }
        }
        // No C library in the image: the backend must be static.
        let has_libc = ["lib", "usr/lib", "lib64"].iter().any(|d| tree.is_dir(d));
        let view =
            VariantView { variant, files: Files::Image { tree: &tree, copies: &copies }, labels, entrypoint };
        problems.extend(check_variant(&view, !has_libc));
    }
    if !contents.attestations.is_empty() {
        problems.push(rulebook::INDEX_ATTESTATIONS.problem(
            what,
            format!(
                "holds {} attestation manifest{} beside the two platforms: Docker's Marketplace validator has \
                 refused such an index as not multi-platform; for a Marketplace submission push it without \
                 (dist's default, without --attest)",
                contents.attestations.len(),
                if contents.attestations.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    for attestation in &contents.attestations {
        let kinds = if attestation.kinds.is_empty() {
            "unknown kind".to_string()
        } else {
            attestation.kinds.join(", ")
        };
        lines.push(format!("attestation for {} ({kinds})", attestation.platform));
        for why in &attestation.problems {
            problems.push(
                rulebook::IMAGE_READABLE.problem(format!("attestation for {}", attestation.platform), why),
            );
        }
    }
    Ok((dedup(problems), lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The argument is decided once: what exists is a file or a folder; what is plainly a
    /// path but is not there is an error naming it; anything else is read as a reference.
    #[test]
    fn a_source_is_an_archive_a_layout_or_a_reference() {
        let dir = Utf8PathBuf::try_from(std::env::temp_dir())
            .unwrap()
            .join(format!("xtask-image-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let archive = dir.join("image.tar");
        std::fs::write(&archive, b"").unwrap();
        assert_eq!(ImageSource::parse(archive.as_str()).unwrap(), ImageSource::Archive(archive.clone()));
        assert_eq!(ImageSource::parse(dir.as_str()).unwrap(), ImageSource::Layout(dir.clone()));
        let reference = ImageSource::parse("127.0.0.1:5000/acme/ext:1.0.0").unwrap();
        assert_eq!(reference, ImageSource::Image("127.0.0.1:5000/acme/ext:1.0.0".parse().unwrap()));
        assert_eq!(reference.to_string(), "127.0.0.1:5000/acme/ext:1.0.0");
        for missing in [dir.join("gone.tar").to_string(), "./gone".into(), "gone.tar".into()] {
            let error = ImageSource::parse(&missing).unwrap_err().to_string();
            assert!(error.starts_with(&format!("{missing} does not exist")), "{error}");
        }
        let error = ImageSource::parse("Acme/Ext:1").unwrap_err().to_string();
        assert!(error.contains("is neither a file nor an image reference"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
