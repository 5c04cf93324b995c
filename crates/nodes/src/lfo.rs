//! Low-frequency sources for modulation: an LFO with seven shapes that runs
//! free or follows a clock, and a phasor (a 0..1 ramp) for audio or control.
//!
//! These waveforms are not band-limited: they are meant for modulating
//! parameters, where edges are wanted (square, sample and hold), and for
//! driving lookups (the phasor). For audible tones use the oscillators.

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, lanes::Lanes, no_latency,
};

use crate::smooth::{Ramp, Segment};
use crate::sources::{Pcg32, sin_cycles_f32};

/// `lfo`: a low-frequency oscillator.
pub static LFO: NodeDescriptor = NodeDescriptor {
    kind: "lfo",
    category: "sources",
    summary: "Low-frequency oscillator: sine, triangle, saw, ramp down, square, sample-and-hold or smooth \
              random, as `offset + amp × shape`; runs at `rate` Hz or locked to a clock's steps.",
    inputs: &[PortSpec::control(
        "sync",
        "Gate or clock. `free` mode: each rise above 0.5 restarts the cycle at `phase`. \
         `clock` mode: the time between rises sets the rate (one cycle per `steps` of it) and \
         every `steps`-th rise restarts the cycle.",
    )],
    outputs: &[PortSpec::control("out", "`offset + amp × shape`, the shape between -1 and +1.")],
    params: &[
        ParamSpec::new("rate", 0.001, 200.0, 1.0)
            .unit(Unit::Hz)
            .log()
            .doc("Cycles per second in `free` mode (and in `clock` mode until two clock rises have been seen)."),
        ParamSpec::choice(
            "shape",
            &["sine", "triangle", "saw", "ramp_down", "square", "random", "smooth_random"],
            0,
        )
        .doc("Waveform; all start a cycle at phase 0 (sine and triangle at 0 rising, saw at -1, square \
              at +1); `random` holds a new value each cycle, `smooth_random` glides to it (cosine)."),
        ParamSpec::new("amp", 0.0, 10_000.0, 1.0).doc("Depth: the shape's ±1 is scaled by this (plain number)."),
        ParamSpec::new("offset", -10_000.0, 10_000.0, 0.0).doc("Added to the scaled shape (plain number)."),
        ParamSpec::new("phase", 0.0, 1.0, 0.0)
            .smoothing(0.0)
            .doc("Phase in cycles at the start and at every restart."),
        ParamSpec::choice("mode", &["free", "clock"], 0).doc("`free`: `rate` sets the speed; `clock`: the `sync` input does."),
        ParamSpec::new("steps", 0.125, 64.0, 4.0)
            .log()
            .smoothing(0.0)
            .doc("`clock` mode: clock steps per cycle (4 = one cycle per bar of four steps, 0.5 = two cycles per step)."),
        ParamSpec::new("seed", 0.0, 16_777_215.0, 1.0)
            .smoothing(0.0)
            .doc("Seed of the random shapes (an integer)."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Lfo::new(ctx)),
};

/// `phasor`: a rising 0..1 ramp.
pub static PHASOR: NodeDescriptor = NodeDescriptor {
    kind: "phasor",
    category: "sources",
    summary: "Phasor: a ramp rising from 0 to 1 `freq` times a second, then wrapping (not band-limited: \
              for driving lookups, sequencing and modulation).",
    inputs: &[
        PortSpec::control(
            "fm",
            "Added to the frequency, in Hz, sample by sample (negative runs it backwards).",
        ),
        PortSpec::control("reset", "Each rise above 0.5 sets the phase back to 0."),
    ],
    outputs: &[PortSpec::control("out", "The phase, 0 ≤ out < 1.")],
    params: &[ParamSpec::new("freq", 0.0, 20_000.0, 1.0)
        .unit(Unit::Hz)
        .log()
        .doc("Cycles per second.")],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(Phasor {
            freq: ctx.param(0) as f64,
            inv_rate: 1.0 / ctx.sample_rate as f64,
            phase: 0.0,
            high: false,
        })
    },
};

