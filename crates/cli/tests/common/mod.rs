//! Helpers for the binary's tests: scratch folders that clean up after
//! themselves, and private JACK servers (dummy backend: real-time pace, no
//! sound card).
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scratch folder removed when the test ends, however it ends.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("patchbay-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `jackd` of our own (dummy backend, 48 kHz, 256-frame periods),
/// stopped when dropped. Clients reach it with `JACK_DEFAULT_SERVER=name`.
pub struct JackServer {
    child: Child,
    pub name: String,
    /// One server per test binary at a time: two tests racing for a name
    /// could each take the other's server for their own (and stop it).
    _turn: Option<std::sync::MutexGuard<'static, ()>>,
}

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl JackServer {
    /// Start a server under the first free name of a small fixed set (JACK
    /// keeps at most eight servers in a shared registry and reclaims a dead
    /// server's slot only for the same name, so names are reused, never
    /// unique per run). A name taken by another test run makes jackd
    /// exit, and the next name is tried.
    pub fn start() -> JackServer {
        // A test that failed while holding its turn poisons the lock; the
        // turn is still free.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        for slot in 0..4 {
            let name = format!("patchbay-cli-{slot}");
            if jack_lsp(&name).contains("system:") {
                continue;
            }
            let child = Command::new("jackd")
                .args([
                    "--no-realtime",
                    "-n",
                    &name,
                    "-d",
                    "dummy",
                    "-r",
                    "48000",
                    "-p",
                    "256",
                ])
                .env("JACK_NO_AUDIO_RESERVATION", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("jackd starts (install jackd2: .ci/install-deps)");
            let mut server = JackServer {
                child,
                name,
                _turn: None,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if jack_lsp(&server.name).contains("system:playback_1") {
                    server._turn = Some(turn);
                    return server;
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            server.stop();
        }
        panic!("no JACK server could be started");
    }

    /// `patchbay ARGS` as a client of this server.
    pub fn patchbay(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_patchbay"));
        command
            .args(args)
            .env("JACK_DEFAULT_SERVER", &self.name)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Wait until every one of `ports` exists (10 s at most).
    pub fn wait_for_ports(&self, ports: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let listed = jack_lsp(&self.name);
            if ports.iter().all(|p| listed.lines().any(|l| l.trim() == *p)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ports {ports:?} never appeared:\n{listed}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn connect(&self, from: &str, to: &str) {
        let status = Command::new("jack_connect")
            .args([from, to])
            .env("JACK_DEFAULT_SERVER", &self.name)
            .status()
            .unwrap();
        assert!(status.success(), "jack_connect {from} {to}");
    }

    /// SIGTERM, so that jackd unregisters itself; SIGKILL if it lingers.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: signals our own child process, which has not been reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for JackServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn jack_lsp(server: &str) -> String {
    Command::new("jack_lsp")
        .env("JACK_DEFAULT_SERVER", server)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A WAV file as floats per channel, and its rate.
pub fn read_channels(path: &Path) -> (Vec<Vec<f32>>, u32) {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let scale = (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.unwrap() as f32 / scale)
                .collect()
        }
    };
    let n = spec.channels as usize;
    let channels = (0..n)
        .map(|c| samples.iter().skip(c).step_by(n).copied().collect())
        .collect();
    (channels, spec.sample_rate)
}
