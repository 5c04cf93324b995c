//! The host side of `input` nodes (see `patchbay_nodes::input`).
//!
//! Offline ([`file_runner`], `patchbay render --input FILE`): a recording
//! decoded a chunk at a time, converted to the engine's rate and pushed
//! into every input node's ring by the disk host before each block, so a
//! render of a recording is the same every time. After its end the file is
//! silence.
//!
//! Live ([`LiveInput`], `patchbay play --input NAME`, `patchbay record`):
//! a cpal input stream whose callback converts the device's samples and
//! pushes them into every input node's ring (and recordings) it was given;
//! a device fault is reported and retried like an output's.
//!
//! Channels: a node takes its `channels` from its `first` on (so nodes can
//! share an interface's inputs). A file must have them, or be mono, which
//! spreads to every channel (the compiler's rule for a mono signal into a
//! wider input). A device is more lenient, since its channel count is not
//! the patch's to choose: a mono device spreads, channels it lacks are
//! silent.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{BufferSize, FromSample, SampleFormat, SizedSample, StreamConfig};
use patchbay_core::DiskJob;
use patchbay_nodes::input::InputJob;
use patchbay_nodes::record::{Destination, Encoding, RecordFeed, RecordJob, recording};

use crate::decode::AudioReader;
use crate::devices::{HostChoice, by_sample_type, find_input};
use crate::disk::{Claim, Context, DiskReport, Progress, Work};
use crate::meters::{CallbackReport, Meters};
use crate::player::{DeviceError, PlayerEvent, RETRY_INTERVAL};
use crate::resample::StreamResampler;
use crate::shared::Shared;

/// How long a backend may take to start a stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames decoded per read.
const READ_FRAMES: usize = 4096;

/// The runner the offline disk host tries for every job: an input node's
/// job reads `Context::input`; without one it cannot start.
pub(crate) fn file_runner(job: DiskJob, ctx: &Context) -> Claim {
    let job = match job.downcast::<InputJob>() {
        Ok(job) => job,
        Err(job) => return Claim::NotMine(job),
    };
    let Some(path) = &ctx.input else {
        return Claim::Failed(
            "an input node needs a recording to read when rendering: `patchbay render PATCH --input FILE`"
                .into(),
        );
    };
    let reader = match AudioReader::open(path) {
        Ok(reader) => reader,
        Err(e) => return Claim::Failed(e.to_string()),
    };
    let channels = reader.channels();
    let (first, last) = (job.first_channel() + 1, job.first_channel() + job.channels);
    if channels < last && channels != 1 {
        return Claim::Failed(format!(
            "{} has {channels} channels and the input node takes channels {first} to {last}: a mono file \
             spreads to any width, others must have the node's channels (set its `channels` and `first`)",
            path.display(),
        ));
    }
    let resampler = StreamResampler::new(reader.sample_rate(), job.sample_rate, channels);
    Claim::Started(Box::new(FileInput {
        reader,
        resampler,
        decoded: vec![Vec::new(); channels],
        converted: vec![Vec::new(); channels],
        ready: Vec::new(),
        pushed: 0,
        ended: false,
        ctx: ctx.clone(),
        job,
    }))
}

/// A recording feeding one input node.
struct FileInput {
    job: InputJob,
    reader: AudioReader,
    resampler: StreamResampler,
    decoded: Vec<Vec<f32>>,
    converted: Vec<Vec<f32>>,
    /// Converted frames, interleaved at the node's width.
    ready: Vec<f32>,
    /// Samples of `ready` already in the ring.
    pushed: usize,
    /// The file is over: silence from now on.
    ended: bool,
    ctx: Context,
}

impl FileInput {
    /// Decode, convert and interleave the next stretch of the file.
    fn read_more(&mut self) -> Result<(), String> {
        self.decoded.iter_mut().for_each(Vec::clear);
        self.converted.iter_mut().for_each(Vec::clear);
        let n = self
            .reader
            .read_into(&mut self.decoded, READ_FRAMES)
            .map_err(|e| e.to_string())?;
        self.ended = n == 0;
        self.resampler
            .push(&self.decoded, self.ended, &mut self.converted);
        let frames = self.converted.first().map_or(0, Vec::len);
        let (first, width) = (self.job.first_channel(), self.job.channels);
        self.ready.clear();
        self.pushed = 0;
        self.ready.reserve(frames * width);
        for k in 0..frames {
            for c in 0..width {
                // A mono file has one channel: every node channel reads it.
                // Channels past the file's end (`first` moved) are silent.
                let sample = match self.converted.as_slice() {
                    [mono] => mono[k],
                    all => all.get(first + c).map_or(0.0, |channel| channel[k]),
                };
                self.ready.push(sample);
            }
        }
        Ok(())
    }
}

