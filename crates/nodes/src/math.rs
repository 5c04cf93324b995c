//! Math and control: arithmetic on signals, ranges, slew limiting, sample
//! and hold, pitch quantizing and MIDI-note-to-frequency.
//!
//! Every node here works sample by sample on every channel ("follows
//! input"). An unconnected input reads silence (0), so `multiply` with one
//! input unconnected outputs 0: to scale by a constant, use `scale`
//! (`in × factor + offset`), whose parameters glide and can themselves be
//! driven by a signal.
//!
//! Parameters that shape the output directly (offsets, factors, bounds)
//! move sample by sample ([`Ramp`]) between the runtime's 16-frame updates.

use patchbay_core::{
    NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Rest, Unit, lanes::Lanes, no_latency,
};

use crate::smooth::{Ramp, Segment};

/// Largest magnitude of the plain-number parameters here.
const BIG: f64 = 1e6;

const A: PortSpec = PortSpec::control("a", "First operand (unconnected: 0).").follows();
const B: PortSpec = PortSpec::control("b", "Second operand (unconnected: 0).").follows();
const IN: PortSpec = PortSpec::control("in", "Signal.").follows();
const OUT: PortSpec = PortSpec::control("out", "Result, as wide as the widest input.").follows();

/// A node kind with inputs `a` and `b` computing `op(a, b)` per sample.
macro_rules! binary {
    ($name:ident, $kind:literal, $summary:literal, $op:expr, $rest:expr) => {
        #[doc = concat!("`", $kind, "`: ", $summary)]
        pub static $name: NodeDescriptor = NodeDescriptor {
            kind: $kind,
            category: "math",
            summary: $summary,
            inputs: &[A, B],
            outputs: &[OUT],
            params: &[],
            settings: &[],
            channels_param: None,
            latency: no_latency,
            breaks_cycles: false,
            may_rest: Option::<Rest>::is_some(&$rest),
            build: |_| {
                Box::new(Binary {
                    op: $op,
                    rest: $rest,
                    lanes: Lanes::detect(),
                })
            },
        };
    };
}

binary!(
    SUBTRACT,
    "subtract",
    "Difference `a − b`, sample by sample.",
    |a: f32, b: f32| a - b,
    None
);
binary!(
    MULTIPLY,
    "multiply",
    "Product `a × b`, sample by sample: a VCA (signal × envelope) or a ring modulator \
     (signal × signal). An unconnected input is 0; to scale by a constant use `scale`.",
    |a: f32, b: f32| a * b,
    Some(Rest::Product)
);
binary!(
    MIN,
    "min",
    "The smaller of `a` and `b`, sample by sample (with `b` unconnected: `min(a, 0)`).",
    f32::min,
    None
);
binary!(
    MAX,
    "max",
    "The larger of `a` and `b`, sample by sample (with `b` unconnected: `max(a, 0)`, a half-wave rectifier).",
    f32::max,
    None
);

/// `add`: `a + b + offset`.
pub static ADD: NodeDescriptor = NodeDescriptor {
    kind: "add",
    category: "math",
    summary: "Sum `a + b + offset`, sample by sample (fan-in into one input also sums; this adds an offset).",
    inputs: &[A, B],
    outputs: &[OUT],
    params: &[ParamSpec::new("offset", -BIG, BIG, 0.0).doc("Constant added to the sum (plain number).")],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Add(Ramp::new(ctx.param(0)))),
};

