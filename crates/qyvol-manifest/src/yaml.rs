//! A small YAML tree that remembers where each value was written.
//!
//! Built from saphyr-parser's events rather than a serde deserializer so that
//! every value keeps its line and column, duplicate keys can be refused
//! (serde-style loaders silently keep the last one) and the decoder can say
//! exactly which field is wrong and where.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }

    pub fn pair(self) -> (usize, usize) {
        (self.line, self.col)
    }
}

/// A value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair; keys are always text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// A scalar as written; typing it (null, bool, number, string) is left to the
/// decoder, which knows what each field expects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub text: String,
    /// Plain (unquoted, not a block scalar): only plain scalars can be null,
    /// booleans or numbers.
    pub plain: bool,
    /// Explicit `!!str`, which makes even a plain `null` a string.
    pub forced_str: bool,
}

impl Scalar {
    /// YAML 1.2 core schema null: `~`, `null` in three casings, or nothing.
    pub fn is_null(&self) -> bool {
        self.plain
            && !self.forced_str
            && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// YAML 1.2 core schema booleans.
    pub fn as_bool(&self) -> Option<bool> {
        if self.forced_str {
            return None;
        }
        match self.text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }

    /// Whether a plain scalar reads as something other than a string, so
    /// messages can show it bare (`got 5`) rather than quoted.
    pub fn looks_typed(&self) -> bool {
        self.plain
            && !self.forced_str
            && (self.as_bool().is_some()
                || self.text.parse::<f64>().is_ok()
                || self.text.parse::<i128>().is_ok())
    }
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.is_null())
    }

    /// How the value is named in "expected X, got Y" messages.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
            Value::Scalar(s) if s.is_null() => "nothing (null)".into(),
            Value::Scalar(s) if s.looks_typed() => s.text.clone(),
            Value::Scalar(s) => format!("{:?}", s.text),
        }
    }
}

/// A failure to read the YAML, at a place when there is one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub pos: Option<Pos>,
    pub kind: YamlErrorKind,
    /// Dotted path of the value involved, when known.
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum YamlErrorKind {
    /// The parser's own complaint (bad indentation, unclosed quote...).
    Syntax,
    /// Well-formed YAML that a manifest may not use (duplicate keys,
    /// custom tags, several documents, runaway aliases).
    Structure,
    Duplicate,
}

/// Nesting deeper than this is no manifest; refusing it keeps every
/// recursive walk over the tree (decode, clone, drop) far from the stack's end.
const MAX_DEPTH: usize = 48;
/// Aliases can copy a subtree many times over; cap the total so a few lines
/// of YAML cannot expand into gigabytes ("billion laughs").
const MAX_NODES: usize = 100_000;

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        lines: HashMap<String, usize>,
        pending_key: Option<(String, Pos)>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
}

/// Parses `text` into a tree; `Ok(None)` when it holds no document at all
/// (empty, or only comments).
pub(crate) fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    // saphyr-parser has `unreachable!()`s for states its authors believe
    // impossible; a manifest must never take the process down, so a panic in
    // it becomes an ordinary syntax error.
    std::panic::catch_unwind(|| build(text)).unwrap_or_else(|_| {
        Err(YamlError {
            pos: None,
            kind: YamlErrorKind::Syntax,
            field: None,
            message: "the YAML parser failed on this input".into(),
        })
    })
}

fn build(text: &str) -> Result<Option<Node>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        stack: Vec::new(),
        root: None,
        documents: 0,
        anchors: HashMap::new(),
        nodes: 0,
    };
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(syntax_error)?;
        if !builder.on_event(event, &span)? {
            break;
        }
    }
    Ok(builder.root)
}

fn syntax_error(err: ScanError) -> YamlError {
    let mut message = err.info().to_string();
    if message.contains("tab") {
        message.push_str("; indent with spaces, not tabs");
    }
    YamlError {
        pos: Some(Pos {
            line: err.marker().line(),
            col: err.marker().col() + 1,
        }),
        kind: YamlErrorKind::Syntax,
        field: None,
        message,
    }
}

impl Builder {
    fn structure(&self, pos: Pos, message: impl Into<String>) -> YamlError {
        let path = self.path();
        YamlError {
            pos: Some(pos),
            kind: YamlErrorKind::Structure,
            field: (!path.is_empty()).then_some(path),
            message: message.into(),
        }
    }

