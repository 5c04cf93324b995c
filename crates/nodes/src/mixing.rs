//! Mixing and routing: gain, a four-input mixer, a stereo panner.
//!
//! Every level here moves sample by sample ([`Ramp`]) between the runtime's
//! 16-frame parameter updates, so gliding a fader never makes steps.

use std::f32::consts::FRAC_PI_4;

use patchbay_core::{NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency};

use crate::db_to_gain;
use crate::smooth::Ramp;

/// `gain`: multiplies every channel by a level in decibels.
pub static GAIN: NodeDescriptor = NodeDescriptor {
    kind: "gain",
    category: "mixing",
    summary: "Changes the level of a signal by a smoothed amount in decibels.",
    inputs: &[PortSpec::audio("in", "Signal to scale.").follows()],
    outputs: &[PortSpec::audio("out", "Scaled signal.").follows()],
    params: &[ParamSpec::new("gain", -96.0, 24.0, 0.0)
        .unit(Unit::Db)
        .doc("Level change in dB; -96 dB is silence.")],
    latency: no_latency,
    breaks_cycles: false,
    build: |ctx| Box::new(Gain(Ramp::new(gain_of(ctx.param(0))))),
};

/// A mixer channel's level.
const fn mix_gain(name: &'static str) -> ParamSpec {
    ParamSpec::new(name, -96.0, 12.0, 0.0)
        .unit(Unit::Db)
        .doc("Level of the matching input in dB; -96 dB is silence.")
}

/// `mix`: four inputs summed with a level each.
pub static MIX: NodeDescriptor = NodeDescriptor {
    kind: "mix",
    category: "mixing",
    summary: "Sums four inputs, each with its own smoothed level in decibels.",
    inputs: &[
        PortSpec::audio("in1", "First input.").follows(),
        PortSpec::audio("in2", "Second input.").follows(),
        PortSpec::audio("in3", "Third input.").follows(),
        PortSpec::audio("in4", "Fourth input.").follows(),
    ],
    outputs: &[PortSpec::audio("out", "The sum, as wide as the widest input.").follows()],
    params: &[
        mix_gain("gain1"),
        mix_gain("gain2"),
        mix_gain("gain3"),
        mix_gain("gain4"),
    ],
    latency: no_latency,
    breaks_cycles: false,
    build: |ctx| Box::new(Mix(std::array::from_fn(|i| Ramp::new(gain_of(ctx.param(i)))))),
};

/// `pan`: places a mono signal in the stereo field.
pub static PAN: NodeDescriptor = NodeDescriptor {
    kind: "pan",
    category: "mixing",
    summary: "Places a mono signal between left and right with constant power (-3 dB each side at centre).",
    inputs: &[PortSpec::audio("in", "Mono signal to place.")],
    outputs: &[PortSpec::audio("out", "Stereo signal.").channels(2)],
    params: &[ParamSpec::new("pan", -1.0, 1.0, 0.0).doc("Position: -1 hard left, 0 centre, +1 hard right.")],
    latency: no_latency,
    breaks_cycles: false,
    build: |ctx| {
        let [l, r] = pan_gains(ctx.param(0));
        Box::new(Pan {
            left: Ramp::new(l),
            right: Ramp::new(r),
        })
    },
};

/// -96 dB and below is treated as true silence.
fn gain_of(db: f32) -> f32 {
    if db <= -96.0 { 0.0 } else { db_to_gain(db) }
}

/// Constant-power (sine/cosine) pan law: left `cos θ`, right `sin θ`, with
/// θ from 0 (hard left) to π/2 (hard right); `cos² + sin² = 1` keeps the
/// power constant, and the centre is `1/√2`, -3.01 dB per side.
fn pan_gains(pan: f32) -> [f32; 2] {
    let theta = (pan.clamp(-1.0, 1.0) + 1.0) * FRAC_PI_4;
    let (sin, cos) = theta.sin_cos();
    // Exactly silent at the extremes (cos(π/2) is not quite 0 in floats).
    let exact = |g: f32| if g < 1e-6 { 0.0 } else { g };
    [exact(cos), exact(sin)]
}

/// `out[k] += in[k] * gain(k)` over one call, ramping the gain.
#[inline]
fn add_scaled(out: &mut [f32], input: &[f32], ramp: &Ramp) {
    let gain = ramp.segment(out.len());
    if gain.is_flat() {
        let g = gain.at(0);
        if g != 0.0 {
            for (o, x) in out.iter_mut().zip(input) {
                *o += x * g;
            }
        }
    } else {
        for (k, (o, x)) in out.iter_mut().zip(input).enumerate() {
            *o += x * gain.at(k);
        }
    }
}

/// Linear gain, ramped sample by sample.
pub struct Gain(Ramp);

impl Processor for Gain {
    fn set_param(&mut self, _index: usize, value: f32) {
        self.0.set(gain_of(value));
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            out.fill(0.0);
            add_scaled(out, input, &self.0);
        }
        self.0.finish();
    }
}

/// Four ramped gains.
pub struct Mix([Ramp; 4]);

impl Processor for Mix {
    fn set_param(&mut self, index: usize, value: f32) {
        if let Some(ramp) = self.0.get_mut(index) {
            ramp.set(gain_of(value));
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let inputs: [&[f32]; 4] = std::array::from_fn(|p| io.input(p, ch));
            let out = io.output(0, ch);
            out.fill(0.0);
            for (input, ramp) in inputs.iter().zip(&self.0) {
                add_scaled(out, input, ramp);
            }
        }
        self.0.iter_mut().for_each(Ramp::finish);
    }
}

