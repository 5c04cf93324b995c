//! The audio-thread boundary: the [`Processor`] trait and the [`ProcessIo`]
//! view of its buffers.
//!
//! Lifecycle of a processor:
//! 1. built by its descriptor's `build` on the control thread (may allocate);
//! 2. sent to the audio thread inside a schedule;
//! 3. `set_param` and `process` are called there, and nothing else: they must
//!    not allocate, lock, block, log or panic;
//! 4. sent back inside the replaced schedule and dropped on the control thread.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::disk::DiskJob;
use crate::lanes::Lanes;
use crate::registry::{NodeDescriptor, PortSpec, no_latency};
use crate::telemetry::Tap;

/// What a node's `build` and `latency` functions are told.
#[derive(Clone, Copy, Debug)]
pub struct NodeContext<'a> {
    /// The node's id in the patch.
    pub id: &'a str,
    /// Samples per second.
    pub sample_rate: f32,
    /// The schedule's block size: `process` never gets more frames.
    pub max_block: usize,
    /// Channel count of the node's "follows input" ports (at least 1).
    pub channels: usize,
    /// Initial parameter values, in declaration order.
    pub params: &'a [f32],
    /// Setting values, in declaration order (relative paths as written: the
    /// host resolves them where it opens the file).
    pub settings: &'a [String],
    /// For cycle breakers inside a feedback loop: their input arrives this
    /// many samples late (one block), which a delay should subtract from its
    /// delay time. Zero otherwise.
    pub feedback_delay: usize,
}

impl<'a> NodeContext<'a> {
    /// Initial value of parameter `index`.
    pub fn param(&self, index: usize) -> f32 {
        self.params[index]
    }

    /// Value of setting `index`.
    pub fn setting(&self, index: usize) -> &'a str {
        &self.settings[index]
    }
}

/// A node's running state and DSP. Only `set_param` and `process` are ever
/// called on the audio thread.
pub trait Processor: Send {
    /// Fill every output channel for `io.frames()` frames from the inputs.
    fn process(&mut self, io: &mut ProcessIo<'_>);

    /// A parameter's value changed (it is already smoothed by the runtime and
    /// within its declared range). Called between `process` calls.
    fn set_param(&mut self, index: usize, value: f32) {
        let _ = (index, value);
    }

    /// Readings this processor publishes for the control side (meters,
    /// scopes). Asked once, on the control thread, right after `build`.
    fn tap(&self) -> Option<Arc<Tap>> {
        None
    }

    /// Work this processor needs done off the audio thread (writing a
    /// recording, reading a file): the far ends of its rings, for the host
    /// to run on a thread it owns ([`crate::disk`]). Taken once, on the
    /// control thread, right after `build`.
    fn disk_job(&mut self) -> Option<DiskJob> {
        None
    }
}

/// A processor that writes silence to its outputs.
pub struct Silent;

impl Processor for Silent {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for port in 0..io.output_ports() {
            for ch in 0..io.output_channels(port) {
                io.output(port, ch).fill(0.0);
            }
        }
    }
}

/// The built-in `output` node: its input is what the device or file hears.
pub static OUTPUT: NodeDescriptor = NodeDescriptor {
    kind: crate::registry::OUTPUT_KIND,
    category: "io",
    summary: "What the sound card or the rendered file hears. Several outputs are summed.",
    inputs: &[PortSpec::audio("in", "Stereo signal to play; mono is sent to both sides.").channels(2)],
    outputs: &[],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Silent),
};

/// A node's whole block at rest, in a closed form the runtime runs in place
/// of `process`: the level nodes, whose DSP is a multiply or two a sample,
/// cost little more than the loop itself. Each form rounds exactly as the
/// [`Lanes`] kernel of the same name, so a node that computes its block
/// with that kernel declares it without changing a bit. "Each channel" is
/// each channel of output 0, from the same channel of the inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rest {
    /// The outputs stay as written (a constant); honoured while no other
    /// step writes them.
    Hold,
    /// Each channel: input 0 × the factor ([`Lanes::scale`]); silence for 0.
    Scale(f32),
    /// Output 0's two channels: input 0's first × left, × right ([`Lanes::spread`]).
    Spread(f32, f32),
    /// Each channel: input 0 × a + input 1 × b ([`Lanes::blend`]).
    Blend(f32, f32),
    /// Each channel: input 0 × factor + offset ([`Lanes::affine`]).
    Affine(f32, f32),
    /// Each channel: input 0 × input 1 ([`Lanes::zip`]).
    Product,
}