/// `scale`: `in × factor + offset`.
pub static SCALE: NodeDescriptor = NodeDescriptor {
    kind: "scale",
    category: "math",
    summary: "Scales and offsets a signal: `in × factor + offset` (attenuverter, bias, inverter).",
    inputs: &[IN],
    outputs: &[PortSpec::control("out", "The scaled signal.").follows()],
    params: &[
        ParamSpec::new("factor", -1000.0, 1000.0, 1.0)
            .unit(Unit::Gain)
            .doc("Linear factor (negative inverts)."),
        ParamSpec::new("offset", -BIG, BIG, 0.0).doc("Constant added after scaling (plain number)."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| {
        Box::new(Scale {
            factor: Ramp::new(ctx.param(0)),
            offset: Ramp::new(ctx.param(1)),
            lanes: Lanes::detect(),
        })
    },
};

/// `abs`: absolute value.
pub static ABS: NodeDescriptor = NodeDescriptor {
    kind: "abs",
    category: "math",
    summary: "Absolute value `|in|` (a full-wave rectifier).",
    inputs: &[IN],
    outputs: &[PortSpec::control("out", "The absolute value of `in`.").follows()],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Unary(f32::abs)),
};

/// `clamp`: limit to a range.
pub static CLAMP: NodeDescriptor = NodeDescriptor {
    kind: "clamp",
    category: "math",
    summary: "Limits a signal to `min … max` (if `min > max`, the output is `max`).",
    inputs: &[IN],
    outputs: &[PortSpec::control("out", "The clamped signal.").follows()],
    params: &[
        ParamSpec::new("min", -BIG, BIG, -1.0).doc("Lower bound (plain number)."),
        ParamSpec::new("max", -BIG, BIG, 1.0).doc("Upper bound (plain number)."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(Clamp {
            min: Ramp::new(ctx.param(0)),
            max: Ramp::new(ctx.param(1)),
        })
    },
};

/// `map`: linear range mapping.
pub static MAP: NodeDescriptor = NodeDescriptor {
    kind: "map",
    category: "math",
    summary: "Maps `in_min … in_max` linearly onto `out_min … out_max` (either may be reversed), \
              optionally clamped to the output range.",
    inputs: &[IN],
    outputs: &[PortSpec::control("out", "The mapped signal.").follows()],
    params: &[
        ParamSpec::new("in_min", -BIG, BIG, -1.0).doc("Input value that maps to `out_min`."),
        ParamSpec::new("in_max", -BIG, BIG, 1.0)
            .doc("Input value that maps to `out_max` (equal to `in_min`: a step from `out_min` to `out_max` there)."),
        ParamSpec::new("out_min", -BIG, BIG, 0.0).doc("Output for `in_min`."),
        ParamSpec::new("out_max", -BIG, BIG, 1.0).doc("Output for `in_max`."),
        ParamSpec::choice("clamp", &["off", "on"], 0)
            .doc("`on` keeps the output between `out_min` and `out_max`."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(Map {
            ranges: std::array::from_fn(|i| Ramp::new(ctx.param(i))),
            clamp: ctx.param(4) >= 0.5,
        })
    },
};

/// A slew time parameter.
const fn slew_time(name: &'static str, doc: &'static str) -> ParamSpec {
    ParamSpec::new(name, 0.0, 60.0, 0.01)
        .unit(Unit::Seconds)
        .smoothing(0.0)
        .doc(doc)
}

/// `slew`: slew-rate limiter.
pub static SLEW: NodeDescriptor = NodeDescriptor {
    kind: "slew",
    category: "math",
    summary: "Slew limiter: the output follows the input but moves at most 1 unit per `rise` \
              seconds upward and 1 unit per `fall` seconds downward (portamento, lag).",
    inputs: &[IN],
    outputs: &[PortSpec::control("out", "The rate-limited signal.").follows()],
    params: &[
        slew_time("rise", "Seconds per unit of upward travel (0: no limit)."),
        slew_time("fall", "Seconds per unit of downward travel (0: no limit)."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        let mut slew = Slew {
            rise: 0.0,
            fall: 0.0,
            sample_rate: ctx.sample_rate,
            state: vec![0.0; ctx.channels],
            started: false,
        };
        slew.set_param(0, ctx.param(0));
        slew.set_param(1, ctx.param(1));
        Box::new(slew)
    },
};

/// `sample_hold`: sample and hold.
pub static SAMPLE_HOLD: NodeDescriptor = NodeDescriptor {
    kind: "sample_hold",
    category: "math",
    summary: "Sample and hold: on each rising edge of `trigger` (crossing above 0.5) takes the input's \
              value and holds it until the next edge.",
    inputs: &[
        PortSpec::control("in", "Signal to sample.").follows(),
        PortSpec::control("trigger", "Gate or clock; each rise above 0.5 takes a sample."),
    ],
    outputs: &[PortSpec::control("out", "The held value (0 until the first edge).").follows()],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(SampleHold {
            held: vec![0.0; ctx.channels],
            high: false,
        })
    },
};

/// Scales for `quantize`, as semitone degrees from the root.
const SCALES: &[&[u8]] = &[
    &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    &[0, 2, 4, 5, 7, 9, 11],
    &[0, 2, 3, 5, 7, 8, 10],
    &[0, 2, 3, 5, 7, 8, 11],
    &[0, 2, 3, 5, 7, 9, 10],
    &[0, 2, 4, 5, 7, 9, 10],
    &[0, 2, 4, 7, 9],
    &[0, 3, 5, 7, 10],
    &[0, 3, 5, 6, 7, 10],
    &[0, 2, 4, 6, 8, 10],
];

/// `quantize`: snap pitches to a scale.
pub static QUANTIZE: NodeDescriptor = NodeDescriptor {
    kind: "quantize",
    category: "math",
    summary: "Pitch quantizer: snaps a pitch in semitones (MIDI note numbers) to the nearest note \
              of a scale; a pitch halfway between two notes goes up.",
    inputs: &[
        PortSpec::control("in", "Pitch in semitones (MIDI note numbers; fractions allowed).").follows(),
    ],
    outputs: &[PortSpec::control("out", "The nearest scale note, in the same units.").follows()],
    params: &[
        ParamSpec::choice(
            "scale",
            &[
                "chromatic",
                "major",
                "minor",
                "harmonic_minor",
                "dorian",
                "mixolydian",
                "pentatonic",
                "minor_pentatonic",
                "blues",
                "whole_tone",
            ],
            1,
        )
        .doc("Scale (minor is natural minor; pentatonic is major pentatonic)."),
        ParamSpec::new("root", 0.0, 11.0, 0.0)
            .unit(Unit::Semitones)
            .smoothing(0.0)
            .doc("Key: semitones above C (0 = C, 2 = D, 9 = A...)."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(Quantize {
            scale: scale_of(ctx.param(0)),
            root: ctx.param(1),
        })
    },
};

/// `mtof`: MIDI note number to frequency.
pub static MTOF: NodeDescriptor = NodeDescriptor {
    kind: "mtof",
    category: "math",
    summary: "MIDI note number to frequency in equal temperament: `a4 · 2^((note − 69) / 12)` Hz \
              (69 → 440 Hz, 81 → 880 Hz, 60 → 261.63 Hz).",
    inputs: &[PortSpec::control("in", "Note number (fractions bend the pitch).").follows()],
    outputs: &[PortSpec::control("out", "Frequency in Hz, for an oscillator's `freq` or `fm`.").follows()],
    params: &[ParamSpec::new("a4", 400.0, 480.0, 440.0)
        .unit(Unit::Hz)
        .doc("Frequency in Hz of note 69 (concert A).")],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(Mtof {
            a4: ctx.param(0) as f64,
        })
    },
};

/// `op(a, b)` on every channel.
pub struct Binary<F> {
    op: F,
    /// What `op` is as a [`Rest`], if it is one.
    rest: Option<Rest>,
    lanes: Lanes,
}

impl<F: Fn(f32, f32) -> f32 + Send> Processor for Binary<F> {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let (a, b) = (io.input(0, ch), io.input(1, ch));
            self.lanes.zip(io.output(0, ch), a, b, &self.op);
        }
        if let Some(rest) = self.rest {
            io.rest(rest);
        }
    }
}

/// `op(in)` on every channel.
pub struct Unary<F>(F);

impl<F: Fn(f32) -> f32 + Send> Processor for Unary<F> {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            for (o, &x) in io.output(0, ch).iter_mut().zip(input) {
                *o = (self.0)(x);
            }
        }
    }
}

