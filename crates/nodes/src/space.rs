//! Space: the comb filter, the Schroeder allpass, and a feedback delay
//! network reverb. All three read [`DelayLine`]s allocated in `build` for
//! their longest time at the node's sample rate.

use std::f64::consts::TAU;

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

use crate::delay::DelayLine;
use crate::fx::{ANTI_DENORMAL, Duck, FEEDBACK_LIMIT, equal_power, lowpass_pole_for_gain, sin_turns};
use crate::smooth::Ramp;

/// Longest `time` of `comb` and `allpass`, in seconds.
const LOOP_MAX_S: f64 = 1.0;
/// Shortest delay a loop reads, in samples: the Hermite and Thiran readers
/// need the samples around the tap to be in the past.
const LOOP_MIN_SAMPLES: f32 = 2.0;
/// The frequency at which `damping` sets a loop's high-frequency loss.
const DAMPING_REF_HZ: f64 = 4000.0;
/// The comb's loss per pass at [`DAMPING_REF_HZ`] at full damping, in dB.
const COMB_DAMPING_DB: f64 = 12.0;

/// `comb`: feedback or feedforward comb filter.
pub static COMB: NodeDescriptor = NodeDescriptor {
    kind: "comb",
    category: "delays",
    summary: "Comb filter: a short delay fed back into itself (resonant peaks at every multiple of \
              1/time, like a plucked string) or added once to its input (feedforward: notches between the peaks).",
    inputs: &[PortSpec::audio("in", "Signal to filter.").follows()],
    outputs: &[PortSpec::audio("out", "Filtered signal.").follows()],
    params: &[
        ParamSpec::new("time", 0.0001, LOOP_MAX_S, 0.005)
            .unit(Unit::Seconds)
            .log()
            .smoothing(0.05)
            .doc("Delay in seconds: the peaks fall at multiples of 1/time Hz (200 Hz for 5 ms); changes glide."),
        ParamSpec::new("feedback", -0.99, 0.99, 0.8).unit(Unit::Gain).doc(
            "Gain of the delayed copy (linear). Feedback mode: peaks 1/(1-|g|) high, ringing longer as |g| nears 1; \
             feedforward: peaks 1+g, notches 1-g. Negative moves the peaks to odd multiples of 1/(2 time).",
        ),
        ParamSpec::new("damping", 0.0, 1.0, 0.0).unit(Unit::Percent).doc(
            "Low-pass in the loop: 0 = none, 1 = 12 dB more loss per pass at 4 kHz, so high peaks die away first.",
        ),
        ParamSpec::choice("mode", &["feedback", "feedforward"], 0)
            .doc("Feedback (resonant, rings) or feedforward (a single echo); switching fades out and in over 6 ms."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Comb::new(ctx)),
};

/// `allpass`: Schroeder's delay-line allpass.
pub static ALLPASS: NodeDescriptor = NodeDescriptor {
    kind: "allpass",
    category: "delays",
    summary: "Schroeder allpass: a delay with feedback and feedforward that passes every frequency at equal \
              level and smears transients in time (the building block of reverbs and diffusers).",
    inputs: &[PortSpec::audio("in", "Signal to diffuse.").follows()],
    outputs: &[PortSpec::audio("out", "Diffused signal, same spectrum.").follows()],
    params: &[
        ParamSpec::new("time", 0.0001, LOOP_MAX_S, 0.005)
            .unit(Unit::Seconds)
            .log()
            .smoothing(0.05)
            .doc(
                "Delay in seconds (any value: the fraction is read by a first-order allpass); changes glide.",
            ),
        ParamSpec::new("gain", -0.99, 0.99, 0.5)
            .unit(Unit::Gain)
            .doc("Allpass coefficient g (linear): echoes fall by g each pass; 0 is a plain delay."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Allpass::new(ctx)),
};

/// Delay in samples for `seconds`, held where a loop can read it. A time
/// that is a whole number of samples but for f32 rounding (5 ms at 48 kHz)
/// is made whole.
fn loop_samples(seconds: f32, sample_rate: f32, max: usize) -> f32 {
    let d = (seconds as f64 * sample_rate as f64).clamp(LOOP_MIN_SAMPLES as f64, max as f64);
    let whole = d.round();
    if (d - whole).abs() <= d * 1e-6 {
        whole as f32
    } else {
        d as f32
    }
}

/// A comb filter (J. O. Smith, "Physical Audio Signal Processing", 2010,
/// "Feedforward and feedback comb filters"): feedforward
/// `y[n] = x[n] + g·lp(x[n-D])`, feedback `y[n] = x[n] + g·lp(y[n-D])`,
/// where `lp` is a one-pole low-pass designed as in Jot's reverberator
/// ([`lowpass_pole_for_gain`]). The delay is read by 4-point Hermite
/// interpolation, so `time` may take any value and glide without steps.
pub struct Comb {
    sample_rate: f32,
    lines: Vec<DelayLine>,
    /// The damping low-pass's memory, per channel.
    lowpass: Vec<f32>,
    /// Delay in samples.
    delay: Ramp,
    feedback: Ramp,
    /// Damping pole (0: none).
    pole: f32,
    feedforward: bool,
    /// Mode to switch to when the duck is silent.
    pending: bool,
    duck: Duck,
}

impl Comb {
    fn new(ctx: &NodeContext) -> Self {
        let sample_rate = ctx.sample_rate;
        let longest = (LOOP_MAX_S * sample_rate as f64).ceil() as usize + 4;
        let mut comb = Comb {
            sample_rate,
            lines: (0..ctx.channels).map(|_| DelayLine::new(longest)).collect(),
            lowpass: vec![0.0; ctx.channels],
            delay: Ramp::new(0.0),
            feedback: Ramp::new(ctx.param(1)),
            pole: 0.0,
            feedforward: ctx.param(3) >= 0.5,
            pending: ctx.param(3) >= 0.5,
            duck: Duck::new(sample_rate),
        };
        comb.delay = Ramp::new(comb.samples(ctx.param(0)));
        comb.set_damping(ctx.param(2));
        comb
    }

    fn samples(&self, seconds: f32) -> f32 {
        loop_samples(seconds, self.sample_rate, self.lines[0].max_delay())
    }

    fn set_damping(&mut self, damping: f32) {
        let gain = 10f64.powf(-COMB_DAMPING_DB * damping as f64 / 20.0);
        let w = TAU * DAMPING_REF_HZ.min(0.45 * self.sample_rate as f64) / self.sample_rate as f64;
        self.pole = lowpass_pole_for_gain(gain, w) as f32;
    }
}

impl Processor for Comb {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.delay.set(self.samples(value)),
            1 => self.feedback.set(value),
            2 => self.set_damping(value),
            _ => {
                self.pending = value >= 0.5;
                if self.pending != self.feedforward {
                    self.duck.request();
                }
            }
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        if self.duck.silent() {
            self.feedforward = self.pending;
            self.duck.resume();
        }
        let frames = io.frames();
        let (delay, feedback) = (self.delay.segment(frames), self.feedback.segment(frames));
        let (pole, feedforward) = (self.pole, self.feedforward);
        for (ch, (line, lowpass)) in self.lines.iter_mut().zip(&mut self.lowpass).enumerate() {
            if ch >= io.output_channels(0) {
                break;
            }
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            let mut s = *lowpass;
            // A whole, steady delay at least a block long: the same
            // arithmetic as below on plain slices.
            let whole = delay.at(0) as usize;
            if delay.is_flat() && delay.at(0) == whole as f32 && feedback.is_flat() {
                let g = feedback.at(0);
                let done = match (feedforward, pole == 0.0) {
                    (false, true) => line.run_block(whole, input, out, |x, tap| {
                        let y = (x + g * tap).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT);
                        (y + ANTI_DENORMAL, y)
                    }),
                    (true, true) => {
                        line.run_block(whole, input, out, |x, tap| (x + ANTI_DENORMAL, x + g * tap))
                    }
                    (false, false) => line.run_block(whole, input, out, |x, tap| {
                        s = tap + pole * (s - tap);
                        let y = (x + g * s).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT);
                        (y + ANTI_DENORMAL, y)
                    }),
                    (true, false) => line.run_block(whole, input, out, |x, tap| {
                        s = tap + pole * (s - tap);
                        (x + ANTI_DENORMAL, x + g * s)
                    }),
                };
                if done {
                    if pole == 0.0 {
                        // What the general path leaves in the low-pass.
                        s = line.at(whole + 1);
                    }
                    *lowpass = s;
                    if !self.duck.idle() {
                        self.duck.apply(out);
                    }
                    continue;
                }
            }
            for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                let d = delay.at(k);
                let whole = d as usize;
                let tap = line.hermite(whole, d - whole as f32);
                s = tap + pole * (s - tap);
                let wet = feedback.at(k) * s;
                let (stored, y) = if feedforward {
                    (x, x + wet)
                } else {
                    let y = (x + wet).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT);
                    (y, y)
                };
                line.write(stored + ANTI_DENORMAL);
                line.advance();
                *o = y;
            }
            *lowpass = s;
            if !self.duck.idle() {
                self.duck.apply(out);
            }
        }
        self.duck.advance(frames);
        self.delay.finish();
        self.feedback.finish();
    }
}

