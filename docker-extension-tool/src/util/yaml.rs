//! YAML read into a small tree that keeps each node's line, for checks that name the line
//! of what they find (the compose file's). saphyr-parser (the maintained successor of
//! yaml-rust: 0.7 s to compile, no dependency the tool does not have) gives events with
//! their positions; this builds the first document from them. Bounded: aliases stay
//! references (no expansion, so no billion laughs), nesting is capped.

use saphyr_parser::{Event, Parser};

/// Deeper nesting is refused (a tree this deep is an attack, not a compose file).
const MAX_DEPTH: usize = 64;

/// A YAML value and the line (1-based) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub line: usize,
    /// The anchor (`&name`) on this node, as the parser numbers them (0: none).
    pub anchor: usize,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Scalar(String),
    Sequence(Vec<Node>),
    /// Keys and values in the file's order (keys are nodes: they have lines too).
    Mapping(Vec<(Node, Node)>),
    /// `*name`: the anchor it refers to (see [`Node::resolve`]).
    Alias(usize),
}

/// A YAML error: the position and the parser's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Node {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A mapping's entries (`None`: not a mapping).
    pub(crate) fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// This node, or the node an alias refers to, looked up in `document` (its root).
    pub(crate) fn resolve<'a>(&'a self, document: &'a Node) -> Option<&'a Node> {
        match self.value {
            Value::Alias(anchor) => document.find_anchor(anchor),
            _ => Some(self),
        }
    }

    fn find_anchor(&self, anchor: usize) -> Option<&Node> {
        if self.anchor == anchor {
            return Some(self);
        }
        match &self.value {
            Value::Sequence(items) => items.iter().find_map(|n| n.find_anchor(anchor)),
            Value::Mapping(entries) => {
                entries.iter().find_map(|(k, v)| k.find_anchor(anchor).or_else(|| v.find_anchor(anchor)))
            }
            Value::Scalar(_) | Value::Alias(_) => None,
        }
    }
}

/// The first document of `text` (`None`: an empty file).
pub(crate) fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    // Open collections: the node, and for a mapping the key waiting for its value.
    let mut open: Vec<(Node, Option<Node>)> = vec![];
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let line = span.start.line();
        let node = match event {
            Event::Scalar(value, _, anchor, _) => {
                Node { line, anchor, value: Value::Scalar(value.into_owned()) }
            }
            Event::Alias(anchor) => Node { line, anchor: 0, value: Value::Alias(anchor) },
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        line,
                        column: span.start.col() + 1,
                        message: format!("nested deeper than {MAX_DEPTH} levels"),
                    });
                }
                let value = match event {
                    Event::SequenceStart(..) => Value::Sequence(vec![]),
                    _ => Value::Mapping(vec![]),
                };
                open.push((Node { line, anchor, value }, None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match open.pop() {
                Some((node, _)) => node,
                None => continue,
            },
            Event::DocumentEnd => break,
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) => continue,
        };
        match open.last_mut() {
            None => return Ok(Some(node)),
            Some((Node { value: Value::Sequence(items), .. }, _)) => items.push(node),
            Some((Node { value: Value::Mapping(entries), .. }, waiting)) => match waiting.take() {
                None => *waiting = Some(node),
                Some(key) => entries.push((key, node)),
            },
            Some(_) => unreachable!("only collections are open"),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines_and_order() {
        let doc = parse("a: 1\nlist:\n  - x\n  - { y: 2 }\nb: two\n").unwrap().unwrap();
        let keys: Vec<(&str, usize)> =
            doc.entries().unwrap().iter().map(|(k, _)| (k.as_str().unwrap(), k.line)).collect();
        assert_eq!(keys, [("a", 1), ("list", 2), ("b", 5)]);
        let Value::Sequence(items) = &doc.get("list").unwrap().value else { panic!() };
        assert_eq!((items[0].as_str(), items[0].line), (Some("x"), 3));
        assert_eq!(items[1].get("y").unwrap().line, 4);
    }

    #[test]
    fn aliases_stay_references() {
        let doc = parse("base: &b { image: x }\nuse: *b\n").unwrap().unwrap();
        let used = doc.get("use").unwrap();
        assert!(matches!(used.value, Value::Alias(_)));
        assert_eq!(used.resolve(&doc).unwrap().get("image").unwrap().as_str(), Some("x"));
        // A billion laughs is a few nodes here.
        let laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c, *c]\n";
        assert!(parse(laughs).unwrap().is_some());
    }

    #[test]
    fn errors_name_the_line_and_nesting_is_capped() {
        let error = parse("services:\n  a:\n    image: [x\n").unwrap_err();
        assert!(error.line >= 3, "{error:?}");
        let error = parse("a: 'open\nb: c\n").unwrap_err();
        assert!(error.line >= 1 && !error.message.is_empty(), "{error:?}");
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper than 64 levels"));
        // Deeper still: the parser's own limit answers first, an error all the same.
        assert!(parse(&"[".repeat(100_000)).is_err());
        assert_eq!(parse("").unwrap(), None);
    }
}
