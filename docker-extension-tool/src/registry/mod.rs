//! The builtin engine's registry client: the registry HTTP API (the OCI distribution spec)
//! spoken directly, with no engine and no skopeo.
//!
//! ```text
//! docker-extension-registry push LAYOUT REFERENCE   push an OCI layout folder; prints the index digest
//! docker-extension-registry digest REFERENCE        a tag's digest (exit 3: no such tag)
//! docker-extension-registry pull REFERENCE LAYOUT   an image (every platform) into a layout folder
//! docker-extension-registry fetch URL SHA256 FILE    a host binary's download, verified (see `fetch`)
//! docker-extension-registry unpack ARCHIVE MEMBER FILE   one file out of a .tar.gz or .zip
//! ```
//!
//! A push uploads only what the registry lacks: each blob is asked for first (HEAD), each
//! manifest too, and the tag is set only when it names another digest, so pushing the same
//! image again writes nothing. Credentials come from the Docker config and its credential
//! helpers (`docker login`), with the registry's token or basic authentication. Plain HTTP
//! is used only for `localhost` and 127.0.0.0/8, as Docker itself allows.

pub(crate) mod fetch;

use std::collections::BTreeSet;
use std::io::Read;
use std::process::ExitCode;

use crate::image::oci::{self, Descriptor, Index, Manifest};
use crate::model::reference::ImageReference;
use crate::util::digest::Digest;
use anyhow::{bail, Context};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use ureq::http::{Response, StatusCode};
use ureq::Body;

/// What a manifest request accepts: every kind an extension image can be (OCI's and
/// Docker's indexes and manifests).
static ACCEPT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    [oci::INDEX, oci::DOCKER_LIST, oci::MANIFEST, oci::DOCKER_MANIFEST].join(", ")
});
/// The most a manifest or index may be (what a registry serves for a tag is JSON of a few
/// KiB): read with this limit, whatever the response says its length is.
const MAX_MANIFEST: u64 = 4 << 20;

/// The `docker-extension-registry` binary: its arguments, its exit code.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["push", layout, reference] => push(layout, reference).map(|digest| {
            println!("{digest}");
            ExitCode::SUCCESS
        }),
        ["digest", reference] => match digest(reference) {
            Ok(Some(digest)) => {
                println!("{digest}");
                Ok(ExitCode::SUCCESS)
            }
            Ok(None) => Ok(ExitCode::from(3)),
            Err(e) => Err(e),
        },
        ["pull", reference, layout] => pull(reference, layout).map(|()| ExitCode::SUCCESS),
        ["fetch", url, sha256, to] => crate::util::digest::Digest::from_hex(sha256)
            .map_err(anyhow::Error::msg)
            .and_then(|sha256| fetch::fetch(url, &sha256, camino::Utf8Path::new(to)))
            .map(|()| ExitCode::SUCCESS),
        ["unpack", archive, member, to] => {
            fetch::unpack(camino::Utf8Path::new(archive), member, camino::Utf8Path::new(to))
                .map(|()| ExitCode::SUCCESS)
        }
        _ => {
            eprintln!(
                "usage: docker-extension-registry push LAYOUT REFERENCE | digest REFERENCE | pull REFERENCE LAYOUT \
                 | fetch URL SHA256 FILE | unpack ARCHIVE MEMBER FILE"
            );
            return ExitCode::from(2);
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        for cause in error.chain().skip(1) {
            eprintln!("  because: {cause}");
        }
        ExitCode::FAILURE
    })
}

/// `[HOST/]REPOSITORY[:TAG]`, the way Docker reads it.
struct Reference {
    /// Where the API is: `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    base: String,
    /// The host as `docker login` records it (the key in the Docker config).
    login: String,
    repository: String,
    /// What `manifests/` is asked for: the tag (or `latest`), or the digest the reference names.
    tag: String,
}

