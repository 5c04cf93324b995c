//! The editor window: toolbar and transport on top, the canvas in the
//! middle, a status line below; the palette and file prompts float over
//! it. Every frame it turns canvas actions and shortcuts into document
//! edits, then brings the canvas and the engine up to date with the
//! document's changes.

use std::collections::HashMap;
use std::path::PathBuf;

use egui::{Align2, Color32, Key, KeyboardShortcut, Modifiers, Pos2, Rect, Ui};
use patchbay_core::Patch;

use crate::audio::{Audio, Sink};
use crate::canvas::{Action, Canvas, Live};
use crate::document::{Document, FileError};
use crate::files::{Outside, RecentFiles, Watch};
use crate::knob::ParamEvent;
use crate::palette;
use crate::telemetry;

/// How long a refused connection's reason stays on screen, in seconds.
const REFUSAL_SECONDS: f64 = 5.0;

const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
const REDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
const REDO_Y: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Y);
const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
const SAVE_AS: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::S);
const OPEN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
const NEW: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::N);
const DUPLICATE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::D);
const PALETTE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Space);
const FIT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Home);

/// How often the open file is looked at while the window is idle.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(300);
/// What an edit of a script's graph is told.
const READ_ONLY: &str = "a script's graph is read-only: edit the script, or use Edit as patch";

/// The device buffer sizes offered, in frames.
const BUFFER_SIZES: [u32; 6] = [64, 128, 256, 512, 1024, 2048];

/// A refused connection, shown where it was tried.
struct Refusal {
    text: String,
    at: Pos2,
    since: f64,
}

/// What to do once unsaved changes are dealt with.
#[derive(Clone, Debug, PartialEq)]
enum Then {
    New,
    Open,
    OpenFile(PathBuf),
    Quit,
}

/// A floating prompt.
enum Dialog {
    /// Asking for a file name to open or save as.
    Path { save: bool, text: String },
    /// The patch has unsaved changes.
    Unsaved(Then),
    /// The patch file changed outside the editor: take what it holds now?
    Reload(Box<Patch>),
}

/// The add-node palette opened by shortcut or button.
#[derive(Default)]
struct Palette {
    query: String,
}

/// A picture of the window to take once, then quit (`--screenshot`).
struct Screenshot {
    path: PathBuf,
    /// Seconds after start.
    at: f64,
    requested: bool,
}

/// The whole editor.
pub struct Editor {
    doc: Document,
    canvas: Canvas,
    audio: Audio,
    palette: Option<Palette>,
    dialog: Option<Dialog>,
    refusal: Option<Refusal>,
    status: Option<String>,
    /// Nodes with a problem to show on the canvas, by id: the reason.
    faults: HashMap<String, String>,
    /// The watch on the open file (a patch, or a script shown read-only).
    watch: Option<Watch>,
    recent: RecentFiles,
    /// Output devices (host, id, name), listed when first asked for.
    devices: Option<Vec<(patchbay_io::HostChoice, String, String)>>,
    canvas_rect: Rect,
    quitting: bool,
    screenshot: Option<Screenshot>,
}

impl Editor {
    /// An editor on `doc`, playing to `sink` once audio is switched on.
    pub fn new(doc: Document, sink: Sink) -> Editor {
        let mut canvas = Canvas::default();
        canvas.sync(&doc);
        canvas.fit_to_view();
        let watch = doc
            .path()
            .filter(|p| p.exists())
            .and_then(|p| Watch::patch(p).ok());
        Editor {
            audio: Audio::new(doc.registry(), sink),
            doc,
            canvas,
            palette: None,
            dialog: None,
            refusal: None,
            status: None,
            faults: HashMap::new(),
            watch,
            recent: RecentFiles::default(),
            devices: None,
            canvas_rect: Rect::ZERO,
            quitting: false,
            screenshot: None,
        }
    }

