//! Reload a patch file when it changes on disk, for `play --watch` (and the
//! script and editor front ends later).
//!
//! The watch is on the file's parent directory, not the file: editors that
//! save by writing a temporary file and renaming it over the original
//! replace the file's inode, and a watch on the old inode goes silent after
//! the first save. Events are filtered by file name, and a burst of them
//! (two quick writes, a write then a rename) is coalesced into one reload
//! once the file has been quiet for a moment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use patchbay_core::{LoadError, LoadErrorKind, Patch, Registry, ValidationError, load_patch_str};

/// The debouncer's window: events closer than this are merged.
const DEBOUNCE: Duration = Duration::from_millis(15);
/// After the last event, wait this long before reading the file, so a
/// second write that lands in another debounce window is not read half-way.
const SETTLE: Duration = Duration::from_millis(10);

/// Why a file cannot be watched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The directory could not be watched.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory.
        path: String,
        /// What notify said.
        source: notify::Error,
    },
}

/// Watches one patch file and reloads it when it changes.
pub struct PatchWatcher {
    path: PathBuf,
    name: OsString,
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    events: mpsc::Receiver<DebounceEventResult>,
    /// When the latest event for the file arrived, while a reload waits.
    pending: Option<Instant>,
    /// The text last read, to skip events that changed nothing and to
    /// locate compile errors.
    text: Option<String>,
}

impl PatchWatcher {
    /// Watch `path` (which should exist: its current text is the baseline).
    pub fn new(path: &Path) -> Result<PatchWatcher, WatchError> {
        let name = path.file_name().map(OsString::from).unwrap_or_default();
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let err = |source| WatchError::Watch {
            path: dir.display().to_string(),
            source,
        };
        let (tx, events) = mpsc::channel();
        let mut debouncer = new_debouncer(DEBOUNCE, None, tx).map_err(err)?;
        debouncer.watch(&dir, RecursiveMode::NonRecursive).map_err(err)?;
        Ok(PatchWatcher {
            path: path.to_path_buf(),
            name,
            _debouncer: debouncer,
            events,
            pending: None,
            text: std::fs::read_to_string(path).ok(),
        })
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// If the file changed and has settled, read and validate it. Never
    /// blocks; call it every few milliseconds. `None`: nothing new.
    pub fn poll(&mut self, registry: &Registry) -> Option<Result<Patch, LoadError>> {
        while let Ok(result) = self.events.try_recv() {
            // Watcher errors (say, an overflowed event queue) mean changes
            // may have been missed: read the file to be sure.
            let touched = match result {
                Ok(events) => events.iter().any(|e| {
                    matches!(e.kind, EventKind::Create(_) | EventKind::Modify(_))
                        && e.paths
                            .iter()
                            .any(|p| p.file_name() == Some(self.name.as_os_str()))
                }),
                Err(_) => true,
            };
            if touched {
                self.pending = Some(Instant::now());
            }
        }
        let since = self.pending?;
        if since.elapsed() < SETTLE {
            return None;
        }
        self.pending = None;
        let source = self.path.display().to_string();
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) => {
                return Some(Err(LoadError {
                    source,
                    line: None,
                    column: None,
                    kind: LoadErrorKind::Io(e.to_string()),
                }));
            }
        };
        if self.text.as_deref() == Some(text.as_str()) {
            return None;
        }
        let loaded = load_patch_str(&text, &source, registry);
        self.text = Some(text);
        Some(loaded)
    }

    /// `err` (from compiling the last patch read) as `file:line: message`.
    pub fn locate(&self, err: &ValidationError) -> String {
        let line = self.text.as_deref().and_then(|t| err.locate_in(t));
        match line {
            Some(line) => format!("{}:{line}: {err}", self.path.display()),
            None => format!("{}: {err}", self.path.display()),
        }
    }
}