impl Reference {
    /// Where a reference's registry API is, and how `docker login` names it (the one
    /// image reference type reads it).
    fn parse(reference: &str) -> anyhow::Result<Reference> {
        let parsed: ImageReference = reference.parse().map_err(|e| {
            anyhow::anyhow!("`{reference}` is not an image reference ({e}): write it as [HOST/]ORG/NAME:TAG")
        })?;
        let (base, login) = match parsed.registry() {
            None => ("https://registry-1.docker.io".to_string(), "https://index.docker.io/v1/".to_string()),
            Some(host) if parsed.is_loopback() => (format!("http://{host}"), host.to_string()),
            Some(host) => (format!("https://{host}"), host.to_string()),
        };
        Ok(Reference { base, login, repository: parsed.path(), tag: parsed.manifest_reference() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repository)
    }
}

/// A session with one registry and repository: authenticates when the registry asks.
struct Session {
    agent: ureq::Agent,
    reference: Reference,
    /// The `Authorization` value, once the registry asked for one.
    authorization: Option<String>,
    /// What a write needs (`pull,push`) or a read (`pull`).
    actions: &'static str,
    uploads: usize,
}

impl Session {
    fn new(reference: Reference, actions: &'static str) -> Session {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(600)))
            .build()
            .into();
        Session { agent, reference, authorization: None, actions, uploads: 0 }
    }

    /// Sends a request; on 401, authenticates as the challenge says and sends it again.
    fn send(&mut self, request: &Request) -> anyhow::Result<Response<Body>> {
        let response = self.send_once(request)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.authorization = Some(self.authenticate(&challenge)?);
        let response = self.send_once(request)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            bail!(
                "{} refused these credentials for {} ({}): log in with `docker login {}`",
                self.reference.login,
                self.reference.repository,
                self.actions,
                self.reference.login
            );
        }
        Ok(response)
    }

    fn send_once(&self, request: &Request) -> anyhow::Result<Response<Body>> {
        let url = &request.url;
        let auth = self.authorization.clone();
        let result = match &request.method {
            Method::Head | Method::Get => {
                let mut builder =
                    if request.method == Method::Head { self.agent.head(url) } else { self.agent.get(url) };
                if let Some(accept) = request.accept {
                    builder = builder.header("Accept", accept);
                }
                if let Some(auth) = &auth {
                    builder = builder.header("Authorization", auth);
                }
                builder.call()
            }
            Method::Post => {
                let mut builder = self.agent.post(url);
                if let Some(auth) = &auth {
                    builder = builder.header("Authorization", auth);
                }
                builder.send_empty()
            }
            Method::Put { body, content_type } => {
                let mut builder = self.agent.put(url).header("Content-Type", *content_type);
                if let Some(auth) = &auth {
                    builder = builder.header("Authorization", auth);
                }
                match body {
                    PutBody::Bytes(bytes) => builder.send(bytes.as_slice()),
                    // Streamed from the file, its length said up front (no chunked upload).
                    PutBody::File { path, size } => {
                        let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
                        builder
                            .header("Content-Length", size.to_string())
                            .send(ureq::SendBody::from_owned_reader(file.take(*size)))
                    }
                }
            }
        };
        result.with_context(|| format!("{} {url}", request.method.name()))
    }

