//! Running a script without a sound card: an [`OfflineSession`] drives a
//! [`LiveEngine`] and its runtime block by block, ticking the script's
//! callbacks at each block's sample time, so timers, beats and ramps land
//! at the same samples on every run. `patchbay render SCRIPT` writes one to
//! a WAV file; tests use it to hear what scripts do, reloads included.

use std::path::Path;

use patchbay_core::{Applied, CompileOptions, LiveEngine, Registry, Runtime};
use patchbay_io::{BlockSource, DiskHost, RenderError, RenderOptions, RenderSummary, write_wav};

use crate::error::{ErrorKind, ScriptError};
use crate::host::{Event, ScriptHost, ScriptSource};

/// A script playing on an engine that runs when asked, not on a clock.
pub struct OfflineSession {
    /// The script's host.
    pub host: ScriptHost,
    /// The engine the script controls.
    pub live: LiveEngine,
    /// The audio side, run here on the calling thread.
    pub runtime: Runtime,
    /// What the host reported: prints, callback errors, live changes,
    /// and what the disk work of recorders and players reported.
    pub events: Vec<Event>,
    /// The recorders' and players' disk work, run inline before every
    /// block (as `patchbay render` does for a patch file), so a script's
    /// recordings and file playback are the same on every run.
    pub disk: DiskHost,
    frames: u64,
    rate: f64,
    block: usize,
}

impl OfflineSession {
    /// Load `source` and start an engine on its patch.
    pub fn start(
        source: &ScriptSource,
        registry: &Registry,
        options: CompileOptions,
    ) -> Result<Self, ScriptError> {
        OfflineSession::start_with(ScriptHost::new(registry), source, registry, options)
    }

    /// Load `source` in `host` (say, one with its own limits) and start an
    /// engine on its patch.
    pub fn start_with(
        host: ScriptHost,
        source: &ScriptSource,
        registry: &Registry,
        options: CompileOptions,
    ) -> Result<Self, ScriptError> {
        let folder = match source {
            ScriptSource::File(path) => path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            ScriptSource::Text { dir, .. } => dir.clone(),
        };
        OfflineSession::start_on(host, DiskHost::inline(folder), source, registry, options)
    }

    /// Load `source` in `host` and start an engine on its patch, running
    /// its disk work on `disk` (an inline host: say, one feeding input
    /// nodes from a recording).
    pub fn start_on(
        mut host: ScriptHost,
        mut disk: DiskHost,
        source: &ScriptSource,
        registry: &Registry,
        options: CompileOptions,
    ) -> Result<Self, ScriptError> {
        let patch = host.load(source, 0.0)?;
        let (mut live, runtime) = LiveEngine::start(patch, registry, options)
            .map_err(|e| ScriptError::new(ErrorKind::Invalid(e)))?;
        let events = host.take_printed().into_iter().map(Event::Print).collect();
        disk.start(live.take_disk_jobs())
            .map_err(|e| ScriptError::new(ErrorKind::Engine(e.to_string())))?;
        Ok(OfflineSession {
            host,
            live,
            runtime,
            events,
            disk,
            frames: 0,
            rate: options.sample_rate as f64,
            block: options.block,
        })
    }

    /// Seconds of audio produced so far: the time callbacks see.
    pub fn now(&self) -> f64 {
        self.frames as f64 / self.rate
    }

    /// Frames per block.
    pub fn block(&self) -> usize {
        self.block
    }

    /// Run the callbacks due during the next block (each parameter they
    /// set starts on its callback's sample), then the block; returns its
    /// output (left, right).
    pub fn process_block(&mut self) -> [&[f32]; 2] {
        let block_end = (self.frames + self.block as u64) as f64 / self.rate;
        let events = self.host.tick(block_end, &mut self.live);
        self.events.extend(events);
        self.live.collect_garbage();
        // Nodes a callback or reload built bring their disk work.
        if let Err(e) = self.disk.start(self.live.take_disk_jobs()) {
            let error = ScriptError::new(ErrorKind::Engine(e.to_string()));
            self.events.push(Event::Error(Box::new(error)));
        }
        self.disk.pump();
        self.events
            .extend(self.disk.reports().into_iter().map(Event::Disk));
        self.runtime.process_block();
        self.frames += self.block as u64;
        self.runtime.output()
    }

    /// Run `seconds` of audio and return it (left, right).
    pub fn render(&mut self, seconds: f64) -> (Vec<f32>, Vec<f32>) {
        let total = (seconds * self.rate).round() as usize;
        let mut left = Vec::with_capacity(total);
        let mut right = Vec::with_capacity(total);
        while left.len() < total {
            let n = self.block.min(total - left.len());
            let [l, r] = self.process_block();
            left.extend_from_slice(&l[..n]);
            right.extend_from_slice(&r[..n]);
        }
        (left, right)
    }

    /// Re-run the script (or another) and apply it live, as a save would.
    pub fn reload(&mut self, source: &ScriptSource) -> Result<Applied, ScriptError> {
        let now = self.now();
        self.host.reload(source, now, &mut self.live)
    }

    /// Errors reported by callbacks so far.
    pub fn errors(&self) -> Vec<&ScriptError> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Error(err) => Some(err.as_ref()),
                _ => None,
            })
            .collect()
    }
}

/// Why a script could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderScriptError {
    /// The script failed.
    #[error("{0}")]
    Script(#[from] ScriptError),
    /// The options or the output file.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Render the script at `path` to a stereo WAV file, running its
/// callbacks at their sample times and its recorders', players' and input
/// nodes' disk work on `disk`, an inline host (relative paths: the
/// script's folder). Callback errors and disk reports go to `on_event`
/// with prints and live changes; they do not stop the render (a failed
/// disk job is an [`Event::Disk`] report of `DiskReport::Failed`).
pub fn render_script_to_wav(
    path: &Path,
    registry: &Registry,
    options: &RenderOptions,
    out: &Path,
    disk: DiskHost,
    progress: &mut dyn FnMut(u64, u64),
    on_event: &mut dyn FnMut(&Event),
) -> Result<RenderSummary, RenderScriptError> {
    options.check()?;
    let mut session = OfflineSession::start_on(
        ScriptHost::new(registry),
        disk,
        &ScriptSource::File(path.to_path_buf()),
        registry,
        options.compile_options(),
    )?;
    session.runtime.set_ceiling_db(options.ceiling_db);
    let summary = write_wav(
        &mut Reporting {
            session: &mut session,
            on_event,
        },
        options,
        out,
        progress,
    )?;
    for event in session.events.drain(..) {
        on_event(&event);
    }
    // Recorders let go of their rings; the disk host writes what is left.
    let OfflineSession {
        runtime, mut disk, ..
    } = session;
    drop(runtime);
    disk.pump();
    for report in disk.finish() {
        on_event(&Event::Disk(report));
    }
    Ok(summary)
}

/// A session handing its events on after every block.
struct Reporting<'a, 'b> {
    session: &'a mut OfflineSession,
    on_event: &'b mut dyn FnMut(&Event),
}

impl BlockSource for Reporting<'_, '_> {
    fn next_block(&mut self) -> [&[f32]; 2] {
        for event in self.session.events.drain(..) {
            (self.on_event)(&event);
        }
        self.session.process_block()
    }

    fn non_finite(&self) -> u64 {
        self.session.runtime.safety().non_finite()
    }
}
