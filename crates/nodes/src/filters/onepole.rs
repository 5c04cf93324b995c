//! First-order filters: `onepole_lp` and `onepole_hp` (6 dB/octave), and
//! `dc_block`.
//!
//! The one-poles are the topology-preserving-transform one-pole of Vadim
//! Zavalishin, "The Art of VA Filter Design" (rev. 2.1.2, ch. 3.10): the
//! analog `1/(1 + s)` through the bilinear transform prewarped at the cutoff,
//! so the gain at the cutoff is exactly -3.01 dB at any sample rate. With
//! `g = tan(π fc/Fs)` and `G = g/(1 + g)`, per sample:
//! `v = (x - s) G`, `lp = v + s`, `s ← lp + v`, `hp = x - lp`.
//!
//! The DC blocker is the leaky differentiator of Julius O. Smith III,
//! "Introduction to Digital Filters with Audio Applications", appendix
//! "DC Blocker": `y[n] = x[n] - x[n-1] + R y[n-1]`, a zero at DC and a pole
//! at `R = exp(-2π fc/Fs)` just inside it. All three run as one
//! first-order recurrence (`FirstOrder`), four samples at a time.

use std::f64::consts::{PI, TAU};

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

use super::{clamp_frequency, frequency};

const IN: PortSpec = PortSpec::audio("in", "Signal to filter.").follows();
const OUT: PortSpec = PortSpec::audio("out", "Filtered signal.").follows();

/// `onepole_lp`: 6 dB/octave low-pass.
pub static ONEPOLE_LP: NodeDescriptor = NodeDescriptor {
    kind: "onepole_lp",
    category: "filters",
    summary: "Gentle 6 dB/octave one-pole low-pass (Zavalishin TPT), each channel filtered alike.",
    inputs: &[IN],
    outputs: &[OUT],
    params: &[frequency(
        "cutoff",
        1000.0,
        "Cutoff frequency in Hz (-3 dB); held below 0.49 × the sample rate.",
    )],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(OnePole::new(ctx, false)),
};

/// `onepole_hp`: 6 dB/octave high-pass.
pub static ONEPOLE_HP: NodeDescriptor = NodeDescriptor {
    kind: "onepole_hp",
    category: "filters",
    summary: "Gentle 6 dB/octave one-pole high-pass (Zavalishin TPT), each channel filtered alike.",
    inputs: &[IN],
    outputs: &[OUT],
    params: &[frequency(
        "cutoff",
        100.0,
        "Cutoff frequency in Hz (-3 dB); held below 0.49 × the sample rate.",
    )],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(OnePole::new(ctx, true)),
};

/// `dc_block`: removes DC offset.
pub static DC_BLOCK: NodeDescriptor = NodeDescriptor {
    kind: "dc_block",
    category: "filters",
    summary: "Removes DC offset and sub-audio drift: a leaky differentiator (J. O. Smith), flat above 50 Hz.",
    inputs: &[IN],
    outputs: &[OUT],
    params: &[ParamSpec::new("cutoff", 1.0, 200.0, 10.0)
        .unit(Unit::Hz)
        .log()
        .doc("Corner frequency in Hz (about -3 dB); below it the signal fades, DC is removed entirely.")],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(DcBlock::new(ctx)),
};

/// A first-order filter as the three kinds run it: a state recurrence
/// `s[n] = a s[n-1] + b x[n]` and an output `y[n] = cx x[n] + cs s[n-1]`.
///
/// - one-pole low-pass (TPT): `a = 1 - 2G`, `b = 2G`, `y = G x + (1 - G) s`
///   (the `lp = v + s` above, `v = G(x - s)`);
/// - one-pole high-pass: the same state, `y = x - lp = (1 - G) x - (1 - G) s`;
/// - DC blocker: `H(z) = (1 - z⁻¹)/(1 - R z⁻¹) = 1 - (1 - R) z⁻¹/(1 - R z⁻¹)`,
///   so `a = R`, `b = 1 - R`, `y = x - s`: a one-pole low-pass of the input
///   (the DC estimate) subtracted, one sample late — no previous input to
///   keep, and the estimate stays put when `R` changes.
///
/// Four samples at a time: from the state `base` before a group,
/// `s_k = a^(k+1) base + u_k` with `u_k = Σ_(j≤k) a^(k-j) b x_j`. The `u`
/// depend only on the input, so the four lanes compute side by side (the
/// loop vectorises) and only `base → s_3` is carried from group to group —
/// instead of every sample waiting on the last one's multiply-add.
/// A group cut by the end of a call is finished sample by sample in the
/// next with the same arithmetic (`Leaky` keeps its inputs so far), so the
/// output is bit-identical at every block size.
///
/// The lanes are f32 (four to a register); the carried `base` is f64. With
/// `a` near 1 at low corners, an f32 recursion would settle up to
/// `ulp / (1 - a⁴)` away from the true level (2e-4 of it for 1 Hz at
/// 192 kHz); rounding the lanes only adds errors that do not accumulate.
#[derive(Clone, Copy, Debug)]
struct FirstOrder {
    /// `a¹..a³`: weights of `base` in lanes 0..2, and of the earlier inputs
    /// of a group.
    p: [f32; 3],
    /// `a¹..a⁴` in f64, for the carried state.
    wide: [f64; 4],
    b: f32,
    cx: f32,
    cs: f32,
}