/// A [`Rest`] with its buffers found, once, when the node came to rest:
/// each block then runs the form's kernel on them and nothing else.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resting {
    /// The form's block, chosen once: one indirect call a block (`None`
    /// for `Hold`: nothing to run).
    form_kernel: Option<fn(&Resting)>,
    /// What runs each block: the form's kernel, or nothing while the node
    /// is folded (its outputs are already what the kernel would write).
    kernel: Option<fn(&Resting)>,
    /// The form reads its inputs (every form but `Hold` and silence).
    reads: bool,
    lanes: Lanes,
    /// The form's two constants (unused ones are 0).
    k: [f32; 2],
    channels: usize,
    out: [*mut f32; 2],
    a: [*const f32; 2],
    b: [*const f32; 2],
    frames: usize,
}

// SAFETY: the pointers lead into the pool of the schedule that holds this
// (a heap buffer that moves with it, never reallocated) and are used only
// by that schedule's `run`, on whichever thread runs it.
unsafe impl Send for Resting {}

impl Resting {
    /// The form `io`'s processor declared, with `io`'s buffers, or `None`
    /// where the step's ports do not fit it (more than two channels, an
    /// input missing): the node is then called as usual.
    pub(crate) fn resolve(form: Rest, io: &mut ProcessIo<'_>, lanes: Lanes) -> Option<Resting> {
        let out_channels = if io.output_ports() > 0 {
            io.output_channels(0)
        } else {
            0
        };
        // (inputs read, output channels written, channels read from each input)
        let (inputs, channels, per_input) = match form {
            Rest::Hold => (0, 0, 0),
            Rest::Spread(..) => (1, 2, 1),
            Rest::Scale(_) | Rest::Affine(..) => (1, out_channels, out_channels),
            Rest::Blend(..) | Rest::Product => (2, out_channels, out_channels),
        };
        let fits = channels <= 2
            && (form == Rest::Hold || out_channels == channels)
            && io.input_ports() >= inputs
            && (0..inputs).all(|port| io.input_channels(port) >= per_input);
        if !fits {
            return None;
        }
        let (kernel, k): (Option<fn(&Resting)>, _) = match form {
            Rest::Hold => (None, [0.0; 2]),
            Rest::Scale(0.0) => (Some(Resting::silence), [0.0; 2]),
            Rest::Scale(g) => (Some(Resting::scale), [g, 0.0]),
            Rest::Spread(left, right) => (Some(Resting::spread), [left, right]),
            Rest::Blend(ga, gb) => (Some(Resting::blend), [ga, gb]),
            Rest::Affine(f, c) => (Some(Resting::affine), [f, c]),
            Rest::Product => (Some(Resting::product), [0.0; 2]),
        };
        let mut resting = Resting {
            form_kernel: kernel,
            kernel,
            reads: inputs > 0 && form != Rest::Scale(0.0),
            lanes,
            k,
            channels,
            out: [std::ptr::null_mut(); 2],
            a: [std::ptr::null(); 2],
            b: [std::ptr::null(); 2],
            frames: io.frames(),
        };
        for ch in 0..channels {
            resting.out[ch] = io.output(0, ch).as_mut_ptr();
        }
        for ch in 0..per_input {
            if inputs > 0 {
                resting.a[ch] = io.input(0, ch).as_ptr();
            }
            if inputs > 1 {
                resting.b[ch] = io.input(1, ch).as_ptr();
            }
        }
        Some(resting)
    }

    /// Run the block (audio thread).
    #[inline(always)]
    pub(crate) fn run(&self) {
        if let Some(kernel) = self.kernel {
            kernel(self)
        }
    }

    /// Its outputs stay as they are, block after block: a `Hold`, or a
    /// form folded on settled inputs.
    pub(crate) fn is_settled(&self) -> bool {
        self.kernel.is_none()
    }

