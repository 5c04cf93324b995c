//! Sources: oscillators, white and pink noise, a constant and a single impulse.
//!
//! The oscillators share their `freq` and `amp` parameters and their `fm`
//! input (`Voice`); the sawtooth and the pulse also share their
//! band-limiting (the `blep` module: band-limited steps).

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Rest, Unit, no_latency,
};

use crate::blep::{self, Blep, SawPhase};
use crate::smooth::{Ramp, Segment};

/// Frequency parameter shared by the oscillators.
const FREQ: ParamSpec = ParamSpec::new("freq", 0.0, 20_000.0, 440.0)
    .unit(Unit::Hz)
    .log()
    .doc("Frequency in Hz.");
/// Amplitude parameter shared by the oscillators and the noise.
const AMP: ParamSpec = ParamSpec::new("amp", 0.0, 1.0, 1.0)
    .unit(Unit::Gain)
    .doc("Peak amplitude (linear, 0..1).");
/// Seed parameter shared by the noises.
const SEED: ParamSpec = ParamSpec::new("seed", 0.0, 16_777_215.0, 1.0)
    .smoothing(0.0)
    .doc("Generator seed (an integer); changing it restarts the sequence.");
/// Linear FM input shared by the oscillators.
const FM: PortSpec = PortSpec::audio(
    "fm",
    "Added to the frequency, in Hz, sample by sample (linear FM).",
);

/// `sine`: a pure sine wave.
pub static SINE: NodeDescriptor = NodeDescriptor {
    kind: "sine",
    category: "sources",
    summary: "Sine wave oscillator with linear FM input.",
    inputs: &[FM],
    outputs: &[PortSpec::audio("out", "The sine wave.")],
    params: &[FREQ, AMP],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Sine::new(ctx)),
};

/// `saw`: a band-limited rising sawtooth.
pub static SAW: NodeDescriptor = NodeDescriptor {
    kind: "saw",
    category: "sources",
    summary: "Band-limited sawtooth oscillator (BLEP) with linear FM input; 16 samples of latency.",
    inputs: &[FM],
    outputs: &[PortSpec::audio("out", "The sawtooth, rising from -amp to +amp.")],
    params: &[FREQ, AMP],
    settings: &[],
    channels_param: None,
    latency: |_| blep::LATENCY,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Saw::new(ctx)),
};

/// `square`: a band-limited pulse wave of variable width.
pub static SQUARE: NodeDescriptor = NodeDescriptor {
    kind: "square",
    category: "sources",
    summary: "Band-limited square/pulse oscillator (BLEP) with pulse width and linear FM input; \
              16 samples of latency.",
    inputs: &[FM],
    outputs: &[PortSpec::audio(
        "out",
        "The pulse wave: +amp for `width` of each period, then -amp.",
    )],
    params: &[
        FREQ,
        AMP,
        ParamSpec::new("width", 0.01, 0.99, 0.5)
            .unit(Unit::Percent)
            .doc("Pulse width: the high part of each period (0.5 = square)."),
    ],
    settings: &[],
    channels_param: None,
    latency: |_| blep::LATENCY,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Square::new(ctx)),
};

/// `triangle`: a band-limited triangle.
pub static TRIANGLE: NodeDescriptor = NodeDescriptor {
    kind: "triangle",
    category: "sources",
    summary: "Band-limited triangle oscillator (BLAMP-rounded corners) with linear FM input; \
              16 samples of latency.",
    inputs: &[FM],
    outputs: &[PortSpec::audio(
        "out",
        "The triangle: from 0 up to +amp, down to -amp and back, odd harmonics falling as 1/k².",
    )],
    params: &[FREQ, AMP],
    settings: &[],
    channels_param: None,
    latency: |_| blep::LATENCY,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Triangle::new(ctx)),
};

/// `pink`: pink noise.
pub static PINK: NodeDescriptor = NodeDescriptor {
    kind: "pink",
    category: "sources",
    summary: "Pink noise (-3 dB per octave, equal power per octave) from seeded white noise through \
              P. Kellet's refined pinking filter; as loud (RMS) as `noise` at the same `amp`.",
    inputs: &[],
    outputs: &[PortSpec::audio("out", "The noise.")],
    params: &[AMP, SEED],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Pink::new(ctx)),
};

/// `noise`: white noise.
pub static NOISE: NodeDescriptor = NodeDescriptor {
    kind: "noise",
    category: "sources",
    summary: "White noise, uniform in -amp..amp, from a seeded generator: the same seed gives the same noise.",
    inputs: &[],
    outputs: &[PortSpec::audio("out", "The noise.")],
    params: &[AMP, SEED],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Noise::new(ctx)),
};

/// `constant`: a steady value.
pub static CONSTANT: NodeDescriptor = NodeDescriptor {
    kind: "constant",
    category: "sources",
    summary: "Outputs its `value` parameter on every sample; changes glide without steps.",
    inputs: &[],
    outputs: &[PortSpec::control("out", "The value.")],
    params: &[ParamSpec::new("value", -1e6, 1e6, 0.0).doc("The value to output (plain number).")],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| {
        Box::new(Constant {
            value: Ramp::new(ctx.param(0)),
        })
    },
};

