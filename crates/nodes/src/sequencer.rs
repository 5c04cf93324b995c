//! A step sequencer: sixteen steps of pitch, gate and velocity, advanced by
//! a clock.

use patchbay_core::{NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency};

/// Steps of the `sequencer`.
pub const STEPS: usize = 16;
/// Parameters per step, in order: pitch, gate, velocity.
const STEP_PARAMS: usize = 3;

/// The three parameters of step `n`.
macro_rules! step {
    ($n:literal) => {
        [
            ParamSpec::new(concat!("pitch", $n), 0.0, 127.0, 60.0)
                .unit(Unit::Semitones)
                .smoothing(0.0)
                .doc(concat!(
                    "Pitch of step ",
                    $n,
                    " (MIDI note number; 60 = middle C)."
                )),
            ParamSpec::choice(concat!("gate", $n), &["off", "on"], 1).doc(concat!(
                "Whether step ",
                $n,
                " plays (off: a rest)."
            )),
            ParamSpec::new(concat!("velocity", $n), 0.0, 1.0, 1.0)
                .unit(Unit::Percent)
                .smoothing(0.0)
                .doc(concat!("Velocity of step ", $n, ", 0..1.")),
        ]
    };
}

const fn sequencer_params() -> [ParamSpec; 1 + STEPS * STEP_PARAMS] {
    let steps = [
        step!(1),
        step!(2),
        step!(3),
        step!(4),
        step!(5),
        step!(6),
        step!(7),
        step!(8),
        step!(9),
        step!(10),
        step!(11),
        step!(12),
        step!(13),
        step!(14),
        step!(15),
        step!(16),
    ];
    let mut out = [ParamSpec::new("length", 1.0, STEPS as f64, STEPS as f64)
        .smoothing(0.0)
        .doc("Steps in the loop (1..16): after step `length` comes step 1.");
        1 + STEPS * STEP_PARAMS];
    let mut i = 0;
    while i < STEPS * STEP_PARAMS {
        out[1 + i] = steps[i / STEP_PARAMS][i % STEP_PARAMS];
        i += 1;
    }
    out
}

static SEQUENCER_PARAMS: [ParamSpec; 1 + STEPS * STEP_PARAMS] = sequencer_params();

/// `sequencer`: a 16-step pitch/gate/velocity sequencer.
pub static SEQUENCER: NodeDescriptor = NodeDescriptor {
    kind: "sequencer",
    category: "control",
    summary: "Step sequencer: each rise of `clock` moves to the next of `length` steps of pitch, gate and \
              velocity; the gate is open while the clock is, on steps that play.",
    inputs: &[
        PortSpec::control(
            "clock",
            "Each rise above 0.5 moves to the next step (the first rise plays step 1).",
        ),
        PortSpec::control(
            "reset",
            "Each rise above 0.5 makes the next clock rise play step 1.",
        ),
    ],
    outputs: &[
        PortSpec::control(
            "pitch",
            "Pitch of the current step in semitones; a rest keeps the last note's (so a release does not bend).",
        ),
        PortSpec::control(
            "gate",
            "1 while the clock is high on a step that plays, else 0 (for an `adsr`).",
        ),
        PortSpec::control(
            "velocity",
            "Velocity of the current step; a rest keeps the last note's.",
        ),
    ],
    params: &SEQUENCER_PARAMS,
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        let mut seq = Sequencer {
            length: STEPS,
            pitch: [60.0; STEPS],
            gate: [true; STEPS],
            velocity: [1.0; STEPS],
            step: None,
            clock_high: false,
            reset_high: false,
            out_pitch: ctx.param(1),
            out_velocity: ctx.param(3),
        };
        for (i, &v) in ctx.params.iter().enumerate() {
            seq.set_param(i, v);
        }
        Box::new(seq)
    },
};

/// The step values and the position in the loop.
pub struct Sequencer {
    length: usize,
    pitch: [f32; STEPS],
    gate: [bool; STEPS],
    velocity: [f32; STEPS],
    /// The current step; `None` before the first clock rise (or after a reset).
    step: Option<usize>,
    clock_high: bool,
    reset_high: bool,
    out_pitch: f32,
    out_velocity: f32,
}

