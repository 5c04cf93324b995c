//! The biquads of R. Bristow-Johnson's "Cookbook formulae for audio EQ
//! biquad filter coefficients" (the Audio EQ Cookbook,
//! <https://www.w3.org/TR/audio-eq-cookbook/>): low-pass, high-pass,
//! band-pass (constant 0 dB peak gain), notch, peaking EQ, low shelf, high
//! shelf and all-pass. One implementation: a `Shape` chooses the
//! coefficients, one loop runs them all.
//!
//! Each has exactly the cookbook's transfer function (its analog prototype
//! through the bilinear transform prewarped at `f0`), but is realised as
//! Andrew Simper's trapezoidal state-variable filter ("Linear Trapezoidal
//! Integrated State Variable Filter",
//! <https://cytomic.com/files/dsp/SvfLinearTrapOptimised2.pdf>) with an
//! output mix per shape, rather than as a direct-form biquad. The two are
//! the same filter while the parameters hold still; when they move, a
//! direct form's state holds stale energy for the new coefficients and a
//! corner-to-corner cutoff and Q sweep amplified noise 280-fold in our test,
//! while the SVF's state is its integrators' own and stays bounded. It is
//! also the better conditioned of the two at low cutoffs.

use std::f64::consts::PI;

use patchbay_core::{NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, no_latency};

use super::{boost, clamp_frequency, frequency, quality};

const IN: PortSpec = PortSpec::audio("in", "Signal to filter.").follows();
const OUT: PortSpec = PortSpec::audio("out", "Filtered signal.").follows();

const Q_PASS: ParamSpec = quality(
    "q",
    0.707,
    "Resonance (quality factor); 0.707 is the flattest, higher values peak at the cutoff.",
);
const Q_BAND: ParamSpec = quality(
    "q",
    1.0,
    "Quality factor: centre frequency / bandwidth; higher is narrower.",
);
const Q_SHELF: ParamSpec = quality(
    "q",
    0.707,
    "Shelf slope as a quality factor; 0.707 is the steepest without overshoot (cookbook S = 1).",
);
const Q_ALLPASS: ParamSpec = quality(
    "q",
    0.707,
    "Quality factor: how abruptly the phase turns around the centre; higher is more abrupt.",
);
const GAIN_PEAK: ParamSpec = boost(
    "gain",
    "Boost (positive) or cut (negative) at the centre frequency, in dB.",
);
const GAIN_SHELF: ParamSpec = boost("gain", "Boost (positive) or cut (negative) of the shelf, in dB.");

/// Declare a biquad node kind.
macro_rules! biquad_kind {
    ($name:ident, $kind:literal, $summary:literal, $shape:expr, [$($param:expr),+ $(,)?]) => {
        #[doc = concat!("`", $kind, "`: ", $summary)]
        pub static $name: NodeDescriptor = NodeDescriptor {
            kind: $kind,
            category: "filters",
            summary: $summary,
            inputs: &[IN],
            outputs: &[OUT],
            params: &[$($param),+],
            settings: &[],
            channels_param: None,
            latency: no_latency,
            breaks_cycles: false,
            may_rest: false,
            build: |ctx| Box::new(Biquad::new(ctx, $shape)),
        };
    };
}

biquad_kind!(
    LOWPASS,
    "lowpass",
    "Resonant 12 dB/octave low-pass filter (RBJ cookbook biquad), each channel filtered alike.",
    Shape::Lowpass,
    [
        frequency(
            "cutoff",
            1000.0,
            "Cutoff frequency in Hz (-3 dB at Q 0.707); held below 0.49 × the sample rate."
        ),
        Q_PASS,
    ]
);

biquad_kind!(
    HIGHPASS,
    "highpass",
    "Resonant 12 dB/octave high-pass filter (RBJ cookbook biquad), each channel filtered alike.",
    Shape::Highpass,
    [
        frequency(
            "cutoff",
            200.0,
            "Cutoff frequency in Hz (-3 dB at Q 0.707); held below 0.49 × the sample rate."
        ),
        Q_PASS,
    ]
);

biquad_kind!(
    BANDPASS,
    "bandpass",
    "Band-pass filter with 0 dB gain at its centre (RBJ cookbook biquad), each channel filtered alike.",
    Shape::Bandpass,
    [
        frequency(
            "freq",
            1000.0,
            "Centre frequency in Hz; held below 0.49 × the sample rate."
        ),
        Q_BAND,
    ]
);

