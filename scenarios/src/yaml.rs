//! YAML (and JSON, which is YAML) read into untyped documents that remember where every
//! node came from, and a serde `Deserializer` over them that reports the field path and the
//! line of any typed-decoding error.
//!
//! The route is kubectl's: YAML text → untyped value (`serde_json::Value`) → typed struct.
//! serde-saphyr parses the text (syntax errors carry line and column); each node's position
//! is kept in a side table keyed by its field path; [`Document::decode`] then drives the
//! typed `Deserialize` of the target over the value, tracking the path as it descends, so
//! an error deep inside a manifest still says `workloads.web[0].spec.replicas` and the line.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

use crate::error::{At, Pos, ScenarioError};

// ---------------------------------------------------------------------------------------
// Paths

/// `parent.key`, or `key` at the root.
pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The path one level up: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``.
fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

// ---------------------------------------------------------------------------------------
// Positions

#[derive(Clone, Copy, Debug)]
struct NodeSpan {
    /// Where the mapping key naming this node is, if it has one.
    key: Option<Pos>,
    value: Pos,
}

type Spans = BTreeMap<String, NodeSpan>;

/// How positions inside parsed text map to positions in the file that holds it.
#[derive(Clone, Copy, Debug)]
pub enum PosMap {
    /// The text is the whole file.
    Identity,
    /// The text is a literal block scalar (`|`) whose first content line is at `first`;
    /// every content line was indented by `first.column - 1` columns.
    Block { first: Pos },
    /// Positions inside the text cannot be mapped: point at the string itself.
    Fixed(Pos),
}

impl PosMap {
    fn apply(self, pos: Pos) -> Pos {
        match self {
            PosMap::Identity => pos,
            PosMap::Block { first } => Pos {
                line: first.line + pos.line - 1,
                column: first.column - 1 + pos.column,
            },
            PosMap::Fixed(at) => at,
        }
    }

    /// The mapping for a string value found at `at` in `source`: exact when the string is a
    /// literal block scalar whose lines appear verbatim (after the indentation) in the
    /// source, otherwise fixed at the string's own position.
    pub fn for_embedded(source: &str, at: Pos, text: &str) -> PosMap {
        let source_lines: Vec<&str> = source.lines().collect();
        let indent = at.column.saturating_sub(1) as usize;
        let first = at.line as usize;
        if first == 0 {
            return PosMap::Fixed(at);
        }
        let verbatim = text.lines().enumerate().all(|(i, line)| {
            let Some(source_line) = source_lines.get(first - 1 + i) else {
                return false;
            };
            if line.is_empty() {
                return source_line.trim().is_empty();
            }
            source_line.len() >= indent
                && source_line[..indent].chars().all(|c| c == ' ')
                && &source_line[indent..] == line
        });
        if verbatim {
            PosMap::Block { first: at }
        } else {
            PosMap::Fixed(at)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parsing

/// A YAML node as serde-saphyr hands it over, with its position.
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                de::Deserialize::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::UInt(v))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
                i64::try_from(v)
                    .map(Node::Int)
                    .map_err(|_| E::custom(format!("integer {v} is out of range")))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
                u64::try_from(v)
                    .map(Node::UInt)
                    .map_err(|_| E::custom(format!("integer {v} is out of range")))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<Node>>()? {
                    let value = map.next_value::<Spanned<Node>>()?;
                    entries.push((key, value));
                }
                Ok(Node::Map(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

fn pos_of<T>(spanned: &Spanned<T>) -> Pos {
    Pos {
        line: u32::try_from(spanned.referenced.line()).unwrap_or(u32::MAX),
        column: u32::try_from(spanned.referenced.column()).unwrap_or(u32::MAX),
    }
}

struct Converter<'a> {
    spans: &'a mut Spans,
    map: PosMap,
    file: &'a str,
}

impl Converter<'_> {
    fn at(&self, path: &str, pos: Pos) -> At {
        At {
            file: self.file.to_string(),
            pos: Some(self.map.apply(pos)),
            path: path.to_string(),
        }
    }

    fn convert(
        &mut self,
        node: Spanned<Node>,
        path: String,
        key: Option<Pos>,
    ) -> Result<Value, ScenarioError> {
        let pos = pos_of(&node);
        let value = match node.value {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Int(i) => Value::Number(Number::from(i)),
            Node::UInt(u) => Value::Number(Number::from(u)),
            Node::Float(f) => match Number::from_f64(f) {
                Some(n) => Value::Number(n),
                None => {
                    return Err(ScenarioError::invalid(
                        self.at(&path, pos),
                        format!("{f} is not a finite number"),
                    ));
                }
            },
            Node::Str(s) => Value::String(s),
            Node::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (index, item) in items.into_iter().enumerate() {
                    out.push(self.convert(item, join_index(&path, index), None)?);
                }
                Value::Array(out)
            }
            Node::Map(entries) => {
                let mut out = Map::new();
                for (key_node, value_node) in entries {
                    let key_pos = pos_of(&key_node);
                    let key = match key_node.value {
                        Node::Str(s) => s,
                        Node::Int(i) => i.to_string(),
                        Node::UInt(u) => u.to_string(),
                        Node::Bool(b) => b.to_string(),
                        Node::Float(f) => f.to_string(),
                        Node::Null => "null".to_string(),
                        Node::Seq(_) | Node::Map(_) => {
                            return Err(ScenarioError::invalid(
                                self.at(&path, key_pos),
                                "a mapping key must be a plain value, not a list or a mapping",
                            ));
                        }
                    };
                    let child = join_key(&path, &key);
                    let value = self.convert(value_node, child, Some(key_pos))?;
                    out.insert(key, value);
                }
                Value::Object(out)
            }
        };
        self.spans.insert(
            path,
            NodeSpan {
                key: key.map(|k| self.map.apply(k)),
                value: self.map.apply(pos),
            },
        );
        Ok(value)
    }
}

/// serde-saphyr's options: YAML 1.2 booleans only (`yes` stays a string), and `0644` read
/// as octal as kubectl reads it.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        legacy_octal_numbers: true,
        strict_booleans: true,
        with_snippet: false,
    }
}

