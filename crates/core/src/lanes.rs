//! Block loops in AVX's eight lanes where the CPU has them (checked once,
//! when a processor is built): a level node's whole DSP is a multiply or
//! two per sample, so at SSE2's four lanes loads and stores are its cost.
//! Float multiplies and adds round the same at either width: the samples
//! are the same bits (tested).

/// Which loop width this CPU runs.
#[derive(Clone, Copy, Debug)]
pub struct Lanes {
    #[cfg(target_arch = "x86_64")]
    avx: bool,
}

/// Each kernel: the plain loop (`$name`), its AVX build (`$avx`), and a
/// [`Lanes`] method that picks one.
macro_rules! kernels {
    ($(
        $(#[$doc:meta])*
        fn $name:ident / $avx:ident $(<$f:ident: $bound:path>)? ($($arg:ident: $ty:ty),*) $body:block
    )*) => {
        impl Lanes {
            $(
                $(#[$doc])*
                #[inline(always)]
                pub fn $name$(<$f: $bound>)?(self, $($arg: $ty),*) {
                    #[cfg(target_arch = "x86_64")]
                    if self.avx {
                        // SAFETY: `avx` is set only where the CPU has AVX.
                        return unsafe { $avx($($arg),*) };
                    }
                    // Out of line too: inlined, the narrow loop would
                    // crowd the caller's registers on the wide path.
                    #[inline(never)]
                    fn narrow$(<$f: $bound>)?($($arg: $ty),*) {
                        $name($($arg),*)
                    }
                    narrow($($arg),*)
                }
            )*
        }
        $(
            #[inline(always)]
            fn $name$(<$f: $bound>)?($($arg: $ty),*) $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx")]
            fn $avx$(<$f: $bound>)?($($arg: $ty),*) {
                $name($($arg),*)
            }
        )*
    };
}

kernels! {
    /// `out = x · g`.
    fn scale / scale_avx(out: &mut [f32], x: &[f32], g: f32) {
        for (o, x) in out.iter_mut().zip(x) {
            *o = x * g;
        }
    }

    /// `out += x · g`.
    fn scale_add / scale_add_avx(out: &mut [f32], x: &[f32], g: f32) {
        for (o, x) in out.iter_mut().zip(x) {
            *o += x * g;
        }
    }

    /// `left = x · gl`, `right = x · gr` in one pass over `x`.
    fn spread / spread_avx(left: &mut [f32], right: &mut [f32], x: &[f32], gl: f32, gr: f32) {
        for ((l, r), x) in left.iter_mut().zip(right.iter_mut()).zip(x) {
            *l = x * gl;
            *r = x * gr;
        }
    }

    /// `out = a · ga + b · gb`.
    fn blend / blend_avx(out: &mut [f32], a: &[f32], b: &[f32], ga: f32, gb: f32) {
        for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
            *o = a * ga + b * gb;
        }
    }

    /// `out = x · f + c`.
    fn affine / affine_avx(out: &mut [f32], x: &[f32], f: f32, c: f32) {
        for (o, x) in out.iter_mut().zip(x) {
            *o = x * f + c;
        }
    }

    /// `out = op(out)`, in place.
    fn map / map_avx<F: Fn(f32) -> f32>(out: &mut [f32], op: F) {
        for o in out.iter_mut() {
            *o = op(*o);
        }
    }

    /// The phases of a ramp from `first` rising `inc` a sample that wraps
    /// at most once (past 1): each from the first, with no dependency from
    /// sample to sample.
    fn phases / phases_avx(out: &mut [f32], first: f32, inc: f32) {
        for (k, o) in out.iter_mut().enumerate() {
            let p = first + (k as i32 as f32) * inc;
            *o = if p >= 1.0 { p - 1.0 } else { p };
        }
    }

    /// `out = op(phase)` for the phases [`Lanes::phases`] writes, in the
    /// same pass.
    fn map_phases / map_phases_avx<F: Fn(f32) -> f32>(out: &mut [f32], first: f32, inc: f32, op: F) {
        for (k, o) in out.iter_mut().enumerate() {
            let p = first + (k as i32 as f32) * inc;
            *o = op(if p >= 1.0 { p - 1.0 } else { p });
        }
    }

    /// `out = op(a, b)`.
    fn zip / zip_avx<F: Fn(f32, f32) -> f32>(out: &mut [f32], a: &[f32], b: &[f32], op: F) {
        for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
            *o = op(a, b);
        }
    }
}

impl Lanes {
    /// The widest this CPU has (control thread).
    pub fn detect() -> Self {
        Lanes {
            #[cfg(target_arch = "x86_64")]
            avx: std::arch::is_x86_feature_detected!("avx"),
        }
    }

    /// SSE2 only, to compare the widths in tests.
    #[cfg(test)]
    pub fn narrow() -> Self {
        Lanes {
            #[cfg(target_arch = "x86_64")]
            avx: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lanes;

    #[test]
    fn both_widths_give_the_same_bits() {
        // Odd lengths exercise the tails; values across many exponents.
        let x: Vec<f32> = (0..67)
            .map(|k| ((k * 7919 % 1000) as f32 - 500.0) * 1.37e-3f32.powi(k % 5))
            .collect();
        let y: Vec<f32> = x.iter().rev().map(|v| v * 0.3 + 0.1).collect();
        let run = |lanes: Lanes| {
            let mut out = vec![vec![0.1f32; 67]; 11];
            let [a, b, c, d, e, f, g, h, i, j, k] = &mut out[..] else {
                unreachable!()
            };
            lanes.scale(a, &x, 0.707);
            b.copy_from_slice(&y);
            lanes.scale_add(b, &x, -1.3);
            lanes.spread(c, d, &x, 0.454, 0.891);
            lanes.affine(e, &x, 0.5, 0.1);
            lanes.zip(f, &x, &y, |a, b| a * b);
            g.copy_from_slice(&x);
            lanes.map(g, |v| {
                let p = v.abs().fract();
                4.0 * p * (1.0 - p) * 0.3 - 0.2
            });
            lanes.phases(h, 0.987_654_3, 1.0 / 3.7);
            lanes.map_phases(k, 0.987_654_3, 1.0 / 3.7, |p| p * 0.5);
            lanes.blend(i, &x, &y, 0.891, 0.454);
            // What a blend replaces: a scale, then a scaled add.
            lanes.scale(j, &x, 0.891);
            lanes.scale_add(j, &y, 0.454);
            out
        };
        let (wide, narrow) = (run(Lanes::detect()), run(Lanes::narrow()));
        for (w, n) in wide.iter().zip(&narrow) {
            assert!(w.iter().zip(n).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        assert!(
            narrow[8]
                .iter()
                .zip(&narrow[9])
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        // A map in the phases' pass is the map of the phases.
        assert!(narrow[10].iter().zip(&narrow[7]).all(|(m, p)| *m == p * 0.5));
        assert_eq!(narrow[0][3], x[3] * 0.707);
        assert_eq!(narrow[4][9], x[9] * 0.5 + 0.1);
    }
}