impl Work for FileInput {
    fn step(&mut self) -> Progress {
        if self.job.is_abandoned() {
            return Progress::Finished;
        }
        if self.pushed < self.ready.len() {
            self.pushed += self.job.push(&self.ready[self.pushed..]) * self.job.channels;
            return match self.pushed < self.ready.len() {
                true => Progress::Idle,
                false => Progress::Busy,
            };
        }
        if self.ended {
            // Past the end: silence, as much as the ring takes.
            self.ready.clear();
            self.ready.resize(READ_FRAMES * self.job.channels, 0.0);
            self.pushed = 0;
            return Progress::Busy;
        }
        match self.read_more() {
            Ok(()) => Progress::Busy,
            Err(message) => {
                self.ctx.report(DiskReport::Failed {
                    node: self.ctx.node.clone(),
                    message,
                });
                self.ended = true;
                Progress::Busy
            }
        }
    }

    fn finish(&mut self) {}
}

/// Something a live input feeds from the device's callback: an input
/// node's ring ([`InputJob`]) or a recording ([`Recording`]).
pub trait Capture: Send {
    /// Channels per frame it takes.
    fn channels(&self) -> usize;
    /// The device channel (0-based) its first channel takes.
    fn first_channel(&self) -> usize {
        0
    }
    /// Take interleaved frames of [`Capture::channels`] (audio thread:
    /// never blocks or allocates; what does not fit is counted, not waited
    /// for).
    fn capture(&mut self, interleaved: &[f32]);
    /// True when nobody reads what it is fed any more.
    fn is_abandoned(&self) -> bool;
}

impl Capture for InputJob {
    fn channels(&self) -> usize {
        self.channels
    }

    fn first_channel(&self) -> usize {
        InputJob::first_channel(self)
    }

    fn capture(&mut self, interleaved: &[f32]) {
        let frames = interleaved.len() / self.channels;
        let pushed = self.push(interleaved);
        if pushed < frames {
            self.shared.count_dropped((frames - pushed) as u64);
        }
    }

    fn is_abandoned(&self) -> bool {
        InputJob::is_abandoned(self)
    }
}

/// A device's input recorded to a file without a patch (`patchbay
/// record`): the audio side of a recording whose take starts at once.
pub struct Recording {
    feed: RecordFeed,
    lost: Arc<AtomicU64>,
}

impl Recording {
    /// Record `channels` at `rate` to `path` (replaced if it exists) in
    /// `encoding`: the capture, and the job for a disk host.
    pub fn to_file(channels: usize, rate: u32, path: PathBuf, encoding: Encoding) -> (Recording, RecordJob) {
        let (mut feed, job) = recording(channels, rate, Destination::File(path), 0);
        // A fresh event ring has room for the first event.
        feed.set_recording(true, 0, encoding);
        let lost = Arc::new(AtomicU64::new(0));
        (Recording { feed, lost }, job)
    }

    /// Frames lost so far (they are written as silence), readable after
    /// the recording moved to the audio side.
    pub fn lost_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.lost)
    }
}

impl Capture for Recording {
    fn channels(&self) -> usize {
        self.feed.channels()
    }

    fn capture(&mut self, interleaved: &[f32]) {
        self.feed.push_interleaved(interleaved);
        self.lost.store(self.feed.lost(), Ordering::Relaxed);
    }

    fn is_abandoned(&self) -> bool {
        false
    }
}

/// Most captures one live input feeds at once.
pub const MAX_CAPTURES: usize = 32;
/// Device samples converted at a time in the callback.
const SCRATCH_SAMPLES: usize = 16 * 1024;

