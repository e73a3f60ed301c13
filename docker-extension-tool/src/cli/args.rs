//! The one parser of every command's flags. A command declares them once, as a [`Spec`]
//! (each flag, its value's name and its help), in its own file; the usage text, the parse
//! and the `given twice` / `needs a value` / `unexpected option` errors all come from that
//! declaration, and the command turns the [`Parsed`] flags into its typed struct. lexopt
//! splits the words (`--flag=value`, `-h`): no proc-macro in an extension's xtask.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use camino::Utf8PathBuf;

/// A command, as the user sees it: its name, its flags and its help.
#[derive(Debug)]
pub(crate) struct Spec {
    pub name: &'static str,
    /// The line `cargo xtask help` lists the command with (`\n` continues it).
    pub summary: &'static str,
    /// What follows `cargo xtask NAME` in the usage line.
    pub synopsis: &'static str,
    /// What the command does: the usage's paragraphs.
    pub about: &'static str,
    pub options: &'static [Opt],
    /// How many positional arguments it takes at most (named in the synopsis).
    pub positionals: usize,
    /// What an argument beyond those means to say (appended to `unexpected argument`).
    pub stray_hint: &'static str,
    /// Takes every word after `--` as it is (`test`: cargo test's own arguments).
    pub rest: bool,
    /// Text after the options.
    pub notes: &'static str,
}

impl Spec {
    /// A command with no flags and no arguments (fill in the texts).
    pub(crate) const fn new(
        name: &'static str,
        summary: &'static str,
        synopsis: &'static str,
        about: &'static str,
    ) -> Spec {
        Spec {
            name,
            summary,
            synopsis,
            about,
            options: &[],
            positionals: 0,
            stray_hint: "",
            rest: false,
            notes: "",
        }
    }

    pub(crate) const fn options(self, options: &'static [Opt]) -> Spec {
        Spec { options, ..self }
    }

    pub(crate) const fn positionals(self, positionals: usize, stray_hint: &'static str) -> Spec {
        Spec { positionals, stray_hint, ..self }
    }

    pub(crate) const fn rest(self) -> Spec {
        Spec { rest: true, ..self }
    }

    pub(crate) const fn notes(self, notes: &'static str) -> Spec {
        Spec { notes, ..self }
    }

    fn option(&self, flag: &str) -> Option<&'static Opt> {
        self.options.iter().find(|o| o.flag == flag)
    }

    /// The command's usage text: the usage line, what it does, its options aligned.
    pub(crate) fn usage(&self) -> String {
        let mut text = format!("Usage: cargo xtask {} {}", self.name, self.synopsis).trim_end().to_string();
        if !self.about.is_empty() {
            text.push_str(&format!("\n\n{}", self.about));
        }
        let shown: Vec<(String, &str)> =
            self.options.iter().filter(|o| !o.hidden).map(|o| (o.label(), o.help)).collect();
        if !shown.is_empty() {
            text.push_str("\n\nOptions:");
            text.push_str(&aligned(&shown, 2));
        }
        if !self.notes.is_empty() {
            text.push_str(&format!("\n\n{}", self.notes));
        }
        text
    }

    /// Splits `words` (what follows the command's name) into its flags and arguments.
    pub(crate) fn parse(&'static self, words: Vec<String>) -> Result<Parsed, UsageError> {
        let mut parsed = Parsed { spec: Some(self), ..Parsed::default() };
        let mut words = words;
        if self.rest {
            if let Some(dash) = words.iter().position(|w| w == "--") {
                parsed.rest = words.split_off(dash + 1);
                words.pop();
            }
        }
        let mut parser = lexopt::Parser::from_args(words);
        loop {
            let arg = parser.next().map_err(|e| self.error(sentence(e)))?;
            let Some(arg) = arg else { break };
            match arg {
                lexopt::Arg::Long(name) => {
                    let flag = format!("--{name}");
                    let Some(opt) = self.option(&flag) else {
                        return Err(self.error(format!("unexpected option `{flag}`")));
                    };
                    if opt.value.is_some() {
                        let value =
                            parser.value().map_err(|_| self.error(format!("{flag} needs a value")))?;
                        let value = value
                            .into_string()
                            .map_err(|v| self.error(format!("{flag} {v:?} is not UTF-8")))?;
                        let values = parsed.values.entry(opt.flag).or_default();
                        if !opt.repeat && !values.is_empty() {
                            return Err(self.error(format!("{flag} is given twice")));
                        }
                        values.push(value);
                    } else if !parsed.switches.insert(opt.flag) {
                        return Err(self.error(format!("{flag} is given twice")));
                    }
                }
                lexopt::Arg::Short(letter) => {
                    return Err(self.error(format!("unexpected option `-{letter}`")));
                }
                lexopt::Arg::Value(value) => {
                    let value = value.to_string_lossy().into_owned();
                    if parsed.positionals.len() == self.positionals {
                        return Err(self.error(format!("unexpected argument `{value}`{}", self.stray_hint)));
                    }
                    parsed.positionals.push(value);
                }
            }
        }
        parsed.positionals.reverse();
        Ok(parsed)
    }

    /// A usage error of this command.
    pub(crate) fn error(&'static self, message: impl Into<String>) -> UsageError {
        UsageError { message: message.into(), command: Some(self) }
    }
}

