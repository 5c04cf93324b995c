//! `input`: the host's input channels as a node: a sound card's capture
//! channels live, a recording (`patchbay render --input FILE`) offline.
//!
//! Like the file nodes, the node never touches a device or a file: at
//! `build` it makes a ring of interleaved frames, keeps the reading end and
//! hands the writing end to its host as an [`InputJob`]. The host (a device
//! input callback, or a file reader pumped before every block) pushes; the
//! audio thread only pops. A frame not there in time is silence, counted,
//! never waited for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use patchbay_core::{
    DiskJob, NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Tap, no_latency,
};

/// Frames the ring holds: a device period or an offline block many times
/// over (blocks are at most 8192 frames).
pub const RING_FRAMES: usize = 1 << 15;

/// Frames of latency a live input keeps in reserve: frames that stayed in
/// the ring beyond this for a whole [`TRIM_WINDOW_S`] are never going to be
/// needed, only heard late, and are dropped.
pub const SLACK_FRAMES: usize = 256;
/// How long the ring's lowest fill is watched before excess is dropped.
pub const TRIM_WINDOW_S: f64 = 0.5;

/// Readings the input node publishes, in this order.
pub mod readings {
    /// Frames that were not there in time (played as silence).
    pub const MISSING_FRAMES: usize = 0;
    /// Frames dropped: the ring was full when the host pushed them, or
    /// they were dropped to keep a live input's latency low.
    pub const DROPPED_FRAMES: usize = 1;
    /// How many readings.
    pub const COUNT: usize = 2;
}

/// What the node and its host share: counters, the live flag and the
/// first channel taken.
#[derive(Debug, Default)]
pub struct InputShared {
    live: AtomicBool,
    dropped: AtomicU64,
    /// The host's channel that feeds the node's first (0-based).
    first: AtomicUsize,
}

impl InputShared {
    /// Count frames the host could not push (ring full).
    pub fn count_dropped(&self, frames: u64) {
        self.dropped.fetch_add(frames, Ordering::Relaxed);
    }

    /// Frames dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The far end of an input node's ring, for its host.
pub struct InputJob {
    /// The node's id, for messages.
    pub node: String,
    /// Channels per frame in the ring.
    pub channels: usize,
    /// The engine's rate, which frames must arrive at.
    pub sample_rate: u32,
    /// Interleaved frames, `channels` samples each.
    pub frames: rtrb::Producer<f32>,
    /// Counters shared with the node.
    pub shared: Arc<InputShared>,
}

impl InputJob {
    /// A live host (a device callback) feeds this input: a frame arrives
    /// when the device captured it, so frames that pile up in the ring are
    /// latency, which the node trims. Offline hosts fill the ring ahead and
    /// must not call this.
    pub fn set_live(&self) {
        self.shared.live.store(true, Ordering::Release);
    }

    /// Push whole frames from `interleaved` (`channels` samples per frame,
    /// the job's own width), as many as fit; returns how many. A live host
    /// counts the rest as dropped ([`InputShared::count_dropped`]); an
    /// offline one pushes them later. Never blocks or allocates.
    pub fn push(&mut self, interleaved: &[f32]) -> usize {
        let frames = interleaved.len() / self.channels;
        let fit = (self.frames.slots() / self.channels).min(frames);
        if fit == 0 {
            return 0;
        }
        let Ok(mut chunk) = self.frames.write_chunk_uninit(fit * self.channels) else {
            return 0;
        };
        let (first, second) = chunk.as_mut_slices();
        let split = first.len();
        for (slot, &x) in first.iter_mut().zip(interleaved) {
            slot.write(x);
        }
        for (slot, &x) in second.iter_mut().zip(&interleaved[split..]) {
            slot.write(x);
        }
        // SAFETY: both slices were written in full above (`fit` frames of
        // `interleaved` cover them).
        unsafe { chunk.commit_all() };
        fit
    }

    /// True when the node is gone (rebuilt or removed).
    pub fn is_abandoned(&self) -> bool {
        self.frames.is_abandoned()
    }

