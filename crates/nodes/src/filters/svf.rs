//! `svf`: a state-variable filter with low-, band- and high-pass outputs at
//! once and a cutoff that may be modulated at audio rate.
//!
//! The algorithm is Andrew Simper's trapezoidal-integrator SVF (Cytomic
//! technical paper "Linear Trapezoidal Integrated State Variable Filter",
//! <https://cytomic.com/files/dsp/SvfLinearTrapOptimised2.pdf>), the same
//! topology-preserving transform as Vadim Zavalishin's "The Art of VA Filter
//! Design" ch. 4. Its state is the integrators' own memory, so changing `g`
//! from one sample to the next changes no stored energy: it stays stable
//! however fast the cutoff moves, which a direct-form biquad does not.
//!
//! With `g = tan(π fc/Fs)`, `k = 1/Q`, `a1 = 1/(1 + g(g + k))`,
//! `a2 = g a1`, `a3 = g a2`, per sample:
//! `v3 = x - ic2`, `v1 = a1 ic1 + a2 v3`, `v2 = ic2 + a2 ic1 + a3 v3`,
//! `ic1 ← 2 v1 - ic1`, `ic2 ← 2 v2 - ic2`; then low-pass `v2`,
//! band-pass `k v1` (0 dB at the centre) and high-pass `x - k v1 - v2`,
//! so that `lp + bp + hp = x`. The code runs the same arithmetic regrouped
//! for speed (see `State::tick`).
//!
//! With `cutoff_mod` connected and not silent, `g` is recomputed every
//! sample from `cutoff × 2^cutoff_mod` with the polynomial `exp2`, `sin` and `cos`
//! of `fastmath`, a block at a time in a pass that vectorises; with it
//! silent the coefficients set by `set_param` are used, and the two paths
//! agree to the bit.

use std::f32::consts::PI;

use patchbay_core::{NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, no_latency};

use super::{MAX_TUNING, fastmath, frequency};

/// `svf`: state-variable filter with three outputs.
pub static SVF: NodeDescriptor = NodeDescriptor {
    kind: "svf",
    category: "filters",
    summary: "State-variable filter (Simper/Zavalishin trapezoidal SVF): low-, band- and high-pass at once; \
              cutoff modulatable at audio rate in octaves.",
    inputs: &[
        PortSpec::audio("in", "Signal to filter.").follows(),
        PortSpec::control(
            "cutoff_mod",
            "Cutoff modulation in octaves, per sample: the cutoff is cutoff × 2^cutoff_mod (+1 doubles it).",
        )
        .follows(),
    ],
    outputs: &[
        PortSpec::audio("lp", "Low-pass, 12 dB/octave.").follows(),
        PortSpec::audio("bp", "Band-pass, 0 dB at the cutoff.").follows(),
        PortSpec::audio("hp", "High-pass, 12 dB/octave; lp + bp + hp = in.").follows(),
    ],
    params: &[
        frequency(
            "cutoff",
            1000.0,
            "Cutoff (centre) frequency in Hz before modulation; the modulated cutoff is held between 1 Hz \
             and 0.49 × the sample rate.",
        ),
        ParamSpec::new("q", 0.1, 40.0, 0.707)
            .log()
            .doc("Resonance (quality factor); 0.707 is the flattest low-pass, 40 rings for seconds."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Svf::new(ctx)),
};

/// Coefficients for one `g` and `k`, in the regrouped form of
/// `biquad::State::tick`: `d`, `e`, `f` update the integrators,
/// `a2`, `a3` make the low-pass and `p1 = k a1`, `p2 = k a2` the band-pass.
#[derive(Clone, Copy, Debug, Default)]
struct Coefs {
    d: f32,
    e: f32,
    f: f32,
    a2: f32,
    a3: f32,
    p1: f32,
    p2: f32,
}

impl Coefs {
    /// For the angle `w = π fc/Fs` (already clamped) and damping `k = 1/Q`.
    #[inline(always)]
    fn new(w: f32, k: f32) -> Self {
        let [d, a1, a2, a3] = Self::tuning(w, k);
        Self::from_tuning(d, a1, a2, a3, k)
    }

    /// `[d, a1, a2, a3]` for the angle `w`: with `g = tan w = s/c`,
    /// `a1 = 1/(1 + g(g + k)) = c²/n`, `a2 = g a1 = sc/n`, `a3 = g a2 = s²/n`
    /// and `d = 2 g(g + k) a1 = 2s(s + kc)/n`, `n = c² + s(s + kc)`: one
    /// division.
    #[inline(always)]
    fn tuning(w: f32, k: f32) -> [f32; 4] {
        let (s, c) = fastmath::sin_cos(w);
        let skc = s * (s + k * c);
        let inv = 1.0 / (c * c + skc);
        [2.0 * skc * inv, c * c * inv, s * c * inv, s * s * inv]
    }

    /// The rest from the tuning: the same arithmetic whether the tuning was
    /// computed just now or a block ahead.
    #[inline(always)]
    fn from_tuning(d: f32, a1: f32, a2: f32, a3: f32, k: f32) -> Self {
        Coefs {
            d,
            e: 2.0 * a2,
            f: 2.0 * a3,
            a2,
            a3,
            p1: k * a1,
            p2: k * a2,
        }
    }
}

/// One channel's integrator memory.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    ic1: f32,
    ic2: f32,
}

