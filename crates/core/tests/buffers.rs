//! Buffer assignment by liveness: a long chain needs a handful of buffers, a
//! wide graph about as many as are alive at once, and neither changes what
//! is heard.

mod common;

use common::nodes::noise;
use common::reference::Reference;
use common::{assert_bits, patch, plan, registry, render};
use patchbay_core::{Node, Patch, Step};

/// `src -> g1 -> ... -> gN -> out`, from a mono or a stereo source, with
/// gains cycling through a few values whose product stays near 1 (so even
/// 10 000 of them neither vanish into denormals nor overflow).
fn chain(len: usize, stereo: bool) -> (Patch, Vec<f32>) {
    let gains: Vec<f32> = (0..len).map(|i| [1.25, -0.8, 1.5, 0.6667][i % 4]).collect();
    let mut nodes = vec![Node::new("s", if stereo { "stereo_src" } else { "src" }).with("seed", 21.0)];
    nodes.extend(
        gains
            .iter()
            .enumerate()
            .map(|(i, &g)| Node::new(format!("g{i}"), "gain").with("gain", f64::from(g))),
    );
    nodes.push(Node::new("out", "output"));
    let mut names = vec!["s".to_string()];
    names.extend((0..len).map(|i| format!("g{i}")));
    names.push("out".to_string());
    let edges: Vec<(String, String)> = names
        .windows(2)
        .map(|w| (format!("{}.out", w[0]), format!("{}.in", w[1])))
        .collect();
    let edges: Vec<(&str, &str)> = edges.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    // f32 params are what the processors get.
    let gains = gains.iter().map(|&g| g as f64 as f32).collect();
    (patch(nodes, &edges), gains)
}

/// The chain's output for channel `ch`, one multiplication after another.
fn chain_output(gains: &[f32], ch: usize, frames: usize) -> Vec<f32> {
    noise(21, ch, frames)
        .into_iter()
        .map(|x| gains.iter().fold(x, |y, g| y * g))
        .collect()
}

