//! Hot reload: a script playing live on the offline runtime is rewritten
//! on disk; the watcher notices, the host re-runs it and applies the diff,
//! and the audio shows that state survived.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use patchbay_core::Applied;
use patchbay_script::{ScriptSource, ScriptWatcher};

/// Left: a sine alone (its phase must run on). Right: one impulse into an
/// echo (its echoes must go on after the reload, as only the delay line
/// remembers it), through a low-pass whose cutoff the edit changes.
const V1: &str = r#"
sine(220, 0.5) >> pan(-1.0) >> out();
impulse() >> delay(#{time: 0.25, feedback: 0.7, mix: 1.0}) >> lowpass(#{cutoff: 8000, q: 0.7}) >> pan(1.0) >> out();
"#;

/// Save `text` as editors do: write a temporary file, rename it over.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("rhai.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Wait (up to 5 s) for the watcher to report a change.
fn wait_for_change(watcher: &mut ScriptWatcher) {
    let started = Instant::now();
    while !watcher.poll() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the watcher saw no change"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The reference: V1 uninterrupted.
fn reference(seconds: f64) -> (Vec<f32>, Vec<f32>) {
    session(&text(V1)).render(seconds)
}

/// Peak of the right channel around the echo at `t` seconds.
fn echo_peak(right: &[f32], t: f64) -> f32 {
    peak(window(right, t - 0.01, t + 0.02))
}

#[test]
fn reload_keeps_phase_and_echoes_while_the_cutoff_changes() {
    let dir = scratch_dir("reload");
    let path = dir.join("live.rhai");
    std::fs::write(&path, V1).unwrap();
    let mut s = session(&ScriptSource::File(path.clone()));
    let mut watcher = ScriptWatcher::new(&s.host.files()).unwrap();

    // Play 0.6 s: the impulse and echoes at 0.25 and 0.5 s.
    let (mut left, mut right) = s.render(0.6);

    // Edit the cutoff and save.
    save(&path, &V1.replace("cutoff: 8000", "cutoff: 600"));
    wait_for_change(&mut watcher);
    let applied = s.reload(&ScriptSource::File(path.clone())).unwrap();
    assert_eq!(applied, Applied::Params(1), "only the cutoff changed");
    let (l, r) = s.render(0.8);
    left.extend(l);
    right.extend(r);

    let (ref_left, ref_right) = reference(1.4);
    // The sine ran on: the left channel is the uninterrupted one.
    let worst = left
        .iter()
        .zip(&ref_left)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-6,
        "the oscillator restarted or jumped (largest difference {worst})"
    );
    // The echoes went on after the reload (a rebuilt delay would be silent)...
    for t in [0.75, 1.0, 1.25] {
        assert!(echo_peak(&right, t) > 1e-3, "no echo at {t} s after the reload");
    }
    // ...through the new, darker filter: lower peaks than the reference's.
    for t in [0.75, 1.0, 1.25] {
        let (now, before) = (echo_peak(&right, t), echo_peak(&ref_right, t));
        assert!(
            now < 0.5 * before,
            "echo at {t} s: {now} vs {before} with the old cutoff"
        );
    }
    // Before the reload, nothing differed.
    let n = (0.6 * RATE as f64) as usize;
    assert!(right[..n] == ref_right[..n]);
}

#[test]
fn structural_edits_keep_the_state_of_every_unchanged_node() {
    let dir = scratch_dir("reload-structure");
    let path = dir.join("live.rhai");
    std::fs::write(&path, V1).unwrap();
    let mut s = session(&ScriptSource::File(path.clone()));
    let mut watcher = ScriptWatcher::new(&s.host.files()).unwrap();
    let (mut left, mut right) = s.render(0.6);

    // A new voice on the right and a new cutoff: a structural change. New
    // nodes come after the old ones, so every old id stays.
    let v2 = format!(
        "{}\nsine(880, 0.2) >> pan(1.0) >> out();\n",
        V1.replace("cutoff: 8000", "cutoff: 600")
    );
    save(&path, &v2);
    wait_for_change(&mut watcher);
    let applied = s.reload(&ScriptSource::File(path.clone())).unwrap();
    match applied {
        Applied::Rebuilt { kept, built, .. } => {
            assert_eq!(built, 2, "{applied:?}");
            assert!(kept >= 6, "{applied:?}");
        }
        other => panic!("expected a rebuild, got {other:?}"),
    }
    let (l, r) = s.render(0.8);
    left.extend(l);
    right.extend(r);

    let (ref_left, _) = reference(1.4);
    let worst = left
        .iter()
        .zip(&ref_left)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-4,
        "the left sine was disturbed by the rebuild ({worst})"
    );
    for t in [0.75, 1.0, 1.25] {
        assert!(echo_peak(&right, t) > 1e-3, "no echo at {t} s after the rebuild");
    }
    let new_voice = patchbay_nodes::analysis::level_at(
        &patchbay_nodes::analysis::magnitude_spectrum(window(&right, 0.8, 1.3)),
        880.0,
        RATE as f32,
        (0.5 * RATE as f64) as usize,
    );
    assert!(new_voice > -30.0, "the new voice is missing ({new_voice} dB)");
}

#[test]
fn a_bad_save_keeps_playing_and_a_fix_reloads() {
    let dir = scratch_dir("reload-bad");
    let path = dir.join("live.rhai");
    std::fs::write(&path, V1).unwrap();
    let mut s = session(&ScriptSource::File(path.clone()));
    let mut watcher = ScriptWatcher::new(&s.host.files()).unwrap();
    s.render(0.3);
    save(&path, "sine(220, 0.5) >> pan(-1.0) >> out(;\n");
    wait_for_change(&mut watcher);
    let err = s.reload(&ScriptSource::File(path.clone())).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("{}:1:", path.display())),
        "{err}"
    );
    let (left, _) = s.render(0.2);
    assert!(
        (rms(&left) - 0.5 / 2f32.sqrt()).abs() < 0.01,
        "the last good graph stopped"
    );
    save(&path, &V1.replace("sine(220", "sine(330"));
    wait_for_change(&mut watcher);
    assert_eq!(s.reload(&ScriptSource::File(path)).unwrap(), Applied::Params(1));
    let (left, _) = s.render(0.3);
    assert!((pitch(window(&left, 0.05, 0.3)) - 330.0).abs() < 3.0);
}

#[test]
fn the_watcher_follows_imports() {
    let dir = scratch_dir("reload-imports");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/tone.rhai"), "export const FREQ = 220.0;\n").unwrap();
    let path = dir.join("main.rhai");
    std::fs::write(&path, "import \"lib/tone\" as t;\nsine(t::FREQ, 0.5) >> out();\n").unwrap();
    let mut s = session(&ScriptSource::File(path.clone()));
    let mut watcher = ScriptWatcher::new(&s.host.files()).unwrap();
    assert_eq!(watcher.files().len(), 2);
    s.render(0.1);
    save(&dir.join("lib/tone.rhai"), "export const FREQ = 440.0;\n");
    wait_for_change(&mut watcher);
    s.reload(&ScriptSource::File(path)).unwrap();
    watcher.set_files(&s.host.files()).unwrap();
    let (left, _) = s.render(0.3);
    assert!((pitch(window(&left, 0.05, 0.3)) - 440.0).abs() < 3.0);
    // A write that changes nothing is not a change.
    std::fs::write(dir.join("lib/tone.rhai"), "export const FREQ = 440.0;\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!watcher.poll());
}
