//! Per node family: ns per sample at 64-frame blocks, next to the same DSP
//! in fundsp measured in the same run.
//!
//! Run with `cargo bench -p patchbay-nodes --bench families`. Each family
//! module below renders one node through the real schedule (so the figure
//! includes patchbay's per-node overhead) and fundsp's counterpart through
//! its block interface.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fundsp::prelude32::*;
use patchbay_core::{CompileOptions, Node, Patch, Schedule, compile};

const BLOCK: usize = 64;

/// A schedule of `source -> node -> output`, or just `source -> output`
/// when `kind` is None. `params` apply to the node under test.
fn schedule(source: &str, kind: Option<&str>, params: &[(&str, f64)]) -> Schedule {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("src", source));
    patch.nodes.push(Node::new("out", "output"));
    match kind {
        Some(kind) => {
            let node = params
                .iter()
                .fold(Node::new("dut", kind), |n, &(p, v)| n.with(p, v));
            patch.nodes.push(node);
            patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        }
        None => {
            patch.connect("src.out", "out.in");
        }
    }
    let plan = compile(&patch, patchbay_nodes::registry(), &CompileOptions::default()).unwrap();
    Schedule::new(&plan)
}

/// A schedule of `source -> kind -> output`, hearing the node's `port`.
fn schedule_port(source: &str, kind: &str, port: &str, params: &[(&str, f64)]) -> Schedule {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("src", source));
    patch.nodes.push(Node::new("out", "output"));
    let node = params
        .iter()
        .fold(Node::new("dut", kind), |n, &(p, v)| n.with(p, v));
    patch.nodes.push(node);
    patch
        .connect("src.out", "dut.in")
        .connect(&format!("dut.{port}"), "out.in");
    let plan = compile(&patch, patchbay_nodes::registry(), &CompileOptions::default()).unwrap();
    Schedule::new(&plan)
}

/// `svf` low-pass with its cutoff thrown ±2 octaves every sample by noise.
fn schedule_svf_modulated() -> Schedule {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("src", "constant").with("value", 0.5));
    patch.nodes.push(Node::new("lfo", "noise"));
    patch.nodes.push(Node::new("depth", "gain").with("gain", 6.0206));
    patch
        .nodes
        .push(Node::new("dut", "svf").with("cutoff", 1000.0).with("q", 2.0));
    patch.nodes.push(Node::new("out", "output"));
    patch
        .connect("src.out", "dut.in")
        .connect("lfo.out", "depth.in")
        .connect("depth.out", "dut.cutoff_mod")
        .connect("dut.lp", "out.in");
    let plan = compile(&patch, patchbay_nodes::registry(), &CompileOptions::default()).unwrap();
    Schedule::new(&plan)
}

/// Bench one patchbay schedule and one fundsp unit side by side.
fn pair(c: &mut Criterion, family: &str, mut ours: Schedule, mut theirs: Box<dyn AudioUnit>) {
    let mut group = c.benchmark_group(family);
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.bench_function("patchbay", |b| {
        b.iter(|| {
            ours.process();
            black_box(ours.master()[0][0]);
        })
    });
    theirs.set_sample_rate(48_000.0);
    let input = BufferArray::<U1>::new();
    let mut output = BufferArray::<U1>::new();
    let inputs = theirs.inputs();
    group.bench_function("fundsp", |b| {
        b.iter(|| {
            if inputs == 0 {
                theirs.process(BLOCK, &BufferRef::empty(), &mut output.buffer_mut());
            } else {
                theirs.process(BLOCK, &input.buffer_ref(), &mut output.buffer_mut());
            }
            black_box(output.buffer_ref().at_f32(0, 0));
        })
    });
    group.finish();
}

fn oscillators(c: &mut Criterion) {
    pair(c, "sine", schedule("sine", None, &[]), Box::new(sine_hz(440.0)));
    pair(c, "saw", schedule("saw", None, &[]), Box::new(saw_hz(440.0)));
}

