//! Playing audio files: the `player` (a file streamed from disk or
//! preloaded, with loop, start/end points and varispeed) and the `sampler`
//! (a preloaded sample voice triggered by a gate, pitched by a note).
//!
//! A node may not open a file, wait for one or start a thread. At `build`
//! (control thread) a processor makes its rings, keeps the audio-side ends
//! and hands the far ends to its host as a [`FileJob`]; the host
//! (`patchbay_io::playback`) decodes the file, converts it to the engine's
//! rate and either delivers it whole as a [`Clip`] or keeps a ring of
//! [`StreamFrame`]s filled from disk. The audio thread only pops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use patchbay_core::{ParamSpec, Unit};

pub mod player;
pub mod sampler;

pub use player::PLAYER;
pub use sampler::SAMPLER;

/// Longest fade that hides a jump (stop, retrigger) from the ear, in seconds.
pub(crate) const DECLICK_S: f64 = 0.003;

/// A point in a file (`start`, `end`), in seconds: up to a day, whether
/// the file streams (player) or is preloaded (sampler).
pub(crate) const fn point(name: &'static str, doc: &'static str) -> ParamSpec {
    ParamSpec::new(name, 0.0, 86_400.0, 0.0)
        .unit(Unit::Seconds)
        .smoothing(0.0)
        .doc(doc)
}

/// A file's audio at the engine's rate, in memory, as stereo frames (a mono
/// file is on both sides; a wider one gives its first two channels).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Clip {
    frames: Vec<[f32; 2]>,
}

impl Clip {
    /// A clip of `channels` (one `Vec` per channel, all as long).
    pub fn new(channels: &[Vec<f32>]) -> Clip {
        let frames = match channels {
            [] => Vec::new(),
            [mono] => mono.iter().map(|&x| [x, x]).collect(),
            [left, right, ..] => left.iter().zip(right).map(|(&l, &r)| [l, r]).collect(),
        };
        Clip { frames }
    }

    /// Length in frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when it holds no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frame `i` (silence past the end).
    #[inline]
    pub fn frame(&self, i: usize) -> [f32; 2] {
        self.frames.get(i).copied().unwrap_or([0.0; 2])
    }
}

/// Where a player plays: from `start_s` to `end_s` (0: the end of the
/// file), and again from `start_s` when `looping`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Region {
    /// Start, in seconds from the start of the file.
    pub start_s: f64,
    /// End, in seconds from the start of the file; 0 means the file's end.
    pub end_s: f64,
    /// Play the region over and over.
    pub looping: bool,
}

impl Region {
    /// The region in frames of a file `len` frames long at `rate`:
    /// `start..end`, empty when the points cross.
    pub fn frames(&self, rate: f64, len: usize) -> std::ops::Range<usize> {
        let at = |s: f64| ((s * rate).round().max(0.0) as usize).min(len);
        let start = at(self.start_s);
        let end = if self.end_s > 0.0 { at(self.end_s) } else { len };
        start..end.max(start)
    }
}

/// One frame of a streamed file on its way to the audio thread, tagged
/// with the pass it belongs to; a frame with `end` marks the end of a pass
/// that does not loop and carries no sound.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamFrame {
    /// The pass ([`StreamControl::pass`]) the reader was serving.
    pub pass: u32,
    /// The region is over (no sound in `frame`).
    pub end: bool,
    /// Left and right.
    pub frame: [f32; 2],
}

/// What the audio thread asks of a streamed file's reader, and what it
/// reports back: lock-free, each field one atomic.
#[derive(Debug, Default)]
pub struct StreamControl {
    /// Bumped by the audio thread to have the region read again from its
    /// start (play, retrigger).
    pass: AtomicU32,
    start_s: AtomicU64,
    end_s: AtomicU64,
    looping: AtomicBool,
    /// Frames the audio thread wanted and the ring did not have.
    underruns: AtomicU64,
}

impl StreamControl {
    fn new(region: Region) -> StreamControl {
        let control = StreamControl::default();
        control.set_region(region);
        control
    }

