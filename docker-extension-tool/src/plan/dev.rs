//! The dev loop's plan: the plan of a dist for this machine only (its image variant, its
//! OS's host binaries, cargo's dev profile, the `dev` tag, the builtin engine loading the
//! image), plus what only the dev loop builds: the dev relay beside the backend in the
//! image when an engine runs it, or the backend for this machine's own target when it runs
//! as a local process. `dev` runs it; the tests below hold its shape.

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};

use crate::model::engine::Engine;
use crate::model::targets::{Builder, Os, Variant};
use crate::plan::image::Output;
use crate::plan::{CargoRun, ContextFile, Plan, Profile, Request, Source};
use crate::workspace::config::Config;
use crate::workspace::machine::Machine;

/// The tag of the image `dev` builds and loads.
pub(crate) const DEV_TAG: &str = "dev";

/// What a dev session asks of its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DevRequest {
    /// The machine's image variant (its CPU) and OS.
    pub variant: Variant,
    pub os: Os,
    /// With an engine the backend runs from the image (with the relay); with none, as a
    /// local process (not on Windows, where no Linux binary runs).
    pub engine: bool,
    /// The dev relay's package (name, manifest), built beside the backend, with an engine.
    pub relay: (String, Utf8PathBuf),
    /// The session's own context folder.
    pub context: Utf8PathBuf,
}

impl DevRequest {
    /// This machine's variant and OS.
    pub(crate) fn here(
        engine: bool,
        relay: (String, Utf8PathBuf),
        context: Utf8PathBuf,
    ) -> anyhow::Result<DevRequest> {
        let variant = Variant::here()
            .context("this machine's CPU is neither x86_64 nor aarch64: no image variant runs here")?;
        let os = Os::here().context("this machine's OS is not macOS, Windows or Linux")?;
        Ok(DevRequest { variant, os, engine, relay, context })
    }
}

