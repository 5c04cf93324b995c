//! Helpers shared by the workspace-level tests in `tests/`: paths into the
//! repository, rendering a patch to memory, reading WAV files back, the
//! sound measurements of `patchbay_nodes::analysis`, and private JACK
//! servers. The crates' own tests use them too.

use std::path::{Path, PathBuf};

use patchbay_core::{CompileOptions, Patch, Schedule, compile, load_patch};

pub mod jack;
pub use patchbay_nodes::analysis::*;

/// A path relative to the repository root.
pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Load a patch file from the repository with the built-in registry.
pub fn load(relative: &str) -> Patch {
    load_patch(&repo(relative), patchbay_nodes::registry()).unwrap_or_else(|e| panic!("{e}"))
}

/// Render `patch` in memory: (left, right) for `seconds` at `sample_rate`.
pub fn render(patch: &Patch, seconds: f64, sample_rate: u32) -> (Vec<f32>, Vec<f32>) {
    let opts = CompileOptions {
        sample_rate: sample_rate as f32,
        block: patchbay_core::DEFAULT_BLOCK,
    };
    let plan = compile(patch, patchbay_nodes::registry(), &opts).unwrap_or_else(|e| panic!("{e}"));
    let mut schedule = Schedule::new(&plan);
    let frames = (seconds * sample_rate as f64) as usize;
    let (mut left, mut right) = (Vec::with_capacity(frames), Vec::with_capacity(frames));
    while left.len() < frames {
        schedule.process();
        let [l, r] = schedule.master();
        left.extend_from_slice(l);
        right.extend_from_slice(r);
    }
    left.truncate(frames);
    right.truncate(frames);
    (left, right)
}

/// Read a stereo WAV file written by patchbay as floats: (left, right, rate)
/// (a mono file: the same channel twice).
pub fn read_wav(path: &Path) -> (Vec<f32>, Vec<f32>, u32) {
    let (channels, rate) = read_channels(path);
    let right = channels.get(1).unwrap_or(&channels[0]).clone();
    (channels[0].clone(), right, rate)
}

/// A WAV file as floats per channel, and its rate.
pub fn read_channels(path: &Path) -> (Vec<Vec<f32>>, u32) {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let scale = (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.unwrap() as f32 / scale)
                .collect()
        }
    };
    let n = spec.channels as usize;
    let channels = (0..n)
        .map(|c| samples.iter().skip(c).step_by(n).copied().collect())
        .collect();
    (channels, spec.sample_rate)
}

/// A fresh path `name` in this test binary's scratch folder, under the
/// target directory's `tmp` (where cargo keeps integration tests' scratch
/// files): test runs leave nothing in the system's temporary folder, and
/// each run of a binary reuses its folder.
pub fn scratch(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // <target>/<profile>/deps/<binary>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test binaries live in <target>/<profile>/deps");
    let binary = exe.file_stem().unwrap_or_default().to_string_lossy();
    let dir = target.join("tmp").join(format!("scratch-{binary}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir.join(name)
}

/// Write a mono 16-bit WAV of `seconds` of a half-scale sine at `freq` to
/// the scratch file `name`; returns its path.
pub fn sine_wav(name: &str, rate: u32, freq: f64, seconds: f64) -> PathBuf {
    let path = scratch(name);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for i in 0..(seconds * rate as f64).round() as usize {
        let x = 0.5 * (std::f64::consts::TAU * freq * i as f64 / rate as f64).sin();
        w.write_sample((x * 32767.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
    path
}
