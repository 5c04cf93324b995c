//! Dynamics: a soft-knee compressor with a sidechain, a lookahead limiter
//! that never lets a sample peak past its ceiling, a noise gate with
//! hysteresis and hold, and an envelope follower.
//!
//! Every processor here that detects a level is stereo-linked where it
//! changes gain (one gain for all channels, from the loudest), so the
//! stereo image does not wander; the follower measures each channel.
//!
//! Time constants are one-pole coefficients `α = exp(-1 / (τ·fs))`: after
//! `τ` seconds a step has moved 63% of the way.

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

use crate::db_to_gain;
use crate::smooth::Ramp;

/// `20 / ln 10`: decibels per neper of amplitude.
const DB_PER_NEPER: f32 = 8.685_889;

/// One-pole smoothing coefficient for a time constant of `seconds`.
fn coefficient(seconds: f32, sample_rate: f32) -> f32 {
    let samples = seconds * sample_rate;
    if samples < 1e-3 {
        0.0
    } else {
        (-1.0 / samples).exp()
    }
}

/// Level in dB of a linear amplitude (floored at -240 dB).
#[inline]
fn amp_to_db(x: f32) -> f32 {
    DB_PER_NEPER * x.max(1e-12).ln()
}

/// Linear amplitude of a level in dB.
#[inline]
fn db_to_amp(db: f32) -> f32 {
    (db / DB_PER_NEPER).exp()
}

/// Per frame, the largest absolute sample over the channels of `port`.
fn linked_level(io: &ProcessIo<'_>, port: usize, level: &mut [f32]) {
    level.fill(0.0);
    for ch in 0..io.input_channels(port) {
        for (l, x) in level.iter_mut().zip(io.input(port, ch)) {
            *l = l.max(x.abs());
        }
    }
}

/// Multiply every channel of input `port` by `gain`, frame by frame, into output 0.
fn apply_gain(io: &mut ProcessIo<'_>, gain: &[f32]) {
    for ch in 0..io.output_channels(0) {
        let input = io.input(0, ch);
        for ((o, x), g) in io.output(0, ch).iter_mut().zip(input).zip(gain) {
            *o = x * g;
        }
    }
}

/// An attack time parameter.
const fn attack(default: f64, doc: &'static str) -> ParamSpec {
    ParamSpec::new("attack", 0.0001, 1.0, default)
        .unit(Unit::Seconds)
        .log()
        .doc(doc)
}

/// A release time parameter.
const fn release(default: f64, doc: &'static str) -> ParamSpec {
    ParamSpec::new("release", 0.001, 5.0, default)
        .unit(Unit::Seconds)
        .log()
        .doc(doc)
}

// ---------------------------------------------------------------------------
// Compressor