/// The control side of a [`Hub`]: hands it captures, frees those it let go.
pub struct HubControl {
    arriving: rtrb::Producer<Box<dyn Capture>>,
    leaving: rtrb::Consumer<Box<dyn Capture>>,
}

/// A hub and its control side (control thread: allocates).
pub fn hub() -> (HubControl, Hub) {
    let (arriving, arrived) = rtrb::RingBuffer::new(MAX_CAPTURES);
    let (left, leaving) = rtrb::RingBuffer::new(2 * MAX_CAPTURES);
    (
        HubControl { arriving, leaving },
        Hub {
            captures: std::array::from_fn(|_| None),
            arriving: arrived,
            leaving: left,
            scratch: vec![0.0; SCRATCH_SAMPLES].into_boxed_slice(),
            mapped: vec![0.0; SCRATCH_SAMPLES * MAX_CHANNELS].into_boxed_slice(),
        },
    )
}

impl HubControl {
    /// Feed `capture` from the next callback on. Fails when [`MAX_CAPTURES`]
    /// are waiting to be taken in (the callback is not running).
    pub fn add(&mut self, capture: Box<dyn Capture>) -> Result<(), String> {
        self.arriving
            .push(capture)
            .map_err(|_| format!("too many inputs waiting (at most {MAX_CAPTURES})"))
    }

    /// Free the captures the hub let go of (abandoned, or refused when
    /// full); returns how many.
    pub fn collect_garbage(&mut self) -> usize {
        let mut n = 0;
        while let Ok(gone) = self.leaving.pop() {
            drop(gone);
            n += 1;
        }
        n
    }
}

/// The audio side of a live input: the captures it feeds. It outlives the
/// device's stream (a reopened device feeds the same captures), so
/// [`LiveInput`] keeps it in a [`Shared`] slot; captures arrive and leave
/// through rings, so the callback never allocates or frees one.
pub struct Hub {
    captures: [Option<Box<dyn Capture>>; MAX_CAPTURES],
    arriving: rtrb::Consumer<Box<dyn Capture>>,
    leaving: rtrb::Producer<Box<dyn Capture>>,
    /// Device samples converted to f32.
    scratch: Box<[f32]>,
    /// The same frames at one capture's width.
    mapped: Box<[f32]>,
}

impl Hub {
    /// Feed a device buffer (interleaved, `device_channels` per frame, any
    /// sample type) to every capture; returns its peak. Device channel
    /// `first + c` feeds capture channel `c`; a mono device feeds every
    /// channel; capture channels past the device's are silent. Audio thread.
    pub fn feed<T: SizedSample>(&mut self, data: &[T], device_channels: usize) -> f32
    where
        f32: FromSample<T>,
    {
        let device_channels = device_channels.max(1);
        while let Ok(capture) = self.arriving.pop() {
            match self.captures.iter_mut().find(|slot| slot.is_none()) {
                Some(slot) => *slot = Some(capture),
                // Full: refused, back to the control side to free.
                None => drop(self.leaving.push(capture)),
            }
        }
        for slot in &mut self.captures {
            if slot.as_ref().is_some_and(|c| c.is_abandoned())
                && let Some(gone) = slot.take()
                && let Err(rtrb::PushError::Full(gone)) = self.leaving.push(gone)
            {
                *slot = Some(gone); // let go on a later callback
            }
        }
        let mut peak = 0.0f32;
        let chunk = (self.scratch.len() / device_channels) * device_channels;
        for part in data.chunks(chunk) {
            let device = &mut self.scratch[..part.len()];
            for (s, &x) in device.iter_mut().zip(part) {
                *s = f32::from_sample_(x);
                peak = peak.max(s.abs());
            }
            let frames = device.len() / device_channels;
            for capture in self.captures.iter_mut().flatten() {
                if capture.is_abandoned() {
                    continue;
                }
                let width = capture.channels().min(MAX_CHANNELS);
                let first = capture.first_channel();
                let out = &mut self.mapped[..frames * width];
                for (frame, to) in device
                    .chunks_exact(device_channels)
                    .zip(out.chunks_exact_mut(width))
                {
                    for (c, x) in to.iter_mut().enumerate() {
                        *x = match frame.get(first + c) {
                            Some(&x) => x,
                            None if device_channels == 1 => frame[0],
                            None => 0.0,
                        };
                    }
                }
                capture.capture(out);
            }
        }
        peak
    }
}