impl FirstOrder {
    fn new(a: f64, b: f64, cx: f64, cs: f64) -> Self {
        let wide = [a, a * a, a * a * a, a * a * a * a];
        FirstOrder {
            p: [wide[0] as f32, wide[1] as f32, wide[2] as f32],
            wide,
            b: b as f32,
            cx: cx as f32,
            cs: cs as f32,
        }
    }

    /// `u_k` from the group's `b x` so far: `bx[k] + a bx[k-1] + a² bx[k-2]
    /// + a³ bx[k-3]`, missing terms zero, always summed in this order.
    #[inline(always)]
    fn partial(&self, bx: &[f32; 4], k: usize) -> f32 {
        let at = |j: usize| if j <= k { bx[k - j] } else { 0.0 };
        ((at(0) + self.p[0] * at(1)) + self.p[1] * at(2)) + self.p[2] * at(3)
    }

    /// The state after the last sample, as the lanes see it.
    #[inline(always)]
    fn current(&self, state: &Leaky) -> f32 {
        match state.phase {
            0 => state.base as f32,
            k => self.p[k - 1] * state.base as f32 + self.partial(&state.bx, k - 1),
        }
    }

    /// Start a new group from the exact current state (before the
    /// coefficients change).
    fn rebase(&self, state: &mut Leaky) {
        let base = match state.phase {
            0 => state.base,
            k => self.wide[k - 1] * state.base + self.partial(&state.bx, k - 1) as f64,
        };
        *state = Leaky {
            base,
            ..Leaky::default()
        };
    }

    /// Filter `input` into `output`, continuing from `state`.
    #[inline(always)]
    fn run(&self, state: &mut Leaky, input: &[f32], output: &mut [f32]) {
        let n = input.len().min(output.len());
        let (input, output) = (&input[..n], &mut output[..n]);
        let mut i = 0;
        while i < n && state.phase != 0 {
            output[i] = self.step(state, input[i]);
            i += 1;
        }
        if state.phase != 0 {
            // The call ended inside the group.
            return;
        }
        let (b, cx, cs, p, a4) = (self.b, self.cx, self.cs, self.p, self.wide[3]);
        let mut base = state.base;
        for (x, y) in input[i..].chunks_exact(4).zip(output[i..].chunks_exact_mut(4)) {
            let x = [x[0], x[1], x[2], x[3]];
            let bx = x.map(|x| b * x);
            // `partial` for each lane, zeros written out.
            let sh1 = [0.0, bx[0], bx[1], bx[2]];
            let sh2 = [0.0, 0.0, bx[0], bx[1]];
            let sh3 = [0.0, 0.0, 0.0, bx[0]];
            let mut u = [0.0f32; 4];
            for k in 0..4 {
                u[k] = ((bx[k] + p[0] * sh1[k]) + p[1] * sh2[k]) + p[2] * sh3[k];
            }
            let b32 = base as f32;
            let before = [b32, p[0] * b32 + u[0], p[1] * b32 + u[1], p[2] * b32 + u[2]];
            for k in 0..4 {
                y[k] = cx * x[k] + cs * before[k];
            }
            base = a4 * base + u[3] as f64;
        }
        state.base = base;
        i += (n - i) / 4 * 4;
        while i < n {
            output[i] = self.step(state, input[i]);
            i += 1;
        }
    }

    /// One sample of a group cut by the ends of a call: the same arithmetic
    /// as [`FirstOrder::run`]'s four-lane body.
    #[inline(always)]
    fn step(&self, state: &mut Leaky, x: f32) -> f32 {
        let k = state.phase;
        let y = self.cx * x + self.cs * self.current(state);
        state.bx[k] = self.b * x;
        if k == 3 {
            let base = self.wide[3] * state.base + self.partial(&state.bx, 3) as f64;
            *state = Leaky {
                base,
                ..Leaky::default()
            };
        } else {
            state.phase = k + 1;
        }
        y
    }
}

