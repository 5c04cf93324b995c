//! Distortion: a waveshaper (tanh, hard clip, foldback) with optional 2× or
//! 4× oversampling through polyphase half-band FIR filters, and a
//! bitcrusher (bit depth and sample-rate reduction).

use std::f64::consts::PI;

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

use crate::db_to_gain;
use crate::delay::DelayLine;
use crate::fx::Duck;
use crate::smooth::{Ramp, Segment};

// ---------------------------------------------------------------------------
// Half-band oversampling

/// Unique coefficients of the first (base rate ↔ 2×) half-band filter:
/// 63 taps, 80 dB stopband above 0.29 of the doubled rate, flat within
/// 0.001 dB to 0.21 (20 kHz at 48 kHz).
const STAGE1: usize = 16;
/// Kaiser window β of the first stage.
const STAGE1_BETA: f64 = 8.0;
/// Unique coefficients of the second (2× ↔ 4×) half-band: 23 taps; its
/// transition band is wide (0.10 to 0.40 of the quadrupled rate).
const STAGE2: usize = 6;
/// Kaiser window β of the second stage.
const STAGE2_BETA: f64 = 7.0;
/// Latency of 2× oversampling in samples: up and down filters each delay
/// by half their length, `2·(2N-1)` samples at 2×, `2N - 1` at the base rate.
const LATENCY_2X: usize = 2 * STAGE1 - 1;
/// Latency of 4×: the first stage's, plus the second stage's `2N - 1`
/// samples at 2× padded by one to a whole number of base samples.
const LATENCY_4X: usize = LATENCY_2X + STAGE2;

/// `h[2i]`, `i < n`, of a half-band low-pass of `4n - 1` taps: a windowed
/// sinc cut at a quarter of the (oversampled) rate, Kaiser window of `beta`
/// (J. F. Kaiser, "Nonrecursive digital filter design using the I0-sinh
/// window function", 1974). Every other tap of a half-band filter is zero
/// and the centre one is 1/2 (M. Bellanger et al., "Interpolation,
/// extrapolation, and reduction of computation speed in digital filters",
/// IEEE TASSP 1974), so only these `n` (mirrored) carry information; they
/// are scaled to sum to 1/4 so the filter passes DC at unit gain.
fn halfband<const N: usize>(beta: f64) -> [f32; N] {
    let i0 = |x: f64| {
        let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
        while term > 1e-12 * sum {
            term *= (x / (2.0 * k)).powi(2);
            sum += term;
            k += 1.0;
        }
        sum
    };
    let centre = (2 * N - 1) as f64;
    let taps: Vec<f64> = (0..N)
        .map(|i| {
            let offset = 2.0 * i as f64 - centre;
            let sinc = (PI * offset / 2.0).sin() / (PI * offset / 2.0);
            let window = i0(beta * (1.0 - (offset / centre).powi(2)).max(0.0).sqrt()) / i0(beta);
            0.5 * sinc * window
        })
        .collect();
    let scale = 0.25 / taps.iter().sum::<f64>();
    std::array::from_fn(|i| (taps[i] * scale) as f32)
}

/// The last `2N` samples of a signal, newest first, stored twice so that
/// they are always one contiguous slice.
struct History<const N: usize> {
    data: Box<[f32]>,
    pos: usize,
}

impl<const N: usize> History<N> {
    fn new() -> Self {
        History {
            data: vec![0.0; 4 * N].into_boxed_slice(),
            pos: 0,
        }
    }

    /// Add `x`; returns the window `[x[n], x[n-1], ..., x[n-2N+1]]`.
    #[inline]
    fn push(&mut self, x: f32) -> &[f32] {
        self.pos = if self.pos == 0 { 2 * N - 1 } else { self.pos - 1 };
        self.data[self.pos] = x;
        self.data[self.pos + 2 * N] = x;
        &self.data[self.pos..self.pos + 2 * N]
    }

    fn clear(&mut self) {
        self.data.fill(0.0);
    }
}

/// The symmetric half of a half-band convolution:
/// `Σ c[i]·(w[i] + w[2N-1-i])`.
#[inline]
fn fold<const N: usize>(c: &[f32; N], w: &[f32]) -> f32 {
    let w = &w[..2 * N];
    let mut acc = 0.0;
    for i in 0..N {
        acc += c[i] * (w[i] + w[2 * N - 1 - i]);
    }
    acc
}

