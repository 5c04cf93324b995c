//! Offline rendering: run a patch's schedule block by block and write the
//! master output to a WAV file.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::disk::{DiskError, DiskHost};
use patchbay_core::{CompileOptions, Patch, Registry, Schedule, ValidationError, compile, engine};

/// Sample encoding of the written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// 32-bit float.
    F32,
    /// 24-bit integer.
    I24,
    /// 16-bit integer.
    I16,
}

impl std::str::FromStr for SampleFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(SampleFormat::F32),
            "i24" => Ok(SampleFormat::I24),
            "i16" => Ok(SampleFormat::I16),
            _ => Err(format!("unknown sample format `{s}`: use f32, i24 or i16")),
        }
    }
}

/// What to render.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// Length of the file.
    pub seconds: f64,
    /// Samples per second.
    pub sample_rate: u32,
    /// Frames per block.
    pub block: usize,
    /// Sample encoding.
    pub format: SampleFormat,
    /// The safety limiter's ceiling in dBFS; `None` switches it off (the
    /// same stage live playback uses, so both hear the same samples).
    pub ceiling_db: Option<f32>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            seconds: 10.0,
            sample_rate: 48_000,
            block: patchbay_core::DEFAULT_BLOCK,
            format: SampleFormat::F32,
            ceiling_db: Some(patchbay_core::DEFAULT_CEILING_DB),
        }
    }
}

/// What a finished render measured.
#[derive(Clone, Copy, Debug)]
pub struct RenderSummary {
    /// Frames written.
    pub frames: u64,
    /// Seconds of audio written.
    pub seconds: f64,
    /// Wall-clock time taken.
    pub wall: Duration,
    /// Largest absolute sample written (before integer conversion).
    pub peak: f32,
    /// Non-finite samples replaced by silence.
    pub non_finite: u64,
}

impl RenderSummary {
    /// Seconds of audio per second of wall time.
    pub fn realtime_factor(&self) -> f64 {
        self.seconds / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The patch does not compile.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The options make no sense.
    #[error("{0}")]
    Options(String),
    /// A recorder or player in the patch cannot run here.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The WAV file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output file.
        path: String,
        /// What went wrong.
        source: hound::Error,
    },
}

/// Render `patch` to a stereo WAV file at `path`. `progress` is called now
/// and then with (frames done, frames total). Recorders and players in the
/// patch resolve relative paths against the current folder; see
/// [`render_with_disk`].
pub fn render_to_wav(
    patch: &Patch,
    registry: &Registry,
    options: &RenderOptions,
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RenderSummary, RenderError> {
    let mut disk = DiskHost::inline(".");
    let summary = render_with_disk(patch, registry, options, path, &mut disk, progress)?;
    disk.finish();
    Ok(summary)
}

/// [`render_to_wav`], running the patch's disk work (recorders, players)
/// on `disk`, an inline host pumped before every block so the render stays
/// deterministic. Call `disk.finish()` afterwards for its reports.
pub fn render_with_disk(
    patch: &Patch,
    registry: &Registry,
    options: &RenderOptions,
    path: &Path,
    disk: &mut DiskHost,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RenderSummary, RenderError> {
    if !(options.seconds.is_finite() && options.seconds >= 0.0 && options.seconds <= 24.0 * 3600.0) {
        return Err(RenderError::Options(format!(
            "--seconds {} must be between 0 and 86400",
            options.seconds
        )));
    }
    if !(8_000..=384_000).contains(&options.sample_rate) {
        return Err(RenderError::Options(format!(
            "--rate {} must be between 8000 and 384000",
            options.sample_rate
        )));
    }
    if !(1..=8192).contains(&options.block) {
        return Err(RenderError::Options(format!(
            "--block {} must be between 1 and 8192",
            options.block
        )));
    }
    let plan = compile(
        patch,
        registry,
        &CompileOptions {
            sample_rate: options.sample_rate as f32,
            block: options.block,
        },
    )?;
    let mut schedule = Schedule::new(&plan);
    let jobs = schedule
        .take_disk_jobs()
        .into_iter()
        .map(|(i, job)| (plan.nodes[i].id.clone(), job))
        .collect();
    disk.start(jobs)?;
    let (_engine, mut runtime) = engine(schedule);
    runtime.set_ceiling_db(options.ceiling_db);
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
        path: path.display().to_string(),
        source,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(write_err)?;
    let total = (options.seconds * options.sample_rate as f64).round() as u64;
    let started = Instant::now();
    let mut summary = RenderSummary {
        frames: total,
        seconds: total as f64 / options.sample_rate as f64,
        wall: Duration::ZERO,
        peak: 0.0,
        non_finite: 0,
    };
    let mut done = 0u64;
    let mut last_report = 0u64;
    while done < total {
        disk.pump();
        runtime.process_block();
        let n = (options.block as u64).min(total - done) as usize;
        // The runtime's safety stage has already silenced non-finite
        // samples and limited the master, exactly as for a device.
        let [left, right] = runtime.output();
        for k in 0..n {
            for x in [left[k], right[k]] {
                summary.peak = summary.peak.max(x.abs());
                write_sample(&mut writer, x, options.format).map_err(write_err)?;
            }
        }
        done += n as u64;
        if done - last_report >= options.sample_rate as u64 || done == total {
            progress(done, total);
            last_report = done;
        }
    }
    writer.finalize().map_err(write_err)?;
    summary.non_finite = runtime.safety().non_finite();
    // Recorders let go of their rings; the disk host writes what is left.
    drop(runtime);
    disk.pump();
    summary.wall = started.elapsed();
    Ok(summary)
}

fn write_sample<W: std::io::Write + std::io::Seek>(
    writer: &mut hound::WavWriter<W>,
    x: f32,
    format: SampleFormat,
) -> Result<(), hound::Error> {
    match format {
        SampleFormat::F32 => writer.write_sample(x),
        SampleFormat::I24 => writer.write_sample(quantize(x, 8_388_607.0)),
        SampleFormat::I16 => writer.write_sample(quantize(x, 32_767.0) as i16),
    }
}

/// Round to the nearest integer step, clipping at full scale.
pub(crate) fn quantize(x: f32, full_scale: f32) -> i32 {
    (x.clamp(-1.0, 1.0) * full_scale).round() as i32
}
