//! The runtime between the control thread and the audio thread: parameter
//! commands reach the processors and glide, schedule swaps happen between
//! blocks in command order, and replaced schedules come back to be dropped
//! on the control side.

mod common;

use common::{patch, plan};
use patchbay_core::runtime::{CONTROL_CHUNK, PENDING_CAPACITY};
use patchbay_core::{
    Command, Node, NodeDescriptor, ParamSpec, Patch, Plan, PortSpec, ProcessIo, Processor, Rest, Runtime,
    Schedule, Step, compile, engine, no_latency,
};

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

/// `in * level`, with a `level` that is never smoothed: a timed change to
/// it is a step on its exact sample.
static STEP_GAIN: NodeDescriptor = NodeDescriptor {
    kind: "step_gain",
    category: "test",
    summary: "Multiplies by `level`, unsmoothed.",
    inputs: &[PortSpec::audio("in", "signal").follows()],
    outputs: &[PortSpec::audio("out", "in * level").follows()],
    params: &[ParamSpec::new("level", -2.0, 2.0, 1.0).smoothing(0.0)],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(StepGain(ctx.param(0))),
};

struct StepGain(f32);

impl Processor for StepGain {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let x = io.input(0, 0);
        for (y, x) in io.output(0, 0).iter_mut().zip(x) {
            *y = x * self.0;
        }
    }
    fn set_param(&mut self, _: usize, value: f32) {
        self.0 = value;
    }
}

/// `src(noise) -> <kind> -> out` compiled at `block`, and the node's index.
fn noise_through(kind: &str, block: usize) -> (Plan, usize) {
    let mut registry = common::registry();
    registry.add(&STEP_GAIN);
    let p = patch(
        vec![
            Node::new("src", "src").with("seed", 7.0),
            Node::new("g", kind),
            Node::new("out", "output"),
        ],
        &[("src.out", "g.in"), ("g.out", "out.in")],
    );
    let plan = compile(&p, &registry, &common::opts(block)).unwrap();
    let g = plan.node_index("g").unwrap();
    (plan, g)
}

fn set_at(node: usize, param: usize, value: f32, at: u64) -> Command {
    Command::SetParamAt {
        node: node as u32,
        param: param as u32,
        value,
        at,
    }
}

#[test]
fn timed_steps_land_on_their_exact_samples_inside_blocks() {
    let (plan, g) = noise_through("step_gain", BLOCK);
    let (mut engine, mut runtime) = engine(Schedule::new(&plan));
    // Two changes inside one block (frames 36 and 37 of block 1), one on a
    // block's last frame, one on a block's first.
    let changes = [(100, -0.5), (101, 0.25), (191, 2.0), (256, -1.0)];
    for (at, level) in changes {
        engine.send(set_at(g, 0, level, at)).unwrap();
    }
    let out = left(&mut runtime, 6);
    let noise = common::nodes::noise(7, 0, out.len());
    let mut level = 1.0;
    for (t, (&y, &x)) in out.iter().zip(&noise).enumerate() {
        if let Some(&(_, to)) = changes.iter().find(|c| c.0 == t as u64) {
            level = to;
        }
        assert_eq!(y.to_bits(), (x * level).to_bits(), "frame {t}");
    }
}