/// A 2× polyphase half-band interpolator and decimator pair (one channel).
/// Per input sample the interpolator gives two: the first is the filter's
/// long phase (the new in-between sample), the second the centre tap alone
/// (the input, `N - 1` samples late). The decimator takes two and gives
/// one: the long phase over the first of each pair plus half the second.
/// Up then down delays by `2N - 1` input samples.
struct Halfband<const N: usize> {
    coeffs: [f32; N],
    up: History<N>,
    down_first: History<N>,
    down_second: History<N>,
}

impl<const N: usize> Halfband<N> {
    fn new(coeffs: [f32; N]) -> Self {
        Halfband {
            coeffs,
            up: History::new(),
            down_first: History::new(),
            down_second: History::new(),
        }
    }

    #[inline]
    fn up(&mut self, x: f32) -> [f32; 2] {
        let w = self.up.push(x);
        // Zero-stuffing halves the level; the interpolator gains 2.
        [2.0 * fold(&self.coeffs, w), w[N - 1]]
    }

    #[inline]
    fn down(&mut self, first: f32, second: f32) -> f32 {
        let long = fold(&self.coeffs, self.down_first.push(first));
        long + 0.5 * self.down_second.push(second)[N]
    }

    fn clear(&mut self) {
        self.up.clear();
        self.down_first.clear();
        self.down_second.clear();
    }
}

// ---------------------------------------------------------------------------
// Waveshaper

/// The waveshaper's curves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Tanh,
    Hard,
    Fold,
}

/// The waveshaper's oversampling factors.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Factor {
    One,
    Two,
    Four,
}

impl Factor {
    fn of(choice: f32) -> Factor {
        match choice as u32 {
            0 => Factor::One,
            1 => Factor::Two,
            _ => Factor::Four,
        }
    }

    fn latency(self) -> usize {
        match self {
            Factor::One => 0,
            Factor::Two => LATENCY_2X,
            Factor::Four => LATENCY_4X,
        }
    }
}

fn shape_of(choice: f32) -> Shape {
    match choice as u32 {
        0 => Shape::Tanh,
        1 => Shape::Hard,
        _ => Shape::Fold,
    }
}

/// Index of the `oversample` parameter.
const OVERSAMPLE: usize = 3;

/// `waveshaper`: tanh / hard clip / foldback with drive.
pub static WAVESHAPER: NodeDescriptor = NodeDescriptor {
    kind: "waveshaper",
    category: "distortion",
    summary: "Waveshaper: drives the signal into a tanh saturator, a hard clipper or a foldback curve, \
              optionally at 2× or 4× the sample rate so the harmonics above Nyquist do not fold back as aliases.",
    inputs: &[PortSpec::audio("in", "Signal to distort.").follows()],
    outputs: &[PortSpec::audio("out", "Distorted signal.").follows()],
    params: &[
        ParamSpec::choice("shape", &["tanh", "hard", "fold"], 0).doc(
            "Curve: tanh (smooth saturation, odd harmonics), hard (clips at ±1, never beyond), \
             fold (reflects back from ±1: bright, metallic); switching fades out and in over 6 ms.",
        ),
        ParamSpec::new("drive", 0.0, 48.0, 12.0)
            .unit(Unit::Db)
            .doc("Gain before the curve in dB: more drive, more distortion."),
        ParamSpec::new("level", -60.0, 12.0, 0.0)
            .unit(Unit::Db)
            .doc("Gain after the curve in dB; with `hard` the output never exceeds this level."),
        ParamSpec::choice("oversample", &["off", "2x", "4x"], 0).doc(
            "Run the curve at 2× or 4× the rate (63- and 23-tap half-band FIRs, 80 dB stopband): 31 or 37 samples \
             of latency, which the patch compensates on parallel paths. Switching fades out and in; a higher \
             factor than the patch was built with adds its extra latency until the patch is reloaded.",
        ),
    ],
    settings: &[],
    channels_param: None,
    latency: |ctx| Factor::of(ctx.param(OVERSAMPLE)).latency(),
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Waveshaper::new(ctx)),
};