/// Parses `text` (the contents of `file`, or a string embedded in it at `map`) into its
/// non-empty documents. With `indexed`, document `i` gets the path `root[i]`; otherwise
/// every document is rooted at `root`.
pub fn parse_documents(
    text: &str,
    file: &str,
    root: &str,
    indexed: bool,
    map: PosMap,
) -> Result<Vec<Document>, ScenarioError> {
    let nodes: Vec<Spanned<Node>> = serde_saphyr::from_multiple_with_options(text, yaml_options())
        .map_err(|error| {
            let pos = error.location().map(|location| Pos {
                line: u32::try_from(location.line()).unwrap_or(u32::MAX),
                column: u32::try_from(location.column()).unwrap_or(u32::MAX),
            });
            let mut message = error.to_string();
            if let Some(pos) = pos {
                let suffix = format!(" at line {}, column {}", pos.line, pos.column);
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_string();
                }
            }
            let near = pos.and_then(|p| enclosing_path(text, p.line as usize));
            let (path, near) = match near {
                Some((document, near)) => {
                    let root = if indexed {
                        join_index(root, document)
                    } else {
                        root.to_string()
                    };
                    (root.clone(), format!(" near {}", join_key(&root, &near)))
                }
                None => (root.to_string(), String::new()),
            };
            ScenarioError::invalid(
                At {
                    file: file.to_string(),
                    pos: pos.map(|p| map.apply(p)),
                    path,
                },
                format!("YAML syntax error{near}: {message}"),
            )
        })?;
    let file_name: Rc<str> = Rc::from(file);
    let mut documents = Vec::with_capacity(nodes.len());
    for (index, node) in nodes.into_iter().enumerate() {
        let path = if indexed {
            join_index(root, index)
        } else {
            root.to_string()
        };
        let mut spans = Spans::new();
        let value = Converter {
            spans: &mut spans,
            map,
            file,
        }
        .convert(node, path.clone(), None)?;
        documents.push(Document {
            value,
            root: path,
            file: file_name.clone(),
            spans: Rc::new(spans),
        });
    }
    Ok(documents)
}