#[test]
fn a_timed_glide_equals_the_same_glide_sent_at_a_block_boundary() {
    // At 64-frame blocks the changes land inside blocks (frames 16 and 32
    // of their blocks); at 16-frame blocks the same changes, untimed, are
    // sent before the blocks that start there. Control chunks line up in
    // both, so the renders must agree bit for bit.
    let changes = [(80, 0.25), (288, -1.5), (1040, 2.0)];
    let (plan, g) = noise_through("gain", BLOCK);
    let (mut timed_control, mut runtime) = engine(Schedule::new(&plan));
    for (at, gain) in changes {
        timed_control.send(set_at(g, 0, gain, at)).unwrap();
    }
    let timed = left(&mut runtime, 40);

    let (plan, g) = noise_through("gain", CONTROL_CHUNK);
    let (mut control, mut runtime) = engine(Schedule::new(&plan));
    let mut baked = Vec::new();
    while baked.len() < timed.len() {
        for &(_, gain) in changes.iter().filter(|c| c.0 == baked.len() as u64) {
            control.send(set(g, 0, gain)).unwrap();
        }
        baked.extend(left(&mut runtime, 1));
    }
    let noise = common::nodes::noise(7, 0, 81);
    assert_eq!(timed[..80], noise[..80], "nothing changes before frame 80");
    assert_ne!(timed[80], noise[80], "the glide starts on frame 80");
    for (t, (a, b)) in timed.iter().zip(&baked).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "frame {t}");
    }
}

#[test]
fn a_glide_starting_inside_a_control_chunk_steps_on_its_first_sample() {
    let (plan, g) = noise_through("gain", BLOCK);
    let (mut engine, mut runtime) = engine(Schedule::new(&plan));
    engine.send(set_at(g, 0, 0.0, 100)).unwrap();
    let out = left(&mut runtime, 3);
    let noise = common::nodes::noise(7, 0, out.len());
    let gain: Vec<f32> = out.iter().zip(&noise).map(|(y, x)| y / x).collect();
    assert!(
        gain[..100].iter().all(|&g| g == 1.0),
        "unchanged before frame 100"
    );
    // 20 ms of smoothing at 48 kHz: 60 steps, the first on frame 100 itself,
    // the next ones on the block's own control chunks (112, 128, ...).
    let step = 1.0 / 60.0;
    for (t, expected) in [
        (100, 1.0 - step),
        (111, 1.0 - step),
        (112, 1.0 - 2.0 * step),
        (128, 1.0 - 3.0 * step),
    ] {
        assert!(
            (gain[t] - expected).abs() < 1e-5,
            "frame {t}: gain {} instead of {expected}",
            gain[t]
        );
    }
    assert_eq!(gain[111], gain[100]);
    assert_ne!(gain[112], gain[111]);
}

#[test]
fn a_timed_change_already_past_applies_at_the_next_block() {
    let (plan, g) = noise_through("step_gain", BLOCK);
    let (mut engine, mut runtime) = engine(Schedule::new(&plan));
    left(&mut runtime, 3);
    assert_eq!(engine.now(), 3 * BLOCK as u64);
    engine.send(set_at(g, 0, 0.5, 10)).unwrap();
    let out = left(&mut runtime, 1);
    let noise = common::nodes::noise(7, 0, 4 * BLOCK);
    for (t, (&y, &x)) in out.iter().zip(&noise[3 * BLOCK..]).enumerate() {
        assert_eq!(y.to_bits(), (x * 0.5).to_bits(), "frame {t} of the block");
    }
}

#[test]
fn a_full_waiting_list_applies_its_earliest_change_early_and_loses_none() {
    let (plan, g) = noise_through("step_gain", BLOCK);
    let (mut engine, mut runtime) = engine(Schedule::new(&plan));
    let level = |i: usize| (i % 7) as f32 * 0.25 - 0.75;
    let first = 1000;
    let count = PENDING_CAPACITY + 1;
    for i in 0..count {
        engine.send(set_at(g, 0, level(i), (first + i) as u64)).unwrap();
    }
    let out = left(&mut runtime, (first + count) / BLOCK + 2);
    assert_eq!(engine.early_changes(), 1, "one change could not wait");
    // The last one sent found the list full: the earliest waiting change
    // (frame 1000) went at once, and still holds when its frame comes.
    let noise = common::nodes::noise(7, 0, out.len());
    assert_eq!(
        out[0].to_bits(),
        (noise[0] * level(0)).to_bits(),
        "applied at the first block"
    );
    for i in 0..count {
        let t = first + i;
        assert_eq!(out[t].to_bits(), (noise[t] * level(i)).to_bits(), "frame {t}");
    }
}

