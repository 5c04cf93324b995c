//! Recording: the `record` node's audio half, and [`RecordFeed`], the
//! audio-side end of a recording that any host can also use (the CLI's
//! master recorder).
//!
//! The audio thread only pushes: interleaved frames into one ring, take
//! events (start, stop, pause, pre-roll length) stamped with the frame they
//! happen at into another. Nothing here opens a file: the far ends travel
//! as a [`RecordJob`] (a `DiskJob`) to a disk thread (`patchbay_io`), which
//! keeps the pre-roll, numbers takes and writes WAV. A block that does not
//! fit in the ring is lost, counted, and published; with the ring holding
//! [`RING_SECONDS`], that takes a disk stalled for that long.

use std::path::PathBuf;
use std::sync::Arc;

use patchbay_core::{
    DiskJob, NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, SettingKind,
    SettingSpec, Tap, Unit, no_latency,
};

/// Seconds of audio the ring to the disk thread holds: how long the disk
/// may stall before samples are lost.
pub const RING_SECONDS: f64 = 2.0;
/// Take events the event ring holds.
const EVENT_CAPACITY: usize = 1024;

/// How samples are stored in a take. The order is that of the `format`
/// parameter's choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// 32-bit float: every sample exactly as the engine made it.
    F32,
    /// 24-bit integer.
    I24,
    /// 16-bit integer.
    I16,
}

/// The `format` parameter's choices, in [`Encoding`] order.
pub const ENCODINGS: &[&str] = &["f32", "i24", "i16"];

impl Encoding {
    fn from_choice(value: f32) -> Encoding {
        match value.round() as i32 {
            1 => Encoding::I24,
            2 => Encoding::I16,
            _ => Encoding::F32,
        }
    }
}

/// Something that happens to the recording, at a frame of the stream (the
/// frames pushed so far, counting from 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TakeEvent {
    /// A take begins with frame `at`, preceded by the pre-roll kept.
    Start {
        /// First frame of the take.
        at: u64,
        /// How it is stored.
        encoding: Encoding,
    },
    /// The take ends before frame `at`.
    Stop {
        /// First frame not in the take.
        at: u64,
    },
    /// The stream pauses after frame `at - 1` (disarmed): what follows is
    /// not continuous with what came before, so the pre-roll kept is void.
    Pause {
        /// Frames streamed before the pause.
        at: u64,
    },
    /// From frame `at`, keep this many frames of pre-roll.
    Preroll {
        /// When it changed.
        at: u64,
        /// Frames to keep.
        frames: u64,
    },
    /// Before frame `at`, `frames` were lost (the ring was full): the disk
    /// side writes as much silence there, so the take keeps its timeline.
    Gap {
        /// Where the lost frames belong.
        at: u64,
        /// How many.
        frames: u64,
    },
}

impl TakeEvent {
    /// The frame the event happens at.
    pub fn at(&self) -> u64 {
        match *self {
            TakeEvent::Start { at, .. }
            | TakeEvent::Stop { at }
            | TakeEvent::Pause { at }
            | TakeEvent::Preroll { at, .. }
            | TakeEvent::Gap { at, .. } => at,
        }
    }
}

/// Where takes go.
#[derive(Clone, Debug, PartialEq)]
pub enum Destination {
    /// Numbered takes `name-001.wav`, `name-002.wav`, ... in `folder`
    /// (relative: to the patch's folder), after the highest number there.
    Takes {
        /// The folder, created if missing.
        folder: PathBuf,
        /// The file name stem.
        name: String,
    },
    /// One file, replaced if it exists.
    File(PathBuf),
}

/// The disk side of a recording: the far ends of its rings.
pub struct RecordJob {
    /// Channels per frame.
    pub channels: usize,
    /// Frames per second.
    pub sample_rate: u32,
    /// Where takes go.
    pub destination: Destination,
    /// Pre-roll frames to keep from the start (later changes are events).
    pub preroll_frames: u64,
    /// Interleaved frames.
    pub samples: rtrb::Consumer<f32>,
    /// What happens to them.
    pub events: rtrb::Consumer<TakeEvent>,
}

