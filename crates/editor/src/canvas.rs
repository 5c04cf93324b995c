//! The node canvas: an egui-snarl view of the document. Snarl holds only
//! what it needs to lay nodes out (ids, positions, wires, and the notes),
//! mirrored from the [`Patch`] whenever the document changes; what the
//! user does on it comes back as [`Action`]s that the editor turns into
//! document edits. So the document stays the one truth, and every gesture
//! is undoable.
//!
//! Snarl lays out every node every frame. To keep a frame of a large patch
//! cheap, a row (a pin with its label and knob) that is out of view, or
//! too small to read when zoomed out, is not drawn: it keeps the place it
//! took when last drawn, so nodes keep their size and wires their ends.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use egui::emath::TSTransform;
use egui::{Color32, Pos2, Rect, Ui, Vec2};
use egui_snarl::ui::{AnyPins, PinInfo, PinWireInfo, SnarlPin, SnarlStyle, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, InPinId, NodeId, OutPin, OutPinId, Snarl};
use patchbay_core::registry::{Channels, PortKind};
use patchbay_core::{Node, NodeDescriptor, Patch, PortRef, Tap};

use crate::document::{Document, Placed, Selection, WireEnd};
use crate::knob::{ParamEvent, param_control};
use crate::palette;

/// Audio pins and wires.
pub const AUDIO_COLOUR: Color32 = Color32::from_rgb(240, 150, 50);
/// Control pins and wires.
pub const CONTROL_COLOUR: Color32 = Color32::from_rgb(80, 170, 240);
/// Parameter pins (a signal there drives the parameter).
pub const PARAM_COLOUR: Color32 = Color32::from_rgb(170, 120, 230);
/// The outline of a node the engine reports a problem with.
pub const ERROR_COLOUR: Color32 = Color32::from_rgb(235, 80, 70);

/// Spacing of the grid that places nodes a file gives no position.
const AUTO_LAYOUT: [f32; 2] = [240.0, 200.0];
const AUTO_LAYOUT_COLUMNS: usize = 6;
/// Size of the meter, scope and spectrum drawings on analysis nodes.
const TELEMETRY_SIZE: Vec2 = egui::vec2(180.0, 60.0);
/// Below this zoom, labels and knobs are too small to read or use: rows
/// keep their place without being drawn.
const DETAIL_SCALE: f32 = 0.4;
/// Below this zoom, node titles are a few pixels high: not drawn.
const TITLE_SCALE: f32 = 0.3;
/// What a node not drawn yet takes on the canvas, roughly, for fitting the
/// view.
const TYPICAL_NODE: Vec2 = egui::vec2(200.0, 160.0);
/// For how many frames a fit measures nodes again.
const FIT_FRAMES: u8 = 6;
/// How far past an output row its pin reaches, for hovering it.
const PIN_REACH: f32 = 14.0;
/// How wide a note's text runs before it wraps, unless it has a width of
/// its own (dragged at its corner).
const NOTE_WIDTH: f32 = 220.0;

/// A note's own width as drawn: whatever a file says, within reason.
fn note_width(width: f32) -> f32 {
    width.clamp(80.0, 1000.0)
}

/// Something the user did on the canvas, for the editor to carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Drag from an output to an input ended on the input.
    Connect(PortRef, PortRef),
    /// A wire was cut.
    Disconnect(PortRef, PortRef),
    /// Every wire of a port was cut (`true`: an input).
    DisconnectPort(PortRef, bool),
    /// A parameter control was used.
    Param(String, String, ParamEvent),
    /// Nodes and notes to delete.
    Remove(Selection),
    /// Nodes to copy.
    Duplicate(Vec<String>),
    /// A node from the palette, at a canvas position.
    Add(String, Pos2),
    /// A node from the dropped-wire menu, connected to the wire.
    AddConnected(String, Pos2, WireEnd),
    /// A new note at a canvas position.
    AddNote(Pos2),
    /// A note's text was edited.
    EditNote(usize, String),
    /// A note's width was dragged to a new one.
    ResizeNote(usize, f32),
    /// The pointer rests on an output pin: show its level.
    Probe(PortRef),
}

/// What the engine tells the canvas, for one frame.
pub struct Live<'a> {
    /// The readings of an analysis node, by id, while playing.
    pub taps: &'a dyn Fn(&str) -> Option<Arc<Tap>>,
    /// The level at an output, as a tooltip says it.
    pub level: &'a dyn Fn(&PortRef) -> String,
    /// Nodes with a problem (outlined, the reason on hover), by id.
    pub faults: &'a HashMap<String, String>,
}

