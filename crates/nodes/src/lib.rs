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
pub mod distortion;
pub mod dynamics;
pub mod envelope;
pub mod filters;
pub(crate) mod fx;
pub mod input;
pub mod lfo;
pub mod math;
pub mod mixing;
pub mod modulation;
pub mod playback;
pub mod record;
pub mod sequencer;
pub mod smooth;
pub mod sources;
pub mod space;
pub mod taps;
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
    &filters::HIGHPASS,
    &filters::BANDPASS,
    &filters::NOTCH,
    &filters::PEAK,
    &filters::LOWSHELF,
    &filters::HIGHSHELF,
    &filters::BIQUAD_ALLPASS,
    &filters::SVF,
    &filters::ONEPOLE_LP,
    &filters::ONEPOLE_HP,
    &filters::DC_BLOCK,
    &filters::EQ4,
    &delay::DELAY,
    &distortion::WAVESHAPER,
    &distortion::BITCRUSHER,
    &modulation::CHORUS,
    &modulation::FLANGER,
    &modulation::PHASER,
    &space::COMB,
    &space::ALLPASS,
    &space::REVERB,
    &clock::CLOCK,
    &envelope::ADSR,
    &input::INPUT,
    &record::RECORD_NODE,
    &mixing::GAIN,
    &mixing::MIX,
    &mixing::PAN,
    &dynamics::COMPRESSOR,
    &dynamics::LIMITER,
    &dynamics::GATE,
    &dynamics::FOLLOWER,
    &mixing::WIDTH,
    &mixing::MIXER,
    &mixing::CROSSFADE,
    &mixing::SPLIT,
    &mixing::MERGE,
    &mixing::BUS,
    &math::ADD,
    &math::SUBTRACT,
    &math::MULTIPLY,
    &math::SCALE,
    &math::MIN,
    &math::MAX,
    &math::ABS,
    &math::CLAMP,
    &math::MAP,
    &math::SLEW,
    &math::SAMPLE_HOLD,
    &math::QUANTIZE,
    &math::MTOF,
    &taps::METER,
    &taps::SCOPE,
    &taps::SPECTRUM,
    &sources::TRIANGLE,
    &sources::PINK,
    &lfo::LFO,
    &lfo::PHASOR,
    &sequencer::SEQUENCER,
    &playback::PLAYER,
    &playback::SAMPLER,
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

#[cfg(test)]
mod tests {
    use patchbay_core::Channels;

    use crate::testing::*;

    /// `kind` fed noise on every input (stereo where the input follows),
    /// its output to the speakers; some parameters driven by signals.
    fn around(kind: &str, drive_params: bool) -> Patch {
        let d = crate::registry().get(kind).expect("registered");
        let mut patch = Patch::default();
        patch.nodes.push(node("n", "noise", &[("seed", 3.0)]));
        patch.nodes.push(node("wide", "pan", &[("pan", 0.3)]));
        patch.nodes.push(node("dut", kind, &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("n.out", "wide.in");
        for p in d.inputs {
            let from = if p.channels == Channels::Follows {
                "wide.out"
            } else {
                "n.out"
            };
            patch.connect(from, &format!("dut.{}", p.name));
        }
        if drive_params {
            // Loud noise, clamped by the runtime to each parameter's range:
            // every parameter jumps around its whole range every 16 frames.
            patch
                .nodes
                .push(node("loud", "noise", &[("seed", 9.0), ("amp", 1.0)]));
            patch.nodes.push(node("big", "gain", &[("gain", 24.0)]));
            patch.connect("loud.out", "big.in");
            for p in d.params {
                patch.connect("big.out", &format!("dut.{}", p.name));
            }
        }
        // The first output (`svf` has `lp`, `bp`, `hp`, no `out`).
        if let Some(first) = d.outputs.first() {
            patch.connect(&format!("dut.{}", first.name), "out.in");
        }
        patch
    }

    #[test]
    fn every_kind_sounds_the_same_at_any_block_size_and_stays_finite() {
        for d in crate::ALL {
            for rate in [22_050, 192_000] {
                let patch = around(d.kind, false);
                let frames = rate as usize / 4;
                let reference = render_patch_with(&patch, frames, rate, 64, &[]);
                for block in [1, 7, 256] {
                    let other = render_patch_with(&patch, frames, rate, block, &[]);
                    assert!(
                        reference == other,
                        "{} at {rate} Hz differs at block size {block}",
                        d.kind
                    );
                }
                let (l, r) = reference;
                assert!(
                    l.iter().chain(&r).all(|v| v.is_finite()),
                    "{} at {rate} Hz",
                    d.kind
                );
            }
        }
    }

    #[test]
    fn a_kind_rests_on_constants_exactly_when_its_descriptor_says_it_may() {
        // The compiler keeps buffers for kinds that say so, and only those
        // can fold in longer chains: a kind that rests without saying so
        // would lose that; one that says so and never rests wastes buffers.
        for d in crate::ALL {
            let mut patch = Patch::default();
            patch.nodes.push(node("c", "constant", &[("value", 0.5)]));
            patch.nodes.push(node("dut", d.kind, &[]));
            patch.nodes.push(node("out", "output", &[]));
            for p in d.inputs {
                patch.connect("c.out", &format!("dut.{}", p.name));
            }
            if let Some(first) = d.outputs.first() {
                patch.connect(&format!("dut.{}", first.name), "out.in");
            }
            let (plan, mut schedule) = schedule_of(&patch);
            for _ in 0..4 {
                schedule.process();
            }
            let dut = plan.node_index("dut").unwrap();
            assert_eq!(schedule.is_skipped(dut), d.may_rest, "{}", d.kind);
        }
    }

    #[test]
    fn every_kind_survives_its_parameters_jumping_across_their_ranges() {
        for d in crate::ALL {
            for rate in [22_050, 48_000, 192_000] {
                // render_patch_with also checks that no block allocates.
                let (l, r) = render_patch_with(&around(d.kind, true), rate as usize / 2, rate, 64, &[]);
                let loudest = peak(&l).max(peak(&r));
                assert!(
                    loudest.is_finite() && loudest < 1e3,
                    "{} at {rate} Hz peaks at {loudest}",
                    d.kind
                );
            }
        }
    }
}