/// The largest number of buffers alive at once, counted from the plan's
/// steps: a buffer is alive from its write to its last read.
fn most_alive(plan: &patchbay_core::Plan) -> usize {
    let n = plan.steps.len();
    let (mut first, mut last) = (vec![usize::MAX; plan.buffer_count], vec![0; plan.buffer_count]);
    for (i, step) in plan.steps.iter().enumerate() {
        for b in step.writes().into_iter().chain(step.reads()) {
            first[b as usize] = first[b as usize].min(i);
            last[b as usize] = last[b as usize].max(i);
        }
    }
    for b in plan.master {
        last[b as usize] = n;
    }
    (0..n)
        .map(|i| {
            (1..plan.buffer_count)
                .filter(|&b| first[b] <= i && i <= last[b])
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_thousand_gain_chain_needs_at_most_four_buffers() {
    let (p, gains) = chain(1000, false);
    for block in [1, 64] {
        let plan = plan(&p, block);
        assert!(
            plan.buffer_count <= 4,
            "{} buffers (silence included)",
            plan.buffer_count
        );
        let out = render(&plan, 256);
        assert_bits(&out[0], &chain_output(&gains, 0, 256), &format!("block {block}"));
    }
}

#[test]
fn a_stereo_thousand_gain_chain_needs_at_most_four_buffers_per_channel() {
    let (p, gains) = chain(1000, true);
    let plan = plan(&p, 64);
    assert!(
        plan.buffer_count - 1 <= 2 * 3,
        "{} buffers besides silence",
        plan.buffer_count - 1
    );
    let out = render(&plan, 256);
    for ch in 0..2 {
        assert_bits(&out[ch], &chain_output(&gains, ch, 256), &format!("channel {ch}"));
    }
}

#[test]
fn a_wide_graph_uses_about_as_many_buffers_as_are_alive() {
    // 100 sources, each through its own gain, summed by fan-in into one
    // output: all 100 must be alive at the sum, and hardly more.
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in 0..100 {
        nodes.push(Node::new(format!("s{i}"), "src").with("seed", f64::from(i)));
        nodes.push(Node::new(format!("g{i}"), "gain").with("gain", 0.01 * f64::from(i % 7)));
        edges.push((format!("s{i}.out"), format!("g{i}.in")));
        edges.push((format!("g{i}.out"), "out.in".to_string()));
    }
    nodes.push(Node::new("out", "output"));
    let edges: Vec<(&str, &str)> = edges.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let p = patch(nodes, &edges);
    let plan = plan(&p, 64);
    let alive = most_alive(&plan);
    assert!(alive >= 100, "the sum reads 100 buffers at once, counted {alive}");
    assert!(
        plan.buffer_count <= alive + 2,
        "{} buffers for {alive} alive at once",
        plan.buffer_count
    );
    let expected = Reference::new(&p, &registry(), 256, 64).master();
    assert_bits(&render(&plan, 256)[0], &expected[0], "the sum of 100 paths");
}

#[test]
fn a_balanced_tree_reuses_buffers_between_subtrees() {
    // A binary tree of add2 over 256 sources: at most about one buffer per
    // level is alive at a time, far fewer than the 511 values computed.
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut level: Vec<String> = (0..256).map(|i| format!("s{i}")).collect();
    for (i, id) in level.iter().enumerate() {
        nodes.push(Node::new(id.as_str(), "src").with("seed", i as f64));
    }
    let mut k = 0;
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            let id = format!("add{k}");
            k += 1;
            nodes.push(Node::new(id.as_str(), "add2"));
            edges.push((format!("{}.out", pair[0]), format!("{id}.a")));
            edges.push((format!("{}.out", pair[1]), format!("{id}.b")));
            next.push(id);
        }
        level = next;
    }
    nodes.push(Node::new("out", "output"));
    edges.push((format!("{}.out", level[0]), "out.in".to_string()));
    let edges: Vec<(&str, &str)> = edges.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let p = patch(nodes, &edges);
    let plan = plan(&p, 64);
    let processed = plan
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Process { .. }))
        .count();
    assert_eq!(processed, 511);
    assert!(
        plan.buffer_count <= most_alive(&plan) + 2,
        "{} buffers",
        plan.buffer_count
    );
    // A depth-first schedule keeps this near the tree's depth (11 buffers
    // when written); a breadth-first one would need all 256 leaves at once.
    assert!(
        plan.buffer_count <= 64,
        "{} buffers for a tree of depth 8",
        plan.buffer_count
    );
    let expected = Reference::new(&p, &registry(), 128, 64).master();
    assert_bits(&render(&plan, 128)[0], &expected[0], "the tree's sum");
}

#[test]
fn ten_thousand_nodes_compile_and_run() {
    let (p, gains) = chain(10_000, false);
    let started = std::time::Instant::now();
    let plan = plan(&p, 64);
    assert!(plan.buffer_count <= 4, "{} buffers", plan.buffer_count);
    assert_eq!(plan.steps.len(), 10_001, "one step per node but the output");
    let out = render(&plan, 128);
    assert_bits(&out[0], &chain_output(&gains, 0, 128), "10 000 gains");
    assert!(started.elapsed().as_secs() < 10, "took {:?}", started.elapsed());
}

#[test]
fn no_step_writes_a_buffer_it_reads_or_writes_twice() {
    // The runtime hands a step's inputs and outputs out at once: the
    // allocator must never alias them.
    let (p, _) = chain(50, true);
    for step in plan(&p, 64).steps {
        let writes = step.writes();
        for (i, w) in writes.iter().enumerate() {
            assert!(!step.reads().contains(w), "{step:?} reads what it writes");
            assert!(!writes[..i].contains(w), "{step:?} writes one buffer twice");
            assert_ne!(*w, patchbay_core::SILENCE, "{step:?} writes the silent buffer");
        }
    }
}
