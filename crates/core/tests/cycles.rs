//! Feedback loops: illegal without a cycle breaker, reported as the nodes
//! around the loop in order; legal through one, where the loop's delay is
//! exactly what the breakers declare, whatever the block size. Random
//! patches with loops render bit for bit what a sample-by-sample reference
//! interpreter computes.

mod common;

use common::nodes::noise;
use common::random::{blueprint, build};
use common::stepwise::Stepwise;
use common::{assert_bits, first_difference, opts, patch, plan, registry, render, run, whole_blocks};
use patchbay_core::{Node, ValidationError, compile};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// The error for `patch`, which must not compile.
fn cycle_error(p: &patchbay_core::Patch) -> Vec<String> {
    match compile(p, &registry(), &opts(64)) {
        Err(ValidationError::Cycle { nodes }) => nodes,
        other => panic!(
            "expected a cycle error, got {:?}",
            other.map(|plan| plan.to_string())
        ),
    }
}

/// True when `a` is `b` turned around: the same loop from another start.
fn is_rotation(a: &[String], b: &[&str]) -> bool {
    a.len() == b.len() && (0..b.len()).any(|k| (0..b.len()).all(|i| a[i] == b[(i + k) % b.len()]))
}

#[test]
fn a_cycle_without_a_breaker_names_exactly_its_nodes_in_order() {
    // A source and an output hang off the loop a -> b -> c -> a, with a
    // branch (d) that leaves it; only a, b and c are on the loop.
    let p = patch(
        vec![
            Node::new("s", "src"),
            Node::new("a", "add2"),
            Node::new("b", "gain"),
            Node::new("d", "gain"),
            Node::new("c", "fork"),
            Node::new("out", "output"),
        ],
        &[
            ("s.out", "a.a"),
            ("a.out", "b.in"),
            ("b.out", "d.in"),
            ("b.out", "c.in"),
            ("c.neg", "a.b"),
            ("c.pos", "out.in"),
            ("d.out", "out.in"),
        ],
    );
    let nodes = cycle_error(&p);
    assert!(is_rotation(&nodes, &["a", "b", "c"]), "reported {nodes:?}");
    // The message walks the loop and closes it.
    let message = ValidationError::Cycle { nodes: nodes.clone() }.to_string();
    assert!(
        message.contains(&format!("{} -> {}", nodes.join(" -> "), nodes[0])),
        "{message}"
    );
}

#[test]
fn a_cycle_is_reported_whatever_the_document_order() {
    let ids = ["p", "q", "r", "t"];
    for rotation in 0..ids.len() {
        let nodes = (0..ids.len())
            .map(|i| Node::new(ids[(i + rotation) % ids.len()], "gain"))
            .collect();
        let p = patch(
            nodes,
            &[
                ("p.out", "q.in"),
                ("q.out", "r.in"),
                ("r.out", "t.in"),
                ("t.out", "p.in"),
            ],
        );
        let nodes = cycle_error(&p);
        assert!(is_rotation(&nodes, &ids), "reported {nodes:?}");
    }
}

#[test]
fn a_self_loop_on_an_ordinary_node_is_a_cycle() {
    let p = patch(
        vec![
            Node::new("s", "src"),
            Node::new("g", "gain"),
            Node::new("out", "output"),
        ],
        &[("s.out", "g.in"), ("g.out", "g.in"), ("g.out", "out.in")],
    );
    assert_eq!(cycle_error(&p), ["g"]);
    // Driving its own parameter is a loop too.
    let p = patch(
        vec![
            Node::new("s", "src"),
            Node::new("g", "gain"),
            Node::new("out", "output"),
        ],
        &[("s.out", "g.in"), ("g.out", "g.gain"), ("g.out", "out.in")],
    );
    assert_eq!(cycle_error(&p), ["g"]);
}

/// `y[t] = x[t] + 0.5 * y[t - delay]`, sample by sample.
fn comb(x: &[f32], delay: usize) -> Vec<f32> {
    let mut y: Vec<f32> = Vec::with_capacity(x.len());
    for t in 0..x.len() {
        let back = if t >= delay { y[t - delay] } else { 0.0 };
        y.push(x[t] + 0.5 * back);
    }
    y
}

