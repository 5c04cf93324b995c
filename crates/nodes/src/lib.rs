//! The node library of patchbay. Each module holds a family of node kinds;
//! each kind is one `static` [`NodeDescriptor`] (ports, parameters, latency,
//! factory) next to its processor and the tests that measure its sound.
//!
//! Not here: scheduling, devices, files. Adding a node kind means writing
//! its descriptor and processor and listing it in [`ALL`].

use std::sync::OnceLock;

use patchbay_core::{NodeDescriptor, Registry};

pub mod analysis;
pub(crate) mod blep;
pub mod clock;
pub mod delay;
pub mod envelope;
pub mod filters;
pub mod mixing;
pub mod smooth;
pub mod sources;
#[cfg(test)]
pub(crate) mod testing;

/// Every node kind in this crate.
pub static ALL: &[&NodeDescriptor] = &[
    &sources::SINE,
    &sources::SAW,
    &sources::SQUARE,
    &sources::NOISE,
    &sources::CONSTANT,
    &sources::IMPULSE,
    &filters::LOWPASS,
    &delay::DELAY,
    &clock::CLOCK,
    &envelope::ADSR,
    &mixing::GAIN,
    &mixing::MIX,
    &mixing::PAN,
];

/// The registry of every built-in node kind (plus the core's `output`).
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::new();
        for d in ALL {
            r.add(d);
        }
        r
    })
}

/// Convert decibels to a linear gain factor.
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}
