//! The host side of the file nodes (`player`, `sampler`): a [`FileReader`]
//! opens a node's file, preloads it whole when it is short (or when the
//! node cannot stream), and otherwise keeps the node's ring filled from
//! disk, pass by pass, as the audio thread asks.
//!
//! Not here: anything on the audio thread. A reader runs on a thread of its
//! own in live hosts and between blocks in offline ones, so a render never
//! depends on how fast the disk was.

use std::collections::VecDeque;
use std::ops::Range;
use std::path::{Path, PathBuf};

use patchbay_core::DiskJob;
use patchbay_nodes::playback::{Clip, FileJob, StreamFrame};

use crate::disk::{Claim, Context, DiskReport, Progress, Work};

use crate::decode::{AudioReader, DecodeError, decode};
use crate::resample::{StreamResampler, resample};

/// Files up to this long are decoded whole into memory; longer ones are
/// streamed (when the node can stream).
pub const PRELOAD_MAX_S: f64 = 20.0;

/// Frames decoded per read while streaming.
const READ_FRAMES: usize = 4096;

/// A file node's file could not be played.
#[derive(Debug, thiserror::Error)]
#[error("node `{node}`: {source}")]
pub struct FileError {
    /// The node.
    pub node: String,
    /// What was wrong with its file.
    #[source]
    pub source: DecodeError,
}

/// What a reader still has to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Its ring is full (or its pass is over): call again later.
    Idle,
    /// Nothing more, ever: the clip was delivered, or the node is gone.
    Finished,
}

/// A file node's job, being served.
pub struct FileReader {
    job: FileJob,
    path: PathBuf,
    stream: Option<Streaming>,
}

/// The state of a streamed file.
struct Streaming {
    reader: AudioReader,
    resampler: StreamResampler,
    /// The pass being read, once one has started.
    pass: Option<u32>,
    looping: bool,
    /// The region, in the file's frames.
    range: Range<u64>,
    /// Converted frames not yet in the ring.
    ready: VecDeque<StreamFrame>,
    decoded: Vec<Vec<f32>>,
    converted: Vec<Vec<f32>>,
    /// The pass has been read to its end (and marked so).
    pass_done: bool,
    /// Frames read since the pass began or last looped.
    read_since_wrap: u64,
}

impl FileReader {
    /// Open `job`'s file (relative paths from `base`): a short one is
    /// decoded and delivered now, so a damaged file is refused before the
    /// node plays. Control thread.
    pub fn open(mut job: FileJob, base: &Path) -> Result<FileReader, FileError> {
        let path = base.join(&job.file);
        let fail = |source| FileError {
            node: job.node.clone(),
            source,
        };
        let reader = AudioReader::open(&path).map_err(fail)?;
        let long = reader
            .frames()
            .is_none_or(|n| n as f64 / reader.sample_rate() as f64 > PRELOAD_MAX_S);
        if job.stream.is_some() && long {
            let channels = reader.channels();
            let resampler = StreamResampler::new(reader.sample_rate(), job.sample_rate, channels);
            return Ok(FileReader {
                path,
                stream: Some(Streaming {
                    reader,
                    resampler,
                    pass: None,
                    looping: false,
                    range: 0..0,
                    ready: VecDeque::new(),
                    decoded: vec![Vec::new(); channels],
                    converted: vec![Vec::new(); channels],
                    pass_done: false,
                    read_since_wrap: 0,
                }),
                job,
            });
        }
        drop(reader);
        let audio = resample(&decode(&path).map_err(fail)?, job.sample_rate);
        // The node's ring holds exactly one clip and this is the first.
        let _ = job.clip.push(Box::new(Clip::new(&audio.channels)));
        Ok(FileReader {
            job,
            path,
            stream: None,
        })
    }

