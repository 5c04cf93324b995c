//! What the script API's functions share with the host: the graph under
//! construction, timers, ramps, parameter changes waiting to be sent, the
//! tempo clock, the sandbox's files, and the run's time budget.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use patchbay_core::{Registry, Tap};
use rhai::{FnPtr, Module};

type SharedModule = Arc<Module>;

use crate::graph::{Graph, Origin};

/// The tempo grid `on_beat` callbacks follow.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Beats per minute.
    pub bpm: f64,
    anchor_time: f64,
    anchor_beat: f64,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock {
            bpm: 120.0,
            anchor_time: 0.0,
            anchor_beat: 0.0,
        }
    }
}

impl Clock {
    /// The beat position at time `t` (seconds).
    pub fn beat_at(&self, t: f64) -> f64 {
        self.anchor_beat + (t - self.anchor_time) * self.bpm / 60.0
    }

    /// The time of beat position `beat`.
    pub fn time_of(&self, beat: f64) -> f64 {
        self.anchor_time + (beat - self.anchor_beat) * 60.0 / self.bpm
    }

    /// Change tempo at time `now`, keeping the beat position there.
    pub fn set_bpm(&mut self, bpm: f64, now: f64) {
        self.anchor_beat = self.beat_at(now);
        self.anchor_time = now;
        self.bpm = bpm;
    }
}

/// When a timer fires again.
#[derive(Clone, Debug)]
pub enum Repeat {
    /// `after`: once.
    Once,
    /// `every`: each `period` seconds.
    Every(f64),
    /// `on_beat`: each `every` beats; `next` is the next beat number.
    Beats {
        /// Beats between calls.
        every: i64,
        /// The beat it fires on next.
        next: i64,
    },
}

/// A scheduled callback.
#[derive(Clone)]
pub struct Timer {
    /// What `every`/`after`/`on_beat` returned, for `cancel`.
    pub id: i64,
    /// When it fires next (seconds; beat timers follow the clock).
    pub due: f64,
    /// How it repeats.
    pub repeat: Repeat,
    /// How many times it has fired.
    pub count: i64,
    /// The function to call.
    pub callback: FnPtr,
    /// Where it was scheduled.
    pub origin: Origin,
}

/// A parameter moving linearly to a target.
#[derive(Clone, Debug)]
pub struct Ramp {
    /// Node id.
    pub node: String,
    /// Parameter name.
    pub param: String,
    /// Value at `start`.
    pub from: f64,
    /// Value at `end`.
    pub to: f64,
    /// Start time (seconds).
    pub start: f64,
    /// End time (seconds).
    pub end: f64,
    /// When a value was last sent.
    pub last_sent: f64,
}

impl Ramp {
    /// The value at time `t`.
    pub fn value_at(&self, t: f64) -> f64 {
        if t >= self.end || self.end <= self.start {
            return self.to;
        }
        let x = ((t - self.start) / (self.end - self.start)).clamp(0.0, 1.0);
        self.from + (self.to - self.from) * x
    }
}

/// The files a run read, for error carets and the hot-reload watcher.
#[derive(Default, Clone)]
pub struct Sources {
    /// The folder scripts may read from (canonical).
    pub root: PathBuf,
    /// How the user names that folder (for source names).
    pub root_display: PathBuf,
    /// The main script's source name.
    pub main: Arc<str>,
    /// Source name -> text, for every file read.
    pub texts: HashMap<String, Arc<str>>,
    /// Files read (canonical paths): the script, its imports, patch files.
    pub files: Vec<PathBuf>,
    /// Source name -> canonical path, for files on disk.
    pub paths: HashMap<String, PathBuf>,
    /// Import path as written -> source name.
    pub modules: HashMap<String, String>,
    /// Canonical path -> the module evaluated from it this run.
    pub cache: HashMap<PathBuf, SharedModule>,
    /// Modules being evaluated (to refuse import cycles).
    pub loading: HashSet<PathBuf>,
}

