//! Filters: a resonant low-pass biquad.

use std::f64::consts::TAU;

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

/// `lowpass`: 12 dB/octave resonant low-pass.
pub static LOWPASS: NodeDescriptor = NodeDescriptor {
    kind: "lowpass",
    category: "filters",
    summary: "Resonant 12 dB/octave low-pass filter (RBJ cookbook biquad), each channel filtered alike.",
    inputs: &[PortSpec::audio("in", "Signal to filter.").follows()],
    outputs: &[PortSpec::audio("out", "Filtered signal.").follows()],
    params: &[
        ParamSpec::new("cutoff", 10.0, 20_000.0, 1000.0)
            .unit(Unit::Hz)
            .log()
            .doc("Cutoff frequency in Hz (-3 dB at Q 0.707); held below 0.49 × the sample rate."),
        ParamSpec::new("q", 0.1, 20.0, 0.707)
            .log()
            .doc("Resonance (quality factor); 0.707 is the flattest, higher values peak at the cutoff."),
    ],
    latency: no_latency,
    breaks_cycles: false,
    build: |ctx| Box::new(Lowpass::new(ctx)),
};

/// Normalised biquad coefficients (`a0 = 1`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Coefficients {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
}

impl Coefficients {
    /// The low-pass of R. Bristow-Johnson's "Cookbook formulae for audio EQ
    /// biquad filter coefficients" (the Audio EQ Cookbook):
    /// `w0 = 2π f0/Fs`, `α = sin(w0)/(2Q)`,
    /// `b0 = b2 = (1 - cos w0)/2`, `b1 = 1 - cos w0`,
    /// `a0 = 1 + α`, `a1 = -2 cos w0`, `a2 = 1 - α`.
    fn lowpass(cutoff: f64, q: f64, sample_rate: f64) -> Self {
        let w0 = TAU * cutoff.clamp(1.0, 0.49 * sample_rate) / sample_rate;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q.max(0.01));
        let a0 = 1.0 + alpha;
        let b1 = (1.0 - cos) / a0;
        Coefficients {
            b0: 0.5 * b1,
            b1,
            b2: 0.5 * b1,
            a1: -2.0 * cos / a0,
            a2: (1.0 - alpha) / a0,
        }
    }
}

/// One channel's memory for the transposed direct form II.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    z1: f64,
    z2: f64,
}

impl State {
    /// Transposed direct form II: `y = b0 x + z1`,
    /// `z1' = b1 x - a1 y + z2`, `z2' = b2 x - a2 y`.
    #[inline]
    fn tick(&mut self, c: &Coefficients, x: f64) -> f64 {
        let y = c.b0 * x + self.z1;
        self.z1 = c.b1 * x - c.a1 * y + self.z2;
        self.z2 = c.b2 * x - c.a2 * y;
        y
    }
}

/// A low-pass biquad with per-channel state; coefficients change only in
/// `set_param`.
pub struct Lowpass {
    cutoff: f64,
    q: f64,
    sample_rate: f64,
    coefficients: Coefficients,
    states: Vec<State>,
}

impl Lowpass {
    fn new(ctx: &NodeContext) -> Self {
        let (cutoff, q, sample_rate) = (ctx.param(0) as f64, ctx.param(1) as f64, ctx.sample_rate as f64);
        Lowpass {
            cutoff,
            q,
            sample_rate,
            coefficients: Coefficients::lowpass(cutoff, q, sample_rate),
            states: vec![State::default(); ctx.channels],
        }
    }
}

