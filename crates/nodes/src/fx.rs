//! Small pieces shared by the effect families (modulation, space,
//! distortion): a cheap sine for LFOs, equal-power dry/wet gains, the short fade
//! that hides the switch of a choice parameter, the one-pole loop damping of
//! Jot's reverberator, and the guards that keep feedback loops finite and
//! out of subnormal numbers.
//!
//! Not here: delay lines ([`crate::delay::DelayLine`]) and per-sample
//! parameter ramps ([`crate::smooth::Ramp`]).

use std::f32::consts::FRAC_PI_2;

/// Added to the signal entering a recirculating loop (combs, allpasses,
/// phaser stages, the reverb's network). A decaying loop then settles at
/// about 1e-20 instead of sinking through the subnormal range, so it never
/// slows down even where the runtime's flush-to-zero guard is missing. It is
/// 400 dB below full scale.
pub(crate) const ANTI_DENORMAL: f32 = 1e-20;

/// A fed-back sample is held within ±this. Loops with gain below one never
/// get near it; it only bounds pathological time-varying cases (a delay
/// swept across its range every few samples under high feedback).
pub(crate) const FEEDBACK_LIMIT: f32 = 1e4;

/// `sin(2π p)` for `p` in `0..1`, within 0.001 of the true sine: a parabola
/// corrected by a second parabola of itself (the well-known "fast and
/// accurate sine" of N. Capens, 2006). Continuous with a continuous slope
/// across the wrap, which is what an LFO needs.
#[inline]
pub(crate) fn sin_turns(p: f32) -> f32 {
    let x = if p >= 0.5 { p - 1.0 } else { p };
    let y = 8.0 * x - 16.0 * x * x.abs();
    0.225 * (y * y.abs() - y) + y
}

/// Wrap a phase of `0..2` turns into `0..1`: one compare and select,
/// which vectorises (a float-to-integer conversion would not as well).
#[inline]
pub(crate) fn wrap(p: f32) -> f32 {
    if p >= 1.0 { p - 1.0 } else { p }
}

/// Wrap any finite phase into `0..1` (not for per-sample use: it calls
/// `floor`).
pub(crate) fn wrap_any(p: f32) -> f32 {
    p - p.floor()
}

/// Dry and wet gains for a `mix` of 0..1 by the equal-power (sine/cosine)
/// law: the two signals are mostly uncorrelated, so the level stays about
/// the same at any mix, and at 0.5 they are equal, so notches are complete.
pub(crate) fn equal_power(mix: f32) -> (f32, f32) {
    let (wet, dry) = (mix.clamp(0.0, 1.0) * FRAC_PI_2).sin_cos();
    // Exactly 0 and 1 at the ends (cos(π/2) is not quite 0 in floats).
    let exact = |g: f32| if g < 1e-6 { 0.0 } else { g };
    (exact(dry), exact(wet))
}

/// How long a [`Duck`] takes to fade out, and again to fade in.
const DUCK_S: f32 = 0.003;

#[derive(Clone, Copy, Debug, PartialEq)]
enum DuckState {
    Idle,
    Out,
    /// Silent for this many more samples, then fading in.
    Hold(usize),
    In,
}

/// A switch of a choice parameter (a waveform, a stage count, oversampling)
/// changes a node's output at once, which clicks. The node asks its duck to
/// fade the output out over 3 ms, makes the change when the output is
/// silent (at the start of the next call), and fades back in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Duck {
    gain: f32,
    step: f32,
    state: DuckState,
}

impl Duck {
    /// An idle duck (gain 1).
    pub fn new(sample_rate: f32) -> Self {
        Duck {
            gain: 1.0,
            step: 1.0 / (DUCK_S * sample_rate).max(1.0),
            state: DuckState::Idle,
        }
    }

    /// Start fading out, for a change to make when silent.
    pub fn request(&mut self) {
        self.state = DuckState::Out;
    }

    /// True when the output has faded out: make the change now, then call
    /// [`Duck::resume`].
    pub fn silent(&self) -> bool {
        self.state == DuckState::Out && self.gain == 0.0
    }

    /// Fade back in.
    pub fn resume(&mut self) {
        self.state = DuckState::In;
    }

    /// Stay silent for `frames` more samples (while filters that were
    /// just cleared fill with signal), then fade back in.
    pub fn resume_after(&mut self, frames: usize) {
        self.state = DuckState::Hold(frames);
    }

    /// True when the output passes unchanged.
    pub fn idle(&self) -> bool {
        self.state == DuckState::Idle
    }