/// Rows of `label  help`, the helps in one column; a help's `\n` continues in that column.
pub(crate) fn aligned(rows: &[(String, &str)], indent: usize) -> String {
    let width = rows.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for (label, help) in rows {
        let mut lines = help.lines();
        let first = lines.next().unwrap_or_default();
        text.push_str(&format!("\n{:indent$}{label:<width$}  {first}", ""));
        for line in lines {
            text.push_str(&format!("\n{:indent$}{:width$}  {}", "", "", line.trim_start()));
        }
    }
    text
}

/// One flag of a command.
#[derive(Debug)]
pub(crate) struct Opt {
    /// `--name`.
    pub flag: &'static str,
    /// The value's name in the usage (`PATH`), for a flag that takes one.
    pub value: Option<&'static str>,
    pub help: &'static str,
    /// May be given more than once (each value kept).
    pub repeat: bool,
    /// Left out of the usage (an internal flag every version keeps).
    pub hidden: bool,
}

impl Opt {
    /// A flag with no value.
    pub(crate) const fn switch(flag: &'static str, help: &'static str) -> Opt {
        Opt { flag, value: None, help, repeat: false, hidden: false }
    }

    /// A flag with a value: `--flag VALUE` or `--flag=VALUE`.
    pub(crate) const fn value(flag: &'static str, value: &'static str, help: &'static str) -> Opt {
        Opt { flag, value: Some(value), help, repeat: false, hidden: false }
    }

    pub(crate) const fn repeated(self) -> Opt {
        Opt { repeat: true, ..self }
    }

    pub(crate) const fn hidden(self) -> Opt {
        Opt { hidden: true, ..self }
    }

    fn label(&self) -> String {
        match self.value {
            Some(value) => format!("{} {value}", self.flag),
            None => self.flag.to_string(),
        }
    }
}

/// A usage error: printed with its command's usage (or the tool's), exit code 2.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UsageError {
    pub message: String,
    /// The command whose usage goes with the message; none: the tool's.
    pub command: Option<&'static Spec>,
}

impl PartialEq for Spec {
    fn eq(&self, other: &Spec) -> bool {
        self.name == other.name
    }
}

impl Eq for Spec {}

/// A command's words, split by its [`Spec`]: each flag read once by the command's own
/// parse, which asks only for flags the spec declares.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    spec: Option<&'static Spec>,
    switches: BTreeSet<&'static str>,
    values: BTreeMap<&'static str, Vec<String>>,
    /// In reverse: `positional` pops the next one.
    positionals: Vec<String>,
    rest: Vec<String>,
    /// The flags the command asked for (a test holds that it asks for every one).
    asked: BTreeSet<&'static str>,
}