    /// The `Authorization` value a `WWW-Authenticate` challenge asks for.
    fn authenticate(&self, challenge: &str) -> anyhow::Result<String> {
        let credential = credential(&self.reference.login);
        let basic = credential.as_ref().map(|(user, password)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => basic.with_context(|| {
                format!("{} asks for a login: `docker login {}`", self.reference.login, self.reference.login)
            }),
            "bearer" => {
                let params = challenge_params(params);
                let realm =
                    params.iter().find(|(k, _)| k == "realm").map(|(_, v)| v.clone()).with_context(|| {
                        format!(
                            "{} sent a token challenge without a realm: {challenge}",
                            self.reference.login
                        )
                    })?;
                let mut query = vec![];
                if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
                    query.push(format!("service={}", encode(service)));
                }
                let scope = format!("repository:{}:{}", self.reference.repository, self.actions);
                query.push(format!("scope={}", encode(&scope)));
                let url = format!("{realm}?{}", query.join("&"));
                let mut builder = self.agent.get(&url);
                if let Some(basic) = &basic {
                    builder = builder.header("Authorization", basic);
                }
                let mut response =
                    builder.call().with_context(|| format!("GET {url} (the registry's token service)"))?;
                if !response.status().is_success() {
                    bail!(
                        "the token service of {} answered {} for {scope}: {}",
                        self.reference.login,
                        response.status(),
                        if basic.is_some() { "check your login" } else { "log in first with `docker login`" }
                    );
                }
                let answer: Value = serde_json::from_slice(&response.body_mut().read_to_vec()?)
                    .context("the token service answered something that is not JSON")?;
                let token =
                    answer["token"].as_str().or(answer["access_token"].as_str()).with_context(|| {
                        format!("the token service of {} answered no token", self.reference.login)
                    })?;
                Ok(format!("Bearer {token}"))
            }
            _ => bail!(
                "{} asks for an authentication this client does not speak: {challenge}",
                self.reference.login
            ),
        }
    }

    fn exists(&mut self, path: &str, accept: Option<&'static str>) -> anyhow::Result<Option<Response<Body>>> {
        let response = self.send(&Request { method: Method::Head, url: self.reference.url(path), accept })?;
        match response.status() {
            s if s.is_success() => Ok(Some(response)),
            StatusCode::NOT_FOUND => Ok(None),
            s => bail!("HEAD {}: the registry answered {s}", self.reference.url(path)),
        }
    }

    fn upload_blob(&mut self, digest: &Digest, blob: PutBody) -> anyhow::Result<()> {
        if self.exists(&format!("blobs/{digest}"), None)?.is_some() {
            return Ok(());
        }
        let start = self.send(&Request {
            method: Method::Post,
            url: self.reference.url("blobs/uploads/"),
            accept: None,
        })?;
        if start.status() != StatusCode::ACCEPTED {
            bail!(
                "starting an upload to {}: the registry answered {}",
                self.reference.url("blobs/uploads/"),
                start.status()
            );
        }
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("the registry started an upload without saying where (no Location)")?;
        let location = if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", self.reference.base)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", encode(&digest.to_string()));
        let method = Method::Put { body: blob, content_type: "application/octet-stream" };
        let done = self.send(&Request { method, url, accept: None })?;
        if done.status() != StatusCode::CREATED {
            bail!("uploading blob {digest}: the registry answered {}", done.status());
        }
        self.uploads += 1;
        Ok(())
    }

    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &'static str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<()> {
        let url = self.reference.url(&format!("manifests/{reference}"));
        let method = Method::Put { body: PutBody::Bytes(bytes), content_type: media_type };
        let response = self.send(&Request { method, url: url.clone(), accept: None })?;
        if !response.status().is_success() {
            bail!("PUT {url}: the registry answered {}", response.status());
        }
        Ok(())
    }

    fn get(&mut self, path: &str, accept: Option<&'static str>) -> anyhow::Result<Vec<u8>> {
        let url = self.reference.url(path);
        let mut response = self.send(&Request { method: Method::Get, url: url.clone(), accept })?;
        if !response.status().is_success() {
            bail!("GET {url}: the registry answered {}", response.status());
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .with_context(|| format!("reading {url} (at most {MAX_MANIFEST} bytes)"))?;
        Ok(bytes)
    }

    /// Streams a blob into a file: exactly the size its descriptor gives (the registry's
    /// word is not taken for it), hashed on the way; a blob with more, fewer or other
    /// bytes is refused and its file removed.
    fn fetch_blob(&mut self, digest: &Digest, size: u64, to: &str) -> anyhow::Result<()> {
        let url = self.reference.url(&format!("blobs/{digest}"));
        let mut response = self.send(&Request { method: Method::Get, url: url.clone(), accept: None })?;
        if !response.status().is_success() {
            bail!("GET {url}: the registry answered {}", response.status());
        }
        let mut reader = response.body_mut().with_config().limit(size.saturating_add(1)).reader();
        let partial = format!("{to}.partial");
        let result = (|| -> anyhow::Result<()> {
            let mut file = std::fs::File::create(&partial).with_context(|| format!("creating {partial}"))?;
            let mut hasher = Sha256::new();
            let mut buffer = vec![0u8; 64 * 1024];
            let mut read = 0u64;
            loop {
                let n = match reader.read(&mut buffer) {
                    Ok(n) => n,
                    // The limit is size + 1: the registry sent more than the descriptor says.
                    Err(e) if read >= size => bail!("the registry served blob {digest} with more than the {size} bytes its descriptor says ({e})"),
                    Err(e) => return Err(e).with_context(|| format!("reading {url}")),
                };
                if n == 0 {
                    break;
                }
                read += n as u64;
                if read > size {
                    bail!("the registry served blob {digest} with more than the {size} bytes its descriptor says");
                }
                hasher.update(&buffer[..n]);
                std::io::Write::write_all(&mut file, &buffer[..n])
                    .with_context(|| format!("writing {partial}"))?;
            }
            if read != size {
                bail!("the registry served blob {digest} with {read} bytes, but its descriptor says {size}");
            }
            if Digest::from_hasher(hasher) != *digest {
                bail!("the registry served blob {digest} with other bytes");
            }
            Ok(())
        })();
        match result {
            Ok(()) => std::fs::rename(&partial, to).with_context(|| format!("renaming {partial} to {to}")),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }
}

#[derive(PartialEq)]
enum Method {
    Head,
    Get,
    Post,
    Put { body: PutBody, content_type: &'static str },
}

impl Method {
    fn name(&self) -> &'static str {
        match self {
            Method::Head => "HEAD",
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put { .. } => "PUT",
        }
    }
}

/// What a PUT sends: a manifest's bytes, or a blob's file (never read whole).
#[derive(PartialEq)]
enum PutBody {
    Bytes(Vec<u8>),
    File { path: String, size: u64 },
}

struct Request {
    method: Method,
    url: String,
    accept: Option<&'static str>,
}

/// The user and password `docker login` stored for a registry (config or helper).
fn credential(login: &str) -> Option<(String, String)> {
    match docker_credential::get_credential(login).ok()? {
        docker_credential::DockerCredential::UsernamePassword(user, password) => Some((user, password)),
        // An identity token is a refresh token for OAuth: sent as the password of `<token>`.
        docker_credential::DockerCredential::IdentityToken(token) => Some(("<token>".into(), token)),
    }
}

/// `realm="…",service="…",scope="…"`.
fn challenge_params(params: &str) -> Vec<(String, String)> {
    let mut found = vec![];
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, next)) => (value.to_string(), next),
                None => (quoted.to_string(), ""),
            },
            None => match after.split_once(',') {
                Some((value, next)) => (value.trim().to_string(), next),
                None => (after.trim().to_string(), ""),
            },
        };
        found.push((key, value));
        rest = next.trim_start_matches([',', ' ']);
    }
    found
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A blob of a layout folder, verified against its digest.
fn read_blob(layout: &str, digest: &Digest) -> anyhow::Result<Vec<u8>> {
    let path = format!("{layout}/blobs/sha256/{}", digest.hex());
    let bytes = crate::util::files::read_capped(camino::Utf8Path::new(&path), MAX_MANIFEST)
        .with_context(|| format!("reading {path} (at most {MAX_MANIFEST} bytes)"))?;
    if Digest::of(&bytes) != *digest {
        bail!("{path} does not have the digest its name says");
    }
    Ok(bytes)
}

