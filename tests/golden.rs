//! Golden audio features: every patch in `patches/golden/` renders, and its
//! level, peak, strongest frequency and spectral centroid match the stored
//! expectations in `<name>.expect.json` (features, not bytes, so a harmless
//! floating-point change does not break them).
//!
//! After an intended change of sound, rewrite the expectations with
//! `PATCHBAY_BLESS=1 cargo test --test golden` and review the diff.

use std::path::Path;

use patchbay_tests::*;
use serde_json::{Value, json};

const SECONDS: f64 = 4.0;
const RATE: u32 = 48_000;

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

/// Whether `measured` is within tolerance of `expected` for each feature.
fn mismatches(expected: &Value, measured: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for channel in ["left", "right"] {
        for (feature, tolerance, relative) in [
            ("rms_db", 0.5, false),
            ("peak_db", 0.5, false),
            ("pitch_hz", 0.005, true),
            ("centroid_hz", 0.03, true),
        ] {
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
        let measured = json!({ "left": features(&left), "right": features(&right) });
        let expect_path = dir.join(format!("{name}.expect.json"));
        if bless {
            let text = serde_json::to_string_pretty(&measured).unwrap() + "\n";
            std::fs::write(&expect_path, text).unwrap();
            continue;
        }
        match read_json(&expect_path) {
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