impl Parsed {
    fn spec(&self) -> &'static Spec {
        self.spec.expect("a Parsed comes from Spec::parse")
    }

    fn ask(&mut self, flag: &str, takes_value: bool) -> &'static str {
        let spec = self.spec();
        let opt = spec
            .option(flag)
            .unwrap_or_else(|| panic!("`{}` asks for {flag}, which its Spec does not declare", spec.name));
        assert_eq!(opt.value.is_some(), takes_value, "`{}`: {flag} is declared otherwise", spec.name);
        self.asked.insert(opt.flag);
        opt.flag
    }

    /// Whether the switch was given.
    pub(crate) fn switch(&mut self, flag: &str) -> bool {
        let flag = self.ask(flag, false);
        self.switches.contains(flag)
    }

    /// The flag's value, as given.
    pub(crate) fn string(&mut self, flag: &str) -> Option<String> {
        let flag = self.ask(flag, true);
        self.values.get_mut(flag).and_then(Vec::pop)
    }

    /// Every value of a repeatable flag, in order.
    pub(crate) fn strings(&mut self, flag: &str) -> Vec<String> {
        let flag = self.ask(flag, true);
        self.values.remove(flag).unwrap_or_default()
    }

    pub(crate) fn path(&mut self, flag: &str) -> Option<Utf8PathBuf> {
        self.string(flag).map(Utf8PathBuf::from)
    }

    /// The flag's value, parsed: the type's error names the fix.
    pub(crate) fn parsed<T: FromStr<Err = String>>(&mut self, flag: &str) -> Result<Option<T>, UsageError> {
        match self.string(flag) {
            None => Ok(None),
            Some(value) => value.parse().map(Some).map_err(|e| self.error(format!("{flag} {value}: {e}"))),
        }
    }

    /// The next positional argument.
    pub(crate) fn positional(&mut self) -> Option<String> {
        self.positionals.pop()
    }

    /// The words after `--`.
    pub(crate) fn rest(&mut self) -> Vec<String> {
        std::mem::take(&mut self.rest)
    }

    /// A usage error of the command parsed.
    pub(crate) fn error(&self, message: impl Into<String>) -> UsageError {
        self.spec().error(message)
    }

    /// The declared flags the command's parse never asked for: each is a flag the user can
    /// give and the command ignores (a test holds that there are none).
    #[cfg(test)]
    pub(crate) fn unread(&self) -> Vec<&'static str> {
        self.spec().options.iter().map(|o| o.flag).filter(|f| !self.asked.contains(f)).collect()
    }
}

fn sentence(error: lexopt::Error) -> String {
    match error {
        lexopt::Error::MissingValue { option: Some(option) } => format!("{option} needs a value"),
        lexopt::Error::UnexpectedOption(option) => format!("unexpected option `{option}`"),
        lexopt::Error::UnexpectedArgument(arg) => format!("unexpected argument `{}`", arg.to_string_lossy()),
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: Spec = Spec::new("demo", "A demo", "[options] [PATH]", "Does nothing.")
        .options(&[
            Opt::switch("--quick", "Go fast"),
            Opt::value("--out", "DIR", "Where it goes\nand a second line"),
            Opt::value("--with", "KEY=VALUE", "Repeatable").repeated(),
            Opt::switch("--internal", "Not shown").hidden(),
        ])
        .positionals(1, ": demo takes one path");

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_usage_comes_from_the_declaration_aligned() {
        let expected = [
            "Usage: cargo xtask demo [options] [PATH]",
            "",
            "Does nothing.",
            "",
            "Options:",
            "  --quick           Go fast",
            "  --out DIR         Where it goes",
            "                    and a second line",
            "  --with KEY=VALUE  Repeatable",
        ];
        assert_eq!(SPEC.usage(), expected.join("\n"));
    }

    #[test]
    fn flags_values_and_arguments_are_read_once_each() {
        let mut parsed = SPEC.parse(words("--quick --out=a --with x=1 here --with y=2")).unwrap();
        assert!(parsed.switch("--quick"));
        assert_eq!(parsed.path("--out").as_deref(), Some(camino::Utf8Path::new("a")));
        assert_eq!(parsed.strings("--with"), ["x=1", "y=2"]);
        assert_eq!(parsed.positional().as_deref(), Some("here"));
        assert!(!parsed.switch("--internal"));
        assert!(parsed.unread().is_empty());
        for (args, says) in [
            ("--quick --quick", "--quick is given twice"),
            ("--out a --out b", "--out is given twice"),
            ("--out", "--out needs a value"),
            ("--quick=yes", "--quick takes no value"),
            ("--frob", "unexpected option `--frob`"),
            ("-x", "unexpected option `-x`"),
            ("a b", "unexpected argument `b`: demo takes one path"),
        ] {
            let error = SPEC.parse(words(args)).unwrap_err();
            assert_eq!(error.message, says, "{args}");
            assert_eq!(error.command, Some(&SPEC));
        }
    }

    #[test]
    #[should_panic(expected = "does not declare")]
    fn asking_for_an_undeclared_flag_is_a_bug_found_at_once() {
        let mut parsed = SPEC.parse(vec![]).unwrap();
        parsed.switch("--slow");
    }
}
