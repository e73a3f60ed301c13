//! Image references, parsed once with Docker's rules (see `rules`):
//! `[HOST[:PORT]/]PATH[:TAG][@sha256:HEX]`. Everything that reads a reference (flags, the
//! config's image, tag and base image, check, the builtin writer, the registry client, dev)
//! goes through this one type; what an image starts from is a [`BaseImage`].

use std::fmt;
use std::str::FromStr;

use crate::model::rules;
use crate::util::digest::Digest;

/// `acme/ext:1.2.3`, `127.0.0.1:5000/acme/ext`, `ghcr.io/acme/ext:1.0.0`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ImageReference {
    /// `[HOST[:PORT]/]PATH`, as written.
    repository: String,
    tag: Option<String>,
    /// `@sha256:…`: the image by its content (a base image pinned so every build starts
    /// from the same bytes); the tag, when there is one too, is for the reader.
    digest: Option<Digest>,
}

/// The registry Docker uses when a reference names none.
pub(crate) const DOCKER_HUB: &str = "docker.io";

impl ImageReference {
    /// A repository and tag already checked by the config's rules.
    pub(crate) fn new(repository: &str, tag: Option<&str>) -> Result<ImageReference, String> {
        rules::image_repository(repository)?;
        if let Some(tag) = tag {
            rules::tag(tag)?;
        }
        Ok(ImageReference { repository: repository.to_string(), tag: tag.map(str::to_string), digest: None })
    }

    /// `[HOST[:PORT]/]PATH`, as written.
    pub(crate) fn repository(&self) -> &str {
        &self.repository
    }

    pub(crate) fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The same repository with another tag.
    pub(crate) fn with_tag(&self, tag: &str) -> ImageReference {
        ImageReference { repository: self.repository.clone(), tag: Some(tag.to_string()), digest: None }
    }

    /// What a registry's `manifests/` endpoint is asked for: the digest when the reference
    /// names one, else the tag (or `latest`).
    #[cfg(any(test, feature = "registry"))]
    pub(crate) fn manifest_reference(&self) -> String {
        match &self.digest {
            Some(digest) => digest.to_string(),
            None => self.tag_or_latest().to_string(),
        }
    }

    /// The tag, or `latest`, as Docker reads a reference without one.
    pub(crate) fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The registry host the repository names (`127.0.0.1:5000`, `ghcr.io`), if it names one:
    /// a first component with a dot or a port, or `localhost`.
    pub(crate) fn registry(&self) -> Option<&str> {
        let (first, _) = self.repository.split_once('/')?;
        (first.contains(['.', ':']) || first == "localhost").then_some(first)
    }

    /// The repository's path within its registry: `acme/ext`; `library/ext` on Docker Hub
    /// for a one-component name.
    pub(crate) fn path(&self) -> String {
        match self.registry() {
            Some(host) => self.repository[host.len() + 1..].to_string(),
            None if self.repository.contains('/') => self.repository.clone(),
            None => format!("library/{}", self.repository),
        }
    }

    /// `localhost` or 127.0.0.0/8, with or without a port: where Docker allows plain HTTP.
    pub(crate) fn is_loopback(&self) -> bool {
        let Some(host) = self.registry() else { return false };
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        host == "localhost" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The reference as Docker and containerd store it: `acme/ext:1` →
    /// `docker.io/acme/ext:1`, `ext:1` → `docker.io/library/ext:1`; one with a registry host
    /// stays as it is.
    pub(crate) fn full_name(&self) -> String {
        let name = match self.registry() {
            Some(_) => self.repository.clone(),
            None => format!("{DOCKER_HUB}/{}", self.path()),
        };
        match &self.tag {
            Some(tag) => format!("{name}:{tag}{}", self.at_digest()),
            None => format!("{name}{}", self.at_digest()),
        }
    }

    /// `@sha256:…`, or nothing.
    fn at_digest(&self) -> String {
        self.digest.as_ref().map(|d| format!("@{d}")).unwrap_or_default()
    }
}

impl FromStr for ImageReference {
    type Err = String;

    fn from_str(s: &str) -> Result<ImageReference, String> {
        // `@` starts the digest; then a colon after the last slash starts the tag (one
        // before it is a registry port).
        let (name, digest) = match s.split_once('@') {
            Some((name, digest)) => {
                (name, Some(digest.parse::<Digest>().map_err(|e| format!("`{s}`: {e}"))?))
            }
            None => (s, None),
        };
        let reference = match name.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
            Some((repository, tag)) => ImageReference::new(repository, Some(tag)),
            None => ImageReference::new(name, None),
        }?;
        Ok(ImageReference { digest, ..reference })
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "{}:{tag}{}", self.repository, self.at_digest()),
            None => write!(f, "{}{}", self.repository, self.at_digest()),
        }
    }
}

