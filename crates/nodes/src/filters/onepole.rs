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
//! at `R = exp(-2π fc/Fs)` just inside it.

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
    latency: no_latency,
    breaks_cycles: false,
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
    latency: no_latency,
    breaks_cycles: false,
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
    latency: no_latency,
    breaks_cycles: false,
    build: |ctx| Box::new(DcBlock::new(ctx)),
};

/// The TPT one-pole, low- or high-pass, with per-channel state.
pub struct OnePole {
    highpass: bool,
    sample_rate: f64,
    /// `g / (1 + g)`.
    gain: f64,
    states: Vec<f64>,
}

impl OnePole {
    fn new(ctx: &NodeContext, highpass: bool) -> Self {
        let mut p = OnePole {
            highpass,
            sample_rate: ctx.sample_rate as f64,
            gain: 0.0,
            states: vec![0.0; ctx.channels],
        };
        p.set_param(0, ctx.param(0));
        p
    }
}

impl Processor for OnePole {
    fn set_param(&mut self, _: usize, value: f32) {
        let g = (PI * clamp_frequency(value as f64, self.sample_rate) / self.sample_rate).tan();
        self.gain = g / (1.0 + g);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let gain = self.gain;
        for (ch, state) in self.states.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let output = io.output(0, ch);
            let mut s = *state;
            if self.highpass {
                for (o, &x) in output.iter_mut().zip(input) {
                    let x = x as f64;
                    let v = (x - s) * gain;
                    let lp = v + s;
                    s = lp + v;
                    *o = (x - lp) as f32;
                }
            } else {
                for (o, &x) in output.iter_mut().zip(input) {
                    let v = (x as f64 - s) * gain;
                    let lp = v + s;
                    s = lp + v;
                    *o = lp as f32;
                }
            }
            *state = s;
        }
    }
}

/// The DC blocker with per-channel state: (previous input, previous output).
pub struct DcBlock {
    sample_rate: f64,
    /// Pole radius `R`.
    pole: f64,
    states: Vec<(f64, f64)>,
}

impl DcBlock {
    fn new(ctx: &NodeContext) -> Self {
        let mut d = DcBlock {
            sample_rate: ctx.sample_rate as f64,
            pole: 0.0,
            states: vec![(0.0, 0.0); ctx.channels],
        };
        d.set_param(0, ctx.param(0));
        d
    }
}

impl Processor for DcBlock {
    fn set_param(&mut self, _: usize, value: f32) {
        self.pole = (-TAU * clamp_frequency(value as f64, self.sample_rate) / self.sample_rate).exp();
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let r = self.pole;
        for (ch, state) in self.states.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let (mut x1, mut y1) = *state;
            for (o, &x) in io.output(0, ch).iter_mut().zip(input) {
                let x = x as f64;
                y1 = x - x1 + r * y1;
                x1 = x;
                *o = y1 as f32;
            }
            *state = (x1, y1);
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