/// A blob of a layout folder as a file to stream, its digest checked first (read a chunk
/// at a time).
fn blob_file(layout: &str, digest: &Digest) -> anyhow::Result<PutBody> {
    let path = format!("{layout}/blobs/sha256/{}", digest.hex());
    let mut file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {path}"))?;
    if Digest::from_hasher(hasher) != *digest {
        bail!("{path} does not have the digest its name says");
    }
    Ok(PutBody::File { path, size })
}

/// A manifest's JSON, typed; `what` names it in the error.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> anyhow::Result<T> {
    serde_json::from_slice(bytes).with_context(|| format!("{what} is not valid"))
}

fn push(layout: &str, reference: &str) -> anyhow::Result<Digest> {
    let mut session = Session::new(Reference::parse(reference)?, "pull,push");
    let top_path = format!("{layout}/index.json");
    let top: Index = parse(
        &crate::util::files::read_capped(camino::Utf8Path::new(&top_path), MAX_MANIFEST)
            .with_context(|| format!("reading {top_path}"))?,
        "the layout's index.json",
    )?;
    let index_digest =
        top.manifests.first().map(|d| d.digest.clone()).context("the layout's index.json names no image")?;
    let index_bytes = read_blob(layout, &index_digest)?;
    let index: Index = parse(&index_bytes, &format!("the image index {index_digest}"))?;
    let mut pushed = BTreeSet::new();
    for descriptor in &index.manifests {
        let digest = &descriptor.digest;
        let bytes = read_blob(layout, digest)?;
        let manifest: Manifest = parse(&bytes, &format!("the manifest {digest}"))?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if pushed.insert(blob.digest.clone()) {
                let file = blob_file(layout, &blob.digest)?;
                session.upload_blob(&blob.digest, file)?;
            }
        }
        if session.exists(&format!("manifests/{digest}"), Some(ACCEPT.as_str()))?.is_none() {
            session.put_manifest(&digest.to_string(), oci::MANIFEST, bytes)?;
        }
    }
    let tag = session.reference.tag.clone();
    let current =
        session.exists(&format!("manifests/{tag}"), Some(ACCEPT.as_str()))?.and_then(|r| served_digest(&r));
    if current.as_ref() == Some(&index_digest) {
        eprintln!("    {reference} already is {index_digest}: nothing to push");
    } else {
        session.put_manifest(&tag, oci::INDEX, index_bytes)?;
    }
    eprintln!(
        "    uploaded {} blob(s); {} were already there",
        session.uploads,
        pushed.len() - session.uploads
    );
    Ok(index_digest)
}