/// `compressor`: feed-forward, log-domain, soft knee.
pub static COMPRESSOR: NodeDescriptor = NodeDescriptor {
    kind: "compressor",
    category: "dynamics",
    summary: "Compressor: soft-knee static curve with a log-domain attack/release detector \
              (Giannoulis, Massberg & Reiss 2012), stereo-linked, with a sidechain input.",
    inputs: &[
        PortSpec::audio("in", "Signal to compress.").follows(),
        PortSpec::audio(
            "sidechain",
            "Detection signal used instead of `in` when `detect` is `sidechain` \
             (unconnected, it is silence: no compression).",
        )
        .follows(),
    ],
    outputs: &[PortSpec::audio("out", "Compressed signal.").follows()],
    params: &[
        ParamSpec::new("threshold", -60.0, 0.0, -20.0)
            .unit(Unit::Db)
            .doc("Level in dBFS (sample peak) above which the gain is reduced."),
        ParamSpec::new("ratio", 1.0, 20.0, 4.0)
            .log()
            .doc("Input dB over threshold per output dB over threshold (20 is nearly a limiter)."),
        ParamSpec::new("knee", 0.0, 24.0, 6.0)
            .unit(Unit::Db)
            .doc("Width in dB of the quadratic soft knee centred on the threshold (0: hard knee)."),
        attack(0.005, "Time constant in seconds with which gain reduction grows."),
        release(
            0.1,
            "Time constant in seconds with which gain reduction recovers.",
        ),
        ParamSpec::new("makeup", -24.0, 24.0, 0.0)
            .unit(Unit::Db)
            .doc("Gain in dB added after compression."),
        ParamSpec::choice("detect", &["main", "sidechain"], 0).doc("Which input the detector listens to."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Compressor::new(ctx)),
};

/// The compressor of Giannoulis, Massberg & Reiss, "Digital Dynamic Range
/// Compressor Design — A Tutorial and Analysis", JAES 60(6), 2012: the
/// gain computer's static curve (their eq. 4, quadratic soft knee) on the
/// level in dB, then the "smooth branching peak detector" (eq. 17) on the
/// gain reduction in dB (the log-domain, decoupled-from-the-curve topology
/// of their Fig. 7).
pub struct Compressor {
    threshold: f32,
    /// `1/ratio - 1`: the slope change above the threshold.
    slope: f32,
    knee: f32,
    attack: f32,
    release: f32,
    sample_rate: f32,
    makeup: Ramp,
    sidechain: bool,
    /// Smoothed gain reduction in dB (≥ 0).
    reduction: f32,
    level: Vec<f32>,
    gain: Vec<f32>,
}

impl Compressor {
    fn new(ctx: &NodeContext) -> Self {
        let sr = ctx.sample_rate;
        Compressor {
            threshold: ctx.param(0),
            slope: 1.0 / ctx.param(1) - 1.0,
            knee: ctx.param(2),
            attack: coefficient(ctx.param(3), sr),
            release: coefficient(ctx.param(4), sr),
            sample_rate: sr,
            makeup: Ramp::new(ctx.param(5)),
            sidechain: ctx.param(6) >= 0.5,
            reduction: 0.0,
            level: vec![0.0; ctx.max_block],
            gain: vec![0.0; ctx.max_block],
        }
    }

    /// Static gain reduction in dB for a peak level of `level_db` dBFS
    /// (for tests and the editor's curve display).
    pub fn curve(threshold: f32, ratio: f32, knee: f32, level_db: f32) -> f32 {
        static_reduction(threshold, 1.0 / ratio - 1.0, knee, level_db)
    }
}

/// Gain reduction in dB (≥ 0) of the static curve at `level_db`, for a
/// threshold `t`, slope change `1/R - 1` and knee width `w` (eq. 4).
#[inline]
fn static_reduction(t: f32, slope: f32, w: f32, level_db: f32) -> f32 {
    let over = level_db - t;
    if 2.0 * over <= -w {
        0.0
    } else if 2.0 * over < w {
        // Inside the knee: -(1/R - 1)(x - T + W/2)² / 2W.
        let x = over + 0.5 * w;
        -slope * x * x / (2.0 * w)
    } else {
        -slope * over
    }
}

impl Processor for Compressor {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.threshold = value,
            1 => self.slope = 1.0 / value.max(1.0) - 1.0,
            2 => self.knee = value,
            3 => self.attack = coefficient(value, self.sample_rate),
            4 => self.release = coefficient(value, self.sample_rate),
            5 => self.makeup.set(value),
            _ => self.sidechain = value >= 0.5,
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let level = &mut self.level[..frames];
        linked_level(io, usize::from(self.sidechain), level);
        // Below this amplitude the static curve does nothing: skip the log.
        let quiet = db_to_amp(self.threshold - 0.5 * self.knee);
        let makeup = self.makeup.segment(frames);
        let (t, slope, knee) = (self.threshold, self.slope, self.knee);
        let mut y = self.reduction;
        for (k, (g, &l)) in self.gain[..frames].iter_mut().zip(level.iter()).enumerate() {
            let x = if l <= quiet {
                0.0
            } else {
                static_reduction(t, slope, knee, amp_to_db(l))
            };
            let a = if x > y { self.attack } else { self.release };
            y = x + a * (y - x);
            *g = db_to_amp(makeup.at(k) - y);
        }
        // Let a finished release reach exactly zero rather than creep.
        self.reduction = if y < 1e-6 { 0.0 } else { y };
        self.makeup.finish();
        let gain = &self.gain[..frames];
        apply_gain(io, gain);
    }
}

// ---------------------------------------------------------------------------
// Limiter

/// Longest lookahead in seconds.
const MAX_LOOKAHEAD_S: f64 = 0.02;

/// Lookahead in samples (at least one) for `seconds` at `sample_rate`.
fn lookahead_samples(seconds: f32, sample_rate: f32) -> usize {
    ((seconds as f64).clamp(0.0, MAX_LOOKAHEAD_S) * sample_rate as f64)
        .round()
        .max(1.0) as usize
}

