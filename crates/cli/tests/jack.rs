//! The binary live against a real audio server: private JACK servers with
//! the dummy backend (real-time pace, no sound card). One patchbay plays a
//! sine, another records it through its input (`patchbay record`, or
//! `play` with an input node and `--record`), wired with `jack_connect`;
//! the input's server going away is reported and what was recorded kept;
//! and a recording made at real-time pace survives SIGKILL.

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use common::{JackServer, TempDir, patchbay_on, read_channels, recording_patch, repo};

fn repo_str(relative: &str) -> String {
    repo(relative).display().to_string()
}
use patchbay_nodes::analysis::{peak_frequency, rms, to_db};

/// A child process stopped when the test ends, however it ends: Ctrl-C
/// first, so that it leaves the JACK server tidily (a killed client's
/// leftovers can stall the next server of the same name), then SIGKILL.
/// A client left running by a failed test would stay on the books of the
/// next servers.
struct Running(Option<Child>);

impl Running {
    fn spawn(command: &mut Command) -> Running {
        Running(Some(command.spawn().unwrap()))
    }

    /// Wait for the run to end by itself; its stderr.
    fn finish(mut self) -> String {
        let child = self.0.take().expect("a running child");
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(child) = &mut self.0 else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SAFETY: signals our own child process, which has not been reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `patches/sine.json` (440 Hz at half scale) playing as JACK client
/// `NAME_out` (a name of each test's own).
fn sine_source(server: &JackServer, name: &str) -> Running {
    Running::spawn(&mut patchbay_on(
        server,
        &[
            "play",
            &repo_str("patches/sine.json"),
            "--host",
            "jack",
            "--device",
            name,
            "--seconds",
            "30",
        ],
    ))
}

/// Run `take` (which starts its clients on the server it is given and
/// returns what the process measured said, or `None` if their ports never
/// appeared) on a fresh JACK server; again on another (twice at most) if
/// the server stalled: the dummy backend never misses a cycle unless the
/// machine holds it up, and now and then a server started right after the
/// crash test does, or never lets a client in. A retry prints the end of
/// jackd's log, which names the client that did not finish its cycle.
/// (`play --input` opened its JACK input before its output until it was
/// found that this stalls the server for good now and then; see
/// ARCHITECTURE.md, "Disk work".) Returns the last run's output.
fn on_a_steady_server(take: impl Fn(&JackServer) -> Option<String>) -> String {
    let stalled = |said: &Option<String>| {
        let Some(said) = said else {
            return true;
        };
        // "recorded 3.0 s: xruns N, ..." / "played 3.0 s: xruns N, ..."
        said.lines()
            .filter_map(|line| {
                line.split_once(": xruns ")?
                    .1
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .any(|xruns| xruns > 0)
    };
    let mut server = JackServer::start();
    let mut said = take(&server);
    for _ in 0..2 {
        if !stalled(&said) {
            break;
        }
        let jackd = server.log_tail(20);
        match &said {
            Some(said) => eprintln!("the JACK server stalled; once more on a fresh one. It said:\n{said}"),
            None => eprintln!("the clients' ports never appeared; once more on a fresh server"),
        }
        eprintln!("jackd said:\n{jackd}");
        drop(server);
        server = JackServer::start();
        said = take(&server);
    }
    said.expect("the clients' ports never appeared, on three fresh servers")
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
    let dir = TempDir::new("jack-record");
    let take = dir.join("take.wav");
    let stderr = on_a_steady_server(|server| {
        let _source = sine_source(server, "src_rec");
        let recorder = Running::spawn(
            patchbay_on(
                server,
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
            .arg(&take),
        );
        server.ports_appear(&["src_rec_out:out_0", "take_in:in_0"]).ok()?;
        server.connect("src_rec_out:out_0", "take_in:in_0");
        Some(recorder.finish())
    });
    assert!(stderr.contains("lost frames 0"), "{stderr}");

    let (channels, rate) = read_channels(&take);
    assert_eq!((channels.len(), rate), (1, 48_000));
    assert!(channels[0].len() > 100_000, "record said:\n{stderr}");
    let heard = last_second(&channels[0]);
    let pitch = peak_frequency(heard, 48_000.0);
    assert!((pitch - 440.0).abs() < 1.0, "pitch {pitch} Hz");
    let level = to_db(rms(heard));
    assert!((level - SINE_DB).abs() < 0.2, "level {level} dB");
}

#[test]
fn play_feeds_its_input_node_from_jack_and_records_the_master() {
    let dir = TempDir::new("jack-play-input");
    let master = dir.join("master.wav");
    let stderr = on_a_steady_server(|server| {
        let _source = sine_source(server, "src_fx");
        let effect = Running::spawn(
            patchbay_on(
                server,
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
            .arg(&master),
        );
        server
            .ports_appear(&["src_fx_out:out_0", "src_fx_out:out_1", "fx_in:in_0", "fx_in:in_1"])
            .ok()?;
        server.connect("src_fx_out:out_0", "fx_in:in_0");
        server.connect("src_fx_out:out_1", "fx_in:in_1");
        Some(effect.finish())
    });
    assert!(stderr.contains("on JACK client `fx_out`"), "{stderr}");
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
        let silent = side.iter().position(|x| *x != 0.0);
        assert!(
            (pitch - 440.0).abs() < 1.0,
            "pitch {pitch} Hz, first sound at {silent:?} of {} frames; play said:\n{stderr}",
            side.len()
        );
        let level = to_db(rms(heard));
        assert!((level - (SINE_DB - 6.0)).abs() < 0.2, "level {level} dB");
    }
}

#[test]
fn record_reports_its_input_failing_and_keeps_what_it_had() {
    let mut server = JackServer::start();
    let dir = TempDir::new("jack-input-fault");
    let take = dir.join("take.wav");
    let recorder = Running::spawn(
        patchbay_on(
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
        .arg(&take),
    );
    server.wait_for_ports(&["gone_in:in_0", "gone_in:in_1"]);
    std::thread::sleep(Duration::from_secs(1));
    server.stop();
    let stderr = recorder.finish();
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
    // Let the server notice its client is gone before it is stopped: a
    // server stopped with a dead client on its books can leave JACK's
    // shared state stalling the next test's server.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.ports().contains("crash_out") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
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
