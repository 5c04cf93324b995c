//! Errors that say where the problem is: the file, line and column for text,
//! the node, port and parameter for meaning.

use std::fmt;

use crate::patch::find_line;

/// A patch that could not be loaded: where, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    /// The file (or other source) name.
    pub source: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// What is wrong.
    pub kind: LoadErrorKind,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for LoadError {}

/// Why a patch could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// The text is not valid JSON, or has the wrong shape.
    #[error("{0}")]
    Json(String),
    /// No `"format"` field.
    #[error("not a patchbay patch: the \"format\": \"patchbay\" field is missing")]
    NotAPatch,
    /// A `"format"` other than `"patchbay"`.
    #[error("not a patchbay patch: format is {0}, expected \"patchbay\"")]
    WrongFormat(String),
    /// No `"version"` field.
    #[error("the \"version\" field is missing")]
    MissingVersion,
    /// A version that is not a positive integer.
    #[error("version {0} is not a valid patch version")]
    BadVersion(String),
    /// Written by a newer patchbay.
    #[error("patch version {0} is newer than this patchbay reads (up to {v}); upgrade patchbay", v = crate::patch::VERSION)]
    FutureVersion(u64),
    /// Well-formed, but its meaning is wrong.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// A patch whose meaning is wrong: names the node, port or parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// Empty or with characters other than letters, digits, `_`, `-`.
    #[error("node id `{0}` is invalid: use letters, digits, `_` and `-` (at most 64)")]
    InvalidId(String),
    /// Two nodes share an id.
    #[error("node id `{0}` is used twice")]
    DuplicateId(String),
    /// The kind is not in the registry.
    #[error("node `{node}`: unknown kind `{kind}`{hint}", hint = did_you_mean(suggestion))]
    UnknownKind {
        /// Node id.
        node: String,
        /// The kind given.
        kind: String,
        /// A close known kind.
        suggestion: Option<String>,
    },
    /// The kind has no such parameter.
    #[error("node `{node}` ({kind}): unknown parameter `{param}`{hint}", hint = did_you_mean(suggestion))]
    UnknownParam {
        /// Node id.
        node: String,
        /// Node kind.
        kind: String,
        /// The parameter given.
        param: String,
        /// A close known parameter.
        suggestion: Option<String>,
    },
    /// A parameter value outside its range.
    #[error("node `{node}`: parameter `{param}` = {value} is out of range {min} … {max}")]
    ParamOutOfRange {
        /// Node id.
        node: String,
        /// Parameter name.
        param: String,
        /// The value given.
        value: f64,
        /// Smallest accepted.
        min: f64,
        /// Largest accepted.
        max: f64,
    },
    /// A choice parameter given a fractional value.
    #[error("node `{node}`: parameter `{param}` = {value} must be a whole number (one of {choices})")]
    ParamNotChoice {
        /// Node id.
        node: String,
        /// Parameter name.
        param: String,
        /// The value given.
        value: f64,
        /// The choices, listed.
        choices: String,
    },
    /// The kind has no such setting.
    #[error("node `{node}` ({kind}): unknown setting `{setting}`{hint}; it has {known}", hint = did_you_mean(suggestion))]
    UnknownSetting {
        /// Node id.
        node: String,
        /// Node kind.
        kind: String,
        /// The setting given.
        setting: String,
        /// A close known setting.
        suggestion: Option<String>,
        /// The settings the kind has, listed.
        known: String,
    },
    /// A setting value its kind does not accept.
    #[error("node `{node}`: setting `{setting}` = {value:?} is not a valid {holds}: {reason}")]
    BadSetting {
        /// Node id.
        node: String,
        /// Setting name.
        setting: String,
        /// The value given.
        value: String,
        /// What the setting holds ("name", "folder", ...).
        holds: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// An edge names a node that does not exist.
    #[error("edge {from} -> {to}: there is no node `{missing}`")]
    MissingNode {
        /// Edge source as written.
        from: String,
        /// Edge destination as written.
        to: String,
        /// The id not found.
        missing: String,
    },
    /// An edge names a port the node does not have.
    #[error("edge {from} -> {to}: node `{node}` ({kind}) has no {direction} `{port}`; it has {known}")]
    UnknownPort {
        /// Edge source as written.
        from: String,
        /// Edge destination as written.
        to: String,
        /// Node id.
        node: String,
        /// Node kind.
        kind: String,
        /// The port given.
        port: String,
        /// "output" or "input or parameter".
        direction: &'static str,
        /// The names that would have worked.
        known: String,
    },
    /// The same edge twice.
    #[error("edge {from} -> {to} appears twice")]
    DuplicateEdge {
        /// Edge source.
        from: String,
        /// Edge destination.
        to: String,
    },
    /// Channel counts that cannot meet.
    #[error(
        "edge {from} -> {to}: a {from_channels}-channel signal cannot feed a {to_channels}-channel input (only mono spreads to more channels)"
    )]
    ChannelMismatch {
        /// Edge source.
        from: String,
        /// Edge destination.
        to: String,
        /// Channels of the source.
        from_channels: usize,
        /// Channels the input takes.
        to_channels: usize,
    },
    /// A feedback loop with no delay in it.
    #[error("cycle without a delay: {} -> {}; put a delay node in the loop", .nodes.join(" -> "), .nodes[0])]
    Cycle {
        /// The nodes around the loop, in order.
        nodes: Vec<String>,
    },
    /// A patch larger than the compiler accepts.
    #[error("patch too large: {what} ({count}) exceeds the limit of {limit}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The most accepted.
        limit: usize,
    },
}

