//! The node canvas: an egui-snarl view of the document. Snarl holds only
//! node ids, positions and wires, rebuilt from the [`Patch`] whenever the
//! document changes; what the user does on it comes back as [`Action`]s that
//! the editor turns into document edits. So the document stays the one
//! truth, and every gesture is undoable.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use egui::emath::TSTransform;
use egui::{Color32, Pos2, Ui};
use egui_snarl::ui::{AnyPins, PinInfo, PinWireInfo, SnarlPin, SnarlStyle, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, InPinId, NodeId, OutPin, OutPinId, Snarl};
use patchbay_core::registry::{Channels, PortKind};
use patchbay_core::{NodeDescriptor, Patch, PortRef, Tap};

use crate::document::{Document, WireEnd};
use crate::knob::{ParamEvent, param_control};
use crate::palette;

/// Audio pins and wires.
pub const AUDIO_COLOUR: Color32 = Color32::from_rgb(240, 150, 50);
/// Control pins and wires.
pub const CONTROL_COLOUR: Color32 = Color32::from_rgb(80, 170, 240);
/// Parameter pins (a signal there drives the parameter).
pub const PARAM_COLOUR: Color32 = Color32::from_rgb(170, 120, 230);

/// Spacing of the grid that places nodes a file gives no position.
const AUTO_LAYOUT: [f32; 2] = [240.0, 200.0];
const AUTO_LAYOUT_COLUMNS: usize = 6;
/// Size of the meter, scope and spectrum drawings on analysis nodes.
const TELEMETRY_SIZE: egui::Vec2 = egui::vec2(180.0, 60.0);

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
    /// Nodes to delete.
    Remove(Vec<String>),
    /// Nodes to copy.
    Duplicate(Vec<String>),
    /// A node from the palette, at a canvas position.
    Add(String, Pos2),
    /// A node from the dropped-wire menu, connected to the wire.
    AddConnected(String, Pos2, WireEnd),
}

/// A pin's place on screen, by port (`node.port`), recorded as drawn: tests
/// drag wires between them, and the refusal tooltip points at them.
pub type PinPositions = HashMap<String, Pos2>;

