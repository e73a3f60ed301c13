//! `cargo xtask check`: the offline twin of `docker extension validate` (see `verify`).

use camino::Utf8PathBuf;
use xshell::Shell;

use crate::cli::args::{Opt, Parsed, Spec, UsageError};
use crate::cli::{Cmd, Invocation};
use crate::model::rules;
use crate::model::targets::Variant;
use crate::plan::image::RegistryClient;
use crate::plan::CONTEXT_DIR;
use crate::util::report::problem;
use crate::util::report::Report;
use crate::verify::check::{check_context, check_layout, read_image, ImageSource, Where};
use crate::verify::rulebook;
use crate::workspace::config::Config;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Check {
    /// An archive, a layout folder or an image reference, as given (see `ImageSource`).
    pub source: Option<String>,
    /// `--published`: the config's image and tag, from its registry.
    pub published: bool,
    /// `--deny-warnings`: advice fails the check too.
    pub deny_warnings: bool,
}

impl Cmd for Check {
    const SPEC: Spec = Spec::new(
        "check",
        "Check the config and context, or a built image (archive, store or registry)",
        "[ARCHIVE | LAYOUT | IMAGE | --published] [--deny-warnings]",
        "Without an argument: checks the config and the build context written by dist.\n\
         With an OCI archive (`dist --oci`) or layout folder, an IMAGE in docker's store, or an\n\
         IMAGE in a registry (read with skopeo): checks the built image, both platforms.\n\
         --published: the config's image and tag, read from its registry (after `dist --push`).\n\
         Prints every problem, one per line with its rule (`cargo xtask rules` lists them), and\n\
         exits non-zero if there is an error: where Docker Desktop, Compose or the Marketplace's\n\
         validator refuses. Advice is a warning; --deny-warnings (or the config's\n\
         `deny-warnings = true`) fails on warnings too.",
    )
    .options(&[
        Opt::switch("--published", "Check the config's image and tag in its registry"),
        Opt::switch("--deny-warnings", "Fail on warnings too"),
    ])
    .positionals(1, ": check takes one archive or image");

    fn from_args(args: &mut Parsed) -> Result<Check, UsageError> {
        let check = Check {
            source: args.positional(),
            published: args.switch("--published"),
            deny_warnings: args.switch("--deny-warnings"),
        };
        if check.published && check.source.is_some() {
            return Err(args.error("--published checks the config's own image: give it no image or archive"));
        }
        Ok(check)
    }

    fn execute(self, cx: &Invocation) -> anyhow::Result<()> {
        self.run(cx.sh)
    }
}

impl Check {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        // Where the registry client is built if one is needed (no skopeo): the workspace's
        // target folder, or, outside any workspace, the temporary folder.
        let config = Config::load_current();
        let target = match &config {
            Ok(config) => config.target_dir.clone(),
            Err(_) => Utf8PathBuf::try_from(std::env::temp_dir())?.join("docker-extension-tool"),
        };
        let client = RegistryClient::in_target(&target);
        let deny_warnings = self.deny_warnings || config.as_ref().is_ok_and(|c| c.deny_warnings);
        let (layout, what) = if self.published {
            let config = config?;
            read_image(sh, &ImageSource::Image(config.reference), Where::Registry, &client)?
        } else if let Some(source) = &self.source {
            read_image(sh, &ImageSource::parse(source)?, Where::Anywhere, &client)?
        } else {
            return check_workspace(deny_warnings);
        };
        let (problems, lines) = check_layout(&layout, &what)?;
        for line in lines {
            println!("{line}");
        }
        Report::new().verdict(&problems, &what, deny_warnings)?;
        println!("{what}: {}", found(&problems));
        Ok(())
    }
}

/// What a check that passed found: nothing, or only advice.
fn found(problems: &[crate::util::report::Problem]) -> String {
    match problems.len() {
        0 => "no problems found".into(),
        1 => "no errors, 1 warning (above)".into(),
        n => format!("no errors, {n} warnings (above)"),
    }
}

/// The config and the context dist wrote.
fn check_workspace(deny_warnings: bool) -> anyhow::Result<()> {
    let config = Config::load_current()?;
    let context = config.target_dir.join(CONTEXT_DIR);
    let mut problems = vec![];
    if let Err(e) = rules::release_tag(config.reference.tag_or_latest()) {
        problems.push(rulebook::LABEL_VERSION.problem("tag", e));
    }
    if !context.is_dir() {
        problems
            .push(problem(context.to_string(), "does not exist: run `cargo xtask dist --no-image` first"));
    } else {
        problems.extend(check_context(&context, &config, &Variant::ALL));
    }
    Report::new().verdict(&problems, "the extension", deny_warnings || config.deny_warnings)?;
    println!("the extension: {}", found(&problems));
    Ok(())
}
