//! Test-only node kinds. Each is a few lines of obvious DSP, so that what the
//! tests exercise is the compiler's routing, not the nodes.
//!
//! | kind         | inputs            | outputs              | does                                   |
//! |--------------|-------------------|----------------------|----------------------------------------|
//! | `src`        | —                 | `out` mono           | seeded noise in [-1, 1), or half that  |
//! | `stereo_src` | —                 | `out` stereo         | seeded noise, a different one per side |
//! | `dc`         | —                 | `out` mono           | the `value` parameter, every sample    |
//! | `gain`       | `in` follows      | `out` follows        | `in * gain`                            |
//! | `add2`       | `a`, `b` follows  | `out` follows        | `a + 0.5 * b` (so the order matters)   |
//! | `mono_in`    | `in` mono         | `out` mono           | `-in`                                  |
//! | `fork`       | `in` follows      | `pos`, `neg` follows | `in` and `-in`                         |
//! | `lat`        | `in` follows      | `out` follows        | delays by `samples`, declared latency  |
//! | `z1`         | `in` follows      | `out` follows        | delays by `samples`; breaks cycles     |
//!
//! Only `gain.gain` and `dc.value` respond to `set_param`; the other
//! parameters are read once, when the processor is built.

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Registry, Rest, SettingKind,
    SettingSpec, no_latency,
};

/// A registry of the built-in `output` plus every test kind.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    for descriptor in ALL {
        registry.add(descriptor);
    }
    registry
}

/// Every test kind.
pub static ALL: [&NodeDescriptor; 9] = [&SRC, &STEREO_SRC, &DC, &GAIN, &ADD2, &MONO_IN, &FORK, &LAT, &Z1];

/// A deterministic pseudo-random generator (xorshift32) in [-1, 1).
#[derive(Clone, Debug)]
pub struct Noise(u32);

impl Noise {
    /// The generator for channel `ch` of a source seeded with `seed`.
    pub fn new(seed: u32, ch: usize) -> Self {
        let mixed = seed.wrapping_add(ch as u32 * 7919).wrapping_mul(0x9E37_79B9) ^ 0x2545_F491;
        Noise(mixed | 1)
    }

    /// The next sample.
    pub fn next_sample(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        (x >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
    }
}

/// `frames` samples of channel `ch` of a source seeded with `seed`.
pub fn noise(seed: u32, ch: usize, frames: usize) -> Vec<f32> {
    let mut noise = Noise::new(seed, ch);
    (0..frames).map(|_| noise.next_sample()).collect()
}

/// `src`'s scale for its `range` choice: 0 = full, 1 = half.
pub fn range_scale(choice: f32) -> f32 {
    if choice == 0.0 { 1.0 } else { 0.5 }
}

pub static SRC: NodeDescriptor = NodeDescriptor {
    kind: "src",
    category: "test",
    summary: "Seeded noise.",
    inputs: &[],
    outputs: &[PortSpec::audio("out", "noise")],
    params: &[
        ParamSpec::new("seed", 0.0, 1_000_000.0, 1.0).smoothing(0.0),
        ParamSpec::choice("range", &["full", "half"], 0),
    ],
    settings: &[SettingSpec::new("label", SettingKind::Name, "noise").doc("what the source is called")],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(NoiseSource {
            channels: vec![Noise::new(ctx.param(0) as u32, 0)],
            scale: range_scale(ctx.param(1)),
        })
    },
};

pub static STEREO_SRC: NodeDescriptor = NodeDescriptor {
    kind: "stereo_src",
    category: "test",
    summary: "Seeded stereo noise.",
    inputs: &[],
    outputs: &[PortSpec::audio("out", "noise").channels(2)],
    params: &[ParamSpec::new("seed", 0.0, 1_000_000.0, 1.0).smoothing(0.0)],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        let seed = ctx.param(0) as u32;
        Box::new(NoiseSource {
            channels: vec![Noise::new(seed, 0), Noise::new(seed, 1)],
            scale: 1.0,
        })
    },
};

struct NoiseSource {
    channels: Vec<Noise>,
    scale: f32,
}

impl Processor for NoiseSource {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for (ch, noise) in self.channels.iter_mut().enumerate() {
            for sample in io.output(0, ch) {
                *sample = noise.next_sample() * self.scale;
            }
        }
    }
}

pub static DC: NodeDescriptor = NodeDescriptor {
    kind: "dc",
    category: "test",
    summary: "A constant: the value parameter.",
    inputs: &[],
    outputs: &[PortSpec::control("out", "the value")],
    params: &[ParamSpec::new("value", -2.0, 2.0, 1.0).smoothing(0.01)],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| Box::new(Constant(ctx.param(0))),
};

/// Holds its output, as the library's `constant` does: every patch the
/// reference interpreters check proves the runtime's `ProcessIo::hold`
/// (buffers reused by later steps, glides, driven values, swaps).
struct Constant(f32);

impl Processor for Constant {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        io.output(0, 0).fill(self.0);
        io.rest(Rest::Hold);
    }
    fn set_param(&mut self, _: usize, value: f32) {
        self.0 = value;
    }
}

