//! Every example script in `scripts/` renders offline (its timers at their
//! sample times) and sounds as it says.

mod common;

use common::*;
use patchbay_nodes::analysis::{level_at, magnitude_spectrum};
use std::path::PathBuf;

use patchbay_script::{Event, OfflineSession, ScriptSource};

fn play(name: &str, seconds: f64) -> (OfflineSession, Vec<f32>, Vec<f32>) {
    let (s, l, r, _) = play_in_scratch(name, seconds);
    (s, l, r)
}

/// Play `scripts/{name}.rhai` from a scratch copy of the folder (returned
/// last), so what it records lands there and not in the repository.
fn play_in_scratch(name: &str, seconds: f64) -> (OfflineSession, Vec<f32>, Vec<f32>, PathBuf) {
    let dir = scratch_dir(name);
    for entry in std::fs::read_dir(repo().join("scripts")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let mut s = session(&ScriptSource::File(dir.join(format!("{name}.rhai"))));
    let (l, r) = s.render(seconds);
    assert!(s.errors().is_empty(), "{name}: {:?}", s.errors());
    for x in l.iter().chain(&r) {
        assert!(x.is_finite(), "{name}: non-finite sample");
    }
    assert!(rms(&l) > 0.01 && rms(&r) > 0.01, "{name} is (nearly) silent");
    (s, l, r, dir)
}

/// The strongest frequency between `lo` and `hi` Hz.
fn pitch_in(x: &[f32], lo: f32, hi: f32) -> f32 {
    let spectrum = magnitude_spectrum(x);
    let bin = RATE as f32 / x.len() as f32;
    let (k, _) = spectrum
        .iter()
        .enumerate()
        .filter(|(k, _)| (*k as f32 * bin) >= lo && (*k as f32 * bin) <= hi)
        .fold(
            (0, 0.0f32),
            |best, (k, &m)| if m > best.1 { (k, m) } else { best },
        );
    k as f32 * bin
}

/// Where the power between `lo` and `hi` Hz is centred: the middle of a
/// band of filtered noise, steadier than its strongest (random) bin.
fn band_centre(x: &[f32], lo: f32, hi: f32) -> f32 {
    let spectrum = magnitude_spectrum(x);
    let bin = RATE as f32 / x.len() as f32;
    let (weighted, total) = spectrum
        .iter()
        .enumerate()
        .map(|(k, &m)| (k as f32 * bin, m * m))
        .filter(|&(f, _)| f >= lo && f <= hi)
        .fold((0.0, 0.0), |(w, t), (f, p)| (w + f * p, t + p));
    weighted / total
}

fn level_db(x: &[f32], freq: f32) -> f32 {
    level_at(&magnitude_spectrum(x), freq, RATE as f32, x.len())
}

/// Brightness: the spectrum's centre of mass in Hz.
fn centroid(x: &[f32]) -> f32 {
    let s = magnitude_spectrum(x);
    let bin = RATE as f32 / x.len() as f32;
    let total: f32 = s.iter().sum();
    s.iter().enumerate().map(|(k, m)| k as f32 * bin * m).sum::<f32>() / total.max(1e-12)
}

fn midi(note: f32) -> f32 {
    440.0 * 2f32.powf((note - 69.0) / 12.0)
}

#[test]
fn sound_design_rings_at_its_filter_centres() {
    let (_, l, _) = play("sound_design", 6.0);
    // Band-passed noise: the strongest component in every second lies in
    // one of the three drifting bands (220, 330, 495 Hz ± 15 %).
    for second in 1..6 {
        let p = pitch(window(&l, second as f64, second as f64 + 1.0));
        let in_band = [220.0f32, 330.0, 495.0]
            .iter()
            .any(|c| p >= c * 0.83 && p <= c * 1.17);
        assert!(in_band, "second {second}: strongest at {p} Hz");
    }
    // The reverb makes a tail: the noise is continuous, so instead check
    // that the bands drift (the LFOs move them): the 220 Hz band's centre
    // is at about 234 Hz in the first window and 249 Hz in the second.
    let early = band_centre(window(&l, 0.5, 1.5), 190.0, 260.0);
    let later = band_centre(window(&l, 4.0, 5.0), 190.0, 260.0);
    assert!(
        later - early > 5.0,
        "the 220 Hz band did not move: {early} vs {later}"
    );
}

#[test]
fn mixer16_builds_sixteen_strips_and_brings_the_music_bus_in_on_its_timer() {
    let (mut s, l, r, dir) = play_in_scratch("mixer16", 3.5);
    let patch = s.host.patch();
    let strips = (1..=16)
        .filter(|ch| patch.node(&format!("ch{ch}")).is_some())
        .count();
    assert_eq!(strips, 16);
    for bus in ["drums", "music", "fx", "master"] {
        assert!(patch.node(bus).is_some(), "no {bus}");
    }
    // Every fader sends to the reverb.
    let sends = patch.edges.iter().filter(|e| e.to.node == "fx").count();
    assert_eq!(sends, 16);
    // The music bus (A2 = 110 Hz on channel 9) is muted until its timer
    // fires at 2 s and fades it in over 0.5 s.
    let a2 = midi(45.0);
    let before = level_db(window(&l, 1.0, 1.9), a2);
    let after = level_db(window(&l, 2.6, 3.5), a2);
    // (Before, only the post-fader reverb sends of the music channels reach
    // the master: sends do not pass the bus, as on any mixer.)
    assert!(
        after - before > 10.0,
        "music bus: {before:.1} dB before, {after:.1} dB after"
    );
    // The pans spread the channels: left and right differ.
    let diff: f32 = l.iter().zip(&r).map(|(a, b)| (a - b).abs()).sum::<f32>() / l.len() as f32;
    assert!(diff > 1e-3, "left and right are the same");
    // The timer's prints arrived, at their times.
    let prints: Vec<&String> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Print(p) => Some(p),
            _ => None,
        })
        .collect();
    assert!(
        prints
            .iter()
            .any(|p| p.starts_with("t=1.0 s:") && p.ends_with("music at -96.0 dB")),
        "{prints:?}"
    );
    assert!(
        prints
            .iter()
            .any(|p| p.starts_with("t=3.0 s:") && p.ends_with("music at 0.0 dB")),
        "{prints:?}"
    );
    // The recorder, armed from the start, rolled on the same timer and
    // stops at 6 s: its take holds the master from 2 s on, sample for
    // sample (the master is below the safety ceiling, which passes it
    // untouched).
    let (l2, r2) = s.render(3.0);
    let (l, r) = ([l, l2].concat(), [r, r2].concat());
    let folder = s.host.patch().node("mix").unwrap().settings["folder"].clone();
    assert_eq!(folder, "takes");
    let OfflineSession { runtime, disk, .. } = s;
    drop(runtime);
    disk.finish();
    let take = dir.join("takes/mix-001.wav");
    let mut reader = hound::WavReader::open(&take).unwrap_or_else(|e| panic!("{}: {e}", take.display()));
    assert_eq!(reader.spec().channels, 2);
    let samples: Vec<f32> = reader.samples::<f32>().map(Result::unwrap).collect();
    let (start, end) = (2 * RATE as usize, 6 * RATE as usize);
    assert_eq!(samples.len(), 2 * (end - start), "the take is 4 s long");
    for (k, frame) in samples.chunks(2).enumerate() {
        assert_eq!(frame, [l[start + k], r[start + k]], "frame {k} of the take");
    }
}