/// `impulse`: a single click.
pub static IMPULSE: NodeDescriptor = NodeDescriptor {
    kind: "impulse",
    category: "sources",
    summary: "A single sample of 1.0 when the node starts, then silence: for measuring delays and filters.",
    inputs: &[],
    outputs: &[PortSpec::audio("out", "1.0 on the first sample, 0 after.")],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Impulse { fired: false }),
};

/// What every oscillator has: frequency, smoothed amplitude, and the phase
/// increment from frequency plus FM.
struct Voice {
    freq: f64,
    amp: Ramp,
    inv_rate: f64,
}

impl Voice {
    fn new(ctx: &NodeContext) -> Self {
        Voice {
            freq: ctx.param(0) as f64,
            amp: Ramp::new(ctx.param(1)),
            inv_rate: 1.0 / ctx.sample_rate as f64,
        }
    }

    /// Parameters 0 (`freq`) and 1 (`amp`).
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.freq = value as f64,
            1 => self.amp.set(value),
            _ => {}
        }
    }

    /// Cycles per sample at `fm` Hz of deviation, limited to ±Nyquist.
    #[inline]
    fn increment(&self, fm: f32) -> f64 {
        ((self.freq + fm as f64) * self.inv_rate).clamp(-0.5, 0.5)
    }
}

/// Run an oscillator over one call: `next(inc)` returns the sample for the
/// current phase and advances by `inc` cycles; the amplitude is ramped.
fn run_oscillator(io: &mut ProcessIo<'_>, voice: &mut Voice, mut next: impl FnMut(usize, f64) -> f32) {
    let fm = io.input(0, 0);
    let amp = voice.amp.segment(io.frames());
    let out = io.output(0, 0);
    for (k, (o, &dev)) in out.iter_mut().zip(fm).enumerate() {
        *o = amp.at(k) * next(k, voice.increment(dev));
    }
    voice.amp.finish();
}

/// `x.floor()` without a library call (x86-64 without SSE4.1 has no
/// rounding instruction, and `f64::floor` becomes a call per sample):
/// exact for |x| < 2⁶³.
#[inline]
pub(crate) fn floor(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t > x { t - 1.0 } else { t }
}

/// `sin(2π·p)` for `0 ≤ p ≤ 1` in f32, without branches so that a loop of
/// it vectorises: folded to a quarter cycle with two `abs`, then an odd
/// 9th-degree polynomial fitted for the least maximum error on that
/// quarter (3.3e-9 in exact arithmetic, below f32's own rounding; one term
/// fewer than the Taylor series needs for the same).
#[inline]
pub(crate) fn sin_cycles_f32(p: f32) -> f32 {
    let x = p - if p >= 0.5 { 1.0 } else { 0.0 };
    let y = 0.25 - (x.abs() - 0.25).abs();
    let t = std::f32::consts::TAU * y;
    let t2 = t * t;
    let s = t
        * (1.0 + t2 * (-0.166_666_48 + t2 * (0.008_332_9 + t2 * (-0.000_198_008_97 + t2 * 2.590_488_5e-6))));
    s.copysign(x)
}

/// Sine from an f64 phase, so long renders do not drift in pitch.
pub struct Sine {
    voice: Voice,
    phase: f64,
}

impl Sine {
    fn new(ctx: &NodeContext) -> Self {
        Sine {
            voice: Voice::new(ctx),
            phase: 0.0,
        }
    }
}

impl Processor for Sine {
    fn set_param(&mut self, index: usize, value: f32) {
        self.voice.set_param(index, value);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        // Two passes: the phases (a short dependency chain: one add and a
        // compare per sample), then the sine of each, which vectorises.
        let fm = io.input(0, 0);
        let amp = self.voice.amp.segment(io.frames());
        let out = io.output(0, 0);
        let mut phase = self.phase;
        for (o, &dev) in out.iter_mut().zip(fm) {
            *o = phase as f32;
            phase += self.voice.increment(dev);
            if phase >= 1.0 {
                phase -= 1.0;
            } else if phase < 0.0 {
                phase += 1.0;
            }
        }
        self.phase = phase;
        if amp.is_flat() {
            let a = amp.at(0);
            for o in out.iter_mut() {
                *o = a * sin_cycles_f32(*o);
            }
        } else {
            for (k, o) in out.iter_mut().enumerate() {
                *o = amp.at(k) * sin_cycles_f32(*o);
            }
        }
        self.voice.amp.finish();
    }
}

/// Sawtooth: one band-limited phase.
pub struct Saw {
    voice: Voice,
    phase: SawPhase,
    blep: Blep,
}

impl Saw {
    fn new(ctx: &NodeContext) -> Self {
        let phase = SawPhase::new(0.0);
        let mut blep = Blep::new();
        // The start from silence is a jump too.
        blep.step(phase.value(), 0.0);
        Saw {
            voice: Voice::new(ctx),
            phase,
            blep,
        }
    }
}

impl Processor for Saw {
    fn set_param(&mut self, index: usize, value: f32) {
        self.voice.set_param(index, value);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let (phase, blep) = (&mut self.phase, &mut self.blep);
        run_oscillator(io, &mut self.voice, |_, inc| {
            blep.add(phase.value());
            let y = blep.pop();
            phase.advance(inc, 1.0, blep);
            y
        });
    }
}