/// `limiter`: lookahead brickwall limiter.
pub static LIMITER: NodeDescriptor = NodeDescriptor {
    kind: "limiter",
    category: "dynamics",
    summary: "Lookahead brickwall limiter: no output sample exceeds the ceiling; stereo-linked. \
              Delays the signal by its lookahead, which the compiler compensates on parallel paths.",
    inputs: &[PortSpec::audio("in", "Signal to limit.").follows()],
    outputs: &[PortSpec::audio("out", "Limited signal, delayed by the lookahead.").follows()],
    params: &[
        ParamSpec::new("ceiling", -24.0, 0.0, -1.0)
            .unit(Unit::Db)
            .doc("Highest sample peak in dBFS the output may reach."),
        ParamSpec::new("lookahead", 0.0, MAX_LOOKAHEAD_S, 0.005)
            .unit(Unit::Seconds)
            .smoothing(0.0)
            .doc(
                "Delay in seconds (at least one sample) over which gain reduction ramps in before a peak; \
                  it is the node's latency: a live change rebuilds the node (its delay line \
                  restarts) so the compiler can realign parallel paths.",
            ),
        release(
            0.1,
            "Time constant in seconds with which gain recovers after a peak.",
        ),
    ],
    settings: &[],
    channels_param: None,
    latency: |ctx| lookahead_samples(ctx.param(1), ctx.sample_rate),
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Limiter::new(ctx)),
};

/// Sliding minimum over the last `window` values (monotonic wedge, after
/// D. Lemire, "Streaming Maximum-Minimum Filter Using No More than Three
/// Comparisons per Element", 2006): amortised O(1) per sample, in a ring
/// allocated once.
struct SlidingMin {
    values: Vec<f32>,
    stamps: Vec<u64>,
    /// Ring positions of the wedge's front and length.
    head: usize,
    len: usize,
    window: u64,
    now: u64,
}

impl SlidingMin {
    fn new(window: usize) -> Self {
        SlidingMin {
            values: vec![0.0; window],
            stamps: vec![0; window],
            head: 0,
            len: 0,
            window: window as u64,
            now: 0,
        }
    }

    /// Add `x`; returns the minimum of the last `window` values.
    #[inline]
    fn push(&mut self, x: f32) -> f32 {
        let cap = self.values.len();
        // Drop larger values from the back: they can never be the minimum.
        while self.len > 0 {
            let back = (self.head + self.len - 1) % cap;
            if self.values[back] >= x {
                self.len -= 1;
            } else {
                break;
            }
        }
        // Drop the front once it leaves the window.
        if self.len > 0 && self.stamps[self.head] + self.window <= self.now {
            self.head = (self.head + 1) % cap;
            self.len -= 1;
        }
        let at = (self.head + self.len) % cap;
        self.values[at] = x;
        self.stamps[at] = self.now;
        self.len += 1;
        self.now += 1;
        self.values[self.head]
    }
}

/// A lookahead limiter in the style of the classic "brickwall" designs
/// (see D. Giannoulis et al. 2012, sec. 5, and the lookahead limiter of
/// S. Sanfilippo, "Zero-latency...", or Rudrich's LookAheadGainReduction):
/// the gain each sample needs, `min(1, ceiling / |x|)`, goes through a
/// sliding minimum over `n` samples, an exponential release, and an
/// `n`-sample moving average; the audio is delayed by `n - 1` samples.
/// Every sample's needed gain is then the minimum over the whole average
/// window when that sample comes out, so the averaged gain never exceeds
/// it: the ramp into a peak is a straight line over the lookahead and the
/// peak lands exactly at the ceiling. A final clip at the ceiling catches
/// float rounding (a few ulps at most).
pub struct Limiter {
    ceiling: f32,
    release: f32,
    sample_rate: f32,
    /// Audio delay in samples (the declared latency).
    delay: usize,
    lines: Vec<Vec<f32>>,
    write: usize,
    minimum: SlidingMin,
    /// Released gain, before the moving average.
    released: f32,
    average: Vec<f32>,
    average_pos: usize,
    average_sum: f64,
    gain: Vec<f32>,
}

impl Limiter {
    fn new(ctx: &NodeContext) -> Self {
        let delay = lookahead_samples(ctx.param(1), ctx.sample_rate);
        let window = delay + 1;
        Limiter {
            ceiling: db_to_gain(ctx.param(0)),
            release: coefficient(ctx.param(2), ctx.sample_rate),
            sample_rate: ctx.sample_rate,
            delay,
            lines: vec![vec![0.0; delay]; ctx.channels],
            write: 0,
            minimum: SlidingMin::new(window),
            released: 1.0,
            average: vec![1.0; window],
            average_pos: 0,
            average_sum: window as f64,
            gain: vec![0.0; ctx.max_block],
        }
    }
}

