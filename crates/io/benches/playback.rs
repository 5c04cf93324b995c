//! Streaming from disk: sixteen `player`s, each streaming its own 30 s
//! stereo 44.1 kHz WAV (converted to 48 kHz on the fly), rendered one second
//! at a time with every reader served between blocks on the same thread —
//! the offline host's way, and a harsher one than live, where the readers
//! have threads of their own. One second of audio per iteration: the time
//! per iteration, inverted, is the real-time ratio.
//!
//! The reference, measured in the same run, is the same sixteen files
//! preloaded (no disk, no decoding, no rate conversion while playing).

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use patchbay_core::{CompileOptions, Node, Patch, Schedule, compile, engine};
use patchbay_io::playback::FileReader;
use patchbay_nodes::playback::FileJob;

const PLAYERS: usize = 16;
const RATE: u32 = 48_000;

/// Sixteen stereo files of `seconds` at 44.1 kHz, written once.
fn files(seconds: f64) -> Vec<PathBuf> {
    let dir = std::env::temp_dir().join(format!("patchbay-bench-playback-{seconds}"));
    std::fs::create_dir_all(&dir).unwrap();
    (0..PLAYERS)
        .map(|i| {
            let path = dir.join(format!("track{i:02}.wav"));
            if !path.exists() {
                write_track(&path, 110.0 * (i + 1) as f64, seconds);
            }
            path
        })
        .collect()
}

fn write_track(path: &Path, freq: f64, seconds: f64) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * 44_100.0) as usize {
        let x = 0.05 * (std::f64::consts::TAU * freq * i as f64 / 44_100.0).sin();
        w.write_sample((x * 32767.0) as i16).unwrap();
        w.write_sample((-x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("playback");
    group.sample_size(10);
    for (name, seconds) in [
        ("16 streamed stereo files", 30.0),
        ("16 preloaded stereo files", 5.0),
    ] {
        let paths = files(seconds);
        let mut patch = Patch::default();
        patch.nodes.push(Node::new("out", "output"));
        for (i, path) in paths.iter().enumerate() {
            let id = format!("p{i}");
            patch.nodes.push(
                Node::new(&id, "player")
                    .with("looping", 1.0)
                    .with("gain", -12.0)
                    .with_setting("file", path.display().to_string()),
            );
            patch.connect(&format!("{id}.out"), "out.in");
        }
        let opts = CompileOptions {
            sample_rate: RATE as f32,
            block: 64,
        };
        let plan = compile(&patch, patchbay_nodes::registry(), &opts).unwrap();
        let mut schedule = Schedule::new(&plan);
        let mut readers: Vec<FileReader> = schedule
            .take_disk_jobs()
            .into_iter()
            .map(|(_, job)| {
                let job = job.downcast::<FileJob>().expect("a file job");
                FileReader::open(job, Path::new("/")).unwrap()
            })
            .collect();
        assert_eq!(
            readers.iter().filter(|r| r.is_streaming()).count(),
            if seconds > 20.0 { PLAYERS } else { 0 }
        );
        let (_engine, mut runtime) = engine(schedule);
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..RATE as usize / 64 {
                    for r in &mut readers {
                        r.service().unwrap();
                    }
                    runtime.process_block();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
