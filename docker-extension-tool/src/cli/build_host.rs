//! `cargo xtask build-host`: the host binaries for some targets, compiled exactly as dist
//! compiles them, checked by header, and laid out as DIR/TARGET/NAME for
//! `dist --prebuilt DIR` on the machine that builds the image. For darwin binaries that
//! need Apple's SDK (built on a Mac runner), or a CI matrix that builds each OS apart.

use std::collections::BTreeSet;

use camino::Utf8PathBuf;
use xshell::Shell;

use crate::builders::cargo::Artifacts;
use crate::builders::tools;
use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::context::ownership::{check_context_destination, refuse_tracked, resolve_destination};
use crate::context::staging::Staging;
use crate::pipeline::compile;
use crate::plan::host_binary_builds;
use crate::util::report::{self, Report};
use crate::workspace::config::{current_dir, Config};
use crate::workspace::machine::Machine;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BuildHost {
    pub targets: Vec<String>,
    pub out: Utf8PathBuf,
}

impl Cmd for BuildHost {
    const SPEC: Spec = Spec::new(
        "build-host",
        "Build the host binaries for some targets, for `dist --prebuilt` elsewhere",
        "--target TARGET [--target TARGET…] --out DIR",
        "Builds the host binaries for each TARGET (release, with the builder dist would choose),\n\
         checks each by its header, and writes them to DIR/TARGET/NAME[.exe]. On the machine that\n\
         builds the image, `cargo xtask dist --prebuilt DIR` takes them instead of compiling: for\n\
         darwin binaries that need Apple's SDK (built on a Mac), or a build matrix in CI.",
    )
    .options(&[
        Opt::value("--target", "TARGET", "A target to build for (repeatable)").repeated(),
        Opt::value("--out", "DIR", "The folder the binaries go to"),
    ]);

    fn from_args(args: &mut Parsed) -> Result<BuildHost, UsageError> {
        let targets = args.strings("--target");
        if targets.is_empty() {
            return Err(args.error("give at least one --target, e.g. --target aarch64-apple-darwin"));
        }
        let Some(out) = args.path("--out") else {
            return Err(args.error("give --out DIR: the folder the binaries go to"));
        };
        Ok(BuildHost { targets, out })
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl BuildHost {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let report = Report::new();
        let cwd = current_dir()?;
        let config = Config::load(&cwd)?;
        let out = resolve_destination(&cwd, &self.out);
        let machine = Machine::probe(sh, &config)?;
        let (runs, files) = host_binary_builds(&config, &machine, &self.targets)?;
        sh.change_dir(&config.root);
        // The folder holds one folder per target: only what build-host wrote is replaced.
        let protected = config.protected();
        let names: BTreeSet<String> = self.targets.iter().cloned().collect();
        report.step(&format!("Checking {out}"), || {
            check_context_destination(&out, &protected, &names)?;
            refuse_tracked(sh, &protected.root, &out, "choose a new folder for --out")
        })?;
        report.step("Checking the toolchain", || tools::ensure_for(sh, &runs, &config.tools_dir()))?;
        let mut artifacts = Artifacts::new();
        compile(sh, &report, &config, runs.iter(), &mut artifacts)?;
        let placed = report.step(&format!("Writing {out}"), || {
            let staging = Staging::new(&out)?;
            let placed = staging.lay_out(&files, &artifacts, &config.root)?;
            staging.commit(&protected, &names)?;
            Ok(placed)
        })?;
        let mut rows = vec![vec!["path".into(), "size".into(), "binary".into()]];
        for p in &placed {
            rows.push(vec![out.join(&p.dest).to_string(), report::size(p.size), p.info.describe()]);
        }
        print!("{}", report::table(&rows));
        println!("\nOn the machine that builds the image: cargo xtask dist --prebuilt {out}");
        Ok(())
    }
}
