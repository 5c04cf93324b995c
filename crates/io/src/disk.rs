//! The disk side of recorders and file players: runs the [`DiskJob`]s that
//! processors hand over (see `patchbay_core::disk`), each as a [`Work`].
//!
//! Two paces, one code path: a live host ([`DiskHost::threaded`]) gives
//! every job a thread of its own that polls its rings, so the audio thread
//! never waits for a disk; an offline host ([`DiskHost::inline`]) runs all
//! jobs on the rendering thread, calling [`DiskHost::pump`] before every
//! block, so a render never depends on thread timing: readers are filled
//! and writers drained before the audio needs them, and renders stay
//! bit-for-bit repeatable.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use patchbay_core::DiskJob;

/// How long an idle disk thread sleeps before looking at its rings again.
/// Rings hold seconds, so this only sets how fresh the file is.
pub const POLL: Duration = Duration::from_millis(5);

/// What one call of [`Work::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Moved some data; call again now.
    Busy,
    /// Nothing to do until the audio side moves.
    Idle,
    /// Done for good (its processor is gone and everything is written).
    Finished,
}

/// One job's disk side. `step` never blocks on the audio thread; it may
/// block on the disk (that is what the rings absorb).
pub trait Work: Send {
    /// Do what can be done now.
    fn step(&mut self) -> Progress;
    /// The host is closing: write what has arrived, close files.
    fn finish(&mut self);
}

/// Something that happened on the disk side, for the control side to show.
#[derive(Clone, Debug, PartialEq)]
pub enum DiskReport {
    /// A take (or recording) file was opened.
    Started {
        /// The node recording.
        node: String,
        /// The file.
        path: PathBuf,
    },
    /// A take was closed, its header final.
    Finished {
        /// The node that recorded it.
        node: String,
        /// The file.
        path: PathBuf,
        /// Frames in it.
        frames: u64,
    },
    /// Disk work failed; what was written before stays (a recorder stops
    /// the take, keeping the file up to its last header update).
    Failed {
        /// The node.
        node: String,
        /// What went wrong, naming the file.
        message: String,
    },
}

impl std::fmt::Display for DiskReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiskReport::Started { node, path } => write!(f, "{node}: recording {}", path.display()),
            DiskReport::Finished { node, path, frames } => {
                write!(f, "{node}: wrote {} ({frames} frames)", path.display())
            }
            DiskReport::Failed { node, message } => write!(f, "{node}: {message}"),
        }
    }
}

/// Why a job could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiskError {
    /// A processor handed over a job no runner here knows.
    #[error("node `{0}` needs disk work this host cannot run")]
    UnknownJob(String),
    /// Jobs that could not start (a player's file missing or damaged, an
    /// input node with nothing to read), each as `node \`id\`: why`. The
    /// other jobs of the same call were started.
    #[error("{}", .0.join("; "))]
    NotStarted(Vec<String>),
}

/// A file being written: what recorders write WAV through.
pub trait WriteFile: Write + Seek + Send {}
impl<T: Write + Seek + Send> WriteFile for T {}

/// Where disk work opens files. The real one is [`LocalFiles`]; tests put
/// a slow or failing disk in its place.
pub trait Files: Send + Sync {
    /// Create a new file (or truncate `path` when `replace`); the folder exists.
    fn create(&self, path: &Path, replace: bool) -> std::io::Result<Box<dyn WriteFile>>;
}

/// The local file system, written through a large buffer.
pub struct LocalFiles;

/// Bytes buffered before a write reaches the file system.
const WRITE_BUFFER: usize = 256 * 1024;

impl Files for LocalFiles {
    fn create(&self, path: &Path, replace: bool) -> std::io::Result<Box<dyn WriteFile>> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(replace)
            .truncate(replace)
            .create_new(!replace)
            .open(path)?;
        Ok(Box::new(std::io::BufWriter::with_capacity(WRITE_BUFFER, file)))
    }
}

/// What a job's runner gets besides the job.
#[derive(Clone)]
pub struct Context {
    /// The node the job belongs to.
    pub node: String,
    /// Relative paths in settings are relative to this folder (the patch
    /// file's or script's).
    pub base_dir: PathBuf,
    /// Where files are opened.
    pub files: Arc<dyn Files>,
    /// The recording offline input nodes read (`render --input`), if any.
    pub input: Option<PathBuf>,
    reports: mpsc::Sender<DiskReport>,
}

impl Context {
    /// `path` resolved against the patch's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        };
        // `folder/./take.wav` reads badly in messages.
        joined
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect()
    }

    /// Tell the control side (never blocks).
    pub fn report(&self, report: DiskReport) {
        let _ = self.reports.send(report);
    }
}

/// What a runner made of a job.
pub enum Claim {
    /// Its kind, started.
    Started(Box<dyn Work>),
    /// Its kind, but it cannot run: why, naming the file.
    Failed(String),
    /// Not its kind: the job back, for the next runner.
    NotMine(DiskJob),
}

/// Turns a job into its work, if it is the runner's kind.
type Runner = fn(DiskJob, &Context) -> Claim;