/// When a restart lands this close (in cycles) to where the phase already
/// is, the clock and the LFO agree: no new random value is drawn for it.
const ALIGNED: f64 = 0.01;

/// The LFO's state: an f64 phase, clock tracking and a seeded generator.
pub struct Lfo {
    rate: f64,
    inv_rate: f64,
    shape: u8,
    amp: Ramp,
    offset: Ramp,
    start: f64,
    clock: bool,
    steps: f64,
    seed: f32,
    phase: f64,
    /// Whether `sync` was above 0.5 on the last sample.
    high: bool,
    /// Samples since the last clock rise, and between the last two.
    since_edge: u64,
    period: u64,
    edges: u64,
    rng: Pcg32,
    /// Random value of this cycle and of the next.
    held: f32,
    next: f32,
    lanes: Lanes,
}

impl Lfo {
    fn new(ctx: &NodeContext) -> Self {
        let mut lfo = Lfo {
            rate: 0.0,
            inv_rate: 1.0 / ctx.sample_rate as f64,
            shape: 0,
            amp: Ramp::new(ctx.param(2)),
            offset: Ramp::new(ctx.param(3)),
            start: 0.0,
            clock: false,
            steps: 4.0,
            seed: ctx.param(7),
            phase: 0.0,
            high: false,
            since_edge: 0,
            period: 0,
            edges: 0,
            rng: Pcg32::new(ctx.param(7) as u64),
            held: 0.0,
            next: 0.0,
            lanes: Lanes::detect(),
        };
        for (i, &v) in ctx.params.iter().enumerate() {
            lfo.set_param(i, v);
        }
        lfo.phase = lfo.start;
        lfo.held = lfo.rng.next_bipolar();
        lfo.next = lfo.rng.next_bipolar();
        lfo
    }

    fn new_cycle(&mut self) {
        self.held = self.next;
        self.next = self.rng.next_bipolar();
    }

    /// Start the cycle again at `start`.
    fn restart(&mut self) {
        let off = (self.phase - self.start).rem_euclid(1.0);
        if off > ALIGNED && off < 1.0 - ALIGNED {
            self.new_cycle();
        }
        self.phase = self.start;
    }

    /// The random shapes' value at the current phase: `random` holds this
    /// cycle's value, `smooth_random` glides (raised cosine) to the next.
    #[inline]
    fn random(&self) -> f32 {
        if self.shape == 5 {
            self.held
        } else {
            let t = (0.5 - 0.5 * (self.phase * std::f64::consts::PI).cos()) as f32;
            self.held + t * (self.next - self.held)
        }
    }

    /// Cycles per sample now.
    #[inline]
    fn increment(&self) -> f64 {
        if self.clock && self.period > 0 {
            (1.0 / (self.steps * self.period as f64)).min(0.5)
        } else {
            self.rate * self.inv_rate
        }
    }
}

