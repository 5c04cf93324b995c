//! The one document model: a [`Patch`] of nodes and edges, and its versioned
//! JSON file format (`{"format": "patchbay", "version": 1, ...}`).
//!
//! Parsing here checks only the document's shape (JSON, format, version, port
//! reference syntax). What the nodes *mean* — kinds, ports, parameter ranges,
//! channel counts, cycles — is checked by [`crate::compile`] against a
//! registry; [`load_patch_str`] does both and locates the fault in the text.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{LoadError, LoadErrorKind};
use crate::registry::Registry;

/// The format tag every patch file carries.
pub const FORMAT: &str = "patchbay";
/// The newest patch file version this build reads. Version 2 added node
/// settings, version 3 canvas comments, version 4 their widths. A patch is
/// written in the lowest version that holds what it uses (one without
/// settings or comments is still version 1), so older builds keep reading
/// it, and one that needs a newer build tells it to upgrade instead of
/// failing on an unknown field.
pub const VERSION: u32 = 4;

/// A graph of nodes and the edges between their ports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// Nodes in document order; ids are unique.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Connections from an output port to an input port or parameter.
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// Notes on the editor's canvas; nothing to the engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Comment>,
}

/// A note written on the canvas beside the nodes it explains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    /// The note, possibly several lines.
    pub text: String,
    /// Editor position (x, y) of its top left corner.
    pub pos: [f32; 2],
    /// How wide its text runs before it wraps, in canvas points; `None`:
    /// the editor's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f32>,
}

/// One node: a stable id, a kind from the registry, parameter values that
/// differ from the defaults, and where the editor draws it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Stable identifier, unique in the patch: letters, digits, `_` and `-`.
    pub id: String,
    /// Registry kind, e.g. `"lowpass"`.
    pub kind: String,
    /// Parameter values by name; a missing parameter takes its default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, f64>,
    /// Settings (text: folders, files, names) by name; a missing one takes
    /// its default. Relative paths are relative to the patch file's folder.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "text_settings"
    )]
    pub settings: BTreeMap<String, String>,
    /// Editor position (x, y).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<[f32; 2]>,
}

impl Node {
    /// A node with default parameters and no position.
    pub fn new(id: impl Into<String>, kind: impl Into<String>) -> Self {
        Node {
            id: id.into(),
            kind: kind.into(),
            params: BTreeMap::new(),
            settings: BTreeMap::new(),
            pos: None,
        }
    }

    /// Builder: set one setting.
    pub fn with_setting(mut self, setting: &str, value: impl Into<String>) -> Self {
        self.settings.insert(setting.to_string(), value.into());
        self
    }

    /// Builder: set one parameter.
    pub fn with(mut self, param: &str, value: f64) -> Self {
        self.params.insert(param.to_string(), value);
        self
    }
}

/// Settings are text; a number or list where text belongs gets a message
/// naming the setting rather than serde's "expected a string".
fn text_settings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => Ok((name, text)),
            other => Err(serde::de::Error::custom(format!(
                "setting `{name}` is text: write it in quotes, not {other}"
            ))),
        })
        .collect()
}

/// A connection `from` an output port `to` an input port (or a parameter,
/// which the signal then drives).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Source, written `"node.port"`.
    pub from: PortRef,
    /// Destination, written `"node.port"`.
    pub to: PortRef,
}

impl Edge {
    /// Parse both ends from `"node.port"` text.
    pub fn new(from: &str, to: &str) -> Result<Self, String> {
        Ok(Edge {
            from: from.parse()?,
            to: to.parse()?,
        })
    }
}

/// A port on a node, written `"node.port"` in files.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRef {
    /// Node id.
    pub node: String,
    /// Port (or parameter) name on that node.
    pub port: String,
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.port)
    }
}

impl std::str::FromStr for PortRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('.') {
            Some((node, port)) if !node.is_empty() && !port.is_empty() && !port.contains('.') => {
                Ok(PortRef {
                    node: node.to_string(),
                    port: port.to_string(),
                })
            }
            _ => Err(format!(
                "`{s}` is not a port reference; write it as \"node.port\""
            )),
        }
    }
}

impl Serialize for PortRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// True when `id` is a valid node id: non-empty, ASCII letters, digits, `_`, `-`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The on-disk envelope around a [`Patch`]. The patch's fields are spelt
/// out, not flattened: serde ignores `deny_unknown_fields` through `flatten`,
/// so a misspelt `"edgez"` would silently drop every edge.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchFile {
    format: String,
    version: u32,
    #[serde(default)]
    nodes: Vec<Node>,
    #[serde(default)]
    edges: Vec<Edge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    comments: Vec<Comment>,
}

impl Patch {
    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Mutable access to the node with this id.
    pub fn node_mut(&mut self, id: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }

