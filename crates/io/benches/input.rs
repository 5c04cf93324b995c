//! The input callback's cost: one 256-frame buffer of a 32-channel, 32-bit
//! integer device (a large interface at 48 kHz) converted and fed to
//! sixteen stereo input nodes through the hub, as `LiveInput`'s callback
//! does. The nodes' rings are drained between buffers, as the engine would.
//!
//! The reference, measured in the same run, is the least any callback must
//! do with that buffer: convert it to f32 once. The budget of a buffer is
//! 5.3 ms of audio.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use patchbay_io::input::hub;
use patchbay_nodes::input::{InputJob, InputShared};

const CHANNELS: usize = 32;
const FRAMES: usize = 256;
const NODES: usize = 16;

fn bench(c: &mut Criterion) {
    let device = Vec::from_iter((0..CHANNELS * FRAMES).map(|i| (i as u32).wrapping_mul(0x9E37_79B9) as i32));
    let mut group = c.benchmark_group("input callback, 32 channels x 256 frames");

    let mut converted = vec![0.0f32; device.len()];
    group.bench_function("convert to f32 (reference)", |b| {
        b.iter(|| {
            for (to, &x) in converted.iter_mut().zip(&device) {
                *to = x as f32 / 2_147_483_648.0;
            }
            std::hint::black_box(&converted);
        })
    });

    let (mut control, mut hub) = hub();
    let mut rings = Vec::new();
    for n in 0..NODES {
        let (frames, ring) = rtrb::RingBuffer::new(FRAMES * 2 * 4);
        let job = InputJob {
            node: format!("in{n}"),
            channels: 2,
            sample_rate: 48_000,
            frames,
            shared: Arc::new(InputShared::default()),
        };
        control.add(Box::new(job)).unwrap();
        rings.push(ring);
    }
    group.bench_function("hub feeding 16 stereo input nodes", |b| {
        b.iter(|| {
            std::hint::black_box(hub.feed(&device, CHANNELS));
            for ring in &mut rings {
                let ready = ring.slots();
                ring.read_chunk(ready).unwrap().commit_all();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