/// Schroeder's allpass (M. R. Schroeder and B. F. Logan, "'Colorless'
/// artificial reverberation", JAES 1961), in the one-line form
/// `v[n] = x[n] + g·v[n-D]`, `y[n] = v[n-D] - g·v[n]`, whose transfer
/// function `(z^-D - g) / (1 - g z^-D)` has unit magnitude at every
/// frequency. The fractional part of `D` is read by a first-order Thiran
/// allpass interpolator (J. O. Smith, "Physical Audio Signal Processing",
/// "First-order allpass interpolation"), which keeps the whole loop exactly
/// allpass at any delay, not only at whole samples.
pub struct Allpass {
    sample_rate: f32,
    lines: Vec<DelayLine>,
    /// The Thiran interpolator's last output, per channel.
    thiran: Vec<f32>,
    /// Delay in samples.
    delay: Ramp,
    gain: Ramp,
}

/// The whole part `m` (at least 1) and the Thiran coefficient for a delay
/// of `d` samples: the interpolator covers `d - m`, kept in 0.5..1.5 where
/// its coefficient `(1 - Δ) / (1 + Δ)` is small and its delay flattest.
#[inline]
fn thiran_split(d: f32) -> (usize, f32) {
    let m = ((d - 0.5) as usize).max(1);
    let frac = d - m as f32;
    (m, (1.0 - frac) / (1.0 + frac))
}