/// The audio side of a recording: pushes frames and take events, never
/// waits, counts what did not fit.
pub struct RecordFeed {
    channels: usize,
    samples: rtrb::Producer<f32>,
    events: rtrb::Producer<TakeEvent>,
    /// Frames pushed so far.
    streamed: u64,
    /// Frames that did not fit in the ring.
    lost: u64,
    /// Lost frames not yet announced to the disk side, and where.
    gap: u64,
    gap_at: u64,
    /// Frames of the current take that were lost (and become silence).
    take_lost: u64,
    /// Where the current (or last) take began and ended.
    take_start: u64,
    take_end: u64,
    takes: u64,
    streaming: bool,
    recording: bool,
}

/// A recording of `channels` at `sample_rate`: the audio-side feed and the
/// job for the disk side (control thread: allocates the rings).
pub fn recording(
    channels: usize,
    sample_rate: u32,
    destination: Destination,
    preroll_frames: u64,
) -> (RecordFeed, RecordJob) {
    let channels = channels.max(1);
    let frames = (RING_SECONDS * sample_rate as f64).ceil() as usize;
    let (samples, sample_end) = rtrb::RingBuffer::new(frames * channels);
    let (events, event_end) = rtrb::RingBuffer::new(EVENT_CAPACITY);
    let feed = RecordFeed {
        channels,
        samples,
        events,
        streamed: 0,
        lost: 0,
        gap: 0,
        gap_at: 0,
        take_lost: 0,
        take_start: 0,
        take_end: 0,
        takes: 0,
        streaming: false,
        recording: false,
    };
    let job = RecordJob {
        channels,
        sample_rate,
        destination,
        preroll_frames,
        samples: sample_end,
        events: event_end,
    };
    (feed, job)
}

impl RecordFeed {
    /// Channels per frame.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frames lost because the ring was full (expected: zero).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Frames in the current (or last) take, lost ones (silence) included.
    pub fn take_frames(&self) -> u64 {
        let end = if self.recording {
            self.streamed
        } else {
            self.take_end
        };
        end.saturating_sub(self.take_start) + self.take_lost
    }

    /// Takes started.
    pub fn takes(&self) -> u64 {
        self.takes
    }

    /// True while a take is being recorded.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Frames pushed so far: the stream position of the next frame.
    pub fn position(&self) -> u64 {
        self.streamed
    }

    /// True when a block of `frames` fits in the ring now (it stays true
    /// until it is pushed: only the audio side fills the ring). Take events
    /// inside a block that will not fit are stamped at its start.
    pub fn fits(&self, frames: usize) -> bool {
        self.samples.slots() >= frames * self.channels
    }

    /// Push one block, channel by channel (`channels[c]` holds `frames`
    /// samples; missing channels repeat the last), or count it lost if it
    /// does not fit (audio thread). Push a block's take events first: the
    /// disk side must know where a take starts before it sees the frames.
    pub fn push(&mut self, channels: &[&[f32]], frames: usize) {
        let last = channels.len().saturating_sub(1);
        self.push_frames(frames, |k, c| {
            channels
                .get(c.min(last))
                .and_then(|ch| ch.get(k))
                .copied()
                .unwrap_or(0.0)
        });
    }

    /// Push interleaved frames of this feed's width (a device's input, as
    /// captured), or count them lost (audio thread).
    pub fn push_interleaved(&mut self, samples: &[f32]) {
        let width = self.channels;
        self.push_frames(samples.len() / width, |k, c| samples[k * width + c]);
    }

    fn push_frames(&mut self, frames: usize, sample: impl Fn(usize, usize) -> f32) {
        self.streaming = true;
        // A gap is announced when the frames after it fit, so a stalled
        // disk costs one event however long it stalls; frames after a gap
        // wait until it is announced, so the silence lands before them.
        let fits = self.fits(frames) && self.announce_gap();
        let chunk = match fits {
            true => self.samples.write_chunk_uninit(frames * self.channels).ok(),
            false => None,
        };
        let Some(mut chunk) = chunk else {
            if self.gap == 0 {
                self.gap_at = self.streamed;
            }
            self.gap += frames as u64;
            self.lost += frames as u64;
            if self.recording {
                self.take_lost += frames as u64;
            }
            return;
        };
        let (first, second) = chunk.as_mut_slices();
        let (mut k, mut c) = (0, 0);
        for slot in first.iter_mut().chain(second.iter_mut()) {
            slot.write(sample(k, c));
            c += 1;
            if c == self.channels {
                c = 0;
                k += 1;
            }
        }
        // SAFETY: the loop above wrote every slot of both slices.
        unsafe { chunk.commit_all() };
        self.streamed += frames as u64;
    }

