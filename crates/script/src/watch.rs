//! Watch a script and every file it read (imports, patch files) for
//! `patchbay play SCRIPT`.
//!
//! Like `patchbay_io::PatchWatcher` (which watches one patch file), this
//! watches the files' parent directories, not the files: editors that save
//! by writing a new file and renaming it over the old one replace the
//! inode, and a watch on the old inode goes silent after the first save.
//! Events are filtered by path, bursts are coalesced, and a change counts
//! only if some file's text really changed. The set of files follows the
//! script: after each reload the host passes the files the new run read.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

/// Why files cannot be watched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// A directory could not be watched.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory.
        path: String,
        /// What notify said.
        source: notify::Error,
    },
}

/// The debouncer's window: events closer than this are merged.
const DEBOUNCE: Duration = Duration::from_millis(15);
/// After the last event, wait this long before reading, so a second write
/// in another debounce window is not read half-way.
const SETTLE: Duration = Duration::from_millis(10);

/// Watches a set of files and says when any of them changed.
pub struct ScriptWatcher {
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    events: mpsc::Receiver<DebounceEventResult>,
    dirs: BTreeSet<PathBuf>,
    /// Canonical path -> the text last seen.
    files: HashMap<PathBuf, Option<String>>,
    pending: Option<Instant>,
}

impl ScriptWatcher {
    /// Watch `files` (their current texts are the baseline).
    pub fn new(files: &[PathBuf]) -> Result<ScriptWatcher, WatchError> {
        let (tx, events) = mpsc::channel();
        let debouncer = new_debouncer(DEBOUNCE, None, tx).map_err(|source| WatchError::Watch {
            path: String::new(),
            source,
        })?;
        let mut watcher = ScriptWatcher {
            debouncer,
            events,
            dirs: BTreeSet::new(),
            files: HashMap::new(),
            pending: None,
        };
        watcher.set_files(files)?;
        Ok(watcher)
    }

    /// Watch these files from now on (after a reload that read others).
    /// Files already watched keep their baseline.
    pub fn set_files(&mut self, files: &[PathBuf]) -> Result<(), WatchError> {
        let files: Vec<PathBuf> = files
            .iter()
            .map(|f| f.canonicalize().unwrap_or_else(|_| f.clone()))
            .collect();
        let dirs: BTreeSet<PathBuf> = files
            .iter()
            .map(|f| {
                f.parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."))
            })
            .collect();
        for dir in dirs.difference(&self.dirs) {
            self.debouncer
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError::Watch {
                    path: dir.display().to_string(),
                    source,
                })?;
        }
        for dir in self.dirs.difference(&dirs) {
            let _ = self.debouncer.unwatch(dir);
        }
        self.dirs = dirs;
        let mut next = HashMap::new();
        for f in files {
            let text = match self.files.remove(&f) {
                Some(text) => text,
                None => std::fs::read_to_string(&f).ok(),
            };
            next.insert(f, text);
        }
        self.files = next;
        Ok(())
    }

    /// The files watched.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.keys().cloned().collect()
    }

    /// True once, when a watched file's text changed and has settled.
    /// Never blocks; call it every few milliseconds.
    pub fn poll(&mut self) -> bool {
        while let Ok(result) = self.events.try_recv() {
            // Watcher errors (an overflowed queue) may hide changes: look.
            let touched = match result {
                Ok(events) => events.iter().any(|e| {
                    matches!(
                        e.kind,
                        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                    ) && e.paths.iter().any(|p| self.files.contains_key(p))
                }),
                Err(_) => true,
            };
            if touched {
                self.pending = Some(Instant::now());
            }
        }
        let Some(since) = self.pending else {
            return false;
        };
        if since.elapsed() < SETTLE {
            return false;
        }
        self.pending = None;
        let mut changed = false;
        for (path, seen) in &mut self.files {
            // A file that cannot be read right now (mid-save) is not a
            // change; the save's own event brings it back.
            if let Ok(text) = std::fs::read_to_string(path)
                && seen.as_deref() != Some(text.as_str())
            {
                *seen = Some(text);
                changed = true;
            }
        }
        changed
    }
}
