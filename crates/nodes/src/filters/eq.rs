//! `eq4`: a four-band parametric EQ — low shelf, two peaking bands, high
//! shelf — as four cascaded RBJ cookbook biquads (see [`super::biquad`]).

use patchbay_core::{NodeContext, NodeDescriptor, PortSpec, ProcessIo, Processor, no_latency};

use super::biquad::{Coefficients, Shape, State};
use super::{boost, frequency, quality};

/// The bands in processing order.
const SHAPES: [Shape; 4] = [Shape::LowShelf, Shape::Peak, Shape::Peak, Shape::HighShelf];

/// `eq4`: four-band parametric EQ.
pub static EQ4: NodeDescriptor = NodeDescriptor {
    kind: "eq4",
    category: "filters",
    summary: "Four-band parametric EQ: low shelf, two peaking bands, high shelf (RBJ cookbook biquads); \
              each channel alike.",
    inputs: &[PortSpec::audio("in", "Signal to equalise.").follows()],
    outputs: &[PortSpec::audio("out", "Equalised signal.").follows()],
    params: &[
        frequency("low_freq", 100.0, "Low shelf midpoint in Hz."),
        boost("low_gain", "Low shelf boost or cut in dB (0: band off)."),
        quality(
            "low_q",
            0.707,
            "Low shelf slope as a quality factor; 0.707 is the steepest without overshoot.",
        ),
        frequency("mid1_freq", 500.0, "First peaking band's centre in Hz."),
        boost(
            "mid1_gain",
            "First peaking band's boost or cut in dB (0: band off).",
        ),
        quality(
            "mid1_q",
            1.0,
            "First peaking band's quality factor; higher is narrower.",
        ),
        frequency("mid2_freq", 2500.0, "Second peaking band's centre in Hz."),
        boost(
            "mid2_gain",
            "Second peaking band's boost or cut in dB (0: band off).",
        ),
        quality(
            "mid2_q",
            1.0,
            "Second peaking band's quality factor; higher is narrower.",
        ),
        frequency("high_freq", 8000.0, "High shelf midpoint in Hz."),
        boost("high_gain", "High shelf boost or cut in dB (0: band off)."),
        quality(
            "high_q",
            0.707,
            "High shelf slope as a quality factor; 0.707 is the steepest without overshoot.",
        ),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Eq4::new(ctx)),
};

/// Parameters per band: frequency, gain, Q.
const PER_BAND: usize = 3;

/// The four biquads, with per-channel state.
pub struct Eq4 {
    sample_rate: f64,
    /// Per band: frequency (Hz), gain (dB), Q.
    params: [[f64; PER_BAND]; 4],
    bands: [Coefficients; 4],
    states: Vec<[State; 4]>,
}

impl Eq4 {
    fn new(ctx: &NodeContext) -> Self {
        let mut params = [[0.0; PER_BAND]; 4];
        for (i, v) in ctx.params.iter().enumerate().take(4 * PER_BAND) {
            params[i / PER_BAND][i % PER_BAND] = *v as f64;
        }
        let mut eq = Eq4 {
            sample_rate: ctx.sample_rate as f64,
            params,
            bands: [Coefficients::design(Shape::Peak, 1000.0, 1.0, 0.0, ctx.sample_rate as f64); 4],
            states: vec![[State::default(); 4]; ctx.channels],
        };
        for band in 0..4 {
            eq.design(band);
        }
        eq
    }

    fn design(&mut self, band: usize) {
        let [freq, gain, q] = self.params[band];
        self.bands[band] = Coefficients::design(SHAPES[band], freq, q, gain, self.sample_rate);
    }
}

