//! Decoding and rate conversion: every format plays with the expected pitch
//! and length, damaged files are refused with their name, seeking is exact,
//! and a 44.1 kHz sine converted to 48 kHz keeps its pitch within 0.1%.

use std::path::{Path, PathBuf};

use patchbay_io::{AudioReader, DecodeError, StreamResampler, decode, resample};
use patchbay_nodes::analysis::{peak_frequency, rms};

/// The committed test files (see tests/data/README.md): 0.5 s of a 440 Hz
/// sine at half scale, 44.1 kHz mono.
fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("decode");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A mono 16-bit WAV of `seconds` of a sine, written with hound.
fn sine_wav(path: &Path, rate: u32, freq: f64, seconds: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * rate as f64).round() as usize {
        let x = 0.5 * (std::f64::consts::TAU * freq * i as f64 / rate as f64).sin();
        w.write_sample((x * 32767.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn every_format_decodes_to_its_pitch_and_length() {
    let wav = scratch("tone.wav");
    sine_wav(&wav, 44_100, 440.0, 0.5);
    // Lossy codecs may pad by up to a frame (MP3: 1152) and shift the level
    // a little (64 kbit/s MP3: -0.4 dB).
    for (path, length_tolerance, level_tolerance) in [
        (wav, 0, 0.01),
        (data("tone.flac"), 0, 0.01),
        (data("tone.ogg"), 0, 0.02),
        (data("tone.mp3"), 1152, 0.03),
    ] {
        let audio = decode(&path).unwrap_or_else(|e| panic!("{e}"));
        let name = path.display();
        assert_eq!(audio.sample_rate, 44_100, "{name}");
        assert_eq!(audio.channels.len(), 1, "{name}");
        let frames = audio.frames() as i64;
        assert!(
            (frames - 22_050).abs() <= length_tolerance,
            "{name}: {frames} frames"
        );
        let x = &audio.channels[0][2048..2048 + 16_384];
        let f = peak_frequency(x, 44_100.0);
        assert!((f - 440.0).abs() < 0.44, "{name}: {f} Hz");
        let level = rms(x);
        assert!(
            (level - 0.5 / 2f32.sqrt()).abs() < level_tolerance,
            "{name}: rms {level}"
        );
    }
}

#[test]
fn garbage_is_refused_naming_the_file() {
    let path = scratch("noise.wav");
    let bytes: Vec<u8> = (0..4000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let err = decode(&path).unwrap_err();
    assert!(matches!(err, DecodeError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("noise.wav"), "{err}");

    let err = decode(&scratch("missing.flac")).unwrap_err();
    assert!(matches!(err, DecodeError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.flac"), "{err}");
}

#[test]
fn truncated_files_are_refused_naming_the_file() {
    let wav = scratch("whole.wav");
    sine_wav(&wav, 44_100, 440.0, 0.5);
    for (source, name) in [(wav, "cut.wav"), (data("tone.flac"), "cut.flac")] {
        let bytes = std::fs::read(&source).unwrap();
        let cut = scratch(name);
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = decode(&cut).unwrap_err();
        assert!(
            matches!(err, DecodeError::Truncated { expected: 22_050, found, .. } if found < 22_050),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn seeking_lands_on_the_exact_frame() {
    let wav = scratch("seek.wav");
    sine_wav(&wav, 44_100, 440.0, 0.5);
    for path in [wav, data("tone.flac")] {
        let whole = decode(&path).unwrap();
        let mut reader = AudioReader::open(&path).unwrap();
        for at in [12_345u64, 3, 20_000] {
            reader.seek(at).unwrap();
            let mut got = vec![Vec::new()];
            reader.read_into(&mut got, 500).unwrap();
            let at = at as usize;
            let want = &whole.channels[0][at..(at + 500).min(whole.frames())];
            assert_eq!(got[0], want, "{} at {at}", path.display());
        }
    }
}

#[test]
fn a_44k1_sine_converted_to_48k_keeps_its_pitch_and_length() {
    let path = scratch("khz.wav");
    sine_wav(&path, 44_100, 1000.0, 1.0);
    let audio = resample(&decode(&path).unwrap(), 48_000);
    assert_eq!(audio.sample_rate, 48_000);
    assert!((audio.frames() as i64 - 48_000).abs() <= 1, "{}", audio.frames());
    let f = peak_frequency(&audio.channels[0][4096..4096 + 32_768], 48_000.0);
    assert!((f - 1000.0).abs() < 1.0, "{f} Hz");
    // The resampler's delay is trimmed: the sine starts at frame 0, rising.
    let x = &audio.channels[0];
    assert!(x[0].abs() < 0.02 && x[3] > 0.0, "{:?}", &x[..4]);
}

#[test]
fn a_stream_fed_in_odd_pieces_converts_as_the_whole_clip() {
    let path = scratch("pieces.wav");
    sine_wav(&path, 44_100, 1000.0, 0.3);
    let audio = decode(&path).unwrap();
    let whole = resample(&audio, 48_000);
    let mut stream = StreamResampler::new(44_100, 48_000, 1);
    let mut out = vec![Vec::new()];
    let x = &audio.channels[0];
    let mut at = 0;
    for piece in [1usize, 7, 333, 1024, 4097].iter().cycle() {
        let end = (at + piece).min(x.len());
        stream.push(&[x[at..end].to_vec()], end == x.len(), &mut out);
        at = end;
        if at == x.len() {
            break;
        }
    }
    assert_eq!(out, whole.channels);
}