pub static GAIN: NodeDescriptor = NodeDescriptor {
    kind: "gain",
    category: "test",
    summary: "Multiplies by the gain parameter.",
    inputs: &[PortSpec::audio("in", "signal").follows()],
    outputs: &[PortSpec::audio("out", "in * gain").follows()],
    params: &[ParamSpec::new("gain", -2.0, 2.0, 1.0)],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: true,
    build: |ctx| Box::new(Gain(ctx.param(0))),
};

struct Gain(f32);

impl Processor for Gain {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let x = io.input(0, ch);
            for (y, x) in io.output(0, ch).iter_mut().zip(x) {
                *y = x * self.0;
            }
        }
        // Rests at any gain but 0 (whose silence would drop the sign of
        // `-x * 0`), so that random patches fold where a `dc` feeds it.
        if self.0 != 0.0 {
            io.rest(Rest::Scale(self.0));
        }
    }
    fn set_param(&mut self, _: usize, value: f32) {
        self.0 = value;
    }
}

pub static ADD2: NodeDescriptor = NodeDescriptor {
    kind: "add2",
    category: "test",
    summary: "a + 0.5 * b.",
    inputs: &[
        PortSpec::audio("a", "full weight").follows(),
        PortSpec::audio("b", "half weight").follows(),
    ],
    outputs: &[PortSpec::audio("out", "a + 0.5 b").follows()],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Add2),
};

struct Add2;

impl Processor for Add2 {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let (a, b) = (io.input(0, ch), io.input(1, ch));
            for ((y, a), b) in io.output(0, ch).iter_mut().zip(a).zip(b) {
                *y = a + 0.5 * b;
            }
        }
    }
}

pub static MONO_IN: NodeDescriptor = NodeDescriptor {
    kind: "mono_in",
    category: "test",
    summary: "Negates a mono signal.",
    inputs: &[PortSpec::audio("in", "mono only")],
    outputs: &[PortSpec::audio("out", "-in")],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Negate),
};

struct Negate;

impl Processor for Negate {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let x = io.input(0, 0);
        for (y, x) in io.output(0, 0).iter_mut().zip(x) {
            *y = -x;
        }
    }
}

pub static FORK: NodeDescriptor = NodeDescriptor {
    kind: "fork",
    category: "test",
    summary: "The input and its negation.",
    inputs: &[PortSpec::audio("in", "signal").follows()],
    outputs: &[
        PortSpec::audio("pos", "in").follows(),
        PortSpec::audio("neg", "-in").follows(),
    ],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Fork),
};

struct Fork;

impl Processor for Fork {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for ch in 0..io.output_channels(0) {
            let x = io.input(0, ch);
            let [pos, neg] = io.outputs([(0, ch), (1, ch)]);
            for k in 0..x.len() {
                pos[k] = x[k];
                neg[k] = -x[k];
            }
        }
    }
}

/// `lat`'s latency: its `samples` parameter.
pub fn lat_latency(ctx: &NodeContext) -> usize {
    ctx.param(0) as usize
}

pub static LAT: NodeDescriptor = NodeDescriptor {
    kind: "lat",
    category: "test",
    summary: "Delays by `samples` and declares that as latency.",
    inputs: &[PortSpec::audio("in", "signal").follows()],
    outputs: &[PortSpec::audio("out", "in, late").follows()],
    params: &[ParamSpec::new("samples", 0.0, 1000.0, 0.0).smoothing(0.0)],
    settings: &[],
    channels_param: None,
    latency: lat_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Delay::new(ctx.channels, lat_latency(ctx))),
};

pub static Z1: NodeDescriptor = NodeDescriptor {
    kind: "z1",
    category: "test",
    summary: "Delays by `samples` (at least one block); may sit in a feedback loop.",
    inputs: &[PortSpec::audio("in", "signal").follows()],
    outputs: &[PortSpec::audio("out", "in, late").follows()],
    params: &[ParamSpec::new("samples", 0.0, 4096.0, 64.0).smoothing(0.0)],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: true,
    may_rest: false,
    // Inside a loop its input arrives one block late, which it subtracts.
    build: |ctx| {
        Box::new(Delay::new(
            ctx.channels,
            (ctx.param(0) as usize).saturating_sub(ctx.feedback_delay),
        ))
    },
};

/// A plain delay line per channel.
struct Delay {
    lines: Vec<Vec<f32>>,
    pos: usize,
}

impl Delay {
    fn new(channels: usize, samples: usize) -> Self {
        Delay {
            lines: vec![vec![0.0; samples]; channels],
            pos: 0,
        }
    }
}

impl Processor for Delay {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        for (ch, line) in self.lines.iter_mut().enumerate() {
            let x = io.input(0, ch);
            let y = io.output(0, ch);
            if line.is_empty() {
                y.copy_from_slice(x);
                continue;
            }
            let mut pos = self.pos;
            for k in 0..frames {
                y[k] = line[pos];
                line[pos] = x[k];
                pos = if pos + 1 == line.len() { 0 } else { pos + 1 };
            }
        }
        if let Some(len) = self.lines.first().map(Vec::len).filter(|&len| len > 0) {
            self.pos = (self.pos + frames) % len;
        }
    }
}