impl Processor for Lfo {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.rate = value as f64,
            1 => self.shape = value as u8,
            2 => self.amp.set(value),
            3 => self.offset.set(value),
            4 => self.start = value as f64,
            5 => self.clock = value >= 0.5,
            6 => self.steps = value as f64,
            _ if value != self.seed => {
                self.seed = value;
                self.rng = Pcg32::new(value as u64);
            }
            _ => {}
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let sync_connected = io.connected(0);
        let sync = io.input(0, 0);
        let out = io.output(0, 0);
        // Pass 1: the phase of each sample (or, for the random shapes, which
        // need each cycle's values, the shape itself).
        let random = self.shape >= 5;
        let mut inc = self.increment();
        // No rise in this call (the usual case: `sync` unconnected or
        // between clock edges): only the phase moves.
        // (A count rather than a search, in 32-bit lanes: it vectorises.)
        let highs = if sync_connected {
            sync.iter().map(|&v| u32::from(v > 0.5)).sum::<u32>() as usize
        } else {
            0
        };
        if highs == 0 || (self.high && highs == frames) {
            self.high = highs > 0;
            self.since_edge = self.since_edge.saturating_add(frames as u64);
            if random {
                for o in out.iter_mut() {
                    *o = self.random();
                    self.phase += inc;
                    if self.phase >= 1.0 {
                        self.phase -= 1.0;
                        self.new_cycle();
                    }
                }
            } else if inc * (frames as f64) < 1.0 {
                // At most one wrap in this call (always so in `free` mode
                // up to 200 Hz): each phase from the first, with no
                // dependency from sample to sample, so the loop vectorises.
                // Within a call single precision is plenty (the phase is
                // off by 1e-7 cycles at most); the call's start stays
                // double, so the rate does not drift.
                let first = self.phase;
                self.phase = first + frames as f64 * inc;
                if self.phase >= 1.0 {
                    self.phase -= 1.0;
                    self.new_cycle();
                }
                let (first, inc) = (first as f32, inc as f32);
                if let (Some(a), Some(c)) = (self.amp.resting(), self.offset.resting()) {
                    // At rest: phase to output in one pass.
                    let lanes = self.lanes;
                    with_shape!(self.shape, |shape| {
                        lanes.map_phases(out, first, inc, |p| c + a * shape(p))
                    });
                    return;
                }
                self.lanes.phases(out, first, inc);
            } else {
                let (mut phase, mut wraps) = (self.phase, 0);
                for o in out.iter_mut() {
                    *o = phase as f32;
                    phase += inc;
                    if phase >= 1.0 {
                        phase -= 1.0;
                        wraps += 1;
                    }
                }
                self.phase = phase;
                // The generator advances as if the values had been used, so
                // switching to a random shape continues the same sequence.
                for _ in 0..wraps {
                    self.new_cycle();
                }
            }
        } else {
            self.scan(sync, out, random, &mut inc);
        }
        self.shape_and_scale(out);
    }
}

impl Lfo {
    /// Pass 1 with clock rises to follow.
    fn scan(&mut self, sync: &[f32], out: &mut [f32], random: bool, inc: &mut f64) {
        let frames = out.len();
        for k in 0..frames {
            let high = sync[k] > 0.5;
            let rising = high && !self.high;
            self.high = high;
            self.since_edge = self.since_edge.saturating_add(1);
            if rising {
                if self.clock {
                    if self.edges > 0 {
                        self.period = self.since_edge;
                        *inc = self.increment();
                    }
                    self.since_edge = 0;
                    let every = self.steps.round().max(1.0) as u64;
                    if self.steps <= 1.0 || self.edges.is_multiple_of(every) {
                        self.restart();
                    }
                    self.edges += 1;
                } else {
                    self.restart();
                }
            }
            out[k] = if random { self.random() } else { self.phase as f32 };
            self.phase += *inc;
            if self.phase >= 1.0 {
                self.phase -= 1.0;
                self.new_cycle();
            }
        }
    }

    /// Pass 2: phase to shape, depth and offset, in one loop per shape
    /// (they vectorise).
    fn shape_and_scale(&mut self, out: &mut [f32]) {
        let (amp, offset) = (self.amp.segment(out.len()), self.offset.segment(out.len()));
        let lanes = self.lanes;
        with_shape!(self.shape, |shape| scale(out, amp, offset, lanes, shape));
        self.amp.finish();
        self.offset.finish();
    }
}

/// `$body` with `$shape` bound to waveshape number `$index`, phase (0..1)
/// to -1..1; the random shapes' values, already there, pass through. A
/// match over the body, so that each shape inlines into its own loop.
macro_rules! with_shape {
    ($index:expr, |$shape:ident| $body:expr) => {
        match $index {
            0 => {
                let $shape = sin_cycles_f32;
                $body
            }
            1 => {
                let $shape = |p: f32| {
                    let q = p + 0.25;
                    let q = q - if q >= 1.0 { 1.0 } else { 0.0 };
                    1.0 - 4.0 * (q - 0.5).abs()
                };
                $body
            }
            2 => {
                let $shape = |p: f32| 2.0 * p - 1.0;
                $body
            }
            3 => {
                let $shape = |p: f32| 1.0 - 2.0 * p;
                $body
            }
            4 => {
                let $shape = |p: f32| if p < 0.5 { 1.0 } else { -1.0 };
                $body
            }
            _ => {
                let $shape = |v: f32| v;
                $body
            }
        }
    };
}
use with_shape;