/// Every kind of disk work this crate runs. A new kind adds its runner here.
const RUNNERS: &[Runner] = &[
    crate::recorder::runner,
    crate::playback::runner,
    crate::input::file_runner,
];

enum Running {
    Thread {
        node: String,
        stop: Arc<AtomicBool>,
        thread: JoinHandle<()>,
    },
    Inline {
        work: Box<dyn Work>,
        finished: bool,
    },
}

/// Runs the disk work of a patch's recorders and players.
pub struct DiskHost {
    base_dir: PathBuf,
    files: Arc<dyn Files>,
    input: Option<PathBuf>,
    threaded: bool,
    running: Vec<Running>,
    reports: mpsc::Receiver<DiskReport>,
    sender: mpsc::Sender<DiskReport>,
}

impl DiskHost {
    /// A live host: a thread per job. Relative paths resolve against `base_dir`.
    pub fn threaded(base_dir: impl Into<PathBuf>) -> DiskHost {
        DiskHost::new(base_dir.into(), true)
    }

    /// An offline host: jobs run when [`DiskHost::pump`] is called.
    pub fn inline(base_dir: impl Into<PathBuf>) -> DiskHost {
        DiskHost::new(base_dir.into(), false)
    }

    fn new(base_dir: PathBuf, threaded: bool) -> DiskHost {
        let (sender, reports) = mpsc::channel();
        DiskHost {
            base_dir,
            files: Arc::new(LocalFiles),
            input: None,
            threaded,
            running: Vec::new(),
            reports,
            sender,
        }
    }

    /// Open files through `files` instead of the local file system.
    pub fn with_files(mut self, files: Arc<dyn Files>) -> DiskHost {
        self.files = files;
        self
    }

    /// Feed input nodes from the recording at `path` (offline hosts:
    /// `patchbay render --input`). Relative to the current folder, as a
    /// command-line argument is.
    pub fn with_input(mut self, path: impl Into<PathBuf>) -> DiskHost {
        self.input = Some(path.into());
        self
    }

    /// Start the jobs of newly built processors (from
    /// `LiveEngine::take_disk_jobs` or `Schedule::take_disk_jobs`). A job
    /// that cannot start (its file missing) is named in the error, its node
    /// stays silent, and the others start all the same.
    pub fn start(&mut self, jobs: Vec<(String, DiskJob)>) -> Result<(), DiskError> {
        let mut failed = Vec::new();
        for (node, job) in jobs {
            let ctx = Context {
                node: node.clone(),
                base_dir: self.base_dir.clone(),
                files: self.files.clone(),
                input: self.input.clone(),
                reports: self.sender.clone(),
            };
            let mut outcome = Claim::NotMine(job);
            for runner in RUNNERS {
                let Claim::NotMine(job) = outcome else { break };
                outcome = runner(job, &ctx);
            }
            let work = match outcome {
                Claim::Started(work) => work,
                Claim::Failed(why) => {
                    failed.push(format!("node `{node}`: {why}"));
                    continue;
                }
                Claim::NotMine(_) => return Err(DiskError::UnknownJob(node)),
            };
            self.running.push(if self.threaded {
                spawn(node, work)
            } else {
                Running::Inline {
                    work,
                    finished: false,
                }
            });
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(DiskError::NotStarted(failed)),
        }
    }

    /// Offline: run every job until it has nothing more to do (call before
    /// each block, and after the last). Live hosts need not call it.
    pub fn pump(&mut self) {
        for running in &mut self.running {
            if let Running::Inline { work, finished } = running {
                while !*finished {
                    match work.step() {
                        Progress::Busy => {}
                        Progress::Idle => break,
                        Progress::Finished => *finished = true,
                    }
                }
            }
        }
    }

    /// Reports since the last call.
    pub fn reports(&self) -> Vec<DiskReport> {
        self.reports.try_iter().collect()
    }

    /// Jobs still running (threads alive, or inline work not finished).
    pub fn active(&self) -> usize {
        self.running
            .iter()
            .filter(|r| match r {
                Running::Thread { thread, .. } => !thread.is_finished(),
                Running::Inline { finished, .. } => !finished,
            })
            .count()
    }

    /// Write what has arrived, close every file and stop; returns the
    /// reports not yet taken.
    pub fn finish(mut self) -> Vec<DiskReport> {
        for running in self.running.drain(..) {
            match running {
                Running::Thread { node, stop, thread } => {
                    stop.store(true, Ordering::Release);
                    if thread.join().is_err() {
                        let _ = self.sender.send(DiskReport::Failed {
                            node,
                            message: "the disk thread panicked; the file may end early".into(),
                        });
                    }
                }
                Running::Inline { mut work, finished } => {
                    if !finished {
                        work.finish();
                    }
                }
            }
        }
        self.reports.try_iter().collect()
    }
}

fn spawn(node: String, mut work: Box<dyn Work>) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("disk {node}"))
        .spawn(move || {
            loop {
                if stopping.load(Ordering::Acquire) {
                    work.finish();
                    return;
                }
                match work.step() {
                    Progress::Busy => {}
                    Progress::Idle => std::thread::sleep(POLL),
                    Progress::Finished => return,
                }
            }
        })
        .expect("the system refused a thread for disk work");
    Running::Thread { node, stop, thread }
}
