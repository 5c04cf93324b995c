//! End to end: patch files in `patches/` render to WAV through the same
//! runtime a device uses, and sound as they should.

use std::path::Path;

use patchbay_io::{RenderOptions, SampleFormat, render_to_wav};
use patchbay_tests::*;

fn render_file(relative: &str, seconds: f64, format: SampleFormat, out: &std::path::Path) {
    let options = RenderOptions {
        seconds,
        format,
        ..RenderOptions::default()
    };
    render_to_wav(
        &load(relative),
        patchbay_nodes::registry(),
        &options,
        out,
        &mut |_, _| {},
    )
    .unwrap();
}

#[test]
fn the_demo_renders_loud_clean_and_within_full_scale() {
    let (left, right) = render(&load("patches/demo.json"), 20.0, 48_000);
    for side in [&left, &right] {
        assert!(side.iter().all(|x| x.is_finite()), "non-finite sample");
        assert!(peak(side) <= 1.0, "peak {} exceeds 0 dBFS", peak(side));
        assert!(to_db(rms(side)) > -30.0, "too quiet: {} dB RMS", to_db(rms(side)));
    }
    // Music, not a tone: a rhythm (the level of 50 ms windows swings) and a
    // harmony that moves (the bass alternates A2 and F2 every two bars).
    let levels: Vec<f32> = left.chunks(2_400).map(|w| to_db(rms(w))).collect();
    let (loudest, softest) = levels
        .iter()
        .fold((f32::MIN, f32::MAX), |(hi, lo), &l| (hi.max(l), lo.min(l)));
    assert!(
        loudest - softest > 6.0,
        "no rhythm: 50 ms levels within {} dB",
        loudest - softest
    );
    let bass = |from: usize| {
        let window = &left[from * 48_000..(from + 4) * 48_000];
        let spectrum = magnitude_spectrum(window);
        let bin = |hz: f32| (hz * window.len() as f32 / 48_000.0) as usize;
        let (strongest, _) = (bin(70.0)..bin(130.0)).fold((0, 0.0f32), |best, k| {
            if spectrum[k] > best.1 {
                (k, spectrum[k])
            } else {
                best
            }
        });
        strongest as f32 * 48_000.0 / window.len() as f32
    };
    assert!(
        (bass(0) - 110.0).abs() < 1.0,
        "first chord's bass: {} Hz",
        bass(0)
    );
    assert!(
        (bass(4) - 87.31).abs() < 1.0,
        "second chord's bass: {} Hz",
        bass(4)
    );
}

#[test]
fn rendering_twice_gives_identical_files() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("determinism");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.wav"), dir.join("b.wav"));
    render_file("patches/demo.json", 5.0, SampleFormat::F32, &a);
    render_file("patches/demo.json", 5.0, SampleFormat::F32, &b);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sine_patch_renders_its_pitch_in_every_format() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("formats");
    std::fs::create_dir_all(&dir).unwrap();
    for format in [SampleFormat::F32, SampleFormat::I24, SampleFormat::I16] {
        let path = dir.join(format!("{format:?}.wav"));
        render_file("patches/sine.json", 2.0, format, &path);
        let (left, right, rate) = read_wav(&path);
        assert_eq!(rate, 48_000);
        assert_eq!(left.len(), 96_000);
        assert_eq!(left, right, "mono source reaches both sides");
        let f = peak_frequency(&left, rate as f32);
        assert!((f - 440.0).abs() < 0.5, "{format:?}: measured {f} Hz");
        assert!(
            (peak(&left) - 0.5).abs() < 1e-3,
            "{format:?}: peak {}",
            peak(&left)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
