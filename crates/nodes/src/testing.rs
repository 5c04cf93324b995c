//! Helpers for the node tests: build a tiny patch around a node, render it
//! through the real compiler and runtime, and return the left channel.

pub use crate::analysis::*;
pub use patchbay_core::Patch;
use patchbay_core::{CompileOptions, Node, Schedule, compile};

/// Render `patch` for `frames` frames at `sample_rate`; returns (left, right).
pub fn render_patch(patch: &Patch, frames: usize, sample_rate: u32) -> (Vec<f32>, Vec<f32>) {
    let opts = CompileOptions {
        sample_rate: sample_rate as f32,
        block: 64,
    };
    let plan = compile(patch, crate::registry(), &opts).unwrap_or_else(|e| panic!("{e}"));
    let mut schedule = Schedule::new(&plan);
    let (mut left, mut right) = (Vec::with_capacity(frames), Vec::with_capacity(frames));
    while left.len() < frames {
        schedule.process();
        let [l, r] = schedule.master();
        left.extend_from_slice(l);
        right.extend_from_slice(r);
    }
    left.truncate(frames);
    right.truncate(frames);
    (left, right)
}

/// A node with some parameters set.
pub fn node(id: &str, kind: &str, params: &[(&str, f64)]) -> Node {
    params.iter().fold(Node::new(id, kind), |n, &(p, v)| n.with(p, v))
}

/// A source node straight into the output.
pub fn render_source(kind: &str, params: &[(&str, f64)], frames: usize, sample_rate: u32) -> Vec<f32> {
    let mut patch = Patch::default();
    patch.nodes.push(node("src", kind, params));
    patch.nodes.push(Node::new("out", "output"));
    patch.connect("src.out", "out.in");
    render_patch(&patch, frames, sample_rate).0
}

/// A source through a node (its `in` and `out` ports) into the output, at 48 kHz.
pub fn render_node(
    source: &str,
    source_params: &[(&str, f64)],
    kind: &str,
    params: &[(&str, f64)],
    frames: usize,
) -> Vec<f32> {
    let mut patch = Patch::default();
    patch.nodes.push(node("src", source, source_params));
    patch.nodes.push(node("dut", kind, params));
    patch.nodes.push(Node::new("out", "output"));
    patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
    render_patch(&patch, frames, 48_000).0
}