biquad_kind!(
    NOTCH,
    "notch",
    "Notch (band-reject) filter: silences its centre frequency, passes the rest (RBJ cookbook biquad).",
    Shape::Notch,
    [
        frequency(
            "freq",
            1000.0,
            "Frequency to remove, in Hz; held below 0.49 × the sample rate."
        ),
        Q_BAND,
    ]
);

biquad_kind!(
    PEAK,
    "peak",
    "Peaking EQ: boosts or cuts a band around its centre, 0 dB elsewhere (RBJ cookbook biquad).",
    Shape::Peak,
    [
        frequency(
            "freq",
            1000.0,
            "Centre frequency in Hz; held below 0.49 × the sample rate."
        ),
        Q_BAND,
        GAIN_PEAK,
    ]
);

biquad_kind!(
    LOWSHELF,
    "lowshelf",
    "Low shelf: boosts or cuts everything below its corner (RBJ cookbook biquad).",
    Shape::LowShelf,
    [
        frequency(
            "cutoff",
            200.0,
            "Shelf midpoint in Hz (half the gain in dB); held below 0.49 × the sample rate."
        ),
        Q_SHELF,
        GAIN_SHELF,
    ]
);

biquad_kind!(
    HIGHSHELF,
    "highshelf",
    "High shelf: boosts or cuts everything above its corner (RBJ cookbook biquad).",
    Shape::HighShelf,
    [
        frequency(
            "cutoff",
            4000.0,
            "Shelf midpoint in Hz (half the gain in dB); held below 0.49 × the sample rate."
        ),
        Q_SHELF,
        GAIN_SHELF,
    ]
);

biquad_kind!(
    BIQUAD_ALLPASS,
    "biquad_allpass",
    "Second-order all-pass: unity gain, phase turning through -180° at its centre (RBJ cookbook biquad).",
    Shape::Allpass,
    [
        frequency(
            "freq",
            1000.0,
            "Frequency of the -180° phase shift, in Hz; held below 0.49 × the sample rate."
        ),
        Q_ALLPASS,
    ]
);

/// Which cookbook formulas a biquad uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Lowpass,
    Highpass,
    /// Constant 0 dB peak gain.
    Bandpass,
    Notch,
    /// Peaking EQ.
    Peak,
    LowShelf,
    HighShelf,
    Allpass,
}

/// Coefficients of the trapezoidal SVF realising one cookbook shape, in the
/// form [`State::tick`] runs: `d`, `e`, `f` update the integrators, `c0..c2`
/// mix input and integrators into the output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Coefficients {
    d: f64,
    e: f64,
    f: f64,
    c0: f64,
    c1: f64,
    c2: f64,
}

