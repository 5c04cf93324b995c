//! What recording costs the audio thread: pushing a block of 32 channels
//! at 96 kHz into the recorder's ring (the disk side drains it outside the
//! timing), against the block's real-time budget. The printed ratio is the
//! issue's figure: it must stay under 1%.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use patchbay_nodes::record::{Destination, recording};

const CHANNELS: usize = 32;
const RATE: u32 = 96_000;
const BLOCK: usize = 64;

fn push_32_channels(c: &mut Criterion) {
    let (mut feed, mut job) = recording(CHANNELS, RATE, Destination::File("unused.wav".into()), 0);
    let signal: Vec<Vec<f32>> = (0..CHANNELS)
        .map(|ch| (0..BLOCK).map(|k| ((k * (ch + 1)) as f32 * 0.01).sin()).collect())
        .collect();
    let channels: Vec<&[f32]> = signal.iter().map(Vec::as_slice).collect();
    let mut per_block = Duration::ZERO;
    c.bench_function("record 32 ch 96 kHz block push", |b| {
        b.iter_custom(|blocks| {
            let mut timed = Duration::ZERO;
            for _ in 0..blocks {
                let started = Instant::now();
                feed.push(&channels, BLOCK);
                timed += started.elapsed();
                // The disk thread's part, not timed.
                if let Ok(chunk) = job.samples.read_chunk(job.samples.slots()) {
                    chunk.commit_all();
                }
            }
            per_block = timed / blocks.max(1) as u32;
            timed
        })
    });
    assert_eq!(feed.lost(), 0);
    let budget = Duration::from_secs_f64(BLOCK as f64 / RATE as f64);
    println!(
        "recording 32 channels at 96 kHz: {:.2?} of a {:.0?} block = {:.3}% of the audio thread's budget",
        per_block,
        budget,
        100.0 * per_block.as_secs_f64() / budget.as_secs_f64()
    );
}

criterion_group!(benches, push_32_channels);
criterion_main!(benches);