/// A pin's place on screen, by port (`node.port`), recorded as drawn: tests
/// drag wires between them, and the refusal tooltip points at them.
pub type PinPositions = HashMap<String, Pos2>;

/// What a snarl node stands for.
pub enum Item {
    /// A patch node.
    Node(NodeItem),
    /// A note, by index in the patch's comments.
    Note(usize),
}

/// A patch node as the canvas draws it: what drawing needs at hand, so a
/// frame looks nothing up by id.
pub struct NodeItem {
    id: String,
    /// Where it is in the patch's nodes, as of the last sync.
    index: usize,
    desc: Option<&'static NodeDescriptor>,
    /// The size of each input row (inputs, then parameters) and output
    /// row when last drawn in full; `None` until then.
    inputs: Vec<Option<Vec2>>,
    outputs: Vec<Option<Vec2>>,
    /// The same for the title row.
    header: Option<Vec2>,
}

impl NodeItem {
    fn new(id: String, index: usize, desc: Option<&'static NodeDescriptor>) -> NodeItem {
        let (inputs, outputs) = desc.map_or((0, 0), |d| (d.inputs.len() + d.params.len(), d.outputs.len()));
        NodeItem {
            id,
            index,
            desc,
            inputs: vec![None; inputs],
            outputs: vec![None; outputs],
            header: None,
        }
    }

    /// The node in `patch` (by its index, checked against the id).
    fn node<'p>(&self, patch: &'p Patch) -> Option<&'p Node> {
        match patch.nodes.get(self.index) {
            Some(node) if node.id == self.id => Some(node),
            _ => patch.node(&self.id),
        }
    }

    fn port(&self, name: &str) -> PortRef {
        PortRef {
            node: self.id.clone(),
            port: name.to_string(),
        }
    }
}

/// A note being typed into.
struct NoteEdit {
    index: usize,
    text: String,
    /// Just opened: the field takes the keyboard.
    fresh: bool,
}

/// The canvas and its mirror of the document.
pub struct Canvas {
    snarl: Snarl<Item>,
    placed: HashMap<String, (NodeId, Pos2)>,
    notes: Vec<(NodeId, Pos2)>,
    /// Graph space to screen, as last drawn.
    to_screen: TSTransform,
    pins: Rc<RefCell<PinPositions>>,
    /// The search text of the right-click palette.
    pub query: String,
    /// Kinds offered for the wire dropped last, computed once per drop.
    dropped: Option<(WireEnd, Vec<&'static NodeDescriptor>)>,
    note_edit: Option<NoteEdit>,
    /// A note whose corner is being dragged, and its width so far.
    note_resize: Option<(usize, f32)>,
    /// Frames left to fit the view in: a node's size settles over the
    /// frames after it is first drawn, and each fit measures it again.
    fit: u8,
    /// Each node's size in canvas units, as last drawn.
    sizes: HashMap<NodeId, Vec2>,
}

impl Default for Canvas {
    fn default() -> Self {
        Canvas {
            snarl: Snarl::new(),
            placed: HashMap::new(),
            notes: Vec::new(),
            to_screen: TSTransform::IDENTITY,
            pins: Rc::default(),
            query: String::new(),
            dropped: None,
            note_edit: None,
            note_resize: None,
            fit: 0,
            sizes: HashMap::new(),
        }
    }
}

/// Where a node is drawn: its own position, or a grid slot by its index.
fn position(patch: &Patch, index: usize) -> Pos2 {
    match patch.nodes[index].pos {
        Some([x, y]) => Pos2::new(x, y),
        None => Pos2::new(
            (index % AUTO_LAYOUT_COLUMNS) as f32 * AUTO_LAYOUT[0],
            (index / AUTO_LAYOUT_COLUMNS) as f32 * AUTO_LAYOUT[1],
        ),
    }
}

impl Canvas {
    /// Mirror the document: add and remove nodes and notes, place them,
    /// redraw wires.
    pub fn sync(&mut self, doc: &Document) {
        let patch = doc.patch();
        let index: HashMap<&str, usize> = (patch.nodes.iter().enumerate())
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let gone: Vec<String> = (self.placed.keys())
            .filter(|id| !index.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            if let Some((node, _)) = self.placed.remove(&id) {
                self.snarl.remove_node(node);
            }
        }
        for (i, node) in patch.nodes.iter().enumerate() {
            let at = position(patch, i);
            let desc = doc.registry().get(&node.kind);
            match self.placed.get_mut(&node.id) {
                Some((snarl_id, placed)) => {
                    *placed = at;
                    if let Some(info) = self.snarl.get_node_info_mut(*snarl_id) {
                        info.pos = at;
                        match &mut info.value {
                            Item::Node(item) if item.desc.map(|d| d.kind) == desc.map(|d| d.kind) => {
                                item.index = i
                            }
                            other => *other = Item::Node(NodeItem::new(node.id.clone(), i, desc)),
                        }
                    }
                }
                None => {
                    let snarl_id = self
                        .snarl
                        .insert_node(at, Item::Node(NodeItem::new(node.id.clone(), i, desc)));
                    self.placed.insert(node.id.clone(), (snarl_id, at));
                }
            }
        }
        while self.notes.len() > patch.comments.len() {
            let (node, _) = self.notes.pop().expect("longer than the comments");
            self.snarl.remove_node(node);
        }
        for (i, comment) in patch.comments.iter().enumerate() {
            let at = Pos2::new(comment.pos[0], comment.pos[1]);
            match self.notes.get_mut(i) {
                Some((node, placed)) => {
                    *placed = at;
                    if let Some(info) = self.snarl.get_node_info_mut(*node) {
                        info.pos = at;
                    }
                }
                None => {
                    let node = self.snarl.insert_node(at, Item::Note(i));
                    self.notes.push((node, at));
                }
            }
        }
        if (self.note_edit.as_ref()).is_some_and(|e| e.index >= patch.comments.len()) {
            self.note_edit = None;
        }
        // The document changed under a drag at a note's corner (undo).
        self.note_resize = None;
        let wires: Vec<(OutPinId, InPinId)> = self.snarl.wires().collect();
        for (from, to) in wires {
            self.snarl.disconnect(from, to);
        }
        for edge in &patch.edges {
            let (Some(from), Some(to)) = (self.out_pin(&edge.from), self.in_pin(&edge.to)) else {
                continue;
            };
            self.snarl.connect(from, to);
        }
        self.dropped = None;
    }

