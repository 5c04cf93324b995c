//! Helpers for the node tests: build a tiny patch around a node, render it
//! through the real compiler and runtime, and return what the output hears;
//! and count heap allocations, to hold `process` to the real-time rules.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub use crate::analysis::*;
pub use patchbay_core::Patch;
use patchbay_core::{Command, CompileOptions, Node, Schedule, compile, engine};

/// `patch` compiled with the default options (48 kHz, 64-frame blocks)
/// and made runnable, for tests that step the schedule themselves.
pub fn schedule_of(patch: &Patch) -> (patchbay_core::Plan, Schedule) {
    let plan =
        compile(patch, crate::registry(), &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let schedule = Schedule::new(&plan);
    (plan, schedule)
}

/// Render `patch` for `frames` frames at `sample_rate`; returns (left, right).
pub fn render_patch(patch: &Patch, frames: usize, sample_rate: u32) -> (Vec<f32>, Vec<f32>) {
    render_patch_with(patch, frames, sample_rate, 64, &[])
}

/// A parameter change: at `frame` (rounded down to its block), glide
/// `node.param` to `value`, as a live edit would.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    /// When.
    pub frame: usize,
    /// Node id.
    pub node: &'a str,
    /// Parameter name.
    pub param: &'a str,
    /// New value.
    pub value: f32,
}

/// Render `patch` in blocks of `block` frames through a running engine,
/// sending `changes` as it goes; returns (left, right).
pub fn render_patch_with(
    patch: &Patch,
    frames: usize,
    sample_rate: u32,
    block: usize,
    changes: &[Change],
) -> (Vec<f32>, Vec<f32>) {
    let opts = CompileOptions {
        sample_rate: sample_rate as f32,
        block,
    };
    let plan = compile(patch, crate::registry(), &opts).unwrap_or_else(|e| panic!("{e}"));
    let commands: Vec<(usize, Command)> = changes
        .iter()
        .map(|c| {
            let node = plan
                .node_index(c.node)
                .unwrap_or_else(|| panic!("no node {}", c.node));
            let param = plan.nodes[node]
                .descriptor
                .param(c.param)
                .expect("no such parameter")
                .0;
            let command = Command::SetParam {
                node: node as u32,
                param: param as u32,
                value: c.value,
            };
            (c.frame / block * block, command)
        })
        .collect();
    let (mut engine, mut runtime) = engine(Schedule::new(&plan));
    let mut commands = commands.into_iter().peekable();
    let (mut left, mut right) = (Vec::with_capacity(frames), Vec::with_capacity(frames));
    while left.len() < frames {
        while let Some((_, command)) = commands.next_if(|(at, _)| *at <= left.len()) {
            engine.send(command).unwrap_or_else(|e| panic!("{e}"));
        }
        let allocations = allocations_during(|| runtime.process_block());
        assert_eq!(allocations, 0, "a block allocated or freed memory");
        let [l, r] = runtime.schedule().master();
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

/// Largest sample-to-sample change: a click shows up as a big one.
pub fn max_step(x: &[f32]) -> f32 {
    x.windows(2).fold(0.0f32, |m, w| m.max((w[1] - w[0]).abs()))
}

/// Heap allocations, reallocations and frees made by this thread while `f`
/// runs.
pub fn allocations_during(f: impl FnOnce()) -> usize {
    COUNTING.with(|c| c.set(true));
    let before = COUNT.with(Cell::get);
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get) - before
}

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting calls on threads that asked for it.
struct CountingAllocator;

fn count() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count();
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_allocation_counter_counts() {
    let n = allocations_during(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert_eq!(n, 2);
}