impl Allpass {
    fn new(ctx: &NodeContext) -> Self {
        let sample_rate = ctx.sample_rate;
        let longest = (LOOP_MAX_S * sample_rate as f64).ceil() as usize + 4;
        let lines: Vec<DelayLine> = (0..ctx.channels).map(|_| DelayLine::new(longest)).collect();
        let max = lines[0].max_delay();
        Allpass {
            sample_rate,
            lines,
            thiran: vec![0.0; ctx.channels],
            delay: Ramp::new(loop_samples(ctx.param(0), sample_rate, max)),
            gain: Ramp::new(ctx.param(1)),
        }
    }
}

impl Processor for Allpass {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => {
                let max = self.lines[0].max_delay();
                self.delay.set(loop_samples(value, self.sample_rate, max));
            }
            _ => self.gain.set(value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (delay, gain) = (self.delay.segment(frames), self.gain.segment(frames));
        let fixed = delay.is_flat().then(|| thiran_split(delay.at(0)));
        for (ch, (line, state)) in self.lines.iter_mut().zip(&mut self.thiran).enumerate() {
            if ch >= io.output_channels(0) {
                break;
            }
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            let mut z = *state;
            // A whole, steady delay at least a block long (the Thiran
            // coefficient is then 0): the same arithmetic on plain slices.
            if let Some((m, eta)) = fixed
                && eta == 0.0
                && gain.is_flat()
            {
                let g = gain.at(0);
                if line.run_block(m + 1, input, out, |x, tap| {
                    let v = (x + g * tap).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT);
                    (v + ANTI_DENORMAL, tap - g * v)
                }) {
                    *state = line.at(m + 2);
                    continue;
                }
            }
            for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                let (m, eta) = fixed.unwrap_or_else(|| thiran_split(delay.at(k)));
                // v[n - D]: the Thiran allpass over v[n - m] and v[n - m - 1].
                let tap = eta * (line.at(m) - z) + line.at(m + 1);
                z = tap;
                let g = gain.at(k);
                let v = (x + g * tap).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT);
                line.write(v + ANTI_DENORMAL);
                line.advance();
                *o = tap - g * v;
            }
            *state = z;
        }
        self.delay.finish();
        self.gain.finish();
    }
}

// ---------------------------------------------------------------------------
// Reverb

