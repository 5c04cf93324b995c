//! A private JACK server for live tests: the dummy backend runs callbacks
//! at real-time pace with no sound card. Clients reach it with
//! `JACK_DEFAULT_SERVER` set to its name.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The server's sample rate.
pub const RATE: u32 = 48_000;
const PERIOD: u32 = 256;

/// A `jackd` of our own (dummy backend, [`RATE`], [`PERIOD`]-frame
/// periods), stopped when dropped.
pub struct JackServer {
    child: Child,
    pub name: String,
    /// What jackd printed (in the test binary's scratch folder).
    log: std::path::PathBuf,
    /// One server per test binary at a time: two tests racing for a name
    /// could each take the other's server for their own (and stop it).
    _turn: Option<MutexGuard<'static, ()>>,
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How many server names tests take turns with: JACK's registry holds
/// eight servers at most.
const SLOTS: usize = 4;

impl JackServer {
    /// Start a server under the first free name of a small fixed set. JACK
    /// keeps a registry of at most eight servers in shared memory and
    /// reclaims a dead server's slot only for a server of the same name:
    /// unique names per run would fill it after a few crashed runs. A name
    /// taken by another test run makes jackd exit, and the next is tried.
    pub fn start() -> JackServer {
        JackServer::start_with(&["--no-realtime"])
    }

    /// [`JackServer::start`] with realtime scheduling asked for: without
    /// it, on a busy two-core machine the dummy driver's own timer wakes
    /// late and reports xruns that have nothing to do with its clients
    /// (for tests that count xruns); where it is not permitted, jackd runs
    /// without it.
    pub fn start_realtime() -> JackServer {
        JackServer::start_with(&["--realtime", "-P", "70"])
    }

    fn start_with(scheduling: &[&str]) -> JackServer {
        // A test that failed while holding its turn poisons the lock; the
        // turn is still free.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        // Each server of a test binary takes the next name: a server whose
        // client was killed (the crash test) leaves state behind that can
        // starve the next server of the same name.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let first = NEXT.fetch_add(1, Ordering::Relaxed);
        for slot in (first..first + SLOTS).map(|n| n % SLOTS) {
            let name = format!("patchbay-test-{slot}");
            if jack_lsp(&name).contains("system:") {
                continue;
            }
            let log = crate::scratch(&format!("jackd-{name}.log"));
            let (out, err) = match std::fs::File::create(&log).and_then(|f| Ok((f.try_clone()?, f))) {
                Ok((out, err)) => (Stdio::from(out), Stdio::from(err)),
                Err(_) => (Stdio::null(), Stdio::null()),
            };
            let child = Command::new("jackd")
                .args(scheduling)
                .args(["-n", &name, "-d", "dummy", "-r"])
                .arg(RATE.to_string())
                .arg("-p")
                .arg(PERIOD.to_string())
                .env("JACK_NO_AUDIO_RESERVATION", "1")
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("jackd starts (install jackd2: .ci/install-deps)");
            let mut server = JackServer {
                child,
                name,
                log,
                _turn: None,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if jack_lsp(&server.name).contains("system:playback_1") {
                    server._turn = Some(turn);
                    return server;
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // exited: the name is taken, try the next
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            server.stop();
        }
        panic!("no JACK server could be started");
    }

    /// The last `lines` lines jackd printed since it started.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The ports the server lists now, one per line.
    pub fn ports(&self) -> String {
        jack_lsp(&self.name)
    }

    /// Wait until every one of `ports` exists (10 s at most).
    pub fn wait_for_ports(&self, ports: &[&str]) {
        if let Err(listed) = self.ports_appear(ports) {
            panic!("ports {ports:?} never appeared:\n{listed}");
        }
    }

    /// Wait until every one of `ports` exists (10 s at most); else what
    /// the server lists.
    pub fn ports_appear(&self, ports: &[&str]) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let listed = self.ports();
            if ports.iter().all(|p| listed.lines().any(|l| l.trim() == *p)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(listed);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn connect(&self, from: &str, to: &str) {
        let connected = bounded(
            Command::new("jack_connect")
                .args([from, to])
                .env("JACK_DEFAULT_SERVER", &self.name),
        );
        assert!(
            connected.is_some_and(|o| o.status.success()),
            "jack_connect {from} {to} failed or hung"
        );
    }

    /// SIGTERM, so that jackd unregisters itself; SIGKILL if it lingers.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return; // exited (and reaped): its pid may belong to another process now
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

/// The ports `server` lists; nothing if it does not answer.
fn jack_lsp(server: &str) -> String {
    bounded(Command::new("jack_lsp").env("JACK_DEFAULT_SERVER", server))
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Run a JACK tool for 5 s at most: a wedged server can leave a client
/// waiting for ever, and the test should fail (or retry on a fresh
/// server) rather than hang. `None` if it did not start or finish.
fn bounded(command: &mut Command) -> Option<std::process::Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok()?.is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().ok()
}