/// A line's indentation and content, unless it is blank or a comment.
fn significant(line: &str) -> Option<(usize, &str)> {
    let content = line.trim_start();
    if content.is_empty() || content.starts_with('#') {
        return None;
    }
    Some((line.len() - content.len(), content.trim_end()))
}

/// The key a block-style line starts with, `key: ...` or `key:`.
fn line_key(content: &str) -> Option<&str> {
    let (key, rest) = content.split_once(':')?;
    let plain = !key.is_empty()
        && !key.starts_with(['{', '[', '"', '\'', '&', '*', '!', '|', '>'])
        && !key.contains(' ');
    (plain && (rest.is_empty() || rest.starts_with(' '))).then_some(key)
}

/// A best guess, from indentation, at the field a syntax error on `line` (1-based) is in:
/// the key on that line (or the nearest one above) and the keys and list items enclosing
/// it, as `cluster.nodePools[0].cpu`; with the index of the document it is in. Only block
/// style is understood; for flow style there is no guess.
fn enclosing_path(text: &str, line: usize) -> Option<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let last = line.checked_sub(1)?.min(lines.len().checked_sub(1)?);
    let document = lines[..=last]
        .iter()
        .filter(|l| l.starts_with("---"))
        .count()
        .saturating_sub(usize::from(
            lines.first().is_some_and(|l| l.starts_with("---")),
        ));
    let mut segments: Vec<String> = Vec::new();
    // Indentation of the innermost node found so far; enclosing lines have less.
    let mut limit = usize::MAX;
    for index in (0..=last).rev() {
        let Some((indent, content)) = significant(lines[index]) else {
            continue;
        };
        if content.starts_with("---") {
            break;
        }
        let (item_indent, key_indent, rest) = match content.strip_prefix("- ") {
            Some(rest) => (Some(indent), indent + 2, rest.trim_start()),
            None if content == "-" => (Some(indent), indent + 2, ""),
            None => (None, indent, content),
        };
        if key_indent < limit
            && let Some(key) = line_key(rest)
        {
            segments.push(key.to_string());
            limit = key_indent;
        }
        if let Some(item_indent) = item_indent
            && item_indent < limit
        {
            // Count the earlier items of the same list.
            let mut position = 0;
            for earlier in lines[..index].iter().rev() {
                let Some((earlier_indent, earlier_content)) = significant(earlier) else {
                    continue;
                };
                if earlier_indent < item_indent || earlier_content.starts_with("---") {
                    break;
                }
                if earlier_indent == item_indent
                    && (earlier_content.starts_with("- ") || earlier_content == "-")
                {
                    position += 1;
                }
            }
            segments.push(format!("[{position}]"));
            limit = item_indent;
        }
        if limit == 0 {
            break;
        }
    }
    if segments.is_empty() {
        return None;
    }
    let mut path = String::new();
    for segment in segments.iter().rev() {
        if segment.starts_with('[') || path.is_empty() {
            path.push_str(segment);
        } else {
            path.push('.');
            path.push_str(segment);
        }
    }
    Some((document, path))
}

// ---------------------------------------------------------------------------------------
// Documents

/// An untyped value (`serde_json::Value`) with the file and positions it came from.
#[derive(Clone, Debug)]
pub struct Document {
    pub value: Value,
    /// The path of this document's root in the scenario (`""`, `workloads.web[1]`).
    pub root: String,
    pub file: Rc<str>,
    spans: Rc<Spans>,
}

impl Document {
    /// A bare value with no file behind it (tests, values built in code).
    pub fn detached(value: Value, file: &str) -> Document {
        Document {
            value,
            root: String::new(),
            file: Rc::from(file),
            spans: Rc::new(Spans::new()),
        }
    }

    /// Where the value at `path` is (or its nearest ancestor that has a position).
    pub fn at(&self, path: &str) -> At {
        At {
            file: self.file.to_string(),
            pos: self.lookup(path).map(|span| span.value),
            path: path.to_string(),
        }
    }

    /// Where the field at `relative` (a path below this document's root; `""` is the root
    /// itself) is.
    pub fn field_at(&self, relative: &str) -> At {
        if relative.is_empty() {
            self.at(&self.root)
        } else {
            self.at(&join_key(&self.root, relative))
        }
    }