/// `a + b + offset`.
pub struct Add(Ramp);

impl Processor for Add {
    fn set_param(&mut self, _index: usize, value: f32) {
        self.0.set(value);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let offset = self.0.segment(io.frames());
        for ch in 0..io.output_channels(0) {
            let (a, b) = (io.input(0, ch), io.input(1, ch));
            let out = io.output(0, ch);
            if offset.is_flat() {
                let c = offset.at(0);
                for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                    *o = x + y + c;
                }
            } else {
                for (k, ((o, &x), &y)) in out.iter_mut().zip(a).zip(b).enumerate() {
                    *o = x + y + offset.at(k);
                }
            }
        }
        self.0.finish();
    }
}

/// `in × factor + offset`.
pub struct Scale {
    factor: Ramp,
    offset: Ramp,
    lanes: Lanes,
}

impl Processor for Scale {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.factor.set(value),
            _ => self.offset.set(value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        if let (Some(f), Some(c)) = (self.factor.resting(), self.offset.resting()) {
            for ch in 0..io.output_channels(0) {
                let input = io.input(0, ch);
                self.lanes.affine(io.output(0, ch), input, f, c);
            }
            io.rest(Rest::Affine(f, c));
        } else {
            self.process_moving(io);
        }
    }
}

impl Scale {
    /// Out of line, so that its setup stays off the at-rest path.
    #[inline(never)]
    fn process_moving(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (f, c) = (self.factor.segment(frames), self.offset.segment(frames));
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                *o = x * f.at(k) + c.at(k);
            }
        }
        self.factor.finish();
        self.offset.finish();
    }
}