    /// Multiply `out` by the fade, sample by sample; every channel of a call
    /// sees the same fade. Call [`Duck::advance`] once after all channels.
    pub fn apply(&self, out: &mut [f32]) {
        let mut d = *self;
        for o in out {
            d.tick();
            *o *= d.gain;
        }
    }

    /// Move the fade on by `frames`.
    pub fn advance(&mut self, frames: usize) {
        for _ in 0..frames {
            self.tick();
        }
    }

    #[inline]
    fn tick(&mut self) {
        match self.state {
            DuckState::Idle => {}
            DuckState::Out => self.gain = (self.gain - self.step).max(0.0),
            DuckState::Hold(0) => self.state = DuckState::In,
            DuckState::Hold(n) => self.state = DuckState::Hold(n - 1),
            DuckState::In => {
                self.gain = (self.gain + self.step).min(1.0);
                if self.gain == 1.0 {
                    self.state = DuckState::Idle;
                }
            }
        }
    }
}

/// The pole `b` of the unity-DC-gain one-pole low-pass
/// `H(z) = (1 - b) / (1 - b z⁻¹)` whose gain at `w` radians per sample is
/// `gain` (0..1). This is how Jot and Chaigne ("Digital delay networks for
/// designing artificial reverberators", AES 1991) make a loop's
/// high-frequency losses proportional to its length: solving
/// `|H(e^{jw})|² = gain²` gives
/// `(1 - g²) b² - 2 (1 - g² cos w) b + (1 - g²) = 0`, whose smaller root is
/// the stable pole.
pub(crate) fn lowpass_pole_for_gain(gain: f64, w: f64) -> f64 {
    let g2 = gain.clamp(1e-6, 1.0).powi(2);
    let a = 1.0 - g2;
    if a < 1e-12 {
        return 0.0;
    }
    let m = 1.0 - g2 * w.cos();
    ((m - (m * m - a * a).max(0.0).sqrt()) / a).clamp(0.0, 0.9999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lfo_sine_is_within_a_thousandth() {
        let worst = (0..10_000)
            .map(|i| {
                let p = i as f32 / 10_000.0;
                (sin_turns(p) - (std::f32::consts::TAU * p).sin()).abs()
            })
            .fold(0.0, f32::max);
        assert!(worst < 1.1e-3, "{worst}");
    }

    #[test]
    fn equal_power_keeps_the_sum_of_squares() {
        for m in [0.0, 0.25, 0.5, 0.9, 1.0] {
            let (d, w) = equal_power(m);
            assert!((d * d + w * w - 1.0).abs() < 1e-5);
        }
        assert_eq!(equal_power(0.0), (1.0, 0.0));
        assert_eq!(equal_power(1.0), (0.0, 1.0));
    }

    #[test]
    fn the_loop_lowpass_has_the_asked_gain() {
        for (gain, w) in [(0.5, 0.5), (0.9, 1.0), (0.99, 0.3), (0.1, 2.5), (1.0, 1.0)] {
            let b: f64 = lowpass_pole_for_gain(gain, w);
            let h = (1.0 - b) / (1.0 - 2.0 * b * w.cos() + b * b).sqrt();
            assert!((h - gain).abs() < 1e-6, "{gain} at {w}: {h}");
        }
    }

    #[test]
    fn a_duck_fades_out_waits_and_fades_in() {
        let mut d = Duck::new(1000.0);
        let mut out = [1.0f32; 8];
        d.request();
        d.apply(&mut out);
        d.advance(8);
        let near = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(near(&out, &[2.0 / 3.0, 1.0 / 3.0, 0.0, 0.0, 0.0]), "{out:?}");
        assert!(d.silent());
        d.resume();
        let mut out = [1.0f32; 4];
        d.apply(&mut out);
        d.advance(4);
        assert!(near(&out, &[1.0 / 3.0, 2.0 / 3.0, 1.0, 1.0]), "{out:?}");
        assert!(d.idle());
    }
}

/// Measurements the effect families' tests share: responses without a
/// window, reverberation time, transfer functions of time-varying effects.
#[cfg(test)]
pub(crate) mod measure {
    use rustfft::FftPlanner;
    use rustfft::num_complex::Complex;

    fn fft(x: &[f32], n: usize, window: bool) -> Vec<Complex<f64>> {
        let len = x.len().min(n);
        let mut buf: Vec<Complex<f64>> = (0..n)
            .map(|i| {
                let v = if i < len { x[i] as f64 } else { 0.0 };
                let w = if window {
                    0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / len as f64).cos()
                } else {
                    1.0
                };
                Complex::new(v * w, 0.0)
            })
            .collect();
        FftPlanner::new().plan_fft_forward(n).process(&mut buf);
        buf.truncate(n / 2 + 1);
        buf
    }

    /// Magnitude in dB of the DFT of an impulse response, zero-padded to
    /// `n`, without a window: bin `i` is `i·sr/n` Hz.
    pub fn response_db(ir: &[f32], n: usize) -> Vec<f64> {
        fft(ir, n, false)
            .iter()
            .map(|c| 20.0 * c.norm().max(1e-30).log10())
            .collect()
    }

    /// Magnitude in dB of the DFT of `x` under a Hann window (for
    /// steady or slowly changing signals).
    pub fn spectrum_db(x: &[f32]) -> Vec<f64> {
        fft(x, x.len(), true)
            .iter()
            .map(|c| 20.0 * c.norm().max(1e-30).log10())
            .collect()
    }

    /// Reverberation time in seconds from M. R. Schroeder's backward
    /// integration ("New method of measuring reverberation time", JASA
    /// 1965): the energy decay curve `EDC(t) = Σ_{τ≥t} h²(τ)` in dB, a least
    /// squares line through its -5 to -35 dB part (T30), extrapolated to
    /// -60 dB.
    pub fn rt60(ir: &[f32], sample_rate: f32) -> f32 {
        let mut edc = vec![0.0f64; ir.len()];
        let mut acc = 0.0;
        for i in (0..ir.len()).rev() {
            acc += (ir[i] as f64).powi(2);
            edc[i] = acc;
        }
        let db: Vec<f64> = edc.iter().map(|e| 10.0 * (e / acc).max(1e-30).log10()).collect();
        let start = db.iter().position(|&d| d <= -5.0).expect("decays by 5 dB");
        let end = db.iter().position(|&d| d <= -35.0).expect("decays by 35 dB");
        let n = (end - start) as f64;
        let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for (i, &y) in db[start..end].iter().enumerate() {
            let x = i as f64;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        (-60.0 / slope / sample_rate as f64) as f32
    }

    /// Gain in dB from `input` to `output` per frequency (bin `i` is
    /// `i·sr/segment` Hz), from cross spectra averaged over Hann-windowed
    /// segments (`Σ Y·X* / Σ |X|²`, Welch's method).
    pub fn transfer_db(input: &[f32], output: &[f32], segment: usize) -> Vec<f64> {
        let bins = segment / 2 + 1;
        let (mut cross, mut power) = (vec![Complex::new(0.0, 0.0); bins], vec![0.0f64; bins]);
        let mut at = 0;
        while at + segment <= input.len().min(output.len()) {
            let x = fft(&input[at..at + segment], segment, true);
            let y = fft(&output[at..at + segment], segment, true);
            for i in 0..bins {
                cross[i] += y[i] * x[i].conj();
                power[i] += x[i].norm_sqr();
            }
            at += segment / 2;
        }
        (0..bins)
            .map(|i| 20.0 * (cross[i].norm() / power[i].max(1e-30)).max(1e-30).log10())
            .collect()
    }

    /// Frequency in Hz of the lowest point of a response between `lo` and
    /// `hi` Hz, `bin_hz` apart.
    pub fn deepest_notch(db: &[f64], bin_hz: f64, lo: f64, hi: f64) -> f64 {
        let (from, to) = ((lo / bin_hz) as usize, ((hi / bin_hz) as usize).min(db.len() - 1));
        let i = (from..=to).min_by(|&a, &b| db[a].total_cmp(&db[b])).unwrap();
        i as f64 * bin_hz
    }

    /// The lag in `0..max_lag` at which `b` best matches `a` delayed:
    /// the peak of their cross-correlation.
    pub fn best_lag(a: &[f32], b: &[f32], max_lag: usize) -> usize {
        (0..max_lag)
            .max_by(|&l1, &l2| {
                let c = |l: usize| -> f64 { (max_lag..b.len()).map(|n| a[n - l] as f64 * b[n] as f64).sum() };
                c(l1).total_cmp(&c(l2))
            })
            .unwrap()
    }

    /// Pearson correlation of two signals.
    pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len().min(b.len()) as f64;
        let (ma, mb) = (
            a.iter().map(|&v| v as f64).sum::<f64>() / n,
            b.iter().map(|&v| v as f64).sum::<f64>() / n,
        );
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (x as f64 - ma, y as f64 - mb);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        ab / (aa * bb).sqrt().max(1e-30)
    }
}