/// `tanh(x)` within 2e-7, from `1 - 2/(e^{2x} + 1)` with `2^t` computed as
/// `2^round(t)` (exponent bits) times a degree-6 Taylor polynomial of
/// `2^f`, `|f| ≤ 1/2`. Several times faster than the C library's `tanhf`
/// and vectorisable.
#[inline]
fn fast_tanh(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2: f32 = std::f32::consts::LN_2;
    // A select, which maps NaN to 10 too (and compiles to one `min`).
    let a = x.abs();
    let a = if a <= 10.0 { a } else { 10.0 };
    let t = 2.0 * LOG2_E * a;
    // SAFETY: `t + 0.5` is finite and within 0..30.
    let i = unsafe { (t + 0.5).to_int_unchecked::<i32>() };
    let f = (t - i as f32) * LN2;
    // Estrin's scheme: the same polynomial as a shallower tree of operations.
    let f2 = f * f;
    let p = (1.0 + f)
        + f2 * ((0.5 + f * (1.0 / 6.0)) + f2 * ((1.0 / 24.0 + f * (1.0 / 120.0)) + f2 * (1.0 / 720.0)));
    let e = p * f32::from_bits(((i + 127) as u32) << 23);
    (1.0 - 2.0 / (e + 1.0)).copysign(x)
}

/// Fold a value back and forth between -1 and 1: a triangle wave of
/// period 4 that is the identity on -1..1 (the classic foldback of
/// analog wavefolders).
#[inline]
fn foldback(x: f32) -> f32 {
    // Selects, which map NaN into range too.
    let x = if x >= -1e6 { x } else { -1e6 };
    let u = ((if x <= 1e6 { x } else { 1e6 }) + 1.0) * 0.25;
    // SAFETY: `u` is finite and within ±250001.
    let t = unsafe { u.to_int_unchecked::<i32>() } as f32;
    let floor = if t > u { t - 1.0 } else { t };
    1.0 - 4.0 * (u - floor - 0.5).abs()
}

/// What one call of the waveshaper does to each channel.
#[derive(Clone, Copy)]
struct Run {
    factor: Factor,
    /// Clamp the decimated result to ±1 again.
    clip: bool,
    drive: Segment,
    level: Segment,
}

impl Run {
    /// One channel through the curve `f` at 1×, 2× or 4× the rate. The
    /// curve's type is a parameter, so each (curve, factor) pair compiles
    /// to its own loop; at 1× with steady gains it vectorises.
    #[inline(always)]
    fn channel<F: Fn(f32) -> f32 + Copy>(self, c: &mut ShaperChannel, f: F, input: &[f32], out: &mut [f32]) {
        let Run {
            factor,
            clip,
            drive,
            level,
        } = self;
        // Held where the filters cannot overflow, far beyond any curve's knee.
        let pre = |x: f32| x.clamp(-1e6, 1e6);
        // The decimators ring up to 8 % beyond the curve; a hard clip
        // promises its level, so it is clamped again.
        let post = |y: f32| if clip { y.clamp(-1.0, 1.0) } else { y };
        match factor {
            Factor::One if drive.is_flat() && level.is_flat() => {
                let (g, l) = (drive.at(0), level.at(0));
                for (o, &x) in out.iter_mut().zip(input) {
                    *o = l * f(pre(x * g));
                }
            }
            Factor::One => {
                for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                    *o = level.at(k) * f(pre(x * drive.at(k)));
                }
            }
            Factor::Two => {
                for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                    let [a, b] = c.first.up(pre(x * drive.at(k)));
                    *o = level.at(k) * post(c.first.down(f(a), f(b)));
                }
            }
            Factor::Four => {
                for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                    let [a, b] = c.first.up(pre(x * drive.at(k)));
                    let [a0, a1] = c.second.up(a);
                    let [b0, b1] = c.second.up(b);
                    let p = c.second.down(f(a0), f(a1));
                    let q = c.second.down(f(b0), f(b1));
                    let held = std::mem::replace(&mut c.held, q);
                    *o = level.at(k) * post(c.first.down(held, p));
                }
            }
        }
    }
}

/// One channel's oversampling filters and latency pad.
struct ShaperChannel {
    first: Halfband<STAGE1>,
    second: Halfband<STAGE2>,
    /// The 4× path's last 2×-rate sample, held back one 2× sample.
    held: f32,
    pad: DelayLine,
}

