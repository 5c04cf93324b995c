//! The runtime between the control thread and the audio thread: parameter
//! commands reach the processors and glide, schedule swaps happen between
//! blocks in command order, and replaced schedules come back to be dropped
//! on the control side.

mod common;

use common::{patch, plan};
use patchbay_core::runtime::CONTROL_CHUNK;
use patchbay_core::{Command, Node, Patch, Runtime, Schedule, engine};

const BLOCK: usize = 64;

/// `dc(value) -> gain -> out`, nodes listed in `order` (indices into
/// `[dc, gain, out]`).
fn dc_through_gain(value: f64, order: [usize; 3]) -> Patch {
    let nodes = [
        Node::new("dc", "dc").with("value", value),
        Node::new("g", "gain"),
        Node::new("out", "output"),
    ];
    patch(
        order.map(|i| nodes[i].clone()).to_vec(),
        &[("dc.out", "g.in"), ("g.out", "out.in")],
    )
}

fn schedule(p: &Patch) -> Schedule {
    Schedule::new(&plan(p, BLOCK))
}

/// Run `blocks` blocks and return the left channel.
fn left(runtime: &mut Runtime, blocks: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for _ in 0..blocks {
        runtime.process_block();
        out.extend_from_slice(runtime.schedule().master()[0]);
    }
    out
}

fn set(node: usize, param: usize, value: f32) -> Command {
    Command::SetParam {
        node: node as u32,
        param: param as u32,
        value,
    }
}

#[test]
fn a_parameter_change_glides_over_the_smoothing_time() {
    let p = dc_through_gain(1.0, [0, 1, 2]);
    let g = plan(&p, BLOCK).node_index("g").unwrap();
    let (mut engine, mut runtime) = engine(schedule(&p));
    assert!(left(&mut runtime, 2).iter().all(|&x| x == 1.0));

    engine.send(set(g, 0, 0.0)).unwrap();
    let out = left(&mut runtime, 20);
    // gain's smoothing is 20 ms: 960 frames at 48 kHz, 60 control chunks.
    let chunks = 60;
    assert!(
        out[0] < 1.0 && out[0] > 0.95,
        "the first chunk moves one step: {}",
        out[0]
    );
    for (k, chunk) in out.chunks(CONTROL_CHUNK).enumerate() {
        assert!(chunk.iter().all(|&x| x == chunk[0]), "chunk {k} is not constant");
        let expected = 1.0 - (k + 1).min(chunks) as f32 / chunks as f32;
        assert!(
            (chunk[0] - expected).abs() < 1e-5,
            "chunk {k}: {} instead of about {expected}",
            chunk[0]
        );
    }
    for w in out.windows(2) {
        assert!(w[1] <= w[0], "the glide goes one way");
        assert!(
            w[0] - w[1] <= 1.0 / chunks as f32 + 1e-6,
            "a jump of {}",
            w[0] - w[1]
        );
    }
    let landed = out.iter().position(|&x| x == 0.0).unwrap();
    assert_eq!(
        landed,
        (chunks - 1) * CONTROL_CHUNK,
        "lands exactly on the target at the last chunk"
    );
    assert!(out[landed..].iter().all(|&x| x == 0.0));
}

#[test]
fn a_new_target_mid_glide_glides_from_where_it_is() {
    let p = dc_through_gain(1.0, [0, 1, 2]);
    let g = plan(&p, BLOCK).node_index("g").unwrap();
    let (mut engine, mut runtime) = engine(schedule(&p));
    engine.send(set(g, 0, 0.0)).unwrap();
    let first = left(&mut runtime, 4); // 16 of 60 chunks down
    engine.send(set(g, 0, 1.0)).unwrap();
    let second = left(&mut runtime, 20);
    let at = *first.last().unwrap();
    assert!(
        second[0] > at && second[0] - at < 0.02,
        "turns back smoothly: {at} -> {}",
        second[0]
    );
    assert_eq!(*second.last().unwrap(), 1.0);
}

#[test]
fn a_parameter_is_clamped_to_its_range_and_bad_commands_are_ignored() {
    let p = dc_through_gain(1.0, [0, 1, 2]);
    let g = plan(&p, BLOCK).node_index("g").unwrap();
    let (mut engine, mut runtime) = engine(schedule(&p));
    engine.send(set(g, 0, 100.0)).unwrap();
    engine.send(set(g, 0, f32::NAN)).unwrap();
    engine.send(set(g, 7, 0.0)).unwrap();
    engine.send(set(999, 0, 0.0)).unwrap();
    let out = left(&mut runtime, 20);
    assert_eq!(*out.last().unwrap(), 2.0, "gain's maximum");
    assert!(out.iter().all(|x| x.is_finite()));
}

