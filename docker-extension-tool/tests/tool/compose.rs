//! The backend's compose file, checked by dist (before anything compiles) and by `check`
//! (of the context dist wrote): every fault names the file and its line.

use crate::common::fixture::Fixture;
use crate::common::{run, snapshot};

const GOOD: &str = "\
services:
  backend:
    image: ${DESKTOP_PLUGIN_IMAGE}
    volumes:
      - /var/run/docker.sock.raw:/var/run/docker.sock
      - data:/data
volumes:
  data: {}
";

/// Every rule broken once, each on a line of its own.
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

#[test]
fn compose_faults_fail_dist_before_compiling_and_check_naming_each_line() {
    let f = Fixture::new("compose");
    f.write("extension/docker-compose.yaml", GOOD);
    f.edit(
        "Cargo.toml",
        "socket = \"fixture.sock\"",
        "socket = \"fixture.sock\"\ncompose-file = \"extension/docker-compose.yaml\"",
    );
    f.commit_all();
    // The fixture's own target folder for the context, so `check` (which reads the context
    // under the target folder) finds this one.
    let target = f.root().join("target");
    let context = target.join("extension");
    let dist = |f: &Fixture| run(&mut f.command(&["dist", "--no-image", "--out", context.to_str().unwrap()]));
    let check = || run(f.command(&["check"]).env("CARGO_TARGET_DIR", &target));

    let good = dist(&f);
    assert!(good.assert_ok().stderr.contains("==> Checking the compose file"), "{}", good.stderr);
    check().assert_ok();

    // The copy in the context broken: check reports each fault once (not per variant).
    let copy = context.join("docker-compose.yaml");
    assert!(copy.is_file(), "the compose file is at the image's root");
    std::fs::write(&copy, BAD).unwrap();
    let checked = check();
    assert_eq!(checked.code, 1, "{checked:?}");
    let expected = [
        "/docker-compose.yaml:5: service `backend` mounts /var/run/docker.sock: Docker Desktop's VM gives extensions the engine at /var/run/docker.sock.raw; mount that instead (`/var/run/docker.sock.raw:/var/run/docker.sock`)",
        "/docker-compose.yaml:6: service `backend` mounts the named volume `cache`, which the top-level `volumes` does not declare",
        "/docker-compose.yaml:7: service `backend`: unknown key `restart_policy`",
        "/docker-compose.yaml:9: service `helper`: image `alpine:3.20` is not pinned: give it by digest (`alpine:3.20@sha256:…`",
        "/docker-compose.yaml:10: unknown top-level key `netwroks` (did you mean `networks`?)",
    ];
    for line in expected {
        assert_eq!(checked.stderr.matches(line).count(), 1, "once: {line}\n{}", checked.stderr);
    }

    // The workspace's file broken: dist refuses before compiling anything, naming each
    // line of the workspace's file, and leaves the previous context as it was.
    let before = snapshot(&context);
    f.write("extension/docker-compose.yaml", BAD);
    let refused = dist(&f);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("the compose file extension/docker-compose.yaml has 5 problems:"),
        "{}",
        refused.stderr
    );
    for line in expected {
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