    /// Dotted path of the value about to be attached, from the open frames.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => path.push_str(&format!("[{}]", items.len())),
                Frame::Map {
                    pending_key: Some((key, _)),
                    ..
                } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Map { .. } => {}
            }
        }
        path
    }

    fn check_tag(&self, tag: Option<&Tag>, pos: Pos) -> Result<bool, YamlError> {
        match tag {
            None => Ok(false),
            Some(tag) if tag.is_yaml_core_schema() => Ok(tag.suffix == "str"),
            Some(tag) => Err(self.structure(
                pos,
                format!(
                    "YAML tag {}{} is not supported in a manifest; remove it",
                    tag.handle, tag.suffix
                ),
            )),
        }
    }

    fn open(&mut self, frame: Frame, pos: Pos) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.structure(
                pos,
                format!(
                    "values nested more than {MAX_DEPTH} levels deep; a manifest is much flatter"
                ),
            ));
        }
        self.count(1, pos)?;
        self.stack.push(frame);
        Ok(())
    }

    fn count(&mut self, nodes: usize, pos: Pos) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(self.structure(
                pos,
                format!("more than {MAX_NODES} values (after expanding aliases); a manifest is much smaller"),
            ));
        }
        Ok(())
    }

    /// Handles one event; `Ok(false)` once the stream is over.
    fn on_event(&mut self, event: Event<'_>, span: &Span) -> Result<bool, YamlError> {
        let pos = Pos::of(span);
        match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(false),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(YamlError {
                        pos: Some(pos),
                        kind: YamlErrorKind::Structure,
                        field: None,
                        message: "a second YAML document starts here; a .qyv file holds one document, remove the extra \"---\"".into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = self.check_tag(tag.as_deref(), pos)?;
                self.count(1, pos)?;
                let node = Node {
                    pos,
                    value: Value::Scalar(Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                        forced_str,
                    }),
                };
                self.complete(node, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(tag.as_deref(), pos)?;
                let frame = Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                };
                self.open(frame, pos)?;
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(tag.as_deref(), pos)?;
                let frame = Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    lines: HashMap::new(),
                    pending_key: None,
                };
                self.open(frame, pos)?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(pos)?,
            Event::Alias(id) => self.alias(id, pos)?,
        }
        Ok(true)
    }

    /// The end of a list or mapping: its value is complete.
    fn close(&mut self, pos: Pos) -> Result<(), YamlError> {
        let node = match self.stack.pop() {
            Some(Frame::Seq { pos, anchor, items }) => (
                Node {
                    pos,
                    value: Value::Seq(items),
                },
                anchor,
            ),
            Some(Frame::Map {
                pos,
                anchor,
                entries,
                ..
            }) => (
                Node {
                    pos,
                    value: Value::Map(entries),
                },
                anchor,
            ),
            None => return Err(self.structure(pos, "unbalanced YAML structure")),
        };
        self.complete(node.0, node.1)
    }

    /// An alias: a copy of the value its anchor names, counted again.
    fn alias(&mut self, id: usize, pos: Pos) -> Result<(), YamlError> {
        let Some((anchored, depth)) = self.anchors.get(&id) else {
            return Err(self.structure(
                pos,
                "this alias refers to the value that contains it; a manifest cannot be recursive",
            ));
        };
        if self.stack.len() + depth > MAX_DEPTH {
            return Err(self.structure(
                pos,
                format!(
                    "values nested more than {MAX_DEPTH} levels deep (after expanding aliases)"
                ),
            ));
        }
        let mut node = anchored.clone();
        let size = size(&node);
        self.count(size, pos)?;
        // Point at the alias: that is where the value is used.
        node.pos = pos;
        self.complete(node, 0)
    }

    /// Attaches a finished value to its parent (or makes it the root).
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            let depth = depth(&node);
            self.anchors.insert(anchor, (node.clone(), depth));
        }
        let path = self.path();
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                lines,
                pending_key,
                ..
            }) => match pending_key.take() {
                Some((key, key_pos)) => entries.push(Entry {
                    key,
                    key_pos,
                    value: node,
                }),
                None => {
                    let Value::Scalar(scalar) = node.value else {
                        return Err(YamlError {
                            pos: Some(node.pos),
                            kind: YamlErrorKind::Structure,
                            field: (!path.is_empty()).then_some(path),
                            message: format!("a key must be plain text, got {}", node.describe()),
                        });
                    };
                    let key = scalar.text;
                    if let Some(first) = lines.get(&key) {
                        let field = if path.is_empty() {
                            key.clone()
                        } else {
                            format!("{path}.{key}")
                        };
                        return Err(YamlError {
                            pos: Some(node.pos),
                            kind: YamlErrorKind::Duplicate,
                            field: Some(field),
                            message: format!(
                                "given twice, on lines {first} and {}; keep one",
                                node.pos.line
                            ),
                        });
                    }
                    lines.insert(key.clone(), node.pos.line);
                    *pending_key = Some((key, node.pos));
                }
            },
        }
        Ok(())
    }
}