/// The digest a registry says it serves (`Docker-Content-Digest`), when it says one that
/// is a digest.
fn served_digest(response: &Response<Body>) -> Option<Digest> {
    response.headers().get("docker-content-digest")?.to_str().ok()?.parse().ok()
}

fn digest(reference: &str) -> anyhow::Result<Option<Digest>> {
    let mut session = Session::new(Reference::parse(reference)?, "pull");
    let tag = session.reference.tag.clone();
    let Some(response) = session.exists(&format!("manifests/{tag}"), Some(ACCEPT.as_str()))? else {
        return Ok(None);
    };
    match served_digest(&response) {
        Some(digest) => Ok(Some(digest)),
        None => Ok(Some(Digest::of(&session.get(&format!("manifests/{tag}"), Some(ACCEPT.as_str()))?))),
    }
}

/// What a registry serves for a tag: an index of platform manifests, or one manifest.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Served {
    Index(Index),
    Manifest(Manifest),
}

fn pull(reference: &str, layout: &str) -> anyhow::Result<()> {
    let mut session = Session::new(Reference::parse(reference)?, "pull");
    let blobs = format!("{layout}/blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {blobs}"))?;
    let store = |bytes: &[u8]| -> anyhow::Result<Digest> {
        let digest = Digest::of(bytes);
        let path = format!("{blobs}/{}", digest.hex());
        std::fs::write(&path, bytes).with_context(|| format!("writing {path}"))?;
        Ok(digest)
    };
    let tag = session.reference.tag.clone();
    let top = session.get(&format!("manifests/{tag}"), Some(ACCEPT.as_str()))?;
    let top_digest = store(&top)?;
    let served: Served = serde_json::from_slice(&top).with_context(|| {
        format!("what the registry serves for {tag} is neither an image index nor a manifest")
    })?;
    let (media_type, manifests) = match served {
        Served::Index(index) => {
            let media_type = Some(index.media_type).filter(|t| !t.is_empty()).unwrap_or(oci::INDEX.into());
            let mut manifests = vec![];
            for descriptor in &index.manifests {
                let digest = &descriptor.digest;
                let bytes = session.get(&format!("manifests/{digest}"), Some(ACCEPT.as_str()))?;
                if Digest::of(&bytes) != *digest {
                    bail!("the registry served manifest {digest} with other bytes");
                }
                store(&bytes)?;
                manifests.push(parse::<Manifest>(&bytes, &format!("the manifest {digest}"))?);
            }
            (media_type, manifests)
        }
        Served::Manifest(manifest) => (
            Some(manifest.media_type.clone()).filter(|t| !t.is_empty()).unwrap_or(oci::MANIFEST.into()),
            vec![manifest],
        ),
    };
    for manifest in &manifests {
        for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
            let digest = &descriptor.digest;
            session.fetch_blob(digest, descriptor.size, &format!("{blobs}/{}", digest.hex()))?;
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: oci::INDEX.into(),
        manifests: vec![Descriptor {
            media_type,
            digest: top_digest,
            size: top.len() as u64,
            platform: None,
            annotations: Default::default(),
        }],
        annotations: Default::default(),
    };
    let path = format!("{layout}/index.json");
    std::fs::write(&path, serde_json::to_vec(&index)?).with_context(|| format!("writing {path}"))?;
    let path = format!("{layout}/oci-layout");
    std::fs::write(&path, br#"{"imageLayoutVersion":"1.0.0"}"#).with_context(|| format!("writing {path}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("acme/ext:1.2.3").unwrap();
        assert_eq!(
            (r.base.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("https://registry-1.docker.io", "acme/ext", "1.2.3")
        );
        assert_eq!(r.login, "https://index.docker.io/v1/");
        assert_eq!(Reference::parse("ext").unwrap().repository, "library/ext");
        let pinned = format!("127.0.0.1:5000/acme/ext:1@sha256:{}", "ab".repeat(32));
        assert_eq!(Reference::parse(&pinned).unwrap().tag, format!("sha256:{}", "ab".repeat(32)));
        let r = Reference::parse("127.0.0.1:5000/acme/ext:1").unwrap();
        assert_eq!((r.base.as_str(), r.login.as_str()), ("http://127.0.0.1:5000", "127.0.0.1:5000"));
        assert_eq!(Reference::parse("localhost/a/b:1").unwrap().base, "http://localhost");
        assert_eq!(Reference::parse("ghcr.io/acme/ext:1").unwrap().base, "https://ghcr.io");
        assert_eq!(
            Reference::parse("10.0.0.1:5000/a:1").unwrap().base,
            "https://10.0.0.1:5000",
            "only loopback is plain HTTP"
        );
    }

    #[test]
    fn challenges() {
        let params = challenge_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull""#,
        );
        assert_eq!(params[0], ("realm".into(), "https://auth.docker.io/token".into()));
        assert_eq!(params[1], ("service".into(), "registry.docker.io".into()));
        assert_eq!(params[2], ("scope".into(), "repository:a/b:pull".into()));
        assert_eq!(encode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