    /// Settled by folding: a form that, unfolded, runs a kernel.
    pub(crate) fn is_folded(&self) -> bool {
        self.kernel.is_none() && self.form_kernel.is_some()
    }

    /// Whether its outputs depend on its inputs.
    pub(crate) fn reads_inputs(&self) -> bool {
        self.reads
    }

    /// Run the form's kernel from now on, or (`folded`) nothing: the
    /// outputs, written by the form, then stay.
    pub(crate) fn fold(&mut self, folded: bool) {
        self.kernel = if folded { None } else { self.form_kernel };
    }

    // SAFETY (`out`, `a`, `b`): `resolve` took the pointers from a
    // whole-block `ProcessIo` of this step, whose outputs are distinct from
    // each other and from its inputs, for `channels` outputs and the inputs
    // the form reads; the pool has not moved since. Each kernel asks for
    // the channels its form resolved, and for an output channel once.
    #[inline(always)]
    #[allow(clippy::mut_from_ref, reason = "the buffers are the pool's, not self's")]
    fn out(&self, ch: usize) -> &mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.out[ch], self.frames) }
    }

    #[inline(always)]
    fn a(&self, ch: usize) -> &[f32] {
        unsafe { std::slice::from_raw_parts(self.a[ch], self.frames) }
    }

    #[inline(always)]
    fn b(&self, ch: usize) -> &[f32] {
        unsafe { std::slice::from_raw_parts(self.b[ch], self.frames) }
    }

    fn silence(&self) {
        (0..self.channels).for_each(|ch| self.out(ch).fill(0.0));
    }

    fn scale(&self) {
        (0..self.channels).for_each(|ch| self.lanes.scale(self.out(ch), self.a(ch), self.k[0]));
    }

    fn spread(&self) {
        self.lanes
            .spread(self.out(0), self.out(1), self.a(0), self.k[0], self.k[1]);
    }

    fn blend(&self) {
        let [ga, gb] = self.k;
        (0..self.channels).for_each(|ch| self.lanes.blend(self.out(ch), self.a(ch), self.b(ch), ga, gb));
    }

    fn affine(&self) {
        let [f, c] = self.k;
        (0..self.channels).for_each(|ch| self.lanes.affine(self.out(ch), self.a(ch), f, c));
    }

    fn product(&self) {
        (0..self.channels).for_each(|ch| self.lanes.zip(self.out(ch), self.a(ch), self.b(ch), |x, y| x * y));
    }
}

/// Where one port's channels live: a run of buffer indices.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PortBuffers {
    pub start: u32,
    pub len: u32,
}

/// A processor's window on its input and output buffers for one call.
///
/// Inputs are shared slices that stay valid for the whole call; outputs are
/// exclusive. The compiler guarantees that a step's output buffers are
/// distinct from each other and from its inputs, which is what makes handing
/// out both at once sound.
///
/// Built once per node per block on the audio thread, so it is kept to a
/// few words and its accessors check only what a processor could get wrong
/// (port and channel numbers), not what the schedule guarantees.
pub struct ProcessIo<'a> {
    /// This call's first frame in buffer 0.
    base: *mut f32,
    stride: usize,
    frames: usize,
    /// The step's input ports, then its output ports.
    ports: &'a [PortBuffers],
    inputs: usize,
    buffer_ids: *const u32,
    rest: Option<Rest>,
    _borrow: PhantomData<&'a mut [f32]>,
}

impl<'a> ProcessIo<'a> {
    /// # Safety
    /// `pool` must point to at least `stride * n` floats, where `n` exceeds
    /// every id in `buffer_ids`; every port's run `start..start + len` must
    /// lie inside `buffer_ids`; `inputs <= ports.len()`;
    /// `offset + frames <= stride`; no buffer used by an output may be used
    /// by any other port of this call; and nothing else may access the pool
    /// while this value lives.
    #[inline]
    pub(crate) unsafe fn new(
        pool: *mut f32,
        stride: usize,
        offset: usize,
        frames: usize,
        ports: &'a [PortBuffers],
        inputs: usize,
        buffer_ids: &'a [u32],
    ) -> Self {
        ProcessIo {
            // SAFETY: `offset < stride`, inside buffer 0 (the contract).
            base: unsafe { pool.add(offset) },
            stride,
            frames,
            ports,
            inputs,
            buffer_ids: buffer_ids.as_ptr(),
            rest: None,
            _borrow: PhantomData,
        }
    }