/// Pulse from one f64 phase: +1 while the phase is below `width`, else -1.
/// Its edges (the rise at each wrap, the fall where the phase passes the
/// width) are band-limited through the [`Blep`] at their sub-sample times,
/// and so is an edge that a width change sweeps across the phase. Between
/// edges a sample costs one add and two compares.
pub struct Square {
    voice: Voice,
    phase: f64,
    width: Ramp,
    /// Width the current sample is computed with.
    width_now: f32,
    blep: Blep,
}

/// The naive pulse at phase `p` (`0 ≤ p < 1`).
#[inline]
fn pulse_at(p: f64, width: f64) -> f32 {
    if p < width { 1.0 } else { -1.0 }
}

impl Square {
    fn new(ctx: &NodeContext) -> Self {
        let width = ctx.param(2);
        let mut blep = Blep::new();
        // The start from silence is a jump too.
        blep.step(pulse_at(0.0, width as f64), 0.0);
        Square {
            voice: Voice::new(ctx),
            phase: 0.0,
            width: Ramp::new(width),
            width_now: width,
            blep,
        }
    }

    /// Advance by `inc` cycles (|inc| ≤ ½), band-limiting the edges crossed.
    #[inline]
    fn advance(phase: &mut f64, inc: f64, width: f64, blep: &mut Blep) {
        let (a, b) = (*phase, *phase + inc);
        // No edge between this sample and the next (the usual case): for
        // `0 ≤ a < 1`, the edges at 0, 1 and `width` all lie outside (a, b].
        let quiet = if inc >= 0.0 {
            b < width || (a >= width && b < 1.0)
        } else {
            b >= width || (a < width && b >= 0.0)
        };
        if quiet {
            *phase = b;
        } else {
            Square::edges(phase, inc, width, blep);
        }
    }

    /// Every edge between the phase and the phase plus `inc`, either way
    /// (with FM through zero the waveform runs backwards: each edge jumps
    /// the other way); then the phase moves and wraps.
    #[cold]
    fn edges(phase: &mut f64, inc: f64, width: f64, blep: &mut Blep) {
        let (a, b) = (*phase, *phase + inc);
        let (lo, hi) = if inc > 0.0 { (a, b) } else { (b, a) };
        let direction = if inc > 0.0 { 1.0 } else { -1.0 };
        let mut n = floor(lo);
        while n <= hi {
            // A rise of 2 at each whole cycle, a fall of 2 at `width` past it.
            for (edge, height) in [(n, 2.0), (n + width, -2.0)] {
                if lo < edge && edge <= hi {
                    blep.step(direction * height, (b - edge) / inc);
                }
            }
            n += 1.0;
        }
        *phase = b - floor(b);
    }
}

impl Processor for Square {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            2 => self.width.set(value),
            _ => self.voice.set_param(index, value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let width = self.width.segment(io.frames());
        let Square {
            voice,
            phase,
            width_now,
            blep,
            ..
        } = self;
        if width.is_flat() && *width_now == width.at(0) {
            let w = f64::from(*width_now);
            run_oscillator(io, voice, |_, inc| {
                blep.add(pulse_at(*phase, w));
                let y = blep.pop();
                Square::advance(phase, inc, w, blep);
                y
            });
        } else {
            run_oscillator(io, voice, |k, inc| {
                let (from, to) = (f64::from(*width_now), f64::from(width.at(k)));
                // The falling edge moved with the width since the last
                // sample; if it swept across the phase, that is a jump too,
                // at the moment it passed.
                let jump = pulse_at(*phase, to) - pulse_at(*phase, from);
                if jump != 0.0 {
                    blep.step(jump, (to - *phase) / (to - from));
                }
                *width_now = width.at(k);
                blep.add(pulse_at(*phase, to));
                let y = blep.pop();
                Square::advance(phase, inc, to, blep);
                y
            });
        }
        self.width.finish();
    }
}

/// Triangle from an f64 phase: the naive waveform plus a band-limited ramp
/// residual ([`Blep::ramp`]) at each corner, placed at its sub-sample time.
pub struct Triangle {
    voice: Voice,
    phase: f64,
    blep: Blep,
}

/// The naive triangle at phase `p` (`0 ≤ p < 1`): 0 at 0, +1 at ¼, -1 at ¾.
#[inline]
fn triangle_at(p: f64) -> f64 {
    let q = p + 0.25;
    let q = if q >= 1.0 { q - 1.0 } else { q };
    1.0 - 4.0 * (q - 0.5).abs()
}

impl Triangle {
    fn new(ctx: &NodeContext) -> Self {
        let voice = Voice::new(ctx);
        let mut blep = Blep::new();
        // The start from silence is a corner: the slope jumps from 0.
        blep.ramp((4.0 * voice.increment(0.0)) as f32, 0.0);
        Triangle {
            voice,
            phase: 0.0,
            blep,
        }
    }