/// The 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The line of the `nth` (from 0) edge `from -> to` in `text`: where its
/// `to` is written inside an innermost `{ ... }` that also holds its `from`,
/// so that another edge into the same port is not taken for it. Falls back
/// to the first mention of either end.
fn edge_line(text: &str, from: &str, to: &str, nth: usize) -> Option<usize> {
    let (from, to) = (format!("\"{from}\""), format!("\"{to}\""));
    let mut edges = text.match_indices('{').filter_map(|(open, _)| {
        let close = open + 1 + text[open + 1..].find(['{', '}'])?;
        let body = &text[open..close];
        let innermost = text[close..].starts_with('}');
        if innermost && body.contains(&from) {
            body.find(&to).map(|at| open + at)
        } else {
            None
        }
    });
    match edges.nth(nth) {
        Some(at) => Some(line_at(text, at)),
        None => find_line(text, &to).or_else(|| find_line(text, &from)),
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

impl ValidationError {
    /// The line in the patch's source text where the fault is, found by the
    /// node id or edge it names.
    pub fn locate_in(&self, text: &str) -> Option<usize> {
        use ValidationError::*;
        let node_line = |id: &str| {
            find_line(text, &format!("\"id\": \"{id}\"")).or_else(|| find_line(text, &format!("\"{id}\"")))
        };
        match self {
            InvalidId(id) => node_line(id),
            DuplicateId(id) => {
                // The second occurrence is the duplicate. Look for the id as
                // an id first: a node's kind may be spelt the same.
                let second = |needle: String| {
                    let first = text.find(&needle)?;
                    let at = text[first + 1..].find(&needle)? + first + 1;
                    Some(line_at(text, at))
                };
                second(format!("\"id\": \"{id}\"")).or_else(|| second(format!("\"{id}\"")))
            }
            UnknownKind { node, .. }
            | UnknownParam { node, .. }
            | ParamOutOfRange { node, .. }
            | ParamNotChoice { node, .. } => node_line(node),
            UnknownSetting { node, setting, .. } | BadSetting { node, setting, .. } => {
                // The setting's own line: the first mention after the node's id.
                let start = text
                    .find(&format!("\"id\": \"{node}\""))
                    .or_else(|| text.find(&format!("\"{node}\"")));
                match start.and_then(|at| Some(at + text[at..].find(&format!("\"{setting}\""))?)) {
                    Some(at) => Some(line_at(text, at)),
                    None => node_line(node),
                }
            }
            MissingNode { from, to, .. }
            | UnknownPort { from, to, .. }
            | ChannelMismatch { from, to, .. } => edge_line(text, from, to, 0),
            // The second occurrence is the duplicate.
            DuplicateEdge { from, to } => edge_line(text, from, to, 1),
            Cycle { nodes } => nodes.first().and_then(|n| node_line(n)),
            TooLarge { .. } => None,
        }
    }
}