impl Processor for Lowpass {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.cutoff = value as f64,
            _ => self.q = value as f64,
        }
        self.coefficients = Coefficients::lowpass(self.cutoff, self.q, self.sample_rate);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let c = self.coefficients;
        for (ch, state) in self.states.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            for (o, &x) in io.output(0, ch).iter_mut().zip(input) {
                *o = state.tick(&c, x as f64) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    /// The cookbook low-pass is the analog prototype `1 / (s² + s/Q + 1)`
    /// through the bilinear transform, so its gain at `f` is the prototype's
    /// at the warped frequency `tan(πf/Fs) / tan(πf0/Fs)`.
    fn analytic_db(f: f64, f0: f64, q: f64, fs: f64) -> f64 {
        let w = (std::f64::consts::PI * f / fs).tan() / (std::f64::consts::PI * f0 / fs).tan();
        -10.0 * ((1.0 - w * w).powi(2) + (w / q).powi(2)).log10()
    }

    /// Gain in dB at `f` of an impulse response, by a direct DFT.
    fn response_db(ir: &[f32], f: f64, fs: f64) -> f64 {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (n, &h) in ir.iter().enumerate() {
            let phase = std::f64::consts::TAU * f * n as f64 / fs;
            re += h as f64 * phase.cos();
            im -= h as f64 * phase.sin();
        }
        10.0 * (re * re + im * im).log10()
    }

    #[test]
    fn magnitude_response_matches_the_cookbook_within_a_tenth_of_a_db() {
        let probes = [
            20.0, 100.0, 300.0, 700.0, 1000.0, 1500.0, 2500.0, 5000.0, 10_000.0, 15_000.0, 20_000.0,
        ];
        for (cutoff, q, rate) in [
            (1000.0, 0.707, 48_000),
            (3000.0, 5.0, 44_100),
            (200.0, 0.3, 96_000),
        ] {
            let mut patch = Patch::default();
            patch.nodes.push(node("imp", "impulse", &[]));
            patch
                .nodes
                .push(node("lp", "lowpass", &[("cutoff", cutoff), ("q", q)]));
            patch.nodes.push(node("out", "output", &[]));
            patch.connect("imp.out", "lp.in").connect("lp.out", "out.in");
            let (ir, _) = render_patch(&patch, rate as usize, rate);
            let fs = rate as f64;
            for f in probes {
                // The filter sees its parameters as f32.
                let expected = analytic_db(f, cutoff as f32 as f64, q as f32 as f64, fs);
                let measured = response_db(&ir, f, fs);
                assert!(
                    (measured - expected).abs() < 0.1,
                    "cutoff {cutoff}, q {q}, {rate} Hz: at {f} Hz {measured:.3} dB, expected {expected:.3}"
                );
            }
        }
    }

    #[test]
    fn each_stereo_channel_is_filtered_on_its_own() {
        // 200 Hz hard left, 8 kHz hard right, into one 1 kHz low-pass.
        let mut patch = Patch::default();
        patch.nodes.push(node("lo", "sine", &[("freq", 200.0)]));
        patch.nodes.push(node("hi", "sine", &[("freq", 8000.0)]));
        patch.nodes.push(node("left", "pan", &[("pan", -1.0)]));
        patch.nodes.push(node("right", "pan", &[("pan", 1.0)]));
        patch.nodes.push(node("lp", "lowpass", &[("cutoff", 1000.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("lo.out", "left.in")
            .connect("hi.out", "right.in")
            .connect("left.out", "lp.in")
            .connect("right.out", "lp.in")
            .connect("lp.out", "out.in");
        let (l, r) = render_patch(&patch, 48_000, 48_000);
        let (l, r) = (&l[4800..], &r[4800..]);
        let sine = std::f64::consts::FRAC_1_SQRT_2;
        let left_db = to_db(rms(l)) as f64 - to_db(sine as f32) as f64;
        let right_db = to_db(rms(r)) as f64 - to_db(sine as f32) as f64;
        assert!(
            (left_db - analytic_db(200.0, 1000.0, 0.707, 48_000.0)).abs() < 0.05,
            "left {left_db}"
        );
        assert!(
            (right_db - analytic_db(8000.0, 1000.0, 0.707, 48_000.0)).abs() < 0.1,
            "right {right_db}"
        );
        assert!((peak_frequency(l, 48_000.0) - 200.0).abs() < 1.0);
        assert!((peak_frequency(r, 48_000.0) - 8000.0).abs() < 1.0);
    }

    #[test]
    fn cutoff_above_nyquist_is_held_below_it() {
        // At 22.05 kHz a 20 kHz cutoff would be past Nyquist: the filter
        // stays stable and passes the band.
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "sine", &[("freq", 1000.0)]));
        patch
            .nodes
            .push(node("lp", "lowpass", &[("cutoff", 20_000.0), ("q", 20.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "lp.in").connect("lp.out", "out.in");
        let (l, _) = render_patch(&patch, 22_050, 22_050);
        assert!(l.iter().all(|v| v.is_finite()));
        assert!(
            (rms(&l[2205..]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01,
            "{}",
            rms(&l)
        );
    }
}