/// `in` limited to `min … max`.
pub struct Clamp {
    min: Ramp,
    max: Ramp,
}

impl Processor for Clamp {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.min.set(value),
            _ => self.max.set(value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (lo, hi) = (self.min.segment(frames), self.max.segment(frames));
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            for (k, (o, &x)) in io.output(0, ch).iter_mut().zip(input).enumerate() {
                // max-then-min rather than f32::clamp, which panics on min > max.
                *o = x.max(lo.at(k)).min(hi.at(k));
            }
        }
        self.min.finish();
        self.max.finish();
    }
}

/// Linear range mapping.
pub struct Map {
    /// in_min, in_max, out_min, out_max.
    ranges: [Ramp; 4],
    clamp: bool,
}

/// `x` mapped from `a … b` onto `c … d`, optionally clamped.
#[inline]
fn map_one(x: f32, [a, b, c, d]: [f32; 4], clamp: bool) -> f32 {
    let span = b - a;
    let y = if span == 0.0 {
        if x < a { c } else { d }
    } else {
        c + (x - a) * ((d - c) / span)
    };
    if clamp { y.max(c.min(d)).min(c.max(d)) } else { y }
}

impl Processor for Map {
    fn set_param(&mut self, index: usize, value: f32) {
        match self.ranges.get_mut(index) {
            Some(ramp) => ramp.set(value),
            None => self.clamp = value >= 0.5,
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let seg: [Segment; 4] = std::array::from_fn(|i| self.ranges[i].segment(frames));
        let flat = seg.iter().all(Segment::is_flat);
        let clamp = self.clamp;
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            if flat {
                let r = seg.map(|s| s.at(0));
                let [a, b, c, d] = r;
                if b != a && !clamp {
                    let k = (d - c) / (b - a);
                    for (o, &x) in out.iter_mut().zip(input) {
                        *o = c + (x - a) * k;
                    }
                } else {
                    for (o, &x) in out.iter_mut().zip(input) {
                        *o = map_one(x, r, clamp);
                    }
                }
            } else {
                for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                    *o = map_one(x, seg.map(|s| s.at(k)), clamp);
                }
            }
        }
        self.ranges.iter_mut().for_each(Ramp::finish);
    }
}

/// Rate-limited follower, per channel.
pub struct Slew {
    /// Largest step per sample upward and downward (infinite: no limit).
    rise: f32,
    fall: f32,
    sample_rate: f32,
    state: Vec<f32>,
    /// The first sample is taken as is, so the output does not start by
    /// sliding up from 0.
    started: bool,
}