    /// Invalid input at the field `relative` to this document's root: the error of every
    /// reader that converts a document field by field (manifests, scheduler configuration).
    pub fn invalid(&self, relative: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::invalid(self.field_at(relative), message)
    }

    /// Where the key naming the node at `path` is (falls back to the node itself).
    pub fn key_at(&self, path: &str) -> At {
        let pos = match self.spans.get(path) {
            Some(span) => span.key.or(Some(span.value)),
            None => self.lookup(path).map(|span| span.value),
        };
        At {
            file: self.file.to_string(),
            pos,
            path: path.to_string(),
        }
    }

    fn lookup(&self, path: &str) -> Option<NodeSpan> {
        let mut current = Some(path);
        while let Some(p) = current {
            if let Some(span) = self.spans.get(p) {
                return Some(*span);
            }
            current = parent_path(p);
        }
        None
    }

    /// The position of the value at `path`, if known exactly.
    pub fn pos(&self, path: &str) -> Option<Pos> {
        self.spans.get(path).map(|span| span.value)
    }

    /// The sub-document under `key` of this document's root mapping.
    pub fn child(&self, key: &str) -> Option<Document> {
        let value = self.value.get(key)?.clone();
        Some(Document {
            value,
            root: join_key(&self.root, key),
            file: self.file.clone(),
            spans: self.spans.clone(),
        })
    }

    /// The `index`th item of this document's root list.
    pub fn item(&self, index: usize) -> Option<Document> {
        let value = self.value.get(index)?.clone();
        Some(Document {
            value,
            root: join_index(&self.root, index),
            file: self.file.clone(),
            spans: self.spans.clone(),
        })
    }

    /// Decodes the document into `T`. With `strict`, a field that `T` ignores is an error
    /// (`unknown field`), as `kubectl apply --validate=strict` treats it.
    pub fn decode<T: DeserializeOwned>(&self, strict: bool) -> Result<T, ScenarioError> {
        T::deserialize(Tracked {
            value: &self.value,
            path: self.root.clone(),
            strict,
        })
        .map_err(|error| {
            let path = error.path.unwrap_or_else(|| self.root.clone());
            let at = if error.at_key {
                self.key_at(&path)
            } else {
                self.at(&path)
            };
            ScenarioError::invalid(at, error.message)
        })
    }
}

// ---------------------------------------------------------------------------------------
// The path-tracking deserializer

/// An error raised while decoding, with the path of the node it was raised at.
#[derive(Debug)]
pub struct DecodeError {
    message: String,
    path: Option<String>,
    /// Raised while reading a mapping key (an unknown field): point at the key.
    at_key: bool,
}

impl DecodeError {
    fn located(mut self, path: &str, at_key: bool) -> DecodeError {
        if self.path.is_none() {
            self.path = Some(path.to_string());
            self.at_key = at_key;
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError {
            message: msg.to_string(),
            path: None,
            at_key: false,
        }
    }
}

struct Tracked<'a> {
    value: &'a Value,
    path: String,
    strict: bool,
}

impl<'a> Tracked<'a> {
    fn locate<T>(&self, result: Result<T, DecodeError>) -> Result<T, DecodeError> {
        result.map_err(|e| e.located(&self.path, false))
    }
}

impl<'de> de::Deserializer<'de> for Tracked<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(SeqTracker {
                items: items.iter(),
                index: 0,
                path: &self.path,
                strict: self.strict,
            }),
            Value::Object(map) => visitor.visit_map(MapTracker {
                entries: map.iter(),
                pending: None,
                path: &self.path,
                strict: self.strict,
            }),
        };
        self.locate(result)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.value.is_null() {
            let result = visitor.visit_none();
            self.locate(result)
        } else {
            let path = self.path.clone();
            visitor
                .visit_some(self)
                .map_err(|e| e.located(&path, false))
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let path = self.path.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.located(&path, false))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let result = match self.value {
            Value::String(variant) => visitor.visit_enum(EnumTracker {
                variant,
                value: None,
                path: &self.path,
                strict: self.strict,
            }),
            Value::Object(map) if map.len() == 1 => {
                let (variant, value) = map.iter().next().expect("one entry");
                visitor.visit_enum(EnumTracker {
                    variant,
                    value: Some(value),
                    path: &self.path,
                    strict: self.strict,
                })
            }
            _ => Err(de::Error::invalid_type(unexpected(self.value), &visitor)),
        };
        self.locate(result)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.strict {
            let field = self.path.rsplit(['.', '[']).next().unwrap_or("");
            return Err(DecodeError {
                message: format!("unknown field {field:?}"),
                path: Some(self.path.clone()),
                at_key: true,
            });
        }
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => de::Unexpected::Unsigned(u),
            (None, Some(i)) => de::Unexpected::Signed(i),
            _ => de::Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct SeqTracker<'a, 'p> {
    items: std::slice::Iter<'a, Value>,
    index: usize,
    path: &'p str,
    strict: bool,
}

