//! Golden audio features: every patch in `patches/golden/` renders, and its
//! level, peak, strongest frequency and spectral centroid match the stored
//! expectations in `<name>.expect.json` (features, not bytes, so a harmless
//! floating-point change does not break them).
//!
//! After an intended change of sound, rewrite the expectations with
//! `PATCHBAY_BLESS=1 cargo test --test golden` and review the diff.
//!
//! A patch whose melody is drawn at random (noise through a quantizer)
//! states what any draw must satisfy instead of one draw's pitch: an
//! expectation with `"pitch_in_scale": { "root": 9, "degrees": [0, 3, 5, 7, 10] }`
//! passes when the strongest frequency is within [`IN_TUNE_CENTS`] of a
//! note of that scale, in any octave (blessing keeps the rule).

use std::path::Path;

use patchbay_tests::*;
use serde_json::{Value, json};

const SECONDS: f64 = 4.0;
const RATE: u32 = 48_000;
/// How far (in cents) a `pitch_in_scale` pitch may lie from its note: the
/// notes glide between steps, which pulls the spectral peak a little.
const IN_TUNE_CENTS: f64 = 10.0;

/// Measured features of one channel.
fn features(x: &[f32]) -> Value {
    let spectrum = magnitude_spectrum(&x[..x.len().next_power_of_two() / 2]);
    let bin_hz = RATE as f64 / (2 * (spectrum.len() - 1)) as f64;
    let (weighted, total) = spectrum.iter().enumerate().fold((0.0, 0.0), |(w, t), (i, &m)| {
        let power = (m as f64) * (m as f64);
        (w + power * i as f64 * bin_hz, t + power)
    });
    json!({
        "rms_db": to_db(rms(x)),
        "peak_db": to_db(peak(x)),
        "pitch_hz": peak_frequency(x, RATE as f32),
        "centroid_hz": if total > 0.0 { weighted / total } else { 0.0 },
    })
}

/// Why `hz` is not a note of `scale` (`{ "root": semitones above C,
/// "degrees": [semitones above the root] }`), if it is not.
fn out_of_scale(hz: f64, scale: &Value) -> Option<String> {
    let root = scale["root"].as_f64().unwrap_or(f64::NAN);
    let degrees: Vec<f64> = scale["degrees"]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    // Semitones above the root, as a MIDI note number is above C.
    let pitch = 69.0 + 12.0 * (hz / 440.0).log2() - root;
    let nearest = pitch.round();
    let cents = 100.0 * (pitch - nearest);
    let degree = nearest.rem_euclid(12.0);
    // Written so that a NaN pitch or root also fails.
    let in_tune = cents.abs() <= IN_TUNE_CENTS;
    if in_tune && degrees.contains(&degree) {
        return None;
    }
    Some(format!(
        "{hz:.3} Hz is {cents:+.1} cents from degree {degree} above the root, not within \
         {IN_TUNE_CENTS} cents of a note of the scale {scale}"
    ))
}

/// Whether `measured` is within tolerance of `expected` for each feature.
fn mismatches(expected: &Value, measured: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let scale = expected.get("pitch_in_scale");
    for channel in ["left", "right"] {
        if let Some(scale) = scale {
            let hz = measured[channel]["pitch_hz"].as_f64().unwrap_or(f64::NAN);
            if let Some(why) = out_of_scale(hz, scale) {
                out.push(format!("{channel}.pitch_hz: {why}"));
            }
        }
        for (feature, tolerance, relative) in [
            ("rms_db", 0.5, false),
            ("peak_db", 0.5, false),
            ("pitch_hz", 0.005, true),
            ("centroid_hz", 0.03, true),
        ] {
            if feature == "pitch_hz" && scale.is_some() {
                continue;
            }
            let e = expected[channel][feature].as_f64().unwrap_or(f64::NAN);
            let m = measured[channel][feature].as_f64().unwrap_or(f64::NAN);
            let bound = if relative {
                tolerance * e.abs().max(1.0)
            } else {
                tolerance
            };
            // Written so that a missing (NaN) value also counts as a mismatch.
            let within = (e - m).abs() <= bound;
            if !within {
                out.push(format!("{channel}.{feature}: expected {e:.3}, measured {m:.3}"));
            }
        }
    }
    out
}

#[test]
fn golden_patches_sound_as_recorded() {
    let bless = std::env::var_os("PATCHBAY_BLESS").is_some();
    let dir = repo("patches/golden");
    let mut patches: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().ends_with(".expect.json")
        })
        .collect();
    patches.sort();
    assert!(!patches.is_empty(), "no golden patches in {}", dir.display());
    let mut failures = Vec::new();
    for path in &patches {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let patch = load(&format!("patches/golden/{name}.json"));
        let (left, right) = render(&patch, SECONDS, RATE);
        assert!(
            left.iter().chain(&right).all(|x| x.is_finite()),
            "{name}: non-finite output"
        );
        assert!(rms(&left) + rms(&right) > 1e-4, "{name}: silent");
        let mut measured = json!({ "left": features(&left), "right": features(&right) });
        let expect_path = dir.join(format!("{name}.expect.json"));
        let expected = read_json(&expect_path);
        if bless {
            if let Some(scale) = expected.as_ref().and_then(|e| e.get("pitch_in_scale")) {
                measured["pitch_in_scale"] = scale.clone();
            }
            let text = serde_json::to_string_pretty(&measured).unwrap() + "\n";
            std::fs::write(&expect_path, text).unwrap();
            continue;
        }
        match expected {
            None => failures.push(format!(
                "{name}: no {} (measured {measured}); run with PATCHBAY_BLESS=1 to record it",
                expect_path.display()
            )),
            Some(expected) => {
                for m in mismatches(&expected, &measured) {
                    failures.push(format!("{name}: {m}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden features differ:\n{}",
        failures.join("\n")
    );
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

#[test]
fn the_scale_rule_takes_any_octave_of_a_scale_note_and_nothing_else() {
    let a_minor_pentatonic = json!({ "root": 9, "degrees": [0, 3, 5, 7, 10] });
    // A3, E4 and C2 are notes of A minor pentatonic; B3 and A#3 are not, and
    // A3 a quarter tone sharp is out of tune.
    for hz in [220.0, 329.63, 65.41] {
        assert_eq!(out_of_scale(hz, &a_minor_pentatonic), None, "{hz} Hz");
    }
    for hz in [246.94, 233.08, 226.45, f64::NAN] {
        assert!(out_of_scale(hz, &a_minor_pentatonic).is_some(), "{hz} Hz");
    }
}
