//! The visual editor of patchbay: an egui node editor (egui-snarl on
//! eframe) over the same [`Patch`](patchbay_core::Patch) model and live
//! engine as `patchbay play`. Every edit is an undoable step of the
//! [`Document`]; the canvas mirrors the document and the engine follows it.
//!
//! Not for: compiling, validating or playing patches (the core, nodes and
//! io crates do that; the editor asks them).

pub mod app;
pub mod audio;
pub mod canvas;
pub mod document;
pub mod files;
pub mod knob;
pub mod palette;
pub mod telemetry;

use std::path::Path;

pub use app::Editor;
pub use audio::Sink;
pub use document::{Change, Document, EditError, FileError, Placed, Selection, WireEnd};
pub use files::RecentFiles;

/// Why the editor could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The patch given on the command line could not be opened.
    #[error(transparent)]
    Open(#[from] FileError),
    /// No window could be opened (no display, no OpenGL).
    #[error("cannot open the editor window: {0}")]
    Window(String),
}

/// How `patchbay edit` starts.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Switch audio on at once.
    pub play: bool,
    /// Save a PNG of the window after this many seconds, then quit.
    pub screenshot: Option<(std::path::PathBuf, f64)>,
}

/// Open the editor window on `file` (a patch, a script, or a patch file to
/// create) or an empty patch, and run until it is closed.
pub fn run(file: Option<&Path>, options: Options) -> Result<(), RunError> {
    let registry = patchbay_nodes::registry();
    let mut doc = Document::new(registry);
    if let Some(path) = file.filter(|p| !p.exists()) {
        // A new file: edit an empty patch that saves there.
        doc.set_path(path);
    }
    let mut editor = Editor::new(doc, Sink::Device);
    if let Some(path) = file.filter(|p| p.exists()) {
        editor.open(path.to_path_buf())?;
    }
    if options.play {
        editor.set_audio(true);
    }
    if let Some((path, after_s)) = options.screenshot {
        editor.screenshot_then_quit(path, after_s);
    }
    let native = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title("patchbay")
            .with_inner_size([1440.0, 900.0]),
        ..Default::default()
    };
    let open = move |_: &eframe::CreationContext<'_>| {
        // Only a window that opened makes the file recent.
        if let Some(store) = RecentFiles::user_store() {
            editor.keep_recent(RecentFiles::stored_at(store));
        }
        Ok(Box::new(editor) as Box<dyn eframe::App>)
    };
    eframe::run_native("patchbay", native, Box::new(open)).map_err(|e| RunError::Window(e.to_string()))
}