    /// The file, as opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the file is streamed rather than preloaded.
    pub fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// Do what is due: start the pass the audio thread asks for, then fill
    /// the ring. Reader thread (or the offline host, between blocks).
    pub fn service(&mut self) -> Result<Service, FileError> {
        let (Some(stream), Some(ends)) = (&mut self.stream, &mut self.job.stream) else {
            return Ok(Service::Finished);
        };
        if ends.frames.is_abandoned() {
            return Ok(Service::Finished);
        }
        let fail = |source| FileError {
            node: self.job.node.clone(),
            source,
        };
        let pass = ends.control.pass();
        if stream.pass != Some(pass) {
            let region = ends.control.region();
            let rate = stream.reader.sample_rate() as f64;
            let len = stream.reader.frames().unwrap_or(u64::MAX);
            let frames = region.frames(rate, len.min(usize::MAX as u64) as usize);
            stream.range = frames.start as u64..frames.end as u64;
            stream.looping = region.looping;
            stream.pass = Some(pass);
            stream.ready.clear();
            stream.restart().map_err(fail)?;
        }
        loop {
            while ends.frames.slots() > 0
                && let Some(frame) = stream.ready.pop_front()
            {
                let _ = ends.frames.push(frame);
            }
            if ends.frames.slots() == 0 || stream.pass_done {
                return Ok(Service::Idle);
            }
            stream.read_more(pass).map_err(fail)?;
        }
    }
}

impl Streaming {
    /// Start the pass: from the region's start, as from silence.
    fn restart(&mut self) -> Result<(), DecodeError> {
        self.reader.seek(self.range.start)?;
        self.resampler.reset();
        self.pass_done = false;
        self.read_since_wrap = 0;
        Ok(())
    }

    /// Decode, convert and queue the next stretch of the pass. A loop is
    /// spliced before conversion, so the converter runs on across it as
    /// over any other sound.
    fn read_more(&mut self, pass: u32) -> Result<(), DecodeError> {
        let left = self.range.end.saturating_sub(self.reader.position());
        self.decoded.iter_mut().for_each(Vec::clear);
        self.converted.iter_mut().for_each(Vec::clear);
        let n = if left == 0 {
            0
        } else {
            self.reader
                .read_into(&mut self.decoded, READ_FRAMES.min(left as usize))?
        };
        self.read_since_wrap += n as u64;
        let over = n == 0;
        // A loop whose region holds nothing would spin: it ends instead.
        let wrap = over && self.looping && self.read_since_wrap > 0;
        self.resampler
            .push(&self.decoded, over && !wrap, &mut self.converted);
        let [first, rest @ ..] = self.converted.as_slice() else {
            return Ok(());
        };
        let second = rest.first().unwrap_or(first);
        self.ready
            .extend(first.iter().zip(second).map(|(&l, &r)| StreamFrame {
                pass,
                end: false,
                frame: [l, r],
            }));
        if wrap {
            self.reader.seek(self.range.start)?;
            self.read_since_wrap = 0;
        } else if over {
            self.ready.push_back(StreamFrame {
                pass,
                end: true,
                frame: [0.0; 2],
            });
            self.pass_done = true;
        }
        Ok(())
    }
}

/// The disk side of a file node, as the hosts run it.
struct FileWork {
    reader: FileReader,
    ctx: Context,
}

/// A file node's job turned into disk work: its file opened (and, when
/// short, decoded and delivered) now. A file that cannot be read fails the
/// start, naming it; its node stays silent.
pub fn runner(job: DiskJob, ctx: &Context) -> Claim {
    let job = match job.downcast::<FileJob>() {
        Ok(job) => job,
        Err(job) => return Claim::NotMine(job),
    };
    match FileReader::open(job, &ctx.base_dir) {
        Ok(reader) => Claim::Started(Box::new(FileWork {
            reader,
            ctx: ctx.clone(),
        })),
        Err(e) => Claim::Failed(e.source.to_string()),
    }
}

impl Work for FileWork {
    fn step(&mut self) -> Progress {
        match self.reader.service() {
            Ok(Service::Idle) => Progress::Idle,
            Ok(Service::Finished) => Progress::Finished,
            Err(e) => {
                self.ctx.report(DiskReport::Failed {
                    node: self.ctx.node.clone(),
                    message: e.source.to_string(),
                });
                Progress::Finished
            }
        }
    }
    fn finish(&mut self) {}
}