#[test]
fn a_loop_through_a_breaker_compiles_and_delays_by_exactly_its_time() {
    // s -> add.a; add -> z -> add.b; add -> out: a feedback comb.
    for (block, samples) in [
        (1, 1),
        (1, 5),
        (7, 7),
        (7, 30),
        (64, 64),
        (64, 100),
        (64, 300),
        (256, 1000),
    ] {
        let p = patch(
            vec![
                Node::new("s", "src").with("seed", 9.0),
                Node::new("add", "add2"),
                Node::new("z", "z1").with("samples", samples as f64),
                Node::new("out", "output"),
            ],
            &[
                ("s.out", "add.a"),
                ("add.out", "z.in"),
                ("z.out", "add.b"),
                ("add.out", "out.in"),
            ],
        );
        let plan = plan(&p, block);
        assert_eq!(plan.feedback.len(), 1, "one stored signal\n{plan}");
        let expected = comb(&noise(9, 0, 2048), samples);
        let actual = run(&p, block, 2048);
        assert_bits(&actual[0], &expected, &format!("block {block}, z1 of {samples}"));
        assert_bits(&actual[1], &expected, "right is the same mono signal");
    }
}

#[test]
fn a_self_loop_on_a_breaker_compiles() {
    // z's output feeds back into itself and into the output; with a source
    // also at its input it repeats the source every `samples` samples.
    let samples = 100;
    let p = patch(
        vec![
            Node::new("s", "src").with("seed", 4.0),
            Node::new("z", "z1").with("samples", samples as f64),
            Node::new("out", "output"),
        ],
        &[("s.out", "z.in"), ("z.out", "z.in"), ("z.out", "out.in")],
    );
    let x = noise(4, 0, 1024);
    // y[t] = x[t - D] + y[t - D]
    let mut y = vec![0.0f32; x.len()];
    for t in samples..x.len() {
        y[t] = x[t - samples] + y[t - samples];
    }
    for block in [1, 7, 64] {
        assert_bits(&run(&p, block, 1024)[0], &y, &format!("block {block}"));
    }
}

#[test]
fn two_breakers_in_one_loop_add_their_delays() {
    // add -> za -> zb -> add.b: the loop's delay is za's plus zb's, whichever
    // of the two the compiler happens to run first.
    let (da, db) = (70, 90);
    let nodes = |za_first: bool| {
        let za = Node::new("za", "z1").with("samples", da as f64);
        let zb = Node::new("zb", "z1").with("samples", db as f64);
        let (first, second) = if za_first { (za, zb) } else { (zb, za) };
        vec![
            Node::new("s", "src").with("seed", 2.0),
            first,
            second,
            Node::new("add", "add2"),
            Node::new("out", "output"),
        ]
    };
    let edges = [
        ("s.out", "add.a"),
        ("add.out", "za.in"),
        ("za.out", "zb.in"),
        ("zb.out", "add.b"),
        ("add.out", "out.in"),
    ];
    let expected = comb(&noise(2, 0, 1024), da + db);
    for za_first in [true, false] {
        for block in [1, 7, 64] {
            let actual = run(&patch(nodes(za_first), &edges), block, 1024);
            assert_bits(
                &actual[0],
                &expected,
                &format!("block {block}, za listed first: {za_first}"),
            );
        }
    }
}

#[test]
fn a_breaker_fed_from_inside_and_outside_its_loop_delays_both_alike() {
    // z sums a fresh signal (s) and its own output through g: both must come
    // out `samples` later, y[t] = x[t - D] + 0.5 * y[t - D].
    let samples = 100;
    let p = patch(
        vec![
            Node::new("s", "src").with("seed", 8.0),
            Node::new("z", "z1").with("samples", samples as f64),
            Node::new("g", "gain").with("gain", 0.5),
            Node::new("out", "output"),
        ],
        &[
            ("s.out", "z.in"),
            ("z.out", "g.in"),
            ("g.out", "z.in"),
            ("z.out", "out.in"),
        ],
    );
    let x = noise(8, 0, 1024);
    let mut y = vec![0.0f32; x.len()];
    for t in samples..x.len() {
        y[t] = x[t - samples] + y[t - samples] * 0.5;
    }
    for block in [1, 7, 64] {
        assert_bits(&run(&p, block, 1024)[0], &y, &format!("block {block}"));
    }
}