#[test]
fn the_runtime_flushes_subnormal_results_to_zero() {
    // The smallest normal float halved is subnormal, except on the audio
    // thread, which flushes it (x86; elsewhere the hardware decides).
    let tiny = f32::MIN_POSITIVE as f64;
    let mut p = dc_through_gain(tiny, [0, 1, 2]);
    p.node_mut("g").unwrap().params.insert("gain".into(), 0.5);
    let (_engine, mut runtime) = engine(schedule(&p));
    let out = left(&mut runtime, 1);
    let outside = std::hint::black_box(f32::MIN_POSITIVE) * std::hint::black_box(0.5);
    assert!(outside != 0.0 && outside.is_subnormal());
    #[cfg(target_arch = "x86_64")]
    assert!(out.iter().all(|&x| x == 0.0), "{:?}", &out[..4]);
}

/// Every call a `probe` node got: (node id, frames).
static PROBED: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

/// Writes `value` and holds it; records each call.
static PROBE: NodeDescriptor = PROBE_KIND;

/// A probe whose descriptor does not say it may rest: the compiler reuses
/// its buffer, which the runtime must notice.
static UNDECLARED_PROBE: NodeDescriptor = undeclared("undeclared_probe", PROBE_KIND);

/// `descriptor` as kind `kind`, not declared to rest (`may_rest`), though
/// its processor does.
const fn undeclared(kind: &'static str, descriptor: NodeDescriptor) -> NodeDescriptor {
    NodeDescriptor {
        kind,
        may_rest: false,
        ..descriptor
    }
}

const PROBE_KIND: NodeDescriptor = NodeDescriptor {
    kind: "probe",
    category: "test",
    summary: "Writes `value` and holds it; records its calls.",
    inputs: &[],
    outputs: &[PortSpec::control("out", "value")],
    params: &[ParamSpec::new("value", -2.0, 2.0, 1.0).smoothing(0.01)],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| Box::new(Probe(ctx.id.to_string(), 1.0)),
};

struct Probe(String, f32);

impl Processor for Probe {
    fn set_param(&mut self, _index: usize, value: f32) {
        self.1 = value;
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        PROBED.lock().unwrap().push((self.0.clone(), io.frames()));
        io.output(0, 0).fill(self.1);
        io.rest(Rest::Hold);
    }
}

/// The frames of each call probe `id` got since the last look.
fn probed(id: &str) -> Vec<usize> {
    let mut calls = PROBED.lock().unwrap();
    let (mine, others) = calls.drain(..).partition::<Vec<_>, _>(|c| c.0 == id);
    *calls = others;
    mine.into_iter().map(|(_, frames)| frames).collect()
}

/// `id` (a probe of `kind`) through `gains` gain nodes to the output.
fn probe_chain(id: &str, kind: &str, gains: usize) -> Plan {
    let mut registry = common::registry();
    registry.add(&PROBE);
    registry.add(&UNDECLARED_PROBE);
    let mut nodes = vec![Node::new(id, kind)];
    let mut edges = Vec::new();
    let mut from = format!("{id}.out");
    for g in 0..gains {
        nodes.push(Node::new(format!("{id}_g{g}"), "gain"));
        edges.push((from, format!("{id}_g{g}.in")));
        from = format!("{id}_g{g}.out");
    }
    nodes.push(Node::new("out", "output"));
    edges.push((from, "out.in".to_string()));
    let edges: Vec<(&str, &str)> = edges.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    compile(&patch(nodes, &edges), &registry, &common::opts(BLOCK)).unwrap()
}