/// Levels of nesting below and including `node`; bounded by `MAX_DEPTH`,
/// so the recursion is too.
fn depth(node: &Node) -> usize {
    match &node.value {
        Value::Scalar(_) => 1,
        Value::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => 1 + entries.iter().map(|e| depth(&e.value)).max().unwrap_or(0),
    }
}

fn size(node: &Node) -> usize {
    match &node.value {
        Value::Scalar(_) => 1,
        Value::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Map(entries) => 1 + entries.iter().map(|e| 1 + size(&e.value)).sum::<usize>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        parse(text).unwrap().unwrap()
    }

    fn scalar(node: &Node) -> &Scalar {
        match &node.value {
            Value::Scalar(s) => s,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    fn entries(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Map(e) => e,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let root = tree("name: x\nargs:\n  - a\n  - b\nenv: {A: b}\n");
        assert_eq!(root.pos, Pos { line: 1, col: 1 });
        let e = entries(&root);
        assert_eq!(e[0].key, "name");
        assert_eq!(e[0].key_pos, Pos { line: 1, col: 1 });
        assert_eq!(e[0].value.pos, Pos { line: 1, col: 7 });
        let Value::Seq(items) = &e[1].value.value else {
            panic!()
        };
        assert_eq!(items[1].pos, Pos { line: 4, col: 5 });
        assert_eq!(e[2].value.pos, Pos { line: 5, col: 6 });
    }

    #[test]
    fn scalars_keep_style() {
        let root = tree("a: null\nb: 'null'\nc: !!str null\nd:\ne: TRUE\nf: \"true\"\n");
        let e = entries(&root);
        assert!(scalar(&e[0].value).is_null());
        assert!(!scalar(&e[1].value).is_null());
        assert!(!scalar(&e[2].value).is_null());
        assert!(scalar(&e[3].value).is_null());
        assert_eq!(scalar(&e[4].value).as_bool(), Some(true));
        assert_eq!(scalar(&e[5].value).as_bool(), Some(true));
        assert_eq!(e[4].value.describe(), "TRUE");
        assert_eq!(e[5].value.describe(), "\"true\"");
    }

    #[test]
    fn empty_inputs_have_no_document() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("# only a comment\n\n"), Ok(None));
        assert!(parse("---\n").unwrap().unwrap().is_null());
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let err = parse("name: a\nenv:\n  A: 1\n  A: 2\n").unwrap_err();
        assert_eq!(err.kind, YamlErrorKind::Duplicate);
        assert_eq!(err.pos, Some(Pos { line: 4, col: 3 }));
        assert_eq!(err.field.as_deref(), Some("env.A"));
        assert_eq!(err.message, "given twice, on lines 3 and 4; keep one");
    }

    #[test]
    fn aliases_are_expanded() {
        let root = tree("a: &x [1, 2]\nb: *x\n");
        let e = entries(&root);
        assert_eq!(e[1].value.pos, Pos { line: 2, col: 4 });
        let (Value::Seq(a), Value::Seq(b)) = (&e[0].value.value, &e[1].value.value) else {
            panic!()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn recursive_alias_is_refused() {
        let err = parse("a: &x [*x]\n").unwrap_err();
        assert_eq!(err.pos, Some(Pos { line: 1, col: 8 }));
        assert_eq!(err.field.as_deref(), Some("a[0]"));
        assert!(err.message.contains("refers to the value that contains it"));
    }

    #[test]
    fn billion_laughs_is_capped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("after expanding aliases"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("a: {}{}\n", "[".repeat(60), "]".repeat(60));
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("nested more than 48 levels"),
            "{err:?}"
        );
        // Far deeper input trips the parser's own limit first: still an error.
        let text = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&text).is_err());
        let text: String = (0..2000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        assert!(parse(&text).is_err());
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("name: x\nperm:\n\tfs: read\n").unwrap_err();
        assert_eq!(err.kind, YamlErrorKind::Syntax);
        assert_eq!(err.pos, Some(Pos { line: 3, col: 2 }));
        assert!(err.message.ends_with("indent with spaces, not tabs"));
    }

    #[test]
    fn custom_tags_and_complex_keys_are_refused() {
        let err = parse("a: !foo b\n").unwrap_err();
        assert_eq!(
            err.message,
            "YAML tag !foo is not supported in a manifest; remove it"
        );
        let err = parse("? [a]\n: b\n").unwrap_err();
        assert_eq!(err.message, "a key must be plain text, got a list");
    }

    #[test]
    fn second_document_is_refused() {
        let err = parse("a: b\n---\nc: d\n").unwrap_err();
        assert_eq!(err.pos, Some(Pos { line: 2, col: 1 }));
    }
}