    /// The pass the audio thread is waiting for or playing.
    pub fn pass(&self) -> u32 {
        self.pass.load(Ordering::Acquire)
    }

    /// The region as last set by the audio thread.
    pub fn region(&self) -> Region {
        Region {
            start_s: f64::from_bits(self.start_s.load(Ordering::Relaxed)),
            end_s: f64::from_bits(self.end_s.load(Ordering::Relaxed)),
            looping: self.looping.load(Ordering::Relaxed),
        }
    }

    /// Frames the audio thread found missing (expected zero).
    pub fn underruns(&self) -> u64 {
        self.underruns.load(Ordering::Relaxed)
    }

    fn set_region(&self, region: Region) {
        self.start_s.store(region.start_s.to_bits(), Ordering::Relaxed);
        self.end_s.store(region.end_s.to_bits(), Ordering::Relaxed);
        self.looping.store(region.looping, Ordering::Relaxed);
    }

    /// Start a new pass (its region stored before, so a reader that sees
    /// the new pass sees the region too).
    fn next_pass(&self) -> u32 {
        self.pass.fetch_add(1, Ordering::AcqRel).wrapping_add(1)
    }
}

/// The far ends of a streamed player's ring.
pub struct StreamEnds {
    /// Where the reader puts frames.
    pub frames: rtrb::Producer<StreamFrame>,
    /// What the audio thread asks for.
    pub control: Arc<StreamControl>,
}

/// A file node's disk work, handed to the host at build: open `file`,
/// decode it, convert it to `sample_rate`, then either push it whole into
/// `clip` or, when `stream` is offered and the file is long, keep
/// `stream.frames` filled.
pub struct FileJob {
    /// The node's id, for error messages.
    pub node: String,
    /// The file, as the `file` setting wrote it (relative to the patch).
    pub file: String,
    /// The engine's rate, which the clip or stream must be delivered at.
    pub sample_rate: u32,
    /// Where a preloaded file goes (capacity one).
    pub clip: rtrb::Producer<Box<Clip>>,
    /// Present when the node can play from a stream (the player).
    pub stream: Option<StreamEnds>,
}

/// Frames of stream a player's ring holds: two seconds at 48 kHz, so at
/// the fastest speed the reader still has half a second to come back.
pub const STREAM_RING_FRAMES: usize = 1 << 17;

/// The audio-side ends of a file node's rings.
pub(crate) struct FileEnds {
    pub clip: rtrb::Consumer<Box<Clip>>,
    pub stream: Option<(rtrb::Consumer<StreamFrame>, Arc<StreamControl>)>,
}

/// Make a file node's rings: its audio-side ends and, when it names a
/// file, the job for its host.
pub(crate) fn file_rings(
    node: &str,
    file: &str,
    sample_rate: f32,
    stream_region: Option<Region>,
) -> (FileEnds, Option<FileJob>) {
    let (clip_tx, clip_rx) = rtrb::RingBuffer::new(1);
    let stream = stream_region.map(|region| {
        let (tx, rx) = rtrb::RingBuffer::new(if file.is_empty() { 1 } else { STREAM_RING_FRAMES });
        let control = Arc::new(StreamControl::new(region));
        (tx, rx, control)
    });
    let (stream_ends, stream_consumer) = match stream {
        Some((tx, rx, control)) => (
            Some(StreamEnds {
                frames: tx,
                control: Arc::clone(&control),
            }),
            Some((rx, control)),
        ),
        None => (None, None),
    };
    let job = (!file.is_empty()).then(|| FileJob {
        node: node.to_string(),
        file: file.to_string(),
        sample_rate: sample_rate.round() as u32,
        clip: clip_tx,
        stream: stream_ends,
    });
    (
        FileEnds {
            clip: clip_rx,
            stream: stream_consumer,
        },
        job,
    )
}

/// Deliver `clip` for `job` as a host would after decoding its file (for
/// tests of the nodes without files).
#[cfg(test)]
pub(crate) fn deliver(job: &mut FileJob, clip: &Clip) {
    job.clip.push(Box::new(clip.clone())).expect("one clip per job");
}