impl Processor for Eq4 {
    fn set_param(&mut self, index: usize, value: f32) {
        let band = index / PER_BAND;
        if band < 4 {
            self.params[band][index % PER_BAND] = value as f64;
            self.design(band);
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let [c0, c1, c2, c3] = self.bands;
        for (ch, states) in self.states.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let [mut s0, mut s1, mut s2, mut s3] = *states;
            // One sample through all four bands before the next: the four
            // recurrences overlap in the CPU's pipeline.
            for (o, &x) in io.output(0, ch).iter_mut().zip(input) {
                let y = s0.tick(&c0, x as f64);
                let y = s1.tick(&c1, y);
                let y = s2.tick(&c2, y);
                *o = s3.tick(&c3, y) as f32;
            }
            *states = [s0, s1, s2, s3];
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::filters::measure::*;
    use crate::testing::*;

    /// Gain in dB at `f` of `eq4` set to `params`, at 48 kHz.
    fn measure(params: &[(&str, f64)], probes: &[f64]) -> Vec<f64> {
        let ir = impulse_response("eq4", "out", params, 48_000);
        probes.iter().map(|&f| db(response(&ir, f, 48_000.0))).collect()
    }

    #[test]
    fn all_bands_at_zero_db_pass_the_signal_untouched() {
        let ir = impulse_response("eq4", "out", &[], 48_000);
        assert_eq!(ir[0], 1.0);
        assert!(ir[1..].iter().all(|&v| v.abs() < 1e-7));
    }

    #[test]
    fn boosting_one_band_by_6_db_shows_at_its_centre_and_nowhere_far() {
        // Peaking bands (Q 1): +6 dB at the centre, ~0 dB four octaves
        // away or more (three octaves away it is still +0.1 dB).
        for (band, centre) in [("mid1", 300.0f64), ("mid2", 1000.0)] {
            let (f, g) = (format!("{band}_freq"), format!("{band}_gain"));
            let params = [(f.as_str(), centre), (g.as_str(), 6.0)];
            let far = [
                centre / 32.0,
                centre / 16.0,
                centre * 16.0,
                (centre * 32.0).min(20_000.0),
            ];
            let got = measure(&params, &[centre]);
            assert!((got[0] - 6.0).abs() < 0.1, "{band}: {} dB at its centre", got[0]);
            for (f, db) in far.iter().zip(measure(&params, &far)) {
                assert!(db.abs() < 0.1, "{band}: {db} dB at {f} Hz");
            }
        }
        // Shelves: +6 dB deep in the shelf, +3 dB at the midpoint, ~0 dB far
        // on the other side.
        for (band, corner, deep, far) in [("low", 100.0, 20.0, 2000.0), ("high", 8000.0, 20_000.0, 500.0)] {
            let (f, g) = (format!("{band}_freq"), format!("{band}_gain"));
            let params = [(f.as_str(), corner), (g.as_str(), 6.0)];
            let got = measure(&params, &[deep, corner, far]);
            assert!(
                (got[0] - 6.0).abs() < 0.3,
                "{band} shelf: {} dB at {deep} Hz",
                got[0]
            );
            assert!(
                (got[1] - 3.0).abs() < 0.1,
                "{band} shelf: {} dB at its midpoint",
                got[1]
            );
            assert!(got[2].abs() < 0.1, "{band} shelf: {} dB at {far} Hz", got[2]);
        }
    }

    #[test]
    fn the_cascade_matches_the_product_of_the_four_cookbook_responses() {
        use crate::filters::biquad::Shape;
        let params = [
            ("low_freq", 80.0),
            ("low_gain", -6.0),
            ("low_q", 0.5),
            ("mid1_freq", 700.0),
            ("mid1_gain", 4.0),
            ("mid1_q", 2.0),
            ("mid2_freq", 3000.0),
            ("mid2_gain", -9.0),
            ("mid2_q", 0.8),
            ("high_freq", 10_000.0),
            ("high_gain", 3.0),
            ("high_q", 0.707),
        ];
        let ir = impulse_response("eq4", "out", &params, 48_000);
        let bands = [
            (Shape::LowShelf, 80.0, 0.5, -6.0),
            (Shape::Peak, 700.0, 2.0, 4.0),
            (Shape::Peak, 3000.0, 0.8, -9.0),
            (Shape::HighShelf, 10_000.0, 0.707f32 as f64, 3.0),
        ];
        for f in probes(48_000.0) {
            let expected = bands
                .iter()
                .fold(rustfft::num_complex::Complex64::new(1.0, 0.0), |h, b| {
                    h * crate::filters::biquad::tests::analytic(b.0, f, b.1, b.2, b.3, 48_000.0)
                });
            assert_close_db(&ir, f, 48_000.0, expected, 0.1, "eq4");
        }
    }

    #[test]
    fn sweeping_every_parameter_end_to_end_stays_finite() {
        // Two bands at +24 dB over each other are a legitimate +48 dB (250×)
        // on unit noise: the bound only catches a filter running away.
        for rate in [22_050, 192_000] {
            let (l, _) = sweep_every_parameter("eq4", rate);
            assert!(
                l.iter().all(|v| v.is_finite()) && peak(&l) < 1000.0,
                "{rate}: {}",
                peak(&l)
            );
        }
    }

    #[test]
    fn gain_and_frequency_jumps_glide_without_clicks() {
        for (param, from, to) in [
            ("mid1_gain", 0.0, 12.0),
            ("low_gain", -24.0, 12.0),
            ("mid1_freq", 5000.0, 300.0),
        ] {
            let start = [(param, from), ("mid1_gain", 12.0)];
            let params = if param == "mid1_freq" {
                &start[..]
            } else {
                &start[..1]
            };
            let out = jump("eq4", params, param, to as f32, 300.0);
            let bound = 1.1 * sine_step(300.0, 0.25 * 4.0, 48_000.0);
            let worst = max_step(&out);
            assert!(
                worst < bound,
                "eq4.{param} {from} -> {to}: step {worst} > {bound}"
            );
        }
    }
}