/// The input stream's data callback. Audio thread.
struct InputCallback {
    hub: Arc<Shared<Hub>>,
    meters: Arc<Meters>,
    channels: usize,
    ns_per_frame: f64,
}

impl InputCallback {
    fn feed<T: SizedSample>(&mut self, data: &[T])
    where
        f32: FromSample<T>,
    {
        let started = Instant::now();
        // Busy only while a replaced stream's last callback runs.
        let peak = self.hub.with(|hub| hub.feed(data, self.channels)).unwrap_or(0.0);
        let frames = (data.len() / self.channels) as u64;
        self.meters.record_callback(CallbackReport {
            frames,
            busy_ns: started.elapsed().as_nanos() as u64,
            budget_ns: (frames as f64 * self.ns_per_frame) as u64,
            peak,
            non_finite_total: None,
        });
    }
}

/// What went wrong, by node id.
pub type NodeErrors = Vec<(String, String)>;

/// Disk jobs by node id.
pub type NodeJobs = Vec<(String, DiskJob)>;

/// `jobs` split into the input nodes' and the rest.
pub fn split_inputs(jobs: NodeJobs) -> (NodeJobs, NodeJobs) {
    (jobs.into_iter()).partition(|(_, job)| job.peek::<InputJob>().is_some())
}

/// Take the input nodes' jobs out of `jobs`, unfed (their nodes are
/// silent) for `why`; the other jobs are returned for the disk host.
pub fn unheard(jobs: NodeJobs, why: &str) -> (NodeJobs, NodeErrors) {
    let (inputs, rest) = split_inputs(jobs);
    (
        rest,
        Vec::from_iter(inputs.into_iter().map(|(node, _)| (node, why.to_string()))),
    )
}

/// The device input of a patch's input nodes: opened when the first one
/// appears (at the start, or in a later edit), then feeding every input
/// node handed to it. Without a device the nodes stay silent.
pub struct InputNodes {
    spec: InputSpec,
    rate: u32,
    live: Option<LiveInput>,
}

impl InputNodes {
    /// Input nodes of an engine at `rate` Hz will be fed from `spec`'s device.
    pub fn new(spec: InputSpec, rate: u32) -> InputNodes {
        InputNodes {
            spec,
            rate,
            live: None,
        }
    }

    /// Feed the input nodes among `jobs` from the device, opening it if
    /// need be; the other jobs are returned for the disk host, with what
    /// went wrong by node (an input node without a device stays silent).
    pub fn claim(&mut self, jobs: NodeJobs) -> (NodeJobs, NodeErrors) {
        let widest = (jobs.iter())
            .filter_map(|(_, job)| job.peek::<InputJob>())
            .map(|job| job.first_channel() + job.channels)
            .max();
        if let Some(channels) = widest
            && self.live.is_none()
        {
            self.spec.channels = channels;
            match LiveInput::open(self.spec.clone(), self.rate) {
                Ok(live) => self.live = Some(live),
                Err(e) => return unheard(jobs, &e.to_string()),
            }
        }
        match &mut self.live {
            Some(live) => live.claim(jobs),
            None => (jobs, Vec::new()),
        }
    }

    /// The device, once open.
    pub fn device(&self) -> Option<&LiveInput> {
        self.live.as_ref()
    }

    /// [`LiveInput::poll`] of the device, once open.
    pub fn poll(&mut self) -> Option<PlayerEvent> {
        self.live.as_mut()?.poll()
    }
}

/// Which input to open.
#[derive(Clone, Debug, Default)]
pub struct InputSpec {
    /// The host; `None` tries JACK (if a server runs), then ALSA.
    pub host: Option<HostChoice>,
    /// The device as `patchbay devices` lists it; under JACK the client's
    /// name (`NAME_in`). `None`: the default.
    pub device: Option<String>,
    /// Channels to open (as far as the input nodes reach).
    pub channels: usize,
}

/// A device input feeding input nodes and recordings, reopened after a
/// fault like [`crate::Player`]'s output.
pub struct LiveInput {
    spec: InputSpec,
    rate: u32,
    hub: Arc<Shared<Hub>>,
    control: HubControl,
    stream: Option<cpal::Stream>,
    meters: Arc<Meters>,
    label: String,
    next_retry: Instant,
}