impl Processor for Sequencer {
    fn set_param(&mut self, index: usize, value: f32) {
        if index == 0 {
            self.length = (value.round() as usize).clamp(1, STEPS);
            return;
        }
        let (step, field) = ((index - 1) / STEP_PARAMS, (index - 1) % STEP_PARAMS);
        if step >= STEPS {
            return;
        }
        match field {
            0 => self.pitch[step] = value,
            1 => self.gate[step] = value >= 0.5,
            _ => self.velocity[step] = value,
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let (clock, reset) = (io.input(0, 0), io.input(1, 0));
        let [pitch, gate, velocity] = io.outputs([(0, 0), (1, 0), (2, 0)]);
        for k in 0..clock.len() {
            let r = reset[k] > 0.5;
            if r && !self.reset_high {
                self.step = None;
            }
            self.reset_high = r;
            let c = clock[k] > 0.5;
            if c && !self.clock_high {
                let next = match self.step {
                    Some(s) if s + 1 < self.length => s + 1,
                    _ => 0,
                };
                self.step = Some(next);
                if self.gate[next] {
                    self.out_pitch = self.pitch[next];
                    self.out_velocity = self.velocity[next];
                }
            }
            self.clock_high = c;
            let open = c && self.step.is_some_and(|s| self.gate[s]);
            pitch[k] = self.out_pitch;
            gate[k] = if open { 1.0 } else { 0.0 };
            velocity[k] = self.out_velocity;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const SR: u32 = 48_000;
    /// 600 bpm: a step every 4800 samples, the gate open for the first half.
    const STEP: usize = 4800;

    /// The sequencer's (pitch, gate, velocity) in the middle of each of
    /// `steps` clock steps' open halves, with a reset at `reset_at`.
    fn play(params: &[(&str, f64)], steps: usize, reset_at: Option<usize>) -> Vec<(f32, f32, f32)> {
        let mut patch = Patch::default();
        patch
            .nodes
            .push(node("clk", "clock", &[("bpm", 600.0), ("gate", 0.5)]));
        patch.nodes.push(node("seq", "sequencer", params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("clk.out", "seq.clock");
        if reset_at.is_some() {
            // A constant sent to 1 at `reset_at` (it glides there in 20 ms).
            patch.nodes.push(node("r", "constant", &[("value", 0.0)]));
            patch.connect("r.out", "seq.reset");
        }
        let frames = steps * STEP;
        let mut out = Vec::new();
        for port in ["pitch", "gate", "velocity"] {
            let mut p = patch.clone();
            p.connect(&format!("seq.{port}"), "out.in");
            let changes: Vec<Change> = reset_at
                .map(|at| Change {
                    frame: at,
                    node: "r",
                    param: "value",
                    value: 1.0,
                })
                .into_iter()
                .collect();
            out.push(render_patch_with(&p, frames, SR, 64, &changes).0);
        }
        (0..steps)
            .map(|s| {
                let k = s * STEP + STEP / 4;
                (out[0][k], out[1][k], out[2][k])
            })
            .collect()
    }

    #[test]
    fn steps_play_in_order_and_loop_at_the_length() {
        let params = [
            ("length", 4.0),
            ("pitch1", 60.0),
            ("pitch2", 62.0),
            ("gate2", 0.0),
            ("pitch3", 64.0),
            ("velocity3", 0.5),
            ("pitch4", 67.0),
        ];
        let seen = play(&params, 9, None);
        let expected = [
            (60.0, 1.0, 1.0),
            (60.0, 0.0, 1.0), // a rest keeps the last note
            (64.0, 1.0, 0.5),
            (67.0, 1.0, 1.0),
            (60.0, 1.0, 1.0),
            (60.0, 0.0, 1.0),
            (64.0, 1.0, 0.5),
            (67.0, 1.0, 1.0),
            (60.0, 1.0, 1.0),
        ];
        assert_eq!(seen, expected);
    }

    #[test]
    fn gate_follows_the_clock_and_reset_restarts_the_loop() {
        // Gate: open for the clock's open half only.
        let mut patch = Patch::default();
        patch
            .nodes
            .push(node("clk", "clock", &[("bpm", 600.0), ("gate", 0.25)]));
        patch.nodes.push(node("seq", "sequencer", &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch
            .connect("clk.out", "seq.clock")
            .connect("seq.gate", "out.in");
        let (g, _) = render_patch(&patch, 10 * STEP, SR);
        let open = g.iter().filter(|&&v| v == 1.0).count() as f64 / g.len() as f64;
        assert!((open - 0.25).abs() < 1e-3, "{open}");
        // Reset during step 3 (of 16, pitches 60 + n): step 4's clock plays step 1.
        let params: Vec<(String, f64)> = (1..=16).map(|n| (format!("pitch{n}"), 59.0 + n as f64)).collect();
        let params: Vec<(&str, f64)> = params.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let seen = play(&params, 6, Some(2 * STEP + STEP / 2));
        let pitches: Vec<f32> = seen.iter().map(|s| s.0).collect();
        assert_eq!(pitches, [60.0, 61.0, 62.0, 60.0, 61.0, 62.0]);
    }
}
