//! The binary live against a real audio server: private JACK servers with
//! the dummy backend (real-time pace, no sound card). One patchbay plays a
//! sine, another records it through its input (`patchbay record`, or
//! `play` with an input node and `--record`), wired with `jack_connect`;
//! the input's server going away is reported and what was recorded kept;
//! and a recording made at real-time pace survives SIGKILL.

mod common;

use std::process::Child;
use std::time::Duration;

use common::{JackServer, TempDir, patchbay_on, read_channels, recording_patch, repo};

fn repo_str(relative: &str) -> String {
    repo(relative).display().to_string()
}
use patchbay_nodes::analysis::{peak_frequency, rms, to_db};

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `patches/sine.json` (440 Hz at half scale) playing as JACK client `src_out`.
fn sine_source(server: &JackServer) -> Running {
    let child = patchbay_on(
        server,
        &[
            "play",
            &repo_str("patches/sine.json"),
            "--host",
            "jack",
            "--device",
            "src",
            "--seconds",
            "30",
        ],
    )
    .spawn()
    .unwrap();
    Running(child)
}

/// Wait for a patchbay run to end by itself; its stderr.
fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// The last second but a tenth of `x` (well after the ports were wired).
fn last_second(x: &[f32]) -> &[f32] {
    let end = x.len().saturating_sub(4_800);
    assert!(end > 48_000, "only {} frames recorded", x.len());
    &x[end - 48_000..end]
}

const SINE_DB: f32 = -9.030_9; // 0.5 / sqrt(2) in dB

#[test]
fn record_captures_what_another_client_plays() {
    let server = JackServer::start();
    let dir = TempDir::new("jack-record");
    let take = dir.join("take.wav");
    let _source = sine_source(&server);
    let recorder = patchbay_on(
        &server,
        &[
            "record",
            "--host",
            "jack",
            "--input",
            "take",
            "--channels",
            "1",
            "--format",
            "i24",
            "--seconds",
            "3",
            "-o",
        ],
    )
    .arg(&take)
    .spawn()
    .unwrap();
    server.wait_for_ports(&["src_out:out_0", "take_in:in_0"]);
    server.connect("src_out:out_0", "take_in:in_0");
    let stderr = finish(recorder);
    assert!(stderr.contains("lost frames 0"), "{stderr}");

    let (channels, rate) = read_channels(&take);
    assert_eq!((channels.len(), rate), (1, 48_000));
    let heard = last_second(&channels[0]);
    let pitch = peak_frequency(heard, 48_000.0);
    assert!((pitch - 440.0).abs() < 1.0, "pitch {pitch} Hz");
    let level = to_db(rms(heard));
    assert!((level - SINE_DB).abs() < 0.2, "level {level} dB");
}

#[test]
fn play_feeds_its_input_node_from_jack_and_records_the_master() {
    let server = JackServer::start();
    let dir = TempDir::new("jack-play-input");
    let master = dir.join("master.wav");
    let _source = sine_source(&server);
    let effect = patchbay_on(
        &server,
        &[
            "play",
            &repo_str("patches/input-gain.json"),
            "--host",
            "jack",
            "--device",
            "fx",
            "--input",
            "fx",
            "--seconds",
            "3",
            "--format",
            "i24",
            "--record",
        ],
    )
    .arg(&master)
    .spawn()
    .unwrap();
    server.wait_for_ports(&["src_out:out_0", "src_out:out_1", "fx_in:in_0", "fx_in:in_1"]);
    server.connect("src_out:out_0", "fx_in:in_0");
    server.connect("src_out:out_1", "fx_in:in_1");
    let stderr = finish(effect);
    assert!(stderr.contains("input from JACK client `fx_in`"), "{stderr}");
    assert!(stderr.contains("master: wrote"), "{stderr}");

    // The input through the patch's -6 dB gain, as the device heard it.
    assert_eq!(
        hound::WavReader::open(&master).unwrap().spec().bits_per_sample,
        24
    );
    let (channels, rate) = read_channels(&master);
    assert_eq!((channels.len(), rate), (2, 48_000));
    for side in &channels {
        let heard = last_second(side);
        let pitch = peak_frequency(heard, 48_000.0);
        assert!((pitch - 440.0).abs() < 1.0, "pitch {pitch} Hz");
        let level = to_db(rms(heard));
        assert!((level - (SINE_DB - 6.0)).abs() < 0.2, "level {level} dB");
    }
}

#[test]
fn record_reports_its_input_failing_and_keeps_what_it_had() {
    let mut server = JackServer::start();
    let dir = TempDir::new("jack-input-fault");
    let take = dir.join("take.wav");
    let recorder = patchbay_on(
        &server,
        &[
            "record",
            "--host",
            "jack",
            "--input",
            "gone",
            "--seconds",
            "4",
            "-o",
        ],
    )
    .arg(&take)
    .spawn()
    .unwrap();
    server.wait_for_ports(&["gone_in:in_0", "gone_in:in_1"]);
    std::thread::sleep(Duration::from_secs(1));
    server.stop();
    let stderr = finish(recorder);
    assert!(
        stderr.contains("error: JACK client `gone_in` failed") && stderr.contains("JACK server shut down"),
        "{stderr}"
    );
    let (channels, _) = read_channels(&take);
    assert_eq!(channels.len(), 2);
    let seconds = channels[0].len() as f64 / 48_000.0;
    assert!(
        (0.8..2.5).contains(&seconds),
        "{seconds} s recorded before the server went"
    );
}

#[test]
fn a_take_recorded_live_survives_the_process_being_killed() {
    let server = JackServer::start();
    let dir = TempDir::new("jack-crash");
    let patch = recording_patch(dir.path());
    let child = patchbay_on(&server, &["play", "--host", "jack", "--device", "crash"])
        .arg(&patch)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: kill(2) on our own child's pid, which has not been reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let take = dir.join("takes/vocal-001.wav");
    let mut reader = hound::WavReader::open(&take).unwrap_or_else(|e| panic!("{}: {e}", take.display()));
    assert_eq!((reader.spec().channels, reader.spec().bits_per_sample), (1, 16));
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| s.expect("every sample the header counts is there") as f32 / 32_767.0)
        .collect();
    let seconds = samples.len() as f64 / 48_000.0;
    // Real-time pace: about what 3 s of playing made, not a render's worth.
    assert!((2.0..3.5).contains(&seconds), "{seconds} s survived");
    let second = &samples[..48_000];
    assert!((peak_frequency(second, 48_000.0) - 441.0).abs() < 2.0);
    assert!((to_db(rms(second)) - SINE_DB).abs() < 0.1);
}