#[test]
fn a_held_node_rests_until_a_parameter_changes_while_its_buffer_is_its_own() {
    // Alone with one gain after it, the probe's buffer is its own: one
    // call, then its output stays in place.
    let plan = probe_chain("held", "probe", 1);
    let (mut control, mut runtime) = engine(Schedule::new(&plan));
    assert_eq!(left(&mut runtime, 3), [1.0; 3 * BLOCK]);
    assert_eq!(probed("held"), [BLOCK]);

    // A glide runs the node in control chunks, then in one whole block
    // that holds again. The output follows the glide down to zero.
    let p = plan.node_index("held").unwrap();
    control.send(set(p, 0, 0.0)).unwrap();
    let glide_blocks = (0.01f32 * 48_000.0 / BLOCK as f32).ceil() as usize;
    let out = left(&mut runtime, glide_blocks + 3);
    assert!(
        out[..BLOCK].iter().all(|&x| x < 1.0 && x > 0.0),
        "{:?}",
        &out[..4]
    );
    assert_eq!(out[(glide_blocks + 1) * BLOCK..], [0.0; 2 * BLOCK]);
    let calls = probed("held");
    let (chunks, after) = calls.split_at(calls.len() - 1);
    assert!(chunks.iter().all(|&c| c == CONTROL_CHUNK), "{chunks:?}");
    assert_eq!(after, [BLOCK]);

    // A change without smoothing (the glide already at its target is a
    // jump) wakes it for one call too.
    control.send(set(p, 0, 0.0)).unwrap();
    left(&mut runtime, 2);
    assert_eq!(probed("held"), [BLOCK], "an unchanged value still wakes it once");

    // Swapped into a schedule with fresh buffers, the adopted processor
    // writes them once.
    let adoption = patchbay_core::Adoption {
        nodes: vec![(p as u32, p as u32)],
        ..Default::default()
    };
    control
        .send(Command::Swap(Box::new(Schedule::adopting(&plan, adoption))))
        .unwrap();
    let out = left(&mut runtime, 3);
    assert_eq!(probed("held"), [BLOCK]);
    assert_eq!(out[out.len() - BLOCK..], [0.0; BLOCK]);

    // Two gains later, the second gain's output reuses the buffer of a
    // probe not declared to rest, so the probe must write it every block.
    let plan = probe_chain("shared", "undeclared_probe", 2);
    let probe = plan.node_index("shared").unwrap();
    let buffer = plan
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Process { node, outputs, .. } if *node == probe => Some(outputs[0][0]),
            _ => None,
        })
        .expect("the probe has a step");
    let writers = plan.steps.iter().filter(|s| s.writes().contains(&buffer)).count();
    assert_eq!(writers, 2, "the premise: another step reuses the buffer\n{plan}");
    let (_engine, mut runtime) = engine(Schedule::new(&plan));
    assert_eq!(left(&mut runtime, 3), [1.0; 3 * BLOCK]);
    assert_eq!(probed("shared"), [BLOCK; 3]);
}

#[test]
fn buffers_start_on_cache_lines() {
    // Wide loads that straddle two lines cost a level node a tenth more.
    let mut p = dc_through_gain(0.5, [0, 1, 2]);
    p.node_mut("g").unwrap().params.insert("gain".into(), 0.5);
    let (_engine, mut runtime) = engine(schedule(&p));
    runtime.process_block();
    let [l, r] = runtime.schedule().master();
    assert_eq!(l[0], 0.25);
    assert_eq!((l.as_ptr() as usize % 64, r.as_ptr() as usize % 64), (0, 0));
}

/// Writes 1 where its input is connected, 0 where it is not.
static LISTENER: NodeDescriptor = NodeDescriptor {
    kind: "listener",
    category: "test",
    summary: "Tells whether its input is wired.",
    inputs: &[PortSpec::audio("in", "anything")],
    outputs: &[PortSpec::control("out", "1 if `in` is connected")],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Listener),
};

struct Listener;

impl Processor for Listener {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let heard = if io.connected(0) { 1.0 } else { 0.0 };
        io.output(0, 0).fill(heard);
    }
}