/// What an image starts from: nothing (`scratch`, the default: the binaries must be
/// static), or another image, as a Dockerfile's `FROM` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BaseImage {
    Scratch,
    Image(ImageReference),
}

impl FromStr for BaseImage {
    type Err = String;

    fn from_str(s: &str) -> Result<BaseImage, String> {
        match s {
            "scratch" => Ok(BaseImage::Scratch),
            _ => s.parse().map(BaseImage::Image),
        }
    }
}

impl fmt::Display for BaseImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseImage::Scratch => f.write_str("scratch"),
            BaseImage::Image(reference) => reference.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageReference {
        s.parse().unwrap()
    }

    #[test]
    fn parts_as_docker_reads_them() {
        let r = parse("127.0.0.1:5000/acme/ext:1.2.3");
        assert_eq!((r.repository(), r.tag()), ("127.0.0.1:5000/acme/ext", Some("1.2.3")));
        assert_eq!((r.registry(), r.path().as_str()), (Some("127.0.0.1:5000"), "acme/ext"));
        assert!(r.is_loopback());
        let r = parse("localhost:5000/ext");
        assert_eq!((r.tag(), r.tag_or_latest(), r.is_loopback()), (None, "latest", true));
        let r = parse("acme/ext:1");
        assert_eq!((r.registry(), r.path().as_str()), (None, "acme/ext"));
        assert!(!r.is_loopback());
        assert_eq!(parse("ext").path(), "library/ext");
        assert!(!parse("10.0.0.1:5000/a/b").is_loopback(), "only loopback is plain HTTP");
        assert_eq!(r.with_tag("dev").to_string(), "acme/ext:dev");
    }

    #[test]
    fn full_names() {
        assert_eq!(parse("acme/ext:1.2.3").full_name(), "docker.io/acme/ext:1.2.3");
        assert_eq!(parse("ext:1").full_name(), "docker.io/library/ext:1");
        assert_eq!(parse("127.0.0.1:5000/acme/ext:1").full_name(), "127.0.0.1:5000/acme/ext:1");
        assert_eq!(parse("ghcr.io/acme/ext:1").full_name(), "ghcr.io/acme/ext:1");
    }

    #[test]
    fn refusals_name_the_rule() {
        assert!("Acme/Ext:1".parse::<ImageReference>().unwrap_err().contains("not a valid image repository"));
        assert!("acme/ext:-1".parse::<ImageReference>().unwrap_err().contains("not a valid image tag"));
        assert!("acme/ext@sha256:00"
            .parse::<ImageReference>()
            .unwrap_err()
            .contains("is not a sha256 digest"));
        assert!("acme/ext:1@".parse::<ImageReference>().is_err());
        assert!("@sha256:00".parse::<ImageReference>().is_err());
    }

    /// A base image pinned by digest, with or without its tag, as Dockerfiles write them.
    #[test]
    fn digests_and_base_images() {
        let hex = "0123456789abcdef".repeat(4);
        let r = parse(&format!("alpine:3.20@sha256:{hex}"));
        assert_eq!((r.repository(), r.tag()), ("alpine", Some("3.20")));
        assert_eq!(r.to_string(), format!("alpine:3.20@sha256:{hex}"));
        assert_eq!(r.full_name(), format!("docker.io/library/alpine:3.20@sha256:{hex}"));
        assert_eq!(r.manifest_reference(), format!("sha256:{hex}"));
        let r = parse(&format!("127.0.0.1:5000/base@sha256:{hex}"));
        assert_eq!((r.registry(), r.tag(), r.path().as_str()), (Some("127.0.0.1:5000"), None, "base"));
        assert_eq!(parse("acme/ext:1").manifest_reference(), "1");
        assert_eq!(parse("acme/ext").manifest_reference(), "latest");

        assert_eq!("scratch".parse::<BaseImage>(), Ok(BaseImage::Scratch));
        assert_eq!(BaseImage::Scratch.to_string(), "scratch");
        let base: BaseImage = "debian:13-slim".parse().unwrap();
        assert_eq!(base, BaseImage::Image(parse("debian:13-slim")));
        assert_eq!(base.to_string(), "debian:13-slim");
        assert!("Debian:13".parse::<BaseImage>().unwrap_err().contains("not a valid image repository"));
        assert!("".parse::<BaseImage>().is_err());
    }
}