/// The canvas and its mirror of the document.
pub struct Canvas {
    snarl: Snarl<String>,
    placed: HashMap<String, (NodeId, Pos2)>,
    /// Graph space to screen, as last drawn.
    to_screen: TSTransform,
    pins: Rc<RefCell<PinPositions>>,
    /// The search text of the right-click palette.
    pub query: String,
    /// Kinds offered for the wire dropped last, computed once per drop.
    dropped: Option<(WireEnd, Vec<&'static NodeDescriptor>)>,
}

impl Default for Canvas {
    fn default() -> Self {
        Canvas {
            snarl: Snarl::new(),
            placed: HashMap::new(),
            to_screen: TSTransform::IDENTITY,
            pins: Rc::default(),
            query: String::new(),
            dropped: None,
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
    /// Mirror `patch`: add and remove nodes, place them, redraw wires.
    pub fn sync(&mut self, doc: &Document) {
        let patch = doc.patch();
        let keep: std::collections::HashSet<&str> = patch.nodes.iter().map(|n| n.id.as_str()).collect();
        let gone: Vec<String> = (self.placed.keys())
            .filter(|id| !keep.contains(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            if let Some((node, _)) = self.placed.remove(&id) {
                self.snarl.remove_node(node);
            }
        }
        for (index, node) in patch.nodes.iter().enumerate() {
            let at = position(patch, index);
            match self.placed.get_mut(&node.id) {
                Some((snarl_id, placed)) => {
                    *placed = at;
                    if let Some(info) = self.snarl.get_node_info_mut(*snarl_id) {
                        info.pos = at;
                    }
                }
                None => {
                    let snarl_id = self.snarl.insert_node(at, node.id.clone());
                    self.placed.insert(node.id.clone(), (snarl_id, at));
                }
            }
        }
        let wires: Vec<(OutPinId, InPinId)> = self.snarl.wires().collect();
        for (from, to) in wires {
            self.snarl.disconnect(from, to);
        }
        for edge in &patch.edges {
            let (Some(from), Some(to)) = (self.out_pin(doc, &edge.from), self.in_pin(doc, &edge.to)) else {
                continue;
            };
            self.snarl.connect(from, to);
        }
        self.dropped = None;
    }

    fn out_pin(&self, doc: &Document, port: &PortRef) -> Option<OutPinId> {
        let (node, _) = self.placed.get(&port.node)?;
        let (output, _) = doc.descriptor(&port.node)?.output(&port.port)?;
        Some(OutPinId { node: *node, output })
    }

    fn in_pin(&self, doc: &Document, port: &PortRef) -> Option<InPinId> {
        let (node, _) = self.placed.get(&port.node)?;
        let desc = doc.descriptor(&port.node)?;
        let input = match desc.input(&port.port) {
            Some((i, _)) => i,
            None => desc.inputs.len() + desc.param(&port.port)?.0,
        };
        Some(InPinId { node: *node, input })
    }

    /// Nodes the user moved, once the pointer is released: `(id, position)`.
    pub fn finished_moves(&self, ui: &Ui) -> Vec<(String, [f32; 2])> {
        if ui.input(|i| i.pointer.any_down()) {
            return Vec::new();
        }
        (self.placed.iter())
            .filter_map(|(id, (node, placed))| {
                let now = self.snarl.get_node_info(*node)?.pos;
                (now != *placed).then(|| (id.clone(), [now.x, now.y]))
            })
            .collect()
    }

    /// The node ids selected on the canvas.
    pub fn selection(&self, ui: &Ui, widget: &SnarlWidget) -> Vec<String> {
        (widget.get_selected_nodes(ui).into_iter())
            .filter_map(|n| self.snarl.get_node(n).cloned())
            .collect()
    }

    /// Where a port's pin was drawn on screen.
    pub fn pin_position(&self, port: &str) -> Option<Pos2> {
        self.pins.borrow().get(port).copied()
    }

    /// The canvas point under screen point `screen`.
    pub fn to_graph(&self, screen: Pos2) -> Pos2 {
        self.to_screen.inverse() * screen
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

    /// Draw the canvas; returns what the user did on it.
    pub fn show(
        &mut self,
        ui: &mut Ui,
        doc: &Document,
        taps: &dyn Fn(&str) -> Option<Arc<Tap>>,
    ) -> Vec<Action> {
        self.pins.borrow_mut().clear();
        let mut viewer = Viewer {
            doc,
            taps,
            actions: Vec::new(),
            pins: self.pins.clone(),
            to_screen: self.to_screen,
            query: &mut self.query,
            dropped: &mut self.dropped,
        };
        Canvas::widget().show(&mut self.snarl, &mut viewer, ui);
        self.to_screen = viewer.to_screen;
        viewer.actions
    }
}

/// A pin that records where it was drawn.
struct Pin {
    info: PinInfo,
    port: String,
    sink: Rc<RefCell<PinPositions>>,
}

impl SnarlPin for Pin {
    fn draw(
        self,
        snarl_style: &SnarlStyle,
        style: &egui::Style,
        rect: egui::Rect,
        painter: &egui::Painter,
    ) -> PinWireInfo {
        let to_global = painter.ctx().layer_transform_to_global(painter.layer_id());
        let centre = to_global.unwrap_or_default() * rect.center();
        self.sink.borrow_mut().insert(self.port, centre);
        self.info.draw(snarl_style, style, rect, painter)
    }
}

struct Viewer<'a> {
    doc: &'a Document,
    taps: &'a dyn Fn(&str) -> Option<Arc<Tap>>,
    actions: Vec<Action>,
    pins: Rc<RefCell<PinPositions>>,
    to_screen: TSTransform,
    query: &'a mut String,
    dropped: &'a mut Option<(WireEnd, Vec<&'static NodeDescriptor>)>,
}

/// The pin look of a port: colour by kind, a bigger pin for wider signals.
fn pin_info(kind: PortKind) -> PinInfo {
    match kind {
        PortKind::Audio => PinInfo::circle().with_fill(AUDIO_COLOUR),
        PortKind::Control => PinInfo::triangle().with_fill(CONTROL_COLOUR),
    }
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

impl Viewer<'_> {
    fn port_of_in(&self, snarl: &Snarl<String>, pin: InPinId) -> Option<PortRef> {
        let id = snarl.get_node(pin.node)?;
        let desc = self.doc.descriptor(id)?;
        let name = match desc.inputs.get(pin.input) {
            Some(p) => p.name,
            None => desc.params.get(pin.input - desc.inputs.len())?.name,
        };
        Some(PortRef {
            node: id.clone(),
            port: name.to_string(),
        })
    }

    fn port_of_out(&self, snarl: &Snarl<String>, pin: OutPinId) -> Option<PortRef> {
        let id = snarl.get_node(pin.node)?;
        let desc = self.doc.descriptor(id)?;
        Some(PortRef {
            node: id.clone(),
            port: desc.outputs.get(pin.output)?.name.to_string(),
        })
    }

    fn pin(&self, info: PinInfo, port: &PortRef) -> Pin {
        Pin {
            info,
            port: port.to_string(),
            sink: self.pins.clone(),
        }
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
}

impl SnarlViewer<String> for Viewer<'_> {
    fn title(&mut self, node: &String) -> String {
        node.clone()
    }

    fn show_header(
        &mut self,
        node: NodeId,
        _: &[InPin],
        _: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<String>,
    ) {
        let id = &snarl[node];
        let kind = self.doc.patch().node(id).map_or("", |n| n.kind.as_str());
        ui.horizontal(|ui| {
            ui.strong(id);
            if kind != id.trim_end_matches(|c: char| c.is_ascii_digit()) {
                ui.weak(kind);
            }
        });
    }

    fn inputs(&mut self, node: &String) -> usize {
        self.doc
            .descriptor(node)
            .map_or(0, |d| d.inputs.len() + d.params.len())
    }

    fn outputs(&mut self, node: &String) -> usize {
        self.doc.descriptor(node).map_or(0, |d| d.outputs.len())
    }

    fn show_input(&mut self, pin: &InPin, ui: &mut Ui, snarl: &mut Snarl<String>) -> impl SnarlPin + 'static {
        let id = snarl[pin.id.node].clone();
        let Some(desc) = self.doc.descriptor(&id) else {
            return self.pin(
                PinInfo::default(),
                &PortRef {
                    node: id,
                    port: String::new(),
                },
            );
        };
        let summed = pin.remotes.len() > 1;
        if let Some(port) = desc.inputs.get(pin.id.input) {
            let r = ui.label(format!("{}{}", port.name, channel_tag(port.channels)));
            r.on_hover_text(format!("{} ({})", port.doc, channel_hover(port.channels)));
            if summed {
                ui.label("Σ").on_hover_text("the signals wired here are summed");
            }
            let at = PortRef {
                node: id,
                port: port.name.into(),
            };
            return self.pin(pin_info(port.kind), &at);
        }
        let spec = &desc.params[pin.id.input - desc.inputs.len()];
        let at = PortRef {
            node: id.clone(),
            port: spec.name.into(),
        };
        ui.label(spec.name).on_hover_text(spec.doc);
        if pin.remotes.is_empty() {
            let value = self.doc.param_value(&id, spec.name).unwrap_or(spec.default);
            let label = at.to_string();
            if let Some(event) = param_control(ui, &label, spec, value) {
                self.actions.push(Action::Param(id, spec.name.to_string(), event));
            }
        } else {
            ui.weak(if summed { "Σ driven" } else { "driven" })
                .on_hover_text("a signal drives this parameter (summed when several)");
        }
        self.pin(PinInfo::square().with_fill(PARAM_COLOUR), &at)
    }

    fn show_output(
        &mut self,
        pin: &OutPin,
        ui: &mut Ui,
        snarl: &mut Snarl<String>,
    ) -> impl SnarlPin + 'static {
        let id = snarl[pin.id.node].clone();
        let Some(port) = self
            .doc
            .descriptor(&id)
            .and_then(|d| d.outputs.get(pin.id.output))
        else {
            return self.pin(
                PinInfo::default(),
                &PortRef {
                    node: id,
                    port: String::new(),
                },
            );
        };
        ui.label(format!("{}{}", port.name, channel_tag(port.channels)))
            .on_hover_text(format!("{} ({})", port.doc, channel_hover(port.channels)));
        let at = PortRef {
            node: id,
            port: port.name.into(),
        };
        self.pin(pin_info(port.kind), &at)
    }