fn filters(c: &mut Criterion) {
    pair(
        c,
        "lowpass",
        schedule("constant", Some("lowpass"), &[("cutoff", 1000.0)]),
        Box::new(lowpass_hz(1000.0, 0.707)),
    );
    pair(
        c,
        "highpass",
        schedule("constant", Some("highpass"), &[("cutoff", 200.0)]),
        Box::new(highpass_hz(200.0, 0.707)),
    );
    pair(
        c,
        "bandpass",
        schedule("constant", Some("bandpass"), &[("freq", 1000.0)]),
        Box::new(bandpass_hz(1000.0, 1.0)),
    );
    pair(
        c,
        "notch",
        schedule("constant", Some("notch"), &[("freq", 1000.0)]),
        Box::new(notch_hz(1000.0, 1.0)),
    );
    pair(
        c,
        "peak",
        schedule("constant", Some("peak"), &[("freq", 1000.0), ("gain", 6.0)]),
        Box::new(bell_hz(1000.0, 1.0, db_amp(6.0))),
    );
    pair(
        c,
        "lowshelf",
        schedule("constant", Some("lowshelf"), &[("cutoff", 200.0), ("gain", 6.0)]),
        Box::new(lowshelf_hz(200.0, 0.707, db_amp(6.0))),
    );
    pair(
        c,
        "highshelf",
        schedule(
            "constant",
            Some("highshelf"),
            &[("cutoff", 4000.0), ("gain", 6.0)],
        ),
        Box::new(highshelf_hz(4000.0, 0.707, db_amp(6.0))),
    );
    pair(
        c,
        "biquad_allpass",
        schedule("constant", Some("biquad_allpass"), &[("freq", 1000.0)]),
        Box::new(allpass_hz(1000.0, 0.707)),
    );
    // Ours computes all three outputs; fundsp's SVF one.
    pair(
        c,
        "svf",
        schedule_port("constant", "svf", "lp", &[("cutoff", 1000.0)]),
        Box::new(lowpass_hz(1000.0, 0.707)),
    );
    // Cutoff retuned every sample from noise: fundsp's SVF with a cutoff input.
    pair(
        c,
        "svf_modulated",
        schedule_svf_modulated(),
        Box::new(
            (pass() | (noise() >> map(|f: &Frame<f32, U1>| 1000.0 * (2.0 * f[0]).exp2())) | constant(2.0))
                >> lowpass(),
        ),
    );
    pair(
        c,
        "onepole_lp",
        schedule("constant", Some("onepole_lp"), &[("cutoff", 1000.0)]),
        Box::new(lowpole_hz(1000.0)),
    );
    pair(
        c,
        "onepole_hp",
        schedule("constant", Some("onepole_hp"), &[("cutoff", 100.0)]),
        Box::new(highpole_hz(100.0)),
    );
    pair(
        c,
        "dc_block",
        schedule("constant", Some("dc_block"), &[("cutoff", 10.0)]),
        Box::new(dcblock_hz(10.0)),
    );
    pair(
        c,
        "eq4",
        schedule(
            "constant",
            Some("eq4"),
            &[
                ("low_gain", 3.0),
                ("mid1_gain", -3.0),
                ("mid2_gain", 2.0),
                ("high_gain", -2.0),
            ],
        ),
        Box::new(
            lowshelf_hz(100.0, 0.707, db_amp(3.0))
                >> bell_hz(500.0, 1.0, db_amp(-3.0))
                >> bell_hz(2500.0, 1.0, db_amp(2.0))
                >> highshelf_hz(8000.0, 0.707, db_amp(-2.0)),
        ),
    );
}

fn gains(c: &mut Criterion) {
    pair(
        c,
        "gain",
        schedule("constant", Some("gain"), &[("gain", -6.0)]),
        Box::new(mul(0.5)),
    );
}