    /// The host's channel (0-based) that feeds the node's first: the
    /// node's `first` parameter, which can change while it runs.
    pub fn first_channel(&self) -> usize {
        self.shared.first.load(Ordering::Relaxed)
    }
}

/// `first` (1-based, as the parameter reads) as a channel index.
fn first_index(first: f32) -> usize {
    (first.round().max(1.0) as usize) - 1
}

/// The index of the `first` parameter.
const FIRST: usize = 1;

/// The input node.
pub static INPUT: NodeDescriptor = NodeDescriptor {
    kind: "input",
    category: "io",
    summary: "The host's input channels: the sound card's (`patchbay play --input NAME`) or, when rendering, a \
              recording (`patchbay render --input FILE`). A frame that is not there in time is silence. \
              Readings: missing frames, dropped frames.",
    inputs: &[],
    outputs: &[PortSpec::audio("out", "The input channels, 1 to 32 (`channels`).").follows()],
    params: &[
        ParamSpec::new("channels", 1.0, 32.0, 2.0)
            .smoothing(0.0)
            .doc("How many input channels, from `first` on. Changing it rebuilds the node."),
        ParamSpec::new("first", 1.0, 32.0, 1.0).smoothing(0.0).doc(
            "The first input channel taken (1: the device's or recording's first), so that nodes can share an \
             interface's inputs. A device opens as wide as its input nodes reach when they appear; channels \
             past its end are silent.",
        ),
    ],
    settings: &[],
    channels_param: Some("channels"),
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: build_input,
};

fn build_input(ctx: &NodeContext) -> Box<dyn Processor> {
    let channels = ctx.channels.max(1);
    let (producer, consumer) = rtrb::RingBuffer::new(RING_FRAMES * channels);
    let shared = Arc::new(InputShared::default());
    shared
        .first
        .store(first_index(ctx.param(FIRST)), Ordering::Relaxed);
    let window = ((TRIM_WINDOW_S * ctx.sample_rate as f64) as usize / ctx.max_block.max(1)).max(1);
    Box::new(Input {
        frames: consumer,
        channels,
        job: Some(InputJob {
            node: ctx.id.to_string(),
            channels,
            sample_rate: ctx.sample_rate.round() as u32,
            frames: producer,
            shared: Arc::clone(&shared),
        }),
        shared,
        missing: 0,
        lowest_fill: usize::MAX,
        window,
        blocks_watched: 0,
        tap: Tap::new(readings::COUNT),
    })
}

struct Input {
    frames: rtrb::Consumer<f32>,
    channels: usize,
    job: Option<InputJob>,
    shared: Arc<InputShared>,
    missing: u64,
    /// The fewest frames the ring held at the start of a block, this window.
    lowest_fill: usize,
    window: usize,
    blocks_watched: usize,
    tap: Arc<Tap>,
}

impl Input {
    /// Live only: frames that sat in the ring for a whole window are
    /// latency nobody needs; drop them, keeping [`SLACK_FRAMES`] in reserve.
    fn trim(&mut self, available: usize) -> usize {
        self.lowest_fill = self.lowest_fill.min(available);
        self.blocks_watched += 1;
        if self.blocks_watched < self.window {
            return available;
        }
        let excess = self.lowest_fill.saturating_sub(SLACK_FRAMES);
        self.blocks_watched = 0;
        self.lowest_fill = usize::MAX;
        if excess == 0 {
            return available;
        }
        if let Ok(chunk) = self.frames.read_chunk(excess * self.channels) {
            chunk.commit_all();
        }
        self.shared.count_dropped(excess as u64);
        available - excess
    }
}

impl Processor for Input {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let width = io.output_channels(0);
        let mut available = self.frames.slots() / self.channels;
        if self.shared.live.load(Ordering::Acquire) {
            available = self.trim(available);
        }
        let take = available.min(frames);
        if let Ok(chunk) = self.frames.read_chunk(take * self.channels) {
            let (first, second) = chunk.as_slices();
            let at = |i: usize| {
                if i < first.len() {
                    first[i]
                } else {
                    second[i - first.len()]
                }
            };
            for c in 0..width {
                let source = c.min(self.channels - 1);
                let out = io.output(0, c);
                for (k, x) in out[..take].iter_mut().enumerate() {
                    *x = at(k * self.channels + source);
                }
                out[take..].fill(0.0);
            }
            chunk.commit_all();
        }
        self.missing += (frames - take) as u64;
        self.tap
            .publish(&[self.missing as f32, self.shared.dropped() as f32]);
    }

