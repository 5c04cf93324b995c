//! Input nodes through the binary, offline: `render --input FILE` feeds a
//! recording to a patch's input nodes, deterministically.

mod common;

use std::path::Path;

use common::{TempDir, patchbay, read_channels, repo, text};
use patchbay_nodes::analysis::{peak_frequency, rms, to_db};

/// `patchbay render PATCH --input RECORDING --seconds SECONDS -o OUT`.
fn render_with_input(patch: &Path, recording: &Path, seconds: &str, out: &Path) -> std::process::Output {
    let path = |p: &Path| p.to_str().unwrap().to_string();
    patchbay(&[
        "render",
        &path(patch),
        "--input",
        &path(recording),
        "--seconds",
        seconds,
        "-o",
        &path(out),
    ])
}

/// A 16-bit WAV of `channels` identical half-scale sines at `freq`.
fn sine_file(path: &Path, rate: u32, channels: u16, freq: f64, seconds: f64) {
    sines_file(path, rate, &vec![freq; channels as usize], seconds);
}

/// A 16-bit WAV whose channel `c` is a half-scale sine at `freqs[c]`.
fn sines_file(path: &Path, rate: u32, freqs: &[f64], seconds: f64) {
    let channels = freqs.len() as u16;
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * rate as f64).round() as usize {
        for freq in freqs {
            let x = 0.5 * (std::f64::consts::TAU * freq * i as f64 / rate as f64).sin();
            w.write_sample((x * 32767.0).round() as i16).unwrap();
        }
    }
    w.finalize().unwrap();
}

#[test]
fn a_recording_rendered_through_a_gain_comes_out_6_db_down_at_its_pitch() {
    let dir = TempDir::new("input-gain");
    // 44.1 kHz mono into a 2-channel input at 48 kHz: converted and spread.
    let recording = dir.join("sine.wav");
    sine_file(&recording, 44_100, 1, 441.0, 1.0);
    let out = dir.join("out.wav");
    let render = |out: &Path| render_with_input(&repo("patches/input-gain.json"), &recording, "1.5", out);
    let result = render(&out);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let (channels, _) = read_channels(&out);
    let [left, right] = [&channels[0], &channels[1]];
    assert_eq!(left.len(), 72_000);
    let body = &left[4_800..43_200];
    let expected = to_db(0.5 / 2f32.sqrt()) - 6.0;
    let level = to_db(rms(body));
    assert!(
        (level - expected).abs() < 0.05,
        "level {level} dB, expected {expected}"
    );
    let pitch = peak_frequency(body, 48_000.0);
    assert!((pitch - 441.0).abs() < 0.5, "pitch {pitch} Hz");
    assert_eq!(left, right, "a mono recording spreads to both channels");
    // After the recording's end: silence.
    assert!(left[49_000..].iter().all(|&x| x == 0.0));
    // The same every time.
    let again = dir.join("again.wav");
    assert!(render(&again).status.success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn a_script_renders_its_input_node_from_the_recording_as_the_patch_file_does() {
    let dir = TempDir::new("input-script");
    let recording = dir.join("sine.wav");
    sine_file(&recording, 44_100, 1, 441.0, 1.0);
    let script = dir.join("trim.rhai");
    std::fs::write(&script, "input(#{channels: 2}) >> gain(-6) >> out();\n").unwrap();
    let (from_script, from_patch) = (dir.join("script.wav"), dir.join("patch.wav"));
    for (source, out) in [
        (script.as_path(), &from_script),
        (&repo("patches/input-gain.json"), &from_patch),
    ] {
        let result = render_with_input(source, &recording, "1.2", out);
        assert!(result.status.success(), "{}", text(&result.stderr));
    }
    let (script_channels, _) = read_channels(&from_script);
    assert!(rms(&script_channels[0]) > 0.1, "the script heard its input");
    assert_eq!(script_channels, read_channels(&from_patch).0);
}

#[test]
fn an_input_node_without_a_recording_or_with_a_bad_one_is_refused_by_name() {
    let dir = TempDir::new("input-errors");
    let out = dir.join("out.wav");
    let out = out.to_str().unwrap();

    let missing = patchbay(&["render", "patches/input-gain.json", "-o", out]);
    assert!(!missing.status.success());
    let err = text(&missing.stderr);
    assert!(err.contains("node `in`") && err.contains("--input FILE"), "{err}");
    assert!(!Path::new(out).exists(), "nothing rendered");

    let unreadable = patchbay(&[
        "render",
        "patches/input-gain.json",
        "--input",
        "no-such-take.wav",
        "-o",
        out,
    ]);
    assert!(!unreadable.status.success());
    let err = text(&unreadable.stderr);
    assert!(
        err.contains("node `in`") && err.contains("no-such-take.wav"),
        "{err}"
    );

    // Channels 3 and 4 of a three-channel recording: there is no 4.
    let three = dir.join("three.wav");
    sine_file(&three, 48_000, 3, 441.0, 0.1);
    let from_third = input_gain_from(dir.path(), 3);
    let wide = patchbay(&[
        "render",
        from_third.to_str().unwrap(),
        "--input",
        three.to_str().unwrap(),
        "-o",
        out,
    ]);
    assert!(!wide.status.success());
    let err = text(&wide.stderr);
    assert!(
        err.contains("three.wav has 3 channels and the input node takes channels 3 to 4"),
        "{err}"
    );
}

/// `patches/input-gain.json` with its input from channel `first` on,
/// written into `dir`.
fn input_gain_from(dir: &Path, first: u32) -> std::path::PathBuf {
    let patch = std::fs::read_to_string(repo("patches/input-gain.json"))
        .unwrap()
        .replace(r#""channels": 2"#, &format!(r#""channels": 2, "first": {first}"#));
    let path = dir.join(format!("from-{first}.json"));
    std::fs::write(&path, patch).unwrap();
    path
}

#[test]
fn an_input_node_takes_a_recordings_channels_from_its_first_on() {
    let dir = TempDir::new("input-first");
    let recording = dir.join("three.wav");
    sines_file(&recording, 48_000, &[300.0, 500.0, 700.0], 1.0);
    let out = dir.join("out.wav");
    let result = render_with_input(&input_gain_from(dir.path(), 2), &recording, "1", &out);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let (channels, _) = read_channels(&out);
    for (channel, expected) in channels.iter().zip([500.0, 700.0]) {
        let pitch = peak_frequency(&channel[4_800..43_200], 48_000.0);
        assert!(
            (pitch - expected).abs() < 1.0,
            "pitch {pitch} Hz, expected {expected}"
        );
    }
}
