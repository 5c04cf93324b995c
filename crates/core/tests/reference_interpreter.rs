//! The compiler's correctness proof: for hundreds of random acyclic patches,
//! the compiled schedule's master output is bit for bit what a naive
//! reference interpreter computes, at several block sizes.

mod common;

use common::nodes::noise;
use common::random::{blueprint, build, has_fan_in};
use common::reference::Reference;
use common::{assert_bits, first_difference, patch, plan, registry, render, run, whole_blocks};
use patchbay_core::runtime::CONTROL_CHUNK;
use patchbay_core::{Node, Patch};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Block sizes every patch is run at: one frame, an odd size smaller than a
/// control chunk, the default, and a large one.
const BLOCKS: [usize; 4] = [1, 7, 64, 256];
/// Frames compared: three of the largest blocks.
const FRAMES: usize = 768;

/// Compile `patch` at every block size and compare the master and the
/// latency with the reference.
fn check_against_reference(patch: &Patch) -> Result<(), TestCaseError> {
    let registry = registry();
    for block in BLOCKS {
        let plan = plan(patch, block);
        let frames = whole_blocks(FRAMES, block);
        let mut reference = Reference::new(patch, &registry, frames, block);
        prop_assert_eq!(plan.latency, reference.latency(), "latency at block {}", block);
        let expected = reference.master();
        let actual = render(&plan, frames);
        for ch in 0..2 {
            if let Some(t) = first_difference(&actual[ch], &expected[ch]) {
                return Err(TestCaseError::fail(format!(
                    "block {block}, channel {ch}, frame {t}: compiled {} but reference {}\n{}\n{plan}",
                    actual[ch][t],
                    expected[ch][t],
                    patch.to_json()
                )));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_acyclic_patches_match_the_reference(bp in blueprint(false)) {
        check_against_reference(&build(&bp))?;
    }
}

/// The generator reaches what it is meant to: fan-in, fan-out, spreads,
/// several outputs, latency and modulation all occur often.
#[test]
fn the_generator_covers_the_interesting_shapes() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = blueprint(false);
    let (mut fan_in, mut several_outputs, mut stereo, mut latency, mut modulation) = (0, 0, 0, 0, 0);
    for _ in 0..300 {
        let patch = build(&strategy.new_tree(&mut runner).unwrap().current());
        fan_in += usize::from(has_fan_in(&patch));
        several_outputs += usize::from(patch.nodes.iter().filter(|n| n.kind == "output").count() > 1);
        let from_stereo = |id: &str| patch.node(id).is_some_and(|n| n.kind == "stereo_src");
        stereo += usize::from(patch.edges.iter().any(|e| from_stereo(&e.from.node)));
        latency += usize::from(plan(&patch, 64).latency > 0);
        modulation += usize::from(
            patch
                .edges
                .iter()
                .any(|e| ["gain", "value"].contains(&e.to.port.as_str())),
        );
    }
    for (what, count) in [
        ("fan-in", fan_in),
        ("several outputs", several_outputs),
        ("stereo signals", stereo),
        ("latency", latency),
        ("modulation", modulation),
    ] {
        assert!(count >= 30, "only {count} of 300 patches have {what}");
    }
}

/// Three outputs are summed in patch order, whatever order the edges are
/// listed in (float addition is not associative, so the order shows).
#[test]
fn outputs_are_summed_in_patch_order() {
    let nodes = || {
        let mut nodes = vec![];
        for i in 0..3 {
            nodes.push(Node::new(format!("s{i}"), "src").with("seed", f64::from(i * 10 + 3)));
            nodes.push(Node::new(format!("g{i}"), "gain").with("gain", 0.3 + 0.5 * f64::from(i)));
        }
        nodes.extend((0..3).map(|i| Node::new(format!("out{i}"), "output")));
        nodes
    };
    let mut edges = vec![];
    for i in 0..3 {
        edges.push((format!("s{i}.out"), format!("g{i}.in")));
        edges.push((format!("g{i}.out"), format!("out{i}.in")));
    }
    let forward: Vec<(&str, &str)> = edges.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let backward: Vec<(&str, &str)> = forward.iter().rev().copied().collect();
    let expected = Reference::new(&patch(nodes(), &forward), &registry(), 256, 64).master();
    for edges in [forward, backward] {
        let actual = run(&patch(nodes(), &edges), 64, 256);
        assert_bits(&actual[0], &expected[0], "left");
        assert_bits(&actual[1], &expected[1], "right");
    }
}

/// Fan-in sums in edge order: `((a + b) + c)`, with a mono source spread to
/// both sides of a stereo sum, checked against sums written out by hand.
#[test]
fn fan_in_sums_in_edge_order_and_spreads_mono() {
    let p = patch(
        vec![
            Node::new("a", "src").with("seed", 1.0),
            Node::new("b", "stereo_src").with("seed", 2.0),
            Node::new("c", "src").with("seed", 3.0).with("range", 1.0),
            Node::new("sum", "gain"),
            Node::new("out", "output"),
        ],
        &[
            ("a.out", "sum.in"),
            ("b.out", "sum.in"),
            ("c.out", "sum.in"),
            ("sum.out", "out.in"),
        ],
    );
    let n = 200;
    let (a, c) = (noise(1, 0, n), noise(3, 0, n));
    for block in BLOCKS {
        let actual = run(&p, block, n);
        for ch in 0..2 {
            let b = noise(2, ch, n);
            let expected: Vec<f32> = (0..n).map(|t| (a[t] + b[t]) + c[t] * 0.5).collect();
            assert_bits(&actual[ch], &expected, &format!("block {block} channel {ch}"));
        }
    }
}

/// A driven parameter takes the signal's value, clamped to its range, at
/// the start of every control chunk, and holds it until the next.
#[test]
fn modulation_is_sampled_per_control_chunk_and_clamped() {
    // gain.gain = noise + 1.5, which leaves the range -2..2 about a quarter
    // of the time.
    let p = patch(
        vec![
            Node::new("x", "stereo_src").with("seed", 5.0),
            Node::new("m", "src").with("seed", 6.0),
            Node::new("offset", "dc").with("value", 1.5),
            Node::new("g", "gain"),
            Node::new("out", "output"),
        ],
        &[
            ("x.out", "g.in"),
            ("m.out", "g.gain"),
            ("offset.out", "g.gain"),
            ("g.out", "out.in"),
        ],
    );
    let n = 512;
    let driven: Vec<f32> = noise(6, 0, n).iter().map(|m| m + 1.5).collect();
    assert!(
        driven.iter().any(|&m| m > 2.0),
        "the test should exercise clamping"
    );
    for block in [7, 16, 64, 256] {
        let actual = run(&p, block, n);
        let held = |t: usize| t - (t % block) % CONTROL_CHUNK;
        for ch in 0..2 {
            let x = noise(5, ch, n);
            let expected: Vec<f32> = (0..n).map(|t| x[t] * driven[held(t)].clamp(-2.0, 2.0)).collect();
            assert_bits(&actual[ch], &expected, &format!("block {block} channel {ch}"));
        }
    }
}