impl Coefficients {
    /// The cookbook's response for `shape` at `f0` Hz (held below 0.49 ×
    /// `sample_rate`), quality `q` and, for the peaking and shelving shapes,
    /// `gain_db` (ignored by the others).
    ///
    /// With `A = 10^(gain/40)`, the cookbook's analog prototypes
    /// (normalised to `f0`) and the SVF mix that realises each, over
    /// `D(s) = s² + ks + 1`, `k = 1/Q` (after Simper's paper):
    ///
    /// | shape | cookbook `H(s)` | tuning | m0, m1, m2 |
    /// |---|---|---|---|
    /// | low-pass | 1/D | g | 0, 0, 1 |
    /// | high-pass | s²/D | g | 1, -k, -1 |
    /// | band-pass (0 dB peak) | (s/Q)/D | g | 0, k, 0 |
    /// | notch | (s²+1)/D | g | 1, -k, 0 |
    /// | all-pass | (s²-s/Q+1)/D | g | 1, -2k, 0 |
    /// | peaking | (s²+s(A/Q)+1)/(s²+s/(AQ)+1) | g, k = 1/(QA) | 1, k(A²-1), 0 |
    /// | low shelf | A(s²+(√A/Q)s+A)/(As²+(√A/Q)s+1) | g/√A | 1, k(A-1), A²-1 |
    /// | high shelf | A(As²+(√A/Q)s+1)/(s²+(√A/Q)s+A) | g·√A | A², k(1-A)A, 1-A² |
    ///
    /// where `g = tan(π f0/Fs)`: the bilinear transform prewarped at `f0`,
    /// exactly as the cookbook's `w0` formulas are.
    pub(crate) fn design(shape: Shape, f0: f64, q: f64, gain_db: f64, sample_rate: f64) -> Self {
        let g = (PI * clamp_frequency(f0, sample_rate) / sample_rate).tan();
        let k = 1.0 / q.max(0.01);
        let a = 10f64.powf(gain_db / 40.0);
        let (g, k, [m0, m1, m2]) = match shape {
            Shape::Lowpass => (g, k, [0.0, 0.0, 1.0]),
            Shape::Highpass => (g, k, [1.0, -k, -1.0]),
            Shape::Bandpass => (g, k, [0.0, k, 0.0]),
            Shape::Notch => (g, k, [1.0, -k, 0.0]),
            Shape::Allpass => (g, k, [1.0, -2.0 * k, 0.0]),
            Shape::Peak => {
                let k = k / a;
                (g, k, [1.0, k * (a * a - 1.0), 0.0])
            }
            Shape::LowShelf => (g / a.sqrt(), k, [1.0, k * (a - 1.0), a * a - 1.0]),
            Shape::HighShelf => (g * a.sqrt(), k, [a * a, k * (1.0 - a) * a, 1.0 - a * a]),
        };
        // Simper's a1..a3, then the same filter regrouped: with
        // v3 = x - ic2, v1 = a1 ic1 + a2 v3, v2 = ic2 + a2 ic1 + a3 v3,
        // y = m0 x + m1 v1 + m2 v2 = c0 x + c1 ic1 + c2 ic2 and
        // ic1' = 2 v1 - ic1 = ic1 - d ic1 + e v3 (d = 2(1 - a1)),
        // ic2' = 2 v2 - ic2 = ic2 + e ic1 + f v3.
        let a1 = 1.0 / (1.0 + g * (g + k));
        let a2 = g * a1;
        let a3 = g * a2;
        Coefficients {
            d: 2.0 * g * (g + k) * a1,
            e: 2.0 * a2,
            f: 2.0 * a3,
            c0: m0 + m1 * a2 + m2 * a3,
            c1: m1 * a1 + m2 * a2,
            c2: m2 * (1.0 - a3) - m1 * a2,
        }
    }
}

/// One channel's integrator memory.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct State {
    ic1: f64,
    ic2: f64,
}

impl State {
    /// One sample of Simper's "SvfLinearTrapOptimised2"
    /// (`v3 = x - ic2`, `v1 = a1 ic1 + a2 v3`, `v2 = ic2 + a2 ic1 + a3 v3`,
    /// `ic1 ← 2 v1 - ic1`, `ic2 ← 2 v2 - ic2`, `y = m0 x + m1 v1 + m2 v2`),
    /// regrouped (see [`Coefficients::design`]) so that each integrator's
    /// next value is a multiply and two adds from the last, half the
    /// dependency chain of the paper's order, and so that no coefficient
    /// near 1 ever multiplies a state.
    #[inline(always)]
    pub(crate) fn tick(&mut self, c: &Coefficients, x: f64) -> f64 {
        let (s1, s2) = (self.ic1, self.ic2);
        let y = c.c0 * x + c.c1 * s1 + c.c2 * s2;
        let v3 = x - s2;
        self.ic1 = (s1 - c.d * s1) + c.e * v3;
        self.ic2 = (s2 + c.e * s1) + c.f * v3;
        y
    }
}

/// Filter `input` into `output` through one section.
#[inline]
pub(crate) fn run(c: &Coefficients, state: &mut State, input: &[f32], output: &mut [f32]) {
    let mut s = *state;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = s.tick(c, x as f64) as f32;
    }
    *state = s;
}

/// A cookbook biquad with per-channel state. Parameters are, in order,
/// frequency (Hz), Q and, for the peaking and shelving shapes, gain (dB);
/// coefficients change only in `set_param`.
pub struct Biquad {
    shape: Shape,
    /// Frequency, Q, gain in dB.
    params: [f64; 3],
    sample_rate: f64,
    coefficients: Coefficients,
    states: Vec<State>,
}