#[test]
fn a_loop_through_a_breakers_parameter_only_still_compiles() {
    // The loop closes through z's `samples` parameter, not its input. z's
    // audio input is then not late, and the signal is delayed by exactly
    // the configured time.
    let samples = 100;
    let p = patch(
        vec![
            Node::new("s", "src").with("seed", 3.0),
            Node::new("z", "z1").with("samples", samples as f64),
            Node::new("quiet", "gain").with("gain", 0.0),
            Node::new("out", "output"),
        ],
        &[
            ("s.out", "z.in"),
            ("z.out", "quiet.in"),
            ("quiet.out", "z.samples"),
            ("z.out", "out.in"),
        ],
    );
    let expected = common::reference::delayed(&noise(3, 0, 1024), samples);
    for block in [1, 7, 64] {
        assert_bits(&run(&p, block, 1024)[0], &expected, &format!("block {block}"));
    }
}

#[test]
fn a_stereo_loop_settles_its_width() {
    // The loop's width depends on itself: a stereo source makes it stereo.
    let p = patch(
        vec![
            Node::new("s", "stereo_src").with("seed", 6.0),
            Node::new("add", "add2"),
            Node::new("z", "z1").with("samples", 64.0),
            Node::new("out", "output"),
        ],
        &[
            ("s.out", "add.a"),
            ("add.out", "z.in"),
            ("z.out", "add.b"),
            ("add.out", "out.in"),
        ],
    );
    let plan = plan(&p, 64);
    assert_eq!(plan.nodes[plan.node_index("z").unwrap()].channels, 2);
    assert_eq!(plan.feedback.len(), 2);
    let actual = run(&p, 64, 512);
    for ch in 0..2 {
        assert_bits(
            &actual[ch],
            &comb(&noise(6, ch, 512), 64),
            &format!("channel {ch}"),
        );
    }
}

/// Block sizes the loop tests run: no larger than the shortest `z1` (64).
const LOOP_BLOCKS: [usize; 3] = [1, 7, 64];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_patches_with_loops_match_the_stepwise_reference(bp in blueprint(true)) {
        let patch = build(&bp);
        for block in LOOP_BLOCKS {
            let plan = plan(&patch, block);
            let frames = whole_blocks(512, block);
            let reference = Stepwise::new(&patch, &registry(), block);
            prop_assert_eq!(plan.latency, reference.latency(), "latency at block {}", block);
            let expected = reference.master(frames);
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
    }
}

#[test]
fn the_loop_generator_makes_loops() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = blueprint(true);
    let (mut loops, mut two_breakers) = (0, 0);
    for _ in 0..300 {
        let patch = build(&strategy.new_tree(&mut runner).unwrap().current());
        let plan = plan(&patch, 64);
        loops += usize::from(!plan.feedback.is_empty());
        two_breakers += usize::from(plan.nodes.iter().filter(|n| n.feedback_delay > 0).count() > 1);
    }
    assert!(loops >= 150, "only {loops} of 300 patches have a loop");
    assert!(
        two_breakers >= 20,
        "only {two_breakers} of 300 patches have two fed-back breakers"
    );
}

#[test]
fn the_stepwise_reference_agrees_with_the_whole_signal_one_without_loops() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = blueprint(false);
    for _ in 0..50 {
        let patch = build(&strategy.new_tree(&mut runner).unwrap().current());
        let expected = common::reference::Reference::new(&patch, &registry(), 256, 64).master();
        let stepwise = Stepwise::new(&patch, &registry(), 64).master(256);
        for ch in 0..2 {
            assert_bits(&stepwise[ch], &expected[ch], &patch.to_json());
        }
    }
}
