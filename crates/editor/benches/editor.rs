//! Editor speed on a large patch (500 nodes, 700 wires), headless: one
//! egui frame of the whole editor (layout, canvas, every node's widgets,
//! and tessellation into triangles, the CPU part of drawing), and opening
//! the patch file (parse, validate, first frame). Targets: a frame under
//! 16 ms, opening under 200 ms. The reference is a frame of the empty
//! editor, measured in the same run.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use egui_kittest::Harness;
use patchbay_core::{Node, Patch};
use patchbay_editor::{Document, Editor, Sink};

/// Kinds with one mono-or-following input `in` (or `fm`) and an output
/// `out`, cycled through so the patch has a bit of everything.
const KINDS: [&str; 6] = ["sine", "lowpass", "gain", "highpass", "saw", "delay"];

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

fn harness(doc: Document) -> Harness<'static, Editor> {
    Harness::builder().with_size([1600.0, 1000.0]).build_ui_state(
        |ui, editor: &mut Editor| editor.show(ui),
        Editor::new(doc, Sink::Null),
    )
}

/// One frame, tessellated as a renderer would need it.
fn frame(h: &mut Harness<'_, Editor>) -> usize {
    h.step();
    let output = h.output();
    let shapes = output.shapes.clone();
    let ppp = output.pixels_per_point;
    h.ctx.tessellate(shapes, ppp).len()
}

fn bench(c: &mut Criterion) {
    let registry = patchbay_nodes::registry();
    let patch = large_patch(500, 700);
    patchbay_core::validate(&patch, registry).expect("the generated patch is valid");
    let dir = std::env::temp_dir().join(format!("patchbay-editor-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("large.json");
    std::fs::write(&file, patch.to_json()).unwrap();

    let mut group = c.benchmark_group("editor");
    group.sample_size(20);
    let mut empty = harness(Document::new(registry));
    group.bench_function("frame, empty patch (reference)", |b| b.iter(|| frame(&mut empty)));
    let mut large = harness(Document::open(registry, &file).unwrap());
    large.run_steps(3);
    group.bench_function("frame, 500 nodes 700 wires", |b| b.iter(|| frame(&mut large)));
    group.bench_function("open 500-node patch (load, validate, first frame)", |b| {
        b.iter(|| open(&file))
    });
    group.finish();
    std::fs::remove_dir_all(dir).unwrap();
}

fn open(file: &Path) -> usize {
    let doc = Document::open(patchbay_nodes::registry(), file).unwrap();
    let mut h = harness(doc);
    frame(&mut h)
}

criterion_group!(benches, bench);
criterion_main!(benches);
