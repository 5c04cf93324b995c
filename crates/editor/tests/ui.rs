//! The editor driven as a user would, headless (egui_kittest: no display,
//! no GPU): buttons found by their labels, wires dragged between the pins'
//! drawn positions, values typed. Every test checks the Patch model after
//! the interaction, and the saved file where one is written.

use std::path::{Path, PathBuf};

use egui::{Key, Modifiers, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use patchbay_core::{Edge, Node, Patch};
use patchbay_editor::{Document, Editor, Sink};

/// A folder of its own for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("patchbay-editor-ui-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// sine1 at the left, output1 far to the right, wired.
fn sine_patch() -> Patch {
    let mut patch = Patch::default();
    let mut sine = Node::new("sine1", "sine");
    sine.pos = Some([0.0, 0.0]);
    let mut out = Node::new("output1", "output");
    out.pos = Some([700.0, 0.0]);
    patch.nodes = vec![sine, out];
    patch.connect("sine1.out", "output1.in");
    patch
}

fn harness_on(file: &Path) -> Harness<'static, Editor> {
    let doc = Document::open(patchbay_nodes::registry(), file).unwrap();
    let editor = Editor::new(doc, Sink::Null);
    let mut harness = Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(|ui, editor: &mut Editor| editor.show(ui), editor);
    settle(&mut harness);
    harness
}

/// Let a few frames pass (layouts settle, actions are carried out).
fn settle(harness: &mut Harness<'_, Editor>) {
    harness.run_steps(4);
}

fn pin(harness: &Harness<'_, Editor>, port: &str) -> Pos2 {
    harness
        .state()
        .pin_position(port)
        .unwrap_or_else(|| panic!("pin {port} is not drawn"))
}

/// Drag a wire from one pin to another, as the mouse would.
fn drag_wire(harness: &mut Harness<'_, Editor>, from: &str, to: &str) {
    let (a, b) = (pin(harness, from), pin(harness, to));
    harness.hover_at(a);
    harness.step();
    harness.drag_at(a);
    harness.step();
    for k in 1..=4 {
        harness.hover_at(a + (b - a) * (k as f32 / 4.0));
        harness.step();
    }
    harness.drop_at(b);
    settle(harness);
}

fn edge(from: &str, to: &str) -> Edge {
    Edge::new(from, to).unwrap()
}

#[test]
fn add_connect_set_undo_redo_and_save() {
    let dir = scratch("edit");
    let file = dir.join("patch.json");
    std::fs::write(&file, sine_patch().to_json()).unwrap();
    let mut harness = harness_on(&file);

    // Add a node through the palette by typing its name.
    harness.get_by_label("Add node…").click();
    settle(&mut harness);
    harness.get_by_label("Search").type_text("lowpass");
    settle(&mut harness);
    harness.key_press(Key::Enter);
    settle(&mut harness);
    let patch = harness.state().document().patch().clone();
    assert_eq!(patch.nodes.len(), 3);
    assert_eq!(patch.nodes[2].kind, "lowpass");
    assert_eq!(patch.nodes[2].id, "lowpass1");

    // Connect two pins by dragging a wire.
    drag_wire(&mut harness, "sine1.out", "lowpass1.in");
    assert_eq!(
        harness.state().document().patch().edges,
        [edge("sine1.out", "output1.in"), edge("sine1.out", "lowpass1.in")]
    );

    // Type a parameter value.
    harness.get_by_label("lowpass1.cutoff value").click_accesskit();
    settle(&mut harness);
    let field = harness.get_by_label("lowpass1.cutoff typed");
    field.type_text("1.2k");
    settle(&mut harness);
    harness.key_press(Key::Enter);
    settle(&mut harness);
    let cutoff = |h: &Harness<'_, Editor>| {
        h.state()
            .document()
            .patch()
            .node("lowpass1")
            .unwrap()
            .params
            .get("cutoff")
            .copied()
    };
    assert_eq!(cutoff(&harness), Some(1200.0));

    // Undo (shortcut) and redo (button).
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    assert_eq!(cutoff(&harness), None, "undo puts the default back");
    harness.get_by_label("Redo").click();
    settle(&mut harness);
    assert_eq!(cutoff(&harness), Some(1200.0));

    // Save, and read the file back.
    harness.get_by_label("Save").click();
    settle(&mut harness);
    assert!(!harness.state().document().is_dirty());
    let saved = Patch::from_json(&std::fs::read_to_string(&file).unwrap(), "saved").unwrap();
    let mut expected = sine_patch();
    let mut lowpass = Node::new("lowpass1", "lowpass").with("cutoff", 1200.0);
    lowpass.pos = saved.nodes[2].pos;
    expected.nodes.push(lowpass);
    expected.connect("sine1.out", "lowpass1.in");
    assert_eq!(saved, expected);
    assert_eq!(&saved, harness.state().document().patch());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_refused_connection_shows_why() {
    let dir = scratch("refused");
    let file = dir.join("loop.json");
    let mut patch = sine_patch();
    let mut lowpass = Node::new("lowpass1", "lowpass");
    lowpass.pos = Some([350.0, 250.0]);
    patch.nodes.push(lowpass);
    patch.connect("sine1.out", "lowpass1.in");
    std::fs::write(&file, patch.to_json()).unwrap();
    let mut harness = harness_on(&file);

    drag_wire(&mut harness, "lowpass1.out", "sine1.fm");
    let reason = harness
        .state()
        .refusal()
        .expect("the connection is refused")
        .to_string();
    assert!(reason.contains("cycle without a delay"), "{reason}");
    harness.get_by_label_contains("cycle without a delay");
    assert_eq!(harness.state().document().patch(), &patch, "nothing changed");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unsaved_changes_are_asked_about_before_new() {
    let dir = scratch("unsaved");
    let file = dir.join("patch.json");
    std::fs::write(&file, sine_patch().to_json()).unwrap();
    let mut harness = harness_on(&file);

    harness.get_by_label("Add node…").click();
    settle(&mut harness);
    harness.get_by_label("Search").type_text("noise");
    settle(&mut harness);
    harness.key_press(Key::Enter);
    settle(&mut harness);
    assert!(harness.state().document().is_dirty());

    harness.get_by_label("New").click();
    settle(&mut harness);
    harness.get_by_label_contains("Save the changes to");
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    assert_eq!(
        harness.state().document().patch().nodes.len(),
        3,
        "cancel keeps the patch"
    );

    harness.get_by_label("New").click();
    settle(&mut harness);
    harness.get_by_label("Discard").click();
    settle(&mut harness);
    assert!(harness.state().document().patch().nodes.is_empty());
    assert_eq!(
        Patch::from_json(&std::fs::read_to_string(&file).unwrap(), "file").unwrap(),
        sine_patch(),
        "discarding leaves the file alone"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
