//! What commands print: a header per step with its duration (see [`Report`]), summary
//! tables, sizes; and the one format every command reports problems in (the config's, an
//! image's).

use std::cell::{Cell, RefCell};
use std::time::Instant;

use anyhow::Context;

/// What a command prints as it goes, and what it remembers of it: a header per step and how
/// long it took, progress lines (unless quiet: the dev loop prints one line per rebuild
/// instead; errors and compiler diagnostics are printed whatever this says). One per
/// command run, passed down to what prints; no global state.
#[derive(Debug, Default)]
pub(crate) struct Report {
    quiet: Cell<bool>,
    steps: RefCell<Vec<Step>>,
    /// The warnings printed so far, by rule and message (each is printed once per command,
    /// however many checks find it: dist checks the compose file, then the context's copy).
    warned: RefCell<std::collections::BTreeSet<String>>,
}

/// A step that finished: its title, what it is (for a reader such as `bench`: `image`, the
/// image step), and how long it took.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Step {
    pub title: String,
    pub key: Option<&'static str>,
    pub seconds: f64,
}

impl Report {
    pub(crate) fn new() -> Report {
        Report::default()
    }

    pub(crate) fn set_quiet(&self, quiet: bool) {
        self.quiet.set(quiet);
    }

    /// A progress line on stderr, unless quiet.
    pub(crate) fn say(&self, line: &str) {
        if !self.quiet.get() {
            eprintln!("{line}");
        }
    }

    /// Runs one step: prints its header, then how long it took; a failure says which step.
    pub(crate) fn step<T>(&self, title: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.keyed_step(None, title, f)
    }

    /// The same, for a step a reader finds by its key rather than by its title.
    pub(crate) fn keyed_step<T>(
        &self,
        key: Option<&'static str>,
        title: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.say(&format!("==> {title}"));
        let start = Instant::now();
        let result = f().with_context(|| lowercase_first(title));
        if result.is_ok() {
            let seconds = start.elapsed().as_secs_f64();
            self.say(&format!("    done in {seconds:.1}s"));
            self.steps.borrow_mut().push(Step { title: title.to_string(), key, seconds });
        }
        result
    }

    /// The verdict on what a check found: each warning printed once (`warning: PLACE:
    /// MESSAGE [RULE]`), then an error listing the errors (and the warnings, with
    /// `deny_warnings`) if there are any.
    pub(crate) fn verdict(
        &self,
        problems: &[Problem],
        what: &str,
        deny_warnings: bool,
    ) -> anyhow::Result<()> {
        let warnings: Vec<&Problem> = problems.iter().filter(|p| p.severity == Severity::Warning).collect();
        if !deny_warnings {
            for warning in &warnings {
                // Once per command: the same advice found again in a copy (dist checks the
                // workspace's compose file, then the context's) is not news.
                let seen = format!("{:?} {}", warning.rule, warning.message);
                if self.warned.borrow_mut().insert(seen) {
                    eprintln!("warning: {}", warning.line());
                }
            }
        }
        let failing: Vec<Problem> =
            problems.iter().filter(|p| deny_warnings || p.severity == Severity::Error).cloned().collect();
        if failing.is_empty() {
            return Ok(());
        }
        let mut report = problems_report(&failing, what);
        if deny_warnings && !warnings.is_empty() {
            report.push_str(
                "\n(warnings fail because of --deny-warnings or the config's `deny-warnings = true`)",
            );
        }
        anyhow::bail!("{report}")
    }

    /// The steps that finished, in order.
    pub(crate) fn steps(&self) -> Vec<Step> {
        self.steps.borrow().clone()
    }

    /// The steps and this process's peak memory, as JSON: what `--events` writes.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "steps": self.steps(), "peak_memory_bytes": peak_memory() })
    }
}

/// The most memory this process has held at once (its peak resident set), where the OS
/// says: not its children's (cargo, node), which are theirs to bound.
pub(crate) fn peak_memory() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes one rusage into the pointer it is given, which is valid.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: getrusage succeeded, so it filled the struct.
        let max_rss = u64::try_from(unsafe { usage.assume_init() }.ru_maxrss).ok()?;
        // Linux counts kilobytes; macOS counts bytes.
        Some(if cfg!(target_os = "macos") { max_rss } else { max_rss * 1024 })
    }
    #[cfg(not(unix))]
    None
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// 2.0 GiB, 1.2 MiB, 340 KiB, 512 B.
pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KiB", b as f64 / (1 << 10) as f64),
        b => format!("{b} B"),
    }
}

/// Left-aligned columns, two spaces apart.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_tables() {
        assert_eq!(super::size(1_300_000), "1.2 MiB");
        assert_eq!(super::size(2048), "2 KiB");
        let t = super::table(&[vec!["a".into(), "bb".into()], vec!["ccc".into(), "d".into()]]);
        assert_eq!(t, "  a    bb\n  ccc  d\n");
    }
}

/// Whether a problem stops the command: an error where the platform (Docker Desktop, its
/// CLI, the Marketplace's validator, Compose as Docker Desktop runs it) refuses the thing, or
/// the tool cannot go on; a warning for advice, which fails only with `--deny-warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Error,
    Warning,
}

/// One thing wrong with an input, found while checking it: every problem is reported at
/// once, so one run tells the user all there is to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Where: a config key, a label, a file in a variant, the archive.
    pub place: String,
    /// What is wrong and how to fix it.
    pub message: String,
    pub severity: Severity,
    /// The rule it breaks (`compose-unpinned-image`), where it is one of the rulebook's.
    pub rule: Option<&'static str>,
}

/// An error (of the tool's own inputs: its config, its flags, a file it cannot read).
pub(crate) fn problem(place: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem { place: place.into(), message: message.into(), severity: Severity::Error, rule: None }
}

impl Problem {
    fn line(&self) -> String {
        match self.rule {
            Some(rule) => format!("{}: {} [{rule}]", self.place, self.message),
            None => format!("{}: {}", self.place, self.message),
        }
    }
}

/// How many problems a report lists; the rest are counted (a crafted image can have
/// millions).
pub(crate) const SHOWN_PROBLEMS: usize = 50;

/// `{what} has N problem(s):`, one line for each of the first [`SHOWN_PROBLEMS`], and how
/// many more there are.
pub(crate) fn problems_report(problems: &[Problem], what: &str) -> String {
    let n = problems.len();
    let mut s = format!("{what} has {n} problem{}:", if n == 1 { "" } else { "s" });
    for p in problems.iter().take(SHOWN_PROBLEMS) {
        let warning = if p.severity == Severity::Warning { "warning: " } else { "" };
        s.push_str(&format!("\n  - {warning}{}", p.line()));
    }
    if n > SHOWN_PROBLEMS {
        s.push_str(&format!("\n  … and {} more", n - SHOWN_PROBLEMS));
    }
    s
}
