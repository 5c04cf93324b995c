//! Envelopes: a gate-driven ADSR with analog-style exponential segments.

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

use crate::smooth::Ramp;

/// A segment time parameter.
const fn time(name: &'static str, default: f64, doc: &'static str) -> ParamSpec {
    ParamSpec::new(name, 0.0005, 30.0, default)
        .unit(Unit::Seconds)
        .log()
        .smoothing(0.0)
        .doc(doc)
}

/// `adsr`: attack, decay, sustain, release.
pub static ADSR: NodeDescriptor = NodeDescriptor {
    kind: "adsr",
    category: "control",
    summary: "Envelope generator: rises while the gate is on, settles at `sustain`, falls when it goes off.",
    inputs: &[PortSpec::control(
        "gate",
        "On while above 0.5; each rise restarts the attack from the current level.",
    )],
    outputs: &[PortSpec::control("out", "The envelope, 0..1.")],
    params: &[
        time("attack", 0.01, "Rise time from 0 to 1, in seconds."),
        time("decay", 0.1, "Fall time from 1 to the sustain level, in seconds."),
        ParamSpec::new("sustain", 0.0, 1.0, 0.7)
            .unit(Unit::Percent)
            .doc("Level held while the gate stays on (linear, 0..1)."),
        time(
            "release",
            0.3,
            "Fall time to 0 after the gate goes off, in seconds.",
        ),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Adsr::new(ctx)),
};

/// How far past its end level each curve aims, as in an analog envelope
/// whose capacitor charges toward a voltage beyond the comparator's
/// threshold: a gentle concave attack, near-exponential decay and release.
/// (After N. Redmon, "Envelope generators—ADSR", EarLevel Engineering, 2013.)
const ATTACK_OVERSHOOT: f64 = 0.3;
const FALL_OVERSHOOT: f64 = 0.0001;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Idle,
    Attack,
    Decay,
    Sustain,
    Release,
}

/// One-pole curve `level ← base + level × coef`, heading for a target
/// beyond the segment's end so that it reaches the end in exactly the
/// segment's time.
#[derive(Clone, Copy, Debug, Default)]
struct Curve {
    coef: f64,
    base: f64,
}

impl Curve {
    fn new(from: f64, to: f64, overshoot: f64, samples: f64) -> Self {
        let span = (to - from).abs();
        let target = to + overshoot * (to - from).signum();
        let coef = (-((span + overshoot) / overshoot).ln() / samples.max(1.0)).exp();
        Curve {
            coef,
            base: target * (1.0 - coef),
        }
    }
}

/// The envelope's state.
pub struct Adsr {
    stage: Stage,
    level: f64,
    curve: Curve,
    gate: bool,
    /// Segment times in samples.
    attack: f64,
    decay: f64,
    release: f64,
    sustain: Ramp,
    sample_rate: f64,
}

impl Adsr {
    fn new(ctx: &NodeContext) -> Self {
        let sample_rate = ctx.sample_rate as f64;
        Adsr {
            stage: Stage::Idle,
            level: 0.0,
            curve: Curve::default(),
            gate: false,
            attack: ctx.param(0) as f64 * sample_rate,
            decay: ctx.param(1) as f64 * sample_rate,
            sustain: Ramp::new(ctx.param(2)),
            release: ctx.param(3) as f64 * sample_rate,
            sample_rate,
        }
    }

    /// Start `stage` from the current level.
    fn enter(&mut self, stage: Stage, sustain: f64) {
        self.stage = stage;
        self.curve = match stage {
            // From wherever the level is: a retrigger does not jump.
            Stage::Attack => Curve::new(0.0, 1.0, ATTACK_OVERSHOOT, self.attack),
            Stage::Decay => Curve::new(1.0, sustain, FALL_OVERSHOOT, self.decay),
            Stage::Release => Curve::new(self.level, 0.0, FALL_OVERSHOOT, self.release),
            Stage::Idle | Stage::Sustain => Curve::default(),
        };
    }

    /// The next sample for gate `on` and sustain level `sustain`.
    #[inline]
    fn tick(&mut self, on: bool, sustain: f64) -> f64 {
        if on != self.gate {
            self.gate = on;
            self.enter(if on { Stage::Attack } else { Stage::Release }, sustain);
        }
        let next = self.curve.base + self.level * self.curve.coef;
        match self.stage {
            Stage::Idle => self.level = 0.0,
            Stage::Sustain => self.level = sustain,
            Stage::Attack if next >= 1.0 => {
                self.level = 1.0;
                self.enter(Stage::Decay, sustain);
            }
            Stage::Decay if next <= sustain => {
                self.level = sustain;
                self.stage = Stage::Sustain;
            }
            Stage::Release if next <= 0.0 => {
                self.level = 0.0;
                self.stage = Stage::Idle;
            }
            Stage::Attack | Stage::Decay | Stage::Release => self.level = next,
        }
        self.level
    }
}

