//! Mixing and routing: gain, a four-input mix, a stereo panner, stereo
//! width, an eight-channel mixer with sends, crossfade, split/merge and
//! named buses.
//!
//! Every level here moves sample by sample ([`Ramp`]) between the runtime's
//! 16-frame parameter updates, so gliding a fader never makes steps.

use std::f32::consts::FRAC_PI_4;

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Rest, Unit, lanes::Lanes,
    no_latency,
};

use crate::db_to_gain;
use crate::smooth::{Ramp, Segment};

/// `gain`: multiplies every channel by a level in decibels.
pub static GAIN: NodeDescriptor = NodeDescriptor {
    kind: "gain",
    category: "mixing",
    summary: "Changes the level of a signal by a smoothed amount in decibels.",
    inputs: &[PortSpec::audio("in", "Signal to scale.").follows()],
    outputs: &[PortSpec::audio("out", "Scaled signal.").follows()],
    params: &[ParamSpec::new("gain", -96.0, 24.0, 0.0)
        .unit(Unit::Db)
        .doc("Level change in dB; -96 dB is silence.")],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| Box::new(Gain::new(ctx.param(0))),
};

/// A mixer channel's level.
const fn mix_gain(name: &'static str) -> ParamSpec {
    ParamSpec::new(name, -96.0, 12.0, 0.0)
        .unit(Unit::Db)
        .doc("Level of the matching input in dB; -96 dB is silence.")
}

/// `mix`: four inputs summed with a level each.
pub static MIX: NodeDescriptor = NodeDescriptor {
    kind: "mix",
    category: "mixing",
    summary: "Sums four inputs, each with its own smoothed level in decibels.",
    inputs: &[
        PortSpec::audio("in1", "First input.").follows(),
        PortSpec::audio("in2", "Second input.").follows(),
        PortSpec::audio("in3", "Third input.").follows(),
        PortSpec::audio("in4", "Fourth input.").follows(),
    ],
    outputs: &[PortSpec::audio("out", "The sum, as wide as the widest input.").follows()],
    params: &[
        mix_gain("gain1"),
        mix_gain("gain2"),
        mix_gain("gain3"),
        mix_gain("gain4"),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(Mix {
            levels: std::array::from_fn(|i| Ramp::new(gain_of(ctx.param(i)))),
            lanes: Lanes::detect(),
        })
    },
};

/// `pan`: places a mono signal in the stereo field.
pub static PAN: NodeDescriptor = NodeDescriptor {
    kind: "pan",
    category: "mixing",
    summary: "Places a mono signal between left and right with constant power (-3 dB each side at centre).",
    inputs: &[PortSpec::audio("in", "Mono signal to place.")],
    outputs: &[PortSpec::audio("out", "Stereo signal.").channels(2)],
    params: &[ParamSpec::new("pan", -1.0, 1.0, 0.0).doc("Position: -1 hard left, 0 centre, +1 hard right.")],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| {
        let [l, r] = pan_gains(ctx.param(0));
        Box::new(Pan {
            left: Ramp::new(l),
            right: Ramp::new(r),
            lanes: Lanes::detect(),
        })
    },
};

/// -96 dB and below is treated as true silence.
fn gain_of(db: f32) -> f32 {
    if db <= -96.0 { 0.0 } else { db_to_gain(db) }
}

/// Constant-power (sine/cosine) pan law: left `cos θ`, right `sin θ`, with
/// θ from 0 (hard left) to π/2 (hard right); `cos² + sin² = 1` keeps the
/// power constant, and the centre is `1/√2`, -3.01 dB per side.
fn pan_gains(pan: f32) -> [f32; 2] {
    let theta = (pan.clamp(-1.0, 1.0) + 1.0) * FRAC_PI_4;
    let (sin, cos) = theta.sin_cos();
    // Exactly silent at the extremes (cos(π/2) is not quite 0 in floats).
    let exact = |g: f32| if g < 1e-6 { 0.0 } else { g };
    [exact(cos), exact(sin)]
}

/// `out[k] += in[k] * gain(k)` over one call, ramping the gain.
#[inline]
fn add_scaled(out: &mut [f32], input: &[f32], ramp: &Ramp, lanes: Lanes) {
    let gain = ramp.segment(out.len());
    if gain.is_flat() {
        let g = gain.at(0);
        if g != 0.0 {
            lanes.scale_add(out, input, g);
        }
    } else {
        ramp_add(out, input, gain);
    }
}

// The ramps are out of line: inlined, their setup is hoisted into every
// caller's at-rest path too, which it then dwarfs.
#[inline(never)]
fn ramp_add(out: &mut [f32], input: &[f32], gain: Segment) {
    for (k, (o, x)) in out.iter_mut().zip(input).enumerate() {
        *o += x * gain.at(k);
    }
}

#[inline(never)]
fn ramp_write(out: &mut [f32], input: &[f32], gain: Segment) {
    for (k, (o, x)) in out.iter_mut().zip(input).enumerate() {
        *o = x * gain.at(k);
    }
}

/// `out[k] = in[k] * gain(k)` over one call, ramping the gain: one pass
/// where clearing and accumulating would take two.
#[inline]
fn write_scaled(out: &mut [f32], input: &[f32], ramp: &Ramp, lanes: Lanes) {
    let gain = ramp.segment(out.len());
    if gain.is_flat() {
        let g = gain.at(0);
        if g == 0.0 {
            out.fill(0.0);
        } else {
            lanes.scale(out, input, g);
        }
    } else {
        ramp_write(out, input, gain);
    }
}

