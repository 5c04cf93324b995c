//! `patchbay play SCRIPT`: the script's host and its watcher inside play's
//! control loop. The host runs due callbacks each tick (on the control
//! thread); the watcher reloads the script when it or anything it imports
//! is saved, and a script that fails keeps the last good graph playing.

use std::path::{Path, PathBuf};

use anyhow::Result;
use patchbay_core::{Applied, LiveEngine, Patch, Registry};
use patchbay_script::{Event, ScriptHost, ScriptSource, ScriptWatcher};

/// A playing script.
pub struct ScriptPlay {
    host: ScriptHost,
    watcher: ScriptWatcher,
    path: PathBuf,
}

impl ScriptPlay {
    /// Run the script at `path` for its patch; `None` for a patch file.
    pub fn start(path: &Path, registry: &Registry) -> Result<Option<(ScriptPlay, Patch)>> {
        if !patchbay_script::is_script(path) {
            return Ok(None);
        }
        let mut host = ScriptHost::new(registry);
        let patch = host.load(&ScriptSource::File(path.to_path_buf()), 0.0)?;
        let watcher = ScriptWatcher::new(&host.files())?;
        let play = ScriptPlay {
            host,
            watcher,
            path: path.to_path_buf(),
        };
        Ok(Some((play, patch)))
    }

    /// What the script printed while loading.
    pub fn take_printed(&mut self) -> Vec<String> {
        self.host.take_printed()
    }

    /// Reload on save, then run the callbacks due before `until` (seconds
    /// of the engine's sample clock); returns the lines to show.
    pub fn tick(&mut self, until: f64, live: &mut LiveEngine) -> Vec<String> {
        let mut lines = Vec::new();
        if self.watcher.poll() {
            match self
                .host
                .reload(&ScriptSource::File(self.path.clone()), until, live)
            {
                Ok(applied) => {
                    lines.push(format!("reloaded {}: {}", self.path.display(), describe(applied)));
                    if let Err(e) = self.watcher.set_files(&self.host.files()) {
                        lines.push(format!("error: {e}"));
                    }
                }
                Err(e) => lines.push(format!("error: {e}\n(the last good graph keeps playing)")),
            }
            lines.extend(self.host.take_printed());
        }
        for event in self.host.tick(until, live) {
            match event {
                Event::Print(text) => lines.push(text),
                Event::Error(err) => lines.push(format!("error: {err}")),
                Event::Disk(report) => lines.push(report.to_string()),
                Event::Changed(_) => {}
            }
        }
        lines
    }
}

fn describe(applied: Applied) -> String {
    match applied {
        Applied::Unchanged => "no audible change".into(),
        Applied::Params(n) => format!("{n} parameter change(s)"),
        Applied::Rebuilt { kept, built, .. } => format!("rebuilt ({kept} nodes kept, {built} new)"),
    }
}