/// One channel's state of a [`FirstOrder`] filter: the state before the
/// current group, and inside a group cut by a call's end, the group's
/// `b x` so far.
#[derive(Clone, Copy, Debug, Default)]
struct Leaky {
    base: f64,
    bx: [f32; 4],
    phase: usize,
}

/// The TPT one-pole, low- or high-pass, with per-channel state.
pub struct OnePole {
    highpass: bool,
    sample_rate: f64,
    filter: FirstOrder,
    states: Vec<Leaky>,
}

impl OnePole {
    fn new(ctx: &NodeContext, highpass: bool) -> Self {
        let mut p = OnePole {
            highpass,
            sample_rate: ctx.sample_rate as f64,
            filter: FirstOrder::new(1.0, 0.0, 0.0, 0.0),
            states: vec![Leaky::default(); ctx.channels],
        };
        p.set_param(0, ctx.param(0));
        p
    }
}

impl Processor for OnePole {
    fn set_param(&mut self, _: usize, value: f32) {
        for s in &mut self.states {
            self.filter.rebase(s);
        }
        let g = (PI * clamp_frequency(value as f64, self.sample_rate) / self.sample_rate).tan();
        let gain = g / (1.0 + g);
        let keep = 1.0 - gain;
        let (cx, cs) = if self.highpass {
            (keep, -keep)
        } else {
            (gain, keep)
        };
        self.filter = FirstOrder::new(1.0 - 2.0 * gain, 2.0 * gain, cx, cs);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for (ch, state) in self.states.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            self.filter.run(state, input, io.output(0, ch));
        }
    }
}

/// The DC blocker with per-channel state.
pub struct DcBlock {
    sample_rate: f64,
    filter: FirstOrder,
    states: Vec<Leaky>,
}

impl DcBlock {
    fn new(ctx: &NodeContext) -> Self {
        let mut d = DcBlock {
            sample_rate: ctx.sample_rate as f64,
            filter: FirstOrder::new(0.0, 1.0, 1.0, 0.0),
            states: vec![Leaky::default(); ctx.channels],
        };
        d.set_param(0, ctx.param(0));
        d
    }
}

