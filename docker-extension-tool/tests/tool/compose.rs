//! The backend's compose file, checked by dist (before anything compiles) and by `check`
//! (of the context dist wrote): every problem names the file, its line and its rule. What
//! Compose or Docker Desktop refuse is an error; advice is a warning, exit status 0, unless
//! warnings are denied (`--deny-warnings`, the config's `deny-warnings = true`).

use crate::common::fixture::Fixture;
use crate::common::{run, snapshot};

/// A compose backend as published extensions write them (modelled on their files, none
/// copied): the extension's own image beside a database and an agent given by tag, a default
/// for running it elsewhere, `version:`, the engine's socket mounted both ways, host
/// networking, capabilities, a device, `deploy` limits, health checks and `depends_on`
/// conditions, variables with defaults and `$$`, long-syntax bind, named and external
/// volumes, extension keys and a merge.
const REAL_WORLD: &str = r#"version: "3.9"
x-logging: &logging
  logging:
    driver: json-file
    options:
      max-size: "10m"
services:
  backend:
    image: ${DESKTOP_PLUGIN_IMAGE}
    <<: *logging
    depends_on:
      db:
        condition: service_healthy
      agent:
        condition: service_started
    environment:
      DATABASE_URL: postgres://app:${DB_PASSWORD:-secret}@db:5432/app
      GREETING: "costs $$5"
    volumes:
      - /var/run/docker.sock.raw:/var/run/docker.sock
      - type: volume
        source: app-data
        target: /data
      - type: bind
        source: ${HOME:-/root}/.config/app
        target: /config
        read_only: true
    restart: unless-stopped
  db:
    image: postgres:16.4
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:-secret}
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U app"]
      interval: 5s
      retries: 10
    volumes:
      - db-data:/var/lib/postgresql/data
    deploy:
      resources:
        limits:
          memory: 512M
  agent:
    image: ${AGENT_IMAGE:-acme/agent:2.1}
    network_mode: host
    cap_add: [NET_ADMIN, SYS_PTRACE]
    devices:
      - /dev/net/tun:/dev/net/tun
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - shared:/shared
    x-extension-note: kept as written
volumes:
  app-data: {}
  db-data:
  shared:
    external: true
"#;

/// Every error rule broken once, each on a line of its own (and two warnings).
const BAD: &str = "\
services:
  backend:
    image: ${DESKTOP_PLUGIN_IMAGE}
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - cache:/cache
    restart_policy: always
  helper:
    image: alpine:3.20
netwroks: {}
volumes:
  data: {}
";

fn compose_fixture(name: &str, text: &str) -> Fixture {
    let f = Fixture::new(name);
    f.write("extension/docker-compose.yaml", text);
    f.edit(
        "Cargo.toml",
        "socket = \"fixture.sock\"",
        "socket = \"fixture.sock\"\ncompose-file = \"extension/docker-compose.yaml\"",
    );
    f.commit_all();
    f
}

#[test]
fn what_published_extensions_write_passes_with_warnings_unless_warnings_are_denied() {
    let f = compose_fixture("compose-real", REAL_WORLD);
    let target = f.root().join("target");
    let context = target.join("extension");
    let dist = |extra: &[&str]| {
        run(&mut f.command(&[&["dist", "--no-image", "--out", context.to_str().unwrap()], extra].concat()))
    };
    let check =
        |extra: &[&str]| run(f.command(&[&["check"], extra].concat()).env("CARGO_TARGET_DIR", &target));
    let warnings = [
        "warning: extension/docker-compose.yaml:1: `version` is obsolete: Compose ignores it (and says so each time); leave it out [compose-version]",
        "warning: extension/docker-compose.yaml:30: service `db`: image `postgres:16.4` is not pinned",
        "warning: extension/docker-compose.yaml:44: service `agent`: image `${AGENT_IMAGE:-acme/agent:2.1}` is not pinned",
        "warning: extension/docker-compose.yaml:50: service `agent` mounts /var/run/docker.sock: in Docker Desktop's VM the engine's own socket is /var/run/docker.sock.raw",
    ];

    // dist: exit 0, each warning once, with its file, line and rule.
    let built = dist(&[]);
    built.assert_ok();
    for warning in warnings {
        assert_eq!(built.stderr.matches(warning).count(), 1, "once: {warning}\n{}", built.stderr);
    }
    assert_eq!(built.stderr.matches("warning: ").count(), 4, "{}", built.stderr);
    assert!(
        built.stderr.contains("[compose-unpinned-image]") && built.stderr.contains("[compose-docker-socket]")
    );

    // check of the context: the same four, placed in the image, and exit 0.
    let checked = check(&[]);
    checked.assert_ok();
    assert!(checked.stdout.contains("the extension: no errors, 4 warnings (above)"), "{checked:?}");
    assert!(checked.stderr.contains("warning: /docker-compose.yaml:30: service `db`"), "{}", checked.stderr);

    // Warnings denied: both fail, listing them, and dist writes nothing.
    let before = snapshot(&context);
    let denied = dist(&["--deny-warnings"]);
    assert_eq!(denied.code, 1, "{denied:?}");
    assert!(
        denied.stderr.contains("the compose file extension/docker-compose.yaml has 4 problems:"),
        "{}",
        denied.stderr
    );
    assert!(denied.stderr.contains("--deny-warnings"), "{}", denied.stderr);
    assert!(!denied.stderr.contains("==> Building"), "nothing compiled: {}", denied.stderr);
    assert_eq!(snapshot(&context), before);
    assert_eq!(check(&["--deny-warnings"]).code, 1);
    f.edit(
        "Cargo.toml",
        "categories = [\"utility-tools\"]",
        "categories = [\"utility-tools\"]\ndeny-warnings = true",
    );
    let from_config = check(&[]);
    assert_eq!(from_config.code, 1, "{from_config:?}");
    assert!(from_config.stderr.contains("the extension has 4 problems:"), "{}", from_config.stderr);
}