    /// Add an edge from `"node.port"` text; panics on malformed text, so use
    /// it for patches written in code, not for user input.
    pub fn connect(&mut self, from: &str, to: &str) -> &mut Self {
        self.edges
            .push(Edge::new(from, to).expect("malformed port reference in code"));
        self
    }

    /// Serialize as a pretty-printed, versioned patch file.
    pub fn to_json(&self) -> String {
        let version = if self.comments.iter().any(|c| c.width.is_some()) {
            4
        } else if !self.comments.is_empty() {
            3
        } else if self.nodes.iter().any(|n| !n.settings.is_empty()) {
            2
        } else {
            1
        };
        let file = PatchFile {
            format: FORMAT.to_string(),
            version,
            nodes: self.nodes.clone(),
            edges: self.edges.clone(),
            comments: self.comments.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("a patch always serializes");
        text.push('\n');
        text
    }

    /// Parse patch file text without checking it against a registry.
    /// `source` names the text in errors (usually the file path).
    pub fn from_json(text: &str, source: &str) -> Result<Patch, LoadError> {
        let at = |kind: LoadErrorKind, line: Option<usize>, column: Option<usize>| LoadError {
            source: source.to_string(),
            line,
            column,
            kind,
        };
        let json_err = |e: serde_json::Error| {
            at(
                LoadErrorKind::Json(strip_position(&e.to_string())),
                Some(e.line()),
                // serde_json says 0 for "before the first character".
                Some(e.column().max(1)),
            )
        };
        // First just the envelope, to decide whether the rest is worth
        // reading, so a future version's new fields give a version error,
        // not a field error. A map, not a struct: serde would read a JSON
        // array as a struct, field by field.
        let mut envelope: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(json_err)?;
        match envelope.remove("format") {
            None => return Err(at(LoadErrorKind::NotAPatch, None, None)),
            Some(serde_json::Value::String(f)) if f == FORMAT => {}
            Some(other) => {
                let line = find_line(text, "\"format\"");
                return Err(at(LoadErrorKind::WrongFormat(other.to_string()), line, None));
            }
        }
        let version_line = find_line(text, "\"version\"");
        match envelope.remove("version") {
            None => return Err(at(LoadErrorKind::MissingVersion, None, None)),
            Some(v) => match v.as_u64() {
                Some(v) if v as u32 as u64 == v && v >= 1 && v as u32 <= VERSION => {}
                Some(v) if v > VERSION as u64 => {
                    return Err(at(LoadErrorKind::FutureVersion(v), version_line, None));
                }
                _ => {
                    return Err(at(LoadErrorKind::BadVersion(v.to_string()), version_line, None));
                }
            },
        }
        let file: PatchFile = serde_json::from_str(text).map_err(json_err)?;
        Ok(Patch {
            nodes: file.nodes,
            edges: file.edges,
            comments: file.comments,
        })
    }
}

/// serde_json appends " at line L column C"; we report those separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The 1-based line of the first occurrence of `needle` in `text`.
pub(crate) fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.find(needle)
        .map(|offset| text[..offset].bytes().filter(|&b| b == b'\n').count() + 1)
}

/// Parse patch text and validate it against `registry`. Errors name `source`
/// and, where it can be found, the line of the node or edge at fault.
pub fn load_patch_str(text: &str, source: &str, registry: &Registry) -> Result<Patch, LoadError> {
    let patch = Patch::from_json(text, source)?;
    if let Err(err) = crate::compile::validate(&patch, registry) {
        let line = err.locate_in(text);
        return Err(LoadError {
            source: source.to_string(),
            line,
            column: None,
            kind: LoadErrorKind::Invalid(err),
        });
    }
    Ok(patch)
}

/// Read, parse and validate a patch file.
pub fn load_patch(path: &Path, registry: &Registry) -> Result<Patch, LoadError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        source: source.clone(),
        line: None,
        column: None,
        kind: LoadErrorKind::Io(e.to_string()),
    })?;
    load_patch_str(&text, &source, registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ref_round_trips_through_text() {
        let p: PortRef = "osc1.out".parse().unwrap();
        assert_eq!(p.node, "osc1");
        assert_eq!(p.port, "out");
        assert_eq!(p.to_string(), "osc1.out");
        assert!("osc1".parse::<PortRef>().is_err());
        assert!(".out".parse::<PortRef>().is_err());
        assert!("a.b.c".parse::<PortRef>().is_err());
    }

    #[test]
    fn json_errors_carry_line_and_column() {
        let err = Patch::from_json("{\n  \"format\": \"patchbay\",\n  oops\n}", "x.json").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.column.is_some());
        assert!(err.to_string().starts_with("x.json:3:"), "{err}");
    }
}
