//! Modulation effects: chorus, flanger and phaser. Each sweeps a delay or
//! an allpass chain with a sine LFO that advances sample by sample, so the
//! sound depends only on the sample position, never on how frames are
//! grouped into calls.

use std::f32::consts::PI;

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

use crate::delay::{DelayLine, dot4, hermite_weights};
use crate::fx::{ANTI_DENORMAL, Duck, FEEDBACK_LIMIT, equal_power, sin_turns, wrap, wrap_any};
use crate::smooth::Ramp;

/// A sine low-frequency oscillator: a 32-bit fixed-point phase (a full
/// turn is 2³²) advanced one sample at a time by wrapping addition, read
/// through [`sin_turns`]. Integer phase makes the phase `n` samples on
/// exactly `phase + n·inc`, however the samples are grouped: a chunk's
/// phases are computed at once, and the result never depends on the calls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lfo {
    phase: u32,
    inc: u32,
}

/// One turn of [`Lfo`] phase, as a float.
const TURN: f32 = 4_294_967_296.0;

impl Lfo {
    fn new(freq: f32, sample_rate: f32) -> Self {
        let mut lfo = Lfo { phase: 0, inc: 0 };
        lfo.set_freq(freq, sample_rate);
        lfo
    }

    fn set_freq(&mut self, freq: f32, sample_rate: f32) {
        self.inc = ((freq as f64 / sample_rate as f64).clamp(0.0, 0.5) * TURN as f64).round() as u32;
    }

    /// Turns per sample.
    fn rate(&self) -> f32 {
        self.inc as f32 / TURN
    }

    /// The phase in turns, `0..1`.
    #[inline]
    fn turns(&self) -> f32 {
        // The top 24 bits convert exactly.
        (self.phase >> 8) as f32 * (256.0 / TURN)
    }

    /// The sine at `offset` turns (`0..1`) after the current phase.
    #[inline]
    fn at(&self, offset: f32) -> f32 {
        sin_turns(wrap(self.turns() + offset))
    }

    #[inline]
    fn advance(&mut self) {
        self.phase = self.phase.wrapping_add(self.inc);
    }
}

/// The LFO rate every effect here has.
const fn rate(default: f64) -> ParamSpec {
    ParamSpec::new("rate", 0.01, 10.0, default)
        .unit(Unit::Hz)
        .log()
        .doc("Sweep rate in Hz (cycles per second).")
}

/// Equal-power dry/wet balance.
const MIX: ParamSpec = ParamSpec::new("mix", 0.0, 1.0, 0.5).unit(Unit::Percent).doc(
    "Dry/wet balance (equal power): 0 = input only, 0.5 = both equally (deepest notches), 1 = effect only.",
);

/// Delay in samples, held inside what a line can read (at least two
/// samples back, so the Hermite reader's neighbours are all in the past).
#[inline]
fn clamp_delay(d: f32, max: f32) -> f32 {
    d.clamp(2.0, max)
}

/// Read a line `d` samples back by Hermite interpolation.
#[inline]
fn tap(line: &DelayLine, d: f32) -> f32 {
    line.hermite_at(d)
}

/// Frames per chunk in the steady (no parameter moving) paths: the LFO,
/// delays and interpolation weights of a chunk are computed together in
/// arrays, which vectorises; only the reads from the lines are one by one.
const CHUNK: usize = 16;

/// `d` held in `2..=max` (NaN to 2), split into whole samples and fraction.
#[inline]
fn split_delay(d: f32, max: f32) -> (usize, f32) {
    // Written as selects (false for NaN), which compile to one max and
    // one min instruction each.
    let d = if d >= 2.0 { d } else { 2.0 };
    let d = if d <= max { d } else { max };
    // SAFETY: `d` is finite and within 2..=max, far inside i32.
    let whole = unsafe { d.to_int_unchecked::<i32>() };
    (whole as usize, d - whole as f32)
}

/// The phases (turns) of the next `n` samples of `lfo`, which advances.
#[inline]
fn phases(lfo: &mut Lfo, n: usize) -> [f32; CHUNK] {
    let mut p = [0.0; CHUNK];
    for (j, v) in p.iter_mut().enumerate() {
        let phase = Lfo {
            phase: lfo.phase.wrapping_add(lfo.inc.wrapping_mul(j as u32)),
            inc: lfo.inc,
        };
        *v = phase.turns();
    }
    lfo.phase = lfo.phase.wrapping_add(lfo.inc.wrapping_mul(n as u32));
    p
}

// ---------------------------------------------------------------------------
// Chorus

/// Longest centre delay of the chorus, in seconds.
const CHORUS_MAX_DELAY_S: f64 = 0.05;
/// Largest chorus sweep either side of the centre, in seconds.
const CHORUS_MAX_DEPTH_S: f64 = 0.01;
/// Most voices per side.
const CHORUS_MAX_VOICES: usize = 4;

