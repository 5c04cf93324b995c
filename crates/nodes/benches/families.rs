//! Per node family: ns per sample at 64-frame blocks, next to the same DSP
//! in fundsp measured in the same run.
//!
//! Run with `cargo bench -p patchbay-nodes --bench families` (one family:
//! `-- '^gain/'`). Each family renders a chain through the real schedule (so
//! the figure includes patchbay's per-node overhead) and fundsp's
//! counterpart through its block interface, with the same sources on both
//! sides: a signal generator alone, or a constant (`dc`) into the node.
//! A level node (gain, scale, pan, multiply, crossfade) on constants is
//! folded: patchbay's runtime skips it, its output written once
//! (`Schedule::is_skipped`), as fundsp's statically composed `dc >> pan`
//! is folded by the compiler into stores of constants. The `*_noise` rows
//! measure the same nodes on noise, where nothing folds.
//! Both run inside one flush-to-zero guard, as a host callback holds one
//! around the blocks it asks for (`Runtime::fill_interleaved`); without it
//! each block would write the control register twice, which no host does.
//!
//! The `denormals` group feeds the reverb noise at a normal level and at a
//! subnormal one (where a decaying tail ends up), and reports both for
//! patchbay, which flushes, and for fundsp run without a guard.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fundsp::prelude32::*;
use patchbay_core::denormal::FlushToZero;
use patchbay_core::{CompileOptions, Node, Patch, Schedule, compile};

const BLOCK: usize = 64;

