//! The backend's compose file (`vm.composefile`), checked as Docker Desktop will run it with
//! Compose. Errors where Compose or Docker Desktop refuse the file: YAML, keys that are not
//! Compose's, named volumes not declared, a service with no image. Advice, as warnings: an
//! image other than the extension's own not pinned by digest; `/var/run/docker.sock`
//! mounted where Docker Desktop's VM serves the engine at `/var/run/docker.sock.raw` (not
//! always the wrong choice); an obsolete `version:`. Each problem names its line and its
//! rule (`rulebook`).

use crate::util::yaml::{self, Node, Value};
use crate::verify::rulebook::{self, Rule};

/// The extension's own image, as Docker Desktop substitutes it in a compose file.
pub(crate) const OWN_IMAGE: &str = "${DESKTOP_PLUGIN_IMAGE}";
/// The engine's socket in Docker Desktop's VM, for an extension's containers.
const RAW_SOCKET: &str = "/var/run/docker.sock.raw";
const SOCKET: &str = "/var/run/docker.sock";

/// The Compose specification's top-level keys (and `x-*` extensions).
const TOP_LEVEL_KEYS: &[&str] =
    &["version", "name", "include", "services", "networks", "volumes", "configs", "secrets", "models"];

/// The Compose specification's service keys (schema/compose-spec.json), and `x-*`.
const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Every problem of a compose file's text: its line (1-based; 0 for the whole file), the rule
/// it breaks, what is wrong with the fix.
pub(crate) fn check(text: &str) -> Vec<(usize, &'static Rule, String)> {
    let mut problems = vec![];
    let mut add = |line: usize, rule: &'static Rule, message: String| problems.push((line, rule, message));
    let root = match yaml::parse(text) {
        Err(e) => {
            add(
                e.line,
                &rulebook::COMPOSE_YAML,
                format!("is not valid YAML (column {}): {}", e.column, e.message),
            );
            return problems;
        }
        Ok(None) => {
            add(
                0,
                &rulebook::COMPOSE_SERVICES,
                "is empty: Docker Desktop starts the services it declares".into(),
            );
            return problems;
        }
        Ok(Some(root)) => root,
    };
    let Some(entries) = root.entries() else {
        add(root.line, &rulebook::COMPOSE_YAML, "is not a mapping of Compose's keys (`services:` …)".into());
        return problems;
    };
    for (key, _) in entries {
        let name = key.as_str().unwrap_or_default();
        if name == "version" {
            add(
                key.line,
                &rulebook::COMPOSE_VERSION,
                "`version` is obsolete: Compose ignores it (and says so each time); leave it out".into(),
            );
        } else if !TOP_LEVEL_KEYS.contains(&name) && !name.starts_with("x-") {
            add(
                key.line,
                &rulebook::COMPOSE_UNKNOWN_KEY,
                format!("unknown top-level key `{name}`{}", suggestion(name, TOP_LEVEL_KEYS)),
            );
        }
    }
    let declared_volumes: Vec<&str> = root
        .get("volumes")
        .and_then(|v| v.resolve(&root))
        .and_then(Node::entries)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str())
        .collect();
    let services = root.get("services").and_then(|s| s.resolve(&root));
    let Some(services) = services.and_then(Node::entries).filter(|s| !s.is_empty()) else {
        add(
            services.map_or(0, |s| s.line),
            &rulebook::COMPOSE_SERVICES,
            "declares no services: Docker Desktop starts the services of `vm.composefile` as the backend"
                .into(),
        );
        return problems;
    };
    for (name_node, service) in services {
        let name = name_node.as_str().unwrap_or_default();
        let Some(service) = service.resolve(&root).filter(|s| s.entries().is_some()) else {
            add(
                service.line,
                &rulebook::COMPOSE_YAML,
                format!("service `{name}` is not a mapping of Compose's service keys"),
            );
            continue;
        };
        for (key, _) in service.entries().unwrap_or_default() {
            let key_name = key.as_str().unwrap_or_default();
            if !SERVICE_KEYS.contains(&key_name) && !key_name.starts_with("x-") && key_name != "<<" {
                add(
                    key.line,
                    &rulebook::COMPOSE_UNKNOWN_KEY,
                    format!(
                        "service `{name}`: unknown key `{key_name}`{}",
                        suggestion(key_name, SERVICE_KEYS)
                    ),
                );
            }
        }
        check_image(name, name_node.line, &field(service, "image", &root), &mut add);
        let volumes = field(service, "volumes", &root);
        let items = match volumes.map(|v| &v.value) {
            Some(Value::Sequence(items)) => items.as_slice(),
            _ => &[],
        };
        for item in items {
            let Some(item) = item.resolve(&root) else { continue };
            check_mount(name, item, &declared_volumes, &mut add);
        }
    }
    problems.sort_by_key(|p| p.0);
    problems
}