    fn has_body(&mut self, node: &String) -> bool {
        self.doc
            .patch()
            .node(node)
            .is_some_and(|n| matches!(n.kind.as_str(), "meter" | "scope" | "spectrum"))
    }

    fn show_body(&mut self, node: NodeId, _: &[InPin], _: &[OutPin], ui: &mut Ui, snarl: &mut Snarl<String>) {
        let id = &snarl[node];
        let kind = self.doc.patch().node(id).map_or("", |n| n.kind.as_str());
        let tap = (self.taps)(id);
        crate::telemetry::draw(ui, kind, tap.as_deref(), TELEMETRY_SIZE);
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<String>) {
        if let (Some(a), Some(b)) = (self.port_of_out(snarl, from.id), self.port_of_in(snarl, to.id)) {
            self.actions.push(Action::Connect(a, b));
        }
    }

    fn disconnect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<String>) {
        if let (Some(a), Some(b)) = (self.port_of_out(snarl, from.id), self.port_of_in(snarl, to.id)) {
            self.actions.push(Action::Disconnect(a, b));
        }
    }

    fn drop_outputs(&mut self, pin: &OutPin, snarl: &mut Snarl<String>) {
        if let Some(port) = self.port_of_out(snarl, pin.id) {
            self.actions.push(Action::DisconnectPort(port, false));
        }
    }