#[test]
fn producer_sequences_the_bass_on_the_beat_grid() {
    let (_, l, _) = play("producer", 4.2);
    // Eighth notes at 120 BPM: step k sounds from 0.25 k s. The bass line
    // is A1 A1 A2 A1 C2 A1 G2 G1; look below the pad (which starts at A3).
    let steps = [(0usize, 45.0f32), (2, 57.0), (4, 48.0), (6, 55.0), (7, 43.0)];
    for (step, note) in steps {
        let start = 0.25 * step as f64 + 0.03;
        let x = window(&l, start, start + 0.2);
        let f = pitch_in(x, 40.0, 210.0);
        let expected = midi(note);
        assert!(
            (f / expected - 1.0).abs() < 0.06,
            "step {step}: expected {expected:.1} Hz, heard {f:.1} Hz"
        );
    }
    // The envelope shapes each note: the start of a step is louder than
    // its end (decay to a 25 % sustain, then release).
    let lowpassed_rms = |from: f64| {
        let x = window(&l, from, from + 0.05);
        let s = magnitude_spectrum(x);
        let bin = RATE as f32 / x.len() as f32;
        s.iter()
            .enumerate()
            .filter(|(k, _)| (*k as f32 * bin) < 200.0)
            .map(|(_, m)| m * m)
            .sum::<f32>()
    };
    assert!(lowpassed_rms(0.01) > 2.0 * lowpassed_rms(0.17));
    // The pad swells in over the first bar and changes chord on bar 2
    // (Am -> F: F3 = 174.6 Hz appears).
    let f3 = midi(53.0);
    let rise = level_db(window(&l, 2.3, 3.3), f3) - level_db(window(&l, 0.8, 1.8), f3);
    assert!(rise > 12.0, "F3 rose by {rise:.1} dB");
}