/// A memoryless waveshaper run at 1×, 2× or 4× the sample rate. The
/// oversampled paths interpolate with polyphase half-band FIRs, apply the
/// curve, and decimate with the same filters (the standard remedy for the
/// aliasing of nonlinearities: J. Pekonen, V. Välimäki et al., "Aliasing
/// reduction in clipped signals", IEEE TSP 2016, and Esqueda, Bilbao and
/// Välimäki's survey of antialiased nonlinearities; the polyphase
/// half-band structure after Bellanger 1974). `hard` is clamped once more
/// after decimation, so the filters' ringing never exceeds the clip level.
pub struct Waveshaper {
    shape: Shape,
    factor: Factor,
    pending: (Shape, Factor),
    duck: Duck,
    drive: Ramp,
    level: Ramp,
    channels: Vec<ShaperChannel>,
    /// The latency the patch was compiled with.
    declared: usize,
}

impl Waveshaper {
    fn new(ctx: &NodeContext) -> Self {
        let (first, second) = (halfband::<STAGE1>(STAGE1_BETA), halfband::<STAGE2>(STAGE2_BETA));
        let (shape, factor) = (shape_of(ctx.param(0)), Factor::of(ctx.param(OVERSAMPLE)));
        Waveshaper {
            shape,
            factor,
            pending: (shape, factor),
            duck: Duck::new(ctx.sample_rate),
            drive: Ramp::new(db_to_gain(ctx.param(1))),
            level: Ramp::new(db_to_gain(ctx.param(2))),
            channels: (0..ctx.channels)
                .map(|_| ShaperChannel {
                    first: Halfband::new(first),
                    second: Halfband::new(second),
                    held: 0.0,
                    pad: DelayLine::new(LATENCY_4X),
                })
                .collect(),
            declared: factor.latency(),
        }
    }
}

impl Processor for Waveshaper {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.pending.0 = shape_of(value),
            1 => self.drive.set(db_to_gain(value)),
            2 => self.level.set(db_to_gain(value)),
            _ => self.pending.1 = Factor::of(value),
        }
        if self.pending != (self.shape, self.factor) {
            self.duck.request();
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        if self.duck.silent() {
            let refill = self.pending.1 != self.factor;
            (self.shape, self.factor) = self.pending;
            if refill {
                // The new path's filters start empty: wait until the signal
                // fills them before fading in, or their first response
                // (a step from silence) would be heard.
                for c in &mut self.channels {
                    c.first.clear();
                    c.second.clear();
                    c.held = 0.0;
                }
                self.duck.resume_after(2 * self.factor.latency() + 8);
            } else {
                self.duck.resume();
            }
        }
        let frames = io.frames();
        let (drive, level) = (self.drive.segment(frames), self.level.segment(frames));
        let (shape, factor) = (self.shape, self.factor);
        // Modes faster than the one compiled for wait for it.
        let pad = self.declared.saturating_sub(factor.latency());
        for (ch, c) in self.channels.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            let run = Run {
                factor,
                clip: shape == Shape::Hard,
                drive,
                level,
            };
            match shape {
                Shape::Tanh => run.channel(c, fast_tanh, input, out),
                Shape::Hard => run.channel(c, |x| x.clamp(-1.0, 1.0), input, out),
                Shape::Fold => run.channel(c, foldback, input, out),
            }
            if pad > 0 {
                for o in out.iter_mut() {
                    c.pad.write(*o);
                    *o = c.pad.at(pad);
                    c.pad.advance();
                }
            }
            if !self.duck.idle() {
                self.duck.apply(out);
            }
        }
        self.duck.advance(frames);
        self.drive.finish();
        self.level.finish();
    }
}

// ---------------------------------------------------------------------------
// Bitcrusher