#[test]
fn a_node_knows_whether_its_input_is_connected() {
    let mut registry = common::registry();
    registry.add(&LISTENER);
    let heard = |edges: &[(&str, &str)]| {
        let nodes = vec![
            Node::new("src", "dc").with("value", 0.0),
            Node::new("l", "listener"),
            Node::new("out", "output"),
        ];
        let mut edges = edges.to_vec();
        edges.push(("l.out", "out.in"));
        let plan = compile(&patch(nodes, &edges), &registry, &common::opts(BLOCK)).unwrap();
        let (_engine, mut runtime) = engine(Schedule::new(&plan));
        left(&mut runtime, 1)[0]
    };
    // Connected to a silent source is still connected.
    assert_eq!(heard(&[("src.out", "l.in")]), 1.0);
    assert_eq!(heard(&[]), 0.0);
}

thread_local! {
    /// How many times a `resting` node's `process` ran on this test's thread.
    static RESTING_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Computes the rest form numbered `form` in plain code and declares it.
static RESTING: NodeDescriptor = RESTING_KIND;

/// A `resting` node whose descriptor does not say it may rest.
static UNDECLARED_RESTING: NodeDescriptor = undeclared("undeclared_resting", RESTING_KIND);

const RESTING_KIND: NodeDescriptor = NodeDescriptor {
    kind: "resting",
    category: "test",
    summary: "A level node that rests.",
    inputs: &[
        PortSpec::audio("a", "first").follows(),
        PortSpec::audio("b", "second").follows(),
    ],
    outputs: &[PortSpec::audio("out", "the form").follows()],
    params: &[ParamSpec::choice(
        "form",
        &["scale", "spread", "blend", "affine", "product", "silence"],
        0,
    )],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| Box::new(LevelAtRest(FORMS[ctx.param(0) as usize])),
};

/// The `resting` node's forms, by its `form` choice.
const FORMS: [Rest; 6] = [
    Rest::Scale(0.3),
    Rest::Spread(0.6, -0.8),
    Rest::Blend(0.7, -0.2),
    Rest::Affine(1.5, 0.25),
    Rest::Product,
    Rest::Scale(0.0),
];

struct LevelAtRest(Rest);

/// What `rest` makes of the inputs `a` and `b` on output channel `ch`.
fn rest_form(rest: Rest, a: &[Vec<f32>], b: &[Vec<f32>], ch: usize, k: usize) -> f32 {
    // (The scalar reference: each product, then the sum, as the kernels round.)
    match rest {
        Rest::Scale(0.0) => 0.0,
        Rest::Scale(g) => a[ch][k] * g,
        Rest::Spread(l, r) => a[0][k] * if ch == 0 { l } else { r },
        Rest::Blend(ga, gb) => a[ch][k] * ga + b[ch][k] * gb,
        Rest::Affine(f, c) => a[ch][k] * f + c,
        Rest::Product => a[ch][k] * b[ch][k],
        Rest::Hold => unreachable!(),
    }
}

impl Processor for LevelAtRest {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        RESTING_CALLS.set(RESTING_CALLS.get() + 1);
        let channels = io.output_channels(0);
        let read = |port| {
            (0..channels)
                .map(|ch| io.input(port, ch).to_vec())
                .collect::<Vec<_>>()
        };
        let (a, b) = (read(0), read(1));
        for ch in 0..channels {
            for (k, o) in io.output(0, ch).iter_mut().enumerate() {
                *o = rest_form(self.0, &a, &b, ch, k);
            }
        }
        io.rest(self.0);
    }
}