impl Processor for Limiter {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.ceiling = db_to_gain(value),
            // The lookahead is the latency the compiler planned with: it
            // stays as built (a live edit of it rebuilds the node).
            1 => {}
            _ => self.release = coefficient(value, self.sample_rate),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let ceiling = self.ceiling;
        let gain = &mut self.gain[..frames];
        linked_level(io, 0, gain);
        let n = self.average.len();
        let inv_n = 1.0 / n as f64;
        for g in gain.iter_mut() {
            let needed = if *g > ceiling { ceiling / *g } else { 1.0 };
            let held = self.minimum.push(needed);
            self.released = if held < self.released {
                held
            } else {
                held + self.release * (self.released - held)
            };
            self.average_sum += (self.released - self.average[self.average_pos]) as f64;
            self.average[self.average_pos] = self.released;
            self.average_pos = if self.average_pos + 1 == n {
                0
            } else {
                self.average_pos + 1
            };
            *g = (self.average_sum * inv_n) as f32;
        }
        let delay = self.delay;
        for (ch, line) in self.lines.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            let mut pos = self.write;
            for ((o, &x), &g) in out.iter_mut().zip(input).zip(gain.iter()) {
                let delayed = line[pos];
                line[pos] = x;
                pos = if pos + 1 == delay { 0 } else { pos + 1 };
                *o = (delayed * g).clamp(-ceiling, ceiling);
            }
        }
        self.write = (self.write + frames) % delay;
    }
}

// ---------------------------------------------------------------------------
// Gate

/// `gate`: noise gate with hysteresis and hold.
pub static GATE: NodeDescriptor = NodeDescriptor {
    kind: "gate",
    category: "dynamics",
    summary: "Noise gate: opens when the level rises above the threshold, closes after `hold` \
              once it falls below threshold minus hysteresis; stereo-linked.",
    inputs: &[PortSpec::audio("in", "Signal to gate.").follows()],
    outputs: &[PortSpec::audio("out", "Gated signal.").follows()],
    params: &[
        ParamSpec::new("threshold", -96.0, 0.0, -40.0)
            .unit(Unit::Db)
            .doc("Peak level in dBFS above which the gate opens."),
        ParamSpec::new("hysteresis", 0.0, 24.0, 6.0).unit(Unit::Db).doc(
            "The gate closes only below threshold minus this many dB, so a level near \
                  the threshold does not chatter.",
        ),
        ParamSpec::new("hold", 0.0, 2.0, 0.05)
            .unit(Unit::Seconds)
            .doc("Time in seconds the gate stays open after the level falls below the closing level."),
        attack(
            0.001,
            "Time constant in seconds of the fade in when the gate opens.",
        ),
        release(
            0.05,
            "Time constant in seconds of the fade out when the gate closes.",
        ),
        ParamSpec::new("range", -96.0, 0.0, -96.0)
            .unit(Unit::Db)
            .doc("Gain in dB while closed; -96 dB is silence."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Gate::new(ctx)),
};

/// Decay time constant of the gate's peak detector, in seconds: long enough
/// to bridge the zero crossings of a 20 Hz tone with the default
/// hysteresis, short enough to follow note endings.
const GATE_DETECTOR_S: f32 = 0.01;

/// A gate after the designs in U. Zölzer (ed.), *DAFX* (2nd ed., 2011),
/// sec. 4.2.3 "Noise gate": a peak detector (instant attack, fixed decay),
/// a two-threshold comparator with hold counter, and a gain that moves
/// toward open (1) or closed (`range`) with the attack or release time.
pub struct Gate {
    open_level: f32,
    close_level: f32,
    threshold_db: f32,
    hysteresis_db: f32,
    hold: u32,
    attack: f32,
    release: f32,
    closed_gain: Ramp,
    sample_rate: f32,
    detector_decay: f32,
    envelope: f32,
    open: bool,
    /// Samples left before a gate below the closing level closes.
    holding: u32,
    gain_now: f32,
    gain: Vec<f32>,
}

/// -96 dB and below is silence.
fn range_gain(db: f32) -> f32 {
    if db <= -96.0 { 0.0 } else { db_to_gain(db) }
}

impl Gate {
    fn new(ctx: &NodeContext) -> Self {
        let sr = ctx.sample_rate;
        let mut gate = Gate {
            open_level: 0.0,
            close_level: 0.0,
            threshold_db: ctx.param(0),
            hysteresis_db: ctx.param(1),
            hold: (ctx.param(2) * sr) as u32,
            attack: coefficient(ctx.param(3), sr),
            release: coefficient(ctx.param(4), sr),
            closed_gain: Ramp::new(range_gain(ctx.param(5))),
            sample_rate: sr,
            detector_decay: coefficient(GATE_DETECTOR_S, sr),
            envelope: 0.0,
            open: false,
            holding: 0,
            gain_now: range_gain(ctx.param(5)),
            gain: vec![0.0; ctx.max_block],
        };
        gate.levels();
        gate
    }

    fn levels(&mut self) {
        self.open_level = db_to_gain(self.threshold_db);
        self.close_level = db_to_gain(self.threshold_db - self.hysteresis_db);
    }
}

impl Processor for Gate {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.threshold_db = value,
            1 => self.hysteresis_db = value,
            2 => self.hold = (value * self.sample_rate) as u32,
            3 => self.attack = coefficient(value, self.sample_rate),
            4 => self.release = coefficient(value, self.sample_rate),
            _ => self.closed_gain.set(range_gain(value)),
        }
        self.levels();
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let gain = &mut self.gain[..frames];
        linked_level(io, 0, gain);
        let closed = self.closed_gain.segment(frames);
        let mut g = self.gain_now;
        for (k, slot) in gain.iter_mut().enumerate() {
            let level = *slot;
            self.envelope = if level > self.envelope {
                level
            } else {
                level + self.detector_decay * (self.envelope - level)
            };
            if self.envelope > self.open_level {
                self.open = true;
                self.holding = self.hold;
            } else if self.open && self.envelope < self.close_level {
                if self.holding == 0 {
                    self.open = false;
                } else {
                    self.holding -= 1;
                }
            } else if self.open {
                self.holding = self.hold;
            }
            let (target, a) = if self.open {
                (1.0, self.attack)
            } else {
                (closed.at(k), self.release)
            };
            g = target + a * (g - target);
            *slot = g;
        }
        self.gain_now = g;
        self.closed_gain.finish();
        let gain = &self.gain[..frames];
        apply_gain(io, gain);
    }
}