impl<'de> de::SeqAccess<'de> for SeqTracker<'de, '_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        let Some(value) = self.items.next() else {
            return Ok(None);
        };
        let path = join_index(self.path, self.index);
        self.index += 1;
        seed.deserialize(Tracked {
            value,
            path,
            strict: self.strict,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapTracker<'a, 'p> {
    entries: serde_json::map::Iter<'a>,
    pending: Option<(&'a Value, String)>,
    path: &'p str,
    strict: bool,
}

impl<'de> de::MapAccess<'de> for MapTracker<'de, '_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let path = join_key(self.path, key);
        let decoded = seed
            .deserialize(KeyDeserializer { key })
            .map_err(|e| e.located(&path, true))?;
        self.pending = Some((value, path));
        Ok(Some(decoded))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let (value, path) = self
            .pending
            .take()
            .expect("serde asked for a value before its key");
        seed.deserialize(Tracked {
            value,
            path,
            strict: self.strict,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct KeyDeserializer<'a> {
    key: &'a str,
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_borrowed_str(self.key)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct EnumTracker<'a, 'p> {
    variant: &'a str,
    value: Option<&'a Value>,
    path: &'p str,
    strict: bool,
}

impl<'de, 'p> de::EnumAccess<'de> for EnumTracker<'de, 'p> {
    type Error = DecodeError;
    type Variant = VariantTracker<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantTracker<'de>), DecodeError> {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        let path = match self.value {
            Some(_) => join_key(self.path, self.variant),
            None => self.path.to_string(),
        };
        Ok((
            variant,
            VariantTracker {
                value: self.value,
                path,
                strict: self.strict,
            },
        ))
    }
}

struct VariantTracker<'a> {
    value: Option<&'a Value>,
    path: String,
    strict: bool,
}

impl<'de> de::VariantAccess<'de> for VariantTracker<'de> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        match self.value {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(unexpected(other), &"no value")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        match self.value {
            Some(value) => seed.deserialize(Tracked {
                value,
                path: self.path,
                strict: self.strict,
            }),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"a value",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match self.value {
            Some(value) => de::Deserializer::deserialize_any(
                Tracked {
                    value,
                    path: self.path,
                    strict: self.strict,
                },
                visitor,
            ),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"a list",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.tuple_variant(0, visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Pool {
        name: String,
        count: u32,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Config {
        node_pools: Vec<Pool>,
        comment: Option<String>,
    }

    fn one(text: &str) -> Document {
        let mut docs = parse_documents(text, "s.yaml", "", false, PosMap::Identity).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn decodes_and_keeps_positions() {
        let doc = one("nodePools:\n  - name: node\n    count: 3\n");
        let config: Config = doc.decode(true).unwrap();
        assert_eq!(config.node_pools[0].count, 3);
        assert_eq!(config.comment, None);
        let at = doc.at("nodePools[0].count");
        assert_eq!(
            at.pos,
            Some(Pos {
                line: 3,
                column: 12
            })
        );
        assert_eq!(
            doc.key_at("nodePools[0].count").pos,
            Some(Pos { line: 3, column: 5 })
        );
    }

    #[test]
    fn unknown_field_names_the_key_and_its_line() {
        let doc = one("nodePools:\n  - name: node\n    cuont: 3\n");
        let error = doc.decode::<Config>(true).unwrap_err().to_string();
        assert!(
            error.starts_with("s.yaml:3:5: nodePools[0].cuont: unknown field `cuont`"),
            "{error}"
        );
    }

    #[test]
    fn type_errors_name_the_value() {
        let doc = one("nodePools:\n  - name: node\n    count: three\n");
        let error = doc.decode::<Config>(true).unwrap_err().to_string();
        assert!(
            error.starts_with("s.yaml:3:12: nodePools[0].count: invalid type: string \"three\""),
            "{error}"
        );
    }

    #[test]
    fn missing_fields_point_at_their_mapping() {
        let doc = one("nodePools:\n  - name: node\n");
        let error = doc.decode::<Config>(true).unwrap_err().to_string();
        assert_eq!(error, "s.yaml:2:5: nodePools[0]: missing field `count`");
    }

    #[test]
    fn ignored_fields_are_errors_only_when_strict() {
        #[derive(Debug, Deserialize)]
        struct Loose {
            #[allow(dead_code)]
            name: String,
        }
        let doc = one("name: a\nextra:\n  deep: 1\n");
        assert!(doc.decode::<Loose>(false).is_ok());
        let error = doc.decode::<Loose>(true).unwrap_err().to_string();
        assert_eq!(error, "s.yaml:2:1: extra: unknown field \"extra\"");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let error = parse_documents(
            "a: 1\nb: [1, 2\nc: 3\n",
            "s.yaml",
            "",
            false,
            PosMap::Identity,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("s.yaml:3:2: YAML syntax error near c: "),
            "{error}"
        );
        assert!(!error.contains("at line"), "{error}");
    }

    #[test]
    fn syntax_errors_name_the_field_they_are_near() {
        let text = "name: t\ncluster:\n  nodePools:\n    - name: a\n    - name: b\n      count: [2\n      cpu: 4\n";
        let error = parse_documents(text, "s.yaml", "", false, PosMap::Identity)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("s.yaml:7:10: YAML syntax error near cluster.nodePools[1].cpu: "),
            "{error}"
        );
        assert_eq!(
            enclosing_path(text, 6),
            Some((0, "cluster.nodePools[1].count".to_string()))
        );
        assert_eq!(
            enclosing_path(text, 4),
            Some((0, "cluster.nodePools[0].name".to_string()))
        );
        assert_eq!(
            enclosing_path("a: 1\n---\nb:\n  c: [\n", 4),
            Some((1, "b.c".to_string()))
        );
        assert_eq!(enclosing_path("{a: [1,\n", 1), None);
    }

    #[test]
    fn json_and_flow_style_are_yaml() {
        let doc = one("{\"nodePools\": [{\"name\": \"n\", \"count\": 1,}],}");
        let config: Config = doc.decode(true).unwrap();
        assert_eq!(config.node_pools[0].name, "n");
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings_and_octal_is_octal() {
        let doc = one("a: yes\nb: 0644\n");
        assert_eq!(doc.value["a"], Value::String("yes".into()));
        assert_eq!(doc.value["b"], Value::Number(420u64.into()));
    }

    #[test]
    fn embedded_block_positions_map_to_the_outer_file() {
        let outer = "name: x\nworkloads:\n  web: |\n    kind: Pod\n    metadata:\n      name: w\n";
        let doc = one(outer);
        let text = doc.value["workloads"]["web"].as_str().unwrap().to_string();
        let pos = doc.pos("workloads.web").unwrap();
        let map = PosMap::for_embedded(outer, pos, &text);
        let inner = parse_documents(&text, "s.yaml", "workloads.web", true, map).unwrap();
        assert_eq!(
            inner[0].at("workloads.web[0].metadata.name").pos,
            Some(Pos {
                line: 6,
                column: 13
            })
        );
    }

    #[test]
    fn multiple_documents_are_indexed() {
        let docs = parse_documents(
            "a: 1\n---\n---\nb: 2\n",
            "m.yaml",
            "w",
            true,
            PosMap::Identity,
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].root, "w[1]");
        assert_eq!(docs[1].at("w[1].b").pos, Some(Pos { line: 4, column: 4 }));
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("a.b[2]"), Some("a.b"));
        assert_eq!(parent_path("a.b"), Some("a"));
        assert_eq!(parent_path("a"), Some(""));
        assert_eq!(parent_path(""), None);
    }
}
