//! Filters and EQ: the RBJ cookbook biquads in all their forms, a
//! state-variable filter that takes audio-rate cutoff modulation, one-pole
//! low- and high-pass, a DC blocker and a four-band parametric EQ.
//!
//! Every kind filters each channel of its input alike (the output follows
//! the input's width) and computes its coefficients only when a parameter
//! changes, never in the sample loop — except the state-variable filter's
//! `cutoff_mod` input, which is evaluated per sample by design.
//!
//! | module | kinds |
//! |---|---|
//! | [`biquad`] | `lowpass`, `highpass`, `bandpass`, `notch`, `peak`, `lowshelf`, `highshelf`, `biquad_allpass` |
//! | [`svf`] | `svf` |
//! | [`onepole`] | `onepole_lp`, `onepole_hp`, `dc_block` |
//! | [`eq`] | `eq4` |

pub mod biquad;
pub mod eq;
pub(crate) mod fastmath;
pub mod onepole;
pub mod svf;

#[cfg(test)]
pub(crate) mod measure;

pub use biquad::{BANDPASS, BIQUAD_ALLPASS, HIGHPASS, HIGHSHELF, LOWPASS, LOWSHELF, NOTCH, PEAK};
pub use eq::EQ4;
pub use onepole::{DC_BLOCK, ONEPOLE_HP, ONEPOLE_LP};
pub use svf::SVF;

use patchbay_core::{ParamSpec, Unit};

/// Highest frequency any filter is tuned to, as a fraction of the sample
/// rate: cutoffs above it are held there, so every kind stays stable at
/// 22.05 kHz with a 20 kHz setting.
pub(crate) const MAX_TUNING: f64 = 0.49;

/// Hold a frequency in Hz between 1 Hz and [`MAX_TUNING`] × the sample rate.
#[inline]
pub(crate) fn clamp_frequency(hz: f64, sample_rate: f64) -> f64 {
    hz.clamp(1.0, MAX_TUNING * sample_rate)
}

/// A frequency parameter in Hz on a log knob over the audible band.
pub(crate) const fn frequency(name: &'static str, default: f64, doc: &'static str) -> ParamSpec {
    ParamSpec::new(name, 10.0, 20_000.0, default)
        .unit(Unit::Hz)
        .log()
        .doc(doc)
}

/// A quality-factor parameter (plain number) on a log knob.
pub(crate) const fn quality(name: &'static str, default: f64, doc: &'static str) -> ParamSpec {
    ParamSpec::new(name, 0.1, 20.0, default).log().doc(doc)
}

/// A boost/cut parameter in dB.
pub(crate) const fn boost(name: &'static str, doc: &'static str) -> ParamSpec {
    ParamSpec::new(name, -24.0, 24.0, 0.0).unit(Unit::Db).doc(doc)
}
