//! Offline rendering: run a patch's schedule block by block and write the
//! master output to a WAV file.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::disk::{DiskError, DiskHost};
use patchbay_core::{CompileOptions, Patch, Registry, Runtime, Schedule, ValidationError, compile, engine};

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

impl From<SampleFormat> for patchbay_nodes::record::Encoding {
    fn from(format: SampleFormat) -> Self {
        match format {
            SampleFormat::F32 => Self::F32,
            SampleFormat::I24 => Self::I24,
            SampleFormat::I16 => Self::I16,
        }
    }
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

impl RenderOptions {
    /// Refuse lengths, rates and block sizes outside what a render supports.
    pub fn check(&self) -> Result<(), RenderError> {
        if !(self.seconds.is_finite() && self.seconds >= 0.0 && self.seconds <= 24.0 * 3600.0) {
            return Err(RenderError::Options(format!(
                "--seconds {} must be between 0 and 86400",
                self.seconds
            )));
        }
        if !(8_000..=384_000).contains(&self.sample_rate) {
            return Err(RenderError::Options(format!(
                "--rate {} must be between 8000 and 384000",
                self.sample_rate
            )));
        }
        if !(1..=8192).contains(&self.block) {
            return Err(RenderError::Options(format!(
                "--block {} must be between 1 and 8192",
                self.block
            )));
        }
        Ok(())
    }

    /// The compiler's view of these options.
    pub fn compile_options(&self) -> CompileOptions {
        CompileOptions {
            sample_rate: self.sample_rate as f32,
            block: self.block,
        }
    }
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
    options.check()?;
    let plan = compile(patch, registry, &options.compile_options())?;
    let mut schedule = Schedule::new(&plan);
    let jobs = schedule
        .take_disk_jobs()
        .into_iter()
        .map(|(i, job)| (plan.nodes[i].id.clone(), job))
        .collect();
    disk.start(jobs)?;
    let (_engine, mut runtime) = engine(schedule);
    runtime.set_ceiling_db(options.ceiling_db);
    let mut source = PatchSource { runtime, disk };
    let summary = write_wav(&mut source, options, path, progress)?;
    // Recorders let go of their rings; the disk host writes what is left.
    drop(source.runtime);
    source.disk.pump();
    Ok(summary)
}

/// What an offline render writes: the master output, block by block.
pub trait BlockSource {
    /// Compute the next block; its master output (left, right), after the
    /// runtime's safety stage, as a device would hear it.
    fn next_block(&mut self) -> [&[f32]; 2];
    /// Non-finite samples the safety stage has silenced so far.
    fn non_finite(&self) -> u64;
}

struct PatchSource<'a> {
    runtime: Runtime,
    disk: &'a mut DiskHost,
}

impl BlockSource for PatchSource<'_> {
    fn next_block(&mut self) -> [&[f32]; 2] {
        self.disk.pump();
        self.runtime.process_block();
        self.runtime.output()
    }

    fn non_finite(&self) -> u64 {
        self.runtime.safety().non_finite()
    }
}

/// Write `options.seconds` of `source` to a stereo WAV file at `path`
/// (the options must have passed [`RenderOptions::check`]).
pub fn write_wav(
    source: &mut dyn BlockSource,
    options: &RenderOptions,
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RenderSummary, RenderError> {
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
        let n = (options.block as u64).min(total - done) as usize;
        let [left, right] = source.next_block();
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
    summary.non_finite = source.non_finite();
    summary.wall = started.elapsed().max(Duration::from_nanos(1));
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