    /// Advance by `inc` cycles (|inc| ≤ ½), rounding the corners crossed:
    /// the peak at ¼ (the slope falls by 8|inc| per sample), the trough at
    /// ¾ (it rises); backwards too, for FM through zero.
    #[inline]
    fn advance(phase: &mut f64, inc: f64, blep: &mut Blep) {
        let (a, b) = (*phase, *phase + inc);
        if inc > 0.0 {
            for (corner, bend) in [(0.25, -8.0), (0.75, 8.0), (1.25, -8.0)] {
                if a < corner && corner <= b {
                    blep.ramp((bend * inc) as f32, (b - corner) / inc);
                }
            }
            *phase = if b >= 1.0 { b - 1.0 } else { b };
        } else if inc < 0.0 {
            for (corner, bend) in [(-0.25, 8.0), (0.25, -8.0), (0.75, 8.0)] {
                if b <= corner && corner < a {
                    blep.ramp((-bend * inc) as f32, (b - corner) / inc);
                }
            }
            *phase = if b < 0.0 { b + 1.0 } else { b };
        }
    }
}

impl Processor for Triangle {
    fn set_param(&mut self, index: usize, value: f32) {
        self.voice.set_param(index, value);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let (phase, blep) = (&mut self.phase, &mut self.blep);
        run_oscillator(io, &mut self.voice, |_, inc| {
            blep.add(triangle_at(*phase) as f32);
            let y = blep.pop();
            Triangle::advance(phase, inc, blep);
            y
        });
    }
}

/// PCG-XSH-RR, 64-bit state, 32-bit output (O'Neill, "PCG: A Family of
/// Simple Fast Space-Efficient Statistically Good Algorithms for Random
/// Number Generation", 2014).
pub(crate) struct Pcg32 {
    state: u64,
}

impl Pcg32 {
    const MULTIPLIER: u64 = 6_364_136_223_846_793_005;
    const INCREMENT: u64 = 1_442_695_040_888_963_407;

    /// The reference seeding procedure (`pcg32_srandom_r`).
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = Pcg32 { state: 0 };
        rng.next_u32();
        rng.state = rng.state.wrapping_add(seed);
        rng.next_u32();
        rng
    }

    fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(Self::MULTIPLIER).wrapping_add(Self::INCREMENT);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        xorshifted.rotate_right((old >> 59) as u32)
    }

    /// Uniform in [-1, 1), from the top 24 bits.
    pub(crate) fn next_bipolar(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
    }
}

/// Counter-based white noise: sample `n` is a bijective integer hash of
/// `n` under a key drawn from the seed, so no sample waits for the one
/// before it and a block's samples compute side by side in vector lanes
/// (a serial generator chains one multiply per sample). The counter's low
/// 32 bits go through the hash; every 2³² samples (a day at 48 kHz) the key
/// is redrawn from the seed and the high bits, so the noise never repeats.
pub(crate) struct CounterNoise {
    seed: u64,
    counter: u64,
    /// Odd, so multiplying by it permutes the counter.
    mul: u32,
    xor: u32,
    /// Whether this CPU has AVX2 (checked on the control thread).
    #[cfg(target_arch = "x86_64")]
    avx2: bool,
}

/// SplitMix64's output function (Steele, Lea, Flood, "Fast Splittable
/// Pseudorandom Number Generators", 2014): a full-avalanche 64-bit mix.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 32-bit bijective hash with near-ideal avalanche (C. Wellons,
/// "Prospecting for Hash Functions", 2018: the bias-0.107 two-multiply
/// constants).
#[inline(always)]
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x21f0_aaad);
    x ^= x >> 15;
    x = x.wrapping_mul(0xd35a_2d97);
    x ^ (x >> 15)
}

/// Samples `low + k` of the stream keyed by `(mul, xor)` into `span`, times
/// `amp` from its frame `offset` on.
#[inline(always)]
fn hash_run(span: &mut [f32], low: u32, (mul, xor): (u32, u32), amp: Segment, offset: usize) {
    let sample = |k: usize| {
        let bits = mix32(low.wrapping_add(k as u32).wrapping_mul(mul) ^ xor);
        (bits >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
    };
    if amp.is_flat() {
        let gain = amp.at(0);
        for (k, o) in span.iter_mut().enumerate() {
            *o = gain * sample(k);
        }
    } else {
        for (k, o) in span.iter_mut().enumerate() {
            *o = amp.at(offset + k) * sample(k);
        }
    }
}

/// [`hash_run`] in 8 lanes with AVX2's 32-bit multiply (SSE2 has none and
/// splits it in two): integer hashing, so the samples are the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hash_run_avx2(span: &mut [f32], low: u32, key: (u32, u32), amp: Segment, offset: usize) {
    hash_run(span, low, key, amp, offset);
}

impl CounterNoise {
    pub(crate) fn new(seed: u64) -> Self {
        let mut noise = CounterNoise {
            seed,
            counter: 0,
            mul: 0,
            xor: 0,
            #[cfg(target_arch = "x86_64")]
            avx2: std::arch::is_x86_feature_detected!("avx2"),
        };
        noise.rekey();
        noise
    }

    fn rekey(&mut self) {
        let key = splitmix64(self.seed ^ splitmix64(self.counter >> 32));
        self.mul = key as u32 | 1;
        self.xor = (key >> 32) as u32;
    }

