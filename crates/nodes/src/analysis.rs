//! Measurements of sound, shared by the analysis nodes and by every test
//! that checks what a node does: level, peak, pitch by FFT.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// Root mean square of a signal.
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64).sqrt() as f32
}

/// Largest absolute sample.
pub fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, &v| m.max(v.abs()))
}

/// Level in decibels relative to full scale (1.0).
pub fn to_db(level: f32) -> f32 {
    20.0 * level.max(1e-12).log10()
}

/// Magnitude spectrum of `x` under a Hann window: `x.len() / 2 + 1` bins,
/// scaled so a full-scale sine reads about 1.0 at its bin.
pub fn magnitude_spectrum(x: &[f32]) -> Vec<f32> {
    let n = x.len();
    let mut buf: Vec<Complex<f64>> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
            Complex::new(v as f64 * w, 0.0)
        })
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    buf[..n / 2 + 1]
        .iter()
        .map(|c| (c.norm() * 4.0 / n as f64) as f32)
        .collect()
}

/// Frequency of the strongest spectral peak, refined between bins by
/// parabolic interpolation of the log magnitudes.
pub fn peak_frequency(x: &[f32], sample_rate: f32) -> f32 {
    let spectrum = magnitude_spectrum(x);
    let (k, _) =
        spectrum.iter().enumerate().skip(1).fold(
            (1, 0.0f32),
            |best, (i, &m)| if m > best.1 { (i, m) } else { best },
        );
    let bin_hz = sample_rate as f64 / x.len() as f64;
    if k + 1 >= spectrum.len() {
        return (k as f64 * bin_hz) as f32;
    }
    let (a, b, c) = (
        (spectrum[k - 1].max(1e-20) as f64).ln(),
        (spectrum[k].max(1e-20) as f64).ln(),
        (spectrum[k + 1].max(1e-20) as f64).ln(),
    );
    let offset = 0.5 * (a - c) / (a - 2.0 * b + c);
    ((k as f64 + offset) * bin_hz) as f32
}

/// Level of the spectrum at `freq` in dB (the largest bin within ±2 bins).
pub fn level_at(spectrum: &[f32], freq: f32, sample_rate: f32, n: usize) -> f32 {
    let bin = (freq as f64 * n as f64 / sample_rate as f64).round() as usize;
    let lo = bin.saturating_sub(2);
    let hi = (bin + 2).min(spectrum.len() - 1);
    to_db(spectrum[lo..=hi].iter().fold(0.0f32, |m, &v| m.max(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_frequency_finds_a_sine_between_bins() {
        let sr = 48_000.0;
        let x: Vec<f32> = (0..8192)
            .map(|i| (std::f32::consts::TAU * 1234.5 * i as f32 / sr).sin())
            .collect();
        let f = peak_frequency(&x, sr);
        assert!((f - 1234.5).abs() < 0.5, "{f}");
        assert!((rms(&x) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-3);
        assert!((peak(&x) - 1.0).abs() < 1e-3);
    }
}
