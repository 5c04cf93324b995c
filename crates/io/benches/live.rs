//! Live engine benchmarks:
//! - swap latency: from `LiveEngine::apply` of a structurally edited
//!   200-node patch to the end of the first block that plays it (diff,
//!   compile of the new and the crossfade patch, schedule build, swap),
//!   measured offline; target: median under 2 ms;
//! - callback load of the voices workload (32 clocked saw -> lowpass voices
//!   with adsr-driven amplitude) at 64-frame blocks, as a fraction of the
//!   real-time budget, through the same device callback a stream runs.
//!
//! Run with `cargo bench -p patchbay-io --bench live`. Both also print a
//! one-line summary (median swap latency, load) before criterion's output.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use patchbay_core::{CompileOptions, LiveEngine, Node, Patch, Runtime};
use patchbay_io::{Driver, Meters, SharedRuntime};

const RATE: f64 = 48_000.0;

/// 40 voices of five nodes (sine -> lowpass -> gain -> pan -> mix bus),
/// 200 nodes plus the output; `variant` reroutes the first voice through
/// an extra gain, a structural edit of one signal path.
fn patch_200(variant: bool) -> Patch {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("out", "output"));
    for v in 0..40 {
        let id = |n: &str| format!("v{v}_{n}");
        patch.nodes.push(
            Node::new(id("osc"), "sine")
                .with("freq", 110.0 + 10.0 * v as f64)
                .with("amp", 0.02),
        );
        patch.nodes.push(Node::new(id("lp"), "lowpass"));
        patch.nodes.push(Node::new(id("vol"), "gain"));
        patch.nodes.push(Node::new(id("pan"), "pan"));
        patch.nodes.push(Node::new(id("bus"), "gain"));
        patch.connect(&format!("{}.out", id("osc")), &format!("{}.in", id("lp")));
        patch.connect(&format!("{}.out", id("lp")), &format!("{}.in", id("vol")));
        patch.connect(&format!("{}.out", id("vol")), &format!("{}.in", id("pan")));
        patch.connect(&format!("{}.out", id("pan")), &format!("{}.in", id("bus")));
        patch.connect(&format!("{}.out", id("bus")), "out.in");
    }
    if variant {
        patch.nodes.push(Node::new("extra", "gain"));
        patch.edges.retain(|e| e.from.node != "v0_lp");
        patch.connect("v0_lp.out", "extra.in");
        patch.connect("extra.out", "v0_vol.in");
    }
    patch
}

fn start(patch: Patch) -> (LiveEngine, Runtime) {
    LiveEngine::start(patch, patchbay_nodes::registry(), CompileOptions::default()).unwrap()
}

/// One swap: apply the edit and run the first block that plays it.
fn swap(live: &mut LiveEngine, runtime: &mut Runtime, variant: bool) -> Duration {
    let edit = patch_200(variant);
    let started = Instant::now();
    live.apply(edit).unwrap();
    runtime.process_block();
    let took = started.elapsed();
    // Finish the crossfade and drop the old schedules, outside the timing.
    for _ in 0..16 {
        runtime.process_block();
    }
    live.collect_garbage();
    took
}

fn bench_swap(c: &mut Criterion) {
    let (mut live, mut runtime) = start(patch_200(false));
    let mut variant = false;
    let mut samples: Vec<Duration> = (0..101)
        .map(|_| {
            variant = !variant;
            swap(&mut live, &mut runtime, variant)
        })
        .collect();
    samples.sort();
    eprintln!(
        "swap latency, 200-node patch: median {:.3} ms (min {:.3}, max {:.3})",
        samples[50].as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[100].as_secs_f64() * 1e3
    );
    let mut group = c.benchmark_group("live");
    group.sample_size(30);
    group.bench_function("swap latency, 200-node patch", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    variant = !variant;
                    swap(&mut live, &mut runtime, variant)
                })
                .sum()
        })
    });
    group.finish();
}

/// 32 voices: a shared clock gates 32 envelopes, each driving the level of
/// a saw through a lowpass.
fn voices() -> Patch {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("out", "output"));
    patch.nodes.push(
        Node::new("clock", "clock")
            .with("bpm", 120.0)
            .with("division", 4.0),
    );
    for v in 0..32 {
        let id = |n: &str| format!("v{v}_{n}");
        patch
            .nodes
            .push(Node::new(id("saw"), "saw").with("freq", 55.0 * (1.0 + v as f64 / 8.0)));
        patch
            .nodes
            .push(Node::new(id("lp"), "lowpass").with("cutoff", 1200.0));
        patch.nodes.push(Node::new(id("env"), "adsr"));
        patch.connect("clock.out", &format!("{}.gate", id("env")));
        patch.connect(&format!("{}.out", id("env")), &format!("{}.amp", id("saw")));
        patch.connect(&format!("{}.out", id("saw")), &format!("{}.in", id("lp")));
        patch.connect(&format!("{}.out", id("lp")), "out.in");
    }
    patch
}

fn bench_voices(c: &mut Criterion) {
    let (_live, runtime) = start(voices());
    let meters = Arc::new(Meters::default());
    let driver = Driver::new(Arc::new(SharedRuntime::new(runtime)), meters.clone());
    let mut callback = driver.callback(2, RATE as u32);
    let mut buffer = vec![0.0f32; 2 * 64];
    // Warm up, then measure the load the callback itself reports.
    for _ in 0..1000 {
        callback.fill_f32(&mut buffer);
    }
    let before = meters.totals();
    for _ in 0..20_000 {
        callback.fill_f32(&mut buffer);
    }
    let after = meters.totals();
    eprintln!(
        "voices workload (32 saw -> lowpass, adsr amp), 64-frame callbacks: load {:.2}% of real time",
        100.0 * (after.busy_ns - before.busy_ns) as f64 / (after.budget_ns - before.budget_ns) as f64
    );
    let mut group = c.benchmark_group("live");
    // Real-time load = time per callback / (64 / 48000 s = 1.333 ms).
    group.bench_function("voices, one 64-frame callback", |b| {
        b.iter(|| {
            callback.fill_f32(&mut buffer);
            black_box(buffer[0]);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_swap, bench_voices);
criterion_main!(benches);