/// What `print`, `debug` and failing callbacks have to say.
#[derive(Clone, Debug, PartialEq)]
pub enum Said {
    /// `print` / `debug` output.
    Print(String),
}

/// Everything the script API touches during one run (and while its
/// callbacks run).
pub struct State {
    /// The kinds scripts may create.
    pub registry: Registry,
    /// The patch being built.
    pub graph: Graph,
    /// False while the script's top level runs; true in callbacks, when
    /// `set` and friends become engine commands.
    pub live: bool,
    /// The time the running code sees (seconds since playing started).
    pub now: f64,
    /// The tempo grid.
    pub clock: Clock,
    /// Scheduled callbacks.
    pub timers: Vec<Timer>,
    /// Next timer id.
    pub next_timer: i64,
    /// Parameter glides in progress.
    pub ramps: Vec<Ramp>,
    /// Parameter changes for the engine: (node id, param, value, when in
    /// seconds).
    pub sets: Vec<(String, String, f64, f64)>,
    /// Printed text.
    pub said: Vec<Said>,
    /// Analysis taps of the running patch, by node id.
    pub taps: HashMap<String, Arc<Tap>>,
    /// Files read.
    pub sources: Sources,
    /// The state of `rand()`.
    pub rng: u64,
}

impl State {
    /// A fresh state for run `generation`.
    pub fn new(registry: Registry, generation: u64) -> State {
        State {
            graph: Graph::new(registry.clone(), generation),
            registry,
            live: false,
            now: 0.0,
            clock: Clock::default(),
            timers: Vec::new(),
            next_timer: 1,
            ramps: Vec::new(),
            sets: Vec::new(),
            said: Vec::new(),
            taps: HashMap::new(),
            sources: Sources::default(),
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The source name for positions reported with `source` (None: the
    /// main script).
    pub fn source_name(&self, source: Option<&str>) -> Arc<str> {
        match source {
            Some(s) if !s.is_empty() && *s != *self.sources.main => Arc::from(s),
            _ => self.sources.main.clone(),
        }
    }

    /// The next number of the script's random sequence, in [0, 1).
    pub fn random(&mut self) -> f64 {
        // xorshift64*: small, fast and the same on every machine.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The state behind a lock, and the time budget outside it (the engine's
/// progress callback reads the budget on every few hundred operations).
pub struct Shared {
    state: Mutex<State>,
    epoch: Instant,
    /// Nanoseconds after `epoch` when the running code must stop.
    deadline: AtomicU64,
    /// The budget in force, for the error message (nanoseconds).
    budget: AtomicU64,
}

impl Shared {
    /// Share `state`.
    pub fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
            epoch: Instant::now(),
            deadline: AtomicU64::new(u64::MAX),
            budget: AtomicU64::new(0),
        }
    }

    /// Lock the state. A panic inside a native function cannot leave it
    /// half-changed in a way that matters more than the panic itself, so a
    /// poisoned lock is used as is.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Running code may take `seconds` from now.
    pub fn start_budget(&self, seconds: f64) {
        let nanos = (seconds * 1e9) as u64;
        let now = self.epoch.elapsed().as_nanos() as u64;
        self.budget.store(nanos, Ordering::Relaxed);
        self.deadline.store(now.saturating_add(nanos), Ordering::Relaxed);
    }

    /// No budget (between runs).
    pub fn end_budget(&self) {
        self.deadline.store(u64::MAX, Ordering::Relaxed);
    }

    /// True when the running code has used its budget.
    pub fn over_budget(&self) -> bool {
        self.epoch.elapsed().as_nanos() as u64 > self.deadline.load(Ordering::Relaxed)
    }

    /// The budget in force, in seconds.
    pub fn budget_seconds(&self) -> f64 {
        self.budget.load(Ordering::Relaxed) as f64 / 1e9
    }
}