/// A node of a benchmarked chain: id, kind, parameters.
type ChainNode<'a> = (&'a str, &'a str, &'a [(&'a str, f64)]);

/// A schedule of `nodes` (id, kind, params) joined by `edges`, with
/// `last.out` (or the port named) into the output.
fn chain(nodes: &[ChainNode], edges: &[(&str, &str)]) -> Schedule {
    let mut patch = Patch::default();
    for &(id, kind, params) in nodes {
        patch
            .nodes
            .push(params.iter().fold(Node::new(id, kind), |n, &(p, v)| n.with(p, v)));
    }
    patch.nodes.push(Node::new("out", "output"));
    for &(from, to) in edges {
        patch.connect(from, to);
    }
    let plan = compile(&patch, patchbay_nodes::registry(), &CompileOptions::default()).unwrap();
    Schedule::new(&plan)
}

/// Bench a schedule against a fundsp generator (no inputs, any number of
/// outputs) that computes the same chain, sources included on both sides.
fn pair_chain(c: &mut Criterion, family: &str, mut ours: Schedule, mut theirs: Box<dyn AudioUnit>) {
    let mut group = c.benchmark_group(family);
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.bench_function("patchbay", |b| {
        b.iter(|| {
            ours.process();
            black_box(ours.master()[0][0]);
        })
    });
    theirs.set_sample_rate(48_000.0);
    assert_eq!(theirs.inputs(), 0);
    let mut output = BufferVec::new(theirs.outputs());
    group.bench_function("fundsp", |b| {
        b.iter(|| {
            theirs.process(BLOCK, &BufferRef::empty(), &mut output.buffer_mut());
            black_box(output.buffer_ref().at_f32(0, 0));
        })
    });
    group.finish();
}

/// A constant `value` through `kind` with `params`. Constant sources cost
/// next to nothing on both sides (fundsp's `dc`), so the figure is the
/// node's; a level above every threshold keeps the dynamics nodes on
/// their full per-sample path (log, exp, sliding minimum).
fn dc_into(value: f64, kind: &str, params: &[(&str, f64)]) -> Schedule {
    chain(
        &[("src", "constant", &[("value", value)]), ("dut", kind, params)],
        &[("src.out", "dut.in"), ("dut.out", "out.in")],
    )
}

fn dynamics(c: &mut Criterion) {
    // fundsp has no compressor: its lookahead limiter is the closest.
    pair_chain(
        c,
        "compressor",
        dc_into(2.0, "compressor", &[("threshold", -20.0)]),
        Box::new(dc(2.0) >> limiter(0.005, 0.1)),
    );
    pair_chain(
        c,
        "limiter",
        dc_into(2.0, "limiter", &[("lookahead", 0.005), ("release", 0.1)]),
        Box::new(dc(2.0) >> limiter(0.005, 0.1)),
    );
    pair_chain(
        c,
        "follower",
        dc_into(0.5, "follower", &[("attack", 0.005), ("release", 0.1)]),
        Box::new(dc(0.5) >> afollow(0.005, 0.1)),
    );
    // A gate is a follower plus a gain: fundsp's `afollow` times the signal.
    pair_chain(
        c,
        "gate",
        dc_into(0.5, "gate", &[("threshold", -20.0)]),
        Box::new(dc(0.5) >> split::<U2>() >> (pass() * afollow(0.001, 0.05))),
    );
}

fn math(c: &mut Criterion) {
    // The cost of a source alone, to read the figures below against.
    pair_chain(
        c,
        "baseline_dc",
        chain(
            &[("src", "constant", &[("value", 0.5)])],
            &[("src.out", "out.in")],
        ),
        Box::new(dc(0.5)),
    );
    pair_chain(
        c,
        "multiply",
        chain(
            &[
                ("a", "constant", &[("value", 0.5)]),
                ("b", "constant", &[("value", 0.25)]),
                ("dut", "multiply", &[]),
            ],
            &[("a.out", "dut.a"), ("b.out", "dut.b"), ("dut.out", "out.in")],
        ),
        Box::new(dc(0.5) * dc(0.25)),
    );
    pair_chain(
        c,
        "scale",
        dc_into(0.5, "scale", &[("factor", 0.5), ("offset", 0.1)]),
        Box::new(dc(0.5) * 0.5 + 0.1),
    );
}

fn mixing(c: &mut Criterion) {
    pair_chain(
        c,
        "pan",
        chain(
            &[
                ("src", "constant", &[("value", 0.5)]),
                ("dut", "pan", &[("pan", 0.3)]),
            ],
            &[("src.out", "dut.in"), ("dut.out", "out.in")],
        ),
        Box::new(dc(0.5) >> pan(0.3)),
    );
    pair_chain(
        c,
        "crossfade",
        chain(
            &[
                ("a", "constant", &[("value", 0.5)]),
                ("b", "constant", &[("value", 0.25)]),
                ("dut", "crossfade", &[("position", 0.3)]),
            ],
            &[("a.out", "dut.a"), ("b.out", "dut.b"), ("dut.out", "out.in")],
        ),
        Box::new(dc(0.5) * 0.891 + dc(0.25) * 0.454),
    );
}

fn taps(c: &mut Criterion) {
    pair_chain(
        c,
        "meter",
        dc_into(0.5, "meter", &[]),
        Box::new(dc(0.5) >> meter(Meter::Rms(0.3))),
    );
}

fn more_sources(c: &mut Criterion) {
    pair(
        c,
        "triangle",
        schedule("triangle", None, &[]),
        Box::new(triangle_hz(440.0)),
    );
    pair(c, "pink", schedule("pink", None, &[]), Box::new(pink()));
    pair(
        c,
        "square",
        schedule("square", None, &[]),
        Box::new(square_hz(440.0)),
    );
    pair(c, "noise", schedule("noise", None, &[]), Box::new(noise()));
    // Gates at 8 Hz through an envelope; fundsp's `adsr_live` computes its
    // curve every few samples (an `EnvelopeIn`), ours every sample.
    pair_chain(
        c,
        "adsr",
        chain(
            &[
                ("clock", "clock", &[("bpm", 480.0)]),
                (
                    "dut",
                    "adsr",
                    &[
                        ("attack", 0.01),
                        ("decay", 0.05),
                        ("sustain", 0.5),
                        ("release", 0.05),
                    ],
                ),
            ],
            &[("clock.out", "dut.gate"), ("dut.out", "out.in")],
        ),
        Box::new(square_hz(8.0) >> adsr_live(0.01, 0.05, 0.5, 0.05)),
    );
    pair(
        c,
        "phasor",
        schedule("phasor", None, &[("freq", 440.0)]),
        Box::new(ramp_hz(440.0)),
    );
    // fundsp's `lfo` evaluates a closure of time (every 32 samples by
    // default, interpolating between); ours computes every sample.
    pair(
        c,
        "lfo",
        schedule("lfo", None, &[("rate", 2.0)]),
        Box::new(lfo(|t: f32| (std::f32::consts::TAU * 2.0 * t).sin())),
    );
}

/// The delay-based and distortion families, each fed a constant on both
/// sides (choice parameters are indices). Where the designs differ the nearest fundsp unit stands in: its
/// chorus is mono (so two, one per side, with four voices like ours), its
/// phaser has ten stages (so ours too), its reverb is a 32-line FDN
/// without a dry path, and it has no bitcrusher (a sample-and-hold and a
/// staircase shape instead).
fn effects(c: &mut Criterion) {
    pair_chain(
        c,
        "delay",
        dc_into(0.5, "delay", &[("time", 0.25), ("feedback", 0.5), ("mix", 0.5)]),
        Box::new(dc(0.5) >> ((pass() * 0.5) & (feedback(delay(0.25) * 0.5) * 0.5))),
    );
    pair_chain(
        c,
        "comb",
        dc_into(0.5, "comb", &[("time", 0.005), ("feedback", 0.8)]),
        Box::new(dc(0.5) >> feedback(delay(0.005) * 0.8)),
    );
    pair_chain(
        c,
        "allpass",
        dc_into(0.5, "allpass", &[("time", 0.005), ("gain", 0.5)]),
        Box::new(dc(0.5) >> allnest_c(0.5, delay(0.005))),
    );
    pair_chain(
        c,
        "chorus",
        dc_into(0.5, "chorus", &[("voices", 3.0)]),
        Box::new(dc(0.5) >> split::<U2>() >> (chorus(0, 0.015, 0.005, 0.2) | chorus(1, 0.015, 0.005, 0.2))),
    );
    pair_chain(
        c,
        "flanger",
        dc_into(
            0.5,
            "flanger",
            &[("delay", 0.005), ("depth", 0.8), ("feedback", 0.5)],
        ),
        Box::new(dc(0.5) >> flanger(0.5, 0.001, 0.005, |t| lerp11(0.001, 0.005, sin_hz(0.25, t)))),
    );
    pair_chain(
        c,
        "phaser",
        dc_into(0.5, "phaser", &[("stages", 3.0), ("feedback", 0.5)]),
        Box::new(dc(0.5) >> phaser(0.5, |t| sin_hz(0.4, t) * 0.5 + 0.5)),
    );
    pair_chain(
        c,
        "reverb",
        dc_into(0.5, "reverb", &[("decay", 2.0)]),
        Box::new(dc(0.5) >> split::<U2>() >> reverb_stereo(20.0, 2.0, 0.5)),
    );
    pair_chain(
        c,
        "waveshaper",
        dc_into(0.5, "waveshaper", &[("drive", 12.0)]),
        Box::new(dc(0.5) >> shape(Tanh(4.0))),
    );
    pair_chain(
        c,
        "waveshaper_2x",
        dc_into(0.5, "waveshaper", &[("drive", 12.0), ("oversample", 1.0)]),
        Box::new(dc(0.5) >> oversample(shape(Tanh(4.0)))),
    );
    pair_chain(
        c,
        "bitcrusher",
        dc_into(0.5, "bitcrusher", &[("bits", 8.0), ("rate", 11025.0)]),
        Box::new((dc(0.5) | dc(11025.0)) >> hold(0.0) >> shape(Crush(128.0))),
    );
}

criterion_group!(
    benches,
    oscillators,
    filters,
    gains,
    dynamics,
    math,
    mixing,
    taps,
    more_sources,
    effects
);
criterion_main!(benches);