#[test]
fn feedback_loop_through_a_delay_sounds_at_its_period() {
    let (_, l, _) = play("feedback", 5.5);
    // A 220 Hz string (the low-pass in the loop flattens it a little): its
    // lowest partial is at 220 Hz, and its strongest, whichever the noise
    // burst favoured, is a harmonic of that.
    let string_at = |from: f64, lowest_below: f32| {
        let x = window(&l, from, from + 0.4);
        let f0 = pitch_in(x, 50.0, lowest_below);
        let ratio = pitch(x) / f0;
        assert!(
            (ratio - ratio.round()).abs() < 0.03 * ratio.round(),
            "strongest partial {ratio} × the lowest"
        );
        f0
    };
    let f = string_at(0.05, 300.0);
    assert!((f / 220.0 - 1.0).abs() < 0.03, "string at {f} Hz");
    // It decays between plucks and each pluck brings it back.
    let early = rms(window(&l, 0.02, 0.2));
    let late = rms(window(&l, 0.8, 0.98));
    let next = rms(window(&l, 1.02, 1.2));
    assert!(early > 2.0 * late && next > 2.0 * late, "{early} {late} {next}");
    // At 4 s the timer retunes it a fifth up.
    let f = string_at(4.05, 450.0);
    assert!((f / 330.0 - 1.0).abs() < 0.03, "retuned string at {f} Hz");
}

#[test]
fn generative_piece_plays_scale_notes_and_is_repeatable() {
    let (_, l, _) = play("generative", 9.0);
    let scale: Vec<f32> = [57, 60, 62, 64, 67, 69, 72, 74, 76]
        .iter()
        .flat_map(|&n| [-12, 0, 12].map(|o| midi((n + o) as f32)))
        .collect();
    let mut heard = Vec::new();
    for k in 2..17 {
        let x = window(&l, k as f64 * 0.5, k as f64 * 0.5 + 0.5);
        let f = pitch(x);
        let near = scale.iter().any(|s| (f / s - 1.0).abs() < 0.02);
        assert!(near, "window {k}: {f} Hz is no scale note");
        if !heard.iter().any(|h: &f32| (h / f - 1.0).abs() < 0.02) {
            heard.push(f);
        }
    }
    assert!(heard.len() >= 4, "only heard {heard:?}");
    // Seeded: a second run plays the same piece, sample for sample.
    let (_, again, _) = play("generative", 9.0);
    assert!(l == again, "the piece is not repeatable");
}

#[test]
fn live_performance_reroutes_the_lead_every_two_bars_without_dropouts() {
    let (s, l, _) = play("live_performance", 11.0);
    // 128 BPM: 8 beats = 3.75 s per route: dark, bright, echo.
    let bar = 60.0 / 128.0 * 8.0;
    let lead = |from: f64| {
        let x = window(&l, from, from + 2.0);
        // Above the kick, which sits at 52 Hz.
        let s = magnitude_spectrum(x);
        let bin = RATE as f32 / x.len() as f32;
        let (num, den) = s
            .iter()
            .enumerate()
            .filter(|(k, _)| (*k as f32 * bin) > 200.0)
            .fold((0.0f32, 0.0f32), |(n, d), (k, &m)| {
                (n + k as f32 * bin * m, d + m)
            });
        num / den
    };
    let dark = lead(0.8);
    let bright = lead(bar + 0.8);
    assert!(bright > 2.0 * dark, "brightness {dark:.0} Hz then {bright:.0} Hz");
    let changes = s
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Changed(patchbay_core::Applied::Rebuilt { built: 0, .. })
            )
        })
        .count();
    assert_eq!(changes, 2, "two re-routings in 11 s, keeping every node");
    // No dropout around the switches: every 20 ms holds sound.
    for switch in [bar, 2.0 * bar] {
        let mut t = switch - 0.1;
        while t < switch + 0.1 {
            assert!(rms(window(&l, t, t + 0.02)) > 0.01, "dropout at {t:.3} s");
            t += 0.02;
        }
    }
    let _ = centroid(&l);
}

#[test]
fn the_readme_script_runs() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("```rhai\n").expect("a rhai block in the README") + "```rhai\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let mut s = session(&text(&readme[start..end]));
    let (l, _) = s.render(1.2);
    assert!(s.errors().is_empty(), "{:?}", s.errors());
    assert!(rms(&l) > 0.01);
}
