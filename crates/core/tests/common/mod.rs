//! Shared by the integration tests: test-only node kinds and their registry,
//! a reference interpreter, and helpers to build, compile and run patches.

#![allow(dead_code, reason = "each test file uses a different part")]

pub mod nodes;
pub mod random;
pub mod reference;
pub mod stepwise;

use patchbay_core::{CompileOptions, Node, Patch, Plan, Schedule, compile};

pub use nodes::registry;

/// Compile options for a block size, at 48 kHz.
pub fn opts(block: usize) -> CompileOptions {
    CompileOptions {
        sample_rate: 48_000.0,
        block,
    }
}

/// A patch from nodes and `("node.port", "node.port")` edges.
pub fn patch(nodes: Vec<Node>, edges: &[(&str, &str)]) -> Patch {
    let mut patch = Patch {
        nodes,
        ..Patch::default()
    };
    for (from, to) in edges {
        patch.connect(from, to);
    }
    patch
}

/// Compile with the test registry, panicking with the error if it fails.
pub fn plan(patch: &Patch, block: usize) -> Plan {
    compile(patch, &registry(), &opts(block))
        .unwrap_or_else(|e| panic!("does not compile: {e}\n{}", patch.to_json()))
}

/// The master output of `plan` for at least `frames` frames (whole blocks).
pub fn render(plan: &Plan, frames: usize) -> [Vec<f32>; 2] {
    let mut schedule = Schedule::new(plan);
    let mut out = [
        Vec::with_capacity(frames + plan.block),
        Vec::with_capacity(frames + plan.block),
    ];
    while out[0].len() < frames {
        schedule.process();
        let [left, right] = schedule.master();
        out[0].extend_from_slice(left);
        out[1].extend_from_slice(right);
    }
    out
}

/// Compile at `block` and render `frames` frames.
pub fn run(patch: &Patch, block: usize, frames: usize) -> [Vec<f32>; 2] {
    render(&plan(patch, block), frames)
}

/// Frames rounded up to whole blocks.
pub fn whole_blocks(frames: usize, block: usize) -> usize {
    frames.div_ceil(block) * block
}

/// The first sample where two signals differ bit for bit, if any.
pub fn first_difference(actual: &[f32], expected: &[f32]) -> Option<usize> {
    let n = actual.len().min(expected.len());
    (0..n).find(|&t| actual[t].to_bits() != expected[t].to_bits())
}

/// Assert `actual` starts with exactly the bits of `expected`.
#[track_caller]
pub fn assert_bits(actual: &[f32], expected: &[f32], what: &str) {
    assert!(
        actual.len() >= expected.len(),
        "{what}: only {} of {} frames",
        actual.len(),
        expected.len()
    );
    if let Some(t) = first_difference(actual, expected) {
        panic!("{what}: frame {t} is {} but should be {}", actual[t], expected[t]);
    }
}