impl Processor for Slew {
    fn set_param(&mut self, index: usize, value: f32) {
        let step = if value > 0.0 {
            1.0 / (value * self.sample_rate)
        } else {
            f32::INFINITY
        };
        match index {
            0 => self.rise = step,
            _ => self.fall = step,
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let (rise, fall) = (self.rise, -self.fall);
        for (ch, state) in self.state.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let mut y = if self.started {
                *state
            } else {
                input.first().copied().unwrap_or(0.0)
            };
            for (o, &x) in io.output(0, ch).iter_mut().zip(input) {
                y += (x - y).clamp(fall, rise);
                *o = y;
            }
            *state = y;
        }
        self.started = true;
    }
}

/// Sample and hold, per channel, on one trigger.
pub struct SampleHold {
    held: Vec<f32>,
    /// Whether the trigger was above 0.5 on the last sample.
    high: bool,
}

impl Processor for SampleHold {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let trigger = io.input(1, 0);
        let start = self.high;
        for (ch, held) in self.held.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let mut high = start;
            let mut y = *held;
            for ((o, &x), &t) in io.output(0, ch).iter_mut().zip(input).zip(trigger) {
                let now = t > 0.5;
                if now && !high {
                    y = x;
                }
                high = now;
                *o = y;
            }
            *held = y;
        }
        self.high = trigger.last().map_or(start, |&t| t > 0.5);
    }
}

/// The scale for a `scale` parameter value.
fn scale_of(value: f32) -> &'static [u8] {
    SCALES[(value.max(0.0) as usize).min(SCALES.len() - 1)]
}

/// Snaps pitches to a scale.
pub struct Quantize {
    scale: &'static [u8],
    root: f32,
}

/// The note of `scale` (degrees above `root`, repeating every octave)
/// nearest to `x`; halfway goes up.
#[inline]
fn snap(x: f32, scale: &[u8], root: f32) -> f32 {
    let rel = x - root;
    let octave = (rel / 12.0).floor();
    let within = rel - 12.0 * octave; // 0 ≤ within ≤ 12
    let mut best = 12.0f32;
    let mut distance = (12.0 - within).abs();
    for &d in scale {
        let d = d as f32;
        let e = (within - d).abs();
        if e < distance || (e == distance && d > best) {
            best = d;
            distance = e;
        }
    }
    root + 12.0 * octave + best
}

impl Processor for Quantize {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.scale = scale_of(value),
            _ => self.root = value,
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            for (o, &x) in io.output(0, ch).iter_mut().zip(input) {
                *o = if x.is_finite() {
                    snap(x, self.scale, self.root)
                } else {
                    x
                };
            }
        }
    }
}

/// Note number to Hz.
pub struct Mtof {
    a4: f64,
}

/// Notes are limited to ±1200 so the frequency stays a finite f32.
const MTOF_LIMIT: f64 = 1200.0;