    fn descriptor(&self, node: NodeId) -> Option<&'static NodeDescriptor> {
        match self.snarl.get_node(node)? {
            Item::Node(item) => item.desc,
            Item::Note(_) => None,
        }
    }

    fn out_pin(&self, port: &PortRef) -> Option<OutPinId> {
        let (node, _) = self.placed.get(&port.node)?;
        let (output, _) = self.descriptor(*node)?.output(&port.port)?;
        Some(OutPinId { node: *node, output })
    }

    fn in_pin(&self, port: &PortRef) -> Option<InPinId> {
        let (node, _) = self.placed.get(&port.node)?;
        let desc = self.descriptor(*node)?;
        let input = match desc.input(&port.port) {
            Some((i, _)) => i,
            None => desc.inputs.len() + desc.param(&port.port)?.0,
        };
        Some(InPinId { node: *node, input })
    }

    /// Nodes and notes the user moved, once the pointer is released.
    pub fn finished_moves(&self, ui: &Ui) -> Vec<(Placed, [f32; 2])> {
        if !ui.input(|i| i.pointer.any_released()) {
            return Vec::new();
        }
        let moved = |node: NodeId, placed: Pos2| {
            let now = self.snarl.get_node_info(node)?.pos;
            (now != placed).then_some([now.x, now.y])
        };
        let nodes = (self.placed.iter())
            .filter_map(|(id, &(node, placed))| Some((Placed::Node(id.clone()), moved(node, placed)?)));
        let notes = (self.notes.iter().enumerate())
            .filter_map(|(i, &(node, placed))| Some((Placed::Comment(i), moved(node, placed)?)));
        nodes.chain(notes).collect()
    }

    /// What is selected on the canvas.
    pub fn selection(&self, ui: &Ui) -> Selection {
        let mut selection = Selection::default();
        for node in Canvas::widget().get_selected_nodes(ui) {
            match self.snarl.get_node(node) {
                Some(Item::Node(item)) => selection.nodes.push(item.id.clone()),
                Some(Item::Note(i)) => selection.comments.push(*i),
                None => {}
            }
        }
        selection
    }

    /// Where a port's pin was drawn on screen.
    pub fn pin_position(&self, port: &str) -> Option<Pos2> {
        self.pins.borrow().get(port).copied()
    }

    /// The canvas point under screen point `screen`.
    pub fn to_graph(&self, screen: Pos2) -> Pos2 {
        self.to_screen.inverse() * screen
    }

    /// The screen point over canvas point `graph`, as last drawn.
    pub fn to_screen(&self, graph: Pos2) -> Pos2 {
        self.to_screen * graph
    }

    /// The zoom, as last drawn (1: one canvas unit per point).
    pub fn zoom(&self) -> f32 {
        self.to_screen.scaling
    }