/// `bitcrusher`: fewer bits, lower sample rate.
pub static BITCRUSHER: NodeDescriptor = NodeDescriptor {
    kind: "bitcrusher",
    category: "distortion",
    summary: "Bitcrusher: rounds the signal to fewer bits and holds it at a lower sample rate, for the \
              grit and aliasing of early digital audio.",
    inputs: &[PortSpec::audio("in", "Signal to crush.").follows()],
    outputs: &[PortSpec::audio("out", "Crushed signal, mixed with the input.").follows()],
    params: &[
        ParamSpec::new("bits", 1.0, 24.0, 8.0).doc(
            "Bit depth: the range -1..1 is rounded to 2^bits levels (16 at 4 bits, like signed PCM); \
             fractional values give in-between step sizes.",
        ),
        ParamSpec::new("rate", 100.0, 192_000.0, 11_025.0)
            .unit(Unit::Hz)
            .log()
            .doc("Sample-and-hold rate in Hz: the input is sampled this often and held; at or above the sample rate nothing is held."),
        ParamSpec::new("mix", 0.0, 1.0, 1.0)
            .unit(Unit::Percent)
            .doc("Dry/wet balance (linear): 0 = input only, 1 = crushed only."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Bitcrusher::new(ctx)),
};

/// Bit-depth reduction by rounding to a mid-tread grid of step
/// `2^(1 - bits)` clipped to the signed range `[-1, 1 - step]` (two's
/// complement PCM), and rate reduction by sample-and-hold driven by a
/// phase accumulator, so any hold rate is kept on average (no
/// anti-aliasing: the aliasing is the sound). See U. Zölzer, "DAFX",
/// 2nd ed., §4.3 on quantization.
pub struct Bitcrusher {
    sample_rate: f64,
    /// Quantisation step and its inverse.
    step: f32,
    inv_step: f32,
    /// Hold phase (turns) and its increment per sample.
    phase: f64,
    inc: f64,
    held: Vec<f32>,
    mix: Ramp,
}

impl Bitcrusher {
    fn new(ctx: &NodeContext) -> Self {
        let mut b = Bitcrusher {
            sample_rate: ctx.sample_rate as f64,
            step: 1.0,
            inv_step: 1.0,
            // The first sample is taken at once.
            phase: 1.0,
            inc: 1.0,
            held: vec![0.0; ctx.channels],
            mix: Ramp::new(ctx.param(2)),
        };
        b.set_param(0, ctx.param(0));
        b.set_param(1, ctx.param(1));
        b
    }
}

/// Round `x` (held in -1..1) to the nearest multiple of `step`, halves
/// up, and clip to the signed range `[-1, 1 - step]`. Floor by truncation
/// rather than a library call, so a block of it vectorises.
#[inline]
fn quantize(x: f32, step: f32, inv_step: f32) -> f32 {
    // Selects, which map NaN into range too.
    let x = if x >= -1.0 { x } else { -1.0 };
    let v = (if x <= 1.0 { x } else { 1.0 }) * inv_step + 0.5;
    // SAFETY: `v` is finite and within ±(2^23 + 1).
    let t = unsafe { v.to_int_unchecked::<i32>() } as f32;
    let q = if t > v { t - 1.0 } else { t };
    (q * step).min(1.0 - step)
}

impl Processor for Bitcrusher {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => {
                self.step = (1.0 - value.clamp(1.0, 24.0)).exp2();
                self.inv_step = 1.0 / self.step;
            }
            1 => self.inc = value as f64 / self.sample_rate,
            _ => self.mix.set(value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let mix = self.mix.segment(frames);
        let channels = self.held.len().min(io.output_channels(0));
        let (step, inv_step, inc) = (self.step, self.inv_step, self.inc);
        let crush = |x: f32| quantize(x, step, inv_step);
        if inc >= 1.0 {
            // Every sample is taken: rounding only, on whole slices.
            for ch in 0..channels {
                let input = io.input(0, ch);
                let out = io.output(0, ch);
                if mix.is_flat() {
                    let m = mix.at(0);
                    for (o, &x) in out.iter_mut().zip(input) {
                        *o = (1.0 - m) * x + m * crush(x);
                    }
                } else {
                    for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                        let m = mix.at(k);
                        *o = (1.0 - m) * x + m * crush(x);
                    }
                }
                if let Some(&x) = input.last() {
                    self.held[ch] = crush(x);
                }
            }
            // Whatever the rate becomes, the next sample is taken at once.
            self.phase = 1.0;
        } else {
            let mut phase = self.phase;
            for ch in 0..channels {
                let input = io.input(0, ch);
                let out = io.output(0, ch);
                let mut held = self.held[ch];
                phase = self.phase;
                for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                    if phase >= 1.0 {
                        // `inc` < 1 keeps the phase below 2.
                        phase -= 1.0;
                        held = crush(x);
                    }
                    phase += inc;
                    let m = mix.at(k);
                    *o = (1.0 - m) * x + m * held;
                }
                self.held[ch] = held;
            }
            if channels == 0 {
                for _ in 0..frames {
                    if phase >= 1.0 {
                        phase -= 1.0;
                    }
                    phase += inc;
                }
            }
            self.phase = phase;
        }
        self.mix.finish();
    }
}