#[test]
fn compose_errors_fail_dist_before_compiling_and_check_naming_each_line() {
    let good = REAL_WORLD.replace("version: \"3.9\"\n", "");
    let f = compose_fixture("compose", &good);
    // The fixture's own target folder for the context, so `check` (which reads the context
    // under the target folder) finds this one.
    let target = f.root().join("target");
    let context = target.join("extension");
    let dist = |f: &Fixture| run(&mut f.command(&["dist", "--no-image", "--out", context.to_str().unwrap()]));
    let check = || run(f.command(&["check"]).env("CARGO_TARGET_DIR", &target));

    let built = dist(&f);
    assert!(built.assert_ok().stderr.contains("==> Checking the compose file"), "{}", built.stderr);
    check().assert_ok();

    // The copy in the context broken: check reports each problem once (not per variant).
    let copy = context.join("docker-compose.yaml");
    assert!(copy.is_file(), "the compose file is at the image's root");
    std::fs::write(&copy, BAD).unwrap();
    let checked = check();
    assert_eq!(checked.code, 1, "{checked:?}");
    let errors = [
        "/docker-compose.yaml:6: service `backend` mounts the named volume `cache`, which the top-level `volumes` does not declare",
        "/docker-compose.yaml:7: service `backend`: unknown key `restart_policy`",
        "/docker-compose.yaml:10: unknown top-level key `netwroks` (did you mean `networks`?) [compose-unknown-key]",
    ];
    let warnings = [
        "warning: /docker-compose.yaml:5: service `backend` mounts /var/run/docker.sock",
        "warning: /docker-compose.yaml:9: service `helper`: image `alpine:3.20` is not pinned",
    ];
    for line in errors.iter().chain(&warnings) {
        assert_eq!(checked.stderr.matches(line).count(), 1, "once: {line}\n{}", checked.stderr);
    }
    assert!(checked.stderr.contains("has 3 problems:"), "the errors only: {}", checked.stderr);

    // The workspace's file broken: dist refuses before compiling anything, naming each
    // line of the workspace's file, and leaves the previous context as it was.
    let before = snapshot(&context);
    f.write("extension/docker-compose.yaml", BAD);
    let refused = dist(&f);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("the compose file extension/docker-compose.yaml has 3 problems:"),
        "{}",
        refused.stderr
    );
    for line in errors {
        let in_workspace = format!("extension{line}");
        assert!(refused.stderr.contains(&in_workspace), "{in_workspace}\n{}", refused.stderr);
    }
    assert!(!refused.stderr.contains("==> Building"), "nothing compiled: {}", refused.stderr);
    assert_eq!(snapshot(&context), before, "the previous context is untouched");

    // A YAML error, with its line.
    f.write("extension/docker-compose.yaml", "services:\n  backend:\n    image: \"${DESKTOP_PLUGIN_IMAGE}\n");
    let broken = dist(&f);
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(broken.stderr.contains("extension/docker-compose.yaml:"), "{}", broken.stderr);
    assert!(broken.stderr.contains("is not valid YAML"), "{}", broken.stderr);
}