    /// Show every node at the next frame.
    pub fn fit_to_view(&mut self) {
        self.fit = FIT_FRAMES;
    }

    /// Start typing into note `index` (a new one, say).
    pub fn edit_note(&mut self, doc: &Document, index: usize) {
        if let Some(comment) = doc.patch().comments.get(index) {
            self.note_edit = Some(NoteEdit {
                index,
                text: comment.text.clone(),
                fresh: true,
            });
        }
    }

    /// The widget as the editor shows it.
    pub fn widget() -> SnarlWidget {
        let style = SnarlStyle {
            pin_size: Some(9.0),
            collapsible: Some(false),
            ..SnarlStyle::new()
        };
        SnarlWidget::new().id_salt("patch canvas").style(style)
    }

    /// The transform that shows every node and note inside `view`.
    fn fitting(&self, view: Rect) -> Option<TSTransform> {
        let bounds = (self.snarl.nodes_pos_ids())
            .map(|(node, pos, _)| {
                Rect::from_min_size(pos, self.sizes.get(&node).copied().unwrap_or(TYPICAL_NODE))
            })
            .reduce(|a, b| a.union(b))?;
        let bounds = bounds.expand(40.0);
        let scale = (view.size() / bounds.size()).min_elem().clamp(0.2, 1.0);
        Some(TSTransform {
            scaling: scale,
            translation: view.center().to_vec2() - bounds.center().to_vec2() * scale,
        })
    }

    /// Draw the canvas; returns what the user did on it.
    pub fn show(&mut self, ui: &mut Ui, doc: &Document, live: &Live<'_>) -> Vec<Action> {
        self.pins.borrow_mut().clear();
        let fit = (self.fit > 0)
            .then(|| {
                self.fit -= 1;
                ui.ctx().request_repaint();
                self.fitting(ui.available_rect_before_wrap())
            })
            .flatten();
        let mut viewer = Viewer {
            doc,
            taps: live.taps,
            level: live.level,
            faults: live.faults,
            actions: Vec::new(),
            pins: self.pins.clone(),
            to_screen: self.to_screen,
            fit,
            detail: true,
            query: &mut self.query,
            dropped: &mut self.dropped,
            note_edit: &mut self.note_edit,
            note_resize: &mut self.note_resize,
            sizes: &mut self.sizes,
        };
        // Labels on nodes are names, not text to select: a drag on one
        // moves the node, and egui spends nothing on text selection.
        let selectable = std::mem::replace(&mut ui.style_mut().interaction.selectable_labels, false);
        Canvas::widget().show(&mut self.snarl, &mut viewer, ui);
        ui.style_mut().interaction.selectable_labels = selectable;
        self.to_screen = viewer.to_screen;
        viewer.actions
    }
}

/// True when the pointer is over `rect` (in `ui`'s own, maybe zoomed,
/// coordinates).
fn pointer_in(ui: &Ui, rect: Rect) -> bool {
    let Some(pointer) = ui.ctx().pointer_hover_pos() else {
        return false;
    };
    let to_global = ui
        .ctx()
        .layer_transform_to_global(ui.layer_id())
        .unwrap_or_default();
    rect.contains(to_global.inverse() * pointer)
}

/// Stand in for a row not drawn this frame: the place it took when last
/// drawn.
fn keep_place(ui: &mut Ui, size: Option<Vec2>) {
    // Allocating (rather than advancing the cursor from its corner) follows
    // the row's layout: output rows run right to left, where the cursor's
    // far corner is infinite.
    ui.allocate_space(size.unwrap_or_default());
}

/// A pin that records where it was drawn (if its row was).
struct Pin {
    info: PinInfo,
    at: Option<(String, Rc<RefCell<PinPositions>>)>,
}

impl Pin {
    fn hidden(info: PinInfo) -> Pin {
        Pin { info, at: None }
    }
}

impl SnarlPin for Pin {
    fn draw(
        self,
        snarl_style: &SnarlStyle,
        style: &egui::Style,
        rect: egui::Rect,
        painter: &egui::Painter,
    ) -> PinWireInfo {
        if let Some((port, sink)) = self.at {
            let to_global = painter.ctx().layer_transform_to_global(painter.layer_id());
            let centre = to_global.unwrap_or_default() * rect.center();
            sink.borrow_mut().insert(port, centre);
        }
        self.info.draw(snarl_style, style, rect, painter)
    }
}