    /// Fills `out` with uniform noise in [-1, 1) (top 24 bits) times `amp`.
    pub(crate) fn fill(&mut self, out: &mut [f32], amp: Segment) {
        let mut done = 0;
        while done < out.len() {
            let low = self.counter as u32;
            let run = (out.len() - done).min((u32::MAX - low) as usize + 1);
            let span = &mut out[done..done + run];
            let key = (self.mul, self.xor);
            #[cfg(target_arch = "x86_64")]
            if self.avx2 {
                // SAFETY: `avx2` is set only where the CPU has AVX2.
                unsafe { hash_run_avx2(span, low, key, amp, done) };
            } else {
                hash_run(span, low, key, amp, done);
            }
            #[cfg(not(target_arch = "x86_64"))]
            hash_run(span, low, key, amp, done);
            done += run;
            self.counter += run as u64;
            if self.counter as u32 == 0 {
                self.rekey();
            }
        }
    }
}

/// Seeded white noise.
pub struct Noise {
    amp: Ramp,
    seed: f32,
    source: CounterNoise,
}

impl Noise {
    fn new(ctx: &NodeContext) -> Self {
        Noise {
            amp: Ramp::new(ctx.param(0)),
            seed: ctx.param(1),
            source: CounterNoise::new(ctx.param(1) as u64),
        }
    }
}

impl Processor for Noise {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.amp.set(value),
            _ if value != self.seed => {
                self.seed = value;
                self.source = CounterNoise::new(value as u64);
            }
            _ => {}
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let amp = self.amp.segment(io.frames());
        self.source.fill(io.output(0, 0), amp);
        self.amp.finish();
    }
}

/// Pink noise: white noise through the "refined" pinking filter of Paul
/// Kellet (music-dsp mailing list, 1999; ±0.05 dB of -3 dB/octave above
/// 9.2 Hz at 44.1 kHz): six one-pole sections in parallel plus a direct and
/// a one-sample-delayed term. The filter is used as designed at every rate;
/// pink noise is self-similar, so at rate `r` it is pink from
/// 9.2 Hz × r / 44.1 kHz up, flattening below.
pub struct Pink {
    amp: Ramp,
    seed: f32,
    white: CounterNoise,
    state: [f32; 7],
}

/// Kellet's pole and gain for each one-pole section.
const PINK_POLES: [(f32, f32); 6] = [
    (0.99886, 0.055_517_9),
    (0.99332, 0.075_075_9),
    (0.96900, 0.153_852),
    (0.86650, 0.310_485_6),
    (0.55000, 0.532_952_2),
    (-0.7616, -0.016_898),
];
/// Scale that makes the filter's RMS gain for white noise 1 (the root of
/// the energy of its impulse response, 9.3179).
const PINK_SCALE: f32 = 0.327_597_4;

impl Pink {
    fn new(ctx: &NodeContext) -> Self {
        Pink {
            amp: Ramp::new(ctx.param(0)),
            seed: ctx.param(1),
            white: CounterNoise::new(ctx.param(1) as u64),
            state: [0.0; 7],
        }
    }
}

impl Processor for Pink {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.amp.set(value),
            _ if value != self.seed => {
                self.seed = value;
                self.white = CounterNoise::new(value as u64);
            }
            _ => {}
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let amp = self.amp.segment(io.frames());
        let b = &mut self.state;
        let out = io.output(0, 0);
        // The block's white noise first, in vector lanes; then the filter,
        // whose sections chain from sample to sample.
        self.white.fill(out, Segment::flat(1.0));
        for (k, o) in out.iter_mut().enumerate() {
            let white = *o;
            let mut sum = b[6] + white * 0.5362;
            for (s, &(pole, gain)) in b.iter_mut().zip(&PINK_POLES) {
                *s = pole * *s + gain * white;
                sum += *s;
            }
            b[6] = white * 0.115_926;
            *o = amp.at(k) * PINK_SCALE * sum;
        }
        self.amp.finish();
    }
}

/// The `value` parameter, ramped sample by sample.
pub struct Constant {
    value: Ramp,
}

impl Processor for Constant {
    fn set_param(&mut self, _index: usize, value: f32) {
        self.value.set(value);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let value = self.value.segment(io.frames());
        if value.is_flat() {
            // Until the value changes, the buffer holds it on every frame.
            io.rest(Rest::Hold);
        }
        let out = io.output(0, 0);
        if value.is_flat() {
            out.fill(value.at(0));
        } else {
            for (k, o) in out.iter_mut().enumerate() {
                *o = value.at(k);
            }
        }
        self.value.finish();
    }
}

/// 1.0 once, then zeros.
pub struct Impulse {
    fired: bool,
}