/// Delay lines in the feedback network.
const LINES: usize = 8;
/// Line lengths in seconds at size 50 %: spread over a ratio of 2.3 with
/// irregular steps, so their echoes rarely coincide.
const LINE_S: [f32; LINES] = [0.0311, 0.0353, 0.0397, 0.0449, 0.0493, 0.0557, 0.0629, 0.0709];
/// Each line's length wanders by ± this many seconds...
const MOD_DEPTH_S: f32 = 0.0003;
/// ...at these rates in Hz, so the network's resonances never ring steadily.
const MOD_RATE_HZ: [f32; LINES] = [0.21, 0.29, 0.37, 0.43, 0.51, 0.59, 0.67, 0.77];
/// Input diffusers (J. Dattorro, "Effect Design Part 1: Reverberator and
/// Other Filters", JAES 1997): 142, 107, 379 and 277 samples at 29 761 Hz.
const DIFFUSER_S: [f32; 4] = [
    142.0 / 29_761.0,
    107.0 / 29_761.0,
    379.0 / 29_761.0,
    277.0 / 29_761.0,
];
/// The right input's diffusers are this much longer, to decorrelate it.
const DIFFUSER_RIGHT: f32 = 1.07;
/// Dattorro's input diffusion gains.
const DIFFUSER_GAIN: [f32; 4] = [0.75, 0.75, 0.625, 0.625];
/// Room size 0..1 scales every line by `2^(2 size - 1)`: ×0.5 to ×2.
const MAX_SCALE: f32 = 2.0;
/// Longest pre-delay in seconds.
const MAX_PREDELAY_S: f32 = 0.5;
/// At full damping the reverberation time at [`DAMPING_REF_HZ`] is this
/// fraction of the time at low frequencies.
const MIN_HF_RATIO: f64 = 0.1;
/// Corner of the DC blocker on the wet signal, in Hz.
const DC_BLOCK_HZ: f32 = 5.0;
/// Input gain into the network: left feeds lines 0-3, right lines 4-7.
const INPUT_GAIN: f32 = 0.5;
/// Output taps: two orthogonal sign patterns (left and right hear
/// uncorrelated mixtures of the same lines), each hearing its own side's
/// input lines with a net weight of 2 and the other side's with 0.
const TAP_LEFT: [f32; LINES] = [1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
const TAP_RIGHT: [f32; LINES] = [1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0];
/// Output level: white noise at default settings comes out at about its
/// own level.
const OUTPUT_GAIN: f32 = 0.66;

/// `reverb`: stereo feedback delay network.
pub static REVERB: NodeDescriptor = NodeDescriptor {
    kind: "reverb",
    category: "space",
    summary: "Stereo reverb: input diffusion and an 8-line feedback delay network (Jot) with modulated \
              lines and frequency-dependent decay; size, decay, damping, pre-delay, mix and width.",
    inputs: &[PortSpec::audio("in", "Signal to reverberate; a mono signal feeds both sides.").channels(2)],
    outputs: &[PortSpec::audio("out", "Dry and reverberated signal, stereo.").channels(2)],
    params: &[
        ParamSpec::new("size", 0.0, 1.0, 0.5)
            .unit(Unit::Percent)
            .smoothing(0.3)
            .doc("Room size: scales every delay ×0.5 (0 %) to ×2 (100 %), and with it the reverberation time; changes glide."),
        ParamSpec::new("decay", 0.1, 30.0, 2.0)
            .unit(Unit::Seconds)
            .log()
            .doc("Reverberation time (RT60, to -60 dB) in seconds at size 50 % and low frequencies; it scales with size like a room's."),
        ParamSpec::new("damping", 0.0, 1.0, 0.5)
            .unit(Unit::Percent)
            .doc("High-frequency absorption: at 4 kHz the tail decays as long as below (0 %) down to 10 % as long (100 %)."),
        ParamSpec::new("predelay", 0.0, MAX_PREDELAY_S as f64, 0.01)
            .unit(Unit::Seconds)
            .smoothing(0.1)
            .doc("Silence in seconds before the reverberation starts; changes glide."),
        ParamSpec::new("mix", 0.0, 1.0, 0.3)
            .unit(Unit::Percent)
            .doc("Dry/wet balance (equal power): 0 = input only, 1 = reverberation only."),
        ParamSpec::new("width", 0.0, 1.0, 1.0)
            .unit(Unit::Percent)
            .doc("Stereo width of the reverberation: 0 = mono (both sides alike), 1 = fully decorrelated sides."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Reverb::new(ctx)),
};

/// A Schroeder allpass of whole samples, for the input diffusers.
struct Diffuser {
    line: DelayLine,
    delay: usize,
    gain: f32,
}

impl Diffuser {
    #[inline]
    fn tick(&mut self, x: f32) -> f32 {
        let tap = self.line.at(self.delay);
        let v = x + self.gain * tap;
        self.line.write(v + ANTI_DENORMAL);
        self.line.advance();
        tap - self.gain * v
    }
}

/// One-pole DC blocker `y[n] = x[n] - x[n-1] + r·y[n-1]`.
#[derive(Clone, Copy, Default)]
struct DcBlocker {
    x1: f32,
    y1: f32,
}

impl DcBlocker {
    #[inline]
    fn tick(&mut self, x: f32, r: f32) -> f32 {
        let y = x - self.x1 + r * self.y1;
        self.x1 = x;
        self.y1 = y;
        y
    }
}

/// In-place fast Walsh-Hadamard transform of 8 values, scaled by 1/√8 so
/// the matrix is orthogonal (it neither adds nor removes energy).
#[inline]
fn hadamard8(x: &mut [f32; LINES]) {
    let mut h = 1;
    while h < LINES {
        for i in (0..LINES).step_by(2 * h) {
            for j in i..i + h {
                let (a, b) = (x[j], x[j + h]);
                x[j] = a + b;
                x[j + h] = a - b;
            }
        }
        h *= 2;
    }
    let scale = (LINES as f32).sqrt().recip();
    for v in x.iter_mut() {
        *v *= scale;
    }
}

/// A stereo reverberator after J.-M. Jot and A. Chaigne, "Digital delay
/// networks for designing artificial reverberators" (AES 90th Convention,
/// 1991): eight delay lines whose outputs are damped, mixed by an
/// orthogonal (Hadamard) matrix and fed back. Each line's gain and one-pole
/// low-pass are set from its length so that every line loses the same
/// number of decibels per second, which gives a reverberation time that
/// is exactly `decay` (× the size factor) at low frequencies and shorter at
/// high ones. The input first passes a pre-delay and four Schroeder
/// allpasses per side (Dattorro's input diffusers) so the echo density
/// builds up at once; the lines' lengths wander slowly (±0.3 ms) so that no
/// resonance rings steadily (Dattorro's and Lexicon's modulated lines); a
/// DC blocker cleans the wet signal.
pub struct Reverb {
    sample_rate: f32,
    predelay_lines: [DelayLine; 2],
    diffusers: [[Diffuser; 4]; 2],
    lines: [DelayLine; LINES],
    /// Line lengths in samples at scale 1.
    base: [f32; LINES],
    /// LFO phases (turns) and increments (turns per sample), per line.
    phase: [f32; LINES],
    inc: [f32; LINES],
    /// Modulation depth in samples.
    depth: f32,
    /// Per line: gain per pass and damping pole.
    gain: [f32; LINES],
    pole: [f32; LINES],
    /// Per line: the damping low-pass's memory.
    lowpass: [f32; LINES],
    dc: [DcBlocker; 2],
    dc_r: f32,
    decay: f32,
    damping: f32,
    /// Scale factor of the line lengths.
    scale: Ramp,
    /// Pre-delay in samples.
    predelay: Ramp,
    dry: Ramp,
    wet: Ramp,
    width: Ramp,
}

/// Line-length factor for a room size of 0..1.
fn size_scale(size: f32) -> f32 {
    (2.0 * size.clamp(0.0, 1.0) - 1.0).exp2()
}

impl Reverb {
    fn new(ctx: &NodeContext) -> Self {
        let sr = ctx.sample_rate;
        let depth = MOD_DEPTH_S * sr;
        let base = LINE_S.map(|s| s * sr);
        let lines = base.map(|b| DelayLine::new((b * MAX_SCALE + depth).ceil() as usize + 4));
        let diffusers = [1.0, DIFFUSER_RIGHT].map(|stretch| {
            std::array::from_fn(|i| {
                let delay = (DIFFUSER_S[i] * stretch * sr).round().max(1.0) as usize;
                Diffuser {
                    line: DelayLine::new(delay),
                    delay,
                    gain: DIFFUSER_GAIN[i],
                }
            })
        });
        let max_predelay = (MAX_PREDELAY_S * sr).ceil() as usize + 4;
        let (dry, wet) = equal_power(ctx.param(4));
        let mut reverb = Reverb {
            sample_rate: sr,
            predelay_lines: [DelayLine::new(max_predelay), DelayLine::new(max_predelay)],
            diffusers,
            lines,
            base,
            phase: std::array::from_fn(|i| i as f32 / LINES as f32),
            inc: MOD_RATE_HZ.map(|f| f / sr),
            depth,
            gain: [0.0; LINES],
            pole: [0.0; LINES],
            lowpass: [0.0; LINES],
            dc: [DcBlocker::default(); 2],
            dc_r: 1.0 - std::f32::consts::TAU * DC_BLOCK_HZ / sr,
            decay: ctx.param(1),
            damping: ctx.param(2),
            scale: Ramp::new(size_scale(ctx.param(0))),
            predelay: Ramp::new(0.0),
            dry: Ramp::new(dry),
            wet: Ramp::new(wet),
            width: Ramp::new(ctx.param(5)),
        };
        reverb.predelay = Ramp::new(reverb.predelay_samples(ctx.param(3)));
        reverb.design();
        reverb
    }

    fn predelay_samples(&self, seconds: f32) -> f32 {
        (seconds * self.sample_rate).clamp(0.0, MAX_PREDELAY_S * self.sample_rate)
    }

    /// Per-line gains and damping poles for the current decay and damping.
    /// A line of `L` seconds at scale 1 (`L·s` at scale `s`) must lose
    /// `60 L s / (decay s)` dB per pass to decay by 60 dB in `decay·s`
    /// seconds: the scale cancels, so size changes need no redesign.
    fn design(&mut self) {
        let decay = self.decay.max(0.01) as f64;
        let hf_ratio = 1.0 - (1.0 - MIN_HF_RATIO) * self.damping.clamp(0.0, 1.0) as f64;
        let sr = self.sample_rate as f64;
        let w = TAU * DAMPING_REF_HZ.min(0.45 * sr) / sr;
        for i in 0..LINES {
            let seconds = LINE_S[i] as f64;
            self.gain[i] = 10f64.powf(-3.0 * seconds / decay) as f32;
            let hf_loss = 10f64.powf(-3.0 * seconds * (1.0 / hf_ratio - 1.0) / decay);
            self.pole[i] = lowpass_pole_for_gain(hf_loss, w) as f32;
        }
    }
}

impl Processor for Reverb {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.scale.set(size_scale(value)),
            1 => {
                self.decay = value;
                self.design();
            }
            2 => {
                self.damping = value;
                self.design();
            }
            3 => self.predelay.set(self.predelay_samples(value)),
            4 => {
                let (dry, wet) = equal_power(value);
                self.dry.set(dry);
                self.wet.set(wet);
            }
            _ => self.width.set(value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let scale = self.scale.segment(frames);
        let predelay = self.predelay.segment(frames);
        let (dry, wet, width) = (
            self.dry.segment(frames),
            self.wet.segment(frames),
            self.width.segment(frames),
        );
        let (in_l, in_r) = (io.input(0, 0), io.input(0, 1));
        let [out_l, out_r] = io.outputs([(0, 0), (0, 1)]);
        let (gain, pole, depth, dc_r) = (self.gain, self.pole, self.depth, self.dc_r);
        // A steady pre-delay of whole samples needs no interpolation
        // (Hermite at t = 0 is the sample itself).
        let whole_predelay =
            (predelay.is_flat() && predelay.at(0).fract() == 0.0).then(|| predelay.at(0) as usize);
        for k in 0..frames {
            let (xl, xr) = (in_l[k], in_r[k]);
            // Pre-delay, then diffusion, per side.
            let mut side = [xl, xr];
            for (s, (line, chain)) in side
                .iter_mut()
                .zip(self.predelay_lines.iter_mut().zip(&mut self.diffusers))
            {
                line.write(*s);
                let mut v = match whole_predelay {
                    Some(whole) => line.at(whole),
                    None => line.hermite_at(predelay.at(k)),
                };
                line.advance();
                for d in chain.iter_mut() {
                    v = d.tick(v);
                }
                *s = v;
            }
            // The network, each stage over all lines at once (the
            // arithmetic vectorises; the taps are gathers): read, damp,
            // mix, inject, write.
            let sc = scale.at(k);
            let mut delays = [0.0f32; LINES];
            for i in 0..LINES {
                delays[i] = self.base[i] * sc + depth * sin_turns(self.phase[i]);
                let p = self.phase[i] + self.inc[i];
                self.phase[i] = if p >= 1.0 { p - 1.0 } else { p };
            }
            let mut f = [0.0f32; LINES];
            for i in 0..LINES {
                f[i] = self.lines[i].hermite_at(delays[i]);
            }
            for i in 0..LINES {
                let s = f[i] + pole[i] * (self.lowpass[i] - f[i]);
                self.lowpass[i] = s;
                f[i] = gain[i] * s;
            }
            hadamard8(&mut f);
            let (mut wl, mut wr) = (0.0, 0.0);
            for i in 0..LINES {
                let v = (f[i] + INPUT_GAIN * side[i / (LINES / 2)]).clamp(-FEEDBACK_LIMIT, FEEDBACK_LIMIT);
                f[i] = v + ANTI_DENORMAL;
                wl += TAP_LEFT[i] * v;
                wr += TAP_RIGHT[i] * v;
            }
            for (line, &v) in self.lines.iter_mut().zip(&f) {
                line.write(v);
                line.advance();
            }
            let wl = self.dc[0].tick(wl * OUTPUT_GAIN, dc_r);
            let wr = self.dc[1].tick(wr * OUTPUT_GAIN, dc_r);
            let (mid, half_side) = (0.5 * (wl + wr), 0.5 * width.at(k) * (wl - wr));
            let (d, w) = (dry.at(k), wet.at(k));
            out_l[k] = d * xl + w * (mid + half_side);
            out_r[k] = d * xr + w * (mid - half_side);
        }
        self.scale.finish();
        self.predelay.finish();
        self.dry.finish();
        self.wet.finish();
        self.width.finish();
    }
}

#[cfg(test)]
mod tests {
    use patchbay_core::{CompileOptions, Schedule, compile};

    use crate::fx::measure::*;
    use crate::testing::*;

    const SR: f32 = 48_000.0;

    fn impulse_response(kind: &str, params: &[(&str, f64)], frames: usize) -> Vec<f32> {
        render_node("impulse", &[], kind, params, frames)
    }

    /// The response's level in dB at `hz` (nearest bin of an `n`-point DFT).
    fn at_hz(db: &[f64], hz: f64, n: usize) -> f64 {
        db[(hz * n as f64 / SR as f64).round() as usize]
    }

    #[test]
    fn a_feedback_comb_echoes_by_g_and_peaks_at_multiples_of_one_over_time() {
        let (g, n) = (0.8f32, 1 << 16);
        let ir = impulse_response("comb", &[("time", 0.005), ("feedback", g as f64)], n);
        for k in 0..6 {
            let expected = g.powi(k as i32);
            assert!((ir[240 * k] - expected).abs() < 1e-5, "echo {k}: {}", ir[240 * k]);
        }
        let between: f32 = ir[..2400]
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 240 != 0)
            .map(|(_, v)| v.abs())
            .sum();
        assert!(between < 1e-4, "energy between the echoes: {between}");
        let db = response_db(&ir, n);
        let (peak, trough) = (-20.0 * (1.0 - g as f64).log10(), -20.0 * (1.0 + g as f64).log10());
        for k in 1..60 {
            let f = 200.0 * k as f64;
            assert!(
                (at_hz(&db, f, n) - peak).abs() < 0.1,
                "peak at {f} Hz: {}",
                at_hz(&db, f, n)
            );
            let between = at_hz(&db, f - 100.0, n);
            assert!(
                (between - trough).abs() < 0.1,
                "trough at {} Hz: {between}",
                f - 100.0
            );
        }
    }

    #[test]
    fn negative_feedback_moves_the_peaks_to_odd_multiples_of_half() {
        let n = 1 << 16;
        let ir = impulse_response("comb", &[("time", 0.005), ("feedback", -0.8)], n);
        let db = response_db(&ir, n);
        for k in 0..20 {
            let f = 100.0 + 200.0 * k as f64;
            assert!(
                (at_hz(&db, f, n) - 13.98).abs() < 0.1,
                "{f} Hz: {}",
                at_hz(&db, f, n)
            );
        }
    }

    #[test]
    fn a_feedforward_comb_adds_one_echo_with_notches_between_the_peaks() {
        let n = 48_000;
        let ir = impulse_response("comb", &[("time", 0.005), ("feedback", 0.9), ("mode", 1.0)], n);
        assert!((ir[0] - 1.0).abs() < 1e-6 && (ir[240] - 0.9).abs() < 1e-6);
        assert!(ir[241..].iter().all(|v| v.abs() < 1e-6));
        let db = response_db(&ir, n);
        for k in 1..40 {
            let f = 200.0 * k as f64;
            assert!((at_hz(&db, f, n) - 5.575).abs() < 0.05, "peak at {f}");
            assert!(
                (at_hz(&db, f - 100.0, n) + 20.0).abs() < 0.1,
                "notch at {}",
                f - 100.0
            );
        }
    }

    #[test]
    fn damping_lowers_the_high_peaks_first() {
        let n = 1 << 16;
        let plain = response_db(
            &impulse_response("comb", &[("time", 0.005), ("feedback", 0.9)], n),
            n,
        );
        let damped = response_db(
            &impulse_response("comb", &[("time", 0.005), ("feedback", 0.9), ("damping", 1.0)], n),
            n,
        );
        // The low-pass shifts the peaks a little: compare local maxima.
        let peak_near = |db: &[f64], f: f64| {
            let c = (f * n as f64 / SR as f64) as usize;
            db[c - 40..c + 40].iter().cloned().fold(f64::MIN, f64::max)
        };
        let low = peak_near(&plain, 200.0) - peak_near(&damped, 200.0);
        let high = peak_near(&plain, 4000.0) - peak_near(&damped, 4000.0);
        assert!(low < 2.0, "200 Hz peak lost {low} dB");
        assert!(high > 15.0, "4 kHz peak lost only {high} dB");
    }

    #[test]
    fn the_comb_time_glides_without_clicks() {
        let mut patch = Patch::default();
        patch
            .nodes
            .push(node("src", "sine", &[("freq", 220.0), ("amp", 0.5)]));
        patch
            .nodes
            .push(node("dut", "comb", &[("time", 0.005), ("feedback", 0.5)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        let change = |frame, value| Change {
            frame,
            node: "dut",
            param: "time",
            value,
        };
        let changes = [
            change(9_600, 0.0093),
            change(19_200, 0.0021),
            change(28_800, 0.02),
        ];
        let (out, _) = render_patch_with(&patch, 48_000, 48_000, 64, &changes);
        // A 220 Hz sine of amplitude 0.5 moves by 0.015 per sample; the
        // comb at most doubles it, and a bending tape three times that.
        let step = max_step(&out[4_800..]);
        assert!(step < 0.1, "step of {step}");
    }

    #[test]
    fn the_allpass_is_flat_within_a_tenth_of_a_db_at_any_delay() {
        let n = 1 << 16;
        for (time, gain) in [(0.005, 0.7), (0.0051234, -0.6), (0.0001, 0.9), (0.0213, 0.5)] {
            let ir = impulse_response("allpass", &[("time", time), ("gain", gain)], n);
            let db = response_db(&ir, n);
            let worst = db.iter().fold(0.0f64, |m, &d| m.max(d.abs()));
            assert!(worst < 0.1, "time {time}, gain {gain}: {worst} dB off flat");
            // It is no plain delay: the energy is smeared over many echoes.
            let direct = ir.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(direct < 0.95, "time {time}: a single echo of {direct}");
        }
        let ir = impulse_response("allpass", &[("time", 0.005), ("gain", 0.7)], 1000);
        assert!((ir[0] + 0.7).abs() < 1e-6 && (ir[240] - 0.51).abs() < 1e-6);
        assert!((ir[480] - 0.51 * 0.7).abs() < 1e-6);
    }

    fn reverb_ir(params: &[(&str, f64)], seconds: f32) -> (Vec<f32>, Vec<f32>) {
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "impulse", &[]));
        let mut all = vec![("mix", 1.0), ("predelay", 0.0)];
        all.extend_from_slice(params);
        patch.nodes.push(node("dut", "reverb", &all));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        render_patch(&patch, (seconds * SR) as usize, SR as u32)
    }

    #[test]
    fn the_reverb_decays_in_its_reverberation_time_which_grows_with_size_and_decay() {
        let mut measured = Vec::new();
        for (size, decay, expected) in [
            (0.5, 1.0, 1.0),
            (0.5, 2.0, 2.0),
            (1.0, 1.0, 2.0),
            (0.0, 1.0, 0.5),
            (0.0, 4.0, 2.0),
        ] {
            let (l, r) = reverb_ir(
                &[("size", size), ("decay", decay), ("damping", 0.0)],
                1.6 * expected + 0.3,
            );
            for ir in [&l, &r] {
                let t = rt60(ir, SR);
                assert!(
                    (t / expected - 1.0).abs() < 0.1,
                    "size {size}, decay {decay}: RT60 {t} s, expected {expected}"
                );
            }
            measured.push(rt60(&l, SR));
        }
        assert!(
            measured[1] > 1.5 * measured[0]
                && measured[2] > 1.5 * measured[0]
                && measured[3] < 0.7 * measured[0]
        );
    }

    #[test]
    fn damping_shortens_the_high_frequencies_tail() {
        // Level at 4 kHz (±200 Hz) in 1024-sample frames, as a slope in dB/s.
        let hf_rt60 = |ir: &[f32]| {
            let frame = 1024;
            let levels: Vec<f64> = ir
                .chunks_exact(frame)
                .map(|c| {
                    let db = spectrum_db(c);
                    let band = &db[(3800 * frame / 48_000)..=(4200 * frame / 48_000)];
                    10.0 * (band.iter().map(|d| 10f64.powf(d / 10.0)).sum::<f64>()).log10()
                })
                .collect();
            // From the second frame to the first one 40 dB down.
            let end = levels
                .iter()
                .position(|&l| l < levels[1] - 40.0)
                .unwrap_or(levels.len() - 1);
            let per_frame = (levels[end] - levels[1]) / (end - 1) as f64;
            -60.0 / (per_frame * 48_000.0 / frame as f64)
        };
        let (bright, _) = reverb_ir(&[("decay", 4.0), ("damping", 0.0)], 5.0);
        let (dark, _) = reverb_ir(&[("decay", 4.0), ("damping", 1.0)], 5.0);
        let (b, d) = (hf_rt60(&bright), hf_rt60(&dark));
        assert!((b / 4.0 - 1.0).abs() < 0.2, "undamped 4 kHz RT60 {b}");
        assert!((d / 0.4 - 1.0).abs() < 0.25, "damped 4 kHz RT60 {d}");
        // Low frequencies keep their time.
        assert!((rt60(&dark, SR) / rt60(&bright, SR)) > 0.5);
    }

    #[test]
    fn the_reverb_tail_has_no_dc_and_decorrelated_sides() {
        let (l, r) = reverb_ir(&[], 2.0);
        for x in [&l, &r] {
            let tail = &x[2400..];
            let mean = tail.iter().map(|&v| v as f64).sum::<f64>() / tail.len() as f64;
            assert!(
                mean.abs() < 0.01 * rms(tail) as f64,
                "mean {mean}, rms {}",
                rms(tail)
            );
        }
        let c = correlation(&l[2400..], &r[2400..]);
        assert!(c.abs() < 0.2, "left/right correlation {c}");
        let (l, r) = reverb_ir(&[("width", 0.0)], 0.5);
        assert!(l == r, "width 0 is mono");
    }

    #[test]
    fn pre_delay_holds_the_reverb_back_and_mix_zero_is_dry() {
        let (l, _) = reverb_ir(&[("predelay", 0.1)], 0.2);
        assert!(peak(&l[..4800]) < 1e-9, "sound before the pre-delay");
        assert!(peak(&l[4800..4900]) > 0.01, "nothing after it");
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "noise", &[]));
        patch.nodes.push(node("dut", "reverb", &[("mix", 0.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        let (wet, _) = render_patch(&patch, 4800, 48_000);
        patch.nodes[1] = node("dut", "gain", &[]);
        let (dry, _) = render_patch(&patch, 4800, 48_000);
        assert!(wet == dry);
    }

    #[test]
    fn white_noise_comes_out_at_about_its_own_level() {
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "noise", &[("amp", 0.5)]));
        patch.nodes.push(node("dut", "reverb", &[("mix", 1.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        let (l, r) = render_patch(&patch, 96_000, 48_000);
        let input = 0.5 / 3f32.sqrt();
        for x in [&l, &r] {
            let db = to_db(rms(&x[48_000..]) / input);
            assert!(db.abs() < 3.0, "wet level {db} dB");
        }
    }

    /// Peak and RMS per 10-second stretch of `seconds` of loud noise
    /// through a reverb at its longest, biggest and brightest.
    fn endurance(sample_rate: u32, seconds: usize) -> Vec<(f32, f32)> {
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "noise", &[("amp", 1.0)]));
        let extreme = [("size", 1.0), ("decay", 30.0), ("damping", 0.0), ("mix", 1.0)];
        patch.nodes.push(node("dut", "reverb", &extreme));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        let opts = CompileOptions {
            sample_rate: sample_rate as f32,
            block: 512,
        };
        let mut schedule = Schedule::new(&compile(&patch, crate::registry(), &opts).unwrap());
        let per_stretch = 10 * sample_rate as usize / 512;
        (0..seconds / 10)
            .map(|_| {
                let (mut top, mut energy) = (0.0f32, 0.0f64);
                for _ in 0..per_stretch {
                    schedule.process();
                    for side in schedule.master() {
                        top = top.max(peak(side));
                        energy += side.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
                    }
                }
                (top, (energy / (2 * per_stretch * 512) as f64).sqrt() as f32)
            })
            .collect()
    }

    #[test]
    fn ten_minutes_of_noise_at_the_longest_decay_stay_bounded() {
        for (rate, seconds) in [(48_000, 60), (22_050, 600)] {
            let stretches = endurance(rate, seconds);
            let settled = stretches[1].1;
            for (i, &(top, level)) in stretches.iter().enumerate() {
                assert!(
                    top.is_finite() && top < 40.0,
                    "{rate} Hz, stretch {i}: peak {top}"
                );
                assert!(
                    i < 2 || level < 1.5 * settled,
                    "{rate} Hz, stretch {i}: rms {level} after {settled}"
                );
            }
        }
    }
}