impl State {
    /// One sample: (low-pass, band-pass, high-pass). The paper's
    /// `v2 = ic2 + a2 ic1 + a3 v3` is the low-pass, `k v1 = k(a1 ic1 + a2 v3)`
    /// the band-pass; the integrators advance as `ic1 ← ic1 - d ic1 + e v3`,
    /// `ic2 ← ic2 + e ic1 + f v3` (the paper's `2 v - ic`, regrouped to
    /// halve the dependency chain).
    #[inline(always)]
    fn tick(&mut self, c: &Coefs, x: f32) -> (f32, f32, f32) {
        let (s1, s2) = (self.ic1, self.ic2);
        let v3 = x - s2;
        let lp = s2 + (c.a2 * s1 + c.a3 * v3);
        let bp = c.p1 * s1 + c.p2 * v3;
        self.ic1 = (s1 - c.d * s1) + c.e * v3;
        self.ic2 = (s2 + c.e * s1) + c.f * v3;
        (lp, bp, x - bp - lp)
    }
}

/// Frames whose modulated coefficients are computed in one pass (on the
/// stack) before the filter runs over them.
const CHUNK: usize = 64;

/// The state-variable filter with per-channel state.
pub struct Svf {
    /// `π cutoff / Fs`, before clamping and modulation.
    w: f32,
    /// `1/Q`.
    k: f32,
    /// Angles of 1 Hz and of 0.49 × the sample rate.
    w_min: f32,
    w_max: f32,
    /// Coefficients when `cutoff_mod` is silent.
    fixed: Coefs,
    sample_rate: f32,
    states: Vec<State>,
}

impl Svf {
    fn new(ctx: &NodeContext) -> Self {
        let sample_rate = ctx.sample_rate;
        let w_min = PI / sample_rate;
        let w_max = PI * MAX_TUNING as f32;
        let mut svf = Svf {
            w: 0.0,
            k: 1.0,
            w_min,
            w_max,
            fixed: Coefs::new(w_min, 1.0),
            sample_rate,
            states: vec![State::default(); ctx.channels],
        };
        svf.set_param(0, ctx.param(0));
        svf.set_param(1, ctx.param(1));
        svf
    }

    /// The clamped angle for a modulation of `octaves`; exactly
    /// `clamp(w)` at 0, so the modulated and unmodulated paths agree to
    /// the bit.
    #[inline(always)]
    fn angle(&self, octaves: f32) -> f32 {
        (self.w * fastmath::exp2(octaves)).max(self.w_min).min(self.w_max)
    }
}

