//! `patchbay play`, `devices` and the safety flags end to end. Playback
//! uses ALSA's `null` device, which every ALSA installation has (it
//! discards the sound, unclocked); the real-time tests against a JACK
//! server live in `crates/io/tests/jack.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{patchbay, repo, text};
use std::time::Duration;

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("play-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sine_json(freq: f64, amp: f64, gain_db: f64) -> String {
    format!(
        r#"{{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {{ "id": "osc", "kind": "sine", "params": {{ "freq": {freq}, "amp": {amp} }} }},
    {{ "id": "boost", "kind": "gain", "params": {{ "gain": {gain_db} }} }},
    {{ "id": "out", "kind": "output" }}
  ],
  "edges": [
    {{ "from": "osc.out", "to": "boost.in" }},
    {{ "from": "boost.out", "to": "out.in" }}
  ]
}}
"#
    )
}

#[test]
fn play_without_a_device_says_so_in_one_line() {
    let out = patchbay(&[
        "play",
        "patches/sine.json",
        "--host",
        "alsa",
        "--device",
        "nonexistent",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(
            "error: no audio output device could be opened (ALSA: no output device `nonexistent`"
        ),
        "{err}"
    );
    assert!(err.trim_end().ends_with("try `patchbay render`"), "{err}");
}

#[test]
fn play_without_a_jack_server_says_so_in_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["play", "patches/sine.json", "--host", "jack"])
        .current_dir(repo(""))
        .env("JACK_DEFAULT_SERVER", "patchbay-no-such-server")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("JACK: no JACK server is running"), "{err}");
}

#[test]
fn play_runs_for_the_given_time_and_reports() {
    let out = patchbay(&[
        "play",
        "patches/sine.json",
        "--host",
        "alsa",
        "--device",
        "null",
        "--seconds",
        "0.5",
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("playing patches/sine.json on ALSA `null` at 48000 Hz"),
        "{err}"
    );
    assert!(err.contains("played 0.5 s: xruns 0"), "{err}");
    assert!(err.contains("peak -6.0 dBFS"), "{err}");
}

#[test]
fn devices_lists_both_hosts() {
    let out = patchbay(&["devices"]);
    assert!(out.status.success());
    let list = text(&out.stdout);
    assert!(list.contains("ALSA:"), "{list}");
    assert!(list.contains("null: "), "{list}");
    assert!(list.contains("JACK"), "{list}");
}

#[test]
fn play_watch_reloads_saves_and_reports_broken_ones_with_their_line() {
    let dir = temp_dir("watch");
    let path = dir.join("live.json");
    std::fs::write(&path, sine_json(220.0, 0.5, 0.0)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args([
            "play",
            path.to_str().unwrap(),
            "--host",
            "alsa",
            "--device",
            "null",
        ])
        .args(["--watch", "--seconds", "2.5"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    // A broken save (unknown parameter on line 5), then a good one.
    let tmp = dir.join("live.json.tmp");
    std::fs::write(&tmp, sine_json(330.0, 0.5, 0.0).replace("\"freq\"", "\"frq\"")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    std::fs::write(&tmp, sine_json(440.0, 0.5, 0.0)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let broken = format!(
        "error: {}:5: node `osc` (sine): unknown parameter `frq`",
        path.display()
    );
    assert!(err.contains(&broken), "{err}");
    assert!(err.contains("(the last good patch keeps playing)"), "{err}");
    assert!(
        err.contains(&format!("reloaded {}: 1 parameter change(s)", path.display())),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn render_limits_overs_unless_told_not_to() {
    let dir = temp_dir("limit");
    let patch = dir.join("loud.json");
    std::fs::write(&patch, sine_json(440.0, 1.0, 12.0)).unwrap();
    let peak = |extra: &[&str]| {
        let wav = dir.join("loud.wav");
        let mut args = vec![
            "render",
            patch.to_str().unwrap(),
            "-o",
            wav.to_str().unwrap(),
            "--seconds",
            "0.5",
        ];
        args.extend_from_slice(extra);
        let out = patchbay(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let samples: Vec<f32> = hound::WavReader::open(&wav)
            .unwrap()
            .samples::<f32>()
            .map(Result::unwrap)
            .collect();
        assert!(samples.iter().all(|x| x.is_finite()));
        samples.iter().fold(0.0f32, |p, x| p.max(x.abs()))
    };
    let limited = peak(&[]);
    assert!(limited <= 10f32.powf(-0.3 / 20.0), "peak {limited}");
    let raw = peak(&["--no-limit"]);
    assert!((raw - 3.98).abs() < 0.02, "+12 dBFS passes unlimited: {raw}");
    std::fs::remove_dir_all(&dir).unwrap();
}
