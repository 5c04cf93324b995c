//! Control and automation while playing: timers, beats, set, ramp, runtime
//! connections, all on sample time in an offline session.

mod common;

use common::*;
use patchbay_core::Applied;
use patchbay_script::{ErrorKind, Event, OfflineSession};

fn prints(s: &OfflineSession) -> Vec<String> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Print(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_after_and_cancel_fire_at_their_sample_times() {
    let mut s = session(&text(
        r#"
        sine(440, 0.1) >> out();
        let id = every(0.25, |n| print(`every ${n} at ${now()}`));
        after(0.6, || print(`after at ${now()}`));
        after(1.1, || { cancel(id); print("cancelled"); });
        "#,
    ));
    s.render(2.0);
    assert_eq!(
        prints(&s),
        [
            "every 0 at 0.25",
            "every 1 at 0.5",
            "after at 0.6",
            "every 2 at 0.75",
            "every 3 at 1.0",
            "cancelled"
        ]
    );
}

#[test]
fn beats_follow_the_tempo_and_its_changes() {
    let mut s = session(&text(
        r#"
        sine(440, 0.1) >> out();
        bpm(120);
        on_beat(|b| {
            print(`beat ${b} at ${now()}`);
            if b == 3 { bpm(240); }
        });
        on_beat(4, |b| print(`bar at beat ${b}`));
        "#,
    ));
    s.render(2.3);
    let p = prints(&s);
    let expected = [
        "beat 0 at 0.0",
        "bar at beat 0",
        "beat 1 at 0.5",
        "beat 2 at 1.0",
        "beat 3 at 1.5",
        // 240 BPM from beat 3 on: a beat every 0.25 s.
        "beat 4 at 1.75",
        "bar at beat 4",
        "beat 5 at 2.0",
        "beat 6 at 2.25",
    ];
    assert_eq!(p, expected);
}

#[test]
fn a_callback_set_starts_on_its_own_sample_and_glides() {
    // 0.51 s is sample 24480, in the middle of a 64-frame block.
    let script = r#"sine(440, 0.5).name("s") >> out(); after(0.51, || set("s.freq", 880));"#;
    let mut s = session(&text(script));
    let (l, _) = s.render(1.0);
    assert!((pitch(window(&l, 0.1, 0.45)) - 440.0).abs() < 3.0);
    assert!((pitch(window(&l, 0.6, 0.95)) - 880.0).abs() < 3.0);
    // Identical to the reference up to the callback's own sample: the new
    // frequency advances the phase from sample 24480 on, so the first
    // sample that differs is the next one.
    let (r, _) = session(&text("sine(440, 0.5) >> out();")).render(1.0);
    let first_difference = l.iter().zip(&r).position(|(a, b)| a != b).unwrap();
    assert_eq!(first_difference, 24_481);
}

#[test]
fn ramps_move_parameters_linearly() {
    let mut s = session(&text(
        r#"constant(0).name("c") >> out(); ramp("c.value", 0.5, 1.0);"#,
    ));
    let (l, _) = s.render(1.5);
    for (t, want) in [(0.25, 0.125), (0.5, 0.25), (0.75, 0.375), (1.2, 0.5)] {
        let got = l[(t * RATE as f64) as usize];
        assert!((got - want).abs() < 0.02, "at {t} s: {got}, want {want}");
    }
    assert_eq!(s.live.patch().node("c").unwrap().params["value"], 0.5);
}

#[test]
fn callbacks_connect_new_nodes_live() {
    let mut s = session(&text(
        r#"
        sine(220, 0.3) >> out();
        after(0.3, || sine(660, 0.3) >> out());
        after(0.6, || disconnect(find("sine_1"), out()));
        "#,
    ));
    let (l, _) = s.render(1.0);
    let changes: Vec<&Event> = s
        .events
        .iter()
        .filter(|e| matches!(e, Event::Changed(_)))
        .collect();
    assert!(
        matches!(changes[0], Event::Changed(Applied::Rebuilt { built: 1, .. })),
        "{changes:?}"
    );
    assert_eq!(changes.len(), 2);
    assert!((pitch(window(&l, 0.0, 0.29)) - 220.0).abs() < 3.0);
    let both = window(&l, 0.35, 0.59);
    assert!(rms(both) > 0.25, "two sines sound together");
    assert!(
        (pitch(window(&l, 0.65, 1.0)) - 660.0).abs() < 3.0,
        "sine_1 was disconnected"
    );
}

#[test]
fn a_callback_that_makes_a_bad_patch_is_refused_and_rolled_back() {
    let mut s = session(&text(
        "let f = lowpass(2000);\nsaw(110, 0.3) >> f >> out();\nafter(0.2, || {\n  let g = highpass(100);\n  f >> g;\n  g >> f;\n});\n",
    ));
    let (l, _) = s.render(0.5);
    let errors = s.errors();
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors[0].kind, ErrorKind::Invalid(_)));
    let at = errors[0].location.as_ref().unwrap();
    assert_eq!((at.line, at.column), (6, 5), "{}", errors[0]);
    assert!(
        !s.host.patch().nodes.iter().any(|n| n.kind == "highpass"),
        "rolled back"
    );
    assert!(rms(window(&l, 0.3, 0.5)) > 0.05, "the audio goes on");
}