/// Left and right gains, ramped.
pub struct Pan {
    left: Ramp,
    right: Ramp,
}

impl Processor for Pan {
    fn set_param(&mut self, _index: usize, value: f32) {
        let [l, r] = pan_gains(value);
        self.left.set(l);
        self.right.set(r);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let input = io.input(0, 0);
        for (ch, ramp) in [&self.left, &self.right].into_iter().enumerate() {
            let out = io.output(0, ch);
            out.fill(0.0);
            add_scaled(out, input, ramp);
        }
        self.left.finish();
        self.right.finish();
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const SINE_RMS: f32 = std::f32::consts::FRAC_1_SQRT_2;

    #[test]
    fn gain_scales_by_decibels() {
        let out = render_node("sine", &[("freq", 1000.0)], "gain", &[("gain", -6.0)], 48_000);
        let expected = SINE_RMS * 10f32.powf(-6.0 / 20.0);
        assert!((rms(&out[4800..]) - expected).abs() < 1e-3, "rms {}", rms(&out));
    }

    fn panned(pan: f64) -> (Vec<f32>, Vec<f32>) {
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("pan", "pan", &[("pan", pan)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "pan.in").connect("pan.out", "out.in");
        render_patch(&patch, 48_000, 48_000)
    }

    #[test]
    fn pan_is_constant_power_and_minus_3db_at_centre() {
        let (l, r) = panned(0.0);
        for side in [&l, &r] {
            let db = to_db(rms(side) / SINE_RMS);
            assert!((db + 3.01).abs() < 0.1, "centre: {db} dB");
        }
        let (l, r) = panned(-1.0);
        assert!(
            to_db(rms(&r)) < -90.0,
            "hard left leaks {} dB right",
            to_db(rms(&r))
        );
        assert!(to_db(rms(&l) / SINE_RMS).abs() < 0.01);
        let (l, r) = panned(1.0);
        assert!(to_db(rms(&l)) < -90.0 && to_db(rms(&r) / SINE_RMS).abs() < 0.01);
        let (l, r) = panned(0.5);
        let power = (rms(&l) / SINE_RMS).powi(2) + (rms(&r) / SINE_RMS).powi(2);
        assert!((power - 1.0).abs() < 1e-3, "power {power}");
        assert!(rms(&r) > rms(&l));
    }

    #[test]
    fn mix_sums_its_inputs_with_their_gains() {
        let mut patch = Patch::default();
        patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("b", "sine", &[("freq", 3000.0)]));
        patch.nodes.push(node("c", "sine", &[("freq", 5000.0)]));
        patch.nodes.push(node(
            "mix",
            "mix",
            &[("gain1", 0.0), ("gain2", -6.0), ("gain3", -96.0), ("gain4", 12.0)],
        ));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("a.out", "mix.in1")
            .connect("b.out", "mix.in2")
            .connect("c.out", "mix.in3")
            .connect("mix.out", "out.in");
        let (l, _) = render_patch(&patch, 48_000, 48_000);
        // Sines of different frequencies add in power.
        let g2 = 10f32.powf(-6.0 / 20.0);
        let expected = SINE_RMS * (1.0 + g2 * g2).sqrt();
        assert!((rms(&l) - expected).abs() < 1e-3, "rms {} vs {expected}", rms(&l));
        let s = magnitude_spectrum(&l);
        let at = |f: f32| level_at(&s, f, 48_000.0, l.len());
        assert!(at(1000.0).abs() < 0.05 && (at(3000.0) + 6.0).abs() < 0.05);
        assert!(at(5000.0) < -100.0, "-96 dB is silence: {}", at(5000.0));
    }

    #[test]
    fn mix_is_as_wide_as_its_widest_input() {
        let mut patch = Patch::default();
        patch.nodes.push(node("a", "sine", &[("freq", 1000.0)]));
        patch.nodes.push(node("pan", "pan", &[("pan", -1.0)]));
        patch.nodes.push(node("b", "sine", &[("freq", 3000.0)]));
        patch.nodes.push(node("mix", "mix", &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("a.out", "pan.in")
            .connect("pan.out", "mix.in1")
            .connect("b.out", "mix.in2")
            .connect("mix.out", "out.in");
        let (l, r) = render_patch(&patch, 48_000, 48_000);
        // Left: both sines; right: only the mono one, spread to both sides.
        assert!((rms(&l) - 1.0).abs() < 1e-3 && (rms(&r) - SINE_RMS).abs() < 1e-3);
    }

    #[test]
    fn levels_glide_without_steps() {
        // A steady 1.0 through each node while its level is swept: the
        // runtime moves the parameter every 16 frames, the node must fill in
        // between. (Stepping every 16 frames would jump by ~0.07.)
        for (kind, input, param, from, to) in [
            ("gain", "in", "gain", 0.0, -40.0),
            ("mix", "in3", "gain3", 0.0, -40.0),
            ("pan", "in", "pan", -1.0, 1.0),
        ] {
            let mut patch = Patch::default();
            patch.nodes.push(node("one", "constant", &[("value", 1.0)]));
            patch.nodes.push(node("dut", kind, &[(param, from)]));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("one.out", &format!("dut.{input}"))
                .connect("dut.out", "out.in");
            let change = |frame, value| Change {
                frame,
                node: "dut",
                param,
                value,
            };
            let changes = [change(4800, to as f32), change(9600, from as f32)];
            let (l, r) = render_patch_with(&patch, 14_400, 48_000, 64, &changes);
            for side in [l, r] {
                assert!(max_step(&side) < 0.01, "{kind}: step of {}", max_step(&side));
            }
        }
    }
}
