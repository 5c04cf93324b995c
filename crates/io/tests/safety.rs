//! Safety at the device boundary: whatever a patch does, what leaves for
//! the device or the file is finite and, unless the limiter is off, inside
//! -0.3 dBFS; and the live callback and the offline renderer produce the
//! same samples.

use patchbay_core::{
    CompileOptions, DEFAULT_CEILING_DB, LiveEngine, Node, NodeDescriptor, Patch, PortSpec, ProcessIo,
    Processor, Registry, no_latency,
};
use patchbay_io::{Driver, Meters, RenderOptions, SharedRuntime, render_to_wav};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A node that emits bursts of NaN and infinities between loud samples.
static BROKEN: NodeDescriptor = NodeDescriptor {
    kind: "broken",
    category: "test",
    summary: "NaN, inf and +12 dBFS.",
    inputs: &[],
    outputs: &[PortSpec::audio("out", "garbage")],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Broken(0)),
};

struct Broken(u64);

impl Processor for Broken {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for x in io.output(0, 0) {
            self.0 += 1;
            *x = match self.0 % 100 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => f32::NEG_INFINITY,
                n => 4.0 * (n as f32 * 0.3).sin(),
            };
        }
    }
}

fn registry() -> Registry {
    let mut registry = patchbay_nodes::registry().clone();
    registry.add(&BROKEN);
    registry
}

fn broken_patch() -> Patch {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("bad", "broken"));
    patch.nodes.push(Node::new("out", "output"));
    patch.connect("bad.out", "out.in");
    patch
}

/// A sine at +12 dBFS: full-scale sine through a +12 dB gain.
fn loud_patch() -> Patch {
    let mut patch = Patch::default();
    patch
        .nodes
        .push(Node::new("osc", "sine").with("freq", 440.0).with("amp", 1.0));
    patch.nodes.push(Node::new("boost", "gain").with("gain", 12.0));
    patch.nodes.push(Node::new("out", "output"));
    patch.connect("osc.out", "boost.in");
    patch.connect("boost.out", "out.in");
    patch
}

fn render(patch: &Patch, limit: bool) -> (Vec<f32>, u64) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("safety");
    std::fs::create_dir_all(&dir).unwrap();
    static RENDERS: AtomicUsize = AtomicUsize::new(0);
    let path = dir.join(format!("{}.wav", RENDERS.fetch_add(1, Ordering::Relaxed)));
    let options = RenderOptions {
        seconds: 1.0,
        ceiling_db: limit.then_some(DEFAULT_CEILING_DB),
        ..RenderOptions::default()
    };
    let summary = render_to_wav(patch, &registry(), &options, &path, &mut |_, _| {}).unwrap();
    let samples = hound::WavReader::open(&path)
        .unwrap()
        .samples::<f32>()
        .map(Result::unwrap)
        .collect();
    std::fs::remove_file(&path).unwrap();
    (samples, summary.non_finite)
}

fn ceiling() -> f32 {
    10f32.powf(DEFAULT_CEILING_DB / 20.0)
}

#[test]
fn nan_inf_and_overs_never_leave_and_the_limiter_can_be_switched_off() {
    for patch in [broken_patch(), loud_patch()] {
        let (limited, non_finite) = render(&patch, true);
        assert!(limited.iter().all(|x| x.is_finite()));
        let peak = limited.iter().fold(0.0f32, |p, x| p.max(x.abs()));
        assert!(peak <= ceiling(), "peak {peak} over the ceiling");
        assert!(
            peak > 0.9 * ceiling(),
            "the limiter did more than limit: peak {peak}"
        );

        let (raw, raw_non_finite) = render(&patch, false);
        assert!(raw.iter().all(|x| x.is_finite()), "--no-limit still silences NaN");
        let peak = raw.iter().fold(0.0f32, |p, x| p.max(x.abs()));
        assert!(peak > 3.0, "without the limiter +12 dBFS passes: {peak}");
        assert_eq!(non_finite, raw_non_finite);
    }
    // 3 of every 100 samples, on both channels.
    assert_eq!(render(&broken_patch(), true).1, 2 * 3 * 480);
}

#[test]
fn the_live_callback_plays_exactly_what_render_writes() {
    let (file, _) = render(&loud_patch(), true);
    let options = CompileOptions::default();
    let (_live, runtime) = LiveEngine::start(loud_patch(), &registry(), options).unwrap();
    let driver = Driver::new(Arc::new(SharedRuntime::new(runtime)), Arc::new(Meters::default()));
    let mut callback = driver.callback(2, 48_000);
    let mut live = Vec::new();
    // Device buffers of awkward sizes, as hardware gives them.
    for frames in [1, 37, 256, 1000, 441].iter().cycle() {
        if live.len() >= file.len() {
            break;
        }
        let mut buffer = vec![0.0f32; 2 * frames];
        callback.fill_f32(&mut buffer);
        live.extend_from_slice(&buffer);
    }
    live.truncate(file.len());
    assert!(live == file, "live and offline output differ");

    // And through an integer device format: the same, quantized.
    let mut callback = {
        let (_live, runtime) = LiveEngine::start(loud_patch(), &registry(), options).unwrap();
        Driver::new(Arc::new(SharedRuntime::new(runtime)), Arc::new(Meters::default())).callback(2, 48_000)
    };
    let mut ints = vec![0i16; 2 * 4800];
    callback.fill(&mut ints);
    for (i, f) in ints.iter().zip(&file) {
        assert!((*i as f32 / 32768.0 - f).abs() <= 1.0 / 32768.0, "{i} vs {f}");
    }
}
