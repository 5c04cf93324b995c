//! The disk side of a recording ([`RecordJob`]): reads the frames and take
//! events the audio thread pushed, keeps the pre-roll in memory, numbers
//! takes and writes them as WAV (hound).
//!
//! A take's header is rewritten every [`HEADER_EVERY_SECONDS`] of audio,
//! so a process killed mid-take leaves a playable file missing at most
//! that much (plus what was still in the ring). A failed write (full disk,
//! folder gone) ends the take, keeps the file as last updated, reports,
//! and discards the rest of that take: the ring keeps draining, so the
//! audio side never loses samples because the disk failed.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use patchbay_core::DiskJob;
use patchbay_nodes::record::{Destination, Encoding, RecordJob, TakeEvent};

use crate::disk::{Claim, Context, DiskReport, Progress, Work, WriteFile};

/// Seconds of audio between header updates.
pub const HEADER_EVERY_SECONDS: f64 = 0.25;
/// Frames written per step at most, so events are looked at often.
const STEP_FRAMES: usize = 8192;

/// The runner `disk::DiskHost` tries for every job.
pub(crate) fn runner(job: DiskJob, ctx: &Context) -> Claim {
    match job.downcast::<RecordJob>() {
        Ok(job) => Claim::Started(Box::new(Recorder::new(job, ctx.clone()))),
        Err(job) => Claim::NotMine(job),
    }
}

/// A take's file that refuses every operation after one failed: hound
/// rewrites the header when dropped, and after a failed write (a full
/// disk) that header would count bytes that never reached the disk. So the
/// header stays as last written after data that did reach it.
struct Guarded {
    file: Box<dyn WriteFile>,
    failed: bool,
}

impl Guarded {
    fn guard<T>(
        &mut self,
        op: impl FnOnce(&mut Box<dyn WriteFile>) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        if self.failed {
            return Err(std::io::Error::other("an earlier write to this file failed"));
        }
        let result = op(&mut self.file);
        self.failed = result.is_err();
        result
    }
}

impl std::io::Write for Guarded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.guard(|f| f.write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.guard(|f| f.flush())
    }
}

impl std::io::Seek for Guarded {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.guard(|f| f.seek(to))
    }
}

struct Take {
    writer: hound::WavWriter<Guarded>,
    path: PathBuf,
    encoding: Encoding,
    frames: u64,
    unflushed: u64,
}

struct Recorder {
    job: RecordJob,
    ctx: Context,
    /// Stream frames consumed.
    position: u64,
    next_event: Option<TakeEvent>,
    take: Option<Take>,
    /// The rest of a failed take is discarded.
    failed: bool,
    /// Interleaved frames heard while armed, newest last.
    preroll: VecDeque<f32>,
    preroll_frames: u64,
    buffer: Vec<f32>,
}

impl Recorder {
    fn new(job: RecordJob, ctx: Context) -> Recorder {
        let preroll_frames = job.preroll_frames;
        Recorder {
            job,
            ctx,
            position: 0,
            next_event: None,
            take: None,
            failed: false,
            preroll: VecDeque::new(),
            preroll_frames,
            buffer: Vec::new(),
        }
    }

    fn fail(&mut self, message: String) {
        self.ctx.report(DiskReport::Failed {
            node: self.ctx.node.clone(),
            message,
        });
        self.failed = true;
        if let Some(take) = self.take.take() {
            // After a failed write the guard refuses this, and the header
            // as last flushed stands.
            let _ = take.writer.finalize();
        }
    }

    fn start(&mut self, encoding: Encoding) {
        self.close();
        self.failed = false;
        let path = match self.next_path() {
            Ok(path) => path,
            Err(message) => return self.fail(message),
        };
        let (bits, sample_format) = match encoding {
            Encoding::F32 => (32, hound::SampleFormat::Float),
            Encoding::I24 => (24, hound::SampleFormat::Int),
            Encoding::I16 => (16, hound::SampleFormat::Int),
        };
        let spec = hound::WavSpec {
            channels: self.job.channels as u16,
            sample_rate: self.job.sample_rate,
            bits_per_sample: bits,
            sample_format,
        };
        let replace = matches!(self.job.destination, Destination::File(_));
        let opened = self
            .ctx
            .files
            .create(&path, replace)
            .map_err(hound::Error::IoError)
            .and_then(|file| hound::WavWriter::new(Guarded { file, failed: false }, spec));
        let writer = match opened {
            Ok(writer) => writer,
            Err(e) => return self.fail(format!("cannot record to {}: {e}", path.display())),
        };
        self.ctx.report(DiskReport::Started {
            node: self.ctx.node.clone(),
            path: path.clone(),
        });
        self.take = Some(Take {
            writer,
            path,
            encoding,
            frames: 0,
            unflushed: 0,
        });
        let preroll: Vec<f32> = self.preroll.drain(..).collect();
        self.write(&preroll);
    }