/// `chorus`: several swept delays per side.
pub static CHORUS: NodeDescriptor = NodeDescriptor {
    kind: "chorus",
    category: "modulation",
    summary: "Chorus: one to four copies of the input per side, each delayed by a slowly swept amount, \
              thicken and widen it; stereo out from a mono or stereo input.",
    inputs: &[PortSpec::audio("in", "Signal to thicken; a mono signal feeds both sides.").channels(2)],
    outputs: &[PortSpec::audio("out", "Dry and chorused signal, stereo.").channels(2)],
    params: &[
        rate(0.8),
        ParamSpec::new("depth", 0.0, CHORUS_MAX_DEPTH_S, 0.002)
            .unit(Unit::Seconds)
            .doc("How far each delay sweeps either side of `delay`, in seconds (the pitch wobble)."),
        ParamSpec::new("delay", 0.001, CHORUS_MAX_DELAY_S, 0.012)
            .unit(Unit::Seconds)
            .log()
            .smoothing(0.1)
            .doc("Centre delay of the copies in seconds; changes glide."),
        MIX,
        ParamSpec::choice("voices", &["1", "2", "3", "4"], 1)
            .doc("Copies per side, their sweeps evenly spaced in phase; switching fades out and in over 6 ms."),
        ParamSpec::new("spread", 0.0, 1.0, 1.0)
            .unit(Unit::Percent)
            .doc("Phase offset of the right side's sweeps: 0 = same as the left (mono), 1 = halfway between the left's \
                  (opposite, with one voice)."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Chorus::new(ctx)),
};

/// A multi-voice chorus (J. Dattorro, "Effect Design Part 2: Delay-Line
/// Modulation and Chorus", JAES 1997): each side's input goes into a delay
/// line read by `voices` taps whose delays sweep sinusoidally around a
/// centre, spaced evenly in phase; the taps are read by 4-point Hermite
/// interpolation and summed at `1/√voices` (their sum keeps the level of
/// uncorrelated copies).
pub struct Chorus {
    sample_rate: f32,
    lines: [DelayLine; 2],
    lfo: Lfo,
    /// Centre delay and sweep depth, in samples.
    delay: Ramp,
    depth: Ramp,
    dry: Ramp,
    wet: Ramp,
    spread: Ramp,
    voices: usize,
    pending_voices: usize,
    duck: Duck,
}

fn voices_of(choice: f32) -> usize {
    (choice.max(0.0) as usize + 1).min(CHORUS_MAX_VOICES)
}

impl Chorus {
    fn new(ctx: &NodeContext) -> Self {
        let sr = ctx.sample_rate;
        let longest = ((CHORUS_MAX_DELAY_S + CHORUS_MAX_DEPTH_S) * sr as f64).ceil() as usize + 4;
        let (dry, wet) = equal_power(ctx.param(3));
        let voices = voices_of(ctx.param(4));
        Chorus {
            sample_rate: sr,
            // Room for a chunk written ahead of the longest tap.
            lines: [DelayLine::new(longest + CHUNK), DelayLine::new(longest + CHUNK)],
            lfo: Lfo::new(ctx.param(0), sr),
            delay: Ramp::new(ctx.param(2) * sr),
            depth: Ramp::new(ctx.param(1) * sr),
            dry: Ramp::new(dry),
            wet: Ramp::new(wet),
            spread: Ramp::new(ctx.param(5)),
            voices,
            pending_voices: voices,
            duck: Duck::new(sr),
        }
    }
}

impl Processor for Chorus {
    fn set_param(&mut self, index: usize, value: f32) {
        let sr = self.sample_rate;
        match index {
            0 => self.lfo.set_freq(value, sr),
            1 => self.depth.set(value * sr),
            2 => self.delay.set(value * sr),
            3 => {
                let (dry, wet) = equal_power(value);
                self.dry.set(dry);
                self.wet.set(wet);
            }
            4 => {
                self.pending_voices = voices_of(value);
                if self.pending_voices != self.voices {
                    self.duck.request();
                }
            }
            _ => self.spread.set(value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        if self.duck.silent() {
            self.voices = self.pending_voices;
            self.duck.resume();
        }
        let frames = io.frames();
        // Each voice count compiles to its own loop, unrolled.
        let steady = [&self.delay, &self.depth, &self.dry, &self.wet, &self.spread]
            .iter()
            .all(|r| r.segment(frames).is_flat());
        match (self.voices, steady) {
            (1, true) => self.render_steady::<1>(io),
            (2, true) => self.render_steady::<2>(io),
            (3, true) => self.render_steady::<3>(io),
            (_, true) => self.render_steady::<4>(io),
            (1, false) => self.render::<1>(io),
            (2, false) => self.render::<2>(io),
            (3, false) => self.render::<3>(io),
            (_, false) => self.render::<4>(io),
        }
        if !self.duck.idle() {
            for side in 0..2 {
                self.duck.apply(io.output(0, side));
            }
        }
        self.duck.advance(frames);
        self.delay.finish();
        self.depth.finish();
        self.dry.finish();
        self.wet.finish();
        self.spread.finish();
    }
}

impl Chorus {
    /// The voices' phases in turns as `(cos, sin)` pairs, left then right:
    /// the left side's evenly spaced, the right side's up to halfway
    /// between them.
    fn rotations<const V: usize>(spread: f32) -> [[(f32, f32); V]; 2] {
        let step = 1.0 / V as f32;
        std::array::from_fn(|side| {
            std::array::from_fn(|v| {
                let phi = v as f32 * step + side as f32 * 0.5 * step * spread;
                (sin_turns(wrap(phi + 0.25)), sin_turns(wrap(phi)))
            })
        })
    }

    /// [`Chorus::render`] when no parameter moves: chunk by chunk, the
    /// input is written first (there is no feedback, and every tap is at
    /// least two samples old), then every tap of the chunk is read, and
    /// the sums are the same, operation for operation, as `render`'s.
    #[inline(always)]
    fn render_steady<const V: usize>(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (centre, swing) = (self.delay.target(), self.depth.target());
        let (dry, wet) = (self.dry.target(), self.wet.target() * (V as f32).sqrt().recip());
        let rot = Self::rotations::<V>(self.spread.target());
        let max = self.lines[0].max_delay() as f32 - CHUNK as f32;
        let (in_l, in_r) = (io.input(0, 0), io.input(0, 1));
        let [out_l, out_r] = io.outputs([(0, 0), (0, 1)]);
        let mut lfo = self.lfo;
        let mut start = 0;
        while start < frames {
            let n = CHUNK.min(frames - start);
            let (xl, xr) = (&in_l[start..start + n], &in_r[start..start + n]);
            for (j, (&l, &r)) in xl.iter().zip(xr).enumerate() {
                self.lines[0].write_ahead(j, l);
                self.lines[1].write_ahead(j, r);
            }
            let p = phases(&mut lfo, n);
            let (mut s, mut c) = ([0.0f32; CHUNK], [0.0f32; CHUNK]);
            for j in 0..CHUNK {
                s[j] = sin_turns(wrap(p[j]));
                c[j] = sin_turns(wrap(p[j] + 0.25));
            }
            let mut sums = [[0.0f32; CHUNK]; 2];
            for (side, sum) in sums.iter_mut().enumerate() {
                let line = &self.lines[side];
                for &(cos, sin) in &rot[side] {
                    let (mut whole, mut t) = ([0usize; CHUNK], [0.0f32; CHUNK]);
                    for j in 0..CHUNK {
                        (whole[j], t[j]) = split_delay(centre + swing * (s[j] * cos + c[j] * sin), max);
                    }
                    // The four neighbours of each tap, one array each, so
                    // the interpolation below vectorises across frames.
                    let mut taps = [[0.0f32; CHUNK]; 4];
                    for j in 0..n {
                        let [a, b, c, d] = line.taps4(whole[j].wrapping_sub(j));
                        (taps[0][j], taps[1][j], taps[2][j], taps[3][j]) = (a, b, c, d);
                    }
                    for j in 0..CHUNK {
                        let x = [taps[0][j], taps[1][j], taps[2][j], taps[3][j]];
                        sum[j] += dot4(hermite_weights(t[j]), x);
                    }
                }
            }
            let (ol, or) = (&mut out_l[start..start + n], &mut out_r[start..start + n]);
            for j in 0..n {
                ol[j] = dry * xl[j] + wet * sums[0][j];
                or[j] = dry * xr[j] + wet * sums[1][j];
            }
            self.lines[0].advance_by(n);
            self.lines[1].advance_by(n);
            start += n;
        }
        self.lfo = lfo;
    }

    /// Both sides, `V` voices each, sample by sample. Every voice's sweep
    /// is the one LFO shifted in phase: `sin(θ + φ) = sin θ cos φ + cos θ sin φ`,
    /// so the sine is evaluated twice per sample, not once per voice.
    #[inline(always)]
    fn render<const V: usize>(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (delay, depth) = (self.delay.segment(frames), self.depth.segment(frames));
        let (dry, wet, spread) = (
            self.dry.segment(frames),
            self.wet.segment(frames),
            self.spread.segment(frames),
        );
        let norm = (V as f32).sqrt().recip();
        let rotations = Self::rotations::<V>;
        let mut rot = rotations(spread.at(0));
        let max = self.lines[0].max_delay() as f32 - CHUNK as f32;
        let (in_l, in_r) = (io.input(0, 0), io.input(0, 1));
        let [out_l, out_r] = io.outputs([(0, 0), (0, 1)]);
        let [line_l, line_r] = &mut self.lines;
        let mut lfo = self.lfo;
        for k in 0..frames {
            if !spread.is_flat() {
                rot = rotations(spread.at(k));
            }
            let (s, c) = (lfo.at(0.0), lfo.at(0.25));
            let (centre, swing) = (delay.at(k), depth.at(k));
            let (mut left, mut right) = (0.0, 0.0);
            for v in 0..V {
                let (cos, sin) = rot[0][v];
                left += tap(line_l, clamp_delay(centre + swing * (s * cos + c * sin), max));
                let (cos, sin) = rot[1][v];
                right += tap(line_r, clamp_delay(centre + swing * (s * cos + c * sin), max));
            }
            let (xl, xr) = (in_l[k], in_r[k]);
            line_l.write(xl);
            line_l.advance();
            line_r.write(xr);
            line_r.advance();
            lfo.advance();
            let (d, w) = (dry.at(k), wet.at(k) * norm);
            out_l[k] = d * xl + w * left;
            out_r[k] = d * xr + w * right;
        }
        self.lfo = lfo;
    }
}

// ---------------------------------------------------------------------------
// Flanger

/// Longest flanger delay, in seconds.
const FLANGER_MAX_DELAY_S: f64 = 0.02;

/// `flanger`: a short swept delay with feedback.
pub static FLANGER: NodeDescriptor = NodeDescriptor {
    kind: "flanger",
    category: "modulation",
    summary: "Flanger: a very short delay swept up and down and fed back, mixed with the input: a comb of \
              notches (and resonant peaks, with feedback) that glides through the spectrum.",
    inputs: &[PortSpec::audio("in", "Signal to flange.").follows()],
    outputs: &[PortSpec::audio("out", "Dry and flanged signal.").follows()],
    params: &[
        rate(0.25),
        ParamSpec::new("depth", 0.0, 1.0, 0.8)
            .unit(Unit::Percent)
            .doc("Sweep range as a share of `delay`: the delay moves between delay × (1 - depth) and delay."),
        ParamSpec::new("delay", 0.0005, FLANGER_MAX_DELAY_S, 0.005)
            .unit(Unit::Seconds)
            .log()
            .smoothing(0.1)
            .doc("Longest delay of the sweep in seconds (the lowest notch is at 1/(2 delay) Hz); changes glide."),
        ParamSpec::new("feedback", -0.95, 0.95, 0.5)
            .unit(Unit::Gain)
            .doc("Part of the delayed signal fed back (linear): sharper, resonant peaks; negative shifts them by half a step."),
        MIX,
        ParamSpec::new("spread", 0.0, 1.0, 0.0)
            .unit(Unit::Percent)
            .doc("Sweep phase offset of each further channel: 0 = all alike, 1 = half a cycle (opposite sweeps in stereo)."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Flanger::new(ctx)),
};

/// A flanger (Dattorro, "Effect Design Part 2", the flanger section): per
/// channel, `w[n] = x[n] + fb·w[n-d(n)]` with `d(n)` swept sinusoidally
/// between `delay·(1 - depth)` and `delay`, read by Hermite interpolation;
/// out = dry·x + wet·w[n-d(n)].
pub struct Flanger {
    sample_rate: f32,
    lines: Vec<DelayLine>,
    lfo: Lfo,
    /// Longest delay in samples.
    delay: Ramp,
    depth: Ramp,
    feedback: Ramp,
    dry: Ramp,
    wet: Ramp,
    spread: Ramp,
}

impl Flanger {
    fn new(ctx: &NodeContext) -> Self {
        let sr = ctx.sample_rate;
        let longest = (FLANGER_MAX_DELAY_S * sr as f64).ceil() as usize + 4;
        let (dry, wet) = equal_power(ctx.param(4));
        Flanger {
            sample_rate: sr,
            lines: (0..ctx.channels).map(|_| DelayLine::new(longest)).collect(),
            lfo: Lfo::new(ctx.param(0), sr),
            delay: Ramp::new(ctx.param(2) * sr),
            depth: Ramp::new(ctx.param(1)),
            feedback: Ramp::new(ctx.param(3)),
            dry: Ramp::new(dry),
            wet: Ramp::new(wet),
            spread: Ramp::new(ctx.param(5)),
        }
    }
}

impl Processor for Flanger {
    fn set_param(&mut self, index: usize, value: f32) {
        let sr = self.sample_rate;
        match index {
            0 => self.lfo.set_freq(value, sr),
            1 => self.depth.set(value),
            2 => self.delay.set(value * sr),
            3 => self.feedback.set(value),
            4 => {
                let (dry, wet) = equal_power(value);
                self.dry.set(dry);
                self.wet.set(wet);
            }
            _ => self.spread.set(value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (delay, depth, feedback) = (
            self.delay.segment(frames),
            self.depth.segment(frames),
            self.feedback.segment(frames),
        );
        let (dry, wet, spread) = (
            self.dry.segment(frames),
            self.wet.segment(frames),
            self.spread.segment(frames),
        );
        let max = self.lines.first().map_or(2.0, |l| l.max_delay() as f32);
        let steady = [delay, depth, feedback, dry, wet, spread]
            .iter()
            .all(|s| s.is_flat());
        let channels = self.lines.len().min(io.output_channels(0));
        if steady && channels > 0 {
            // The same arithmetic as below, chunk by chunk: the sweep and
            // the interpolation weights of a channel in arrays, then its
            // line sample by sample (its feedback may be read soon).
            let (delay, depth, g) = (delay.at(0), depth.at(0), feedback.at(0));
            let (dry, wet, spread) = (dry.at(0), wet.at(0), spread.at(0));
            let mut lfo = self.lfo;
            let mut start = 0;
            while start < frames {
                let n = CHUNK.min(frames - start);
                let p = phases(&mut lfo, n);
                for (ch, line) in self.lines.iter_mut().enumerate().take(channels) {
                    let offset = wrap_any(ch as f32 * 0.5 * spread);
                    let (mut whole, mut weights) = ([0usize; CHUNK], [[0.0f32; CHUNK]; 4]);
                    for j in 0..CHUNK {
                        let sweep = 0.5 + 0.5 * sin_turns(wrap(p[j] + offset));
                        let (w, t) = split_delay(delay * (1.0 - depth * sweep), max);
                        whole[j] = w;
                        let [a, b, c, d] = hermite_weights(t);
                        (weights[0][j], weights[1][j], weights[2][j], weights[3][j]) = (a, b, c, d);
                    }
                    let input = &io.input(0, ch)[start..start + n];
                    let out = &mut io.output(0, ch)[start..start + n];
                    line.feedback_block(&whole[..n], &weights, |j, y| {
                        out[j] = dry * input[j] + wet * y;
                        (input[j] + g * y).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT) + ANTI_DENORMAL
                    });
                }
                start += n;
            }
            self.lfo = lfo;
        } else {
            for (ch, line) in self.lines.iter_mut().enumerate().take(channels) {
                let input = io.input(0, ch);
                let out = io.output(0, ch);
                let mut lfo = self.lfo;
                for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                    let sweep = 0.5 + 0.5 * lfo.at(wrap_any(ch as f32 * 0.5 * spread.at(k)));
                    let d = clamp_delay(delay.at(k) * (1.0 - depth.at(k) * sweep), max);
                    let y = tap(line, d);
                    let w = (x + feedback.at(k) * y).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT);
                    line.write(w + ANTI_DENORMAL);
                    line.advance();
                    lfo.advance();
                    *o = dry.at(k) * x + wet.at(k) * y;
                }
            }
            self.lfo.phase = self
                .lfo
                .phase
                .wrapping_add(self.lfo.inc.wrapping_mul(frames as u32));
        }
        self.delay.finish();
        self.depth.finish();
        self.feedback.finish();
        self.dry.finish();
        self.wet.finish();
        self.spread.finish();
    }
}

// ---------------------------------------------------------------------------
// Phaser

/// Most allpass stages.
const PHASER_MAX_STAGES: usize = 12;
/// The phaser's coefficient is computed exactly every this many samples
/// (counted from the start, whatever the calls) and moves linearly between.
const PHASER_CONTROL: u32 = 8;

/// `phaser`: swept first-order allpass stages.
pub static PHASER: NodeDescriptor = NodeDescriptor {
    kind: "phaser",
    category: "modulation",
    summary: "Phaser: 4 to 12 first-order allpass stages whose break frequency an LFO sweeps between \
              `low` and `high`, mixed with the input: notches that glide up and down, with feedback for resonance.",
    inputs: &[PortSpec::audio("in", "Signal to phase.").follows()],
    outputs: &[PortSpec::audio("out", "Dry and phased signal.").follows()],
    params: &[
        rate(0.4),
        ParamSpec::new("low", 20.0, 20_000.0, 200.0)
            .unit(Unit::Hz)
            .log()
            .doc("Lowest break frequency of the sweep in Hz."),
        ParamSpec::new("high", 20.0, 20_000.0, 4000.0)
            .unit(Unit::Hz)
            .log()
            .doc("Highest break frequency of the sweep in Hz (held below 0.45 × the sample rate)."),
        ParamSpec::new("feedback", -0.95, 0.95, 0.5)
            .unit(Unit::Gain)
            .doc("Output of the last stage fed back to the first (linear): deeper, resonant sweeps."),
        ParamSpec::choice("stages", &["4", "6", "8", "10", "12"], 1)
            .doc("Allpass stages: every two make one notch; switching fades out and in over 6 ms."),
        ParamSpec::new("mix", 0.0, 1.0, 0.5)
            .unit(Unit::Percent)
            .doc("Dry/wet balance (linear, the signals are alike below the notches): 0 = input only, 0.5 = deepest notches, 1 = allpass only."),
        ParamSpec::new("spread", 0.0, 1.0, 0.0)
            .unit(Unit::Percent)
            .doc("Sweep phase offset of each further channel: 0 = all alike, 1 = half a cycle."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Phaser::new(ctx)),
};

/// One channel's allpass chain.
#[derive(Clone, Copy)]
struct PhaserChannel {
    /// Each stage's memory (transposed direct form II).
    z: [f32; PHASER_MAX_STAGES],
    /// The chain's last output, for the feedback.
    last: f32,
    /// Current coefficient and its change per sample.
    a: f32,
    a_step: f32,
}

/// A phaser after the classic analog design (W. M. Hartmann, "Flanging
/// and phasers", JAES 1978; digital form from Zölzer, "DAFX", 2nd ed.,
/// §2.3.3): `stages` identical first-order allpasses
/// `H(z) = (a + z⁻¹) / (1 + a z⁻¹)`, `a = (tan(π fc/fs) - 1) / (tan(π fc/fs) + 1)`,
/// whose break frequency `fc` moves exponentially between `low` and
/// `high` with a sine LFO. Where the chain's phase reaches an odd multiple
/// of π, the wet signal cancels the dry one: a notch. The coefficient is
/// computed every 8 samples and interpolated linearly between.
pub struct Phaser {
    sample_rate: f32,
    lfo: Lfo,
    /// Samples until the next exact coefficient (0: now).
    countdown: u32,
    channels: Vec<PhaserChannel>,
    low: f32,
    high: f32,
    stages: usize,
    pending_stages: usize,
    duck: Duck,
    feedback: Ramp,
    mix: Ramp,
    spread: f32,
}

fn stages_of(choice: f32) -> usize {
    (4 + 2 * choice.max(0.0) as usize).min(PHASER_MAX_STAGES)
}

impl Phaser {
    fn new(ctx: &NodeContext) -> Self {
        let sr = ctx.sample_rate;
        let stages = stages_of(ctx.param(4));
        let mut phaser = Phaser {
            sample_rate: sr,
            lfo: Lfo::new(ctx.param(0), sr),
            countdown: 0,
            channels: vec![
                PhaserChannel {
                    z: [0.0; PHASER_MAX_STAGES],
                    last: 0.0,
                    a: 0.0,
                    a_step: 0.0,
                };
                ctx.channels
            ],
            low: ctx.param(1),
            high: ctx.param(2),
            stages,
            pending_stages: stages,
            duck: Duck::new(sr),
            feedback: Ramp::new(ctx.param(3)),
            mix: Ramp::new(ctx.param(5)),
            spread: ctx.param(6),
        };
        for ch in 0..ctx.channels {
            let a = phaser.coefficient(phaser.lfo.at(phaser.offset(ch)));
            phaser.channels[ch].a = a;
        }
        phaser
    }

    /// The LFO phase offset of channel `ch`, in turns.
    fn offset(&self, ch: usize) -> f32 {
        wrap_any(ch as f32 * 0.5 * self.spread)
    }

    /// The allpass coefficient for an LFO value of -1..1.
    fn coefficient(&self, lfo: f32) -> f32 {
        let nyquist_guard = 0.45 * self.sample_rate;
        let (low, high) = (self.low.min(nyquist_guard), self.high.min(nyquist_guard));
        let fc = low * (high / low).powf(0.5 + 0.5 * lfo);
        let t = (PI * fc / self.sample_rate).tan();
        (t - 1.0) / (t + 1.0)
    }
}

impl Processor for Phaser {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.lfo.set_freq(value, self.sample_rate),
            1 => self.low = value,
            2 => self.high = value,
            3 => self.feedback.set(value),
            4 => {
                self.pending_stages = stages_of(value);
                if self.pending_stages != self.stages {
                    self.duck.request();
                }
            }
            5 => self.mix.set(value),
            _ => self.spread = value,
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        if self.duck.silent() {
            self.stages = self.pending_stages;
            for c in &mut self.channels {
                c.z = [0.0; PHASER_MAX_STAGES];
                c.last = 0.0;
            }
            self.duck.resume();
        }
        let frames = io.frames();
        let (feedback, mix) = (self.feedback.segment(frames), self.mix.segment(frames));
        let stages = self.stages;
        let ahead = PHASER_CONTROL as f32 * self.lfo.rate();
        for ch in 0..self.channels.len().min(io.output_channels(0)) {
            let offset = self.offset(ch);
            let mut c = self.channels[ch];
            let (mut lfo, mut countdown) = (self.lfo, self.countdown);
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            for k in 0..frames {
                if countdown == 0 {
                    let target = self.coefficient(lfo.at(offset + ahead));
                    c.a_step = (target - c.a) / PHASER_CONTROL as f32;
                    countdown = PHASER_CONTROL;
                }
                countdown -= 1;
                c.a += c.a_step;
                lfo.advance();
                let x = input[k];
                let mut u =
                    (x + feedback.at(k) * c.last).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT) + ANTI_DENORMAL;
                for z in &mut c.z[..stages] {
                    let y = c.a * u + *z;
                    *z = u - c.a * y;
                    u = y;
                }
                c.last = u;
                out[k] = x + mix.at(k) * (u - x);
            }
            self.channels[ch] = c;
            if !self.duck.idle() {
                self.duck.apply(out);
            }
        }
        for _ in 0..frames {
            if self.countdown == 0 {
                self.countdown = PHASER_CONTROL;
            }
            self.countdown -= 1;
            self.lfo.advance();
        }
        self.duck.advance(frames);
        self.feedback.finish();
        self.mix.finish();
    }
}

#[cfg(test)]
mod tests {
    use crate::fx::measure::*;
    use crate::testing::*;

    const SR: f64 = 48_000.0;

    /// White noise through `kind`: (input, left out, right out).
    fn noise_through(kind: &str, params: &[(&str, f64)], frames: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "noise", &[("amp", 0.5)]));
        patch.nodes.push(node("dut", kind, params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        let (l, r) = render_patch(&patch, frames, SR as u32);
        patch.nodes[1] = node("dut", "gain", &[]);
        let (dry, _) = render_patch(&patch, frames, SR as u32);
        (dry, l, r)
    }

    /// Gain in dB from input to output around `at` seconds, in 10 Hz bins.
    fn response_at(input: &[f32], output: &[f32], at: f64) -> Vec<f64> {
        let (segment, span) = (4800, 9600);
        let centre = (at * SR) as usize;
        transfer_db(
            &input[centre - span / 2..centre + span / 2],
            &output[centre - span / 2..centre + span / 2],
            segment,
        )
    }

    fn level_db(h: &[f64], hz: f64) -> f64 {
        h[(hz / 10.0).round() as usize]
    }

    #[test]
    fn chorus_voices_are_delays_that_sweep_around_the_centre() {
        // One voice, wet only, 0.5 Hz: at 0.5 s the left sweep is at its
        // longest (12 + 2 ms), at 1.5 s at its shortest; the right one is
        // half a cycle apart.
        let params = [
            ("voices", 0.0),
            ("mix", 1.0),
            ("rate", 0.5),
            ("depth", 0.002),
            ("delay", 0.012),
        ];
        // (Between the extremes the delay moves by 20 samples within the
        // analysis window, which blurs the correlation peak.)
        let (dry, l, r) = noise_through("chorus", &params, 96_000);
        let lag = |out: &[f32], at: f64| {
            let c = (at * SR) as usize;
            best_lag(&dry[c - 2048..c + 1024], &out[c - 2048..c + 1024], 1000)
        };
        for (got, want) in [
            (lag(&l, 0.5), 672),
            (lag(&l, 1.5), 480),
            (lag(&r, 0.5), 480),
            (lag(&r, 1.5), 672),
        ] {
            assert!(got.abs_diff(want) <= 2, "lag {got}, expected {want}");
        }
    }

    #[test]
    fn chorus_keeps_the_level_changes_the_sound_and_widens_a_mono_input() {
        for voices in [0.0, 1.0, 3.0] {
            let (dry, l, r) = noise_through("chorus", &[("voices", voices)], 48_000);
            for out in [&l, &r] {
                let db = to_db(rms(&out[4800..]) / rms(&dry[4800..]));
                assert!(db.abs() < 1.5, "{} voices: level {db} dB", voices + 1.0);
                assert!(
                    correlation(&dry[4800..], &out[4800..]) < 0.9,
                    "sounds like the dry signal"
                );
            }
            assert!(correlation(&l[4800..], &r[4800..]) < 0.95, "left and right alike");
        }
        let (_, l, r) = noise_through("chorus", &[("spread", 0.0)], 4800);
        assert!(l == r, "no spread is mono");
    }

    #[test]
    fn flanger_notches_move_with_the_sweep_and_feedback_sharpens_the_peaks() {
        // rate 0.25 Hz: at 1 s the delay is shortest (1 ms: notches at 500,
        // 1500 Hz...), at 3 s longest (5 ms: notches at 100, 300... Hz).
        let params = [
            ("rate", 0.25),
            ("delay", 0.005),
            ("depth", 0.8),
            ("feedback", 0.0),
            ("mix", 0.5),
        ];
        let (dry, out, _) = noise_through("flanger", &params, 4 * 48_000);
        let short = response_at(&dry, &out, 1.0);
        let long = response_at(&dry, &out, 3.0);
        assert!(
            level_db(&short, 500.0) < -15.0,
            "1 ms: 500 Hz at {}",
            level_db(&short, 500.0)
        );
        assert!(
            level_db(&short, 1000.0) > 2.0,
            "1 ms: 1 kHz at {}",
            level_db(&short, 1000.0)
        );
        assert!(
            level_db(&long, 100.0) < -15.0,
            "5 ms: 100 Hz at {}",
            level_db(&long, 100.0)
        );
        assert!(
            level_db(&long, 200.0) > 2.0,
            "5 ms: 200 Hz at {}",
            level_db(&long, 200.0)
        );
        assert!(level_db(&short, 100.0) > 2.0, "the 100 Hz notch stays put");
        let level = to_db(rms(&out) / rms(&dry));
        assert!(level.abs() < 1.5, "level {level} dB");
        // Feedback 0.7: peaks of 0.707 (1 + 1/(1 - 0.7)), +9.7 dB.
        let (dry, out, _) = noise_through("flanger", &[("feedback", 0.7), ("rate", 0.25)], 2 * 48_000);
        let peak = level_db(&response_at(&dry, &out, 1.0), 1000.0);
        assert!((peak - 9.7).abs() < 1.5, "feedback peak {peak} dB");
    }

    /// The first notch of `stages` allpasses with break frequency `fc`
    /// mixed equally with the dry signal: where each stage turns the phase
    /// by π/stages, `tan(π f/fs) = tan(π/(2·stages))·tan(π fc/fs)`.
    fn first_notch(stages: usize, fc: f64) -> f64 {
        let t = (std::f64::consts::PI / (2 * stages) as f64).tan() * (std::f64::consts::PI * fc / SR).tan();
        t.atan() * SR / std::f64::consts::PI
    }

    #[test]
    fn phaser_notches_sit_where_the_stages_put_them_and_move_with_the_sweep() {
        for (stages, choice) in [(4, 0.0), (8, 2.0)] {
            // rate 0.25 Hz: break frequency at `high` after 1 s, `low` after 3 s.
            let params = [
                ("rate", 0.25),
                ("low", 400.0),
                ("high", 4000.0),
                ("feedback", 0.0),
                ("stages", choice),
            ];
            let (dry, out, _) = noise_through("phaser", &params, 4 * 48_000);
            for (at, fc) in [(1.0, 4000.0), (3.0, 400.0)] {
                let h = response_at(&dry, &out, at);
                let expected = first_notch(stages, fc);
                let found = deepest_notch(&h, 10.0, 0.7 * expected, 1.4 * expected);
                assert!(
                    (found / expected - 1.0).abs() < 0.1,
                    "{stages} stages at {at} s: notch at {found} Hz, expected {expected}"
                );
                let depth = level_db(&h, found);
                assert!(depth < -20.0, "{stages} stages at {at} s: notch only {depth} dB");
            }
            // Half dry, half allpass: the power is (1 + mean cos φ)/2, which
            // the notches pull below 1 but never below 1/2 (-3 dB).
            let level = to_db(rms(&out) / rms(&dry));
            assert!((-3.0..0.5).contains(&level), "{stages} stages: level {level} dB");
        }
    }

    #[test]
    fn sweeping_effects_never_click_when_their_parameters_jump() {
        for (kind, param, from, to) in [
            ("chorus", "delay", 0.012, 0.03),
            ("chorus", "voices", 1.0, 3.0),
            ("flanger", "delay", 0.005, 0.015),
            ("phaser", "stages", 1.0, 4.0),
            ("phaser", "high", 4000.0, 500.0),
        ] {
            let mut patch = Patch::default();
            patch
                .nodes
                .push(node("src", "sine", &[("freq", 220.0), ("amp", 0.5)]));
            patch
                .nodes
                .push(node("dut", kind, &[(param, from), ("mix", 0.5)]));
            patch.nodes.push(node("out", "output", &[]));
            patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
            let change = Change {
                frame: 12_000,
                node: "dut",
                param,
                value: to as f32,
            };
            let (out, _) = render_patch_with(&patch, 24_000, SR as u32, 64, &[change]);
            // The input moves at most 0.015 per sample.
            let step = max_step(&out[2400..]);
            assert!(step < 0.06, "{kind}.{param}: step of {step}");
        }
    }
}