    /// Declare what every later call would compute, until one of this
    /// processor's parameters changes: the runtime then runs that itself,
    /// without calling `process` (see [`Rest`]). A node declares it only
    /// after writing the same in this call.
    #[inline]
    pub fn rest(&mut self, rest: Rest) {
        self.rest = Some(rest);
    }

    /// What the processor declared with [`ProcessIo::rest`].
    #[inline]
    pub(crate) fn rested(&self) -> Option<Rest> {
        self.rest
    }

    /// Frames to process in this call.
    #[inline]
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Number of input ports.
    #[inline]
    pub fn input_ports(&self) -> usize {
        self.inputs
    }

    /// Number of output ports.
    #[inline]
    pub fn output_ports(&self) -> usize {
        self.ports.len() - self.inputs
    }

    #[inline]
    fn input_port(&self, port: usize) -> PortBuffers {
        assert!(port < self.inputs, "input port {port} out of range");
        self.ports[port]
    }

    #[inline]
    fn output_port(&self, port: usize) -> PortBuffers {
        self.ports[self.inputs + port]
    }

    /// Whether anything is wired to input `port`: unconnected, it reads
    /// silence, which a node may then skip looking at.
    #[inline]
    pub fn connected(&self, port: usize) -> bool {
        let port = self.input_port(port);
        // SAFETY: `new`'s contract: the port's run of ids lies inside `buffer_ids`.
        let ids = unsafe {
            std::slice::from_raw_parts(self.buffer_ids.add(port.start as usize), port.len as usize)
        };
        ids.iter().any(|&id| id != crate::plan::SILENCE)
    }

    /// Channels arriving at input `port`.
    #[inline]
    pub fn input_channels(&self, port: usize) -> usize {
        self.input_port(port).len as usize
    }

    /// Channels of output `port`.
    #[inline]
    pub fn output_channels(&self, port: usize) -> usize {
        self.output_port(port).len as usize
    }

    #[inline]
    fn buffer(&self, port: PortBuffers, ch: usize) -> *mut f32 {
        assert!(ch < port.len as usize, "channel {ch} out of range");
        // SAFETY: `new`'s contract: the port's run of ids lies inside
        // `buffer_ids`, and every id inside the pool.
        unsafe {
            let id = *self.buffer_ids.add(port.start as usize + ch) as usize;
            self.base.add(id * self.stride)
        }
    }

    /// Input `port`, channel `ch` (silence when unconnected). A mono signal
    /// arriving at a wider port appears on every channel.
    #[inline]
    pub fn input(&self, port: usize, ch: usize) -> &'a [f32] {
        let ptr = self.buffer(self.input_port(port), ch);
        // SAFETY: input buffers are not written during this call (`new`).
        unsafe { std::slice::from_raw_parts(ptr, self.frames) }
    }

    /// Output `port`, channel `ch`.
    #[inline]
    pub fn output(&mut self, port: usize, ch: usize) -> &mut [f32] {
        let ptr = self.buffer(self.output_port(port), ch);
        // SAFETY: output buffers are exclusive to this port and channel, and
        // the `&mut self` borrow keeps this the only live output slice.
        unsafe { std::slice::from_raw_parts_mut(ptr, self.frames) }
    }

    /// Several distinct `(port, channel)` outputs at once, for nodes that
    /// write them in one loop.
    #[inline]
    pub fn outputs<const N: usize>(&mut self, which: [(usize, usize); N]) -> [&mut [f32]; N] {
        for i in 0..N {
            for j in 0..i {
                assert!(which[i] != which[j], "output requested twice");
            }
        }
        let frames = self.frames;
        // `from_fn` rather than `which.map`, which is not inlined.
        std::array::from_fn(
            #[inline(always)]
            |i| {
                let (port, ch) = which[i];
                let ptr = self.buffer(self.output_port(port), ch);
                // SAFETY: distinct (port, channel) pairs map to distinct buffers.
                unsafe { std::slice::from_raw_parts_mut(ptr, frames) }
            },
        )
    }
}