#[test]
fn a_resting_node_is_run_by_the_runtime_with_the_same_bits() {
    let mut registry = common::registry();
    registry.add(&RESTING);
    for form in 0..6 {
        let nodes = vec![
            Node::new("a", "stereo_src").with("seed", 3.0),
            Node::new("b", "stereo_src").with("seed", 4.0),
            Node::new("dut", "resting").with("form", form as f64),
            Node::new("out", "output"),
        ];
        let edges = [("a.out", "dut.a"), ("b.out", "dut.b"), ("dut.out", "out.in")];
        let plan = compile(&patch(nodes, &edges), &registry, &common::opts(BLOCK)).unwrap();
        let (_engine, mut runtime) = engine(Schedule::new(&plan));
        RESTING_CALLS.set(0);
        let blocks = 4;
        let mut heard = [Vec::new(), Vec::new()];
        for _ in 0..blocks {
            runtime.process_block();
            for (side, out) in heard.iter_mut().zip(runtime.schedule().master()) {
                side.extend_from_slice(out);
            }
        }
        assert_eq!(RESTING_CALLS.get(), 1, "form {form}");
        let frames = blocks * BLOCK;
        let a = [
            common::nodes::noise(3, 0, frames),
            common::nodes::noise(3, 1, frames),
        ];
        let b = [
            common::nodes::noise(4, 0, frames),
            common::nodes::noise(4, 1, frames),
        ];
        for (ch, side) in heard.iter().enumerate() {
            for (k, &x) in side.iter().enumerate() {
                let expected = rest_form(FORMS[form], &a, &b, ch, k);
                assert_eq!(
                    x.to_bits(),
                    expected.to_bits(),
                    "form {form}, channel {ch}, frame {k}"
                );
            }
        }
    }
}

/// `p` (a probe) into a `scale` and an `affine` node of `kind` in a
/// chain, with `extra` more scales after them: (plan, p, scale, affine).
fn folding_chain(kind: &str, extra: usize) -> (Plan, usize, usize, usize) {
    let mut registry = common::registry();
    registry.add(&PROBE);
    registry.add(&RESTING);
    registry.add(&UNDECLARED_RESTING);
    let mut nodes = vec![
        Node::new("p", "probe"),
        Node::new("s", kind).with("form", 0.0),
        Node::new("f", kind).with("form", 3.0),
        Node::new("out", "output"),
    ];
    let mut edges = vec![
        ("p.out".to_string(), "s.a".to_string()),
        ("s.out".into(), "f.a".into()),
    ];
    let mut last = "f".to_string();
    for i in 0..extra {
        let id = format!("x{i}");
        nodes.push(Node::new(&id, kind).with("form", 0.0));
        edges.push((format!("{last}.out"), format!("{id}.a")));
        last = id;
    }
    edges.push((format!("{last}.out"), "out.in".into()));
    let edges: Vec<(&str, &str)> = edges.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let plan = compile(&patch(nodes, &edges), &registry, &common::opts(BLOCK)).unwrap();
    let [p, s, f] = ["p", "s", "f"].map(|id| plan.node_index(id).unwrap());
    (plan, p, s, f)
}

/// What a folding chain with three extra scales makes of the probe's
/// `value`: scale 0.3, then × 1.5 + 0.25, then scale 0.3 three times.
fn folded(value: f32) -> f32 {
    (value * 0.3 * 1.5 + 0.25) * 0.3 * 0.3 * 0.3
}