/// Linear gain (of `gain` and `bus`), ramped sample by sample.
pub struct Gain {
    level: Ramp,
    lanes: Lanes,
}

impl Gain {
    fn new(db: f32) -> Self {
        Gain {
            level: Ramp::new(gain_of(db)),
            lanes: Lanes::detect(),
        }
    }
}

impl Processor for Gain {
    fn set_param(&mut self, _index: usize, value: f32) {
        self.level.set(gain_of(value));
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        // At rest (the common case) in as few instructions as it takes:
        // with a source this node is often most of a small patch's block.
        if let Some(g) = self.level.resting()
            && g != 0.0
        {
            for ch in 0..io.output_channels(0) {
                let input = io.input(0, ch);
                self.lanes.scale(io.output(0, ch), input, g);
            }
            io.rest(Rest::Scale(g));
        } else {
            // Muted all block long, it writes silence (not `x × 0`, whose
            // sign follows the input's): the silence form, which folds
            // whatever it is fed.
            let muted = self.level.resting() == Some(0.0);
            self.process_moving(io);
            if muted {
                io.rest(Rest::Scale(0.0));
            }
        }
    }
}

impl Gain {
    #[inline(never)]
    fn process_moving(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            write_scaled(out, input, &self.level, self.lanes);
        }
        self.level.finish();
    }
}

/// Four ramped gains.
pub struct Mix {
    levels: [Ramp; 4],
    lanes: Lanes,
}

impl Processor for Mix {
    fn set_param(&mut self, index: usize, value: f32) {
        if let Some(ramp) = self.levels.get_mut(index) {
            ramp.set(gain_of(value));
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let inputs: [&[f32]; 4] = std::array::from_fn(|p| io.input(p, ch));
            let out = io.output(0, ch);
            write_scaled(out, inputs[0], &self.levels[0], self.lanes);
            for (input, ramp) in inputs.iter().zip(&self.levels).skip(1) {
                add_scaled(out, input, ramp, self.lanes);
            }
        }
        self.levels.iter_mut().for_each(Ramp::finish);
    }
}

/// Left and right gains, ramped.
pub struct Pan {
    left: Ramp,
    right: Ramp,
    lanes: Lanes,
}

impl Processor for Pan {
    fn set_param(&mut self, _index: usize, value: f32) {
        let [l, r] = pan_gains(value);
        self.left.set(l);
        self.right.set(r);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        // At rest off the extremes (where a side is written silent, as
        // `write_scaled` does): one pass over the input for both sides.
        if let (Some(gl), Some(gr)) = (self.left.resting(), self.right.resting())
            && gl != 0.0
            && gr != 0.0
        {
            let input = io.input(0, 0);
            let [left, right] = io.outputs([(0, 0), (0, 1)]);
            self.lanes.spread(left, right, input, gl, gr);
            io.rest(Rest::Spread(gl, gr));
        } else {
            self.process_moving(io);
        }
    }
}

impl Pan {
    #[inline(never)]
    fn process_moving(&mut self, io: &mut ProcessIo<'_>) {
        let input = io.input(0, 0);
        for (ch, ramp) in [&self.left, &self.right].into_iter().enumerate() {
            write_scaled(io.output(0, ch), input, ramp, self.lanes);
        }
        self.left.finish();
        self.right.finish();
    }
}

// ---------------------------------------------------------------------------
// Stereo width and balance

/// `width`: mid/side width and balance.
pub static WIDTH: NodeDescriptor = NodeDescriptor {
    kind: "width",
    category: "mixing",
    summary: "Stereo width (mid/side) and balance: width 0 folds to mono, 1 leaves the image as it is, \
              2 doubles the side signal.",
    inputs: &[PortSpec::audio("in", "Stereo signal (mono is spread).").channels(2)],
    outputs: &[PortSpec::audio("out", "Stereo signal.").channels(2)],
    params: &[
        ParamSpec::new("width", 0.0, 2.0, 1.0)
            .unit(Unit::Percent)
            .doc("Side level relative to mid: 0 = mono, 1 = unchanged, 2 = twice as wide."),
        ParamSpec::new("balance", -1.0, 1.0, 0.0).doc(
            "-1 keeps only the left side, +1 only the right; each side is unchanged until the \
                  balance moves away from it (linear attenuation of the other side).",
        ),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        let [direct, cross] = width_gains(ctx.param(0));
        let [left, right] = balance_gains(ctx.param(1));
        Box::new(Width {
            direct: Ramp::new(direct),
            cross: Ramp::new(cross),
            left: Ramp::new(left),
            right: Ramp::new(right),
        })
    },
};

/// Mid/side width as a 2×2 matrix: with `M = (L+R)/2`, `S = (L−R)/2` and
/// `S' = w·S`, `L' = M + S' = p·L + q·R` and `R' = q·L + p·R`, where
/// `p = (1+w)/2` and `q = (1−w)/2`.
fn width_gains(width: f32) -> [f32; 2] {
    [0.5 * (1.0 + width), 0.5 * (1.0 - width)]
}

/// Balance: the side away from which the balance moves is attenuated
/// linearly; the other stays at unity.
fn balance_gains(balance: f32) -> [f32; 2] {
    let b = balance.clamp(-1.0, 1.0);
    [1.0 - b.max(0.0), 1.0 + b.min(0.0)]
}

/// Width and balance, ramped.
pub struct Width {
    direct: Ramp,
    cross: Ramp,
    left: Ramp,
    right: Ramp,
}

