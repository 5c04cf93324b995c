//! Mixing and routing: gain.

use patchbay_core::{NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency};

use crate::db_to_gain;

/// `gain`: multiplies every channel by a level in decibels.
pub static GAIN: NodeDescriptor = NodeDescriptor {
    kind: "gain",
    category: "mixing",
    summary: "Changes the level of a signal by a smoothed amount in decibels.",
    inputs: &[PortSpec::audio("in", "Signal to scale.").follows()],
    outputs: &[PortSpec::audio("out", "Scaled signal.").follows()],
    params: &[ParamSpec::new("gain", -96.0, 24.0, 0.0)
        .unit(Unit::Db)
        .doc("Level change; -96 dB is silence.")],
    latency: no_latency,
    breaks_cycles: false,
    build: |ctx| Box::new(Gain::new(ctx.param(0))),
};

/// Linear gain with a per-sample ramp between parameter updates, so the
/// runtime's chunked glide never produces steps.
pub struct Gain {
    current: f32,
    target: f32,
}

impl Gain {
    fn new(db: f32) -> Self {
        let g = gain_of(db);
        Gain {
            current: g,
            target: g,
        }
    }
}

/// -96 dB and below is treated as true silence.
fn gain_of(db: f32) -> f32 {
    if db <= -96.0 { 0.0 } else { db_to_gain(db) }
}

impl Processor for Gain {
    fn set_param(&mut self, _index: usize, value: f32) {
        self.target = gain_of(value);
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (start, end) = (self.current, self.target);
        let step = (end - start) / frames as f32;
        for ch in 0..io.output_channels(0) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            if start == end {
                for (o, x) in out.iter_mut().zip(input) {
                    *o = x * end;
                }
            } else {
                for (k, (o, x)) in out.iter_mut().zip(input).enumerate() {
                    *o = x * (start + step * (k + 1) as f32);
                }
            }
        }
        self.current = end;
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn gain_scales_by_decibels() {
        let out = render_node("sine", &[("freq", 1000.0)], "gain", &[("gain", -6.0)], 48_000);
        let expected = (1.0 / 2f32.sqrt()) * 10f32.powf(-6.0 / 20.0);
        assert!((rms(&out[4800..]) - expected).abs() < 1e-3, "rms {}", rms(&out));
    }
}
