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
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("editor-ui-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
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

/// A scratch folder for `test` holding `patch.json`, the sine patch:
/// (folder, file).
fn sine_file(test: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(test);
    let file = dir.join("patch.json");
    std::fs::write(&file, sine_patch().to_json()).unwrap();
    (dir, file)
}

fn harness_on(file: &Path) -> Harness<'static, Editor> {
    harness_with(file, Sink::Null)
}

fn harness_with(file: &Path, sink: Sink) -> Harness<'static, Editor> {
    let mut editor = Editor::new(Document::new(patchbay_nodes::registry()), sink);
    editor.open(file.to_path_buf()).unwrap();
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

/// Add a node as a user would: the palette, its name typed, Enter.
fn add_through_palette(harness: &mut Harness<'_, Editor>, kind: &str) {
    harness.get_by_label("Add node…").click();
    settle(harness);
    harness.get_by_label("Search").type_text(kind);
    settle(harness);
    harness.key_press(Key::Enter);
    settle(harness);
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
    let (dir, file) = sine_file("edit");
    let mut harness = harness_on(&file);

    // Add a node through the palette by typing its name.
    add_through_palette(&mut harness, "lowpass");
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
    let (dir, file) = sine_file("unsaved");
    let mut harness = harness_on(&file);

    add_through_palette(&mut harness, "noise");
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

/// Select every node inside the box around the pins of `ports`, as a
/// Shift-drag on empty canvas does.
fn box_select(harness: &mut Harness<'_, Editor>, ports: &[&str]) {
    let pins: Vec<Pos2> = ports.iter().map(|p| pin(harness, p)).collect();
    let min = pins.iter().fold(Pos2::new(f32::MAX, f32::MAX), |a, p| a.min(*p));
    let max = pins.iter().fold(Pos2::new(f32::MIN, f32::MIN), |a, p| a.max(*p));
    let (a, b) = (min - egui::vec2(60.0, 90.0), max + egui::vec2(60.0, 90.0));
    harness.event(egui::Event::ModifiersChanged(Modifiers::SHIFT));
    harness.hover_at(a);
    harness.event(egui::Event::PointerButton {
        pos: a,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Modifiers::SHIFT,
    });
    for k in 1..=4 {
        harness.hover_at(a + (b - a) * (k as f32 / 4.0));
    }
    harness.event(egui::Event::PointerButton {
        pos: b,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::SHIFT,
    });
    harness.event(egui::Event::ModifiersChanged(Modifiers::NONE));
    settle(harness);
}

/// The text the editor last put on the clipboard.
fn copied(harness: &Harness<'_, Editor>) -> String {
    (harness.output().platform_output.commands.iter())
        .find_map(|c| match c {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
        .expect("something was copied")
}

#[test]
fn copy_two_connected_nodes_and_paste_them_into_another_patch() {
    let dir = scratch("paste");
    // sine1 -> lowpass1 -> output1, the first two copied.
    let mut source = sine_patch();
    source.edges.clear();
    let mut lowpass = Node::new("lowpass1", "lowpass").with("cutoff", 700.0);
    lowpass.pos = Some([300.0, 0.0]);
    source.nodes.insert(1, lowpass);
    source.nodes[2].pos = Some([900.0, 300.0]);
    source.connect("sine1.out", "lowpass1.in");
    source.connect("lowpass1.out", "output1.in");
    let file = dir.join("source.json");
    std::fs::write(&file, source.to_json()).unwrap();
    let mut from = harness_on(&file);
    box_select(
        &mut from,
        &["sine1.fm", "sine1.amp", "lowpass1.out", "lowpass1.q"],
    );
    let mut selected = from.state().document().selection.nodes.clone();
    selected.sort();
    assert_eq!(selected, ["lowpass1", "sine1"], "the box takes the two nodes");
    from.event(egui::Event::Copy);
    from.step();
    let clipboard = copied(&from);
    assert_eq!(
        from.state().document().patch(),
        &source,
        "copying changes nothing"
    );

    // Into a patch that has a sine1 already: the copies get fresh ids.
    let target = dir.join("target.json");
    std::fs::write(&target, sine_patch().to_json()).unwrap();
    let mut to = harness_on(&target);
    to.event(egui::Event::Paste(clipboard));
    settle(&mut to);
    let pasted = to.state().document().patch().clone();
    let ids: Vec<&str> = pasted.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["sine1", "output1", "sine2", "lowpass1"]);
    assert_eq!(
        pasted.edges,
        [edge("sine1.out", "output1.in"), edge("sine2.out", "lowpass1.in")],
        "the wire between the copies comes along, the one to output1 does not"
    );
    assert_eq!(pasted.node("lowpass1").unwrap().params["cutoff"], 700.0);
    // No pointer on the canvas: a little below right of where they were.
    assert_eq!(pasted.node("sine2").unwrap().pos, Some([40.0, 40.0]));
    assert_eq!(pasted.node("lowpass1").unwrap().pos, Some([340.0, 40.0]));

    // One undo step takes the whole paste back; text that is no patch is
    // refused with a reason.
    to.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut to);
    assert_eq!(to.state().document().patch(), &sine_patch());
    to.event(egui::Event::Paste("just words".into()));
    settle(&mut to);
    assert_eq!(to.state().document().patch(), &sine_patch());
    let status = to.state().status().unwrap_or_default().to_string();
    assert!(status.contains("the clipboard holds no patch"), "{status}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_note_is_written_on_the_canvas_resized_saved_and_undone() {
    let (dir, file) = sine_file("note");
    let mut harness = harness_on(&file);

    harness.get_by_label("Note").click();
    settle(&mut harness);
    harness
        .get_by_label("note 1 text")
        .type_text("sweep the fm by hand");
    settle(&mut harness);
    harness.key_press(Key::Escape);
    settle(&mut harness);
    harness.get_by_label("sweep the fm by hand");

    // Its corner, dragged right, makes it wider.
    let grip = |harness: &Harness<'_, Editor>| {
        let at = harness.get_by_label("note 1 width").rect().center();
        harness.state().to_screen(at)
    };
    let corner = grip(&harness);
    harness.hover_at(corner);
    harness.step();
    harness.drag_at(corner);
    harness.step();
    for k in 1..=4 {
        harness.hover_at(corner + egui::vec2(30.0 * k as f32, 0.0));
        harness.step();
    }
    harness.drop_at(corner + egui::vec2(120.0, 0.0));
    settle(&mut harness);
    let comments = harness.state().document().patch().comments.clone();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].text, "sweep the fm by hand");
    let width = comments[0].width.expect("the dragged width is the note's");
    // 120 points on screen are 120 / zoom canvas units.
    let expected = (220.0 + 120.0 / harness.state().zoom()).min(1000.0);
    assert!(
        (width - expected).abs() < 1.0,
        "dragged to {width}, not {expected}"
    );
    let wide = grip(&harness).x - corner.x;
    assert!(wide > 100.0, "the corner moved {wide} points with the pointer");

    harness.get_by_label("Save").click();
    settle(&mut harness);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"version\": 4"), "a note of its own width: {text}");
    let saved = Patch::from_json(&text, "saved").unwrap();
    assert_eq!(saved.comments, comments);
    assert_eq!(saved.nodes, sine_patch().nodes, "the nodes are as they were");

    // Resizing, writing the text and adding the note are three steps.
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    let note = &harness.state().document().patch().comments[0];
    assert_eq!((note.text.as_str(), note.width), ("sweep the fm by hand", None));
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    assert_eq!(harness.state().document().patch().comments[0].text, "");
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    assert!(harness.state().document().patch().comments.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Steps until `done` holds for the editor (file watches answer from
/// another thread), for at most ten seconds.
fn wait_for(harness: &mut Harness<'_, Editor>, what: &str, done: impl Fn(&Editor) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(harness.state()) {
        assert!(
            std::time::Instant::now() < deadline,
            "waited in vain for {what}; the status line says {:?}",
            harness.state().status()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.step();
    }
    settle(harness);
}

/// The steepest step between two samples of a sine of `freq` Hz and
/// amplitude `amp` at 48 kHz: anything steeper is a click.
fn sine_slope(freq: f32, amp: f32) -> f32 {
    amp * 2.0 * std::f32::consts::PI * freq / 48_000.0
}

fn steepest(samples: &[f32]) -> f32 {
    samples
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn live_edits_through_the_ui_keep_state_and_never_click() {
    let dir = scratch("live");
    let file = dir.join("live.json");
    let mut patch = sine_patch();
    patch.nodes[0].params.insert("amp".into(), 0.5);
    std::fs::write(&file, patch.to_json()).unwrap();
    let mut harness = harness_with(&file, Sink::Offline);
    harness.get_by_label("Audio").click();
    settle(&mut harness);
    assert!(harness.state().audio().is_on());
    // The same patch left alone, block for block: what no edit disturbs.
    let (_untouched, mut reference) = patchbay_core::LiveEngine::start(
        patch.clone(),
        patchbay_nodes::registry(),
        patchbay_core::CompileOptions::default(),
    )
    .unwrap();
    let mut render_reference = |blocks: usize| -> Vec<f32> {
        let mut left = Vec::new();
        for _ in 0..blocks {
            reference.process_block();
            left.extend_from_slice(reference.output()[0]);
        }
        left
    };
    let mut heard = harness.state_mut().audio_mut().render(40);

    // A node added beside the signal path: the sine plays on untouched.
    add_through_palette(&mut harness, "noise");
    assert!(harness.state().document().patch().node("noise1").is_some());
    heard.extend(harness.state_mut().audio_mut().render(40));
    assert!(
        heard == render_reference(80),
        "adding a node elsewhere disturbed the oscillator"
    );

    // A typed amplitude glides there.
    harness.get_by_label("sine1.amp value").click_accesskit();
    settle(&mut harness);
    harness.get_by_label("sine1.amp typed").type_text("0.25");
    settle(&mut harness);
    harness.key_press(Key::Enter);
    settle(&mut harness);
    heard.extend(harness.state_mut().audio_mut().render(80));

    // A filter wired in beside the direct path: the new path fades in.
    add_through_palette(&mut harness, "lowpass");
    drag_wire(&mut harness, "sine1.out", "lowpass1.in");
    heard.extend(harness.state_mut().audio_mut().render(20));
    drag_wire(&mut harness, "lowpass1.out", "output1.in");
    heard.extend(harness.state_mut().audio_mut().render(80));
    assert_eq!(
        harness.state().audio().playing(),
        Some(harness.state().document().patch()),
        "the engine plays what the editor shows"
    );

    // Louder than the quiet sine (two paths sum), never steeper than the
    // loudest sine it ever was.
    let tail = &heard[heard.len() - 40 * 64..];
    let peak = tail.iter().fold(0.0f32, |a, s| a.max(s.abs()));
    assert!(
        peak > 0.3,
        "the filtered path sums with the direct one: peak {peak}"
    );
    let bound = 1.1 * sine_slope(440.0, 0.5);
    assert!(
        steepest(&heard) <= bound,
        "a click: a step of {} where the sine's own is at most {bound}",
        steepest(&heard)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn hovering_an_output_shows_its_level() {
    let dir = scratch("level");
    let file = dir.join("level.json");
    let mut patch = sine_patch();
    patch.nodes[0].params.insert("amp".into(), 0.5);
    std::fs::write(&file, patch.to_json()).unwrap();
    let mut harness = harness_with(&file, Sink::Offline);
    harness.get_by_label("Audio").click();
    settle(&mut harness);
    let at = pin(&harness, "sine1.out");
    harness.hover_at(at - egui::vec2(20.0, 0.0));
    settle(&mut harness);
    // The probe measures from the next block on; its RMS window fills.
    harness.state_mut().audio_mut().render(800);
    harness.hover_at(at - egui::vec2(21.0, 0.0));
    settle(&mut harness);
    // A sine of amplitude 0.5: peak -6.0 dB, RMS -9.0 dB.
    harness.get_by_label_contains("sine1.out: peak -6.0 dB, RMS -9.0 dB");
    assert_eq!(
        harness.state().document().patch(),
        &patch,
        "measuring adds nothing to the patch"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_outside_change_is_offered_for_reload_and_recent_files_are_kept() {
    let (dir, file) = sine_file("reload");
    let mut harness = harness_on(&file);
    harness
        .state_mut()
        .keep_recent(patchbay_editor::RecentFiles::stored_at(dir.join("recent")));

    // Our own save is not an outside change.
    harness.get_by_label("Save").click();
    settle(&mut harness);
    std::thread::sleep(std::time::Duration::from_millis(200));
    harness.run_steps(4);
    assert!(
        harness.query_by_label("Reload").is_none(),
        "no prompt after our own save"
    );

    let mut changed = sine_patch();
    changed.nodes[0].params.insert("freq".into(), 220.0);
    std::fs::write(&file, changed.to_json()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while harness.query_by_label("Reload").is_none() {
        assert!(std::time::Instant::now() < deadline, "no reload offered");
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.step();
    }
    // A window takes input from its second frame on.
    settle(&mut harness);
    harness.get_by_label_contains("was changed outside the editor");
    harness.get_by_label("Reload").click();
    settle(&mut harness);
    assert_eq!(harness.state().document().patch(), &changed);
    assert!(
        !harness.state().document().is_dirty(),
        "the editor holds what the file holds"
    );

    // A broken change is refused on the node it names; the editor keeps
    // the good patch.
    let mut broken = changed.clone();
    broken.nodes[0].params.insert("freq".into(), 1e9);
    std::fs::write(&file, broken.to_json()).unwrap();
    wait_for(&mut harness, "the fault", |e| !e.faults().is_empty());
    let fault = harness.state().faults()["sine1"].clone();
    assert!(
        fault.contains("patch.json:6") && fault.contains("freq"),
        "{fault}"
    );
    assert_eq!(harness.state().document().patch(), &changed);

    let recent = patchbay_editor::RecentFiles::stored_at(dir.join("recent"));
    assert_eq!(recent.list(), [std::fs::canonicalize(&file).unwrap()]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_file_is_shown_on_its_node() {
    let dir = scratch("missing");
    let file = dir.join("player.json");
    let mut patch = sine_patch();
    let mut player = Node::new("player1", "player").with_setting("file", "gone.wav");
    player.pos = Some([0.0, 300.0]);
    patch.nodes.push(player);
    patch.connect("player1.out", "output1.in");
    std::fs::write(&file, patch.to_json()).unwrap();
    let mut harness = harness_on(&file);
    harness.get_by_label("Audio").click();
    wait_for(&mut harness, "the player's fault", |e| {
        e.faults().contains_key("player1")
    });
    let fault = harness.state().faults()["player1"].clone();
    assert!(fault.contains("gone.wav"), "{fault}");
    // Outlined, with a warning sign whose hover says why.
    harness.get_by_label("⚠");
    assert_eq!(harness.state().document().patch(), &patch);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_script_shows_its_graph_read_only_follows_saves_and_becomes_a_patch() {
    let dir = scratch("script");
    let script = dir.join("tone.rhai");
    std::fs::write(&script, "sine(330) >> out();\n").unwrap();
    let mut harness = harness_on(&script);
    assert!(harness.state().read_only());
    let kinds = |h: &Harness<'_, Editor>| -> Vec<String> {
        (h.state().document().patch().nodes.iter())
            .map(|n| n.kind.clone())
            .collect()
    };
    assert_eq!(kinds(&harness), ["sine", "output"]);
    let built = harness.state().document().patch().clone();

    // Edits are refused.
    add_through_palette(&mut harness, "noise");
    assert_eq!(harness.state().document().patch(), &built);
    assert!(harness.state().status().unwrap_or_default().contains("read-only"));

    // Saving the script shows its new graph.
    std::fs::write(&script, "sine(330) >> lowpass(900) >> out();\n").unwrap();
    wait_for(&mut harness, "the script's new graph", |e| {
        e.document().patch().nodes.len() == 3
    });
    assert_eq!(kinds(&harness), ["sine", "lowpass", "output"]);

    harness.get_by_label("Edit as patch").click();
    settle(&mut harness);
    assert!(!harness.state().read_only());
    assert_eq!(
        harness.state().document().path(),
        Some(dir.join("tone.json").as_path())
    );
    harness.get_by_label("Save").click();
    settle(&mut harness);
    let saved = Patch::from_json(&std::fs::read_to_string(dir.join("tone.json")).unwrap(), "tone").unwrap();
    assert_eq!(&saved, harness.state().document().patch());
    assert_eq!(saved.nodes.len(), 3);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_buffer_size_is_chosen_in_the_transport_bar() {
    let (dir, file) = sine_file("buffer");
    let mut harness = harness_on(&file);
    harness.get_by_label("default device, default buffer ⏷").click();
    settle(&mut harness);
    harness.get_by_label("256 frames").click();
    settle(&mut harness);
    assert_eq!(harness.state().audio().output().buffer, Some(256));
    assert_eq!(harness.state().document().patch(), &sine_patch());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_opened_patch_is_fitted_to_the_window() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../patches/demo.json");
    let mut harness = harness_on(&demo);
    // A node's size settles over its first frames; the fit follows it.
    harness.run_steps(8);
    let window = egui::Rect::from_min_size(Pos2::ZERO, egui::vec2(1280.0, 800.0));
    let patch = harness.state().document().patch().clone();
    let registry = patchbay_nodes::registry();
    let mut pins = 0;
    for node in &patch.nodes {
        for port in registry.get(&node.kind).unwrap().outputs {
            let port = format!("{}.{}", node.id, port.name);
            let at = pin(&harness, &port);
            assert!(
                window.contains(at),
                "{port} is drawn at {at:?}, outside the window"
            );
            pins += 1;
        }
    }
    assert!(pins > 20);
}