    /// Save a PNG of the window `after_s` seconds from now, then quit.
    pub fn screenshot_then_quit(&mut self, path: PathBuf, after_s: f64) {
        self.screenshot = Some(Screenshot {
            path,
            at: after_s,
            requested: false,
        });
    }

    /// The document being edited.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// The audio side (engine and transport).
    pub fn audio(&self) -> &Audio {
        &self.audio
    }

    /// The audio side, to drive (an offline engine's [`Audio::render`]).
    pub fn audio_mut(&mut self) -> &mut Audio {
        &mut self.audio
    }

    /// Switch audio on or off.
    pub fn set_audio(&mut self, on: bool) {
        if on {
            self.audio.set_folder(folder_of(self.doc.path()));
            self.audio.start(self.doc.patch());
        } else {
            self.audio.stop();
        }
    }

    /// Where the pin of `port` (`node.port`) was last drawn on screen.
    pub fn pin_position(&self, port: &str) -> Option<Pos2> {
        self.canvas.pin_position(port)
    }

    /// The reason of the connection refused last, while it shows.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_ref().map(|r| r.text.as_str())
    }

    /// The message of the status line, if any.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref().or(self.audio.message.as_deref())
    }

    /// Nodes shown with a problem, by id: the reason.
    pub fn faults(&self) -> &HashMap<String, String> {
        &self.faults
    }

    /// Keep the recent files list in `recent` (read now, written on every
    /// open and save).
    pub fn keep_recent(&mut self, recent: RecentFiles) {
        self.recent = recent;
        let open = (self.watch.as_ref().map(Watch::path)).or(self.doc.path());
        if let Some(path) = open.filter(|p| p.exists()).map(std::path::Path::to_path_buf) {
            let _ = self.recent.add(&path);
        }
    }

    /// The recent files, newest first.
    pub fn recent(&self) -> &[PathBuf] {
        self.recent.list()
    }

    /// True while showing a script's graph, which cannot be edited.
    pub fn read_only(&self) -> bool {
        self.watch.as_ref().is_some_and(Watch::is_script)
    }

    /// The screen point over canvas point `graph` (what the canvas's
    /// widgets report as their place), as last drawn.
    pub fn to_screen(&self, graph: Pos2) -> Pos2 {
        self.canvas.to_screen(graph)
    }

    /// The canvas zoom (1: one canvas unit per point).
    pub fn zoom(&self) -> f32 {
        self.canvas.zoom()
    }

    /// Draw one frame and handle what the user did.
    pub fn show(&mut self, ui: &mut Ui) {
        self.shortcuts(ui);
        // The canvas draws what the shortcuts (undo, paste) made.
        self.bring_up_to_date();
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_line(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            self.canvas_rect = ui.max_rect();
            let audio = &self.audio;
            let live = Live {
                taps: &|id| audio.tap(id),
                level: &|port| audio.level(port),
                faults: &self.faults,
            };
            let actions = self.canvas.show(ui, &self.doc, &live);
            self.doc.selection = self.canvas.selection(ui);
            for action in actions {
                self.act(ui, action);
            }
            let moves = self.canvas.finished_moves(ui);
            if !moves.is_empty() {
                if self.read_only() {
                    // Back where the script put them.
                    self.canvas.sync(&self.doc);
                } else {
                    self.doc.move_to(&moves);
                }
            }
        });
        self.palette_window(ui);
        self.dialog_window(ui);
        self.refusal_tip(ui);
        self.watch_file();
        self.bring_up_to_date();
        self.audio.poll();
        self.faults.extend(self.audio.take_faults());
        if self.watch.is_some() {
            // Look at the file now and then even when nothing moves.
            ui.ctx().request_repaint_after(WATCH_INTERVAL);
        }
        if self.audio.is_on() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(33));
        }
        self.take_screenshot(ui);
    }

    fn take_screenshot(&mut self, ui: &Ui) {
        let Some(shot) = &mut self.screenshot else {
            return;
        };
        let image = ui.input(|i| {
            i.events.iter().find_map(|e| match e {
                egui::Event::Screenshot { image, .. } => Some(image.clone()),
                _ => None,
            })
        });
        if let Some(image) = image {
            if let Err(e) = write_png(&shot.path, &image) {
                eprintln!("error: cannot write {}: {e}", shot.path.display());
            }
            self.quitting = true;
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        } else if !shot.requested && ui.input(|i| i.time) >= shot.at {
            shot.requested = true;
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::Screenshot(Default::default()));
        }
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(50));
    }

    /// Let the canvas and the engine catch up with the document.
    fn bring_up_to_date(&mut self) {
        let changes = self.doc.take_changes();
        if !changes.is_empty() {
            self.canvas.sync(&self.doc);
            self.audio.follow(self.doc.patch(), &changes);
            let patch = self.doc.patch();
            self.faults.retain(|id, _| patch.node(id).is_some());
        }
    }

    fn shortcuts(&mut self, ui: &mut Ui) {
        if ui.input(|i| i.viewport().close_requested()) && !self.quitting && self.doc.is_dirty() {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.dialog = Some(Dialog::Unsaved(Then::Quit));
        }
        let typing = ui.ctx().egui_wants_keyboard_input();
        let editable = !self.read_only();
        let pressed = |shortcut: &KeyboardShortcut| ui.input_mut(|i| i.consume_shortcut(shortcut));
        // Redo first: its shortcut contains undo's.
        if (pressed(&REDO) || pressed(&REDO_Y)) && editable {
            self.doc.redo();
        } else if pressed(&UNDO) && editable {
            self.doc.undo();
        }
        if pressed(&SAVE_AS) {
            self.ask_path(true);
        } else if pressed(&SAVE) {
            self.save();
        }
        if pressed(&OPEN) {
            self.unless_unsaved(Then::Open);
        }
        if pressed(&NEW) {
            self.unless_unsaved(Then::New);
        }
        if typing {
            return;
        }
        if pressed(&FIT) {
            self.canvas.fit_to_view();
        }
        self.clipboard(ui);
        if !editable {
            return;
        }
        if pressed(&DUPLICATE) && !self.doc.selection.nodes.is_empty() {
            let ids = self.doc.selection.nodes.clone();
            self.doc.duplicate(&ids);
        }
        if pressed(&PALETTE) {
            self.palette = Some(Palette::default());
        }
        let delete = ui.input(|i| i.key_pressed(Key::Delete) || i.key_pressed(Key::Backspace));
        if delete && !self.doc.selection.is_empty() {
            let selection = self.doc.selection.clone();
            self.doc.remove(&selection);
        }
    }

    /// Copy, cut and paste, through the system clipboard as patch JSON (so
    /// between patches, editor windows, and text files). A script's graph
    /// can be copied from, not changed.
    fn clipboard(&mut self, ui: &Ui) {
        let events = ui.input(|i| i.events.clone());
        let editable = !self.read_only();
        for event in events {
            match event {
                egui::Event::Cut | egui::Event::Paste(_) if !editable => {
                    self.status = Some(READ_ONLY.into());
                }
                egui::Event::Copy | egui::Event::Cut if !self.doc.selection.is_empty() => {
                    let selection = self.doc.selection.clone();
                    ui.ctx().copy_text(self.doc.copy(&selection).to_json());
                    if event == egui::Event::Cut {
                        self.doc.remove(&selection);
                    }
                }
                egui::Event::Paste(text) => {
                    // At the pointer, when it is on the canvas.
                    let pointer = ui.input(|i| i.pointer.latest_pos());
                    let at = (pointer.filter(|p| self.canvas_rect.contains(*p)))
                        .map(|p| self.canvas.to_graph(p))
                        .map(|p| [p.x, p.y]);
                    match self.doc.paste_text(&text, at) {
                        Ok(ids) => self.status = Some(format!("pasted {}", ids.join(", "))),
                        Err(e) => self.status = Some(e.to_string()),
                    }
                }
                _ => {}
            }
        }
    }

    fn act(&mut self, ui: &Ui, action: Action) {
        if self.read_only() && !matches!(action, Action::Probe(_)) {
            self.status = Some(READ_ONLY.into());
            return;
        }
        let result = match action {
            Action::Connect(from, to) => {
                if let Err(e) = self.doc.connect(&from, &to) {
                    let at = (self.canvas.pin_position(&to.to_string()))
                        .or(ui.input(|i| i.pointer.latest_pos()))
                        .unwrap_or(self.canvas_rect.center());
                    self.refusal = Some(Refusal {
                        text: format!("cannot connect {from} → {to}: {e}"),
                        at,
                        since: ui.input(|i| i.time),
                    });
                }
                Ok(())
            }
            Action::Disconnect(from, to) => {
                self.doc.disconnect(&from, &to);
                Ok(())
            }
            Action::DisconnectPort(port, input) => {
                self.doc.disconnect_port(&port, input);
                Ok(())
            }
            Action::Param(node, param, event) => match event {
                ParamEvent::Drag(v) => self.doc.drag_param(&node, &param, v),
                ParamEvent::DragEnd => {
                    self.doc.end_drag();
                    Ok(())
                }
                ParamEvent::Typed(text) => self.doc.set_param_text(&node, &param, &text),
                ParamEvent::Set(v) => self.doc.set_param(&node, &param, v),
                ParamEvent::Reset => self.doc.reset_param(&node, &param),
            },
            Action::Remove(selection) => {
                self.doc.remove(&selection);
                Ok(())
            }
            Action::AddNote(at) => {
                self.add_note(at);
                Ok(())
            }
            Action::EditNote(index, text) => {
                self.doc.set_comment_text(index, &text);
                Ok(())
            }
            Action::ResizeNote(index, width) => {
                self.doc.set_comment_width(index, Some(width));
                Ok(())
            }
            Action::Probe(port) => {
                self.audio.probe(self.doc.patch(), &port);
                Ok(())
            }
            Action::Duplicate(ids) => {
                self.doc.duplicate(&ids);
                Ok(())
            }
            Action::Add(kind, at) => self.doc.add_node(&kind, [at.x, at.y]).map(|_| ()),
            Action::AddConnected(kind, at, wire) => self
                .doc
                .add_node_connected(&kind, [at.x, at.y], &wire)
                .map(|_| ()),
        };
        if let Err(e) = result {
            self.status = Some(e.to_string());
        }
    }

    /// An empty note at canvas point `at`, ready to type into.
    fn add_note(&mut self, at: Pos2) {
        let index = self.doc.add_comment("", [at.x, at.y]);
        self.canvas.edit_note(&self.doc, index);
    }

    fn toolbar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if ui.button("New").clicked() {
                self.unless_unsaved(Then::New);
            }
            if ui.button("Open…").clicked() {
                self.unless_unsaved(Then::Open);
            }
            if ui.button("Save").clicked() {
                self.save();
            }
            if ui.button("Save As…").clicked() {
                self.ask_path(true);
            }
            let mut picked = None;
            ui.add_enabled_ui(!self.recent.list().is_empty(), |ui| {
                ui.menu_button("Recent", |ui| {
                    for file in self.recent.list() {
                        if ui.button(file.display().to_string()).clicked() {
                            picked = Some(file.clone());
                        }
                    }
                });
            });
            if let Some(file) = picked {
                self.unless_unsaved(Then::OpenFile(file));
            }
            if self.read_only()
                && ui
                    .button("Edit as patch")
                    .on_hover_text("edit a copy of the script's graph as a patch file")
                    .clicked()
            {
                self.edit_as_patch();
            }
            ui.separator();
            let undo = ui.add_enabled(self.doc.undo_label().is_some(), egui::Button::new("Undo"));
            if undo
                .on_hover_text(self.doc.undo_label().unwrap_or("nothing to undo"))
                .clicked()
            {
                self.doc.undo();
            }
            let redo = ui.add_enabled(self.doc.redo_label().is_some(), egui::Button::new("Redo"));
            if redo
                .on_hover_text(self.doc.redo_label().unwrap_or("nothing to redo"))
                .clicked()
            {
                self.doc.redo();
            }
            ui.separator();
            if ui
                .button("Add node…")
                .on_hover_text("Space, or right-click the canvas")
                .clicked()
            {
                self.palette = Some(Palette::default());
            }
            if ui
                .button("Note")
                .on_hover_text("a note on the canvas (or right-click the canvas)")
                .clicked()
            {
                let at = self
                    .canvas
                    .to_graph(self.canvas_rect.left_top() + egui::vec2(40.0, 40.0));
                self.add_note(at);
            }
            if ui
                .button("Fit")
                .on_hover_text("show the whole patch (Home)")
                .clicked()
            {
                self.canvas.fit_to_view();
            }
            ui.separator();
            self.transport(ui);
        });
    }

    fn transport(&mut self, ui: &mut Ui) {
        let mut on = self.audio.is_on();
        if ui.toggle_value(&mut on, "Audio").changed() {
            self.set_audio(on);
        }
        self.output_choice(ui);
        let t = self.audio.transport().clone();
        ui.label(&t.device);
        if on {
            ui.label(format!("CPU {:4.1}%", 100.0 * t.load));
            ui.label(format!("xruns {}", t.xruns));
            let level = telemetry::db(t.peak);
            let (rect, response) = ui.allocate_exact_size(egui::vec2(120.0, 12.0), egui::Sense::hover());
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 2.0, Color32::from_gray(30));
            let lit = rect.with_max_x(rect.left() + rect.width() * telemetry::meter_fraction(level));
            let colour = if level > -1.0 {
                Color32::from_rgb(230, 80, 60)
            } else {
                Color32::from_rgb(120, 220, 140)
            };
            painter.rect_filled(lit, 2.0, colour);
            response.on_hover_text("master peak");
            ui.label(format!("master {level:5.1} dB"));
        }
    }

    /// The device and buffer size pickers, in one menu; a choice restarts
    /// the audio.
    fn output_choice(&mut self, ui: &mut Ui) {
        let mut spec = self.audio.output().clone();
        let device = match (&spec.host, &spec.device) {
            (Some(host), Some(device)) => format!("{host}: {device}"),
            _ => "default device".to_string(),
        };
        let buffer = spec
            .buffer
            .map_or("default buffer".to_string(), |b| format!("{b} frames"));
        let devices = &mut self.devices;
        ui.menu_button(format!("{device}, {buffer} ⏷"), |ui| {
            ui.label("Output device");
            if ui
                .selectable_label(spec.device.is_none(), "default device")
                .clicked()
            {
                (spec.host, spec.device) = (None, None);
            }
            // Listing devices asks the sound system: only when the menu opens.
            for (host, id, name) in devices.get_or_insert_with(output_devices).iter() {
                let picked = spec.host == Some(*host) && spec.device.as_deref() == Some(id.as_str());
                if ui
                    .selectable_label(picked, format!("{host}: {id}"))
                    .on_hover_text(name)
                    .clicked()
                {
                    (spec.host, spec.device) = (Some(*host), Some(id.clone()));
                }
            }
            ui.separator();
            ui.label("Buffer")
                .on_hover_text("frames per device callback: smaller answers sooner, larger is safer");
            ui.selectable_value(&mut spec.buffer, None, "default buffer");
            for frames in BUFFER_SIZES {
                ui.selectable_value(&mut spec.buffer, Some(frames), format!("{frames} frames"));
            }
        })
        .response
        .on_hover_text("where the sound goes, and in blocks of how many frames");
        let current = self.audio.output();
        if (spec.host, &spec.device, spec.buffer) != (current.host, &current.device, current.buffer) {
            self.audio.set_output(spec, self.doc.patch());
        }
    }

    fn status_line(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let name = self
                .doc
                .path()
                .map_or("untitled".to_string(), |p| p.display().to_string());
            let dirty = if self.doc.is_dirty() { " •" } else { "" };
            ui.label(format!("{name}{dirty}"));
            ui.separator();
            ui.label(format!(
                "{} nodes, {} wires",
                self.doc.patch().nodes.len(),
                self.doc.patch().edges.len()
            ));
            if let Some(message) = self.status.as_ref().or(self.audio.message.as_ref()) {
                ui.separator();
                ui.colored_label(Color32::from_rgb(240, 180, 80), message);
            }
        });
    }

    fn palette_window(&mut self, ui: &mut Ui) {
        let Some(palette) = &mut self.palette else {
            return;
        };
        let mut open = true;
        let mut picked = None;
        egui::Window::new("Add node")
            .open(&mut open)
            .anchor(Align2::CENTER_TOP, egui::vec2(0.0, 60.0))
            .collapsible(false)
            .resizable(false)
            .show(ui.ctx(), |ui| {
                let label = ui.label("Search");
                let field = ui.add(
                    egui::TextEdit::singleline(&mut palette.query).hint_text("name, category or description"),
                );
                let field = field.labelled_by(label.id);
                field.request_focus();
                let found = palette::search(&self.doc.registry().kinds(), &palette.query);
                if ui.input(|i| i.key_pressed(Key::Enter)) {
                    picked = found.first().map(|d| d.kind);
                }
                egui::ScrollArea::vertical().max_height(360.0).show(ui, |ui| {
                    for desc in &found {
                        ui.horizontal(|ui| {
                            if ui.button(desc.kind).clicked() {
                                picked = Some(desc.kind);
                            }
                            ui.weak(desc.category);
                            ui.label(palette::short_summary(desc));
                        });
                    }
                });
            });
        if ui.input(|i| i.key_pressed(Key::Escape)) {
            open = false;
        }
        if picked.is_some() && self.read_only() {
            self.status = Some(READ_ONLY.into());
            picked = None;
            open = false;
        }
        if let Some(kind) = picked {
            let at = self.canvas.to_graph(self.canvas_rect.center());
            match self.doc.add_node(kind, [at.x, at.y]) {
                Ok(id) => self.status = Some(format!("added {id}")),
                Err(e) => self.status = Some(e.to_string()),
            }
            open = false;
        }
        if !open {
            self.palette = None;
        }
    }

    fn refusal_tip(&mut self, ui: &mut Ui) {
        let Some(refusal) = &self.refusal else {
            return;
        };
        let now = ui.input(|i| i.time);
        if now - refusal.since > REFUSAL_SECONDS {
            self.refusal = None;
            return;
        }
        egui::Area::new(egui::Id::new("refusal"))
            .fixed_pos(refusal.at + egui::vec2(12.0, 12.0))
            .order(egui::Order::Tooltip)
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(360.0);
                    ui.colored_label(Color32::from_rgb(240, 110, 90), &refusal.text);
                });
            });
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(200));
    }

    fn unless_unsaved(&mut self, then: Then) {
        if self.doc.is_dirty() {
            self.dialog = Some(Dialog::Unsaved(then));
        } else {
            self.proceed(then);
        }
    }

    fn proceed(&mut self, then: Then) {
        match then {
            Then::New => {
                self.replace(Document::new(self.doc.registry()));
                self.watch = None;
            }
            Then::Open => self.ask_path(false),
            Then::OpenFile(path) => {
                if let Err(e) = self.open(path) {
                    self.status = Some(e.to_string());
                }
            }
            Then::Quit => self.quitting = true,
        }
    }

    fn ask_path(&mut self, save: bool) {
        let text = self
            .doc
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        self.dialog = Some(Dialog::Path { save, text });
    }

    /// Start editing another document; the engine follows it.
    fn replace(&mut self, doc: Document) {
        self.doc = doc;
        self.canvas = Canvas::default();
        self.canvas.sync(&self.doc);
        self.canvas.fit_to_view();
        self.faults.clear();
        if self.audio.is_on() {
            self.set_audio(true);
        }
        self.status = None;
    }

    /// Open `path` in place of the current document: a patch file to
    /// edit, or a script (`.rhai`) whose graph is shown read-only and
    /// follows the script as it is saved.
    pub fn open(&mut self, path: PathBuf) -> Result<(), FileError> {
        let registry = self.doc.registry();
        if patchbay_script::is_script(&path) {
            let (watch, patch) = Watch::script(&path, registry).map_err(FileError::Script)?;
            self.replace(Document::with_patch(registry, patch, None));
            self.watch = Some(watch);
            self.status = Some(format!(
                "{}: the graph the script builds (read-only)",
                path.display()
            ));
        } else {
            self.replace(Document::open(registry, &path)?);
            self.watch = Watch::patch(&path).ok();
            self.status = Some(format!("opened {}", path.display()));
        }
        if let Err(e) = self.recent.add(&path) {
            self.status = Some(format!("cannot keep the recent files list: {e}"));
        }
        Ok(())
    }

    /// Turn the script's graph shown into a patch to edit (saved as a new
    /// patch file beside the script).
    pub fn edit_as_patch(&mut self) {
        let Some(Watch::Script { path, .. }) = self.watch.take() else {
            return;
        };
        let json = path.with_extension("json");
        let mut doc = Document::with_patch(self.doc.registry(), self.doc.patch().clone(), None);
        doc.mark_unsaved();
        if !json.exists() {
            doc.set_path(&json);
        }
        self.doc = doc;
        self.status = Some(format!("editing the graph of {} as a patch", path.display()));
    }

    fn save(&mut self) {
        match self.doc.save() {
            Ok(()) => self.saved(),
            Err(FileError::NoPath) => self.ask_path(true),
            Err(e) => self.status = Some(e.to_string()),
        }
    }

    /// After a save: the file is recent, and watched (under its new name).
    fn saved(&mut self) {
        let Some(path) = self.doc.path().map(std::path::Path::to_path_buf) else {
            return;
        };
        self.status = Some(format!("saved {}", path.display()));
        if self.watch.as_ref().is_none_or(|w| w.path() != path) {
            self.watch = Watch::patch(&path).ok();
        }
        if let Err(e) = self.recent.add(&path) {
            self.status = Some(format!("cannot keep the recent files list: {e}"));
        }
    }

    /// Take in what changed in the watched file.
    fn watch_file(&mut self) {
        let registry = self.doc.registry();
        let Some(outside) = self.watch.as_mut().and_then(|w| w.poll(registry)) else {
            return;
        };
        match outside {
            // Our own save, read back.
            Outside::Changed(patch) if &patch == self.doc.patch() => {}
            Outside::Changed(patch) if self.read_only() => {
                self.doc.replace_patch(patch, "script saved");
                self.status = Some("the script was saved: its graph is shown".into());
            }
            Outside::Changed(patch) => self.dialog = Some(Dialog::Reload(Box::new(patch))),
            Outside::Failed(message, nodes) => {
                let first = message.lines().next().unwrap_or_default().to_string();
                for node in nodes.into_iter().filter(|n| self.doc.patch().node(n).is_some()) {
                    self.faults.insert(node, first.clone());
                }
                self.status = Some(format!("{first} (the editor keeps what it shows)"));
            }
        }
    }

    fn dialog_window(&mut self, ui: &mut Ui) {
        let Some(dialog) = &mut self.dialog else {
            return;
        };
        let mut done = false;
        let mut reload = None;
        let mut then = None;
        let mut path_chosen = None;
        match dialog {
            Dialog::Path { save, text } => {
                let title = if *save { "Save patch as" } else { "Open patch" };
                egui::Window::new(title)
                    .collapsible(false)
                    .anchor(Align2::CENTER_CENTER, egui::Vec2::ZERO)
                    .show(ui.ctx(), |ui| {
                        let label = ui.label("File");
                        let field = ui
                            .add(egui::TextEdit::singleline(text).desired_width(360.0))
                            .labelled_by(label.id);
                        field.request_focus();
                        ui.horizontal(|ui| {
                            let go = if *save { "Save" } else { "Open" };
                            if ui.button(go).clicked() || ui.input(|i| i.key_pressed(Key::Enter)) {
                                path_chosen = Some((PathBuf::from(text.trim()), *save));
                            }
                            if ui.button("Cancel").clicked() {
                                done = true;
                            }
                        });
                    });
            }
            Dialog::Reload(patch) => {
                let name = self.doc.path().map_or(String::new(), |p| p.display().to_string());
                egui::Window::new("Changed on disk")
                    .collapsible(false)
                    .anchor(Align2::CENTER_CENTER, egui::Vec2::ZERO)
                    .show(ui.ctx(), |ui| {
                        ui.label(format!("{name} was changed outside the editor."));
                        if self.doc.is_dirty() {
                            ui.label("Reloading replaces your unsaved changes (undo brings them back).");
                        }
                        ui.horizontal(|ui| {
                            if ui.button("Reload").clicked() {
                                reload = Some(patch.as_ref().clone());
                            }
                            if ui.button("Keep mine").clicked() {
                                done = true;
                            }
                        });
                    });
            }
            Dialog::Unsaved(next) => {
                let next = next.clone();
                egui::Window::new("Unsaved changes")
                    .collapsible(false)
                    .anchor(Align2::CENTER_CENTER, egui::Vec2::ZERO)
                    .show(ui.ctx(), |ui| {
                        let name = self
                            .doc
                            .path()
                            .map_or("the untitled patch".to_string(), |p| p.display().to_string());
                        ui.label(format!("Save the changes to {name}?"));
                        ui.horizontal(|ui| {
                            if ui.button("Save").clicked() {
                                then = Some((true, next.clone()));
                            }
                            if ui.button("Discard").clicked() {
                                then = Some((false, next));
                            }
                            if ui.button("Cancel").clicked() {
                                done = true;
                            }
                        });
                    });
            }
        }
        if done {
            self.dialog = None;
        }
        if let Some(patch) = reload {
            self.dialog = None;
            self.doc.replace_patch(patch, "reload from disk");
            self.doc.mark_saved();
            self.status = Some("reloaded from disk".into());
        }
        if let Some((path, save)) = path_chosen {
            self.dialog = None;
            let result = if save {
                self.doc.save_as(&path).map(|()| self.saved())
            } else {
                self.open(path)
            };
            if let Err(e) = result {
                self.status = Some(e.to_string());
            }
        }
        if let Some((save_first, next)) = then {
            self.dialog = None;
            if save_first {
                match self.doc.save() {
                    Ok(()) => {
                        self.saved();
                        self.proceed(next);
                    }
                    Err(FileError::NoPath) => self.ask_path(true),
                    Err(e) => self.status = Some(e.to_string()),
                }
            } else {
                self.proceed(next);
            }
            if self.quitting {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }
}

/// Every output device of every host that is up.
fn output_devices() -> Vec<(patchbay_io::HostChoice, String, String)> {
    (patchbay_io::list_hosts().into_iter())
        .flat_map(|h| {
            (h.devices.into_iter())
                .filter(|d| d.output.is_some())
                .map(move |d| (h.host, d.id, d.name))
        })
        .collect()
}

/// The folder relative file names in a patch start from: its file's.
fn folder_of(file: Option<&std::path::Path>) -> PathBuf {
    match file.and_then(|f| f.parent()) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Write an RGBA image as PNG.
fn write_png(path: &std::path::Path, image: &egui::ColorImage) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let [width, height] = image.size;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(image.as_raw()).map_err(|e| e.to_string())
}

impl eframe::App for Editor {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}