struct Viewer<'a> {
    doc: &'a Document,
    taps: &'a dyn Fn(&str) -> Option<Arc<Tap>>,
    level: &'a dyn Fn(&PortRef) -> String,
    faults: &'a HashMap<String, String>,
    actions: Vec<Action>,
    pins: Rc<RefCell<PinPositions>>,
    to_screen: TSTransform,
    /// A transform to jump to (fit to view), once.
    fit: Option<TSTransform>,
    /// Zoomed in enough to draw labels and knobs.
    detail: bool,
    query: &'a mut String,
    dropped: &'a mut Option<(WireEnd, Vec<&'static NodeDescriptor>)>,
    note_edit: &'a mut Option<NoteEdit>,
    note_resize: &'a mut Option<(usize, f32)>,
    sizes: &'a mut HashMap<NodeId, Vec2>,
}

/// The pin look of a port: colour by kind.
fn pin_info(kind: PortKind) -> PinInfo {
    match kind {
        PortKind::Audio => PinInfo::circle().with_fill(AUDIO_COLOUR),
        PortKind::Control => PinInfo::triangle().with_fill(CONTROL_COLOUR),
    }
}

fn param_pin() -> PinInfo {
    PinInfo::square().with_fill(PARAM_COLOUR)
}

/// How many channels a port carries, as its label shows it.
fn channel_tag(channels: Channels) -> &'static str {
    match channels {
        Channels::Fixed(1) => "",
        Channels::Fixed(2) => " ×2",
        Channels::Fixed(_) => " ×n",
        Channels::Follows => " ×~",
    }
}

fn channel_hover(channels: Channels) -> String {
    match channels {
        Channels::Fixed(1) => "mono".into(),
        Channels::Fixed(n) => format!("{n} channels"),
        Channels::Follows => "as many channels as its input".into(),
    }
}

fn node_item(snarl: &Snarl<Item>, node: NodeId) -> Option<&NodeItem> {
    match snarl.get_node(node)? {
        Item::Node(item) => Some(item),
        Item::Note(_) => None,
    }
}