    /// Tell the disk side about frames lost so far; false if the event ring
    /// is full (try again with the next push or event).
    fn announce_gap(&mut self) -> bool {
        if self.gap == 0 {
            return true;
        }
        let event = TakeEvent::Gap {
            at: self.gap_at,
            frames: self.gap,
        };
        if self.events.push(event).is_err() {
            return false;
        }
        self.gap = 0;
        true
    }

    /// Start or stop a take at stream frame `at` (audio thread). Returns
    /// false, changing nothing, if the event ring is full: call again.
    pub fn set_recording(&mut self, on: bool, at: u64, encoding: Encoding) -> bool {
        if on == self.recording {
            return true;
        }
        let event = if on {
            TakeEvent::Start { at, encoding }
        } else {
            TakeEvent::Stop { at }
        };
        // Lost frames before this event are announced first, in order.
        if !self.announce_gap() || self.events.push(event).is_err() {
            return false;
        }
        self.recording = on;
        if on {
            self.takes += 1;
            self.take_start = at;
            self.take_lost = 0;
        } else {
            self.take_end = at;
        }
        true
    }

    /// Stop streaming (disarmed): ends a take and voids the pre-roll.
    pub fn pause(&mut self) {
        if !self.streaming {
            return;
        }
        let at = self.streamed;
        if self.set_recording(false, at, Encoding::F32)
            && self.announce_gap()
            && self.events.push(TakeEvent::Pause { at }).is_ok()
        {
            self.streaming = false;
        }
    }

    /// Keep `frames` of pre-roll from now on.
    pub fn set_preroll(&mut self, frames: u64) -> bool {
        self.announce_gap()
            && self
                .events
                .push(TakeEvent::Preroll {
                    at: self.streamed,
                    frames,
                })
                .is_ok()
    }
}

/// Recorder states, the `state` parameter's choices.
const STOP: f32 = 0.0;
const RECORD: f32 = 2.0;

/// Readings the recorder publishes, in this order.
pub mod readings {
    /// 1 while a take is being recorded.
    pub const RECORDING: usize = 0;
    /// 1 while armed or recording (audio is streaming to the disk thread).
    pub const STREAMING: usize = 1;
    /// Seconds in the current (or last) take.
    pub const TAKE_SECONDS: usize = 2;
    /// Frames lost because the disk fell behind (expected: zero).
    pub const LOST_FRAMES: usize = 3;
    /// Takes started.
    pub const TAKES: usize = 4;
    /// How many readings.
    pub const COUNT: usize = 5;
}

/// The recorder node.
pub static RECORD_NODE: NodeDescriptor = NodeDescriptor {
    kind: "record",
    category: "io",
    summary: "Records its input (1 to 32 channels) to numbered WAV takes, NAME-001.wav, NAME-002.wav, ..., written \
              by a disk thread. Armed, it records while the gate is high; `state` = record records until stopped. \
              Readings: recording, streaming, take seconds, lost frames, takes.",
    inputs: &[
        PortSpec::audio("in", "What to record, 1 to 32 channels.").follows(),
        PortSpec::control("gate", "While armed: a take runs while this is above 0.5 (punch in and out)."),
    ],
    outputs: &[],
    params: &[
        ParamSpec::choice("state", &["stop", "arm", "record"], 1)
            .doc("stop: idle; arm: ready, keeping the pre-roll, recording while the gate is high; record: recording. Every start is a new take."),
        ParamSpec::choice("format", ENCODINGS, 0).doc("Sample encoding of new takes: 32-bit float, 24- or 16-bit integer."),
        ParamSpec::new("preroll", 0.0, 10.0, 0.0)
            .unit(Unit::Seconds)
            .smoothing(0.0)
            .doc("Audio from before the start (heard while armed) that a take begins with."),
    ],
    settings: &[
        SettingSpec::new("folder", SettingKind::Folder, ".")
            .doc("Where takes go; created if missing. Relative to the patch's folder."),
        SettingSpec::new("name", SettingKind::Name, "")
            .doc("Takes are called NAME-001.wav, NAME-002.wav, ... after the highest number there; empty: the node's id."),
    ],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: build_recorder,
};