// ---------------------------------------------------------------------------
// Follower

/// `follower`: envelope follower.
pub static FOLLOWER: NodeDescriptor = NodeDescriptor {
    kind: "follower",
    category: "dynamics",
    summary: "Envelope follower: the level of each channel as a control signal, \
              with separate attack and release.",
    inputs: &[PortSpec::audio("in", "Signal to measure.").follows()],
    outputs: &[PortSpec::control("out", "Its envelope (linear amplitude, ≥ 0).").follows()],
    params: &[
        attack(0.01, "Time constant in seconds for rising levels."),
        release(0.1, "Time constant in seconds for falling levels."),
        ParamSpec::choice("mode", &["peak", "rms"], 0).doc(
            "`peak` follows abs(x) (a sine of amplitude A reads about A); `rms` smooths x² and \
                  outputs its root: with equal attack and release that is the RMS over that time \
                  constant (A/√2 for a sine); a faster attack leans toward the peaks.",
        ),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Follower::new(ctx)),
};

/// The branching one-pole peak detector of Giannoulis et al. (2012, eq. 17)
/// on `|x|`, or on `x²` followed by a square root for RMS.
pub struct Follower {
    attack: f32,
    release: f32,
    sample_rate: f32,
    rms: bool,
    state: Vec<f32>,
}

impl Follower {
    fn new(ctx: &NodeContext) -> Self {
        Follower {
            attack: coefficient(ctx.param(0), ctx.sample_rate),
            release: coefficient(ctx.param(1), ctx.sample_rate),
            sample_rate: ctx.sample_rate,
            rms: ctx.param(2) >= 0.5,
            state: vec![0.0; ctx.channels],
        }
    }
}

impl Processor for Follower {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.attack = coefficient(value, self.sample_rate),
            1 => self.release = coefficient(value, self.sample_rate),
            _ => {
                let rms = value >= 0.5;
                if rms != self.rms {
                    // Keep the reading continuous across the switch.
                    for s in &mut self.state {
                        *s = if rms { *s * *s } else { s.sqrt() };
                    }
                    self.rms = rms;
                }
            }
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let (attack, release, rms) = (self.attack, self.release, self.rms);
        for (ch, state) in self.state.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            let mut y = *state;
            for (o, &x) in out.iter_mut().zip(input) {
                let x = if rms { x * x } else { x.abs() };
                let a = if x > y { attack } else { release };
                y = x + a * (y - x);
                *o = if rms { y.sqrt() } else { y };
            }
            *state = y;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Compressor;
    use crate::testing::*;

    const SR: u32 = 48_000;