impl Viewer<'_> {
    fn port_of_in(&self, snarl: &Snarl<Item>, pin: InPinId) -> Option<PortRef> {
        let item = node_item(snarl, pin.node)?;
        let desc = item.desc?;
        let name = match desc.inputs.get(pin.input) {
            Some(p) => p.name,
            None => desc.params.get(pin.input - desc.inputs.len())?.name,
        };
        Some(item.port(name))
    }

    fn port_of_out(&self, snarl: &Snarl<Item>, pin: OutPinId) -> Option<PortRef> {
        let item = node_item(snarl, pin.node)?;
        Some(item.port(item.desc?.outputs.get(pin.output)?.name))
    }

    fn pin(&self, info: PinInfo, port: &PortRef) -> Pin {
        Pin {
            info,
            at: Some((port.to_string(), self.pins.clone())),
        }
    }

    /// Whether a row is drawn this frame: in view, and readable (or never
    /// drawn yet, so its size is unknown).
    fn draws(&self, ui: &Ui, known: Option<Vec2>) -> bool {
        ui.is_rect_visible(ui.max_rect()) && (self.detail || known.is_none())
    }

    fn kind_list(&mut self, ui: &mut Ui, kinds: &[&'static NodeDescriptor]) -> Option<&'static str> {
        let mut picked = None;
        egui::ScrollArea::vertical().max_height(320.0).show(ui, |ui| {
            for desc in kinds {
                let button = ui.button(desc.kind).on_hover_text(palette::short_summary(desc));
                if button.clicked() {
                    picked = Some(desc.kind);
                }
            }
        });
        picked
    }

    fn note_body(&mut self, index: usize, ui: &mut Ui) {
        let comment = self.doc.patch().comments.get(index);
        let text = comment.map_or("", |c| c.text.as_str());
        let width = match *self.note_resize {
            Some((resized, width)) if resized == index => width,
            _ => (comment.and_then(|c| c.width)).map_or(NOTE_WIDTH, note_width),
        };
        match self.note_edit.as_mut().filter(|e| e.index == index) {
            Some(edit) => {
                let field = ui.add(
                    egui::TextEdit::multiline(&mut edit.text)
                        .desired_width(width)
                        .desired_rows(3)
                        .hint_text("a note"),
                );
                field.widget_info(|| {
                    let mut info = egui::WidgetInfo::text_edit(true, "", edit.text.as_str(), "");
                    info.label = Some(format!("note {} text", index + 1));
                    info
                });
                if std::mem::take(&mut edit.fresh) {
                    field.request_focus();
                }
                let escape = ui.input(|i| i.key_pressed(egui::Key::Escape));
                if field.lost_focus() || escape {
                    let text = std::mem::take(&mut edit.text);
                    *self.note_edit = None;
                    self.actions.push(Action::EditNote(index, text));
                }
            }
            None => {
                let shown = if text.is_empty() { "(empty note)" } else { text };
                ui.set_min_width(width);
                ui.set_max_width(width);
                let label = ui.add(
                    egui::Label::new(egui::RichText::new(shown).color(Color32::from_rgb(235, 225, 160)))
                        .wrap()
                        .sense(egui::Sense::click()),
                );
                if label.double_clicked() {
                    *self.note_edit = Some(NoteEdit {
                        index,
                        text: text.to_string(),
                        fresh: true,
                    });
                }
                label.on_hover_text("double-click to edit");
            }
        }
        self.note_grip(index, width, ui);
    }

    /// A note's corner: dragged sideways, it sets how wide the text runs
    /// (one undo step when let go).
    fn note_grip(&mut self, index: usize, width: f32, ui: &mut Ui) {
        const GRIP: f32 = 10.0;
        let (row, _) = ui.allocate_exact_size(egui::vec2(width, GRIP), egui::Sense::hover());
        let corner = egui::Rect::from_min_max(row.right_top() - egui::vec2(GRIP, 0.0), row.right_bottom());
        let grip = ui.interact(corner, ui.id().with(("note width", index)), egui::Sense::drag());
        grip.widget_info(|| {
            egui::WidgetInfo::labeled(
                egui::WidgetType::Slider,
                true,
                format!("note {} width", index + 1),
            )
        });
        let stroke = ui.visuals().widgets.style(&grip).fg_stroke;
        for k in 1..=3 {
            let inset = GRIP * k as f32 / 4.0;
            ui.painter().line_segment(
                [
                    corner.right_top() + egui::vec2(0.0, inset),
                    corner.left_bottom() + egui::vec2(inset, 0.0),
                ],
                stroke,
            );
        }
        if grip.dragged() {
            let wider = width + grip.drag_delta().x;
            *self.note_resize = Some((index, note_width(wider)));
        }
        if grip.drag_stopped()
            && let Some((resized, width)) = self.note_resize.take()
            && resized == index
        {
            self.actions.push(Action::ResizeNote(index, width));
        }
        grip.on_hover_cursor(egui::CursorIcon::ResizeHorizontal)
            .on_hover_text("drag to set the note's width");
    }
}

impl SnarlViewer<Item> for Viewer<'_> {
    fn title(&mut self, item: &Item) -> String {
        match item {
            Item::Node(item) => item.id.clone(),
            Item::Note(_) => "note".into(),
        }
    }

    fn node_frame(
        &mut self,
        default: egui::Frame,
        node: NodeId,
        _: &[InPin],
        _: &[OutPin],
        snarl: &Snarl<Item>,
    ) -> egui::Frame {
        match &snarl[node] {
            Item::Note(_) => default.fill(Color32::from_rgb(58, 54, 36)),
            Item::Node(item) if self.faults.contains_key(&item.id) => {
                default.stroke(egui::Stroke::new(2.0, ERROR_COLOUR))
            }
            Item::Node(_) => default,
        }
    }

    fn show_header(&mut self, node: NodeId, _: &[InPin], _: &[OutPin], ui: &mut Ui, snarl: &mut Snarl<Item>) {
        let item = match &mut snarl[node] {
            Item::Node(item) => item,
            Item::Note(_) => {
                ui.weak("note");
                return;
            }
        };
        // The header's ui spans the whole node: out of view, so is the
        // node. Titles smaller than a few pixels are not drawn either.
        let readable = self.to_screen.scaling >= TITLE_SCALE;
        if item.header.is_some() && !(readable && ui.is_rect_visible(ui.max_rect())) {
            keep_place(ui, item.header);
            return;
        }
        let kind = item.desc.map_or("?", |d| d.kind);
        let header = ui.horizontal(|ui| {
            ui.strong(&item.id);
            if kind != item.id.trim_end_matches(|c: char| c.is_ascii_digit()) {
                ui.weak(kind);
            }
        });
        if let Some(fault) = self.faults.get(&item.id) {
            ui.colored_label(ERROR_COLOUR, "⚠").on_hover_text(fault);
            header.response.on_hover_text(fault);
        }
        item.header = Some(ui.min_rect().size());
    }

    fn inputs(&mut self, item: &Item) -> usize {
        match item {
            Item::Node(item) => item.inputs.len(),
            Item::Note(_) => 0,
        }
    }

    fn outputs(&mut self, item: &Item) -> usize {
        match item {
            Item::Node(item) => item.outputs.len(),
            Item::Note(_) => 0,
        }
    }

    fn show_input(&mut self, pin: &InPin, ui: &mut Ui, snarl: &mut Snarl<Item>) -> impl SnarlPin + 'static {
        let Item::Node(item) = &mut snarl[pin.id.node] else {
            return Pin::hidden(PinInfo::default());
        };
        let (Some(desc), row) = (item.desc, pin.id.input) else {
            return Pin::hidden(PinInfo::default());
        };
        let port = desc.inputs.get(row);
        let look = port.map_or_else(param_pin, |p| pin_info(p.kind));
        if !self.draws(ui, item.inputs[row]) {
            keep_place(ui, item.inputs[row]);
            return Pin::hidden(look);
        }
        let summed = pin.remotes.len() > 1;
        let at = if let Some(port) = port {
            let r = ui.label(format!("{}{}", port.name, channel_tag(port.channels)));
            r.on_hover_ui(|ui| {
                ui.label(format!("{} ({})", port.doc, channel_hover(port.channels)));
            });
            if summed {
                ui.label("Σ").on_hover_text("the signals wired here are summed");
            }
            item.port(port.name)
        } else {
            let spec = &desc.params[row - desc.inputs.len()];
            ui.label(spec.name).on_hover_text(spec.doc);
            let at = item.port(spec.name);
            if pin.remotes.is_empty() {
                let set = item.node(self.doc.patch()).and_then(|n| n.params.get(spec.name));
                let value = set.copied().unwrap_or(spec.default);
                if let Some(event) = param_control(ui, &at.to_string(), spec, value) {
                    (self.actions).push(Action::Param(item.id.clone(), spec.name.to_string(), event));
                }
            } else {
                ui.weak(if summed { "Σ driven" } else { "driven" })
                    .on_hover_text("a signal drives this parameter (summed when several)");
            }
            at
        };
        item.inputs[row] = Some(ui.min_rect().size());
        self.pin(look, &at)
    }

    fn show_output(&mut self, pin: &OutPin, ui: &mut Ui, snarl: &mut Snarl<Item>) -> impl SnarlPin + 'static {
        let Item::Node(item) = &mut snarl[pin.id.node] else {
            return Pin::hidden(PinInfo::default());
        };
        let row = pin.id.output;
        let Some(port) = item.desc.and_then(|d| d.outputs.get(row)) else {
            return Pin::hidden(PinInfo::default());
        };
        let look = pin_info(port.kind);
        if !self.draws(ui, item.outputs[row]) {
            keep_place(ui, item.outputs[row]);
            return Pin::hidden(look);
        }
        let label = ui.label(format!("{}{}", port.name, channel_tag(port.channels)));
        let at = item.port(port.name);
        // The row and the pin beyond its end.
        let row_rect = ui.max_rect().with_max_x(ui.max_rect().max.x + PIN_REACH);
        if pointer_in(ui, row_rect) {
            let level = (self.level)(&at);
            egui::Tooltip::for_widget(&label).show(|ui| {
                ui.label(format!("{at}: {level}"));
                ui.weak(format!("{} ({})", port.doc, channel_hover(port.channels)));
            });
            self.actions.push(Action::Probe(at.clone()));
        }
        item.outputs[row] = Some(ui.min_rect().size());
        self.pin(look, &at)
    }

    fn has_body(&mut self, item: &Item) -> bool {
        match item {
            Item::Node(item) => item
                .desc
                .is_some_and(|d| matches!(d.kind, "meter" | "scope" | "spectrum")),
            Item::Note(_) => true,
        }
    }

    fn show_body(&mut self, node: NodeId, _: &[InPin], _: &[OutPin], ui: &mut Ui, snarl: &mut Snarl<Item>) {
        match &snarl[node] {
            Item::Note(index) => self.note_body(*index, ui),
            Item::Node(item) => {
                let start = ui.cursor().min;
                if !ui.is_rect_visible(Rect::from_min_size(start, TELEMETRY_SIZE)) || !self.detail {
                    keep_place(ui, Some(TELEMETRY_SIZE));
                    return;
                }
                let tap = (self.taps)(&item.id);
                let kind = item.desc.map_or("", |d| d.kind);
                crate::telemetry::draw(ui, kind, tap.as_deref(), TELEMETRY_SIZE);
            }
        }
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<Item>) {
        if let (Some(a), Some(b)) = (self.port_of_out(snarl, from.id), self.port_of_in(snarl, to.id)) {
            self.actions.push(Action::Connect(a, b));
        }
    }

    fn disconnect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<Item>) {
        if let (Some(a), Some(b)) = (self.port_of_out(snarl, from.id), self.port_of_in(snarl, to.id)) {
            self.actions.push(Action::Disconnect(a, b));
        }
    }

    fn drop_outputs(&mut self, pin: &OutPin, snarl: &mut Snarl<Item>) {
        if let Some(port) = self.port_of_out(snarl, pin.id) {
            self.actions.push(Action::DisconnectPort(port, false));
        }
    }

    fn drop_inputs(&mut self, pin: &InPin, snarl: &mut Snarl<Item>) {
        if let Some(port) = self.port_of_in(snarl, pin.id) {
            self.actions.push(Action::DisconnectPort(port, true));
        }
    }

    fn has_graph_menu(&mut self, _: Pos2, _: &mut Snarl<Item>) -> bool {
        true
    }

    fn show_graph_menu(&mut self, pos: Pos2, ui: &mut Ui, _: &mut Snarl<Item>) {
        if ui.button("Add note here").clicked() {
            self.actions.push(Action::AddNote(pos));
            ui.close();
            return;
        }
        ui.separator();
        ui.label("Add node");
        let search =
            ui.add(egui::TextEdit::singleline(self.query).hint_text("search name, category, summary"));
        search.request_focus();
        let found = palette::search(&self.doc.registry().kinds(), self.query);
        let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
        let picked = match (enter, found.first()) {
            (true, Some(first)) => Some(first.kind),
            _ => self.kind_list(ui, &found),
        };
        if let Some(kind) = picked {
            self.actions.push(Action::Add(kind.to_string(), pos));
            self.query.clear();
            ui.close();
        }
    }

    fn has_dropped_wire_menu(&mut self, _: AnyPins, _: &mut Snarl<Item>) -> bool {
        true
    }

    fn show_dropped_wire_menu(&mut self, pos: Pos2, ui: &mut Ui, src_pins: AnyPins, snarl: &mut Snarl<Item>) {
        let wire = match src_pins {
            AnyPins::Out(pins) => pins
                .first()
                .and_then(|p| self.port_of_out(snarl, *p))
                .map(WireEnd::FromOutput),
            AnyPins::In(pins) => pins
                .first()
                .and_then(|p| self.port_of_in(snarl, *p))
                .map(WireEnd::IntoInput),
        };
        let Some(wire) = wire else {
            return;
        };
        if self.dropped.as_ref().is_none_or(|(w, _)| *w != wire) {
            *self.dropped = Some((wire.clone(), self.doc.kinds_taking(&wire)));
        }
        let kinds = self.dropped.as_ref().map(|(_, k)| k.clone()).unwrap_or_default();
        ui.label(format!("Nodes that can take {wire}"));
        if let Some(kind) = self.kind_list(ui, &kinds) {
            self.actions
                .push(Action::AddConnected(kind.to_string(), pos, wire));
            ui.close();
        }
    }

    fn has_node_menu(&mut self, _: &Item) -> bool {
        true
    }

    fn show_node_menu(
        &mut self,
        node: NodeId,
        _: &[InPin],
        _: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<Item>,
    ) {
        match &snarl[node] {
            Item::Node(item) => {
                if ui.button("Duplicate").clicked() {
                    self.actions.push(Action::Duplicate(vec![item.id.clone()]));
                    ui.close();
                }
                if ui.button("Delete").clicked() {
                    self.actions.push(Action::Remove(Selection {
                        nodes: vec![item.id.clone()],
                        comments: Vec::new(),
                    }));
                    ui.close();
                }
            }
            Item::Note(index) => {
                if ui.button("Edit note").clicked() {
                    let text =
                        (self.doc.patch().comments.get(*index)).map_or(String::new(), |c| c.text.clone());
                    *self.note_edit = Some(NoteEdit {
                        index: *index,
                        text,
                        fresh: true,
                    });
                    ui.close();
                }
                if ui.button("Delete note").clicked() {
                    self.actions.push(Action::Remove(Selection {
                        nodes: Vec::new(),
                        comments: vec![*index],
                    }));
                    ui.close();
                }
            }
        }
    }

    fn final_node_rect(&mut self, node: NodeId, rect: Rect, _: &mut Ui, _: &mut Snarl<Item>) {
        self.sizes.insert(node, rect.size());
    }

    fn current_transform(&mut self, to_global: &mut TSTransform, _: &mut Snarl<Item>) {
        if let Some(fit) = self.fit.take() {
            *to_global = fit;
        }
        self.to_screen = *to_global;
        self.detail = to_global.scaling >= DETAIL_SCALE;
    }
}