impl Processor for Width {
    fn set_param(&mut self, index: usize, value: f32) {
        if index == 0 {
            let [p, q] = width_gains(value);
            self.direct.set(p);
            self.cross.set(q);
        } else {
            let [l, r] = balance_gains(value);
            self.left.set(l);
            self.right.set(r);
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (l_in, r_in) = (io.input(0, 0), io.input(0, 1));
        let [p, q, bl, br] = [&self.direct, &self.cross, &self.left, &self.right].map(|r| r.segment(frames));
        let [l_out, r_out] = io.outputs([(0, 0), (0, 1)]);
        if [p, q, bl, br].iter().all(|s| s.is_flat()) {
            let (p, q, bl, br) = (p.at(0), q.at(0), bl.at(0), br.at(0));
            for k in 0..frames {
                let (l, r) = (l_in[k], r_in[k]);
                l_out[k] = bl * (p * l + q * r);
                r_out[k] = br * (q * l + p * r);
            }
        } else {
            for k in 0..frames {
                let (l, r) = (l_in[k], r_in[k]);
                let (p, q) = (p.at(k), q.at(k));
                l_out[k] = bl.at(k) * (p * l + q * r);
                r_out[k] = br.at(k) * (q * l + p * r);
            }
        }
        for ramp in [&mut self.direct, &mut self.cross, &mut self.left, &mut self.right] {
            ramp.finish();
        }
    }
}

// ---------------------------------------------------------------------------
// Mixer

/// Channel strips of the `mixer`.
pub const MIXER_CHANNELS: usize = 8;
/// Parameters per strip, in order: gain, pan, mute, solo, send_a, send_b.
const STRIP_PARAMS: usize = 6;
/// Mute and solo fade over this many seconds instead of clicking.
const MUTE_FADE_S: f32 = 0.005;

/// The six parameters of strip `n`.
macro_rules! strip {
    ($n:literal) => {
        [
            ParamSpec::new(concat!("gain", $n), -96.0, 12.0, 0.0)
                .unit(Unit::Db)
                .doc(concat!("Fader of channel ", $n, " in dB; -96 dB is silence.")),
            ParamSpec::new(concat!("pan", $n), -1.0, 1.0, 0.0).doc(concat!(
                "Pan of channel ",
                $n,
                ": -1 left … +1 right (mono: constant power, stereo: balance)."
            )),
            ParamSpec::choice(concat!("mute", $n), &["off", "on"], 0).doc(concat!(
                "Mutes channel ",
                $n,
                " (main and sends; fades over 5 ms)."
            )),
            ParamSpec::choice(concat!("solo", $n), &["off", "on"], 0)
                .doc("While any channel is soloed, only soloed channels are heard (main and sends)."),
            ParamSpec::new(concat!("send_a", $n), -96.0, 12.0, -96.0)
                .unit(Unit::Db)
                .doc(concat!(
                    "Level in dB of channel ",
                    $n,
                    " into `send_a` (post-fader, post-pan)."
                )),
            ParamSpec::new(concat!("send_b", $n), -96.0, 12.0, -96.0)
                .unit(Unit::Db)
                .doc(concat!(
                    "Level in dB of channel ",
                    $n,
                    " into `send_b` (post-fader, post-pan)."
                )),
        ]
    };
}

const fn mixer_params() -> [ParamSpec; MIXER_CHANNELS * STRIP_PARAMS + 1] {
    let strips = [
        strip!(1),
        strip!(2),
        strip!(3),
        strip!(4),
        strip!(5),
        strip!(6),
        strip!(7),
        strip!(8),
    ];
    let mut out = [ParamSpec::new("master", -96.0, 12.0, 0.0)
        .unit(Unit::Db)
        .doc("Level of `main` in dB (the sends are not affected).");
        MIXER_CHANNELS * STRIP_PARAMS + 1];
    let mut i = 0;
    while i < MIXER_CHANNELS * STRIP_PARAMS {
        out[i] = strips[i / STRIP_PARAMS][i % STRIP_PARAMS];
        i += 1;
    }
    out
}

static MIXER_PARAMS: [ParamSpec; MIXER_CHANNELS * STRIP_PARAMS + 1] = mixer_params();

const fn strip_input(name: &'static str) -> PortSpec {
    PortSpec::audio(
        name,
        "A channel: stereo, or mono (spread) which `pan` places with constant power.",
    )
    .channels(2)
}

/// `mixer`: eight stereo strips, two send buses, a main bus.
pub static MIXER: NodeDescriptor = NodeDescriptor {
    kind: "mixer",
    category: "mixing",
    summary: "Eight-channel stereo mixer: per channel a fader, pan, mute, solo and two post-fader sends; \
              outputs the main mix and the two send buses.",
    inputs: &[
        strip_input("ch1"),
        strip_input("ch2"),
        strip_input("ch3"),
        strip_input("ch4"),
        strip_input("ch5"),
        strip_input("ch6"),
        strip_input("ch7"),
        strip_input("ch8"),
    ],
    outputs: &[
        PortSpec::audio("main", "The main mix, after `master`.").channels(2),
        PortSpec::audio(
            "send_a",
            "Sum of the channels at their `send_a` levels (to an effect).",
        )
        .channels(2),
        PortSpec::audio("send_b", "Sum of the channels at their `send_b` levels.").channels(2),
    ],
    params: &MIXER_PARAMS,
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Mixer::new(ctx)),
};

/// One channel strip's state.
struct Strip {
    fader: Ramp,
    /// Constant-power pan gains, for a mono input.
    mono: [Ramp; 2],
    /// Balance gains, for a stereo input.
    stereo: [Ramp; 2],
    sends: [Ramp; 2],
    mute: bool,
    solo: bool,
    /// Heard (1) or muted (0), moving linearly between them.
    on: f32,
    on_target: f32,
}