#[cfg(test)]
mod tests {
    use patchbay_core::NodeContext;

    use super::*;
    use crate::fx::measure::*;
    use crate::testing::*;

    const SR: u32 = 48_000;

    /// `frames` of a sine through a node; returns what comes out.
    fn sine_through(freq: f64, amp: f64, kind: &str, params: &[(&str, f64)], frames: usize) -> Vec<f32> {
        render_node("sine", &[("freq", freq), ("amp", amp)], kind, params, frames)
    }

    /// Amplitude in dB of every harmonic `k·freq` below Nyquist of one
    /// second of `x` (a whole number of periods: no window needed).
    fn harmonics_db(x: &[f32], freq: f64) -> Vec<(usize, f64)> {
        let n = SR as usize;
        let db = response_db(&x[..n], n);
        let scale = 20.0 * (2.0 / n as f64).log10();
        (1..)
            .map(|k| (k, k as f64 * freq))
            .take_while(|&(_, f)| f < SR as f64 / 2.0)
            .map(|(k, f)| (k, db[f as usize] + scale))
            .collect()
    }

    #[test]
    fn fast_tanh_is_within_two_ten_millionths() {
        let worst = (-200_000..200_000)
            .map(|i| {
                let x = i as f32 * 1e-4;
                (fast_tanh(x) as f64 - (x as f64).tanh()).abs()
            })
            .fold(0.0, f64::max);
        assert!(worst < 2e-7, "{worst}");
        assert_eq!(fast_tanh(1e30), 1.0);
        assert_eq!(fast_tanh(-1e30), -1.0);
    }

    #[test]
    fn the_halfband_filters_pass_the_audio_band_and_stop_their_images() {
        // Magnitude of the full filter from its unique taps.
        fn response<const N: usize>(c: &[f32; N], f: f64) -> f64 {
            let centre = (2 * N - 1) as f64;
            let sum: f64 = (0..N)
                .map(|i| 2.0 * c[i] as f64 * (std::f64::consts::TAU * f * (2.0 * i as f64 - centre)).cos())
                .sum();
            (0.5 + sum).abs()
        }
        let first = halfband::<STAGE1>(STAGE1_BETA);
        let second = halfband::<STAGE2>(STAGE2_BETA);
        for i in 0..=100 {
            let pass = 0.2083 * i as f64 / 100.0;
            assert!(
                to_db(response(&first, pass) as f32).abs() < 0.002,
                "stage 1 at {pass}"
            );
            let stop = 0.2917 + (0.5 - 0.2917) * i as f64 / 100.0;
            assert!(to_db(response(&first, stop) as f32) < -79.0, "stage 1 at {stop}");
            let pass = 0.104 * i as f64 / 100.0;
            assert!(
                to_db(response(&second, pass) as f32).abs() < 0.01,
                "stage 2 at {pass}"
            );
            let stop = 0.396 + (0.5 - 0.396) * i as f64 / 100.0;
            assert!(to_db(response(&second, stop) as f32) < -70.0, "stage 2 at {stop}");
        }
    }

    #[test]
    fn tanh_of_a_sine_has_the_odd_harmonics_of_its_fourier_series() {
        // tanh(g a sin θ) = Σ b_k sin kθ with b_k = (2/π) ∫₀^π tanh(g a sin θ) sin kθ dθ.
        let (g, a) = (2.0f64, 0.5f64);
        let b = |k: usize| {
            let n = 20_000;
            let h = std::f64::consts::PI / n as f64;
            (0..n)
                .map(|i| {
                    let t = (i as f64 + 0.5) * h;
                    (g * a * t.sin()).tanh() * (k as f64 * t).sin()
                })
                .sum::<f64>()
                * h
                * 2.0
                / std::f64::consts::PI
        };
        for oversample in [0.0, 1.0, 2.0] {
            let params = [("drive", 20.0 * g.log10()), ("oversample", oversample)];
            let out = sine_through(1000.0, a, "waveshaper", &params, 48_000 + 4800);
            for (k, level) in harmonics_db(&out[4800..], 1000.0).into_iter().take(11) {
                if k % 2 == 1 {
                    let expected = 20.0 * b(k).abs().log10();
                    assert!(
                        (level - expected).abs() < 0.1,
                        "harmonic {k}: {level} dB, expected {expected}"
                    );
                } else {
                    assert!(level < -110.0, "even harmonic {k} at {level} dB");
                }
            }
        }
    }