#[test]
fn timer_scripts_render_the_same_every_time() {
    let script = r#"
        seed(7);
        let s = saw(110, 0.3).name("s");
        s >> lowpass(800).name("f") >> out();
        every(0.1, |n| set("s.freq", 110.0 + 110.0 * rand()));
        on_beat(|b| ramp("f.cutoff", 200.0 + 100.0 * (b % 8), 0.3));
    "#;
    let a = session(&text(script)).render(2.0);
    let b = session(&text(script)).render(2.0);
    assert!(a == b);
}

#[test]
fn level_reads_nothing_before_playing_and_refuses_what_is_not_a_meter() {
    let mut s = session(&text(
        r#"
        let s = sine(440, 0.5).name("s");
        s >> meter().name("m") >> out();
        print(`${level("m")}`);
        after(0.1, || print(`${level("s")}`));
        "#,
    ));
    s.render(0.2);
    assert_eq!(prints(&s), ["0.0"]);
    let errors = s.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0].to_string();
    assert!(
        message.contains("`level` reads a meter, and `s` is a `sine`"),
        "{message}"
    );
}

#[test]
fn level_is_the_loudest_channels_rms_from_the_meters_readings() {
    // Left quieter than right, so reading the wrong part of the meter's
    // layout (a peak, the first channel, a held peak) gives another number.
    // 375 Hz is 128 samples a cycle: the meter's window holds whole cycles.
    let mut s = session(&text(
        r#"
        let both = merge();
        sine(375, 0.1) >> both.left;
        sine(375, 0.5) >> both.right;
        both >> meter().name("m") >> out();
        after(0.5, || { print(`${level("m")}`); print(`${readings("m")}`); });
        "#,
    ));
    s.render(0.6);
    let printed = prints(&s);
    assert_eq!(printed.len(), 2, "{printed:?}");
    let level: f64 = printed[0].parse().unwrap();
    let expected = 0.5 / 2f64.sqrt();
    let error_db = 20.0 * (level / expected).log10();
    assert!(error_db.abs() < 0.01, "level {level}, expected {expected}");
    // The layout it was read from: peaks, RMS levels, held peaks.
    let readings: Vec<f64> = printed[1]
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let want = [0.1, 0.5, 0.1 / 2f64.sqrt(), expected, 0.1, 0.5];
    assert_eq!(readings.len(), want.len(), "{readings:?}");
    for (got, want) in readings.iter().zip(want) {
        assert!((20.0 * (got / want).log10()).abs() < 0.01, "{readings:?}");
    }
}

#[test]
fn a_scripts_file_player_plays_its_file() {
    // A 0.5 s, 440 Hz tone beside the script: the player streams it into
    // the offline session (whose disk host runs before every block).
    let dir = scratch_dir("player");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(dir.join("tone.wav"), spec).unwrap();
    for k in 0..RATE / 2 {
        w.write_sample(0.5 * (std::f32::consts::TAU * 440.0 * k as f32 / RATE as f32).sin())
            .unwrap();
    }
    w.finalize().unwrap();
    let mut s = session(&text_in(r#"player(#{file: "tone.wav"}) >> out();"#, &dir));
    let (l, _) = s.render(1.0);
    assert!(s.errors().is_empty(), "{:?}", s.errors());
    assert!((pitch(window(&l, 0.05, 0.45)) - 440.0).abs() < 2.0);
    let level = rms(window(&l, 0.1, 0.4));
    assert!((level - 0.5 / 2f32.sqrt()).abs() < 0.01, "rms {level}");
    assert!(peak(window(&l, 0.55, 1.0)) < 1e-6, "the file is over: silence");
    std::fs::remove_dir_all(&dir).unwrap();
}