/// A compose file's services, in order, each with whether it runs the extension's own image
/// (`${DESKTOP_PLUGIN_IMAGE}`, also with a default): what `dev` starts and recreates. `None`
/// when the file does not parse (`check` says why).
pub(crate) fn services(text: &str) -> Option<Vec<(String, bool)>> {
    let root = yaml::parse(text).ok()??;
    let services = root.get("services")?.resolve(&root)?.entries()?;
    Some(
        services
            .iter()
            .filter_map(|(name, service)| {
                let service = service.resolve(&root)?;
                let image = field(service, "image", &root).and_then(Node::as_str).unwrap_or_default();
                Some((name.as_str()?.to_string(), is_own_image(image)))
            })
            .collect(),
    )
}

/// The extension's own image, as Docker Desktop substitutes it: `${DESKTOP_PLUGIN_IMAGE}`,
/// also with a default for running the file elsewhere (`${DESKTOP_PLUGIN_IMAGE:-acme/ext:dev}`).
fn is_own_image(reference: &str) -> bool {
    reference == OWN_IMAGE || (reference.starts_with("${DESKTOP_PLUGIN_IMAGE:") && reference.ends_with('}'))
}

/// A service's key, also through a merge (`<<: *base`), as Compose reads it.
fn field<'a>(service: &'a Node, key: &str, root: &'a Node) -> Option<&'a Node> {
    if let Some(value) = service.get(key) {
        return value.resolve(root);
    }
    let merged = service.get("<<")?.resolve(root)?;
    let bases: Vec<&Node> = match &merged.value {
        Value::Sequence(items) => items.iter().filter_map(|i| i.resolve(root)).collect(),
        _ => vec![merged],
    };
    bases.into_iter().find_map(|base| base.get(key)).and_then(|v| v.resolve(root))
}

