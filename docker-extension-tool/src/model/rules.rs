//! The rules a name or value must follow (Docker's, Cargo's, the Marketplace's). Each
//! check returns `Err(sentence)` saying what is wrong; callers add where the value came from.

use cargo_metadata::semver;

/// The Marketplace's categories (`com.docker.extension.categories`).
pub(crate) const CATEGORIES: &[&str] = &[
    "ci-cd",
    "container-orchestration",
    "cloud-deployment",
    "cloud-development",
    "database",
    "kubernetes",
    "networking",
    "image-registry",
    "security",
    "testing-tools",
    "utility-tools",
    "volumes",
];

/// An image repository without tag or digest: `org/name`, `registry.example.com:5000/org/name`.
pub(crate) fn image_repository(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("the image repository is empty; write it as ORG/NAME".into());
    }
    if s.contains('@') {
        return Err(format!("`{s}` has a digest; give the repository only (ORG/NAME)"));
    }
    let mut components: Vec<&str> = s.split('/').collect();
    let last = components.last().copied().unwrap_or_default();
    if last.contains(':') {
        return Err(format!("`{s}` has a tag; give the repository only and set the tag with `tag`"));
    }
    // A first component with a dot or a port, or `localhost`, is a registry host.
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            registry_host(first).map_err(|e| format!("`{s}`: {e}"))?;
            components.remove(0);
        }
    }
    for component in components {
        if component.is_empty() {
            return Err(format!("`{s}` has an empty path component (a doubled or trailing `/`)"));
        }
        if !is_path_component(component) {
            return Err(format!(
                "`{s}` is not a valid image repository: `{component}` must be lowercase letters, \
                 digits and single separators (`.`, `_`, `__`, `-`), starting and ending with a \
                 letter or digit"
            ));
        }
    }
    Ok(())
}

fn registry_host(host: &str) -> Result<(), String> {
    let (name, port) = host.split_once(':').unwrap_or((host, ""));
    let name_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok =
        host.split_once(':').is_none() || (!port.is_empty() && port.chars().all(|c| c.is_ascii_digit()));
    if name_ok && port_ok {
        Ok(())
    } else {
        Err(format!("`{host}` is not a valid registry host"))
    }
}

/// Docker's path-component grammar: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut run_of_separators = String::new();
    let mut previous_alnum = false;
    for c in s.chars() {
        if alnum(c) {
            if !run_of_separators.is_empty() {
                let sep = run_of_separators.as_str();
                let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
                if !ok || !previous_alnum {
                    return false;
                }
                run_of_separators.clear();
            }
            previous_alnum = true;
        } else if matches!(c, '.' | '_' | '-') {
            if !previous_alnum && run_of_separators.is_empty() {
                return false;
            }
            run_of_separators.push(c);
        } else {
            return false;
        }
    }
    previous_alnum && run_of_separators.is_empty()
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn tag(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && s.len() <= 128 {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a valid image tag: use up to 128 letters, digits, `_`, `.` and `-`, \
             not starting with `.` or `-` (e.g. 1.2.3)"
        ))
    }
}

/// The Marketplace wants a semver tag (`1.2.3`, `1.2.3-beta.1`); never `latest`.
pub(crate) fn release_tag(s: &str) -> Result<(), String> {
    tag(s)?;
    if s == "latest" {
        return Err("`latest` is not a release tag: the Marketplace installs semver tags \
                    (e.g. 1.2.3); set `tag` or --tag"
            .into());
    }
    semver::Version::parse(s).map(drop).map_err(|e| {
        format!("`{s}` is not a semver tag ({e}): the Marketplace installs semver tags, e.g. 1.2.3")
    })
}

/// `com.docker.desktop.extension.api.version`: a semver requirement such as `>= 0.3.4`.
pub(crate) fn api_version(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("the API version is empty; use a semver range such as `>= 0.3.4`".into());
    }
    semver::VersionReq::parse(s)
        .map(drop)
        .map_err(|e| format!("`{s}` is not a semver version or range ({e}); use e.g. `>= 0.3.4`"))
}

/// An absolute http(s) URL, as the Marketplace links and fetches them.
pub(crate) fn url(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err(format!("`{s}` is not an http(s) URL; write it as https://host/path"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') || host.starts_with('.') {
        return Err(format!("`{s}` has no host; write it as https://host/path"));
    }
    if let Some(bad) = s.chars().find(|c| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '\\')) {
        return Err(format!("`{s}` contains {bad:?}, which a URL cannot; percent-encode it"));
    }
    Ok(())
}

pub(crate) fn category(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("a category is empty".into());
    }
    if CATEGORIES.contains(&s) {
        Ok(())
    } else {
        Err(format!("`{s}` is not a Marketplace category; use one of: {}", CATEGORIES.join(", ")))
    }
}

/// A Cargo package name (as `cargo new` accepts them, and usable as a binary name).
pub(crate) fn crate_name(s: &str) -> Result<(), String> {
    let ok = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s.len() <= 64;
    if !ok {
        return Err(format!(
            "`{s}` is not a valid crate or binary name: start with a letter, then letters, \
             digits, `-` or `_` (at most 64)"
        ));
    }
    const RESERVED: &[&str] = &["test", "std", "core", "alloc", "proc_macro", "build", "deps"];
    if RESERVED.contains(&s) {
        return Err(format!("`{s}` is reserved by Cargo; choose another name"));
    }
    Ok(())
}

/// A socket file name: Docker Desktop puts it under /run/guest-services/.
pub(crate) fn socket_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.contains('/') || s.contains('\\') || s == "." || s == ".." {
        return Err(format!(
            "`{s}` is not a socket file name; give a bare name such as `backend.sock` (Docker \
             Desktop creates it under /run/guest-services/)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        for ok in [
            "example/ext",
            "docker/logs-explorer-extension",
            "localhost:5000/a/b",
            "a__b/c.d",
            "ghcr.io/org/x-y",
        ] {
            assert_eq!(image_repository(ok), Ok(()), "{ok}");
        }
        for bad in
            ["", "Example/ext", "ex//t", "ext/", "a/b:1.0", "a@sha256:00", "-a/b", "a_/b", "a/b.", "a/b..c"]
        {
            assert!(image_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        assert_eq!(tag("1.2.3"), Ok(()));
        assert!(tag("-x").is_err());
        assert!(tag("a b").is_err());
        assert!(release_tag("latest").unwrap_err().contains("not a release tag"));
        assert!(release_tag("1.2").unwrap_err().contains("not a semver tag"));
        assert_eq!(release_tag("1.2.3-rc.1"), Ok(()));
    }

    #[test]
    fn urls_and_ranges() {
        assert_eq!(url("https://example.com/a?b#c"), Ok(()));
        assert!(url("example.com").is_err());
        assert!(url("https:///path").is_err());
        assert!(url("https://exa mple.com").is_err());
        assert_eq!(api_version(">= 0.3.4"), Ok(()));
        assert!(api_version("soon").is_err());
        assert!(category("utilities").unwrap_err().contains("utility-tools"));
    }

    #[test]
    fn names() {
        assert_eq!(crate_name("disk-usage"), Ok(()));
        assert!(crate_name("9lives").is_err());
        assert!(crate_name("a.b").is_err());
        assert!(crate_name("test").is_err());
        assert!(socket_name("a/b.sock").is_err());
    }
}
