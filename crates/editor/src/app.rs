//! The editor window: toolbar and transport on top, the canvas in the
//! middle, a status line below; the palette and file prompts float over
//! it. Every frame it turns canvas actions and shortcuts into document
//! edits, then brings the canvas and the engine up to date with the
//! document's changes.

use std::path::PathBuf;

use egui::{Align2, Color32, Key, KeyboardShortcut, Modifiers, Pos2, Rect, Ui};

use crate::audio::{Audio, Sink};
use crate::canvas::{Action, Canvas};
use crate::document::{Document, FileError};
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

/// A refused connection, shown where it was tried.
struct Refusal {
    text: String,
    at: Pos2,
    since: f64,
}

/// What to do once unsaved changes are dealt with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Then {
    New,
    Open,
    Quit,
}

/// A floating prompt.
enum Dialog {
    /// Asking for a file name to open or save as.
    Path { save: bool, text: String },
    /// The patch has unsaved changes.
    Unsaved(Then),
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
    canvas_rect: Rect,
    quitting: bool,
    screenshot: Option<Screenshot>,
}

impl Editor {
    /// An editor on `doc`, playing to `sink` once audio is switched on.
    pub fn new(doc: Document, sink: Sink) -> Editor {
        let mut canvas = Canvas::default();
        canvas.sync(&doc);
        Editor {
            audio: Audio::new(doc.registry(), sink),
            doc,
            canvas,
            palette: None,
            dialog: None,
            refusal: None,
            status: None,
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

    /// Switch audio on or off.
    pub fn set_audio(&mut self, on: bool) {
        if on {
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

    /// Draw one frame and handle what the user did.
    pub fn show(&mut self, ui: &mut Ui) {
        self.shortcuts(ui);
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_line(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            self.canvas_rect = ui.max_rect();
            let audio = &self.audio;
            let taps = |id: &str| audio.tap(id);
            let actions = self.canvas.show(ui, &self.doc, &taps);
            self.doc.selection = self.canvas.selection(ui, &Canvas::widget());
            for action in actions {
                self.act(ui, action);
            }
            let moves = self.canvas.finished_moves(ui);
            if !moves.is_empty() {
                self.doc.move_nodes(&moves);
            }
        });
        self.palette_window(ui);
        self.dialog_window(ui);
        self.refusal_tip(ui);
        self.bring_up_to_date();
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
        }
        self.audio.poll();
    }

    fn shortcuts(&mut self, ui: &mut Ui) {
        if ui.input(|i| i.viewport().close_requested()) && !self.quitting && self.doc.is_dirty() {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.dialog = Some(Dialog::Unsaved(Then::Quit));
        }
        let typing = ui.ctx().egui_wants_keyboard_input();
        let pressed = |shortcut: &KeyboardShortcut| ui.input_mut(|i| i.consume_shortcut(shortcut));
        // Redo first: its shortcut contains undo's.
        if pressed(&REDO) || pressed(&REDO_Y) {
            self.doc.redo();
        } else if pressed(&UNDO) {
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
        if pressed(&DUPLICATE) && !self.doc.selection.is_empty() {
            let ids = self.doc.selection.clone();
            self.doc.duplicate(&ids);
        }
        if pressed(&PALETTE) {
            self.palette = Some(Palette::default());
        }
        let delete = ui.input(|i| i.key_pressed(Key::Delete) || i.key_pressed(Key::Backspace));
        if delete && !self.doc.selection.is_empty() {
            let ids = self.doc.selection.clone();
            self.doc.remove_nodes(&ids);
        }
    }

    fn act(&mut self, ui: &Ui, action: Action) {
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
            Action::Remove(ids) => {
                self.doc.remove_nodes(&ids);
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
            ui.separator();
            self.transport(ui);
        });
    }

    fn transport(&mut self, ui: &mut Ui) {
        let mut on = self.audio.is_on();
        if ui.toggle_value(&mut on, "Audio").changed() {
            self.set_audio(on);
        }
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
            Then::New => self.replace(Document::new(self.doc.registry())),
            Then::Open => self.ask_path(false),
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
        if self.audio.is_on() {
            self.audio.start(self.doc.patch());
        }
        self.status = None;
    }

    /// Open `path` in place of the current document.
    pub fn open(&mut self, path: PathBuf) -> Result<(), FileError> {
        let doc = Document::open(self.doc.registry(), &path)?;
        self.replace(doc);
        self.status = Some(format!("opened {}", path.display()));
        Ok(())
    }

    fn save(&mut self) {
        match self.doc.save() {
            Ok(()) => self.status = Some("saved".into()),
            Err(FileError::NoPath) => self.ask_path(true),
            Err(e) => self.status = Some(e.to_string()),
        }
    }

    fn dialog_window(&mut self, ui: &mut Ui) {
        let Some(dialog) = &mut self.dialog else {
            return;
        };
        let mut done = false;
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
            Dialog::Unsaved(next) => {
                let next = *next;
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
                                then = Some((true, next));
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
        if let Some((path, save)) = path_chosen {
            self.dialog = None;
            let result = if save {
                self.doc
                    .save_as(&path)
                    .map(|()| self.status = Some(format!("saved {}", path.display())))
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
                    Ok(()) => self.proceed(next),
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
