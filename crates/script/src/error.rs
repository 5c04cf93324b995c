//! Script errors that say where: `file:line:col: message`, the source line
//! and a caret under the column, then notes (the calls that led there).
//!
//! Rendered by hand rather than with ariadne, codespan-reporting or miette:
//! all three draw the position inside a box-drawing gutter below the
//! message, while editors, terminals and `grep` expect the compiler-style
//! `file:line:col: message` first line. What is left (one source line and a
//! caret) is a dozen lines of code and needs no dependency.

use std::fmt;

use patchbay_core::ValidationError;

/// A position in a script file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it (or the name given to source text).
    pub source: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The script file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        message: String,
    },
    /// The text does not parse.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The script failed while running (type error, unknown function, a
    /// refused node or parameter, a `throw`).
    #[error("{0}")]
    Runtime(String),
    /// The script ran longer than its time budget.
    #[error("the script ran for more than {0:.2} s and was stopped (an endless loop?)")]
    Timeout(f64),
    /// The script ran more operations than allowed.
    #[error("the script ran more than {0} operations and was stopped (an endless loop?)")]
    TooManyOperations(u64),
    /// Calls nested too deeply.
    #[error("calls nested more than {0} deep and were stopped (endless recursion?)")]
    StackOverflow(usize),
    /// A string, array, map or patch grew past its limit.
    #[error("{0}")]
    TooLarge(String),
    /// A path outside the script's folder, or another refused access.
    #[error("{0}")]
    Sandbox(String),
    /// The patch the script built does not compile.
    #[error(transparent)]
    Invalid(ValidationError),
    /// The running engine refused a change.
    #[error("{0}")]
    Engine(String),
}

/// A script error, with where it happened when that is known.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where.
    pub location: Option<Location>,
    /// The source line at `location`, for the caret.
    pub line_text: Option<String>,
    /// Further context, innermost first: "in `voice`, called at ...".
    pub notes: Vec<String>,
}

impl ScriptError {
    /// An error with no position.
    pub fn new(kind: ErrorKind) -> ScriptError {
        ScriptError {
            kind,
            location: None,
            line_text: None,
            notes: Vec::new(),
        }
    }

    /// The first line alone: `file:line:col: message`.
    pub fn headline(&self) -> String {
        match &self.location {
            Some(at) => format!("{at}: {}", self.kind),
            None => self.kind.to_string(),
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let (Some(at), Some(text)) = (&self.location, &self.line_text) {
            let number = at.line.to_string();
            let pad = " ".repeat(number.len());
            // Keep tabs as tabs so the caret lines up in any tab width.
            let lead: String = text
                .chars()
                .take(at.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n {number} | {text}\n {pad} | {lead}^")?;
        }
        for note in &self.notes {
            write!(f, "\n  = note: {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {}

/// Line `line` (1-based) of `text`, without its line break.
pub fn source_line(text: &str, line: usize) -> Option<String> {
    text.lines()
        .nth(line.checked_sub(1)?)
        .map(|l| l.trim_end_matches('\r').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_position_line_and_caret() {
        let err = ScriptError {
            kind: ErrorKind::Runtime("unknown node kind `lowpas` (did you mean `lowpass`?)".into()),
            location: Some(Location {
                source: "bass.rhai".into(),
                line: 12,
                column: 13,
            }),
            line_text: Some("saw(110) >> lowpas(800);".into()),
            notes: vec!["in `voice`, called at bass.rhai:20:1".into()],
        };
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "bass.rhai:12:13: unknown node kind `lowpas` (did you mean `lowpass`?)"
        );
        assert_eq!(lines[1], " 12 | saw(110) >> lowpas(800);");
        assert_eq!(lines[2], "    |             ^");
        assert_eq!(lines[3], "  = note: in `voice`, called at bass.rhai:20:1");
    }
}
