//! Recording through the binary: takes written by `patchbay render` (the
//! take that survives a killed process is in `jack.rs`: it records at
//! real-time pace).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::recording_patch;
use patchbay_nodes::analysis::{peak_frequency, rms};

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-record-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The take as floats, checked to be a 441 Hz sine at the right level.
fn check_take(path: &Path) -> f64 {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 48_000, 16)
    );
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| s.expect("every sample the header counts is there") as f32 / 32_767.0)
        .collect();
    let seconds = samples.len() as f64 / 48_000.0;
    let second = &samples[..48_000.min(samples.len())];
    assert!((peak_frequency(second, 48_000.0) - 441.0).abs() < 2.0);
    assert!(
        (rms(second) - 0.5 / 2f32.sqrt()).abs() < 0.01,
        "rms {}",
        rms(second)
    );
    seconds
}

#[test]
fn render_writes_a_numbered_take_beside_the_patch() {
    let dir = temp_dir("render");
    let patch = recording_patch(&dir);
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
            .args(["render", patch.to_str().unwrap(), "--seconds", "1.5", "-o"])
            .arg(dir.join("mix.wav"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("vocal: wrote"), "{stderr}");
    }
    assert_eq!(check_take(&dir.join("takes/vocal-001.wav")), 1.5);
    assert_eq!(check_take(&dir.join("takes/vocal-002.wav")), 1.5);
    std::fs::remove_dir_all(dir).unwrap();
}