    #[test]
    fn hard_clipping_never_exceeds_the_clip_level() {
        for oversample in [0.0, 1.0, 2.0] {
            let params = [
                ("shape", 1.0),
                ("drive", 24.0),
                ("level", -6.0),
                ("oversample", oversample),
            ];
            let out = render_node("noise", &[("amp", 1.0)], "waveshaper", &params, 24_000);
            let ceiling = crate::db_to_gain(-6.0);
            assert!(peak(&out) <= ceiling, "{oversample}: peak {}", peak(&out));
            assert!(peak(&out) > 0.99 * ceiling);
            let out = sine_through(5000.0, 1.0, "waveshaper", &params, 24_000);
            assert!(peak(&out) <= ceiling, "{oversample}: sine peak {}", peak(&out));
        }
    }

    #[test]
    fn foldback_reflects_from_the_rails() {
        for (x, y) in [
            (0.3, 0.3),
            (1.0, 1.0),
            (1.5, 0.5),
            (2.0, 0.0),
            (3.0, -1.0),
            (-1.25, -0.75),
            (5.0, 1.0),
        ] {
            assert!((foldback(x) - y).abs() < 1e-6, "fold({x}) = {}", foldback(x));
        }
    }

    /// Power in dB of everything that is not a harmonic of `freq`, 20 Hz to
    /// 20 kHz, relative to the whole signal.
    fn alias_db(x: &[f32], freq: f64) -> f64 {
        let n = SR as usize;
        let db = response_db(&x[..n], n);
        let power = |range: std::ops::Range<usize>, keep: &dyn Fn(usize) -> bool| {
            range
                .filter(|&i| keep(i))
                .map(|i| 10f64.powf(db[i] / 10.0))
                .sum::<f64>()
        };
        let harmonic = |i: usize| {
            let k = (i as f64 / freq).round();
            (i as f64 - k * freq).abs() < 3.0
        };
        let aliases = power(20..20_000, &|i| !harmonic(i));
        10.0 * (aliases / power(0..n / 2, &|_| true)).log10()
    }

    #[test]
    fn oversampling_cuts_the_aliases_of_a_hard_driven_5khz_sine() {
        for (shape, drive, factor, min_gain) in [
            (0.0, 12.0, 1.0, 25.0),
            (0.0, 12.0, 2.0, 40.0),
            (0.0, 24.0, 2.0, 15.0),
            (1.0, 12.0, 2.0, 8.0),
            (1.0, 24.0, 2.0, 8.0),
            (2.0, 12.0, 2.0, 15.0),
        ] {
            let measure = |oversample: f64| {
                let params = [("shape", shape), ("drive", drive), ("oversample", oversample)];
                let out = sine_through(5000.0, 1.0, "waveshaper", &params, 48_000 + 4800);
                alias_db(&out[4800..], 5000.0)
            };
            let (plain, over) = (measure(0.0), measure(factor));
            assert!(
                plain - over >= min_gain,
                "shape {shape}, drive {drive} dB, oversample {factor}: aliases {plain:.1} -> {over:.1} dB"
            );
        }
    }

