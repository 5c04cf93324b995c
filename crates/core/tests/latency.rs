//! Latency compensation: where paths of different latency meet, the faster
//! ones are delayed so the signals line up sample for sample, and the plan
//! reports the slowest path's latency.

mod common;

use common::nodes::noise;
use common::reference::delayed;
use common::{assert_bits, patch, plan, run};
use patchbay_core::{Node, Step};

const BLOCKS: [usize; 4] = [1, 7, 64, 256];

#[test]
fn parallel_paths_meeting_at_add2_are_aligned() {
    // s -> lat(100) -> add.a and s -> add.b: out = x[t-100] + 0.5 x[t-100].
    let p = patch(
        vec![
            Node::new("s", "src").with("seed", 11.0),
            Node::new("lat", "lat").with("samples", 100.0),
            Node::new("add", "add2"),
            Node::new("out", "output"),
        ],
        &[
            ("s.out", "lat.in"),
            ("lat.out", "add.a"),
            ("s.out", "add.b"),
            ("add.out", "out.in"),
        ],
    );
    let x = delayed(&noise(11, 0, 1024), 100);
    let expected: Vec<f32> = x.iter().map(|x| 1.5 * x).collect();
    for block in BLOCKS {
        let plan = plan(&p, block);
        assert_eq!(plan.latency, 100, "block {block}");
        let aligns: Vec<usize> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Delay { samples, .. } => Some(*samples),
                _ => None,
            })
            .collect();
        assert_eq!(aligns, [100], "one alignment delay, on the fast path\n{plan}");
        let actual = run(&p, block, 1024);
        assert_bits(&actual[0], &expected, &format!("left, block {block}"));
        assert_bits(&actual[1], &expected, &format!("right, block {block}"));
    }
}

#[test]
fn parallel_paths_meeting_at_a_fan_in_are_aligned() {
    // The same two paths summed by two edges into one input: out = 2 x[t-100].
    let p = patch(
        vec![
            Node::new("s", "src").with("seed", 12.0),
            Node::new("lat", "lat").with("samples", 100.0),
            Node::new("out", "output"),
        ],
        &[("s.out", "lat.in"), ("lat.out", "out.in"), ("s.out", "out.in")],
    );
    let expected: Vec<f32> = delayed(&noise(12, 0, 1024), 100).iter().map(|x| x + x).collect();
    for block in BLOCKS {
        assert_eq!(plan(&p, block).latency, 100);
        assert_bits(&run(&p, block, 1024)[0], &expected, &format!("block {block}"));
    }
}

#[test]
fn latencies_add_along_a_path_and_the_slowest_path_wins() {
    // Path A: lat 100 then lat 30 (130); path B: lat 50 (50); path C: none.
    // All three meet at one gain: each arrives at 130.
    let p = patch(
        vec![
            Node::new("s", "src").with("seed", 13.0),
            Node::new("a1", "lat").with("samples", 100.0),
            Node::new("a2", "lat").with("samples", 30.0),
            Node::new("b", "lat").with("samples", 50.0),
            Node::new("sum", "gain"),
            Node::new("out", "output"),
        ],
        &[
            ("s.out", "a1.in"),
            ("a1.out", "a2.in"),
            ("s.out", "b.in"),
            ("a2.out", "sum.in"),
            ("b.out", "sum.in"),
            ("s.out", "sum.in"),
            ("sum.out", "out.in"),
        ],
    );
    let x = delayed(&noise(13, 0, 1024), 130);
    let expected: Vec<f32> = x.iter().map(|x| x + x + x).collect();
    for block in BLOCKS {
        assert_eq!(plan(&p, block).latency, 130);
        assert_bits(&run(&p, block, 1024)[0], &expected, &format!("block {block}"));
    }
}

#[test]
fn several_outputs_are_aligned_to_the_slowest() {
    // One output hears the source late, the other directly: the master
    // hears both at 100.
    let p = patch(
        vec![
            Node::new("s", "stereo_src").with("seed", 14.0),
            Node::new("lat", "lat").with("samples", 100.0),
            Node::new("slow", "output"),
            Node::new("fast", "output"),
        ],
        &[("s.out", "lat.in"), ("lat.out", "slow.in"), ("s.out", "fast.in")],
    );
    for block in BLOCKS {
        assert_eq!(plan(&p, block).latency, 100);
        let actual = run(&p, block, 1024);
        for ch in 0..2 {
            let expected: Vec<f32> = delayed(&noise(14, ch, 1024), 100).iter().map(|x| x + x).collect();
            assert_bits(&actual[ch], &expected, &format!("channel {ch}, block {block}"));
        }
    }
}

#[test]
fn a_modulation_path_is_aligned_with_the_audio() {
    // The gain's parameter is driven by the source's own latency-free copy
    // while the audio passes through lat(96): the parameter must be late too.
    // At the start of each control chunk g = x[t - 96], so on those frames
    // the output is x[t-96]^2 exactly.
    let p = patch(
        vec![
            Node::new("s", "src").with("seed", 15.0),
            Node::new("lat", "lat").with("samples", 96.0),
            Node::new("g", "gain"),
            Node::new("out", "output"),
        ],
        &[
            ("s.out", "lat.in"),
            ("lat.out", "g.in"),
            ("s.out", "g.gain"),
            ("g.out", "out.in"),
        ],
    );
    let x = delayed(&noise(15, 0, 1024), 96);
    let plan = plan(&p, 64);
    assert_eq!(plan.latency, 96);
    let actual = run(&p, 64, 1024);
    for t in (0..1024).step_by(16) {
        assert_eq!(actual[0][t].to_bits(), (x[t] * x[t]).to_bits(), "frame {t}");
    }
}

#[test]
fn a_path_with_no_latency_needs_no_alignment() {
    let p = patch(
        vec![
            Node::new("s", "src"),
            Node::new("g", "gain"),
            Node::new("zero", "lat"),
            Node::new("add", "add2"),
            Node::new("out", "output"),
        ],
        &[
            ("s.out", "g.in"),
            ("s.out", "zero.in"),
            ("g.out", "add.a"),
            ("zero.out", "add.b"),
            ("add.out", "out.in"),
        ],
    );
    let plan = plan(&p, 64);
    assert_eq!(plan.latency, 0);
    assert!(
        !plan.steps.iter().any(|s| matches!(s, Step::Delay { .. })),
        "{plan}"
    );
}