#[test]
fn level_nodes_on_held_inputs_are_skipped_until_an_input_moves() {
    let (plan, p, s, f) = folding_chain("resting", 3);
    let (mut control, mut runtime) = engine(Schedule::new(&plan));
    let x2 = plan.node_index("x2").unwrap();
    let skipped = |runtime: &Runtime| [p, s, f, x2].map(|n| runtime.schedule().is_skipped(n));
    RESTING_CALLS.set(0);
    assert_eq!(left(&mut runtime, 4), [folded(1.0); 4 * BLOCK]);
    assert_eq!(skipped(&runtime), [true; 4], "constant in, constant out");
    assert_eq!(RESTING_CALLS.get(), 5, "each level node called once");
    probed("p");

    // The probe glides: the level nodes run again, and what they write
    // moves with it, then settles on the new value and folds again.
    control.send(set(p, 0, -1.0)).unwrap();
    let glide_blocks = (0.01f32 * 48_000.0 / BLOCK as f32).ceil() as usize;
    let out = left(&mut runtime, glide_blocks + 3);
    let firsts: Vec<f32> = out.chunks(BLOCK).map(|b| b[0]).collect();
    assert!(
        firsts.windows(2).take(glide_blocks).all(|w| w[1] < w[0]),
        "the output follows the glide: {firsts:?}"
    );
    assert!(out[..BLOCK].iter().all(|&x| x < folded(1.0) && x > folded(-1.0)));
    assert_eq!(out[out.len() - 2 * BLOCK..], [folded(-1.0); 2 * BLOCK]);
    assert_eq!(skipped(&runtime), [true; 4]);

    // A timed change wakes the probe at its sample, inside a block: what
    // folded on it follows from that sample on.
    let played = (4 + glide_blocks + 3) * BLOCK;
    control
        .send(set_at(p, 0, 0.5, (played + BLOCK + 5) as u64))
        .unwrap();
    let out = left(&mut runtime, 2 * glide_blocks);
    assert_eq!(out[..BLOCK + 5], [folded(-1.0); BLOCK + 5]);
    assert!(
        out[BLOCK + 5..2 * BLOCK]
            .windows(2)
            .all(|w| w[0] > folded(-1.0) && w[1] >= w[0]),
        "{:?}",
        &out[BLOCK..2 * BLOCK]
    );
    assert_eq!(out[out.len() - BLOCK..], [folded(0.5); BLOCK]);
    assert_eq!(skipped(&runtime), [true; 4]);

    // Woken in the middle, the chain still hears the held value.
    RESTING_CALLS.set(0);
    control.send(set(s, 0, 0.0)).unwrap();
    assert_eq!(left(&mut runtime, 3), [folded(0.5); 3 * BLOCK]);
    assert_eq!(RESTING_CALLS.get(), 1, "only the woken node is called");
    assert_eq!(skipped(&runtime), [true; 4]);
}

#[test]
fn a_level_node_whose_output_buffer_is_reused_is_never_skipped() {
    let (plan, p, s, f) = folding_chain("undeclared_resting", 3);
    let buffer_of = |node| {
        plan.steps.iter().find_map(|step| match step {
            Step::Process { node: n, outputs, .. } if *n == node => Some(outputs[0][0]),
            _ => None,
        })
    };
    let shared = [s, f]
        .into_iter()
        .filter(|&n| {
            let b = buffer_of(n).unwrap();
            plan.steps
                .iter()
                .filter(|step| step.writes().contains(&b))
                .count()
                > 1
        })
        .count();
    assert!(shared > 0, "the premise: a later step reuses a buffer\n{plan}");
    let (mut control, mut runtime) = engine(Schedule::new(&plan));
    assert_eq!(left(&mut runtime, 4), [folded(1.0); 4 * BLOCK]);
    assert!([s, f].iter().all(|&n| !runtime.schedule().is_skipped(n)));
    control.send(set(p, 0, 0.5)).unwrap();
    let out = left(&mut runtime, 20);
    assert_eq!(out[out.len() - BLOCK..], [folded(0.5); BLOCK]);
}

#[test]
fn a_silenced_level_node_is_skipped_whatever_its_input() {
    let mut registry = common::registry();
    registry.add(&RESTING);
    let nodes = vec![
        Node::new("a", "stereo_src").with("seed", 3.0),
        Node::new("dut", "resting").with("form", 5.0),
        Node::new("out", "output"),
    ];
    let edges = [("a.out", "dut.a"), ("dut.out", "out.in")];
    let plan = compile(&patch(nodes, &edges), &registry, &common::opts(BLOCK)).unwrap();
    let (_engine, mut runtime) = engine(Schedule::new(&plan));
    assert_eq!(left(&mut runtime, 3), [0.0; 3 * BLOCK]);
    assert!(runtime.schedule().is_skipped(plan.node_index("dut").unwrap()));
    assert!(!runtime.schedule().is_skipped(plan.node_index("a").unwrap()));
}