    fn drop_inputs(&mut self, pin: &InPin, snarl: &mut Snarl<String>) {
        if let Some(port) = self.port_of_in(snarl, pin.id) {
            self.actions.push(Action::DisconnectPort(port, true));
        }
    }

    fn has_graph_menu(&mut self, _: Pos2, _: &mut Snarl<String>) -> bool {
        true
    }

    fn show_graph_menu(&mut self, pos: Pos2, ui: &mut Ui, _: &mut Snarl<String>) {
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

    fn has_dropped_wire_menu(&mut self, _: AnyPins, _: &mut Snarl<String>) -> bool {
        true
    }

    fn show_dropped_wire_menu(
        &mut self,
        pos: Pos2,
        ui: &mut Ui,
        src_pins: AnyPins,
        snarl: &mut Snarl<String>,
    ) {
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

    fn has_node_menu(&mut self, _: &String) -> bool {
        true
    }

    fn show_node_menu(
        &mut self,
        node: NodeId,
        _: &[InPin],
        _: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<String>,
    ) {
        let id = snarl[node].clone();
        if ui.button("Duplicate").clicked() {
            self.actions.push(Action::Duplicate(vec![id.clone()]));
            ui.close();
        }
        if ui.button("Delete").clicked() {
            self.actions.push(Action::Remove(vec![id]));
            ui.close();
        }
    }

    fn current_transform(&mut self, to_global: &mut TSTransform, _: &mut Snarl<String>) {
        self.to_screen = *to_global;
    }
}