    /// The file the next take goes to: the destination's file, or the next
    /// free number in the take folder (created if missing).
    fn next_path(&self) -> Result<PathBuf, String> {
        let (folder, name) = match &self.job.destination {
            Destination::File(path) => {
                let path = self.ctx.resolve(path);
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create the folder {}: {e}", parent.display()))?;
                }
                return Ok(path);
            }
            Destination::Takes { folder, name } => (self.ctx.resolve(folder), name),
        };
        std::fs::create_dir_all(&folder)
            .map_err(|e| format!("cannot create the take folder {}: {e}", folder.display()))?;
        let next = highest_take(&folder, name)
            .map_err(|e| format!("cannot read the take folder {}: {e}", folder.display()))?
            + 1;
        Ok(folder.join(take_file_name(name, next)))
    }

    fn close(&mut self) {
        if let Some(take) = self.take.take() {
            let (path, frames) = (take.path.clone(), take.frames);
            match take.writer.finalize() {
                Ok(()) => self.ctx.report(DiskReport::Finished {
                    node: self.ctx.node.clone(),
                    path,
                    frames,
                }),
                Err(e) => self.fail(format!("cannot finish {}: {e}", path.display())),
            }
        }
    }

    /// Route interleaved frames: into the take, the pre-roll, or nowhere.
    fn write(&mut self, samples: &[f32]) {
        let channels = self.job.channels;
        if let Some(take) = &mut self.take {
            let result = write_samples(&mut take.writer, samples, take.encoding).and_then(|()| {
                let frames = (samples.len() / channels) as u64;
                take.frames += frames;
                take.unflushed += frames;
                if take.unflushed as f64 >= HEADER_EVERY_SECONDS * self.job.sample_rate as f64 {
                    take.unflushed = 0;
                    take.writer.flush()?;
                }
                Ok(())
            });
            if let Err(e) = result {
                let message = format!(
                    "recording stopped: cannot write {}: {e}; the file keeps what was written before",
                    take.path.display()
                );
                self.fail(message);
            }
        } else if !self.failed && self.preroll_frames > 0 {
            self.preroll.extend(samples);
            let keep = self.preroll_frames as usize * channels;
            let extra = self.preroll.len().saturating_sub(keep);
            self.preroll.drain(..extra);
        }
    }

    fn apply(&mut self, event: TakeEvent) {
        match event {
            TakeEvent::Start { encoding, .. } => self.start(encoding),
            TakeEvent::Stop { .. } => {
                self.close();
                self.failed = false;
            }
            TakeEvent::Pause { .. } => self.preroll.clear(),
            TakeEvent::Gap { frames, .. } => {
                // Lost frames become silence, so what follows stays in time.
                let silence = vec![0.0; frames as usize * self.job.channels];
                self.write(&silence);
            }
            TakeEvent::Preroll { frames, .. } => {
                self.preroll_frames = frames;
                let extra = self
                    .preroll
                    .len()
                    .saturating_sub(frames as usize * self.job.channels);
                self.preroll.drain(..extra);
            }
        }
    }
}

impl Work for Recorder {
    fn step(&mut self) -> Progress {
        // Frames first, then events: the audio side pushes a block's events
        // before its frames, so every event stamped inside the frames seen
        // here is visible below.
        let channels = self.job.channels;
        let available = self.job.samples.slots() / channels;
        if self.next_event.is_none() {
            self.next_event = self.job.events.pop().ok();
        }
        let until_event = self
            .next_event
            .map_or(usize::MAX, |e| e.at().saturating_sub(self.position) as usize);
        let frames = available.min(until_event).min(STEP_FRAMES);
        if frames > 0 {
            let Ok(chunk) = self.job.samples.read_chunk(frames * channels) else {
                return Progress::Idle;
            };
            let mut buffer = std::mem::take(&mut self.buffer);
            buffer.clear();
            let (a, b) = chunk.as_slices();
            buffer.extend_from_slice(a);
            buffer.extend_from_slice(b);
            chunk.commit_all();
            self.write(&buffer);
            self.buffer = buffer;
            self.position += frames as u64;
            return Progress::Busy;
        }
        if let Some(event) = self.next_event.filter(|e| e.at() <= self.position) {
            self.next_event = None;
            self.apply(event);
            return Progress::Busy;
        }
        if self.job.samples.is_abandoned() && self.job.samples.is_empty() && self.next_event.is_none() {
            // The processor is gone and everything it sent is written.
            if self.job.events.is_empty() {
                self.close();
                return Progress::Finished;
            }
            return Progress::Busy;
        }
        Progress::Idle
    }

    fn finish(&mut self) {
        // Write what has arrived (frames and the events up to them), then close.
        while self.step() == Progress::Busy {}
        self.close();
    }
}

/// `vocal-007.wav` for take 7 of `vocal`.
pub fn take_file_name(name: &str, number: u32) -> String {
    format!("{name}-{number:03}.wav")
}

/// The highest take number of `name` in `folder` (0 if none).
fn highest_take(folder: &Path, name: &str) -> std::io::Result<u32> {
    let prefix = format!("{name}-");
    let mut highest = 0;
    for entry in std::fs::read_dir(folder)? {
        let file_name = entry?.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let number = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".wav"))
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u32>().ok());
        if let Some(n) = number {
            highest = highest.max(n);
        }
    }
    Ok(highest)
}

fn write_samples(
    writer: &mut hound::WavWriter<Guarded>,
    samples: &[f32],
    encoding: Encoding,
) -> Result<(), hound::Error> {
    match encoding {
        Encoding::F32 => samples.iter().try_for_each(|&x| writer.write_sample(x)),
        Encoding::I24 => samples
            .iter()
            .try_for_each(|&x| writer.write_sample(crate::render::quantize(x, 8_388_607.0))),
        Encoding::I16 => {
            let mut sixteen = writer.get_i16_writer(samples.len() as u32);
            for &x in samples {
                sixteen.write_sample(crate::render::quantize(x, 32_767.0) as i16);
            }
            sixteen.flush()
        }
    }
}