/// `out = offset + amp × shape(out)` over one call.
#[inline(always)]
fn scale(out: &mut [f32], amp: Segment, offset: Segment, lanes: Lanes, shape: impl Fn(f32) -> f32) {
    if amp.is_flat() && offset.is_flat() {
        let (a, c) = (amp.at(0), offset.at(0));
        lanes.map(out, |p| c + a * shape(p));
    } else {
        for (k, o) in out.iter_mut().enumerate() {
            *o = offset.at(k) + amp.at(k) * shape(*o);
        }
    }
}

/// The largest f32 below 1.
const BELOW_ONE: f32 = 1.0 - f32::EPSILON / 2.0;

/// A wrapping phase with reset.
pub struct Phasor {
    freq: f64,
    inv_rate: f64,
    phase: f64,
    high: bool,
}

impl Processor for Phasor {
    fn set_param(&mut self, _index: usize, value: f32) {
        self.freq = value as f64;
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let (fm, reset) = (io.input(0, 0), io.input(1, 0));
        let out = io.output(0, 0);
        for k in 0..out.len() {
            let high = reset[k] > 0.5;
            if high && !self.high {
                self.phase = 0.0;
            }
            self.high = high;
            // An f64 phase just under 1 would round to 1.0 as f32.
            out[k] = (self.phase as f32).min(BELOW_ONE);
            let inc = ((self.freq + fm[k] as f64) * self.inv_rate).clamp(-0.5, 0.5);
            self.phase += inc;
            if self.phase >= 1.0 {
                self.phase -= 1.0;
            } else if self.phase < 0.0 {
                self.phase += 1.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const SR: u32 = 48_000;

    #[test]
    fn lfo_shapes_at_known_phases() {
        // 1 Hz: sample k is phase k / 48000.
        let at =
            |shape: f64, k: usize| render_source("lfo", &[("rate", 1.0), ("shape", shape)], k + 1, SR)[k];
        let q = SR as usize / 4;
        for (shape, expected) in [
            (0.0, [0.0, 1.0, 0.0, -1.0]),
            (1.0, [0.0, 1.0, 0.0, -1.0]),
            (2.0, [-1.0, -0.5, 0.0, 0.5]),
            (3.0, [1.0, 0.5, 0.0, -0.5]),
            (4.0, [1.0, 1.0, -1.0, -1.0]),
        ] {
            for (i, &e) in expected.iter().enumerate() {
                let v = at(shape, i * q);
                assert!((v - e).abs() < 1e-4, "shape {shape} at {i}/4: {v}");
            }
        }
        // Depth and offset: 5 ± 2.
        let x = render_source(
            "lfo",
            &[("rate", 3.0), ("amp", 2.0), ("offset", 5.0)],
            SR as usize,
            SR,
        );
        assert!(
            (peak(&x) - 7.0).abs() < 1e-3 && (x.iter().fold(9.0f32, |m, &v| m.min(v)) - 3.0).abs() < 1e-3
        );
    }

    #[test]
    fn lfo_rate_is_exact() {
        for rate in [0.5, 5.0, 37.0] {
            let x = render_source("lfo", &[("rate", rate)], 4 * SR as usize, SR);
            let f = peak_frequency(&x, SR as f32) as f64;
            assert!((f - rate).abs() < rate * 1e-3, "{rate}: {f}");
        }
    }

    #[test]
    fn lfo_random_holds_each_cycle_and_smooth_random_glides() {
        // 46.875 Hz: exactly 1/1024 cycle per sample.
        let x = render_source(
            "lfo",
            &[("rate", 46.875), ("shape", 5.0), ("seed", 9.0)],
            SR as usize,
            SR,
        );
        let cycle = 1024;
        let values: Vec<f32> = (0..40).map(|c| x[c * cycle]).collect();
        for c in 0..40 {
            assert!(x[c * cycle..(c + 1) * cycle - 1].iter().all(|&v| v == values[c]));
            assert!((-1.0..1.0).contains(&values[c]));
        }
        assert!(values.windows(2).all(|w| w[0] != w[1]));
        let s = render_source(
            "lfo",
            &[("rate", 46.875), ("shape", 6.0), ("seed", 9.0)],
            SR as usize,
            SR,
        );
        assert!(max_step(&s) < 2.0 * std::f32::consts::PI / cycle as f32 * 0.5 + 1e-4);
        // It passes through the held values at the cycle boundaries.
        for c in 1..40 {
            assert!((s[c * cycle] - values[c]).abs() < 1e-3, "cycle {c}");
        }
    }

    /// A 120 bpm clock in sixteenths (8 steps/s) into an LFO in clock mode.
    fn clocked(params: &[(&str, f64)], seconds: usize) -> Vec<f32> {
        let mut patch = Patch::default();
        patch
            .nodes
            .push(node("clk", "clock", &[("bpm", 120.0), ("division", 4.0)]));
        patch.nodes.push(node("lfo", "lfo", params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("clk.out", "lfo.sync").connect("lfo.out", "out.in");
        render_patch(&patch, seconds * SR as usize, SR).0
    }

    #[test]
    fn lfo_locks_to_a_clock() {
        // 4 steps per cycle at 8 steps/s: 2 Hz, whatever `rate` says, and a
        // saw that restarts (-1) exactly on every fourth clock step.
        let x = clocked(&[("mode", 1.0), ("steps", 4.0), ("rate", 0.3), ("shape", 2.0)], 3);
        let step = SR as usize / 8;
        for bar in 1..6 {
            let at = bar * 4 * step;
            // The clock's edges land on the step's sample or the next.
            let start = x[at].min(x[at + 1]);
            assert!((start + 1.0).abs() < 1e-3, "bar {bar}: {start}");
            assert!(
                (x[at + 2 * step] - 0.0).abs() < 2e-3,
                "half bar {bar}: {}",
                x[at + 2 * step]
            );
        }
        let f = peak_frequency(&x[SR as usize..], SR as f32);
        assert!((f - 2.0).abs() < 0.01, "{f}");
        // Two cycles per step: 16 Hz.
        let x = clocked(&[("mode", 1.0), ("steps", 0.5)], 3);
        let f = peak_frequency(&x[SR as usize..], SR as f32);
        assert!((f - 16.0).abs() < 0.02, "{f}");
        // Free mode: each step restarts a slow saw.
        let x = clocked(&[("rate", 1.0), ("shape", 2.0)], 1);
        for s in 1..7 {
            // The clock's edges land on the step's sample or the next.
            assert_eq!(x[s * step].min(x[s * step + 1]), -1.0, "step {s}");
        }
    }

    #[test]
    fn phasor_ramps_from_zero_to_one_and_resets() {
        let x = render_source("phasor", &[("freq", 100.0)], SR as usize, SR);
        assert!(x.iter().all(|&v| (0.0..1.0).contains(&v)));
        assert_eq!(x[0], 0.0);
        assert!((x[240] - 0.5).abs() < 1e-6);
        let wraps = x.windows(2).filter(|w| w[1] < w[0]).count();
        assert_eq!(wraps, 99);
        // A reset from a clock at 10 steps/s (every 4800 samples).
        let mut patch = Patch::default();
        patch.nodes.push(node("clk", "clock", &[("bpm", 600.0)]));
        patch.nodes.push(node("ph", "phasor", &[("freq", 3.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("clk.out", "ph.reset").connect("ph.out", "out.in");
        let (x, _) = render_patch(&patch, SR as usize, SR);
        for s in 0..10 {
            let at = s * 4800;
            let v = x[at].min(x[at + 1]);
            assert!(v == 0.0, "step {s}: {} {}", x[at], x[at + 1]);
        }
        assert!(peak(&x) < 3.0 / 10.0 + 1e-3);
    }
}