/// Balance law for a stereo strip: the constant-power law scaled so the
/// centre is unity and clipped at unity, so the far side fades while the
/// near side stays (as in the balance control of most DAWs).
fn stereo_balance(pan: f32) -> [f32; 2] {
    pan_gains(pan).map(|g| (g * std::f32::consts::SQRT_2).min(1.0))
}

/// The mixer: eight strips of ramped gains.
pub struct Mixer {
    strips: [Strip; MIXER_CHANNELS],
    master: Ramp,
    fade_step: f32,
}

impl Mixer {
    fn new(ctx: &NodeContext) -> Self {
        let strips = std::array::from_fn(|i| {
            let p = |field: usize| ctx.param(i * STRIP_PARAMS + field);
            Strip {
                fader: Ramp::new(gain_of(p(0))),
                mono: pan_gains(p(1)).map(Ramp::new),
                stereo: stereo_balance(p(1)).map(Ramp::new),
                sends: [Ramp::new(gain_of(p(4))), Ramp::new(gain_of(p(5)))],
                mute: p(2) >= 0.5,
                solo: p(3) >= 0.5,
                on: 1.0,
                on_target: 1.0,
            }
        });
        let mut mixer = Mixer {
            strips,
            master: Ramp::new(gain_of(ctx.param(MIXER_CHANNELS * STRIP_PARAMS))),
            fade_step: 1.0 / (MUTE_FADE_S * ctx.sample_rate),
        };
        mixer.route();
        for s in &mut mixer.strips {
            s.on = s.on_target;
        }
        mixer
    }

    /// Which strips are heard, from mute and solo.
    fn route(&mut self) {
        let any_solo = self.strips.iter().any(|s| s.solo);
        for s in &mut self.strips {
            s.on_target = if s.mute || (any_solo && !s.solo) { 0.0 } else { 1.0 };
        }
    }
}

impl Processor for Mixer {
    fn set_param(&mut self, index: usize, value: f32) {
        let (strip, field) = (index / STRIP_PARAMS, index % STRIP_PARAMS);
        let Some(s) = self.strips.get_mut(strip) else {
            self.master.set(gain_of(value));
            return;
        };
        match field {
            0 => s.fader.set(gain_of(value)),
            1 => {
                let [l, r] = pan_gains(value);
                let [bl, br] = stereo_balance(value);
                s.mono[0].set(l);
                s.mono[1].set(r);
                s.stereo[0].set(bl);
                s.stereo[1].set(br);
            }
            2 => s.mute = value >= 0.5,
            3 => s.solo = value >= 0.5,
            4 => s.sends[0].set(gain_of(value)),
            _ => s.sends[1].set(gain_of(value)),
        }
        if field == 2 || field == 3 {
            self.route();
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let inputs: [[&[f32]; 2]; MIXER_CHANNELS] = std::array::from_fn(|c| [io.input(c, 0), io.input(c, 1)]);
        let [ml, mr, al, ar, bl, br] = io.outputs([(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]);
        for o in [&mut *ml, &mut *mr, &mut *al, &mut *ar, &mut *bl, &mut *br] {
            o.fill(0.0);
        }
        let fade_step = self.fade_step;
        for (s, [xl, xr]) in self.strips.iter_mut().zip(inputs) {
            // A mono signal arrives on both sides in the same buffer.
            let mono = std::ptr::eq(xl.as_ptr(), xr.as_ptr());
            let pan = if mono { &mut s.mono } else { &mut s.stereo };
            let fader = s.fader.segment(frames);
            let [pl, pr] = [pan[0].segment(frames), pan[1].segment(frames)];
            let [sa, sb] = [s.sends[0].segment(frames), s.sends[1].segment(frames)];
            let steady = s.on == s.on_target;
            let flat = steady && [fader, pl, pr, sa, sb].iter().all(|g| g.is_flat());
            if flat {
                let f = fader.at(0) * s.on;
                if f != 0.0 {
                    let (gl, gr) = (f * pl.at(0), f * pr.at(0));
                    for k in 0..frames {
                        ml[k] += xl[k] * gl;
                        mr[k] += xr[k] * gr;
                    }
                    for (send, ol, or) in [(sa, &mut *al, &mut *ar), (sb, &mut *bl, &mut *br)] {
                        let g = send.at(0);
                        if g != 0.0 {
                            let (gl, gr) = (gl * g, gr * g);
                            for k in 0..frames {
                                ol[k] += xl[k] * gl;
                                or[k] += xr[k] * gr;
                            }
                        }
                    }
                }
            } else {
                let mut on = s.on;
                for k in 0..frames {
                    on = if on < s.on_target {
                        (on + fade_step).min(s.on_target)
                    } else {
                        (on - fade_step).max(s.on_target)
                    };
                    let f = fader.at(k) * on;
                    let (l, r) = (xl[k] * f * pl.at(k), xr[k] * f * pr.at(k));
                    ml[k] += l;
                    mr[k] += r;
                    let (a, b) = (sa.at(k), sb.at(k));
                    al[k] += l * a;
                    ar[k] += r * a;
                    bl[k] += l * b;
                    br[k] += r * b;
                }
                s.on = on;
            }
            s.fader.finish();
            for r in s.mono.iter_mut().chain(&mut s.stereo).chain(&mut s.sends) {
                r.finish();
            }
        }
        let master = self.master.segment(frames);
        if !(master.is_flat() && master.at(0) == 1.0) {
            for k in 0..frames {
                let g = master.at(k);
                ml[k] *= g;
                mr[k] *= g;
            }
        }
        self.master.finish();
    }
}

// ---------------------------------------------------------------------------
// Crossfade, split, merge, bus

/// `crossfade`: between two inputs.
pub static CROSSFADE: NodeDescriptor = NodeDescriptor {
    kind: "crossfade",
    category: "mixing",
    summary: "Crossfades from `a` to `b`: equal power (uncorrelated signals keep their loudness) or linear \
              (correlated signals, such as dry/wet of the same sound, keep their amplitude).",
    inputs: &[
        PortSpec::audio("a", "Heard at position 0.").follows(),
        PortSpec::audio("b", "Heard at position 1.").follows(),
    ],
    outputs: &[PortSpec::audio("out", "The blend.").follows()],
    params: &[
        ParamSpec::new("position", 0.0, 1.0, 0.5)
            .unit(Unit::Percent)
            .doc("0 = only `a`, 1 = only `b`."),
        ParamSpec::choice("law", &["equal_power", "linear"], 0).doc(
            "`equal_power`: gains cos/sin of position·π/2 (-3 dB each at the middle); `linear`: 1−p and p.",
        ),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| {
        let law = ctx.param(1) >= 0.5;
        let [a, b] = crossfade_gains(ctx.param(0), law);
        Box::new(Crossfade {
            position: ctx.param(0),
            linear: law,
            a: Ramp::new(a),
            b: Ramp::new(b),
            lanes: Lanes::detect(),
        })
    },
};

fn crossfade_gains(position: f32, linear: bool) -> [f32; 2] {
    let p = position.clamp(0.0, 1.0);
    if linear {
        [1.0 - p, p]
    } else {
        // The pan law: cos and sin of p·π/2, exactly 0 and 1 at the ends.
        pan_gains(2.0 * p - 1.0)
    }
}

/// Two ramped gains.
pub struct Crossfade {
    position: f32,
    linear: bool,
    a: Ramp,
    b: Ramp,
    lanes: Lanes,
}

impl Processor for Crossfade {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.position = value,
            _ => self.linear = value >= 0.5,
        }
        let [a, b] = crossfade_gains(self.position, self.linear);
        self.a.set(a);
        self.b.set(b);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        // At rest with both sides heard: one pass, rounding as the two
        // below do (each product, then their sum).
        if let (Some(ga), Some(gb)) = (self.a.resting(), self.b.resting())
            && ga != 0.0
            && gb != 0.0
        {
            for ch in 0..io.output_channels(0) {
                let (a, b) = (io.input(0, ch), io.input(1, ch));
                self.lanes.blend(io.output(0, ch), a, b, ga, gb);
            }
            io.rest(Rest::Blend(ga, gb));
        } else {
            self.fade(io);
        }
    }
}

impl Crossfade {
    /// Out of line, so that its setup stays off the at-rest path.
    #[inline(never)]
    fn fade(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let (a, b) = (io.input(0, ch), io.input(1, ch));
            let out = io.output(0, ch);
            write_scaled(out, a, &self.a, self.lanes);
            add_scaled(out, b, &self.b, self.lanes);
        }
        self.a.finish();
        self.b.finish();
    }
}