    fn set_param(&mut self, index: usize, value: f32) {
        if index == FIRST {
            self.shared.first.store(first_index(value), Ordering::Relaxed);
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
    use patchbay_core::{CompileOptions, LiveEngine, Patch, Runtime};

    fn start(channels: f64) -> (LiveEngine, Runtime, InputJob) {
        let mut patch = Patch::default();
        patch.nodes.push(node("in", "input", &[("channels", channels)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("in.out", "out.in");
        let (mut live, mut runtime) =
            LiveEngine::start(patch, crate::registry(), CompileOptions::default()).unwrap();
        // Frame numbers as samples, far over full scale: no limiter.
        runtime.set_ceiling_db(None);
        let (id, job) = live.take_disk_jobs().pop().expect("the input's job");
        assert_eq!(id, "in");
        (live, runtime, job.downcast::<InputJob>().expect("an input job"))
    }

    #[test]
    fn frames_pushed_come_out_in_order_per_channel_and_missing_ones_are_silence() {
        let (live, mut runtime, mut job) = start(2.0);
        assert_eq!(job.channels, 2);
        // 100 frames: left counts up, right counts down.
        let pushed: Vec<f32> = (0..100).flat_map(|k| [k as f32, -(k as f32)]).collect();
        assert_eq!(job.push(&pushed), 100);
        runtime.process_block();
        let [l, r] = runtime.output();
        let expected: Vec<f32> = (0..64).map(|k| k as f32).collect();
        assert_eq!(l, &expected[..]);
        assert!(r.iter().zip(&expected).all(|(a, b)| *a == -b));
        runtime.process_block();
        let [l, _] = runtime.output();
        assert_eq!(&l[..36], &(64..100).map(|k| k as f32).collect::<Vec<_>>()[..]);
        assert!(l[36..].iter().all(|&x| x == 0.0), "missing frames are silence");
        let tap = live.tap("in").unwrap().snapshot();
        assert_eq!(tap[readings::MISSING_FRAMES], 28.0);
        assert_eq!(tap[readings::DROPPED_FRAMES], 0.0);
    }

    #[test]
    fn a_full_ring_takes_what_fits_and_the_tap_shows_what_the_host_dropped() {
        let (live, mut runtime, mut job) = start(1.0);
        let burst = vec![0.25f32; RING_FRAMES + 10];
        assert_eq!(job.push(&burst), RING_FRAMES);
        job.shared.count_dropped(10);
        runtime.process_block();
        assert_eq!(runtime.output()[0][0], 0.25, "mono on both sides");
        assert_eq!(runtime.output()[1][63], 0.25);
        assert_eq!(live.tap("in").unwrap().snapshot()[readings::DROPPED_FRAMES], 10.0);
    }

    #[test]
    fn a_live_input_drops_latency_that_is_never_used() {
        let (live, mut runtime, mut job) = start(1.0);
        job.set_live();
        // A device that started a while before the output: 4000 frames
        // ahead, then one block per block.
        let ramp = |from: usize, n: usize| (from..from + n).map(|k| k as f32).collect::<Vec<_>>();
        job.push(&ramp(0, 4000));
        let window = (TRIM_WINDOW_S * 48_000.0) as usize / 64;
        let mut next = 4000;
        for _ in 0..window + 1 {
            job.push(&ramp(next, 64));
            next += 64;
            runtime.process_block();
        }
        let dropped = live.tap("in").unwrap().snapshot()[readings::DROPPED_FRAMES] as usize;
        // The ring held 4000 + 64 frames at every block start; all but the slack went.
        assert_eq!(dropped, 4000 + 64 - SLACK_FRAMES);
        let first = runtime.output()[0][0] as usize;
        assert_eq!(
            next - first,
            SLACK_FRAMES,
            "the last block began the slack behind the newest frame"
        );
    }
}