fn check_image(
    service: &str,
    line: usize,
    image: &Option<&Node>,
    add: &mut impl FnMut(usize, &'static Rule, String),
) {
    let Some(image) = image else {
        add(
            line,
            &rulebook::COMPOSE_NO_IMAGE,
            format!(
                "service `{service}` has no `image`: Docker Desktop pulls images, it builds none; use \
                 {OWN_IMAGE} (the extension's own image) or an image pinned by digest"
            ),
        );
        return;
    };
    let Some(reference) = image.as_str() else {
        add(image.line, &rulebook::COMPOSE_YAML, format!("service `{service}`: `image` is not a string"));
        return;
    };
    if is_own_image(reference) || pinned(reference) {
        return;
    }
    add(
        image.line,
        &rulebook::COMPOSE_UNPINNED_IMAGE,
        format!(
            "service `{service}`: image `{reference}` is not pinned: Docker Desktop runs whatever the tag \
             points at when a user installs; give it by digest (`{}@sha256:…`) so every user runs the \
             bytes you tested",
            reference.split('@').next().unwrap_or(reference)
        ),
    );
}

/// `…@` and a digest.
fn pinned(reference: &str) -> bool {
    reference.rsplit_once('@').is_some_and(|(name, digest)| {
        !name.is_empty() && digest.parse::<crate::util::digest::Digest>().is_ok()
    })
}

/// One item of a service's `volumes`: short (`SOURCE:TARGET[:MODE]`) or long (`source:`).
fn check_mount(
    service: &str,
    item: &Node,
    declared: &[&str],
    add: &mut impl FnMut(usize, &'static Rule, String),
) {
    let (source, kind) = match &item.value {
        Value::Scalar(text) => match text.split_once(':') {
            Some((source, _)) => (source.to_string(), None),
            None => return, // an anonymous volume
        },
        Value::Mapping(_) => match item.get("source").and_then(Node::as_str) {
            Some(source) => (source.to_string(), item.get("type").and_then(Node::as_str)),
            None => return,
        },
        _ => return,
    };
    if source == SOCKET || source == "/run/docker.sock" {
        add(
            item.line,
            &rulebook::COMPOSE_DOCKER_SOCKET,
            format!(
                "service `{service}` mounts {source}: in Docker Desktop's VM the engine's own socket is \
                 {RAW_SOCKET} (`{RAW_SOCKET}:{SOCKET}`); {source} is a proxy that translates Windows \
                 paths, which is why some extensions keep it"
            ),
        );
        return;
    }
    let is_path = source.starts_with(['/', '.', '~', '$']) || source.contains('/');
    let is_named = match kind {
        Some(kind) => kind == "volume",
        None => !is_path,
    };
    if is_named && !source.is_empty() && !declared.contains(&source.as_str()) {
        add(
            item.line,
            &rulebook::COMPOSE_UNDECLARED_VOLUME,
            format!(
                "service `{service}` mounts the named volume `{source}`, which the top-level `volumes` does \
                 not declare: add `volumes:` with `{source}: {{}}` at the top level"
            ),
        );
    }
}

/// ` (did you mean `x`?)` when a known key is one or two edits away.
fn suggestion(word: &str, known: &[&str]) -> String {
    let best = known.iter().map(|k| (edit_distance(word, k), *k)).min();
    match best {
        Some((distance, key)) if distance <= 2 && !word.is_empty() => format!(" (did you mean `{key}`?)"),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::report::Severity;

    fn lines(text: &str) -> Vec<String> {
        check(text)
            .into_iter()
            .map(|(line, rule, message)| format!("{line}: {message} [{}]", rule.id))
            .collect()
    }

    const GOOD: &str = "\
services:
  backend:
    image: ${DESKTOP_PLUGIN_IMAGE}
    volumes:
      - /var/run/docker.sock.raw:/var/run/docker.sock
      - data:/data
  cache:
    image: redis:7@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    volumes:
      - type: volume
        source: data
        target: /cache
x-common: &common
  restart: always
volumes:
  data: {}
";

    #[test]
    fn a_good_file_has_no_problem() {
        assert_eq!(lines(GOOD), Vec::<String>::new());
        assert_eq!(services(GOOD), Some(vec![("backend".to_string(), true), ("cache".to_string(), false)]));
        assert_eq!(services("services: [\n"), None);
    }

    #[test]
    fn each_rule_names_its_line() {
        let bad = GOOD
            .replace(
                "image: redis:7@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "image: redis:7",
            )
            .replace(
                "/var/run/docker.sock.raw:/var/run/docker.sock",
                "/var/run/docker.sock:/var/run/docker.sock",
            )
            .replace("    volumes:\n      - type", "    restrat: always\n    volumes:\n      - type")
            .replace("source: data", "source: cache-data")
            .replace("x-common: &common", "netwroks: &common");
        assert_eq!(
            lines(&bad),
            [
                "5: service `backend` mounts /var/run/docker.sock: in Docker Desktop's VM the engine's own socket is /var/run/docker.sock.raw (`/var/run/docker.sock.raw:/var/run/docker.sock`); /var/run/docker.sock is a proxy that translates Windows paths, which is why some extensions keep it [compose-docker-socket]",
                "8: service `cache`: image `redis:7` is not pinned: Docker Desktop runs whatever the tag points at when a user installs; give it by digest (`redis:7@sha256:…`) so every user runs the bytes you tested [compose-unpinned-image]",
                "9: service `cache`: unknown key `restrat` (did you mean `restart`?) [compose-unknown-key]",
                "11: service `cache` mounts the named volume `cache-data`, which the top-level `volumes` does not declare: add `volumes:` with `cache-data: {}` at the top level [compose-undeclared-volume]",
                "14: unknown top-level key `netwroks` (did you mean `networks`?) [compose-unknown-key]",
            ]
        );
        // Advice is a warning; what Compose refuses is an error.
        let severities: Vec<(usize, Severity)> =
            check(&bad).iter().map(|(line, rule, _)| (*line, rule.severity)).collect();
        assert_eq!(
            severities,
            [
                (5, Severity::Warning),
                (8, Severity::Warning),
                (9, Severity::Error),
                (11, Severity::Error),
                (14, Severity::Error)
            ]
        );
    }

    #[test]
    fn yaml_errors_a_missing_image_and_merges() {
        let broken = lines("services:\n  backend:\n    image: \"open\n");
        assert_eq!(broken.len(), 1);
        assert!(broken[0].contains("is not valid YAML"), "{broken:?}");
        assert_eq!(
            lines("services:\n  backend:\n    command: [run]\n"),
            ["2: service `backend` has no `image`: Docker Desktop pulls images, it builds none; use ${DESKTOP_PLUGIN_IMAGE} (the extension's own image) or an image pinned by digest [compose-no-image]"]
        );
        // An image through a merge key counts.
        let merged =
            "x-base: &base\n  image: ${DESKTOP_PLUGIN_IMAGE}\nservices:\n  backend:\n    <<: *base\n";
        assert_eq!(lines(merged), Vec::<String>::new());
        assert_eq!(
            lines(""),
            ["0: is empty: Docker Desktop starts the services it declares [compose-services]"]
        );
        assert!(lines("- a\n")[0].contains("is not a mapping"));
        assert!(lines("services: {}\n")[0].contains("declares no services"));
        assert!(!pinned("redis@sha256:abc") && !pinned("@sha256:".to_string().repeat(2).as_str()));
    }
}
