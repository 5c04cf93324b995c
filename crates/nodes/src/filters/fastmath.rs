//! Branch-free f32 approximations of `2^x`, `sin x` and `cos x` for per-sample
//! filter tuning: no library calls, so a loop over a block of them
//! vectorises, and plenty accurate for setting a cutoff (both within a few
//! parts per million, see the tests).

/// `2^x` for `x` in about -126..126 (inputs outside are clamped; NaN reads
/// as the lower end). Exactly 1 at 0, exact at every integer.
///
/// The integer part goes straight into the exponent bits; `2^f` for the
/// fraction `f` in [0, 1) is its Taylor series `Σ (f ln 2)^n / n!` to the
/// 7th power (truncation error below 1.4e-7).
#[inline(always)]
// `clamp` would pass NaN through; max/min turn it into a finite value.
#[allow(clippy::manual_clamp)]
pub(crate) fn exp2(x: f32) -> f32 {
    // f32::max/min return the other operand for NaN: NaN becomes -126.
    let x = x.max(-126.0).min(126.0);
    // Truncation toward zero of a positive number is its floor.
    let whole = (x + 127.0) as i32 - 127;
    let f = x - whole as f32;
    const L: f32 = std::f32::consts::LN_2;
    let p = 1.0
        + f * (L + f
            * (L * L / 2.0
                + f * (L * L * L / 6.0
                    + f * (L * L * L * L / 24.0
                        + f * (L * L * L * L * L / 120.0
                            + f * (L * L * L * L * L * L / 720.0
                                + f * (L * L * L * L * L * L * L / 5040.0)))))));
    f32::from_bits(((whole + 127) as u32) << 23) * p
}

/// `(sin x, cos x)` for `x` in [0, π/2]: their Taylor series to x¹¹ and
/// x¹², whose truncation errors at π/2 are below 6e-8 and 7e-9. Their
/// ratio is `tan x` within a few parts per million up to 0.49 turns.
#[inline(always)]
pub(crate) fn sin_cos(x: f32) -> (f32, f32) {
    let x2 = x * x;
    let sin = x
        * (1.0
            + x2 * (-1.0 / 6.0
                + x2 * (1.0 / 120.0
                    + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362_880.0 + x2 * (-1.0 / 39_916_800.0))))));
    let cos = 1.0
        + x2 * (-0.5
            + x2 * (1.0 / 24.0
                + x2 * (-1.0 / 720.0
                    + x2 * (1.0 / 40_320.0 + x2 * (-1.0 / 3_628_800.0 + x2 * (1.0 / 479_001_600.0))))));
    (sin, cos)
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp2_is_within_a_few_ppm() {
        assert_eq!(super::exp2(0.0), 1.0);
        for i in -20..=20 {
            assert_eq!(super::exp2(i as f32), 2f32.powi(i), "2^{i}");
        }
        let mut worst = 0.0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.001;
            let err = (super::exp2(x) as f64 / 2f64.powf(x as f64) - 1.0).abs();
            worst = worst.max(err);
        }
        assert!(worst < 1e-6, "{worst}");
        assert_eq!(super::exp2(f32::NAN), 2f32.powi(-126));
        assert_eq!(super::exp2(1000.0), 2f32.powi(126));
    }

    #[test]
    fn tan_is_within_a_few_ppm_up_to_0_49_turns() {
        let top = std::f32::consts::PI * 0.49;
        let mut worst = 0.0f64;
        for i in 1..=10_000 {
            let x = top * i as f32 / 10_000.0;
            let (sin, cos) = super::sin_cos(x);
            let err = ((sin / cos) as f64 / (x as f64).tan() - 1.0).abs();
            worst = worst.max(err);
        }
        assert!(worst < 1e-5, "{worst}");
    }
}