#[test]
fn a_swap_replaces_the_schedule_between_blocks_and_returns_the_old_one() {
    let (mut engine, mut runtime) = engine(schedule(&dc_through_gain(1.0, [0, 1, 2])));
    assert_eq!(left(&mut runtime, 1), vec![1.0; BLOCK]);

    engine
        .send(Command::Swap(Box::new(schedule(&dc_through_gain(
            -0.5,
            [0, 1, 2],
        )))))
        .unwrap();
    assert_eq!(
        engine.collect_garbage(),
        0,
        "nothing until the audio thread has run"
    );
    assert_eq!(
        left(&mut runtime, 1),
        vec![-0.5; BLOCK],
        "the whole next block is the new schedule"
    );
    assert_eq!(engine.collect_garbage(), 1, "the old schedule came back");
    assert_eq!(engine.collect_garbage(), 0);
}

#[test]
fn commands_apply_in_order_across_a_swap() {
    // The new schedule lists its nodes differently: its gain is node 2,
    // where the old schedule has its output. A parameter sent after the swap
    // must land on the new gain, not on the old schedule.
    let old = dc_through_gain(1.0, [0, 1, 2]);
    let new = dc_through_gain(1.0, [2, 0, 1]);
    let (old_g, new_g) = (
        plan(&old, BLOCK).node_index("g").unwrap(),
        plan(&new, BLOCK).node_index("g").unwrap(),
    );
    assert_eq!((old_g, new_g), (1, 2));
    let (mut engine, mut runtime) = engine(schedule(&old));
    engine.send(set(old_g, 0, -1.0)).unwrap(); // lands on the old schedule, then leaves with it
    engine.send(Command::Swap(Box::new(schedule(&new)))).unwrap();
    engine.send(set(new_g, 0, 0.5)).unwrap();
    let out = left(&mut runtime, 20);
    assert!(
        out[0] < 1.0 && out[0] > 0.95,
        "the new gain starts gliding from 1: {}",
        out[0]
    );
    assert_eq!(*out.last().unwrap(), 0.5);
    assert_eq!(engine.collect_garbage(), 1);
}

#[test]
fn a_full_garbage_ring_holds_swaps_back_instead_of_dropping_on_the_audio_thread() {
    let (mut engine, mut runtime) = engine(schedule(&dc_through_gain(0.0, [0, 1, 2])));
    let swaps: usize = 100;
    for i in 1..=swaps {
        let value = i as f64 / 100.0;
        engine
            .send(Command::Swap(Box::new(schedule(&dc_through_gain(
                value,
                [0, 1, 2],
            )))))
            .unwrap();
    }
    let mut returned = 0;
    let mut heard = Vec::new();
    for _ in 0..10 {
        heard.push(left(&mut runtime, 1)[0]);
        returned += engine.collect_garbage();
    }
    assert_eq!(returned, swaps, "every replaced schedule came back");
    assert_eq!(*heard.last().unwrap(), 1.0, "the last swap won");
    assert!(
        heard.windows(2).all(|w| w[0] <= w[1]),
        "swaps were applied in order: {heard:?}"
    );
    assert!(
        heard[0] < 1.0,
        "the ring's capacity held some swaps back at first: {heard:?}"
    );
}

#[test]
fn any_host_buffer_size_hears_the_same_blocks() {
    let p = patch(
        vec![
            Node::new("s", "stereo_src").with("seed", 31.0),
            Node::new("out", "output"),
        ],
        &[("s.out", "out.in")],
    );
    let expected = common::run(&p, BLOCK, 1000);
    for host in [1, 5, 64, 100, 333] {
        let (_engine, mut runtime) = engine(schedule(&p));
        let mut stereo = Vec::new();
        let mut mono = Vec::new();
        let (_engine_mono, mut runtime_mono) = engine(schedule(&p));
        // Full-scale noise: compare raw blocks, without the safety limiter
        // (which `patchbay_core::safety` tests on its own).
        runtime.set_ceiling_db(None);
        runtime_mono.set_ceiling_db(None);
        while stereo.len() < 2000 {
            let mut buf = vec![0.0; 2 * host];
            runtime.fill_interleaved(&mut buf, 2);
            stereo.extend_from_slice(&buf);
            let mut buf = vec![0.0; host];
            runtime_mono.fill_interleaved(&mut buf, 1);
            mono.extend_from_slice(&buf);
        }
        for t in 0..1000 {
            let (l, r) = (expected[0][t], expected[1][t]);
            assert_eq!(
                stereo[2 * t].to_bits(),
                l.to_bits(),
                "host {host}, frame {t}, left"
            );
            assert_eq!(
                stereo[2 * t + 1].to_bits(),
                r.to_bits(),
                "host {host}, frame {t}, right"
            );
            assert_eq!(
                mono[t].to_bits(),
                (0.5 * (l + r)).to_bits(),
                "host {host}, frame {t}, mono"
            );
        }
    }
}
