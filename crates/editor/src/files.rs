//! The editor's files beyond the patch itself: the recent files list (kept
//! in the user's config folder), and the watch on the open file, which
//! reports a patch file changed outside the editor (for the editor to
//! offer a reload) and re-runs a script when it is saved.

use std::path::{Path, PathBuf};

use patchbay_core::{LoadErrorKind, Patch, Registry, ValidationError};
use patchbay_io::PatchWatcher;
use patchbay_script::{ScriptHost, ScriptSource, ScriptWatcher};

/// How many files the recent list keeps.
pub const RECENT_MAX: usize = 10;

/// The files opened or saved last, newest first; persisted (one path a
/// line) when given a file to live in.
#[derive(Debug, Default)]
pub struct RecentFiles {
    list: Vec<PathBuf>,
    store: Option<PathBuf>,
}

impl RecentFiles {
    /// A list that lives in `store` (read now if it exists).
    pub fn stored_at(store: PathBuf) -> RecentFiles {
        let list = std::fs::read_to_string(&store)
            .map(|text| {
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        RecentFiles {
            list,
            store: Some(store),
        }
    }

    /// Where the user's list lives: `$XDG_CONFIG_HOME/patchbay/recent`,
    /// else `~/.config/patchbay/recent`.
    pub fn user_store() -> Option<PathBuf> {
        let config = match std::env::var_os("XDG_CONFIG_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
        };
        Some(config.join("patchbay").join("recent"))
    }

    /// The files, newest first.
    pub fn list(&self) -> &[PathBuf] {
        &self.list
    }

    /// Put `file` first (once) and save the list.
    pub fn add(&mut self, file: &Path) -> std::io::Result<()> {
        let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        self.list.retain(|f| *f != file);
        self.list.insert(0, file);
        self.list.truncate(RECENT_MAX);
        let Some(store) = &self.store else {
            return Ok(());
        };
        if let Some(dir) = store.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text: String = self.list.iter().map(|f| format!("{}\n", f.display())).collect();
        std::fs::write(store, text)
    }
}

/// What changed in the watched file.
#[derive(Debug)]
pub enum Outside {
    /// It holds this (valid) patch now.
    Changed(Patch),
    /// It cannot be used: the message (file:line: why), and the nodes the
    /// fault names.
    Failed(String, Vec<String>),
}

/// The watch on the open file.
pub enum Watch {
    /// A patch file.
    Patch(PatchWatcher),
    /// A script, the host that runs it, and the watch on it and its imports.
    Script {
        path: PathBuf,
        host: Box<ScriptHost>,
        watcher: ScriptWatcher,
    },
}

impl Watch {
    /// Watch a patch file.
    pub fn patch(file: &Path) -> Result<Watch, String> {
        PatchWatcher::new(file)
            .map(Watch::Patch)
            .map_err(|e| e.to_string())
    }

    /// Run a script and watch it; returns the graph it builds.
    pub fn script(file: &Path, registry: &Registry) -> Result<(Watch, Patch), String> {
        let mut host = Box::new(ScriptHost::new(registry));
        let patch = host
            .load(&ScriptSource::File(file.to_path_buf()), 0.0)
            .map_err(|e| e.to_string())?;
        let watcher = ScriptWatcher::new(&host.files()).map_err(|e| e.to_string())?;
        let watch = Watch::Script {
            path: file.to_path_buf(),
            host,
            watcher,
        };
        Ok((watch, patch))
    }

    /// The file watched.
    pub fn path(&self) -> &Path {
        match self {
            Watch::Patch(w) => w.path(),
            Watch::Script { path, .. } => path,
        }
    }

    /// True for a script (whose graph is shown read-only).
    pub fn is_script(&self) -> bool {
        matches!(self, Watch::Script { .. })
    }

    /// What changed since the last call, if anything; never blocks.
    pub fn poll(&mut self, registry: &Registry) -> Option<Outside> {
        match self {
            Watch::Patch(watcher) => Some(match watcher.poll(registry)? {
                Ok(patch) => Outside::Changed(patch),
                Err(e) => {
                    let nodes = match &e.kind {
                        LoadErrorKind::Invalid(v) => named_nodes(v),
                        _ => Vec::new(),
                    };
                    Outside::Failed(e.to_string(), nodes)
                }
            }),
            Watch::Script { path, host, watcher } => {
                if !watcher.poll() {
                    return None;
                }
                let run = host.load(&ScriptSource::File(path.clone()), 0.0);
                // Imports may have come or gone.
                let _ = watcher.set_files(&host.files());
                Some(match run {
                    Ok(patch) => Outside::Changed(patch),
                    Err(e) => Outside::Failed(e.to_string(), Vec::new()),
                })
            }
        }
    }
}

/// The nodes a validation error is about.
pub fn named_nodes(error: &ValidationError) -> Vec<String> {
    let end = |port: &str| port.split('.').next().unwrap_or_default().to_string();
    match error {
        ValidationError::InvalidId(id) | ValidationError::DuplicateId(id) => vec![id.clone()],
        ValidationError::UnknownKind { node, .. }
        | ValidationError::UnknownParam { node, .. }
        | ValidationError::ParamOutOfRange { node, .. }
        | ValidationError::ParamNotChoice { node, .. }
        | ValidationError::UnknownSetting { node, .. }
        | ValidationError::BadSetting { node, .. }
        | ValidationError::UnknownPort { node, .. } => vec![node.clone()],
        ValidationError::MissingNode { from, to, .. }
        | ValidationError::DuplicateEdge { from, to }
        | ValidationError::ChannelMismatch { from, to, .. } => vec![end(from), end(to)],
        ValidationError::Cycle { nodes } => nodes.clone(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_list_keeps_ten_newest_first_once_each_across_runs() {
        let dir = std::env::temp_dir().join(format!("patchbay-recent-{}", std::process::id()));
        let store = dir.join("config").join("recent");
        let mut recent = RecentFiles::stored_at(store.clone());
        assert!(recent.list().is_empty());
        for i in 0..12 {
            recent.add(&dir.join(format!("p{i}.json"))).unwrap();
        }
        recent.add(&dir.join("p5.json")).unwrap();
        let again = RecentFiles::stored_at(store);
        let names: Vec<String> = (again.list().iter())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "p5.json", "p11.json", "p10.json", "p9.json", "p8.json", "p7.json", "p6.json", "p4.json",
                "p3.json", "p2.json"
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