/// The config of the extension as dev builds it (its host binaries for this OS only, the
/// `dev` tag: what the context's metadata and labels say) and the dev plan.
pub(crate) fn dev_plan(
    config: &Config,
    machine: &Machine,
    dev: &DevRequest,
) -> anyhow::Result<(Config, Plan)> {
    let mut one_os = config.clone();
    one_os.host_targets.retain(|os, _| *os == dev.os);
    one_os.reference = one_os.reference.with_tag(DEV_TAG);
    let request = Request {
        platform: Some(dev.variant),
        engine: Some(Engine::Builtin),
        output: dev.engine.then_some(Output::Load),
        no_image: !dev.engine,
        out: Some(dev.context.clone()),
        profile: Profile::Dev,
        ..Request::default()
    };
    let mut plan = Plan::new(&one_os, &request, machine)?;
    let Some(backend) = &config.backend else { return Ok((one_os, plan)) };
    if dev.engine {
        let target = backend.targets[&dev.variant].clone();
        let run = plan
            .cargo_runs
            .iter()
            .find(|r| r.packages.contains(&backend.package) && r.targets.contains(&target))
            .context("the dev plan builds no backend")?;
        let (relay, manifest) = &dev.relay;
        let relay_run = CargoRun {
            builder: run.builder,
            packages: vec![relay.clone()],
            targets: vec![target.clone()],
            env: run.env.clone(),
            release: false,
            manifest_path: Some(manifest.to_path_buf()),
        };
        // Checked as the backend is: a static Linux binary for the variant's CPU.
        let expect = plan
            .files
            .iter()
            .find(|f| matches!(&f.source, Source::Artifact { package, .. } if *package == backend.package))
            .and_then(|f| f.expect)
            .map(|e| crate::plan::Expect { static_linked: true, ..e });
        plan.cargo_runs.push(relay_run);
        plan.files.push(ContextFile {
            dest: Utf8Path::new(&format!("{}/{relay}", dev.variant)).to_path_buf(),
            source: Source::Artifact { package: relay.clone(), bin: relay.clone(), target },
            expect,
        });
    } else if dev.os != Os::Windows {
        plan.cargo_runs.push(CargoRun {
            builder: Builder::Cargo,
            packages: vec![backend.package.clone()],
            targets: vec![machine.host.clone()],
            env: vec![],
            release: false,
            manifest_path: None,
        });
    }
    Ok((one_os, plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ImageStep;
    use crate::workspace::sample::sample_config;

    fn request(variant: Variant, os: Os, engine: bool) -> DevRequest {
        DevRequest {
            variant,
            os,
            engine,
            relay: ("dev-relay".into(), "/work/sample/target/xtask/dev/relay/Cargo.toml".into()),
            context: "/work/sample/target/xtask/dev/context".into(),
        }
    }

    fn machine() -> Machine {
        Machine::for_tests("x86_64-unknown-linux-gnu", &[])
    }

    #[test]
    fn with_an_engine_one_variant_one_os_the_dev_profile_and_the_relay_in_the_loaded_image() {
        let config = sample_config();
        let (one_os, plan) =
            dev_plan(&config, &machine(), &request(Variant::Arm64, Os::Darwin, true)).unwrap();
        assert_eq!(one_os.reference.to_string(), "example/sample:dev");
        assert_eq!(one_os.host_targets.keys().copied().collect::<Vec<_>>(), [Os::Darwin]);
        assert_eq!(plan.variants, [Variant::Arm64]);
        assert!(plan.cargo_runs.iter().all(|r| !r.release), "the dev profile: {:#?}", plan.cargo_runs);
        let ImageStep::Build(image) = &plan.image else { panic!("an image step") };
        assert_eq!((image.engine, &image.output), (Engine::Builtin, &Output::Load));
        assert_eq!(plan.context, Utf8PathBuf::from("/work/sample/target/xtask/dev/context"));
        // The relay: built like the backend (its target, its builder), into the image beside it.
        let backend = plan.cargo_runs.iter().find(|r| r.packages.contains(&"sample-backend".into())).unwrap();
        let relay = plan.cargo_runs.last().unwrap();
        assert_eq!(relay.packages, ["dev-relay"]);
        assert_eq!(relay.targets, ["aarch64-unknown-linux-musl"]);
        assert_eq!((relay.builder, &relay.env), (backend.builder, &backend.env));
        assert!(relay.manifest_path.as_ref().unwrap().ends_with("relay/Cargo.toml"));
        let file = plan.files.iter().find(|f| f.dest == "arm64/dev-relay").unwrap();
        assert!(file.expect.is_some_and(|e| e.static_linked));
        // Host binaries for darwin only, one CPU.
        let host: Vec<&str> =
            plan.files.iter().map(|f| f.dest.as_str()).filter(|d| d.contains("/darwin/")).collect();
        assert!(!host.is_empty());
        assert!(plan
            .files
            .iter()
            .all(|f| !f.dest.as_str().contains("/windows/") && !f.dest.starts_with("amd64")));
    }

    #[test]
    fn with_no_engine_no_image_and_the_backend_for_this_machine_except_on_windows() {
        let config = sample_config();
        let (_, plan) = dev_plan(&config, &machine(), &request(Variant::Amd64, Os::Linux, false)).unwrap();
        assert_eq!(plan.image, ImageStep::Skip);
        let local = plan.cargo_runs.last().unwrap();
        assert_eq!(local.packages, ["sample-backend"]);
        assert_eq!(
            (local.builder, local.targets.as_slice()),
            (Builder::Cargo, ["x86_64-unknown-linux-gnu".to_string()].as_slice())
        );
        assert!(plan.cargo_runs.iter().all(|r| !r.packages.contains(&"dev-relay".into())));
        let (_, windows) =
            dev_plan(&config, &machine(), &request(Variant::Amd64, Os::Windows, false)).unwrap();
        assert!(windows
            .cargo_runs
            .iter()
            .all(|r| r.builder != Builder::Cargo
                || !r.targets.contains(&"x86_64-unknown-linux-gnu".to_string())));
    }

    #[test]
    fn with_no_backend_nothing_is_added() {
        let config = Config { backend: None, ..sample_config() };
        let (_, plain) = dev_plan(&config, &machine(), &request(Variant::Amd64, Os::Linux, true)).unwrap();
        assert!(plain.cargo_runs.iter().all(|r| r.packages != ["dev-relay"]));
        assert!(plain.files.iter().all(|f| !f.dest.as_str().ends_with("dev-relay")));
    }
}