impl Processor for DcBlock {
    fn set_param(&mut self, _: usize, value: f32) {
        for s in &mut self.states {
            self.filter.rebase(s);
        }
        let r = (-TAU * clamp_frequency(value as f64, self.sample_rate) / self.sample_rate).exp();
        self.filter = FirstOrder::new(r, 1.0 - r, 1.0, -1.0);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for (ch, state) in self.states.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            self.filter.run(state, input, io.output(0, ch));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::TAU;

    use rustfft::num_complex::Complex64;

    use crate::filters::measure::*;
    use crate::testing::*;

    /// The analog one-poles `1/(1+s)` and `s/(1+s)`, warped at `f0`.
    fn analytic(highpass: bool, f: f64, f0: f64, fs: f64) -> Complex64 {
        let s = Complex64::new(0.0, warp(f, f0, fs));
        if highpass { s / (s + 1.0) } else { 1.0 / (s + 1.0) }
    }

    #[test]
    fn one_poles_are_3_db_down_at_their_cutoff_and_match_the_analytic_response() {
        for (kind, highpass) in [("onepole_lp", false), ("onepole_hp", true)] {
            for (f0, rate) in [
                (1000.0, 48_000),
                (50.0, 44_100),
                (9000.0, 22_050),
                (15_000.0, 192_000),
            ] {
                let ir = impulse_response(kind, "out", &[("cutoff", f0)], rate);
                let fs = rate as f64;
                let at_cutoff = db(response(&ir, f0, fs));
                assert!(
                    (at_cutoff + 3.0103).abs() < 0.1,
                    "{kind} {f0} Hz at {rate}: {at_cutoff} dB at the cutoff"
                );
                for f in probes(fs) {
                    let expected = analytic(highpass, f, f0 as f32 as f64, fs);
                    assert_close_db(&ir, f, fs, expected, 0.1, &format!("{kind} {f0} Hz at {rate}"));
                }
            }
        }
    }

    #[test]
    fn dc_block_removes_dc_and_is_flat_above_50_hz() {
        for rate in [22_050, 48_000, 192_000] {
            // A sine riding on a +0.5 offset: after a second the offset is gone.
            let mut patch = Patch::default();
            patch.nodes.push(node("dc", "constant", &[("value", 0.5)]));
            patch
                .nodes
                .push(node("tone", "sine", &[("freq", 100.0), ("amp", 0.25)]));
            patch.nodes.push(node("b", "dc_block", &[]));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("dc.out", "b.in")
                .connect("tone.out", "b.in")
                .connect("b.out", "out.in");
            let (l, _) = render_patch(&patch, rate as usize * 2, rate);
            let tail = &l[rate as usize..];
            let mean = tail.iter().map(|&v| v as f64).sum::<f64>() / tail.len() as f64;
            assert!(mean.abs() < 1e-4, "{rate}: mean {mean}");

            let ir = impulse_response("dc_block", "out", &[], rate);
            let fs = rate as f64;
            let r = (-TAU * 10f32 as f64 / fs).exp();
            for f in probes(fs).filter(|&f| f >= 50.0) {
                let measured = db(response(&ir, f, fs));
                assert!(measured.abs() < 0.2, "{rate}: {measured} dB at {f}");
                if f >= 200.0 {
                    assert!(measured.abs() < 0.02, "{rate}: {measured} dB at {f}");
                }
                let z = Complex64::from_polar(1.0, -TAU * f / fs);
                let expected = (1.0 - z) / (1.0 - z * r);
                assert_close_db(&ir, f, fs, expected, 0.01, "dc_block");
            }
            assert!(db(response(&ir, 1.0, fs)) < -18.0);
        }
    }

    #[test]
    fn rounding_at_the_lowest_corners_stays_below_minus_100_db() {
        // A steady 0.5 at 192 kHz, where the f32 state's coefficient is
        // closest to 1: after settling, the low-pass holds 0.5 and the DC
        // blocker 0, each within 1e-5.
        for (kind, cutoff, settled) in [("onepole_lp", 10.0, 0.5), ("dc_block", 1.0, 0.0)] {
            let mut patch = Patch::default();
            patch.nodes.push(node("dc", "constant", &[("value", 0.5)]));
            patch.nodes.push(node("f", kind, &[("cutoff", cutoff)]));
            patch.nodes.push(node("out", "output", &[]));
            patch.connect("dc.out", "f.in").connect("f.out", "out.in");
            let (l, _) = render_patch(&patch, 192_000 * 6, 192_000);
            let worst = l[192_000 * 5..]
                .iter()
                .fold(0.0f32, |m, &v| m.max((v - settled).abs()));
            assert!(worst < 1e-5, "{kind}: {worst}");
        }
    }

    #[test]
    fn four_lane_groups_and_single_samples_agree_to_the_bit() {
        let f = super::FirstOrder::new(0.97, 0.03, 0.4, 0.6);
        let x: Vec<f32> = (0..203)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let mut whole = vec![0.0; x.len()];
        f.run(&mut super::Leaky::default(), &x, &mut whole);
        for chunk in [1, 3, 5, 64] {
            let mut state = super::Leaky::default();
            let mut parts = vec![0.0; x.len()];
            for (x, y) in x.chunks(chunk).zip(parts.chunks_mut(chunk)) {
                f.run(&mut state, x, y);
            }
            let first = whole
                .iter()
                .zip(&parts)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(
                first,
                None,
                "in calls of {chunk}: {:?}",
                first.map(|i| (whole[i], parts[i]))
            );
        }
    }

    #[test]
    fn sweeping_every_parameter_end_to_end_stays_finite() {
        for kind in ["onepole_lp", "onepole_hp", "dc_block"] {
            for rate in [22_050, 192_000] {
                let (l, _) = sweep_every_parameter(kind, rate);
                assert!(
                    l.iter().all(|v| v.is_finite()) && peak(&l) < 10.0,
                    "{kind} at {rate}"
                );
            }
        }
    }

    #[test]
    fn cutoff_jumps_glide_without_clicks() {
        for (kind, from, to) in [
            ("onepole_lp", 10_000.0, 100.0),
            ("onepole_hp", 20.0, 5000.0),
            ("dc_block", 1.0, 200.0),
        ] {
            let out = jump(kind, &[("cutoff", from)], "cutoff", to as f32, 300.0);
            let bound = 1.1 * sine_step(300.0, 0.25, 48_000.0);
            let worst = max_step(&out);
            assert!(worst < bound, "{kind} {from} -> {to}: step {worst} > {bound}");
        }
    }
}