fn build_recorder(ctx: &NodeContext) -> Box<dyn Processor> {
    let name = match ctx.setting(1) {
        "" => ctx.id.to_string(),
        name => name.to_string(),
    };
    let destination = Destination::Takes {
        folder: PathBuf::from(ctx.setting(0)),
        name,
    };
    let rate = ctx.sample_rate.round() as u32;
    let preroll = preroll_frames(ctx.param(2), ctx.sample_rate);
    let (feed, job) = recording(ctx.channels, rate, destination, preroll);
    Box::new(Recorder {
        feed,
        job: Some(job),
        state: ctx.param(0),
        encoding: Encoding::from_choice(ctx.param(1)),
        preroll,
        preroll_sent: preroll,
        sample_rate: ctx.sample_rate,
        tap: Tap::new(readings::COUNT),
        readings: [0.0; readings::COUNT],
    })
}

fn preroll_frames(seconds: f32, sample_rate: f32) -> u64 {
    (seconds.max(0.0) as f64 * sample_rate as f64).round() as u64
}

struct Recorder {
    feed: RecordFeed,
    job: Option<RecordJob>,
    state: f32,
    encoding: Encoding,
    preroll: u64,
    preroll_sent: u64,
    sample_rate: f32,
    tap: Arc<Tap>,
    readings: [f32; readings::COUNT],
}