/// A node of a benchmarked chain: id, kind, parameters.
type ChainNode<'a> = (&'a str, &'a str, &'a [(&'a str, f64)]);

/// A schedule of `nodes` (id, kind, params) joined by `edges`, the `out`
/// node being the output.
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

/// A generator `kind` alone into the output.
fn source(kind: &str, params: &[(&str, f64)]) -> Schedule {
    chain(&[("src", kind, params)], &[("src.out", "out.in")])
}

/// A constant `value` through `kind` with `params`, heard at its `port`.
/// Constant sources cost next to nothing on both sides (fundsp's `dc`), so
/// the figure is the node's; a level above every threshold keeps the
/// dynamics nodes on their full per-sample path (log, exp, sliding minimum).
fn dc_into_port(value: f64, kind: &str, port: &str, params: &[(&str, f64)]) -> Schedule {
    chain(
        &[("src", "constant", &[("value", value)]), ("dut", kind, params)],
        &[("src.out", "dut.in"), (&format!("dut.{port}"), "out.in")],
    )
}

/// [`dc_into_port`] heard at the node's `out`.
fn dc_into(value: f64, kind: &str, params: &[(&str, f64)]) -> Schedule {
    dc_into_port(value, kind, "out", params)
}

/// `svf` low-pass with its cutoff thrown ±2 octaves every sample by noise.
fn schedule_svf_modulated() -> Schedule {
    chain(
        &[
            ("src", "constant", &[("value", 0.5)]),
            ("lfo", "noise", &[]),
            ("depth", "gain", &[("gain", 6.0206)]),
            ("dut", "svf", &[("cutoff", 1000.0), ("q", 2.0)]),
        ],
        &[
            ("src.out", "dut.in"),
            ("lfo.out", "depth.in"),
            ("depth.out", "dut.cutoff_mod"),
            ("dut.lp", "out.in"),
        ],
    )
}

/// Bench a schedule against a fundsp generator (no inputs, any number of
/// outputs) that computes the same chain, sources included on both sides.
fn pair(c: &mut Criterion, family: &str, mut ours: Schedule, mut theirs: Box<dyn AudioUnit>) {
    let mut group = c.benchmark_group(family);
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.bench_function("patchbay", |b| {
        let _host = FlushToZero::new();
        b.iter(|| {
            ours.process();
            black_box(ours.master()[0][0]);
        })
    });
    theirs.set_sample_rate(48_000.0);
    assert_eq!(
        theirs.inputs(),
        0,
        "{family}: fundsp's side brings its own source"
    );
    let mut output = BufferVec::new(theirs.outputs());
    group.bench_function("fundsp", |b| {
        let _host = FlushToZero::new();
        b.iter(|| {
            theirs.process(BLOCK, &BufferRef::empty(), &mut output.buffer_mut());
            black_box(output.buffer_ref().at_f32(0, 0));
        })
    });
    group.finish();
}

fn oscillators(c: &mut Criterion) {
    pair(c, "sine", source("sine", &[]), Box::new(sine_hz(440.0)));
    pair(c, "saw", source("saw", &[]), Box::new(saw_hz(440.0)));
}

fn filters(c: &mut Criterion) {
    pair(
        c,
        "lowpass",
        dc_into(0.5, "lowpass", &[("cutoff", 1000.0)]),
        Box::new(dc(0.5) >> lowpass_hz(1000.0, 0.707)),
    );
    pair(
        c,
        "highpass",
        dc_into(0.5, "highpass", &[("cutoff", 200.0)]),
        Box::new(dc(0.5) >> highpass_hz(200.0, 0.707)),
    );
    pair(
        c,
        "bandpass",
        dc_into(0.5, "bandpass", &[("freq", 1000.0)]),
        Box::new(dc(0.5) >> bandpass_hz(1000.0, 1.0)),
    );
    pair(
        c,
        "notch",
        dc_into(0.5, "notch", &[("freq", 1000.0)]),
        Box::new(dc(0.5) >> notch_hz(1000.0, 1.0)),
    );
    pair(
        c,
        "peak",
        dc_into(0.5, "peak", &[("freq", 1000.0), ("gain", 6.0)]),
        Box::new(dc(0.5) >> bell_hz(1000.0, 1.0, db_amp(6.0))),
    );
    pair(
        c,
        "lowshelf",
        dc_into(0.5, "lowshelf", &[("cutoff", 200.0), ("gain", 6.0)]),
        Box::new(dc(0.5) >> lowshelf_hz(200.0, 0.707, db_amp(6.0))),
    );
    pair(
        c,
        "highshelf",
        dc_into(0.5, "highshelf", &[("cutoff", 4000.0), ("gain", 6.0)]),
        Box::new(dc(0.5) >> highshelf_hz(4000.0, 0.707, db_amp(6.0))),
    );
    pair(
        c,
        "biquad_allpass",
        dc_into(0.5, "biquad_allpass", &[("freq", 1000.0)]),
        Box::new(dc(0.5) >> allpass_hz(1000.0, 0.707)),
    );
    // Ours computes all three outputs; fundsp's SVF one.
    pair(
        c,
        "svf",
        dc_into_port(0.5, "svf", "lp", &[("cutoff", 1000.0)]),
        Box::new(dc(0.5) >> lowpass_hz(1000.0, 0.707)),
    );
    // Cutoff retuned every sample from noise: fundsp's SVF with a cutoff input.
    pair(
        c,
        "svf_modulated",
        schedule_svf_modulated(),
        Box::new(
            (dc(0.5) | (noise() >> map(|f: &Frame<f32, U1>| 1000.0 * (2.0 * f[0]).exp2())) | constant(2.0))
                >> lowpass(),
        ),
    );
    pair(
        c,
        "onepole_lp",
        dc_into(0.5, "onepole_lp", &[("cutoff", 1000.0)]),
        Box::new(dc(0.5) >> lowpole_hz(1000.0)),
    );
    pair(
        c,
        "onepole_hp",
        dc_into(0.5, "onepole_hp", &[("cutoff", 100.0)]),
        Box::new(dc(0.5) >> highpole_hz(100.0)),
    );
    pair(
        c,
        "dc_block",
        dc_into(0.5, "dc_block", &[("cutoff", 10.0)]),
        Box::new(dc(0.5) >> dcblock_hz(10.0)),
    );
    pair(
        c,
        "eq4",
        dc_into(
            0.5,
            "eq4",
            &[
                ("low_gain", 3.0),
                ("mid1_gain", -3.0),
                ("mid2_gain", 2.0),
                ("high_gain", -2.0),
            ],
        ),
        Box::new(
            dc(0.5)
                >> lowshelf_hz(100.0, 0.707, db_amp(3.0))
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
        dc_into(0.5, "gain", &[("gain", -6.0)]),
        Box::new(dc(0.5) >> mul(0.5)),
    );
}

fn dynamics(c: &mut Criterion) {
    // fundsp has no compressor: its lookahead limiter is the closest.
    pair(
        c,
        "compressor",
        dc_into(2.0, "compressor", &[("threshold", -20.0)]),
        Box::new(dc(2.0) >> limiter(0.005, 0.1)),
    );
    pair(
        c,
        "limiter",
        dc_into(2.0, "limiter", &[("lookahead", 0.005), ("release", 0.1)]),
        Box::new(dc(2.0) >> limiter(0.005, 0.1)),
    );
    pair(
        c,
        "follower",
        dc_into(0.5, "follower", &[("attack", 0.005), ("release", 0.1)]),
        Box::new(dc(0.5) >> afollow(0.005, 0.1)),
    );
    // A gate is a follower plus a gain: fundsp's `afollow` times the signal.
    pair(
        c,
        "gate",
        dc_into(0.5, "gate", &[("threshold", -20.0)]),
        Box::new(dc(0.5) >> split::<U2>() >> (pass() * afollow(0.001, 0.05))),
    );
}

fn math(c: &mut Criterion) {
    // The cost of a source alone, to read the figures below against.
    pair(
        c,
        "baseline_dc",
        chain(
            &[("src", "constant", &[("value", 0.5)])],
            &[("src.out", "out.in")],
        ),
        Box::new(dc(0.5)),
    );
    pair(
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
    pair(
        c,
        "scale",
        dc_into(0.5, "scale", &[("factor", 0.5), ("offset", 0.1)]),
        Box::new(dc(0.5) * 0.5 + 0.1),
    );
}

fn mixing(c: &mut Criterion) {
    pair(
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
    pair(
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

/// The level nodes again, on a moving input (noise), where nothing folds:
/// each row less the `noise` row, on each side, is the node's own cost.
fn level_on_noise(c: &mut Criterion) {
    let on_noise = |kind, params: &[(&str, f64)], port_b: Option<&str>| {
        let mut nodes = vec![("src", "noise", &[][..]), ("dut", kind, params)];
        let mut edges = vec![("src.out", "dut.in"), ("dut.out", "out.in")];
        if let Some(b) = port_b {
            nodes.push(("b", "constant", &[("value", 0.25)]));
            edges[0].1 = "dut.a";
            edges.push(("b.out", b));
        }
        chain(&nodes, &edges)
    };
    pair(
        c,
        "gain_noise",
        on_noise("gain", &[("gain", -6.0)], None),
        Box::new(noise() >> mul(0.5)),
    );
    pair(
        c,
        "scale_noise",
        on_noise("scale", &[("factor", 0.5), ("offset", 0.1)], None),
        Box::new(noise() * 0.5 + 0.1),
    );
    pair(
        c,
        "pan_noise",
        on_noise("pan", &[("pan", 0.3)], None),
        Box::new(noise() >> pan(0.3)),
    );
    pair(
        c,
        "multiply_noise",
        on_noise("multiply", &[], Some("dut.b")),
        Box::new(noise() * dc(0.25)),
    );
    pair(
        c,
        "crossfade_noise",
        on_noise("crossfade", &[("position", 0.3)], Some("dut.b")),
        Box::new(noise() * 0.891 + dc(0.25) * 0.454),
    );
}

fn taps(c: &mut Criterion) {
    pair(
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
        source("triangle", &[]),
        Box::new(triangle_hz(440.0)),
    );
    pair(c, "pink", source("pink", &[]), Box::new(pink()));
    pair(c, "square", source("square", &[]), Box::new(square_hz(440.0)));
    pair(c, "noise", source("noise", &[]), Box::new(noise()));
    // Gates at 8 Hz through an envelope; fundsp's `adsr_live` computes its
    // curve every few samples (an `EnvelopeIn`), ours every sample.
    pair(
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
        source("phasor", &[("freq", 440.0)]),
        Box::new(ramp_hz(440.0)),
    );
    // fundsp's `lfo` evaluates a closure of time (every 32 samples by
    // default, interpolating between); ours computes every sample.
    pair(
        c,
        "lfo",
        source("lfo", &[("rate", 2.0)]),
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
    pair(
        c,
        "delay",
        dc_into(0.5, "delay", &[("time", 0.25), ("feedback", 0.5), ("mix", 0.5)]),
        Box::new(dc(0.5) >> ((pass() * 0.5) & (feedback(delay(0.25) * 0.5) * 0.5))),
    );
    pair(
        c,
        "comb",
        dc_into(0.5, "comb", &[("time", 0.005), ("feedback", 0.8)]),
        Box::new(dc(0.5) >> feedback(delay(0.005) * 0.8)),
    );
    pair(
        c,
        "allpass",
        dc_into(0.5, "allpass", &[("time", 0.005), ("gain", 0.5)]),
        Box::new(dc(0.5) >> allnest_c(0.5, delay(0.005))),
    );
    pair(
        c,
        "chorus",
        dc_into(0.5, "chorus", &[("voices", 3.0)]),
        Box::new(dc(0.5) >> split::<U2>() >> (chorus(0, 0.015, 0.005, 0.2) | chorus(1, 0.015, 0.005, 0.2))),
    );
    pair(
        c,
        "flanger",
        dc_into(
            0.5,
            "flanger",
            &[("delay", 0.005), ("depth", 0.8), ("feedback", 0.5)],
        ),
        Box::new(dc(0.5) >> flanger(0.5, 0.001, 0.005, |t| lerp11(0.001, 0.005, sin_hz(0.25, t)))),
    );
    pair(
        c,
        "phaser",
        dc_into(0.5, "phaser", &[("stages", 3.0), ("feedback", 0.5)]),
        Box::new(dc(0.5) >> phaser(0.5, |t| sin_hz(0.4, t) * 0.5 + 0.5)),
    );
    pair(
        c,
        "reverb",
        dc_into(0.5, "reverb", &[("decay", 2.0)]),
        Box::new(dc(0.5) >> split::<U2>() >> reverb_stereo(20.0, 2.0, 0.5)),
    );
    pair(
        c,
        "waveshaper",
        dc_into(0.5, "waveshaper", &[("drive", 12.0)]),
        Box::new(dc(0.5) >> shape(Tanh(4.0))),
    );
    pair(
        c,
        "waveshaper_2x",
        dc_into(0.5, "waveshaper", &[("drive", 12.0), ("oversample", 1.0)]),
        Box::new(dc(0.5) >> oversample(shape(Tanh(4.0)))),
    );
    pair(
        c,
        "bitcrusher",
        dc_into(0.5, "bitcrusher", &[("bits", 8.0), ("rate", 11025.0)]),
        Box::new((dc(0.5) | dc(11025.0)) >> hold(0.0) >> shape(Crush(128.0))),
    );
}

/// Noise at `level` through the reverb: at 1e-39 every sample is subnormal,
/// as a tail is once it has decayed below 1.2e-38 (-758 dBFS) on its way
/// to silence.
fn reverb_at(level: f64) -> Schedule {
    chain(
        &[
            ("src", "noise", &[("amp", level)]),
            ("dut", "reverb", &[("decay", 2.0)]),
        ],
        &[("src.out", "dut.in"), ("dut.out", "out.in")],
    )
}

/// Subnormal against normal input, for patchbay (flushed by the runtime's
/// guard: the subnormal input costs what a normal one does) and for fundsp
/// run without a guard (to show that the input does reach the slow path).
fn denormals(c: &mut Criterion) {
    let mut group = c.benchmark_group("denormals");
    group.throughput(Throughput::Elements(BLOCK as u64));
    for (name, level) in [("normal", 0.1), ("subnormal", 1e-39)] {
        let mut ours = reverb_at(level);
        group.bench_function(format!("patchbay_{name}"), |b| {
            b.iter(|| {
                ours.process();
                black_box(ours.master()[0][0]);
            })
        });
        let mut theirs = (noise() * level as f32) >> split::<U2>() >> reverb_stereo(20.0, 2.0, 0.5);
        theirs.set_sample_rate(48_000.0);
        let mut output = BufferVec::new(2);
        group.bench_function(format!("fundsp_unflushed_{name}"), |b| {
            b.iter(|| {
                theirs.process(BLOCK, &BufferRef::empty(), &mut output.buffer_mut());
                black_box(output.buffer_ref().at_f32(0, 0));
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    oscillators,
    filters,
    gains,
    dynamics,
    math,
    mixing,
    level_on_noise,
    taps,
    more_sources,
    effects,
    denormals
);
criterion_main!(benches);
