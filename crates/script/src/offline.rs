//! Running a script without a sound card: an [`OfflineSession`] drives a
//! [`LiveEngine`] and its runtime block by block, ticking the script's
//! callbacks at each block's sample time, so timers, beats and ramps land
//! at the same samples on every run. `patchbay render SCRIPT` writes one to
//! a WAV file; tests use it to hear what scripts do, reloads included.

use std::path::Path;
use std::time::{Duration, Instant};

use patchbay_core::{Applied, CompileOptions, LiveEngine, Registry, Runtime};
use patchbay_io::{RenderError, RenderOptions, RenderSummary, SampleFormat};

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
    /// What the host reported: prints, callback errors, live changes.
    pub events: Vec<Event>,
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
        mut host: ScriptHost,
        source: &ScriptSource,
        registry: &Registry,
        options: CompileOptions,
    ) -> Result<Self, ScriptError> {
        let patch = host.load(source, 0.0)?;
        let (live, runtime) = LiveEngine::start(patch, registry, options)
            .map_err(|e| ScriptError::new(ErrorKind::Invalid(e)))?;
        let events = host.take_printed().into_iter().map(Event::Print).collect();
        Ok(OfflineSession {
            host,
            live,
            runtime,
            events,
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

    /// Run due callbacks, then one block; returns its output (left, right).
    pub fn process_block(&mut self) -> [&[f32]; 2] {
        let now = self.now();
        let events = self.host.tick(now, &mut self.live);
        self.events.extend(events);
        self.live.collect_garbage();
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
/// callbacks at their sample times. Callback errors go to `on_event` with
/// prints and live changes; they do not stop the render.
pub fn render_script_to_wav(
    path: &Path,
    registry: &Registry,
    options: &RenderOptions,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
    on_event: &mut dyn FnMut(&Event),
) -> Result<RenderSummary, RenderScriptError> {
    if !(options.seconds.is_finite() && options.seconds >= 0.0 && options.seconds <= 24.0 * 3600.0) {
        return Err(RenderError::Options(format!(
            "--seconds {} must be between 0 and 86400",
            options.seconds
        ))
        .into());
    }
    if !(8_000..=384_000).contains(&options.sample_rate) {
        return Err(RenderError::Options(format!(
            "--rate {} must be between 8000 and 384000",
            options.sample_rate
        ))
        .into());
    }
    if !(1..=8192).contains(&options.block) {
        return Err(
            RenderError::Options(format!("--block {} must be between 1 and 8192", options.block)).into(),
        );
    }
    let compile = CompileOptions {
        sample_rate: options.sample_rate as f32,
        block: options.block,
    };
    let mut host = ScriptHost::new(registry);
    let patch = host.load(&ScriptSource::File(path.to_path_buf()), 0.0)?;
    for text in host.take_printed() {
        on_event(&Event::Print(text));
    }
    let (live, mut runtime) =
        LiveEngine::start(patch, registry, compile).map_err(|e| ScriptError::new(ErrorKind::Invalid(e)))?;
    runtime.set_ceiling_db(options.ceiling_db);
    let mut session = OfflineSession {
        host,
        live,
        runtime,
        events: Vec::new(),
        frames: 0,
        rate: options.sample_rate as f64,
        block: options.block,
    };
    let (bits, sample_format) = match options.format {
        SampleFormat::F32 => (32, hound::SampleFormat::Float),
        SampleFormat::I24 => (24, hound::SampleFormat::Int),
        SampleFormat::I16 => (16, hound::SampleFormat::Int),
    };
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: options.sample_rate,
        bits_per_sample: bits,
        sample_format,
    };
    let write_err = |source| RenderError::Write {
        path: out.display().to_string(),
        source,
    };
    let mut writer = hound::WavWriter::create(out, spec).map_err(write_err)?;
    let total = (options.seconds * options.sample_rate as f64).round() as u64;
    let started = Instant::now();
    let mut peak = 0.0f32;
    let mut done = 0u64;
    let mut last_report = 0u64;
    while done < total {
        let n = (options.block as u64).min(total - done) as usize;
        {
            let [left, right] = session.process_block();
            for k in 0..n {
                for x in [left[k], right[k]] {
                    peak = peak.max(x.abs());
                    match options.format {
                        SampleFormat::F32 => writer.write_sample(x),
                        SampleFormat::I24 => writer.write_sample(quantize(x, 8_388_607.0)),
                        SampleFormat::I16 => writer.write_sample(quantize(x, 32_767.0) as i16),
                    }
                    .map_err(write_err)?;
                }
            }
        }
        for event in session.events.drain(..) {
            on_event(&event);
        }
        done += n as u64;
        if done - last_report >= options.sample_rate as u64 || done == total {
            progress(done, total);
            last_report = done;
        }
    }
    writer.finalize().map_err(write_err)?;
    Ok(RenderSummary {
        frames: total,
        seconds: total as f64 / options.sample_rate as f64,
        wall: started.elapsed().max(Duration::from_nanos(1)),
        peak,
        non_finite: session.runtime.safety().non_finite(),
    })
}

/// Round to the nearest integer step, clipping at full scale.
fn quantize(x: f32, full_scale: f32) -> i32 {
    (x.clamp(-1.0, 1.0) * full_scale).round() as i32
}
