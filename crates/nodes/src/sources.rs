//! Sources: oscillators.

use std::f64::consts::TAU;

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

/// Frequency parameter shared by the oscillators.
const FREQ: ParamSpec = ParamSpec::new("freq", 0.0, 20_000.0, 440.0)
    .unit(Unit::Hz)
    .log()
    .doc("Frequency.");
/// Amplitude parameter shared by the oscillators.
const AMP: ParamSpec = ParamSpec::new("amp", 0.0, 1.0, 1.0)
    .unit(Unit::Gain)
    .doc("Peak amplitude.");
/// Linear FM input shared by the oscillators.
const FM: PortSpec = PortSpec::audio(
    "fm",
    "Added to the frequency, in Hz, sample by sample (linear FM).",
);

/// `sine`: a pure sine wave.
pub static SINE: NodeDescriptor = NodeDescriptor {
    kind: "sine",
    category: "sources",
    summary: "Sine wave oscillator with linear FM input.",
    inputs: &[FM],
    outputs: &[PortSpec::audio("out", "The sine wave.")],
    params: &[FREQ, AMP],
    latency: no_latency,
    breaks_cycles: false,
    build: |ctx| Box::new(Sine::new(ctx)),
};

/// Phase kept in f64 so long renders do not drift in pitch.
pub struct Sine {
    phase: f64,
    freq: f64,
    amp: f32,
    inv_rate: f64,
}

impl Sine {
    fn new(ctx: &NodeContext) -> Self {
        Sine {
            phase: 0.0,
            freq: ctx.param(0) as f64,
            amp: ctx.param(1),
            inv_rate: 1.0 / ctx.sample_rate as f64,
        }
    }
}

impl Processor for Sine {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.freq = value as f64,
            _ => self.amp = value,
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let fm = io.input(0, 0);
        let out = io.output(0, 0);
        for (o, &dev) in out.iter_mut().zip(fm) {
            *o = self.amp * (self.phase * TAU).sin() as f32;
            self.phase += (self.freq + dev as f64) * self.inv_rate;
            self.phase -= self.phase.floor();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn sine_pitch_matches_its_parameter() {
        let out = render_source("sine", &[("freq", 440.0)], 48_000, 48_000);
        let f = peak_frequency(&out, 48_000.0);
        assert!((f - 440.0).abs() < 0.44, "measured {f}");
        assert!((rms(&out) - 0.5f32.sqrt()).abs() < 1e-3);
    }
}
