//! Per node family: ns per sample at 64-frame blocks, next to the same DSP
//! in fundsp measured in the same run.
//!
//! Run with `cargo bench -p patchbay-nodes --bench families`. Each family
//! module below renders one node through the real schedule (so the figure
//! includes patchbay's per-node overhead) and fundsp's counterpart through
//! its block interface.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fundsp::prelude32::*;
use patchbay_core::{CompileOptions, Node, Patch, Schedule, compile};

const BLOCK: usize = 64;

/// A schedule of `source -> node -> output`, or just `source -> output`
/// when `kind` is None. `params` apply to the node under test.
fn schedule(source: &str, kind: Option<&str>, params: &[(&str, f64)]) -> Schedule {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("src", source));
    patch.nodes.push(Node::new("out", "output"));
    match kind {
        Some(kind) => {
            let node = params
                .iter()
                .fold(Node::new("dut", kind), |n, &(p, v)| n.with(p, v));
            patch.nodes.push(node);
            patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
        }
        None => {
            patch.connect("src.out", "out.in");
        }
    }
    let plan = compile(&patch, patchbay_nodes::registry(), &CompileOptions::default()).unwrap();
    Schedule::new(&plan)
}

/// Bench one patchbay schedule and one fundsp unit side by side.
fn pair(c: &mut Criterion, family: &str, mut ours: Schedule, mut theirs: Box<dyn AudioUnit>) {
    let mut group = c.benchmark_group(family);
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.bench_function("patchbay", |b| {
        b.iter(|| {
            ours.process();
            black_box(ours.master()[0][0]);
        })
    });
    theirs.set_sample_rate(48_000.0);
    let input = BufferArray::<U1>::new();
    let mut output = BufferArray::<U1>::new();
    let inputs = theirs.inputs();
    group.bench_function("fundsp", |b| {
        b.iter(|| {
            if inputs == 0 {
                theirs.process(BLOCK, &BufferRef::empty(), &mut output.buffer_mut());
            } else {
                theirs.process(BLOCK, &input.buffer_ref(), &mut output.buffer_mut());
            }
            black_box(output.buffer_ref().at_f32(0, 0));
        })
    });
    group.finish();
}

fn oscillators(c: &mut Criterion) {
    pair(c, "sine", schedule("sine", None, &[]), Box::new(sine_hz(440.0)));
    pair(c, "saw", schedule("saw", None, &[]), Box::new(saw_hz(440.0)));
}

fn filters(c: &mut Criterion) {
    pair(
        c,
        "lowpass",
        schedule("constant", Some("lowpass"), &[("cutoff", 1000.0)]),
        Box::new(lowpass_hz(1000.0, 0.707)),
    );
}

fn gains(c: &mut Criterion) {
    pair(
        c,
        "gain",
        schedule("constant", Some("gain"), &[("gain", -6.0)]),
        Box::new(mul(0.5)),
    );
}

criterion_group!(benches, oscillators, filters, gains);
criterion_main!(benches);