impl Processor for Impulse {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let out = io.output(0, 0);
        out.fill(0.0);
        if !self.fired
            && let Some(first) = out.first_mut()
        {
            *first = 1.0;
            self.fired = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CounterNoise;
    use crate::smooth::Ramp;
    use crate::testing::*;

    const SR: u32 = 48_000;

    /// Level (dB) of the strongest spectral component of `x` that is not
    /// within 25 Hz of a multiple of `f0` (nor below 25 Hz), relative to the
    /// fundamental.
    fn worst_inharmonic_db(x: &[f32], f0: f32, sample_rate: f32) -> (f32, f32) {
        let spectrum = magnitude_spectrum(x);
        let bin_hz = sample_rate / x.len() as f32;
        let fundamental = level_at(&spectrum, f0, sample_rate, x.len());
        let mut worst = (0.0, f32::NEG_INFINITY);
        for (i, &m) in spectrum.iter().enumerate() {
            let f = i as f32 * bin_hz;
            let harmonic = (f / f0).round() * f0;
            if f < 25.0 || (f - harmonic).abs() < 25.0 {
                continue;
            }
            let db = to_db(m) - fundamental;
            if db > worst.1 {
                worst = (f, db);
            }
        }
        worst
    }

    #[test]
    fn the_fast_floor_is_floor() {
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            2.75,
            -2.75,
            1e15 + 0.5,
            -1e-300,
            0.999_999_999_999,
        ] {
            assert_eq!(super::floor(x), x.floor(), "{x}");
        }
    }

    #[test]
    fn the_f32_sine_matches_the_library_sine() {
        let mut worst = 0.0f64;
        for i in 0..=100_000 {
            let p = i as f32 / 100_000.0;
            let exact = (p as f64 * std::f64::consts::TAU).sin();
            worst = worst.max((super::sin_cycles_f32(p) as f64 - exact).abs());
        }
        assert!(worst < 3e-7, "{worst}");
    }

    #[test]
    fn sine_pitch_matches_its_parameter() {
        let out = render_source("sine", &[("freq", 440.0)], 48_000, SR);
        let f = peak_frequency(&out, 48_000.0);
        assert!((f - 440.0).abs() < 0.44, "measured {f}");
        assert!((rms(&out) - 0.5f32.sqrt()).abs() < 1e-3);
    }

    #[test]
    fn saw_and_square_pitch_within_a_thousandth() {
        for kind in ["saw", "square"] {
            for (freq, rate) in [
                (440.0, 48_000),
                (1234.5, 44_100),
                (97.0, 96_000),
                (3000.0, 22_050),
            ] {
                let out = render_source(kind, &[("freq", freq)], rate as usize, rate);
                let f = peak_frequency(&out, rate as f32) as f64;
                assert!(
                    (f - freq).abs() < freq * 1e-3,
                    "{kind} at {freq} Hz, {rate} Hz: measured {f}"
                );
            }
        }
    }

    #[test]
    fn a_5khz_saw_has_every_alias_40db_below_the_fundamental() {
        let out = render_source("saw", &[("freq", 5000.0)], 48_000 + 64, SR);
        let x = &out[64..];
        let (f, db) = worst_inharmonic_db(x, 5000.0, 48_000.0);
        assert!(
            db < -40.0,
            "alias at {f} Hz is only {db:.1} dB below the fundamental"
        );
        // A sawtooth's harmonics fall as 1/k: the 2nd is 6 dB under the 1st.
        let s = magnitude_spectrum(x);
        let h2 = level_at(&s, 10_000.0, 48_000.0, x.len()) - level_at(&s, 5000.0, 48_000.0, x.len());
        assert!((h2 + 6.02).abs() < 0.5, "2nd harmonic at {h2} dB");
    }

    #[test]
    fn square_and_pulse_are_alias_free_and_have_their_width() {
        for width in [0.5, 0.25, 0.1] {
            let out = render_source("square", &[("freq", 5000.0), ("width", width)], 48_000 + 64, SR);
            let x = &out[64..];
            let (f, db) = worst_inharmonic_db(x, 5000.0, 48_000.0);
            assert!(db < -40.0, "width {width}: alias at {f} Hz, {db:.1} dB");
            // High for `width` of the time: the mean is 2 width - 1.
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
            assert!(
                (mean - (2.0 * width - 1.0)).abs() < 1e-3,
                "width {width}: mean {mean}"
            );
        }
        // A square (width 0.5) has no even harmonics.
        let out = render_source("square", &[("freq", 1000.0)], 48_000, SR);
        let s = magnitude_spectrum(&out);
        let h2 = level_at(&s, 2000.0, 48_000.0, out.len()) - level_at(&s, 1000.0, 48_000.0, out.len());
        assert!(h2 < -80.0, "2nd harmonic at {h2} dB");
        // Band-limited edges ring (Gibbs): about 9% of the jump of 2 over the top.
        let top = peak(&out[100..]);
        assert!(top > 1.1 && top < 1.2, "peak {top}");
    }