/// `split`: stereo to two monos.
pub static SPLIT: NodeDescriptor = NodeDescriptor {
    kind: "split",
    category: "mixing",
    summary: "Splits a stereo signal into its left and right channels.",
    inputs: &[PortSpec::audio("in", "Stereo signal (mono is spread: both outputs carry it).").channels(2)],
    outputs: &[
        PortSpec::audio("left", "Left channel."),
        PortSpec::audio("right", "Right channel."),
    ],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Route),
};

/// `merge`: two monos to stereo.
pub static MERGE: NodeDescriptor = NodeDescriptor {
    kind: "merge",
    category: "mixing",
    summary: "Joins two mono signals into one stereo signal.",
    inputs: &[
        PortSpec::audio("left", "Becomes the left channel."),
        PortSpec::audio("right", "Becomes the right channel."),
    ],
    outputs: &[PortSpec::audio("out", "Stereo signal.").channels(2)],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Route),
};

/// Copies input channels to output channels in order, across ports: the
/// processor of both `split` and `merge`.
pub struct Route;

impl Processor for Route {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let (mut port, mut ch) = (0, 0);
        for p in 0..io.output_ports() {
            for c in 0..io.output_channels(p) {
                if port >= io.input_ports() {
                    io.output(p, c).fill(0.0);
                    continue;
                }
                let input = io.input(port, ch);
                io.output(p, c).copy_from_slice(input);
                ch += 1;
                if ch == io.input_channels(port) {
                    (port, ch) = (port + 1, 0);
                }
            }
        }
    }
}

