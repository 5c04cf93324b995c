//! A tempo clock: a gate signal on a beat grid, with swing.

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

/// `clock`: gates at a tempo.
pub static CLOCK: NodeDescriptor = NodeDescriptor {
    kind: "clock",
    category: "control",
    summary: "Gate source: opens `division` times per beat at `bpm`, for `gate` of each step, with swing.",
    inputs: &[],
    outputs: &[PortSpec::control(
        "out",
        "Gate: 1 while a step's gate is open, else 0.",
    )],
    params: &[
        ParamSpec::new("bpm", 1.0, 999.0, 120.0)
            .unit(Unit::Bpm)
            .log()
            .doc("Tempo in beats per minute."),
        ParamSpec::new("division", 1.0, 16.0, 1.0)
            .smoothing(0.0)
            .doc("Steps per beat (4 = sixteenth notes in 4/4)."),
        ParamSpec::new("gate", 0.01, 0.99, 0.5)
            .unit(Unit::Percent)
            .doc("Part of each step the gate is open."),
        ParamSpec::new("swing", 0.0, 0.75, 0.0)
            .unit(Unit::Percent)
            .doc("Delays every second step by swing × half a step; gates keep their share of each step."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Clock::new(ctx)),
};

/// Position within a pair of steps, advanced sample by sample, so tempo
/// changes bend the timing without jumps.
pub struct Clock {
    /// Steps into the current pair, `[0, 2)`.
    position: f64,
    bpm: f64,
    division: f64,
    gate: f64,
    swing: f64,
    inv_rate: f64,
}

impl Clock {
    fn new(ctx: &NodeContext) -> Self {
        Clock {
            position: 0.0,
            bpm: ctx.param(0) as f64,
            division: ctx.param(1) as f64,
            gate: ctx.param(2) as f64,
            swing: ctx.param(3) as f64,
            inv_rate: 1.0 / ctx.sample_rate as f64,
        }
    }

    /// Whether the gate is open at `position` steps into a pair. Swing
    /// moves the second step's start from 1 to `1 + swing / 2`; each step's
    /// gate lasts `gate` of that step's (lengthened or shortened) span, so the
    /// open share of the time stays `gate` and a gate always closes before
    /// the next step.
    fn open_at(&self, position: f64) -> bool {
        let second = 1.0 + 0.5 * self.swing;
        if position < second {
            position < self.gate * second
        } else {
            position - second < self.gate * (2.0 - second)
        }
    }
}

impl Processor for Clock {
    fn set_param(&mut self, index: usize, value: f32) {
        let value = value as f64;
        match index {
            0 => self.bpm = value,
            1 => self.division = value,
            2 => self.gate = value,
            _ => self.swing = value,
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let steps_per_sample = self.bpm * self.division / 60.0 * self.inv_rate;
        for o in io.output(0, 0) {
            *o = if self.open_at(self.position) { 1.0 } else { 0.0 };
            self.position += steps_per_sample;
            if self.position >= 2.0 {
                self.position -= 2.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    /// Frames where the gate opens (counting an open first sample).
    fn rising_edges(x: &[f32]) -> Vec<usize> {
        let mut before = 0.0;
        let mut edges = Vec::new();
        for (i, &v) in x.iter().enumerate() {
            if v > 0.5 && before <= 0.5 {
                edges.push(i);
            }
            before = v;
        }
        edges
    }

    fn open_share(x: &[f32]) -> f64 {
        x.iter().filter(|&&v| v > 0.5).count() as f64 / x.len() as f64
    }

    #[test]
    fn counts_bpm_times_division_steps_per_minute_with_the_gate_share() {
        for (bpm, division, gate, seconds, rate) in [
            (120.0, 1.0, 0.5, 10, 48_000),
            (90.0, 4.0, 0.25, 8, 44_100),
            (150.0, 3.0, 0.9, 4, 96_000),
            (33.0, 1.0, 0.01, 20, 22_050),
        ] {
            let params = [("bpm", bpm), ("division", division), ("gate", gate)];
            let out = render_source("clock", &params, seconds * rate as usize, rate);
            assert!(out.iter().all(|&v| v == 0.0 || v == 1.0));
            let expected = bpm * division / 60.0 * seconds as f64;
            assert_eq!(
                rising_edges(&out).len() as f64,
                expected,
                "{bpm} bpm × {division}"
            );
            let share = open_share(&out);
            assert!(
                (share - gate).abs() < 1e-3,
                "{bpm} bpm: gate open {share} of the time, expected {gate}"
            );
        }
    }

    #[test]
    fn swing_delays_every_second_step() {
        // 120 bpm in eighths: a step is 12000 samples; swing 0.5 moves every
        // second step a quarter step (3000 samples) later.
        let params = [("bpm", 120.0), ("division", 2.0), ("swing", 0.5), ("gate", 0.5)];
        let out = render_source("clock", &params, 48_000, 48_000);
        let edges = rising_edges(&out);
        let expected = [0, 15_000, 24_000, 39_000];
        assert_eq!(edges.len(), expected.len());
        for (&at, &want) in edges.iter().zip(&expected) {
            assert!(at.abs_diff(want) <= 1, "edges {edges:?}");
        }
        assert!((open_share(&out) - 0.5).abs() < 1e-3);
    }
}