    #[test]
    fn oscillators_follow_linear_fm() {
        // A 440 Hz saw whose fm input is a constant +110 Hz plays 550 Hz.
        let mut patch = Patch::default();
        patch.nodes.push(node("dev", "constant", &[("value", 110.0)]));
        patch.nodes.push(node("osc", "saw", &[("freq", 440.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("dev.out", "osc.fm").connect("osc.out", "out.in");
        let (left, _) = render_patch(&patch, 48_000, SR);
        let f = peak_frequency(&left, 48_000.0);
        assert!((f - 550.0).abs() < 0.55, "measured {f}");
    }

    #[test]
    fn fm_through_zero_runs_the_waveform_backwards_still_band_limited() {
        // 440 Hz - 1500 Hz of deviation: the phase runs backwards at 1060 Hz.
        for kind in ["saw", "square"] {
            let mut patch = Patch::default();
            patch.nodes.push(node("dev", "constant", &[("value", -1500.0)]));
            patch.nodes.push(node("osc", kind, &[("freq", 440.0)]));
            patch.nodes.push(node("out", "output", &[]));
            patch.connect("dev.out", "osc.fm").connect("osc.out", "out.in");
            let (left, _) = render_patch(&patch, 48_064, SR);
            let x = &left[64..];
            let f = peak_frequency(x, 48_000.0);
            assert!((f - 1060.0).abs() < 1.06, "{kind}: measured {f}");
            let (at, db) = worst_inharmonic_db(x, 1060.0, 48_000.0);
            assert!(db < -40.0, "{kind}: alias at {at} Hz, {db:.1} dB");
        }
    }

    #[test]
    fn noise_is_uniform_white_and_seeded() {
        let n = 1 << 18;
        let a = render_source("noise", &[("seed", 7.0)], n, SR);
        // Uniform in -1..1 has an RMS of 1/sqrt(3).
        assert!((rms(&a) - 3f32.sqrt().recip()).abs() < 3e-3, "rms {}", rms(&a));
        assert!(peak(&a) <= 1.0);
        // Flat: mean power per bin is the same in four bands.
        let s = magnitude_spectrum(&a);
        let bin_hz = 48_000.0 / n as f32;
        let band = |lo: f32, hi: f32| {
            let bins = &s[(lo / bin_hz) as usize..(hi / bin_hz) as usize];
            to_db((bins.iter().map(|&m| m as f64 * m as f64).sum::<f64>() / bins.len() as f64).sqrt() as f32)
        };
        let bands = [
            band(50.0, 500.0),
            band(500.0, 2000.0),
            band(2000.0, 8000.0),
            band(8000.0, 23_000.0),
        ];
        for b in bands {
            assert!((b - bands[3]).abs() < 0.5, "band levels {bands:?}");
        }
        assert_eq!(
            a,
            render_source("noise", &[("seed", 7.0)], n, SR),
            "same seed, same noise"
        );
        let b = render_source("noise", &[("seed", 8.0)], n, SR);
        assert!(
            a.iter().zip(&b).filter(|(x, y)| x != y).count() > n - 100,
            "different seed"
        );
        // White and independent: no correlation between neighbouring
        // samples, nor between the streams of neighbouring seeds (the
        // standard error of each figure is 1/sqrt(n) = 0.002).
        let correlation = |x: &[f32], y: &[f32]| {
            let dot: f64 = x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum();
            dot / (x.len() as f64 / 3.0)
        };
        for lag in 1..=32 {
            let r = correlation(&a[lag..], &a[..n - lag]);
            assert!(r.abs() < 0.01, "lag {lag}: {r}");
        }
        let r = correlation(&a, &b);
        assert!(r.abs() < 0.01, "seeds 7 and 8: {r}");
    }

    #[test]
    fn noise_rekeys_when_its_counter_wraps_past_a_day() {
        let flat = super::Segment::flat(1.0);
        let near_wrap = || {
            let mut noise = CounterNoise::new(3);
            noise.counter = (1 << 32) - 20;
            noise
        };
        let mut whole = [0.0; 64];
        near_wrap().fill(&mut whole, flat);
        let mut one_by_one = near_wrap();
        let stepped: Vec<f32> = (0..64)
            .map(|_| {
                let mut x = [0.0];
                one_by_one.fill(&mut x, flat);
                x[0]
            })
            .collect();
        assert_eq!(whole.to_vec(), stepped, "a block split at the wrap is seamless");
        let mut first_day = [0.0; 44];
        CounterNoise::new(3).fill(&mut first_day, flat);
        let differing = whole[20..].iter().zip(&first_day).filter(|(x, y)| x != y).count();
        assert_eq!(differing, 44, "the second day does not replay the first");
    }

    #[test]
    fn noise_on_any_cpu_is_the_plain_hash_bit_for_bit() {
        // `fill` takes the AVX2 path where the CPU has it (as here):
        // integer hashing and the same float steps give the same bits as
        // the plain loop.
        let mut gliding = Ramp::new(0.25);
        gliding.set(0.75);
        for amp in [Ramp::new(0.5).segment(100), gliding.segment(100)] {
            let mut noise = CounterNoise::new(3);
            let key = (noise.mul, noise.xor);
            let (mut filled, mut plain) = ([0.0; 100], [0.0; 100]);
            noise.fill(&mut filled, amp);
            super::hash_run(&mut plain, 0, key, amp, 0);
            assert_eq!(filled, plain);
        }
    }

    #[test]
    fn constant_outputs_its_value_and_impulse_fires_once() {
        let c = render_source("constant", &[("value", -2.5)], 1000, SR);
        assert!(c.iter().all(|&v| v == -2.5));
        let i = render_source("impulse", &[], 1000, SR);
        assert_eq!(i[0], 1.0);
        assert!(i[1..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn a_constant_and_the_gains_folded_on_it_play_what_they_compute_every_block() {
        // A constant skips blocks while it holds, and gains fed only by it
        // fold (the runtime skips them too). Behind an `add` (a node that
        // never rests, here adding nothing), the gains run every block.
        // Both must be the same, bit for bit, through timed changes.
        let chain = |behind_add: bool| {
            let mut patch = Patch::default();
            patch.nodes.push(node("c", "constant", &[("value", 0.5)]));
            let mut from = "c.out".to_string();
            if behind_add {
                patch.nodes.push(node("add", "add", &[]));
                patch.connect(&from, "add.a");
                from = "add.out".to_string();
            }
            for g in 0..3 {
                patch.nodes.push(node(&format!("g{g}"), "gain", &[]));
                patch.connect(&from, &format!("g{g}.in"));
                from = format!("g{g}.out");
            }
            patch.nodes.push(node("out", "output", &[]));
            patch.connect(&from, "out.in");
            patch
        };
        let (own, rewritten) = (chain(false), chain(true));
        let changes = [(640, 1.0), (1300, -0.25), (1310, 0.3), (3000, 0.75)].map(|(frame, value)| Change {
            frame,
            node: "c",
            param: "value",
            value,
        });
        for block in [64, 100] {
            let (a, _) = render_patch_with(&own, 5000, SR, block, &changes);
            let (b, _) = render_patch_with(&rewritten, 5000, SR, block, &changes);
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "block {block}"
            );
            assert_eq!((a[500], a[4999]), (0.5, 0.75), "block {block}");
        }
    }

    #[test]
    fn triangle_is_in_tune_alias_free_and_falls_as_one_over_k_squared() {
        for (freq, rate) in [(440.0, 48_000), (1234.5, 44_100), (3000.0, 22_050)] {
            let out = render_source("triangle", &[("freq", freq)], rate as usize, rate);
            let f = peak_frequency(&out, rate as f32) as f64;
            assert!((f - freq).abs() < freq * 1e-3, "{freq} Hz at {rate}: {f}");
        }
        let out = render_source("triangle", &[("freq", 5000.0)], 48_000 + 64, SR);
        let x = &out[64..];
        let (f, db) = worst_inharmonic_db(x, 5000.0, 48_000.0);
        assert!(db < -40.0, "alias at {f} Hz, {db:.1} dB");
        let out = render_source("triangle", &[("freq", 1000.0)], 48_000, SR);
        let s = magnitude_spectrum(&out);
        let at = |f: f32| level_at(&s, f, 48_000.0, out.len());
        // Odd harmonics at 1/k² (-19.08 dB for the 3rd), no even ones.
        assert!(
            (at(3000.0) - at(1000.0) + 19.08).abs() < 0.1,
            "{}",
            at(3000.0) - at(1000.0)
        );
        assert!(at(2000.0) - at(1000.0) < -80.0);
        // The fundamental of a unit triangle is 8/π² (-1.82 dB).
        assert!((at(1000.0) + 1.82).abs() < 0.05, "{}", at(1000.0));
        // Band-limiting rounds the tips a little (the harmonics above
        // 0.44 × rate carry about 2% of the amplitude).
        assert!((peak(&out[100..]) - 0.98).abs() < 0.01, "{}", peak(&out[100..]));
    }

    #[test]
    fn triangle_fm_through_zero_stays_band_limited() {
        let mut patch = Patch::default();
        patch.nodes.push(node("dev", "constant", &[("value", -1500.0)]));
        patch.nodes.push(node("osc", "triangle", &[("freq", 440.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("dev.out", "osc.fm").connect("osc.out", "out.in");
        let (left, _) = render_patch(&patch, 48_064, SR);
        let x = &left[64..];
        assert!((peak_frequency(x, 48_000.0) - 1060.0).abs() < 1.06);
        let (at, db) = worst_inharmonic_db(x, 1060.0, 48_000.0);
        assert!(db < -40.0, "alias at {at} Hz, {db:.1} dB");
    }

    #[test]
    fn pink_noise_has_equal_power_per_octave() {
        for rate in [48_000u32, 96_000, 22_050] {
            let n = 1 << 19;
            let x = render_source("pink", &[("seed", 3.0)], n, rate);
            assert!(
                (rms(&x) - 3f32.sqrt().recip()).abs() < 0.03,
                "{rate}: rms {}",
                rms(&x)
            );
            let s = magnitude_spectrum(&x);
            let bin_hz = rate as f32 / n as f32;
            let octave = |lo: f32| {
                let bins = &s[(lo / bin_hz) as usize..(2.0 * lo / bin_hz) as usize];
                10.0 * (bins.iter().map(|&m| m as f64 * m as f64).sum::<f64>()).log10() as f32
            };
            let bands: Vec<f32> = [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0]
                .into_iter()
                .filter(|&lo| 2.0 * lo < 0.4 * rate as f32)
                .map(octave)
                .collect();
            for b in &bands {
                assert!((b - bands[0]).abs() < 0.5, "{rate}: octave powers {bands:?}");
            }
        }
        let a = render_source("pink", &[("seed", 3.0)], 4096, SR);
        assert_eq!(a, render_source("pink", &[("seed", 3.0)], 4096, SR));
        assert_ne!(a, render_source("pink", &[("seed", 4.0)], 4096, SR));
    }
}