impl Processor for Adsr {
    fn set_param(&mut self, index: usize, value: f32) {
        let samples = value as f64 * self.sample_rate;
        let sustain = self.sustain.target() as f64;
        match index {
            0 => self.attack = samples,
            1 => self.decay = samples,
            2 => self.sustain.set(value),
            _ => self.release = samples,
        }
        // A segment under way takes the new setting from where it is.
        if matches!(
            (index, self.stage),
            (0, Stage::Attack) | (1, Stage::Decay) | (3, Stage::Release)
        ) {
            self.enter(self.stage, sustain);
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let gate = io.input(0, 0);
        let sustain = self.sustain.segment(io.frames());
        for (k, (o, &g)) in io.output(0, 0).iter_mut().zip(gate).enumerate() {
            *o = self.tick(g > 0.5, sustain.at(k) as f64) as f32;
        }
        self.sustain.finish();
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const SR: usize = 48_000;

    /// A clock at 60 bpm with gate 0.5 (on for 0.5 s each second) into an
    /// ADSR with these settings.
    fn envelope(params: &[(&str, f64)], seconds: usize) -> Vec<f32> {
        let mut patch = Patch::default();
        patch
            .nodes
            .push(node("clk", "clock", &[("bpm", 60.0), ("gate", 0.5)]));
        patch.nodes.push(node("env", "adsr", params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("clk.out", "env.gate").connect("env.out", "out.in");
        render_patch(&patch, seconds * SR, SR as u32).0
    }

    #[test]
    fn attack_decay_sustain_release_take_their_times() {
        let env = envelope(
            &[
                ("attack", 0.01),
                ("decay", 0.1),
                ("sustain", 0.5),
                ("release", 0.3),
            ],
            1,
        );
        // Attack: 1.0 is reached 10 ms after the gate opens (±1 sample).
        let top = env.iter().position(|&v| v >= 1.0).expect("never reached 1");
        assert!(top.abs_diff(480) <= 1, "peak at sample {top}");
        assert!(env[..top].windows(2).all(|w| w[1] > w[0]), "attack not rising");
        // Decay: at the sustain level 100 ms later, and held there.
        let settled = env
            .iter()
            .skip(top)
            .position(|&v| v <= 0.5)
            .expect("never decayed")
            + top;
        assert!(settled.abs_diff(480 + 4800) <= 2, "sustain from sample {settled}");
        assert!(env[settled..SR / 2].iter().all(|&v| v == 0.5));
        // Release from 0.5 s: exponential (steady dB per second) while
        // well above the floor, -60 dB within 0.3 s, silent after it.
        let release = &env[SR / 2..];
        let db = |s: f64| to_db(release[(s * SR as f64) as usize] / 0.5);
        let slopes = [db(0.06) - db(0.03), db(0.09) - db(0.06), db(0.12) - db(0.09)];
        for s in slopes {
            assert!(
                (s - slopes[0]).abs() < 0.5,
                "release slopes {slopes:?} dB per 30 ms"
            );
        }
        let quiet = release
            .iter()
            .position(|&v| v < 0.5e-3)
            .expect("never fell 60 dB");
        assert!(quiet < (0.3 * SR as f64) as usize, "-60 dB after {quiet} samples");
        assert!(
            release[(0.3 * SR as f64) as usize + 1..]
                .iter()
                .all(|&v| v == 0.0)
        );
        assert!(release.windows(2).all(|w| w[1] <= w[0]), "release not falling");
    }

    #[test]
    fn a_retrigger_restarts_the_attack_from_the_current_level() {
        // A 4 s release is still under way when the gate opens again at 1 s.
        let env = envelope(
            &[
                ("attack", 0.05),
                ("decay", 0.1),
                ("sustain", 0.8),
                ("release", 4.0),
            ],
            2,
        );
        let at = SR;
        assert!(env[at - 1] > 0.1, "release ended already: {}", env[at - 1]);
        // No jump: the largest step anywhere is an ordinary attack step.
        let step = max_step(&env);
        assert!(step < 0.005, "step of {step}");
        assert!(env[at] > env[at - 1]);
        let top = env[at..]
            .iter()
            .position(|&v| v >= 1.0)
            .expect("never reached 1 again");
        assert!(
            top < (0.05 * SR as f64) as usize,
            "from the current level the attack is shorter: {top}"
        );
    }

    #[test]
    fn no_gate_means_silence() {
        let mut patch = Patch::default();
        patch.nodes.push(node("env", "adsr", &[]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("env.out", "out.in");
        let (l, _) = render_patch(&patch, 4800, SR as u32);
        assert!(l.iter().all(|&v| v == 0.0));
    }
}
