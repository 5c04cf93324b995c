//! Editor speed on a large patch (500 nodes, 700 wires), headless, driven
//! the way the window drives it: one egui frame of the whole editor
//! (layout, canvas, every node's widgets, and tessellation into triangles,
//! the CPU part of drawing; the window then hands the triangles to OpenGL,
//! Mesa's software rasteriser here). AccessKit stays off, as in the window
//! (eframe builds it only for a screen reader). Measured: a frame with the
//! whole patch in view (zoomed out, as a large patch opens), a frame
//! showing part of it at 100 % zoom, and opening the file in a running
//! editor (read, validate, the canvas built, the first frame). Targets: a frame under 16 ms,
//! opening under 200 ms. References in the same run: a frame of the empty
//! editor, and opening the two-node `patches/sine.json`.

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use egui::{Event, Pos2, RawInput, Rect, vec2};
use patchbay_core::{Node, Patch};
use patchbay_editor::{Document, Editor, Sink};

/// Kinds with one mono-or-following input `in` (or `fm`) and an output
/// `out`, cycled through so the patch has a bit of everything.
const KINDS: [&str; 6] = ["sine", "lowpass", "gain", "highpass", "saw", "delay"];

/// The window the frames are laid out for, in points.
const SCREEN: egui::Vec2 = vec2(1600.0, 1000.0);

/// `nodes` nodes on a grid, a chain through them plus fan-in wires from
/// earlier nodes up to `wires` in all; always acyclic and valid.
fn large_patch(nodes: usize, wires: usize) -> Patch {
    let mut patch = Patch::default();
    for i in 0..nodes {
        let kind = KINDS[i % KINDS.len()];
        let mut node = Node::new(format!("n{i}"), kind);
        node.pos = Some([(i % 25) as f32 * 240.0, (i / 25) as f32 * 200.0]);
        patch.nodes.push(node);
    }
    let input = |i: usize| {
        if matches!(KINDS[i % KINDS.len()], "sine" | "saw") {
            "fm"
        } else {
            "in"
        }
    };
    for i in 1..nodes {
        patch.connect(&format!("n{}.out", i - 1), &format!("n{i}.{}", input(i)));
    }
    let mut extra = 0;
    let mut i = 7;
    while patch.edges.len() < wires {
        let from = (i * 13 + extra) % (i - 1);
        patch.connect(&format!("n{from}.out"), &format!("n{i}.{}", input(i)));
        extra += 1;
        i = 7 + (i + 11) % (nodes - 7);
    }
    patch
}

/// The editor in an egui context of its own, fed input as eframe would.
struct Headless {
    ctx: egui::Context,
    editor: Editor,
    time: f64,
    events: Vec<Event>,
}

impl Headless {
    fn new(doc: Document) -> Headless {
        let mut headless = Headless {
            ctx: egui::Context::default(),
            editor: Editor::new(doc, Sink::Null),
            time: 0.0,
            events: Vec::new(),
        };
        // Fonts and layouts settle over the first frames.
        for _ in 0..3 {
            headless.frame();
        }
        headless
    }

    /// One frame, tessellated as a renderer would need it; returns the
    /// number of meshes.
    fn frame(&mut self) -> usize {
        let input = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, SCREEN)),
            time: Some(self.time),
            events: std::mem::take(&mut self.events),
            ..RawInput::default()
        };
        self.time += 1.0 / 60.0;
        let editor = &mut self.editor;
        let mut output = self.ctx.run_ui(input, |ui| editor.show(ui));
        // No renderer uploads the font atlas here.
        output.textures_delta.clear();
        self.ctx.tessellate(output.shapes, output.pixels_per_point).len()
    }

    /// Zoom by `factor` around a point near the canvas's top left corner,
    /// as a pinch or Ctrl+scroll would (the canvas keeps zoom within 20 %
    /// to 200 %).
    fn zoom(&mut self, factor: f32) {
        self.events.push(Event::PointerMoved(Pos2::new(40.0, 120.0)));
        self.frame();
        self.events.push(Event::Zoom(factor));
        for _ in 0..3 {
            self.frame();
        }
    }
}

fn bench(c: &mut Criterion) {
    let registry = patchbay_nodes::registry();
    let patch = large_patch(500, 700);
    patchbay_core::validate(&patch, registry).expect("the generated patch is valid");
    let dir = std::env::temp_dir().join(format!("patchbay-editor-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("large.json");
    std::fs::write(&file, patch.to_json()).unwrap();
    let small: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../patches/sine.json");

    let mut group = c.benchmark_group("editor");
    group.sample_size(20);
    let mut empty = Headless::new(Document::new(registry));
    group.bench_function("frame, empty patch (reference)", |b| b.iter(|| empty.frame()));
    let mut large = Headless::new(Document::open(registry, &file).unwrap());
    group.bench_function("frame, 500 nodes 700 wires, all in view", |b| {
        b.iter(|| large.frame())
    });
    // To the most zoom there is, then half of it: exactly 100 %.
    large.zoom(10.0);
    large.zoom(0.5);
    group.bench_function("frame, 500 nodes 700 wires, 100% zoom", |b| {
        b.iter(|| large.frame())
    });
    let mut opener = Headless::new(Document::new(registry));
    group.bench_function("open sine.json, 2 nodes (reference)", |b| {
        b.iter(|| open(&mut opener, &small))
    });
    group.bench_function("open 500 nodes (read, validate, first frame)", |b| {
        b.iter(|| open(&mut opener, &file))
    });
    group.finish();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Open a file in the running editor and draw the first frame of it.
fn open(headless: &mut Headless, file: &Path) -> usize {
    headless.editor.open(file.to_path_buf()).unwrap();
    headless.frame()
}

criterion_group!(benches, bench);
criterion_main!(benches);
