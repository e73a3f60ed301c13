//! Image references, parsed once with Docker's rules (see `rules`): `[HOST[:PORT]/]PATH[:TAG]`.
//! Everything that reads a reference (flags, the config's image and tag, check, the
//! builtin writer, the registry client, dev) goes through this one type.

use std::fmt;
use std::str::FromStr;

use crate::model::rules;

/// `acme/ext:1.2.3`, `127.0.0.1:5000/acme/ext`, `ghcr.io/acme/ext:1.0.0`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ImageReference {
    /// `[HOST[:PORT]/]PATH`, as written.
    repository: String,
    tag: Option<String>,
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
        Ok(ImageReference { repository: repository.to_string(), tag: tag.map(str::to_string) })
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
        ImageReference { repository: self.repository.clone(), tag: Some(tag.to_string()) }
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
            Some(tag) => format!("{name}:{tag}"),
            None => name,
        }
    }
}

impl FromStr for ImageReference {
    type Err = String;

    fn from_str(s: &str) -> Result<ImageReference, String> {
        // A colon after the last slash starts the tag; one before it is a registry port.
        match s.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
            Some((repository, tag)) => ImageReference::new(repository, Some(tag)),
            None => ImageReference::new(s, None),
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "{}:{tag}", self.repository),
            None => f.write_str(&self.repository),
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
        assert!("acme/ext@sha256:00".parse::<ImageReference>().is_err());
    }
}