impl Biquad {
    pub(crate) fn new(ctx: &NodeContext, shape: Shape) -> Self {
        let mut params = [0.0; 3];
        for (p, v) in params.iter_mut().zip(ctx.params) {
            *p = *v as f64;
        }
        let sample_rate = ctx.sample_rate as f64;
        Biquad {
            shape,
            params,
            sample_rate,
            coefficients: Coefficients::design(shape, params[0], params[1], params[2], sample_rate),
            states: vec![State::default(); ctx.channels],
        }
    }
}

impl Processor for Biquad {
    fn set_param(&mut self, index: usize, value: f32) {
        if let Some(p) = self.params.get_mut(index) {
            *p = value as f64;
        }
        let [f0, q, gain] = self.params;
        self.coefficients = Coefficients::design(self.shape, f0, q, gain, self.sample_rate);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let c = self.coefficients;
        for (ch, state) in self.states.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            run(&c, state, input, io.output(0, ch));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use rustfft::num_complex::Complex64;

    use super::Shape;
    use crate::filters::measure::*;
    use crate::testing::*;

    /// The analog prototype of each cookbook shape at `s` (the cookbook's
    /// `H(s)` for a normalised frequency of 1).
    fn prototype(shape: Shape, s: Complex64, q: f64, gain_db: f64) -> Complex64 {
        let a = 10f64.powf(gain_db / 40.0);
        let one = Complex64::new(1.0, 0.0);
        let den = s * s + s / q + one;
        match shape {
            Shape::Lowpass => one / den,
            Shape::Highpass => s * s / den,
            Shape::Bandpass => (s / q) / den,
            Shape::Notch => (s * s + one) / den,
            Shape::Allpass => (s * s - s / q + one) / den,
            Shape::Peak => (s * s + s * (a / q) + one) / (s * s + s / (a * q) + one),
            Shape::LowShelf => {
                let m = a.sqrt() / q;
                a * (s * s + s * m + a) / (s * s * a + s * m + one)
            }
            Shape::HighShelf => {
                let m = a.sqrt() / q;
                a * (s * s * a + s * m + one) / (s * s + s * m + a)
            }
        }
    }

    /// The cookbook's digital response: the prototype through the bilinear
    /// transform prewarped at `f0`.
    pub(crate) fn analytic(shape: Shape, f: f64, f0: f64, q: f64, gain_db: f64, fs: f64) -> Complex64 {
        prototype(shape, Complex64::new(0.0, warp(f, f0, fs)), q, gain_db)
    }

    const ALL_SHAPES: [(Shape, &str, &str, bool); 8] = [
        (Shape::Lowpass, "lowpass", "cutoff", false),
        (Shape::Highpass, "highpass", "cutoff", false),
        (Shape::Bandpass, "bandpass", "freq", false),
        (Shape::Notch, "notch", "freq", false),
        (Shape::Peak, "peak", "freq", true),
        (Shape::LowShelf, "lowshelf", "cutoff", true),
        (Shape::HighShelf, "highshelf", "cutoff", true),
        (Shape::Allpass, "biquad_allpass", "freq", false),
    ];

    #[test]
    fn every_shape_matches_the_cookbook_within_a_tenth_of_a_db_at_20_probes() {
        let settings = [
            (1000.0, 0.707, 6.0, 48_000),
            (3000.0, 5.0, -12.0, 44_100),
            (200.0, 0.3, 9.0, 96_000),
            (60.0, 2.0, -18.0, 192_000),
            (8000.0, 1.0, 24.0, 22_050),
        ];
        for (shape, kind, freq, has_gain) in ALL_SHAPES {
            for (f0, q, gain, rate) in settings {
                let mut params = vec![(freq, f0), ("q", q)];
                if has_gain {
                    params.push(("gain", gain));
                }
                let ir = impulse_response(kind, "out", &params, rate);
                let fs = rate as f64;
                let gain = if has_gain { gain as f32 as f64 } else { 0.0 };
                for f in probes(fs) {
                    // The filter sees its parameters as f32.
                    let expected = analytic(shape, f, f0 as f32 as f64, q as f32 as f64, gain, fs);
                    assert_close_db(
                        &ir,
                        f,
                        fs,
                        expected,
                        0.1,
                        &format!("{kind} {f0} Hz q {q} {gain} dB at {rate}"),
                    );
                }
            }
        }
    }

    #[test]
    fn the_allpass_turns_the_phase_through_minus_180_at_its_centre() {
        let fs = 48_000.0;
        let ir = impulse_response("biquad_allpass", "out", &[("freq", 1000.0), ("q", 0.707)], 48_000);
        let at = |f: f64| response(&ir, f, fs);
        assert!(
            (at(1000.0).arg().abs() - std::f64::consts::PI).abs() < 1e-3,
            "{}",
            at(1000.0).arg()
        );
        for f in probes(fs) {
            let expected = analytic(Shape::Allpass, f, 1000.0, 0.707f32 as f64, 0.0, fs);
            let d = (at(f) / expected).arg().abs();
            assert!(d < 1e-3, "phase off by {d} rad at {f} Hz");
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
        let db = |f| {
            analytic(Shape::Lowpass, f, 1000.0, 0.707f32 as f64, 0.0, 48_000.0)
                .norm()
                .log10()
                * 20.0
        };
        let left_db = to_db(rms(l)) as f64 - to_db(sine as f32) as f64;
        let right_db = to_db(rms(r)) as f64 - to_db(sine as f32) as f64;
        assert!((left_db - db(200.0)).abs() < 0.05, "left {left_db}");
        assert!((right_db - db(8000.0)).abs() < 0.1, "right {right_db}");
        assert!((peak_frequency(l, 48_000.0) - 200.0).abs() < 1.0);
        assert!((peak_frequency(r, 48_000.0) - 8000.0).abs() < 1.0);
    }

    #[test]
    fn frequencies_above_nyquist_are_held_below_it() {
        // At 22.05 kHz a 20 kHz setting would be past Nyquist: every shape
        // stays stable; the low-pass still passes 1 kHz.
        for (_, kind, freq, _) in ALL_SHAPES {
            let mut patch = Patch::default();
            patch.nodes.push(node("src", "sine", &[("freq", 1000.0)]));
            patch
                .nodes
                .push(node("f", kind, &[(freq, 20_000.0), ("q", 20.0)]));
            patch.nodes.push(node("out", "output", &[]));
            patch.connect("src.out", "f.in").connect("f.out", "out.in");
            let (l, _) = render_patch(&patch, 22_050, 22_050);
            assert!(l.iter().all(|v| v.is_finite()) && peak(&l) < 2.0, "{kind}");
            if kind == "lowpass" {
                assert!(
                    (rms(&l[2205..]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01,
                    "{}",
                    rms(&l)
                );
            }
        }
    }

    #[test]
    fn sweeping_every_parameter_end_to_end_stays_finite() {
        for (_, kind, _, _) in ALL_SHAPES {
            for rate in [22_050, 192_000] {
                let (l, r) = sweep_every_parameter(kind, rate);
                assert!(
                    l.iter().chain(&r).all(|v| v.is_finite()) && peak(&l) < 100.0,
                    "{kind} at {rate}: peak {}",
                    peak(&l)
                );
            }
        }
    }

    #[test]
    fn parameter_jumps_glide_without_clicks() {
        // A 300 Hz sine at -12 dB; every step of the output stays within
        // `slack` × the largest step of the loudest steady output. A click
        // would be a step on the order of the amplitude: 30 times more.
        for (kind, param, from, to, steady_gain, slack) in [
            ("lowpass", "cutoff", 5000.0, 400.0, 1.0, 1.1),
            ("highpass", "cutoff", 20.0, 2000.0, 1.0, 1.1),
            ("peak", "gain", 0.0, 12.0, 4.0, 1.1),
            ("lowshelf", "gain", -24.0, 12.0, 4.0, 1.1),
            ("highshelf", "cutoff", 10_000.0, 50.0, 1.0, 1.1),
            ("notch", "freq", 5000.0, 300.0, 1.0, 1.1),
            ("bandpass", "freq", 5000.0, 300.0, 1.0, 1.1),
            // An all-pass sweeping past the tone turns its phase, which
            // raises its pitch while it glides (by about a fifth here).
            ("biquad_allpass", "freq", 500.0, 2000.0, 1.0, 1.5),
        ] {
            let out = jump(kind, &[(param, from)], param, to as f32, 300.0);
            let bound = slack * sine_step(300.0, 0.25 * steady_gain, 48_000.0);
            let worst = max_step(&out);
            assert!(
                worst < bound,
                "{kind}.{param} {from} -> {to}: step {worst} > {bound}"
            );
        }
    }
}