impl Processor for Mtof {
    fn set_param(&mut self, _index: usize, value: f32) {
        self.a4 = value as f64;
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let a4 = self.a4;
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            for (o, &n) in io.output(0, ch).iter_mut().zip(input) {
                let n = (n as f64).clamp(-MTOF_LIMIT, MTOF_LIMIT);
                *o = (a4 * ((n - 69.0) / 12.0).exp2()) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::snap;
    use crate::testing::*;

    const SR: u32 = 48_000;

    /// Two constants into `a` and `b` of `kind`; the first output sample.
    fn binary(kind: &str, params: &[(&str, f64)], a: f64, b: Option<f64>) -> f32 {
        let mut patch = Patch::default();
        patch.nodes.push(node("a", "constant", &[("value", a)]));
        patch.nodes.push(node("dut", kind, params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("a.out", "dut.a").connect("dut.out", "out.in");
        if let Some(b) = b {
            patch.nodes.push(node("b", "constant", &[("value", b)]));
            patch.connect("b.out", "dut.b");
        }
        render_patch(&patch, 64, SR).0[63]
    }

    /// A constant through a one-input `kind`; the last of 64 samples.
    fn unary(kind: &str, params: &[(&str, f64)], x: f64) -> f32 {
        let mut patch = Patch::default();
        patch.nodes.push(node("x", "constant", &[("value", x)]));
        patch.nodes.push(node("dut", kind, params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("x.out", "dut.in").connect("dut.out", "out.in");
        render_patch(&patch, 64, SR).0[63]
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(binary("add", &[], 0.25, Some(0.5)), 0.75);
        assert_eq!(binary("add", &[("offset", 2.0)], 0.25, Some(0.5)), 2.75);
        assert_eq!(binary("add", &[("offset", -1.0)], 0.25, None), -0.75);
        assert_eq!(binary("subtract", &[], 0.25, Some(0.5)), -0.25);
        assert_eq!(binary("multiply", &[], 0.25, Some(-0.5)), -0.125);
        assert_eq!(binary("multiply", &[], 0.25, None), 0.0);
        assert_eq!(binary("min", &[], 0.25, Some(-0.5)), -0.5);
        assert_eq!(binary("max", &[], 0.25, Some(-0.5)), 0.25);
        assert_eq!(binary("max", &[], -0.25, None), 0.0);
        assert_eq!(unary("abs", &[], -0.375), 0.375);
        assert_eq!(unary("scale", &[("factor", -2.0), ("offset", 0.5)], 0.25), 0.0);
        assert_eq!(unary("clamp", &[("min", -0.5), ("max", 0.5)], 0.75), 0.5);
        assert_eq!(unary("clamp", &[("min", -0.5), ("max", 0.5)], -0.75), -0.5);
        assert_eq!(unary("clamp", &[("min", -0.5), ("max", 0.5)], 0.25), 0.25);
        assert_eq!(unary("clamp", &[("min", 1.0), ("max", 0.5)], 0.25), 0.5);
    }

    #[test]
    fn multiply_ring_modulates_two_sines() {
        // sin(a)·sin(b) = (cos(a−b) − cos(a+b)) / 2: 700 and 1300 Hz at −6 dB.
        let mut patch = Patch::default();
        patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("b", "sine", &[("freq", 300.0)]));
        patch.nodes.push(node("dut", "multiply", &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("a.out", "dut.a")
            .connect("b.out", "dut.b")
            .connect("dut.out", "out.in");
        let (l, _) = render_patch(&patch, SR as usize, SR);
        let s = magnitude_spectrum(&l);
        let at = |f: f32| level_at(&s, f, SR as f32, l.len());
        assert!((at(700.0) + 6.02).abs() < 0.05 && (at(1300.0) + 6.02).abs() < 0.05);
        assert!(at(1000.0) < -80.0 && at(300.0) < -80.0);
    }

    #[test]
    fn map_maps_ranges_and_clamps() {
        let m = |x, clamp| {
            unary(
                "map",
                &[
                    ("in_min", -1.0),
                    ("in_max", 1.0),
                    ("out_min", 200.0),
                    ("out_max", 1000.0),
                    ("clamp", clamp),
                ],
                x,
            )
        };
        assert_eq!(m(-1.0, 0.0), 200.0);
        assert_eq!(m(0.0, 0.0), 600.0);
        assert_eq!(m(1.0, 0.0), 1000.0);
        assert_eq!(m(2.0, 0.0), 1400.0);
        assert_eq!(m(2.0, 1.0), 1000.0);
        assert_eq!(m(-3.0, 1.0), 200.0);
        // Reversed output range.
        let r = |x| {
            unary(
                "map",
                &[
                    ("in_min", 0.0),
                    ("in_max", 1.0),
                    ("out_min", 1.0),
                    ("out_max", -1.0),
                ],
                x,
            )
        };
        assert_eq!(r(0.25), 0.5);
        // A zero-width input range is a step.
        let s = |x| unary("map", &[("in_min", 0.5), ("in_max", 0.5)], x);
        assert_eq!((s(0.4), s(0.6)), (0.0, 1.0));
    }

    #[test]
    fn slew_limits_the_rate_of_change() {
        // A jump from 0 to 1 with rise 0.1 s/unit: a ramp over 4800 samples.
        let mut patch = Patch::default();
        patch.nodes.push(node("x", "constant", &[("value", 0.0)]));
        patch
            .nodes
            .push(node("dut", "slew", &[("rise", 0.1), ("fall", 0.05)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("x.out", "dut.in").connect("dut.out", "out.in");
        let up = Change {
            frame: 6400,
            node: "x",
            param: "value",
            value: 1.0,
        };
        let down = Change {
            frame: 24_000,
            node: "x",
            param: "value",
            value: 0.0,
        };
        let (l, _) = render_patch_with(&patch, 36_000, SR, 64, &[up, down]);
        let rate_up = 1.0 / (0.1 * SR as f32);
        let rate_down = 1.0 / (0.05 * SR as f32);
        let steps: Vec<f32> = l.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            steps
                .iter()
                .all(|&d| d <= rate_up * 1.001 && d >= -rate_down * 1.001)
        );
        // The 20 ms input glide is faster than the slew: the output rises at
        // exactly the limit, reaching 1 after 0.1 s.
        assert!((steps[8000] - rate_up).abs() < 1e-6);
        assert!((l[6400 + 4800 + 200] - 1.0).abs() < 1e-6);
        assert!((steps[25_000] + rate_down).abs() < 1e-6);
        assert!(l[24_000 + 2400 + 1000].abs() < 1e-6);
    }

    #[test]
    fn sample_hold_holds_between_rising_edges() {
        // A 1 kHz sine sampled by a 10 Hz clock (edges at 0, 0.1, 0.2 s...).
        let mut patch = Patch::default();
        patch.nodes.push(node("x", "sine", &[("freq", 1001.7)]));
        patch
            .nodes
            .push(node("clk", "clock", &[("bpm", 600.0), ("gate", 0.5)]));
        patch.nodes.push(node("dut", "sample_hold", &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("x.out", "dut.in")
            .connect("clk.out", "dut.trigger")
            .connect("dut.out", "out.in");
        let (l, _) = render_patch(&patch, SR as usize, SR);
        let x = render_source("sine", &[("freq", 1001.7)], SR as usize, SR);
        // The output changes only at the clock's edges, to the input there.
        let changes: Vec<usize> = (1..l.len()).filter(|&i| l[i] != l[i - 1]).collect();
        assert_eq!(changes.len(), 9, "{changes:?}");
        for (k, &i) in changes.iter().enumerate() {
            assert!(i.abs_diff((k + 1) * SR as usize / 10) <= 1, "{changes:?}");
            assert_eq!(l[i], x[i]);
        }
        assert_eq!(l[0], x[0]);
    }

    #[test]
    fn quantize_snaps_to_scale_notes() {
        let major = |x| snap(x, super::SCALES[1], 0.0);
        assert_eq!(major(60.0), 60.0);
        assert_eq!(major(61.0), 62.0); // C# halfway between C and D: up
        assert_eq!(major(60.4), 60.0);
        assert_eq!(major(63.4), 64.0);
        assert_eq!(major(65.9), 65.0); // F# halfway to F (65) and G (67)? 65.9 is nearer 65
        assert_eq!(major(66.0), 67.0);
        assert_eq!(major(71.6), 72.0);
        assert_eq!(major(-1.2), -1.0); // B below C0
        // Through the node: A minor pentatonic (root 9).
        for (x, y) in [
            (60.0, 60.0),
            (61.0, 62.0),
            (62.0, 62.0),
            (63.5, 64.0),
            (68.0, 69.0),
        ] {
            assert_eq!(unary("quantize", &[("scale", 7.0), ("root", 9.0)], x), y, "{x}");
        }
        for x in [0.0, 13.3, 60.7, 127.0] {
            assert_eq!(unary("quantize", &[("scale", 0.0)], x), (x as f32).round());
        }
    }

    #[test]
    fn mtof_is_equal_temperament_at_a440() {
        assert_eq!(unary("mtof", &[], 69.0), 440.0);
        assert_eq!(unary("mtof", &[], 81.0), 880.0);
        assert_eq!(unary("mtof", &[], 57.0), 220.0);
        assert!((unary("mtof", &[], 60.0) - 261.625_57).abs() < 1e-3);
        assert_eq!(unary("mtof", &[("a4", 432.0)], 69.0), 432.0);
        assert!(unary("mtof", &[], 1e6).is_finite());
    }
}