impl Processor for Recorder {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let state = self.state.round();
        if state == STOP {
            self.feed.pause();
        } else {
            if self.preroll != self.preroll_sent && self.feed.set_preroll(self.preroll) {
                self.preroll_sent = self.preroll;
            }
            let frames = io.frames();
            let mut channels: [&[f32]; patchbay_core::compile::MAX_CHANNELS] =
                [&[]; patchbay_core::compile::MAX_CHANNELS];
            let width = io.input_channels(0).min(channels.len());
            for (c, slot) in channels.iter_mut().enumerate().take(width) {
                *slot = io.input(0, c);
            }
            let start = self.feed.position();
            // A block that will be lost moves no frames: its events land where it would have begun.
            let step = u64::from(self.feed.fits(frames));
            if state == RECORD {
                self.feed.set_recording(true, start, self.encoding);
            } else {
                let gate = io.input(1, 0);
                for (k, &g) in gate.iter().enumerate() {
                    self.feed
                        .set_recording(g > 0.5, start + step * k as u64, self.encoding);
                }
            }
            self.feed.push(&channels[..width], frames);
        }
        self.readings[readings::RECORDING] = f32::from(u8::from(self.feed.is_recording()));
        self.readings[readings::STREAMING] = f32::from(u8::from(self.feed.streaming));
        self.readings[readings::TAKE_SECONDS] = self.feed.take_frames() as f32 / self.sample_rate;
        self.readings[readings::LOST_FRAMES] = self.feed.lost() as f32;
        self.readings[readings::TAKES] = self.feed.takes() as f32;
        self.tap.publish(&self.readings);
    }

    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.state = value,
            1 => self.encoding = Encoding::from_choice(value),
            2 => self.preroll = preroll_frames(value, self.sample_rate),
            _ => {}
        }
    }

    fn tap(&self) -> Option<Arc<Tap>> {
        Some(self.tap.clone())
    }

    fn disk_job(&mut self) -> Option<DiskJob> {
        self.job.take().map(DiskJob::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::node;
    use patchbay_core::{CompileOptions, LiveEngine, Patch};

    fn drain(job: &mut RecordJob) -> (Vec<f32>, Vec<TakeEvent>) {
        let mut samples = Vec::new();
        while let Ok(x) = job.samples.pop() {
            samples.push(x);
        }
        let mut events = Vec::new();
        while let Ok(e) = job.events.pop() {
            events.push(e);
        }
        (samples, events)
    }

    /// A recorder on a 1-per-frame ramp (stereo: +0.5 on the right), gated
    /// by a square at 1000 Hz: 24 frames high, 24 low at 48 kHz.
    fn gated(state: &str) -> (LiveEngine, patchbay_core::Runtime, RecordJob) {
        let mut patch = Patch::default();
        patch.nodes.push(node("gate", "square", &[("freq", 1000.0)]));
        patch.nodes.push(node("rec", "record", &[]));
        patch.nodes.push(node("ramp", "phasor", &[("freq", 1.0)]));
        patch.node_mut("rec").unwrap().params.insert(
            "state".into(),
            ["stop", "arm", "record"]
                .iter()
                .position(|s| *s == state)
                .unwrap() as f64,
        );
        patch
            .connect("ramp.out", "rec.in")
            .connect("gate.out", "rec.gate");
        let (mut live, runtime) =
            LiveEngine::start(patch, crate::registry(), CompileOptions::default()).unwrap();
        let (id, job) = live.take_disk_jobs().pop().expect("the recorder's job");
        assert_eq!(id, "rec");
        (live, runtime, job.downcast::<RecordJob>().expect("a record job"))
    }

    #[test]
    fn the_gate_starts_and_stops_takes_on_its_exact_frames() {
        let (_live, mut runtime, mut job) = gated("arm");
        assert_eq!(
            job.destination,
            Destination::Takes {
                folder: ".".into(),
                name: "rec".into()
            }
        );
        for _ in 0..3 {
            runtime.process_block();
        }
        let (samples, events) = drain(&mut job);
        assert_eq!(
            samples.len(),
            3 * 64,
            "armed: every frame streams (for the pre-roll)"
        );
        // Where the gate crosses 0.5, measured on the same square alone.
        let mut alone = Patch::default();
        alone.nodes.push(node("gate", "square", &[("freq", 1000.0)]));
        alone.nodes.push(node("out", "output", &[]));
        alone.connect("gate.out", "out.in");
        let (gate, _) = crate::testing::render_patch(&alone, 3 * 64, 48_000);
        let mut edges = (vec![], vec![]);
        let mut high = false;
        for (k, &g) in gate.iter().enumerate() {
            if (g > 0.5) != high {
                high = !high;
                if high {
                    edges.0.push(k as u64)
                } else {
                    edges.1.push(k as u64)
                }
            }
        }
        assert!(edges.0.len() >= 3 && edges.1.len() >= 3, "{edges:?}");
        let starts: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                TakeEvent::Start { at, .. } => Some(*at),
                _ => None,
            })
            .collect();
        let stops: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                TakeEvent::Stop { at } => Some(*at),
                _ => None,
            })
            .collect();
        assert_eq!((starts, stops), edges);
    }

    #[test]
    fn recording_ignores_the_gate_and_stopping_pauses_the_stream() {
        let (mut live, mut runtime, mut job) = gated("record");
        runtime.process_block();
        live.set_param("rec", "state", 0.0).unwrap();
        runtime.process_block();
        runtime.process_block();
        let (samples, events) = drain(&mut job);
        assert_eq!(samples.len(), 64);
        assert_eq!(
            events,
            [
                TakeEvent::Start {
                    at: 0,
                    encoding: Encoding::F32
                },
                TakeEvent::Stop { at: 64 },
                TakeEvent::Pause { at: 64 }
            ]
        );
        let tap = live.tap("rec").unwrap().snapshot();
        assert_eq!(tap[readings::TAKES], 1.0);
        assert_eq!(tap[readings::RECORDING], 0.0);
        assert_eq!(tap[readings::TAKE_SECONDS], 64.0 / 48_000.0);
    }

    #[test]
    fn a_full_ring_loses_whole_blocks_and_counts_them() {
        let (live, mut runtime, mut job) = gated("record");
        let capacity_blocks = (RING_SECONDS * 48_000.0 / 64.0) as usize;
        for _ in 0..capacity_blocks + 10 {
            runtime.process_block();
        }
        let tap = live.tap("rec").unwrap().snapshot();
        assert_eq!(tap[readings::LOST_FRAMES], 10.0 * 64.0);
        let (samples, _) = drain(&mut job);
        assert_eq!(
            samples.len(),
            capacity_blocks * 64,
            "what fitted is whole and in order"
        );
        // Once there is room again the gap is announced, before the frames
        // after it, so the disk side can keep the take's timeline.
        runtime.process_block();
        let (samples, events) = drain(&mut job);
        assert_eq!(samples.len(), 64);
        assert_eq!(
            events,
            [TakeEvent::Gap {
                at: capacity_blocks as u64 * 64,
                frames: 640
            }]
        );
        let seconds = live.tap("rec").unwrap().snapshot()[readings::TAKE_SECONDS];
        assert_eq!(
            seconds,
            (capacity_blocks + 11) as f32 * 64.0 / 48_000.0,
            "lost frames count in the take"
        );
    }
}