/// `bus`: a named summing point.
pub static BUS: NodeDescriptor = NodeDescriptor {
    kind: "bus",
    category: "mixing",
    summary: "A summing point named by its node id: every edge into `<id>.in` is summed (\"sending to the \
              bus\"), then scaled by `gain`; connect `<id>.out` onward like any output.",
    inputs: &[PortSpec::audio("in", "Connect any number of signals here: they are summed.").follows()],
    outputs: &[PortSpec::audio("out", "The sum, as wide as the widest signal sent.").follows()],
    params: &[ParamSpec::new("gain", -96.0, 24.0, 0.0)
        .unit(Unit::Db)
        .doc("Level of the bus in dB; -96 dB is silence.")],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| Box::new(Gain::new(ctx.param(0))),
};

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const SINE_RMS: f32 = std::f32::consts::FRAC_1_SQRT_2;

    #[test]
    fn a_muted_gain_writes_true_silence_and_rests() {
        // Both sources are negative at times: `-x × 0` would be -0.
        for (source, param, value) in [("sine", "amp", 0.5), ("constant", "value", -0.5)] {
            let mut patch = Patch::default();
            patch.nodes.push(node("src", source, &[(param, value)]));
            patch.nodes.push(node("g", "gain", &[("gain", -96.0)]));
            patch.nodes.push(node("out", "output", &[]));
            patch.connect("src.out", "g.in").connect("g.out", "out.in");
            let (plan, mut schedule) = schedule_of(&patch);
            for _ in 0..3 {
                schedule.process();
                let [l, r] = schedule.master();
                assert!(l.iter().chain(r).all(|x| x.to_bits() == 0), "{source}: {l:?}");
            }
            let g = plan.node_index("g").unwrap();
            assert!(schedule.is_skipped(g), "fed by {source}");
        }
    }

    #[test]
    fn gain_scales_by_decibels() {
        let out = render_node("sine", &[("freq", 1000.0)], "gain", &[("gain", -6.0)], 48_000);
        let expected = SINE_RMS * 10f32.powf(-6.0 / 20.0);
        assert!((rms(&out[4800..]) - expected).abs() < 1e-3, "rms {}", rms(&out));
    }

    fn panned(pan: f64) -> (Vec<f32>, Vec<f32>) {
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("pan", "pan", &[("pan", pan)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "pan.in").connect("pan.out", "out.in");
        render_patch(&patch, 48_000, 48_000)
    }

    #[test]
    fn pan_is_constant_power_and_minus_3db_at_centre() {
        let (l, r) = panned(0.0);
        for side in [&l, &r] {
            let db = to_db(rms(side) / SINE_RMS);
            assert!((db + 3.01).abs() < 0.1, "centre: {db} dB");
        }
        let (l, r) = panned(-1.0);
        assert!(
            to_db(rms(&r)) < -90.0,
            "hard left leaks {} dB right",
            to_db(rms(&r))
        );
        assert!(to_db(rms(&l) / SINE_RMS).abs() < 0.01);
        let (l, r) = panned(1.0);
        assert!(to_db(rms(&l)) < -90.0 && to_db(rms(&r) / SINE_RMS).abs() < 0.01);
        let (l, r) = panned(0.5);
        let power = (rms(&l) / SINE_RMS).powi(2) + (rms(&r) / SINE_RMS).powi(2);
        assert!((power - 1.0).abs() < 1e-3, "power {power}");
        assert!(rms(&r) > rms(&l));
    }

    #[test]
    fn mix_sums_its_inputs_with_their_gains() {
        let mut patch = Patch::default();
        patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("b", "sine", &[("freq", 3000.0)]));
        patch.nodes.push(node("c", "sine", &[("freq", 5000.0)]));
        patch.nodes.push(node(
            "mix",
            "mix",
            &[("gain1", 0.0), ("gain2", -6.0), ("gain3", -96.0), ("gain4", 12.0)],
        ));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("a.out", "mix.in1")
            .connect("b.out", "mix.in2")
            .connect("c.out", "mix.in3")
            .connect("mix.out", "out.in");
        let (l, _) = render_patch(&patch, 48_000, 48_000);
        // Sines of different frequencies add in power.
        let g2 = 10f32.powf(-6.0 / 20.0);
        let expected = SINE_RMS * (1.0 + g2 * g2).sqrt();
        assert!((rms(&l) - expected).abs() < 1e-3, "rms {} vs {expected}", rms(&l));
        let s = magnitude_spectrum(&l);
        let at = |f: f32| level_at(&s, f, 48_000.0, l.len());
        assert!(at(1000.0).abs() < 0.05 && (at(3000.0) + 6.0).abs() < 0.05);
        assert!(at(5000.0) < -100.0, "-96 dB is silence: {}", at(5000.0));
    }

    #[test]
    fn mix_is_as_wide_as_its_widest_input() {
        let mut patch = Patch::default();
        patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("pan", "pan", &[("pan", -1.0)]));
        patch.nodes.push(node("b", "sine", &[("freq", 3000.0)]));
        patch.nodes.push(node("mix", "mix", &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("a.out", "pan.in")
            .connect("pan.out", "mix.in1")
            .connect("b.out", "mix.in2")
            .connect("mix.out", "out.in");
        let (l, r) = render_patch(&patch, 48_000, 48_000);
        // Left: both sines; right: only the mono one, spread to both sides.
        assert!((rms(&l) - 1.0).abs() < 1e-3 && (rms(&r) - SINE_RMS).abs() < 1e-3);
    }

    #[test]
    fn levels_glide_without_steps() {
        // A steady 1.0 through each node while its level is swept: the
        // runtime moves the parameter every 16 frames, the node must fill in
        // between. (Stepping every 16 frames would jump by ~0.07.)
        for (kind, input, param, from, to) in [
            ("gain", "in", "gain", 0.0, -40.0),
            ("mix", "in3", "gain3", 0.0, -40.0),
            ("pan", "in", "pan", -1.0, 1.0),
        ] {
            let mut patch = Patch::default();
            patch.nodes.push(node("one", "constant", &[("value", 1.0)]));
            patch.nodes.push(node("dut", kind, &[(param, from)]));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("one.out", &format!("dut.{input}"))
                .connect("dut.out", "out.in");
            let change = |frame, value| Change {
                frame,
                node: "dut",
                param,
                value,
            };
            let changes = [change(4800, to as f32), change(9600, from as f32)];
            let (l, r) = render_patch_with(&patch, 14_400, 48_000, 64, &changes);
            for side in [l, r] {
                assert!(max_step(&side) < 0.01, "{kind}: step of {}", max_step(&side));
            }
        }
    }

    #[test]
    fn width_zero_is_mono_and_one_is_unchanged() {
        let render = |width: f64, balance: f64| {
            let mut patch = Patch::default();
            patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
            patch
                .nodes
                .push(node("b", "sine", &[("freq", 1500.0), ("amp", 0.5)]));
            patch.nodes.push(node("m", "merge", &[]));
            patch
                .nodes
                .push(node("w", "width", &[("width", width), ("balance", balance)]));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("a.out", "m.left")
                .connect("b.out", "m.right")
                .connect("m.out", "w.in")
                .connect("w.out", "out.in");
            render_patch(&patch, 4800, 48_000)
        };
        let a = render_source("sine", &[("freq", 1000.0)], 4800, 48_000);
        let b = render_source("sine", &[("freq", 1500.0), ("amp", 0.5)], 4800, 48_000);
        let (l, r) = render(0.0, 0.0);
        assert_eq!(l, r, "width 0 is mono");
        for k in 0..l.len() {
            assert!((l[k] - 0.5 * (a[k] + b[k])).abs() < 1e-6);
        }
        let (l, r) = render(1.0, 0.0);
        assert_eq!((l, r), (a.clone(), b.clone()), "width 1 is unchanged");
        // Width 2 doubles the side: L' = 1.5 L − 0.5 R.
        let (l, _) = render(2.0, 0.0);
        assert!((0..l.len()).all(|k| (l[k] - (1.5 * a[k] - 0.5 * b[k])).abs() < 1e-6));
        // Balance right by half: left at -6 dB, right unchanged.
        let (l, r) = render(1.0, 0.5);
        assert!((rms(&l) / rms(&a) - 0.5).abs() < 1e-6 && r == b);
    }

    /// A mixer with a 1 kHz sine (mono) on ch1, a 3 kHz sine on ch2 and a
    /// stereo pair (5 kHz left, 7 kHz right) on ch3; returns main, send_a,
    /// send_b as (left, right) each, through three outputs rendered apart.
    fn mixed(params: &[(&str, f64)]) -> [(Vec<f32>, Vec<f32>); 3] {
        ["main", "send_a", "send_b"].map(|port| {
            let mut patch = Patch::default();
            patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
            patch.nodes.push(node("b", "sine", &[("freq", 3000.0)]));
            patch.nodes.push(node("cl", "sine", &[("freq", 5000.0)]));
            patch.nodes.push(node("cr", "sine", &[("freq", 7000.0)]));
            patch.nodes.push(node("st", "merge", &[]));
            patch.nodes.push(node("mx", "mixer", params));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("a.out", "mx.ch1")
                .connect("b.out", "mx.ch2")
                .connect("cl.out", "st.left")
                .connect("cr.out", "st.right")
                .connect("st.out", "mx.ch3")
                .connect(&format!("mx.{port}"), "out.in");
            render_patch(&patch, 48_000, 48_000)
        })
    }

    /// Level in dB of `freq` in a signal.
    fn level(x: &[f32], freq: f32) -> f32 {
        level_at(&magnitude_spectrum(x), freq, 48_000.0, x.len())
    }

    #[test]
    fn mixer_pans_mono_with_constant_power_and_balances_stereo() {
        let [(l, r), _, _] = mixed(&[("pan1", 0.0), ("pan2", 1.0), ("pan3", 0.0)]);
        // Mono at centre: -3 dB each side; hard right: silent left.
        assert!((level(&l, 1000.0) + 3.01).abs() < 0.05 && (level(&r, 1000.0) + 3.01).abs() < 0.05);
        assert!(level(&l, 3000.0) < -100.0 && level(&r, 3000.0).abs() < 0.05);
        // Stereo at centre: both sides unchanged, not mixed.
        assert!(level(&l, 5000.0).abs() < 0.05 && level(&r, 7000.0).abs() < 0.05);
        assert!(level(&l, 7000.0) < -100.0 && level(&r, 5000.0) < -100.0);
        // Stereo balanced left: right fades, left stays.
        let [(l, r), _, _] = mixed(&[("pan3", -0.5)]);
        assert!(level(&l, 5000.0).abs() < 0.05);
        let expected = to_db(std::f32::consts::SQRT_2 * (std::f32::consts::FRAC_PI_8).sin());
        assert!(
            (level(&r, 7000.0) - expected).abs() < 0.05,
            "{}",
            level(&r, 7000.0)
        );
    }

    #[test]
    fn mixer_solo_mutes_the_others_and_sends_carry_their_levels() {
        let [(l, _), (al, _), (bl, _)] = mixed(&[
            ("gain1", -6.0),
            ("send_a1", -10.0),
            ("send_b1", 0.0),
            ("send_a2", 0.0),
            ("pan1", -1.0),
            ("pan2", -1.0),
            ("master", -2.0),
        ]);
        // Main: fader and master; send A: fader, pan and send level (not master).
        assert!((level(&l, 1000.0) + 8.0).abs() < 0.05, "{}", level(&l, 1000.0));
        assert!((level(&al, 1000.0) + 16.0).abs() < 0.05, "{}", level(&al, 1000.0));
        assert!((level(&bl, 1000.0) + 6.0).abs() < 0.05);
        assert!(level(&al, 3000.0).abs() < 0.05 && level(&bl, 3000.0) < -100.0);
        // Solo channel 2: channels 1 and 3 vanish from main and sends.
        let [(l, r), (al, _), _] = mixed(&[("solo2", 1.0), ("send_a1", 0.0), ("send_a2", 0.0)]);
        assert!(level(&l, 1000.0) < -100.0 && level(&l, 5000.0) < -100.0 && level(&r, 7000.0) < -100.0);
        assert!((level(&l, 3000.0) + 3.01).abs() < 0.05);
        assert!(level(&al, 1000.0) < -100.0 && (level(&al, 3000.0) + 3.01).abs() < 0.05);
        // Two solos: both heard; mute beats solo.
        let [(l, _), _, _] = mixed(&[("solo2", 1.0), ("solo1", 1.0), ("mute2", 1.0)]);
        assert!((level(&l, 1000.0) + 3.01).abs() < 0.05 && level(&l, 3000.0) < -100.0);
        assert!(level(&l, 5000.0) < -100.0);
    }

    #[test]
    fn mixer_mute_fades_instead_of_clicking() {
        let mut patch = Patch::default();
        patch.nodes.push(node("one", "constant", &[("value", 1.0)]));
        patch.nodes.push(node("mx", "mixer", &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("one.out", "mx.ch1").connect("mx.main", "out.in");
        for block in [1, 64, 256] {
            let changes = [
                Change {
                    frame: 4800,
                    node: "mx",
                    param: "mute1",
                    value: 1.0,
                },
                Change {
                    frame: 9600,
                    node: "mx",
                    param: "solo4",
                    value: 1.0,
                },
                Change {
                    frame: 12_000,
                    node: "mx",
                    param: "mute1",
                    value: 0.0,
                },
            ];
            let (l, _) = render_patch_with(&patch, 14_400, 48_000, block, &changes);
            assert!(max_step(&l) < 0.005, "block {block}: step {}", max_step(&l));
            assert!(l[9000] == 0.0 && l[14_000] == 0.0, "muted, then soloed away");
        }
    }

    #[test]
    fn crossfade_keeps_power_of_uncorrelated_inputs() {
        for position in [0.0, 0.1, 0.25, 0.5, 0.75, 1.0] {
            let mut patch = Patch::default();
            patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
            patch.nodes.push(node("b", "sine", &[("freq", 3000.0)]));
            patch
                .nodes
                .push(node("x", "crossfade", &[("position", position)]));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("a.out", "x.a")
                .connect("b.out", "x.b")
                .connect("x.out", "out.in");
            let (l, _) = render_patch(&patch, 48_000, 48_000);
            assert!((rms(&l) - SINE_RMS).abs() < 1e-3, "{position}: {}", rms(&l));
            let theta = position as f32 * std::f32::consts::FRAC_PI_2;
            let (a, b) = (level(&l, 1000.0), level(&l, 3000.0));
            assert!((a - to_db(theta.cos())).abs() < 0.05 || theta.cos() < 1e-6 && a < -100.0);
            assert!((b - to_db(theta.sin())).abs() < 0.05 || theta.sin() < 1e-6 && b < -100.0);
        }
    }

    #[test]
    fn split_and_merge_round_trip_and_bus_sums() {
        let mut patch = Patch::default();
        patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("b", "noise", &[]));
        patch.nodes.push(node("m", "merge", &[]));
        patch.nodes.push(node("s", "split", &[]));
        patch.nodes.push(node("m2", "merge", &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("a.out", "m.left")
            .connect("b.out", "m.right")
            .connect("m.out", "s.in")
            .connect("s.left", "m2.left")
            .connect("s.right", "m2.right")
            .connect("m2.out", "out.in");
        let (l, r) = render_patch(&patch, 4800, 48_000);
        assert_eq!(l, render_source("sine", &[("freq", 1000.0)], 4800, 48_000));
        assert_eq!(r, render_source("noise", &[], 4800, 48_000));
        // A bus: three sends summed, then its gain.
        let mut patch = Patch::default();
        for (id, v) in [("x", 0.125), ("y", 0.25), ("z", 0.5)] {
            patch.nodes.push(node(id, "constant", &[("value", v)]));
            patch.connect(&format!("{id}.out"), "fx.in");
        }
        patch.nodes.push(node("fx", "bus", &[("gain", -6.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("fx.out", "out.in");
        let (l, _) = render_patch(&patch, 64, 48_000);
        assert!((l[63] - 0.875 * 10f32.powf(-6.0 / 20.0)).abs() < 1e-6);
    }

    #[test]
    fn new_levels_glide_without_steps() {
        for (kind, input, param, from, to) in [
            ("width", "in", "balance", -1.0, 1.0),
            ("crossfade", "a", "position", 0.0, 1.0),
            ("mixer", "ch1", "gain1", 0.0, -40.0),
            ("mixer", "ch1", "pan1", -1.0, 1.0),
            ("bus", "in", "gain", 0.0, -40.0),
        ] {
            let mut patch = Patch::default();
            patch.nodes.push(node("one", "constant", &[("value", 1.0)]));
            patch.nodes.push(node("dut", kind, &[(param, from)]));
            patch.nodes.push(node("out", "output", &[]));
            let output = if kind == "mixer" { "main" } else { "out" };
            patch
                .connect("one.out", &format!("dut.{input}"))
                .connect(&format!("dut.{output}"), "out.in");
            let change = |frame, value| Change {
                frame,
                node: "dut",
                param,
                value,
            };
            let changes = [change(4800, to as f32), change(9600, from as f32)];
            let (l, r) = render_patch_with(&patch, 14_400, 48_000, 64, &changes);
            for side in [l, r] {
                assert!(
                    max_step(&side) < 0.01,
                    "{kind}.{param}: step of {}",
                    max_step(&side)
                );
            }
        }
    }
}