impl Processor for Svf {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.w = PI * value / self.sample_rate,
            _ => self.k = 1.0 / value.max(0.01),
        }
        self.fixed = Coefs::new(self.angle(0.0), self.k);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let k = self.k;
        for ch in 0..io.output_channels(0).min(self.states.len()) {
            let input = io.input(0, ch);
            let modulation = io.input(1, ch);
            let n = input.len();
            let [lp, bp, hp] = io.outputs([(0, ch), (1, ch), (2, ch)]);
            let (lp, bp, hp) = (&mut lp[..n], &mut bp[..n], &mut hp[..n]);
            let mut s = self.states[ch];
            // Silent when every sample is ±0 (a reduction that vectorises,
            // unlike an early-exit search).
            if modulation.iter().fold(0, |any, &m| any | (m.to_bits() << 1)) == 0 {
                let c = self.fixed;
                for i in 0..n {
                    (lp[i], bp[i], hp[i]) = s.tick(&c, input[i]);
                }
            } else {
                // The tuning for a chunk in one pass (vectorised: no calls,
                // no branches), then the filter over it.
                let mut tuning = [[0.0f32; CHUNK]; 4];
                for start in (0..n).step_by(CHUNK) {
                    let len = CHUNK.min(n - start);
                    let [d, a1, a2, a3] = &mut tuning;
                    for (i, &m) in modulation[start..start + len].iter().enumerate() {
                        [d[i], a1[i], a2[i], a3[i]] = Coefs::tuning(self.angle(m), k);
                    }
                    for i in 0..len {
                        let c = Coefs::from_tuning(d[i], a1[i], a2[i], a3[i], k);
                        let j = start + i;
                        (lp[j], bp[j], hp[j]) = s.tick(&c, input[j]);
                    }
                }
            }
            self.states[ch] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use rustfft::num_complex::Complex64;

    use crate::filters::measure::*;
    use crate::testing::*;

    /// The analog prototypes of the three outputs at `s`: `1/D`, `ks/D`,
    /// `s²/D` with `D = s² + ks + 1`.
    fn analytic(port: &str, f: f64, f0: f64, q: f64, fs: f64) -> Complex64 {
        let s = Complex64::new(0.0, warp(f, f0, fs));
        let k = 1.0 / q;
        let d = s * s + s * k + 1.0;
        match port {
            "lp" => 1.0 / d,
            "bp" => s * k / d,
            _ => s * s / d,
        }
    }

    #[test]
    fn each_output_matches_the_analytic_two_pole_response_within_a_tenth_of_a_db() {
        for (f0, q, rate) in [
            (1000.0, 0.707, 48_000),
            (3000.0, 5.0, 44_100),
            (200.0, 0.3, 96_000),
            (40.0, 2.0, 192_000),
            (9000.0, 1.0, 22_050),
        ] {
            for port in ["lp", "bp", "hp"] {
                let ir = impulse_response("svf", port, &[("cutoff", f0), ("q", q)], rate);
                let fs = rate as f64;
                for f in probes(fs) {
                    let expected = analytic(port, f, f0 as f32 as f64, q as f32 as f64, fs);
                    assert_close_db(
                        &ir,
                        f,
                        fs,
                        expected,
                        0.1,
                        &format!("svf.{port} {f0} Hz q {q} at {rate}"),
                    );
                }
            }
        }
    }

    #[test]
    fn the_three_outputs_sum_to_the_input() {
        let mut patch = Patch::default();
        patch.nodes.push(node("n", "noise", &[]));
        patch
            .nodes
            .push(node("f", "svf", &[("cutoff", 700.0), ("q", 3.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("n.out", "f.in")
            .connect("f.lp", "out.in")
            .connect("f.bp", "out.in")
            .connect("f.hp", "out.in");
        let (sum, _) = render_patch(&patch, 4800, 48_000);
        let noise = render_source("noise", &[], 4800, 48_000);
        let worst = sum
            .iter()
            .zip(&noise)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 1e-5, "{worst}");
    }

    /// Noise through the SVF while a `mod_hz` sine sweeps its cutoff
    /// between 20 Hz and 18 kHz; returns the output's peak.
    fn modulated(port: &str, q: f64, mod_hz: f64, rate: u32, seconds: f64) -> f32 {
        // 600 Hz is the geometric middle of 20 Hz and 18 kHz, which are
        // log2(900)/2 = 4.907 octaves either side: 13.82 dB above 1.
        let mut patch = Patch::default();
        patch.nodes.push(node("n", "noise", &[("seed", 11.0)]));
        patch.nodes.push(node("lfo", "sine", &[("freq", mod_hz)]));
        patch
            .nodes
            .push(node("depth", "gain", &[("gain", 20.0 * 4.907f64.log10())]));
        patch.nodes.push(node("f", "svf", &[("cutoff", 600.0), ("q", q)]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("n.out", "f.in")
            .connect("lfo.out", "depth.in")
            .connect("depth.out", "f.cutoff_mod")
            .connect(&format!("f.{port}"), "out.in");
        let frames = (rate as f64 * seconds) as usize;
        let (moving, _) = render_patch(&patch, frames, rate);
        assert!(
            moving.iter().all(|v| v.is_finite()),
            "{port} q {q} mod {mod_hz} Hz at {rate}"
        );
        peak(&moving)
    }

    #[test]
    fn audio_rate_cutoff_modulation_over_20_hz_to_18_khz_stays_bounded() {
        // Unit noise: with the cutoff held at 600 Hz the outputs peak at
        // 0.05 to 3.2; swept, the worst here is about q/2 + 2.
        for rate in [44_100, 192_000] {
            for q in [0.707, 5.0, 20.0] {
                for mod_hz in [3000.0, 440.0, 37.0] {
                    for port in ["lp", "bp", "hp"] {
                        let moving = modulated(port, q, mod_hz, rate, 3.0);
                        assert!(
                            moving < 3.0 + q as f32,
                            "{port} q {q} mod {mod_hz} Hz at {rate}: peak {moving}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn silent_modulation_is_bit_identical_to_none() {
        let mut patch = Patch::default();
        patch.nodes.push(node("n", "noise", &[]));
        patch.nodes.push(node("zero", "constant", &[("value", 0.0)]));
        patch
            .nodes
            .push(node("f", "svf", &[("cutoff", 321.0), ("q", 4.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("n.out", "f.in").connect("f.bp", "out.in");
        let (plain, _) = render_patch(&patch, 4800, 48_000);
        patch.connect("zero.out", "f.cutoff_mod");
        let (zero, _) = render_patch(&patch, 4800, 48_000);
        assert!(plain == zero);
    }

    #[test]
    fn modulation_by_one_octave_doubles_the_cutoff() {
        // Low-pass at 500 Hz modulated by a constant +1: the response of a
        // 1 kHz low-pass.
        let mut patch = Patch::default();
        patch.nodes.push(node("imp", "impulse", &[]));
        patch.nodes.push(node("one", "constant", &[("value", 1.0)]));
        patch
            .nodes
            .push(node("f", "svf", &[("cutoff", 500.0), ("q", 2.0)]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("imp.out", "f.in")
            .connect("one.out", "f.cutoff_mod")
            .connect("f.lp", "out.in");
        let (ir, _) = render_patch(&patch, 48_000, 48_000);
        for f in probes(48_000.0) {
            assert_close_db(
                &ir,
                f,
                48_000.0,
                analytic("lp", f, 1000.0, 2.0, 48_000.0),
                0.1,
                "svf +1 octave",
            );
        }
    }

    #[test]
    fn sweeping_every_parameter_end_to_end_stays_finite() {
        for rate in [22_050, 192_000] {
            let (l, _) = sweep_every_parameter("svf", rate);
            assert!(
                l.iter().all(|v| v.is_finite()) && peak(&l) < 100.0,
                "{rate}: {}",
                peak(&l)
            );
        }
    }

    #[test]
    fn cutoff_and_q_jumps_glide_without_clicks() {
        // The low-pass output on a 300 Hz sine; its gain there is at most
        // 1.1 (q 10 at 1 kHz).
        for (param, from, to) in [
            ("cutoff", 5000.0, 400.0),
            ("cutoff", 50.0, 10_000.0),
            ("q", 0.707, 10.0),
        ] {
            let out = jump("svf", &[(param, from)], param, to as f32, 300.0);
            let bound = 1.1 * sine_step(300.0, 0.25 * 1.1, 48_000.0);
            let worst = max_step(&out);
            assert!(
                worst < bound,
                "svf.{param} {from} -> {to}: step {worst} > {bound}"
            );
        }
    }
}