    /// A 1 kHz sine of peak `level_db` dBFS through `kind`; (input, output).
    fn through(kind: &str, level_db: f64, params: &[(&str, f64)], frames: usize) -> (Vec<f32>, Vec<f32>) {
        let mut patch = Patch::default();
        let amp = 10f64.powf(level_db / 20.0);
        patch
            .nodes
            .push(node("src", "sine", &[("freq", 1000.0), ("amp", amp)]));
        patch.nodes.push(node("dut", kind, params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        let out = render_patch(&patch, frames, SR).0;
        let input = render_source("sine", &[("freq", 1000.0), ("amp", amp)], frames, SR);
        (input, out)
    }

    #[test]
    fn compressor_settles_on_its_static_curve() {
        let (t, r, w) = (-20.0, 4.0, 6.0);
        let params = [
            ("threshold", t),
            ("ratio", r),
            ("knee", w),
            ("attack", 0.001),
            ("release", 1.0),
        ];
        // Below, in the knee (both halves), at, and well above the threshold.
        for level in [-40.0, -22.0, -20.0, -18.0, -12.0, -6.0, 0.0] {
            let (input, output) = through("compressor", level, &params, 2 * SR as usize);
            let tail = SR as usize..;
            let measured = to_db(rms(&output[tail.clone()]) / rms(&input[tail]));
            let expected = -Compressor::curve(t as f32, r as f32, w as f32, level as f32);
            assert!(
                (measured - expected).abs() < 0.5,
                "sine at {level} dBFS: gain {measured:.2} dB, static curve {expected:.2} dB"
            );
        }
        // The curve itself: continuous through the knee, slope 1/R above it.
        let c = |x| Compressor::curve(-20.0, 4.0, 6.0, x);
        assert_eq!(c(-23.0), 0.0);
        assert!((c(-17.0) - 3.0 * 0.75).abs() < 1e-5);
        assert!((c(-20.0) - 0.75 * 9.0 / 12.0).abs() < 1e-5);
        assert!((c(0.0) - 20.0 * 0.75).abs() < 1e-4);
    }

    #[test]
    fn compressor_makeup_and_hard_knee() {
        let params = [
            ("threshold", -30.0),
            ("ratio", 2.0),
            ("knee", 0.0),
            ("attack", 0.001),
            ("release", 1.0),
            ("makeup", 6.0),
        ];
        let (input, output) = through("compressor", -10.0, &params, 2 * SR as usize);
        let tail = SR as usize..;
        let measured = to_db(rms(&output[tail.clone()]) / rms(&input[tail]));
        assert!((measured - (6.0 - 10.0)).abs() < 0.5, "{measured}");
    }

    #[test]
    fn compressor_listens_to_its_sidechain_when_told() {
        // A quiet tone on `in`, a loud one on `sidechain`.
        let run = |detect: f64, connect: bool| {
            let mut patch = Patch::default();
            patch
                .nodes
                .push(node("quiet", "sine", &[("freq", 1000.0), ("amp", 0.01)]));
            patch
                .nodes
                .push(node("loud", "sine", &[("freq", 300.0), ("amp", 1.0)]));
            patch.nodes.push(node(
                "dut",
                "compressor",
                &[
                    ("threshold", -30.0),
                    ("ratio", 10.0),
                    ("knee", 0.0),
                    ("attack", 0.001),
                    ("release", 1.0),
                    ("detect", detect),
                ],
            ));
            patch.nodes.push(node("out", "output", &[]));
            patch.connect("quiet.out", "dut.in").connect("dut.out", "out.in");
            if connect {
                patch.connect("loud.out", "dut.sidechain");
            }
            let out = render_patch(&patch, SR as usize, SR).0;
            to_db(rms(&out[SR as usize / 2..]) / (0.01 * std::f32::consts::FRAC_1_SQRT_2))
        };
        assert!(
            run(0.0, true).abs() < 0.01,
            "main detection ignores the sidechain"
        );
        // 30 dB over with ratio 10: 27 dB of reduction.
        let ducked = run(1.0, true);
        assert!((ducked + 27.0).abs() < 1.0, "ducked by {ducked} dB");
        assert!(
            run(1.0, false).abs() < 0.01,
            "an unconnected sidechain is silence"
        );
    }

    fn hot(kind: &str, params: &[(&str, f64)], frames: usize) -> Vec<f32> {
        let mut patch = Patch::default();
        match kind {
            "noise" => {
                patch.nodes.push(node("src", "noise", &[("seed", 5.0)]));
            }
            _ => {
                // Sine bursts: a 7 Hz square, made 0/1, gates a 3 kHz sine.
                patch.nodes.push(node("sq", "square", &[("freq", 7.0)]));
                patch
                    .nodes
                    .push(node("on", "scale", &[("factor", 0.5), ("offset", 0.5)]));
                patch.nodes.push(node("sn", "sine", &[("freq", 3000.0)]));
                patch.nodes.push(node("src", "multiply", &[]));
                patch
                    .connect("sq.out", "on.in")
                    .connect("on.out", "src.a")
                    .connect("sn.out", "src.b");
            }
        }
        patch.nodes.push(node("hot", "gain", &[("gain", 18.0)]));
        patch.nodes.push(node("dut", "limiter", params));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("src.out", "hot.in")
            .connect("hot.out", "dut.in")
            .connect("dut.out", "out.in");
        render_patch(&patch, frames, SR).0
    }

    #[test]
    fn limiter_output_never_exceeds_its_ceiling() {
        for source in ["noise", "bursts"] {
            for (ceiling, lookahead, release) in [(-1.0, 0.005, 0.1), (-6.0, 0.0001, 0.01), (0.0, 0.02, 1.0)]
            {
                let params = [
                    ("ceiling", ceiling),
                    ("lookahead", lookahead),
                    ("release", release),
                ];
                let out = hot(source, &params, SR as usize);
                let limit = crate::db_to_gain(ceiling as f32);
                let p = peak(&out);
                assert!(p <= limit, "{source}: peak {p} over ceiling {limit}");
                // It limits, not mutes: the loud parts sit near the ceiling.
                assert!(p > 0.9 * limit, "{source}: peak only {p}");
            }
        }
    }

    #[test]
    fn limiter_latency_lines_up_a_parallel_dry_path() {
        // A quiet sine (no limiting) through the limiter, minus itself on a
        // dry path: the compiler delays the dry path by the lookahead.
        let mut patch = Patch::default();
        patch
            .nodes
            .push(node("src", "sine", &[("freq", 440.0), ("amp", 0.5)]));
        patch
            .nodes
            .push(node("lim", "limiter", &[("ceiling", 0.0), ("lookahead", 0.0031)]));
        patch.nodes.push(node("inv", "scale", &[("factor", -1.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("src.out", "lim.in")
            .connect("src.out", "inv.in")
            .connect("lim.out", "out.in")
            .connect("inv.out", "out.in");
        let (l, _) = render_patch(&patch, SR as usize / 2, SR);
        assert!(peak(&l) < 1e-6, "misaligned: residue {}", peak(&l));
        // Without the dry path the delay is audible: the tone starts late.
        let latency = (0.0031 * SR as f64).round() as usize;
        let (wet, _) = render_patch(
            &{
                let mut p = patch.clone();
                p.edges.retain(|e| e.from.node != "inv");
                p
            },
            1000,
            SR,
        );
        assert!(wet[..latency].iter().all(|&v| v == 0.0) && wet[latency + 1] != 0.0);
    }

    #[test]
    fn a_live_lookahead_change_realigns_the_parallel_path() {
        use patchbay_core::{Applied, CompileOptions, LiveEngine};
        let patch = |lookahead: f64| {
            let mut patch = Patch::default();
            patch
                .nodes
                .push(node("src", "sine", &[("freq", 440.0), ("amp", 0.5)]));
            patch.nodes.push(node(
                "lim",
                "limiter",
                &[("ceiling", 0.0), ("lookahead", lookahead)],
            ));
            patch.nodes.push(node("inv", "scale", &[("factor", -1.0)]));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("src.out", "lim.in")
                .connect("src.out", "inv.in")
                .connect("lim.out", "out.in")
                .connect("inv.out", "out.in");
            patch
        };
        let opts = CompileOptions {
            sample_rate: SR as f32,
            block: 64,
        };
        let (mut live, mut runtime) = LiveEngine::start(patch(0.003), crate::registry(), opts).unwrap();
        let mut residue = |blocks: usize| {
            let mut worst = 0.0f32;
            for _ in 0..blocks {
                runtime.process_block();
                worst = worst.max(peak(runtime.schedule().master()[0]));
            }
            worst
        };
        residue(10);
        assert!(residue(100) < 1e-6);
        let applied = live.apply(patch(0.006)).unwrap();
        assert!(matches!(applied, Applied::Rebuilt { .. }), "{applied:?}");
        assert_eq!(live.plan().latency, (0.006 * SR as f64).round() as usize);
        residue(200);
        assert!(residue(100) < 1e-6, "misaligned after the change");
    }

    /// A 1 kHz sine whose level is `from` dB until `at`, then glides to `to` dB.
    fn gated(params: &[(&str, f64)], from: f64, to: f64, at: usize, frames: usize) -> Vec<f32> {
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("lvl", "gain", &[("gain", from)]));
        patch.nodes.push(node("dut", "gate", params));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("src.out", "lvl.in")
            .connect("lvl.out", "dut.in")
            .connect("dut.out", "out.in");
        let change = Change {
            frame: at,
            node: "lvl",
            param: "gain",
            value: to as f32,
        };
        render_patch_with(&patch, frames, SR, 64, &[change]).0
    }

    #[test]
    fn gate_opens_above_closes_below_and_holds_between() {
        let sr = SR as usize;
        let params = [("threshold", -40.0), ("hysteresis", 6.0), ("hold", 0.05)];
        let window = |x: &[f32], from: f64, to: f64| {
            let x = &x[(from * sr as f64) as usize..(to * sr as f64) as usize];
            to_db(rms(x) * std::f32::consts::SQRT_2)
        };
        // Loud, then below threshold - hysteresis: open, then closed.
        let out = gated(&params, -30.0, -50.0, sr, 3 * sr);
        assert!(
            (window(&out, 0.5, 1.0) + 30.0).abs() < 0.05,
            "open: passes unchanged"
        );
        assert!(
            window(&out, 2.0, 3.0) < -60.0 - 50.0,
            "closed: {} dB",
            window(&out, 2.0, 3.0)
        );
        // Loud, then between the two levels: stays open (hysteresis).
        let out = gated(&params, -30.0, -43.0, sr, 3 * sr);
        assert!((window(&out, 2.0, 3.0) + 43.0).abs() < 0.05);
        // Quiet from the start, then between: stays closed.
        let out = gated(&params, -50.0, -43.0, sr, 3 * sr);
        assert!(window(&out, 0.5, 1.0) < -120.0 && window(&out, 2.0, 3.0) < -120.0);
        // Range: closed means attenuated by `range`, not silent.
        let out = gated(&[("threshold", -20.0), ("range", -20.0)], -30.0, -30.0, sr, sr);
        assert!((window(&out, 0.5, 1.0) + 50.0).abs() < 0.05);
    }

    #[test]
    fn gate_hold_keeps_it_open_after_the_signal_drops() {
        let sr = SR as usize;
        // Signal stops (−96 dB) at 0.5 s; hold 0.2 s, instant release.
        let params = [("threshold", -40.0), ("hold", 0.2), ("release", 0.001)];
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "constant", &[("value", 0.1)]));
        patch.nodes.push(node("dut", "gate", &params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        let change = Change {
            frame: sr / 2,
            node: "src",
            param: "value",
            value: 0.0001,
        };
        let out = render_patch_with(&patch, sr, SR, 64, &[change]).0;
        // Before the hold ends (0.5 + 0.02 glide + 0.2 hold) it passes the
        // quiet signal; after it, closed.
        let at = |t: f64| out[(t * sr as f64) as usize];
        assert!((at(0.65) - 0.0001).abs() < 1e-6, "{}", at(0.65));
        assert!(at(0.8).abs() < 1e-9, "{}", at(0.8));
    }

    #[test]
    fn follower_tracks_the_level() {
        for (mode, attack, expected) in [
            (0.0, 0.001, 0.5),
            (1.0, 0.5, 0.5 * std::f32::consts::FRAC_1_SQRT_2),
        ] {
            let (_, out) = through(
                "follower",
                to_db(0.5) as f64,
                &[("attack", attack), ("release", 0.5), ("mode", mode)],
                3 * SR as usize,
            );
            let tail = &out[2 * SR as usize..];
            let mean = tail.iter().sum::<f32>() / tail.len() as f32;
            assert!((mean - expected).abs() < 0.02 * expected, "mode {mode}: {mean}");
            assert!(peak(tail) - tail.iter().fold(1.0f32, |m, &v| m.min(v)) < 0.05 * expected);
        }
        // And falls with the release time constant when the input stops.
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "constant", &[("value", 1.0)]));
        patch
            .nodes
            .push(node("dut", "follower", &[("attack", 0.001), ("release", 0.1)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        let change = Change {
            frame: 9600,
            node: "src",
            param: "value",
            value: 0.0,
        };
        let out = render_patch_with(&patch, 48_000, SR, 64, &[change]).0;
        // 0.1 s after the input reached 0 (glide 20 ms): about 1/e.
        let v = out[9600 + 960 + 4800];
        assert!((v - (-1.0f32).exp()).abs() < 0.05, "{v}");
    }
}
