//! `cargo xtask uninstall` and `cargo xtask share` against the recording stand-in `docker`
//! (Docker Desktop's `docker extension` plugin cannot run here): the exact calls, what the
//! author reads, and the refusals `dev` makes too.

use crate::common::*;

fn desktop(standin: &StandInDocker, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = standin.command(&repo_root(), args);
    command.envs(env.iter().copied());
    run(&mut command)
}

/// The stand-in's `docker extension …` calls other than `version`.
fn extension_calls(standin: &StandInDocker) -> Vec<Vec<String>> {
    standin.calls().into_iter().filter(|c| c[0] == "extension" && c[1] != "version").collect()
}

#[test]
fn uninstall_removes_the_installed_extension_by_the_name_docker_desktop_lists() {
    let standin = StandInDocker::new();
    let installed = [("STANDIN_INSTALLED", "other/ext:2.0.0 example/rust-starter:0.1.0")];
    let removed = desktop(&standin, &["uninstall"], &installed);
    assert!(
        removed.assert_ok().stdout.contains("Removed example/rust-starter:0.1.0 from Docker Desktop."),
        "{removed:?}"
    );
    assert_eq!(
        extension_calls(&standin),
        [vec!["extension", "ls"], vec!["extension", "rm", "example/rust-starter:0.1.0"]]
    );

    // Not installed: said, and nothing removed.
    let standin = StandInDocker::new();
    let absent = desktop(&standin, &["uninstall"], &[("STANDIN_INSTALLED", "other/ext:2.0.0")]);
    assert!(
        absent.assert_ok().stdout.contains("example/rust-starter is not installed in Docker Desktop"),
        "{absent:?}"
    );
    assert_eq!(extension_calls(&standin), [vec!["extension", "ls"]]);
}

#[test]
fn share_prints_docker_desktops_link_for_the_configs_image_and_tag() {
    let standin = StandInDocker::new();
    let shared = desktop(&standin, &["share"], &[]);
    assert_eq!(
        shared.assert_ok().stdout.trim(),
        "Share link: https://open.docker.com/extensions/marketplace?extensionId=example/rust-starter:0.1.0"
    );
    assert_eq!(extension_calls(&standin), [vec!["extension", "share", "example/rust-starter:0.1.0"]]);

    let standin = StandInDocker::new();
    let unpushed = desktop(&standin, &["share", "acme/other:1.0.0"], &[("STANDIN_NOT_PUSHED", "1")]);
    assert_eq!(unpushed.code, 1, "{unpushed:?}");
    assert!(
        unpushed.stderr.contains("is acme/other:1.0.0 pushed? (cargo xtask dist --push)"),
        "{}",
        unpushed.stderr
    );
}

#[test]
fn without_docker_desktop_both_refuse_as_dev_does() {
    for command in ["uninstall", "share"] {
        let standin = StandInDocker::new();
        let no_plugin = desktop(&standin, &[command], &[("STANDIN_NO_EXTENSION", "1")]);
        assert_eq!(no_plugin.code, 1, "{command}: {no_plugin:?}");
        assert!(
            no_plugin
                .stderr
                .contains("the `docker extension` CLI plugin is not here: it comes with Docker Desktop"),
            "{command}: {}",
            no_plugin.stderr
        );
        let down = desktop(&standin, &[command], &[("STANDIN_DOCKER_DOWN", "1")]);
        assert_eq!(down.code, 1, "{command}: {down:?}");
        assert!(down.stderr.contains("start Docker Desktop"), "{command}: {}", down.stderr);
        assert!(extension_calls(&standin).is_empty(), "{command}: nothing asked of Docker Desktop");
    }
    let usage = run(&mut xtask(&repo_root(), &["uninstall", "a/b", "c/d"]));
    assert_eq!(usage.code, 2, "{usage:?}");
    assert!(usage.stderr.contains("Usage: cargo xtask uninstall [IMAGE]"), "{}", usage.stderr);
}
