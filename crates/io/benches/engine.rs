//! Engine benchmarks: compile time by patch size, per-node scheduling
//! overhead, and the demo patch's real-time factor.
//!
//! Run with `cargo bench -p patchbay-io --bench engine`.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use patchbay_core::{Command, CompileOptions, Node, Patch, Schedule, compile, load_patch};

/// A chain `sine -> gain -> gain -> ... -> output` of `n` unity gains.
fn gain_chain(n: usize) -> Patch {
    chain_of("gain", n)
}

/// A chain `sine -> kind -> kind -> ... -> output` of `n` nodes of `kind`.
fn chain_of(kind: &str, n: usize) -> Patch {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("src", "sine"));
    let mut prev = "src".to_string();
    for i in 0..n {
        let id = format!("g{i}");
        patch.nodes.push(Node::new(&id, kind));
        patch.connect(&format!("{prev}.out"), &format!("{id}.in"));
        prev = id;
    }
    patch.nodes.push(Node::new("out", "output"));
    patch.connect(&format!("{prev}.out"), "out.in");
    patch
}

fn bench_compile(c: &mut Criterion) {
    let registry = patchbay_nodes::registry();
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for n in [100, 1_000, 10_000] {
        let patch = gain_chain(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &patch, |b, patch| {
            b.iter(|| compile(black_box(patch), registry, &CompileOptions::default()).unwrap())
        });
    }
    group.finish();
}

fn bench_chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule");
    // One element per node per block: the reported time per element is the
    // cost of one node for one 64-frame block. Gains at rest are run by the
    // runtime (`Rest`); `abs` is called every block, so its figure is the
    // cost of a call.
    group.throughput(Throughput::Elements(1_001));
    for (kind, name) in [
        ("gain", "1000 unity gains, 64-frame block"),
        ("abs", "1000 abs (called), 64-frame block"),
    ] {
        let plan = compile(
            &chain_of(kind, 1_000),
            patchbay_nodes::registry(),
            &CompileOptions::default(),
        )
        .unwrap();
        let mut schedule = Schedule::new(&plan);
        group.bench_function(name, |b| {
            b.iter(|| {
                schedule.process();
                black_box(schedule.master()[0][0]);
            })
        });
    }
    // The worst case for folding's bookkeeping: beside a folded gain (a
    // constant's), a gain in the chain is set to its own value before
    // every block, so it wakes, is called and rests again, and every block
    // begins with a pass over the steps (`Schedule::refold`). Next to the
    // resting row above, the difference is mostly that pass.
    let mut patch = chain_of("gain", 1_000);
    patch.nodes.push(Node::new("held", "constant"));
    patch.nodes.push(Node::new("held_gain", "gain"));
    patch.connect("held.out", "held_gain.in");
    patch.connect("held_gain.out", "out.in");
    let plan = compile(&patch, patchbay_nodes::registry(), &CompileOptions::default()).unwrap();
    let poked = plan.node_index("g500").unwrap() as u32;
    let (mut engine, mut runtime) = patchbay_core::engine(Schedule::new(&plan));
    group.bench_function("1000 unity gains, one woken every block, one folded", |b| {
        b.iter(|| {
            engine
                .send(Command::SetParam {
                    node: poked,
                    param: 0,
                    value: 0.0,
                })
                .unwrap();
            runtime.process_block();
            black_box(runtime.schedule().master()[0][0]);
        })
    });
    group.finish();
}

fn bench_demo(c: &mut Criterion) {
    let registry = patchbay_nodes::registry();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../patches/demo.json");
    let patch = load_patch(&path, registry).unwrap();
    let opts = CompileOptions::default();
    let plan = compile(&patch, registry, &opts).unwrap();
    let mut schedule = Schedule::new(&plan);
    let mut group = c.benchmark_group("demo");
    // One element per block; real-time factor = (64 / 48000 s) / time per block.
    group.throughput(Throughput::Elements(1));
    group.bench_function("demo.json, one 64-frame block", |b| {
        b.iter(|| {
            schedule.process();
            black_box(schedule.master()[0][0]);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_compile, bench_chain, bench_demo);
criterion_main!(benches);