    #[test]
    fn oversampling_declares_its_latency_and_parallel_paths_line_up() {
        let latency = |oversample: f32| {
            let params = [0.0, 12.0, 0.0, oversample];
            (WAVESHAPER.latency)(&NodeContext {
                id: "",
                settings: &[],
                sample_rate: 48_000.0,
                max_block: 64,
                channels: 1,
                params: &params,
                feedback_delay: 0,
            })
        };
        assert_eq!([latency(0.0), latency(1.0), latency(2.0)], [0, 31, 37]);
        for oversample in [1.0, 2.0] {
            // An impulse comes out where the latency says.
            let params = [("drive", 0.0), ("oversample", oversample)];
            let out = render_node("impulse", &[], "waveshaper", &params, 200);
            let at = (0..200)
                .max_by(|&a, &b| out[a].abs().total_cmp(&out[b].abs()))
                .unwrap();
            assert_eq!(at, latency(oversample as f32), "oversample {oversample}");
            // A quiet 5 kHz sine (tanh is linear there) split into the
            // waveshaper and straight on, then summed: twice the level only
            // if the compiler delayed the straight path to match.
            let mut patch = Patch::default();
            patch
                .nodes
                .push(node("src", "sine", &[("freq", 5000.0), ("amp", 0.001)]));
            patch.nodes.push(node("ws", "waveshaper", &params));
            patch.nodes.push(node("sum", "mix", &[]));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("src.out", "ws.in")
                .connect("ws.out", "sum.in1")
                .connect("src.out", "sum.in2")
                .connect("sum.out", "out.in");
            let (sum, _) = render_patch(&patch, 9600, SR);
            let gain = to_db(rms(&sum[4800..]) / (0.001 / 2f32.sqrt()));
            assert!(
                (gain - 6.02).abs() < 0.01,
                "oversample {oversample}: sum at {gain} dB"
            );
        }
    }

    #[test]
    fn switching_the_curve_or_the_oversampling_does_not_click() {
        for (param, value) in [("shape", 2.0), ("oversample", 2.0), ("oversample", 1.0)] {
            let mut patch = Patch::default();
            patch
                .nodes
                .push(node("src", "sine", &[("freq", 100.0), ("amp", 0.5)]));
            patch
                .nodes
                .push(node("ws", "waveshaper", &[("drive", 6.0), ("oversample", 1.0)]));
            patch.nodes.push(node("out", "output", &[]));
            patch.connect("src.out", "ws.in").connect("ws.out", "out.in");
            let change = Change {
                frame: 4800,
                node: "ws",
                param,
                value,
            };
            let (out, _) = render_patch_with(&patch, 9600, SR, 64, &[change]);
            // A 100 Hz sine through tanh moves by at most ~0.02 per sample.
            let step = max_step(&out[100..]);
            assert!(step < 0.05, "{param} -> {value}: step {step}");
        }
    }

    #[test]
    fn four_bits_give_sixteen_levels() {
        let out = sine_through(
            50.0,
            1.0,
            "bitcrusher",
            &[("bits", 4.0), ("rate", 192_000.0)],
            4800,
        );
        let mut levels: Vec<f32> = out.clone();
        levels.sort_by(f32::total_cmp);
        levels.dedup();
        assert_eq!(levels.len(), 16, "{levels:?}");
        assert_eq!((levels[0], levels[15]), (-1.0, 0.875));
        assert!(levels.windows(2).all(|w| (w[1] - w[0] - 0.125).abs() < 1e-6));
        let worst = out
            .iter()
            .enumerate()
            .map(|(n, &y)| (y as f64 - (std::f64::consts::TAU * 50.0 * n as f64 / 48_000.0).sin()).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 0.0625 + 1e-4 || worst <= 0.126, "rounding error {worst}");
    }

    #[test]
    fn rate_reduction_holds_each_sample() {
        let out = sine_through(
            440.0,
            0.8,
            "bitcrusher",
            &[("bits", 24.0), ("rate", 12_000.0)],
            4800,
        );
        for run in out.chunks_exact(4) {
            assert!(run.iter().all(|&v| v == run[0]), "{run:?}");
        }
        assert!(
            out.chunks_exact(4)
                .collect::<Vec<_>>()
                .windows(2)
                .all(|w| w[0][0] != w[1][0])
        );
        // Half mix: half dry, half crushed.
        let dry = sine_through(440.0, 0.8, "gain", &[], 4800);
        let half = sine_through(
            440.0,
            0.8,
            "bitcrusher",
            &[("bits", 24.0), ("rate", 12_000.0), ("mix", 0.5)],
            4800,
        );
        for n in 0..4800 {
            assert!((half[n] - 0.5 * (dry[n] + out[n])).abs() < 1e-6);
        }
    }
}