impl LiveInput {
    /// The rate the input `spec` names would run at by default (what
    /// `patchbay record` records at).
    pub fn probe(spec: &InputSpec) -> Result<u32, DeviceError> {
        let found = find_input(spec.host, spec.device.as_deref())
            .map_err(|tried| DeviceError::InputNotOpened(tried.join("; ")))?;
        let config = found
            .device
            .default_input_config()
            .map_err(|e| DeviceError::InputNotOpened(format!("{}: {e}", found.label)))?;
        Ok(config.sample_rate())
    }

    /// Open the input at `rate` Hz (the engine's) and start it.
    pub fn open(spec: InputSpec, rate: u32) -> Result<LiveInput, DeviceError> {
        let (control, hub) = hub();
        let mut input = LiveInput {
            label: format!("the input `{}`", spec.device.as_deref().unwrap_or("default")),
            spec,
            rate,
            hub: Arc::new(Shared::new(hub)),
            control,
            stream: None,
            meters: Arc::new(Meters::default()),
            next_retry: Instant::now(),
        };
        input.stream = Some(input.start()?);
        Ok(input)
    }

    fn start(&mut self) -> Result<cpal::Stream, DeviceError> {
        let not_opened =
            |label: &str, e: &dyn std::fmt::Display| DeviceError::InputNotOpened(format!("{label}: {e}"));
        let found = find_input(self.spec.host, self.spec.device.as_deref())
            .map_err(|tried| DeviceError::InputNotOpened(tried.join("; ")))?;
        self.label = found.label.clone();
        let supported = choose_input_config(&found.device, self.rate, self.spec.channels.max(1))
            .map_err(|e| not_opened(&found.label, &e))?;
        let config = StreamConfig {
            channels: supported.channels(),
            sample_rate: self.rate,
            buffer_size: BufferSize::Default,
        };
        let channels = config.channels as usize;
        let mut callback = InputCallback {
            hub: Arc::clone(&self.hub),
            meters: Arc::clone(&self.meters),
            channels,
            ns_per_frame: 1e9 / self.rate.max(1) as f64,
        };
        let on_error = Meters::stream_error_handler(Arc::clone(&self.meters));
        macro_rules! typed {
            ($t:ty) => {
                found.device.build_input_stream::<$t, _, _>(
                    config,
                    move |data: &[$t], _| callback.feed(data),
                    on_error,
                    Some(OPEN_TIMEOUT),
                )
            };
        }
        let format = supported.sample_format();
        let stream = by_sample_type!(format, typed)
            .ok_or_else(|| not_opened(&found.label, &format!("sample format {format} is not supported")))?
            .map_err(|e| not_opened(&found.label, &e))?;
        stream.play().map_err(|e| not_opened(&found.label, &e))?;
        Ok(stream)
    }

    /// The device, for messages.
    pub fn describe(&self) -> String {
        self.label.clone()
    }

    /// Counters of the input callback (frames, load, peak, xruns, faults).
    pub fn meters(&self) -> &Arc<Meters> {
        &self.meters
    }

    /// Feed `capture` from now on.
    pub fn add(&mut self, capture: Box<dyn Capture>) -> Result<(), String> {
        self.control
            .add(capture)
            .map_err(|e| format!("{}: {e}", self.label))
    }

    /// Take the input nodes' jobs out of `jobs` and feed them; the other
    /// jobs are returned for the disk host, with what went wrong by node.
    pub fn claim(&mut self, jobs: NodeJobs) -> (NodeJobs, NodeErrors) {
        let mut rest = Vec::new();
        let mut errors = Vec::new();
        for (node, job) in jobs {
            match job.downcast::<InputJob>() {
                Ok(input) => {
                    input.set_live();
                    if let Err(e) = self.add(Box::new(input)) {
                        errors.push((node, e));
                    }
                }
                Err(job) => rest.push((node, job)),
            }
        }
        (rest, errors)
    }

    /// Free captures the callback let go of; handle a device fault (the
    /// captures wait, their nodes hear silence) and retry until it is
    /// back. Control thread, every few tens of milliseconds.
    pub fn poll(&mut self) -> Option<PlayerEvent> {
        self.control.collect_garbage();
        if self.stream.is_some() {
            let message = self.meters.take_fault()?;
            self.stream = None;
            self.next_retry = Instant::now() + RETRY_INTERVAL;
            return Some(PlayerEvent::DeviceLost {
                device: self.label.clone(),
                message,
            });
        }
        if Instant::now() < self.next_retry {
            return None;
        }
        self.next_retry = Instant::now() + RETRY_INTERVAL;
        let stream = self.start().ok()?;
        self.meters.clear_fault();
        self.stream = Some(stream);
        Some(PlayerEvent::DeviceBack {
            device: self.label.clone(),
        })
    }
}

impl Drop for LiveInput {
    fn drop(&mut self) {
        // The stream first: the hub (and the captures in it) must outlive
        // every callback, and is then dropped here, off the audio thread.
        self.stream = None;
    }
}

/// Widest capture a live input feeds.
const MAX_CHANNELS: usize = patchbay_core::compile::MAX_CHANNELS;

/// The device's input configuration at `rate` with `channels` (or the
/// nearest count), f32 when offered.
fn choose_input_config(
    device: &cpal::Device,
    rate: u32,
    channels: usize,
) -> Result<cpal::SupportedStreamConfig, String> {
    let wanted = channels as u16;
    let mut ranges: Vec<_> = device
        .supported_input_configs()
        .map_err(|e| e.to_string())?
        .filter(|c| c.contains_rate(rate))
        .collect();
    ranges.sort_by_key(|c| {
        (
            c.channels() < wanted,
            c.channels().abs_diff(wanted),
            c.sample_format() != SampleFormat::F32,
        )
    });
    ranges
        .into_iter()
        .next()
        .map(|c| c.with_sample_rate(rate))
        .ok_or_else(|| format!("no input configuration at {rate} Hz"))
}

#[cfg(test)]
mod tests {
    use patchbay_core::{CompileOptions, LiveEngine, Node, Patch, Runtime};

    use super::*;

    /// An input node of 2 channels from channel `first` straight to the
    /// output, its job handed to a hub.
    fn input_from(first: f64) -> (LiveEngine, Runtime, HubControl, Hub) {
        let mut patch = Patch::default();
        patch.nodes.push(
            Node::new("in", "input")
                .with("channels", 2.0)
                .with("first", first),
        );
        patch.nodes.push(Node::new("out", "output"));
        patch.connect("in.out", "out.in");
        let (mut live, mut runtime) =
            LiveEngine::start(patch, patchbay_nodes::registry(), CompileOptions::default()).unwrap();
        runtime.set_ceiling_db(None);
        let (mut control, hub) = hub();
        let (_, job) = live.take_disk_jobs().pop().expect("the input's job");
        control
            .add(Box::new(job.downcast::<InputJob>().ok().unwrap()))
            .unwrap();
        (live, runtime, control, hub)
    }

    /// One block of a 4-channel device whose channel `c` holds `(c + 1) / 10`
    /// through the hub; what the output's channels then hold.
    fn heard(runtime: &mut Runtime, hub: &mut Hub) -> [f32; 2] {
        let frames = patchbay_core::DEFAULT_BLOCK;
        let device = Vec::from_iter((0..frames * 4).map(|i| ((i % 4) + 1) as f32 / 10.0));
        hub.feed(&device, 4);
        runtime.process_block();
        let [left, right] = runtime.output();
        [left[frames - 1], right[frames - 1]]
    }

    #[test]
    fn an_input_node_takes_the_device_channels_from_its_first_on_and_follows_a_change() {
        let (mut live, mut runtime, _control, mut hub) = input_from(2.0);
        assert_eq!(heard(&mut runtime, &mut hub), [0.2, 0.3]);
        live.set_param("in", "first", 3.0).unwrap();
        runtime.process_block(); // the change arrives between blocks
        assert_eq!(heard(&mut runtime, &mut hub), [0.3, 0.4]);
        live.set_param("in", "first", 4.0).unwrap();
        runtime.process_block();
        assert_eq!(
            heard(&mut runtime, &mut hub),
            [0.4, 0.0],
            "past the device: silence"
        );
    }
}
