//! The block executor and the rings that connect it to the control thread.
//!
//! A [`Schedule`] is a [`Plan`] made runnable: processors built, buffers
//! allocated, steps flattened to indices. The [`Runtime`] owns the live
//! schedule on the audio thread and walks it block by block; the [`Engine`]
//! is its control-side handle. They share nothing but two rtrb rings:
//! commands in (parameter changes and schedule swaps, in order, must
//! deliver), garbage out (replaced schedules, dropped on the control side).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::disk::DiskJob;
use crate::lanes::Lanes;
use crate::plan::{BufferId, Plan, Step};
use crate::processor::{NodeContext, PortBuffers, ProcessIo, Processor, Rest, Resting, Silent};
use crate::registry::{NodeDescriptor, Unit};
use crate::safety::Safety;
use crate::telemetry::Tap;

/// Parameter glides and signal-driven parameters advance in chunks of this
/// many frames: the granularity of smoothing and modulation.
pub const CONTROL_CHUNK: usize = 16;

/// Capacity of the command ring.
const COMMAND_CAPACITY: usize = 4096;
/// Capacity of the garbage ring; one swap produces one item.
const GARBAGE_CAPACITY: usize = 64;
/// How many timed parameter changes can wait for their sample at once.
pub const PENDING_CAPACITY: usize = 1024;
/// No (further) timed change for a node in this block.
const NO_EVENT: u32 = u32::MAX;

/// A parameter's smoothed state on the audio thread.
#[derive(Clone, Copy, Debug)]
struct ParamState {
    index: u32,
    value: f32,
    target: f32,
    step: f32,
    chunks_left: u32,
    min: f32,
    max: f32,
    glide_chunks: u32,
    /// Set on an adopting schedule's parameters that the edit changed.
    edited: bool,
}

/// A node's processor and its parameters, as the audio thread holds them.
struct NodeSlot {
    processor: Box<dyn Processor>,
    params: Vec<ParamState>,
    /// How many of `params` are gliding.
    gliding: u32,
    /// This block's first timed change for this node (an index into the
    /// block's due changes, chained by `Timed::next`), or `NO_EVENT`.
    first_event: u32,
    /// No other step of the schedule writes this node's output buffers.
    sole_writer: bool,
    /// What its last whole-block call declared (`ProcessIo::rest`), if no
    /// parameter has changed since: the runtime runs that instead of it.
    rest: Option<Resting>,
    /// The nodes whose outputs its inputs read (a range of
    /// `Schedule::feeders`), or `None` where an input is written by a
    /// plumbing step or by several steps: it then never folds.
    feeders: Option<(u32, u32)>,
}

/// A parameter change waiting on the audio thread for its sample.
#[derive(Clone, Copy, Debug)]
struct Timed {
    /// Sample time at which the change starts.
    at: u64,
    /// In the numbering of the latest patch sent (as `Command::SetParam`).
    node: u32,
    param: u32,
    value: f32,
    /// While due: the node's next change in this block, or `NO_EVENT`.
    next: u32,
}

#[derive(Clone, Copy, Debug)]
enum ExecStep {
    Process {
        node: u32,
        /// The node's input ports, then its output ports.
        ports: (u32, u32),
        inputs: u32,
        modulations: (u32, u32),
    },
    Sum {
        inputs: (u32, u32),
        output: u32,
    },
    Copy {
        from: u32,
        to: u32,
    },
    Delay {
        line: u32,
        input: u32,
        output: u32,
    },
}

/// The schedule's buffers, one after another from the start of a cache
/// line: at block sizes that are multiples of 16 every buffer starts on one,
/// so that wide loads and stores never straddle two lines.
struct Pool(Vec<CacheLine>);

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine([f32; 16]);

impl Pool {
    fn new(samples: usize) -> Pool {
        Pool(vec![CacheLine([0.0; 16]); samples.div_ceil(16)])
    }
}

impl std::ops::Deref for Pool {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        // SAFETY: `CacheLine` is 16 floats with no padding (`repr(C)`, 64
        // bytes), so the lines are `16 * len` contiguous floats.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast(), self.0.len() * 16) }
    }
}

impl std::ops::DerefMut for Pool {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast(), self.0.len() * 16) }
    }
}

/// A ring used to align a path with a slower parallel one.
struct DelayLine {
    data: Vec<f32>,
    pos: usize,
}

/// What a schedule takes over from the one it replaces, so that state
/// survives a structural edit.
#[derive(Default)]
pub struct Adoption {
    /// (node here, node there): processors and parameter states to take.
    pub nodes: Vec<(u32, u32)>,
    /// (buffer here, buffer there): feedback stores whose last block to copy.
    pub buffers: Vec<(u32, u32)>,
    /// (node here, parameter) whose value the edit changed: these glide from
    /// the adopted state to this schedule's value. Every other parameter of
    /// an adopted node carries on as it was, with any glide under way and
    /// the changes commands made since the edit's plan was taken.
    pub edited: Vec<(u32, u32)>,
}

/// A schedule that plays only while a structural edit crossfades, then
/// hands over to the schedule of the edited patch.
struct Transition {
    /// Taken at the hand-over; the rest of the transition (its node map)
    /// goes to the garbage with the crossfade schedule, so nothing is freed
    /// on the audio thread.
    then: Option<Box<Schedule>>,
    blocks_left: u32,
    /// For each node of `then`: its index here, for parameter commands sent
    /// in `then`'s numbering (`u32::MAX`: none).
    node_map: Vec<u32>,
}

impl Transition {
    fn map(&self, node: u32) -> u32 {
        self.node_map.get(node as usize).copied().unwrap_or(u32::MAX)
    }
}

/// When the pass that folds and unfolds resting nodes (`Schedule::refold`)
/// must run.
#[derive(Default)]
struct Folding {
    /// Something may fold, or must unfold: the next block begins with it.
    due: bool,
    /// Some node folded at the last pass (and may be folded still).
    any: bool,
}

/// A plan made runnable: processors built, buffers preallocated.
pub struct Schedule {
    block: usize,
    sample_rate: f32,
    /// Readings published by the processors built for this schedule (not
    /// the adopted ones), by plan node index.
    taps: Vec<(usize, Arc<Tap>)>,
    /// Disk work of the processors built for this schedule, by plan node
    /// index; taken by the host before the schedule is sent.
    disk_jobs: Vec<(usize, DiskJob)>,
    adoption: Adoption,
    /// For each node of the schedule this one replaces (in the numbering
    /// parameter commands used before it), its index in this schedule's
    /// numbering, or `u32::MAX`: how timed changes still waiting move over.
    renumber: Vec<u32>,
    transition: Option<Transition>,
    pool: Pool,
    lanes: Lanes,
    steps: Vec<ExecStep>,
    ports: Vec<PortBuffers>,
    buffer_ids: Vec<u32>,
    modulations: Vec<(u32, u32)>,
    nodes: Vec<NodeSlot>,
    feeders: Vec<u32>,
    /// Kept on the heap: the out-of-line calls that write it then write
    /// nothing of the schedule itself, so the step loop keeps its fields in
    /// registers across them (a resting node cost a fifth more otherwise).
    folding: Box<Folding>,
    delays: Vec<DelayLine>,
    master: [BufferId; 2],
}

impl Schedule {
    /// Build every processor and buffer for `plan` (control thread).
    pub fn new(plan: &Plan) -> Schedule {
        Schedule::adopting(plan, Adoption::default())
    }

    /// Build a schedule that, when swapped in, takes the processors and
    /// stores named in `adoption` from the schedule it replaces. Adopted
    /// nodes are not built here (control thread).
    pub fn adopting(plan: &Plan, adoption: Adoption) -> Schedule {
        let mut adopted = vec![false; plan.nodes.len()];
        for &(here, _) in &adoption.nodes {
            adopted[here as usize] = true;
        }
        let mut nodes = Vec::with_capacity(plan.nodes.len());
        let mut taps = Vec::new();
        let mut disk_jobs = Vec::new();
        for (i, n) in plan.nodes.iter().enumerate() {
            let ctx = NodeContext {
                id: &n.id,
                sample_rate: plan.sample_rate,
                max_block: plan.block,
                channels: n.channels,
                params: &n.params,
                settings: &n.settings,
                feedback_delay: n.feedback_delay,
            };
            // A zero-sized placeholder: boxing it does not allocate.
            let mut processor: Box<dyn Processor> = if adopted[i] {
                Box::new(Silent)
            } else {
                (n.descriptor.build)(&ctx)
            };
            if let Some(tap) = processor.tap() {
                taps.push((i, tap));
            }
            if let Some(job) = processor.disk_job() {
                disk_jobs.push((i, job));
            }
            nodes.push(NodeSlot {
                processor,
                params: param_states(n.descriptor, &n.params, plan.sample_rate),
                gliding: 0,
                first_event: NO_EVENT,
                sole_writer: false,
                rest: None,
                feeders: None,
            });
        }
        let mut writers = vec![0u32; plan.buffer_count];
        let mut written_by = vec![None; plan.buffer_count];
        for step in &plan.steps {
            for b in step.writes() {
                writers[b as usize] += 1;
                if let Step::Process { node, .. } = step {
                    written_by[b as usize] = Some(*node as u32);
                }
            }
        }
        let mut feeders = Vec::new();
        for step in &plan.steps {
            if let Step::Process {
                node,
                inputs,
                outputs,
                ..
            } = step
            {
                nodes[*node].sole_writer = outputs.iter().flatten().all(|&b| writers[b as usize] == 1);
                // An input nothing writes is silence, settled from the start.
                let start = feeders.len();
                let fed =
                    inputs
                        .iter()
                        .flatten()
                        .all(|&b| match (writers[b as usize], written_by[b as usize]) {
                            (0, _) => true,
                            (1, Some(feeder)) => {
                                feeders.push(feeder);
                                true
                            }
                            _ => false,
                        });
                if !fed {
                    feeders.truncate(start);
                }
                nodes[*node].feeders = fed.then_some((start as u32, feeders.len() as u32));
            }
        }
        for &(node, param) in &adoption.edited {
            if let Some(state) = nodes
                .get_mut(node as usize)
                .and_then(|n: &mut NodeSlot| n.params.get_mut(param as usize))
            {
                state.edited = true;
            }
        }
        let mut schedule = Schedule {
            block: plan.block,
            sample_rate: plan.sample_rate,
            taps,
            disk_jobs,
            adoption,
            renumber: Vec::new(),
            transition: None,
            pool: Pool::new(plan.buffer_count * plan.block),
            lanes: Lanes::detect(),
            steps: Vec::with_capacity(plan.steps.len()),
            ports: Vec::new(),
            buffer_ids: Vec::new(),
            modulations: Vec::new(),
            nodes,
            feeders,
            folding: Box::default(),
            delays: Vec::new(),
            master: plan.master,
        };
        for step in &plan.steps {
            let exec = match step {
                Step::Process {
                    node,
                    inputs,
                    outputs,
                    modulations,
                } => {
                    let (first, _) = schedule.push_ports(inputs);
                    let (_, end) = schedule.push_ports(outputs);
                    let start = schedule.modulations.len() as u32;
                    schedule
                        .modulations
                        .extend(modulations.iter().map(|&(p, b)| (p as u32, b)));
                    ExecStep::Process {
                        node: *node as u32,
                        ports: (first, end),
                        inputs: inputs.len() as u32,
                        modulations: (start, schedule.modulations.len() as u32),
                    }
                }
                Step::Sum { inputs, output } => {
                    let start = schedule.buffer_ids.len() as u32;
                    schedule.buffer_ids.extend_from_slice(inputs);
                    ExecStep::Sum {
                        inputs: (start, schedule.buffer_ids.len() as u32),
                        output: *output,
                    }
                }
                Step::Copy { from, to } => ExecStep::Copy { from: *from, to: *to },
                Step::Delay {
                    samples,
                    input,
                    output,
                } => {
                    schedule.delays.push(DelayLine {
                        data: vec![0.0; *samples],
                        pos: 0,
                    });
                    ExecStep::Delay {
                        line: schedule.delays.len() as u32 - 1,
                        input: *input,
                        output: *output,
                    }
                }
            };
            schedule.steps.push(exec);
        }
        schedule
    }

    fn push_ports(&mut self, ports: &[Vec<BufferId>]) -> (u32, u32) {
        let start = self.ports.len() as u32;
        for channels in ports {
            self.ports.push(PortBuffers {
                start: self.buffer_ids.len() as u32,
                len: channels.len() as u32,
            });
            self.buffer_ids.extend_from_slice(channels);
        }
        (start, self.ports.len() as u32)
    }

    /// Make this a crossfade schedule that plays for `blocks` blocks, then
    /// gives way to `then` (which adopts from this one). `node_map[i]` is
    /// this schedule's index of `then`'s node `i`.
    pub fn then(&mut self, then: Schedule, blocks: u32, node_map: Vec<u32>) {
        self.transition = Some(Transition {
            then: Some(Box::new(then)),
            blocks_left: blocks.max(1),
            node_map,
        });
    }

    /// Timed parameter changes still waiting when this schedule is swapped
    /// in were sent for node `i` of the schedule it replaces; they move to
    /// node `renumber[i]` here (`u32::MAX`: dropped, the node is gone).
    /// Without a map, waiting changes are dropped at the swap.
    pub fn renumber(&mut self, renumber: Vec<u32>) {
        self.renumber = renumber;
    }

    /// Take over processors, parameter states and feedback stores from
    /// `old` as planned on the control side (audio thread; swaps boxes and
    /// copies a few buffers, never allocates). `old` receives the
    /// placeholders and goes to the garbage.
    fn adopt_from(&mut self, old: &mut Schedule) {
        for &(here, there) in &self.adoption.nodes {
            let (Some(new), Some(prev)) = (
                self.nodes.get_mut(here as usize),
                old.nodes.get_mut(there as usize),
            ) else {
                continue;
            };
            std::mem::swap(&mut new.processor, &mut prev.processor);
            new.gliding = 0;
            for (state, before) in new.params.iter_mut().zip(&prev.params) {
                let (target, edited) = (state.target, state.edited);
                *state = *before;
                state.edited = false;
                if before.chunks_left > 0 {
                    new.gliding += 1;
                }
                if edited && before.target != target {
                    state.glide_to(target, new.processor.as_mut(), &mut new.gliding);
                }
            }
        }
        let block = self.block;
        for &(here, there) in &self.adoption.buffers {
            let (here, there) = (here as usize * block, there as usize * block);
            if let (Some(to), Some(from)) = (
                self.pool.get_mut(here..here + block),
                old.pool.get(there..there + block),
            ) {
                to.copy_from_slice(from);
            }
        }
    }

    /// Readings published by the processors this schedule built, by plan
    /// node index (control thread, before the schedule is sent).
    pub fn taps(&self) -> &[(usize, Arc<Tap>)] {
        &self.taps
    }

    /// Take the disk work of the processors this schedule built, by plan
    /// node index, to run it (control thread, before the schedule is sent:
    /// a job left in it is dropped with it, off the audio thread).
    pub fn take_disk_jobs(&mut self) -> Vec<(usize, DiskJob)> {
        std::mem::take(&mut self.disk_jobs)
    }

    /// Whether the runtime skips `node` (a plan node index) each block: its
    /// outputs stay as written, as a held constant's do, or a level node's
    /// folded on held inputs.
    pub fn is_skipped(&self, node: usize) -> bool {
        self.nodes
            .get(node)
            .and_then(|slot| slot.rest.as_ref())
            .is_some_and(Resting::is_settled)
    }

    /// Frames per block.
    pub fn block(&self) -> usize {
        self.block
    }

    /// Left and right of the last processed block.
    #[inline]
    pub fn master(&self) -> [&[f32]; 2] {
        // SAFETY: the plan's master ids, like all its buffer ids, are below
        // its buffer count, and the pool holds that many blocks.
        self.master.map(|id| unsafe {
            self.pool
                .get_unchecked(id as usize * self.block..(id as usize + 1) * self.block)
        })
    }

    /// Run one block (audio thread).
    pub fn process(&mut self) {
        self.run::<false>(&[], 0);
    }

    /// Run one block that starts at sample time `start`, applying the timed
    /// parameter changes `due` (linked to their nodes by `link`) at their
    /// samples. Built apart for blocks without any (`EVENTS` false, most
    /// blocks): no node then has a timed change to look for, and the loop
    /// keeps fewer values.
    fn run<const EVENTS: bool>(&mut self, due: &[Timed], start: u64) {
        let _denormals = crate::denormal::FlushToZero::new();
        if self.folding.due {
            self.folding.due = false;
            self.refold(true);
        }
        for i in 0..self.steps.len() {
            // Nodes first, with a branch rather than a jump table: most
            // steps are nodes, and the other kinds' values stay out of the
            // loop.
            match self.steps[i] {
                ExecStep::Process {
                    node,
                    ports,
                    inputs,
                    modulations,
                } => {
                    // SAFETY: steps are built from the plan's nodes, one slot each.
                    let slot = unsafe { self.nodes.get_unchecked(node as usize) };
                    // A node rests only after a whole-block call (so it was
                    // neither gliding nor driven) and wakes at its next
                    // parameter change.
                    if let Some(resting) = &slot.rest
                        && !(EVENTS && slot.first_event != NO_EVENT)
                    {
                        resting.run();
                    } else {
                        self.call_node::<EVENTS>(node as usize, ports, inputs, modulations, due, start);
                    }
                }
                step => self.run_plumbing(step),
            }
        }
    }

    /// A step that moves samples between buffers.
    #[inline(never)]
    fn run_plumbing(&mut self, step: ExecStep) {
        let block = self.block;
        match step {
            // Nodes run in `run` itself.
            ExecStep::Process { .. } => {}
            ExecStep::Sum { inputs, output } => self.sum(inputs, output),
            ExecStep::Copy { from, to } => {
                let from = from as usize * block;
                self.pool.copy_within(from..from + block, to as usize * block);
            }
            ExecStep::Delay { line, input, output } => self.delay(line, input, output),
        }
    }

    // Kept out of line, like `run_node_in_pieces`: the step loop then
    // holds few live values and runs a node with little more than the call.
    #[inline(never)]
    fn sum(&mut self, inputs: (u32, u32), output: u32) {
        let block = self.block;
        let (pool, ids) = (&mut self.pool, &self.buffer_ids);
        let out = output as usize * block;
        let first = ids[inputs.0 as usize] as usize * block;
        pool.copy_within(first..first + block, out);
        for &id in &ids[inputs.0 as usize + 1..inputs.1 as usize] {
            let src = id as usize * block;
            for k in 0..block {
                pool[out + k] += pool[src + k];
            }
        }
    }

    #[inline(never)]
    fn delay(&mut self, line: u32, input: u32, output: u32) {
        let block = self.block;
        let line = &mut self.delays[line as usize];
        let (input, output) = (input as usize * block, output as usize * block);
        let len = line.data.len();
        for k in 0..block {
            let x = self.pool[input + k];
            self.pool[output + k] = line.data[line.pos];
            line.data[line.pos] = x;
            line.pos = if line.pos + 1 == len { 0 } else { line.pos + 1 };
        }
    }

    /// Chain this block's due changes to their nodes (`NodeSlot::first_event`),
    /// in time order; changes for nodes this schedule lacks are skipped.
    fn link(&mut self, due: &mut [Timed]) {
        for i in (0..due.len()).rev() {
            let node = match &self.transition {
                Some(t) => t.map(due[i].node),
                None => due[i].node,
            };
            due[i].next = NO_EVENT;
            if let Some(slot) = self.nodes.get_mut(node as usize) {
                due[i].next = slot.first_event;
                slot.first_event = i as u32;
            }
        }
    }

    /// Undo `link` once the block has run.
    fn unlink(&mut self) {
        for slot in &mut self.nodes {
            slot.first_event = NO_EVENT;
        }
    }

    /// Call a node for the block: in one call when nothing about its
    /// parameters moves (the common case), else in pieces.
    #[inline(never)]
    fn call_node<const EVENTS: bool>(
        &mut self,
        node: usize,
        ports: (u32, u32),
        inputs: u32,
        modulations: (u32, u32),
        due: &[Timed],
        start: u64,
    ) {
        // SAFETY: steps are built from the plan's nodes, one slot each.
        let slot = unsafe { self.nodes.get_unchecked_mut(node) };
        let timed = EVENTS && slot.first_event != NO_EVENT;
        if slot.gliding != 0 || timed || modulations.0 != modulations.1 {
            self.run_node_in_pieces(node, ports, inputs, modulations, due, start);
            return;
        }
        let mut io = Self::io(
            &mut self.pool,
            self.block,
            &self.ports,
            &self.buffer_ids,
            ports,
            inputs,
        );
        // A resting node is not called: `rest` stays `None` unless the node
        // comes to rest in this call.
        debug_assert!(slot.rest.is_none(), "a resting node was called");
        slot.processor.process(&mut io);
        if let Some(rest) = io.rested()
            && (rest != Rest::Hold || slot.sole_writer)
        {
            slot.rest = Resting::resolve(rest, &mut io, self.lanes);
            let slot = &self.nodes[node];
            if let Some(resting) = &slot.rest
                && self.is_constant(slot, resting)
            {
                // It, and what it feeds, may fold from the next block.
                self.folding.due = true;
            }
        }
    }

    /// Fold each resting node whose outputs can no longer change, and
    /// unfold each folded one whose outputs could: in step order, so that
    /// a chain folds or unfolds in one pass. Between blocks (`fold`) every
    /// resting node's outputs are what its form writes from its feeders as
    /// they are now; in a block, after a wake, only unfolding is safe.
    #[inline(never)]
    fn refold(&mut self, fold: bool) {
        let mut any = false;
        for i in 0..self.steps.len() {
            let ExecStep::Process { node, .. } = self.steps[i] else {
                continue;
            };
            let slot = &self.nodes[node as usize];
            let Some(resting) = &slot.rest else {
                continue;
            };
            let constant = self.is_constant(slot, resting);
            if constant != resting.is_settled()
                && (fold || !constant)
                && let Some(resting) = &mut self.nodes[node as usize].rest
            {
                resting.fold(constant);
            }
            any |= self.nodes[node as usize]
                .rest
                .as_ref()
                .is_some_and(Resting::is_folded);
        }
        self.folding.any = any;
    }

    /// Whether a resting node's outputs stay as they are: no other step
    /// writes them, and its form reads nothing, or only nodes that are
    /// held or folded, or silence.
    fn is_constant(&self, slot: &NodeSlot, resting: &Resting) -> bool {
        let feeders_settled = || {
            slot.feeders.is_some_and(|(start, end)| {
                self.feeders[start as usize..end as usize]
                    .iter()
                    .all(|&f| self.is_skipped(f as usize))
            })
        };
        slot.sole_writer && (!resting.reads_inputs() || feeders_settled())
    }

    /// Wake a resting node (it will be called): what folded on its outputs
    /// must unfold before it runs. True if a pass must see to that (while
    /// nothing is folded, none need).
    fn wake(slot: &mut NodeSlot, folding: &mut Folding) -> bool {
        let unfold = slot.rest.take().is_some() && folding.any;
        folding.due |= unfold;
        unfold
    }

    /// A whole-block view of a step's buffers (fields apart, so that the
    /// node's slot can be borrowed beside it).
    #[inline]
    fn io<'a>(
        pool: &'a mut Pool,
        block: usize,
        ports: &'a [PortBuffers],
        buffer_ids: &'a [u32],
        step: (u32, u32),
        inputs: u32,
    ) -> ProcessIo<'a> {
        // SAFETY: `push_ports` made the range, inside `ports`.
        let ports = unsafe { ports.get_unchecked(step.0 as usize..step.1 as usize) };
        // SAFETY: the plan's buffer ids are below `buffer_count`, the pool
        // holds `buffer_count * block` samples, `push_ports` keeps every
        // port's ids inside `buffer_ids` and a step's inputs before its
        // outputs, and the compiler gives each output its own buffer,
        // distinct from every input.
        unsafe {
            ProcessIo::new(
                pool.as_mut_ptr(),
                block,
                0,
                block,
                ports,
                inputs as usize,
                buffer_ids,
            )
        }
    }

    #[inline(never)]
    fn run_node_in_pieces(
        &mut self,
        node: usize,
        ports: (u32, u32),
        inputs: u32,
        mods: (u32, u32),
        due: &[Timed],
        start: u64,
    ) {
        let block = self.block;
        if Self::wake(&mut self.nodes[node], &mut self.folding) {
            // Its consumers run later in this block.
            self.refold(false);
        }
        let slot = &mut self.nodes[node];
        let ports = &self.ports[ports.0 as usize..ports.1 as usize];
        let mods = &self.modulations[mods.0 as usize..mods.1 as usize];
        let pool = self.pool.as_mut_ptr();
        // The block runs in pieces: control chunks of `CONTROL_CHUNK` frames
        // (where glides step and driving signals are sampled), further split
        // wherever a timed change starts.
        let mut event = slot.first_event;
        let event_offset = |e: u32| {
            due.get(e as usize)
                .map_or(block, |t| t.at.saturating_sub(start) as usize)
        };
        let mut offset = 0;
        let mut chunk = 0;
        while offset < block {
            while event != NO_EVENT && event_offset(event) <= offset {
                let change = due[event as usize];
                if let Some(state) = slot.params.get_mut(change.param as usize) {
                    state.set(change.value, slot.processor.as_mut(), &mut slot.gliding);
                    // Inside a chunk, a glide takes its first step where it
                    // starts; on a chunk's first frame the chunk does it.
                    if offset != chunk {
                        state.advance(slot.processor.as_mut(), &mut slot.gliding);
                    }
                }
                event = change.next;
            }
            if offset == chunk {
                for &(param, buffer) in mods {
                    // SAFETY: as in `run_node`; this buffer is an input of the step.
                    let driven = unsafe { *pool.add(buffer as usize * block + offset) };
                    let state = &mut slot.params[param as usize];
                    let value = if driven.is_finite() {
                        driven.clamp(state.min, state.max)
                    } else {
                        state.value
                    };
                    if value != state.value {
                        state.value = value;
                        slot.processor.set_param(param as usize, value);
                    }
                }
                if slot.gliding > 0 {
                    for state in &mut slot.params {
                        state.advance(slot.processor.as_mut(), &mut slot.gliding);
                    }
                }
                chunk += CONTROL_CHUNK;
            }
            let end = chunk.min(block).min(event_offset(event));
            // SAFETY: as in `run_node`, with `offset < end <= block`.
            let mut io = unsafe {
                ProcessIo::new(
                    pool,
                    block,
                    offset,
                    end - offset,
                    ports,
                    inputs as usize,
                    &self.buffer_ids,
                )
            };
            slot.processor.process(&mut io);
            offset = end;
        }
    }

    /// Start a parameter glide towards `value` (audio thread, between
    /// blocks). `node` is in the numbering of the schedule that will play
    /// once any crossfade is over.
    fn set_param(&mut self, node: usize, param: usize, value: f32) {
        let node = match &self.transition {
            Some(t) => t.map(node as u32) as usize,
            None => node,
        };
        let Some(slot) = self.nodes.get_mut(node) else {
            return;
        };
        if let Some(state) = slot.params.get_mut(param) {
            state.set(value, slot.processor.as_mut(), &mut slot.gliding);
            Self::wake(slot, &mut self.folding);
        }
    }
}

impl ParamState {
    /// A command's new value: ignored unless finite, clamped to the range,
    /// glided to.
    fn set(&mut self, value: f32, processor: &mut dyn Processor, gliding: &mut u32) {
        if value.is_finite() {
            self.glide_to(value.clamp(self.min, self.max), processor, gliding);
        }
    }

    /// One control chunk of a glide, if this parameter is gliding.
    #[inline]
    fn advance(&mut self, processor: &mut dyn Processor, gliding: &mut u32) {
        if self.chunks_left > 0 {
            self.chunks_left -= 1;
            self.value = if self.chunks_left == 0 {
                *gliding -= 1;
                self.target
            } else {
                self.value + self.step
            };
            processor.set_param(self.index as usize, self.value);
        }
    }

    /// Glide from the current value to `target` (or jump, for parameters
    /// without smoothing). `gliding` counts the node's gliding parameters.
    fn glide_to(&mut self, target: f32, processor: &mut dyn Processor, gliding: &mut u32) {
        if self.chunks_left > 0 {
            *gliding -= 1;
        }
        self.target = target;
        if self.glide_chunks == 0 || self.value == target {
            self.chunks_left = 0;
            self.value = target;
            processor.set_param(self.index as usize, target);
        } else {
            self.chunks_left = self.glide_chunks;
            self.step = (target - self.value) / self.glide_chunks as f32;
            *gliding += 1;
        }
    }
}

fn param_states(desc: &NodeDescriptor, values: &[f32], sample_rate: f32) -> Vec<ParamState> {
    desc.params
        .iter()
        .zip(values)
        .enumerate()
        .map(|(index, (spec, &value))| ParamState {
            index: index as u32,
            value,
            target: value,
            step: 0.0,
            chunks_left: 0,
            min: spec.min as f32,
            max: spec.max as f32,
            edited: false,
            glide_chunks: if spec.unit == Unit::Choice {
                0
            } else {
                (spec.smoothing_s * sample_rate as f64 / CONTROL_CHUNK as f64).round() as u32
            },
        })
        .collect()
}

/// A message from the control thread to the audio thread. Must deliver:
/// the control side retries when the ring is full.
pub enum Command {
    /// Glide parameter `param` of node `node` (plan indices) to `value`.
    SetParam {
        /// Node index in the current schedule's plan.
        node: u32,
        /// Parameter index in the node's descriptor.
        param: u32,
        /// New value; clamped to the parameter's range.
        value: f32,
    },
    /// Start parameter `param` of node `node` gliding to `value` at sample
    /// time `at` (see [`Engine::now`]) rather than at the next block: the
    /// node's block is split at that sample. A time already past applies at
    /// the start of the next block. The glide is the parameter's usual one
    /// (a jump for parameters without smoothing), beginning on that sample.
    SetParamAt {
        /// Node index in the current schedule's plan.
        node: u32,
        /// Parameter index in the node's descriptor.
        param: u32,
        /// New value; clamped to the parameter's range.
        value: f32,
        /// Sample time (frames since the runtime started) of the first
        /// frame that hears the change.
        at: u64,
    },
    /// Replace the running schedule between two blocks.
    Swap(Box<Schedule>),
}

/// What the audio thread tells every control-side handle: atomics only.
#[derive(Debug, Default)]
struct Clock {
    /// Sample time of the first frame of the next block to be computed.
    now: AtomicU64,
    /// Timed changes applied before their time because the waiting list
    /// was full.
    early: AtomicU64,
}

/// The audio-thread half: owns the live schedule and runs it.
pub struct Runtime {
    schedule: Box<Schedule>,
    commands: rtrb::Consumer<Command>,
    garbage: rtrb::Producer<Box<Schedule>>,
    /// The device boundary: the master made finite and limited.
    safety: Safety,
    /// The last block after `safety`: what hosts hear (left, right).
    output: [Box<[f32]>; 2],
    /// Frames of the current block already handed to the host.
    consumed: usize,
    /// Sample time of the next block's first frame.
    frame: u64,
    /// Timed changes waiting for a later block, in time order (equal times
    /// in the order sent). Never grows past `PENDING_CAPACITY`.
    pending: Vec<Timed>,
    clock: Arc<Clock>,
    /// Hears every block of `output` as it is made (a master recorder).
    listener: Option<OutputListener>,
}

/// Called on the audio thread with every block hosts hear (left, right):
/// must not allocate, lock, block or log.
pub type OutputListener = Box<dyn FnMut([&[f32]; 2]) + Send>;

/// The control-thread half: sends commands, receives garbage.
pub struct Engine {
    commands: rtrb::Producer<Command>,
    garbage: rtrb::Consumer<Box<Schedule>>,
    clock: Arc<Clock>,
}

/// Why a command could not be sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The audio thread is not draining commands (stopped or stalled).
    #[error("the audio engine is not taking commands (command queue full)")]
    Full,
}

impl Engine {
    /// Queue a command.
    pub fn send(&mut self, command: Command) -> Result<(), SendError> {
        self.commands.push(command).map_err(|_| SendError::Full)
    }

    /// Sample time of the first frame the runtime has not computed yet: the
    /// earliest `at` a [`Command::SetParamAt`] sent now can still meet
    /// (sooner if the audio thread is behind, as commands wait in the ring).
    pub fn now(&self) -> u64 {
        self.clock.now.load(Ordering::Acquire)
    }

    /// Timed changes applied before their time because more than
    /// [`PENDING_CAPACITY`] were waiting (the earliest waiting one goes
    /// first: every change still lands, in time order).
    pub fn early_changes(&self) -> u64 {
        self.clock.early.load(Ordering::Relaxed)
    }

    /// Drop schedules the audio thread has finished with; returns how many.
    pub fn collect_garbage(&mut self) -> usize {
        let mut n = 0;
        while let Ok(old) = self.garbage.pop() {
            drop(old);
            n += 1;
        }
        n
    }
}

/// An engine handle and its runtime, starting with `schedule`.
pub fn engine(schedule: Schedule) -> (Engine, Runtime) {
    let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_CAPACITY);
    let (garbage_tx, garbage_rx) = rtrb::RingBuffer::new(GARBAGE_CAPACITY);
    let consumed = schedule.block;
    let safety = Safety::new(schedule.sample_rate);
    let output = [0, 1].map(|_| vec![0.0; schedule.block].into_boxed_slice());
    let clock = Arc::new(Clock::default());
    (
        Engine {
            commands: cmd_tx,
            garbage: garbage_rx,
            clock: clock.clone(),
        },
        Runtime {
            schedule: Box::new(schedule),
            commands: cmd_rx,
            garbage: garbage_tx,
            safety,
            output,
            consumed,
            frame: 0,
            pending: Vec::with_capacity(PENDING_CAPACITY),
            clock,
            listener: None,
        },
    )
}

impl Runtime {
    /// The running schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The safety stage between the master and the host.
    pub fn safety(&self) -> &Safety {
        &self.safety
    }

    /// Set the safety limiter's ceiling in dBFS, or switch the limiter off
    /// with `None` (control side, before the runtime starts).
    pub fn set_ceiling_db(&mut self, ceiling_db: Option<f32>) {
        self.safety.set_ceiling_db(ceiling_db);
    }

    /// Have `listener` hear every block from now on, exactly as hosts do
    /// (control side, before the runtime starts; `patchbay play --record`).
    pub fn set_output_listener(&mut self, listener: OutputListener) {
        self.listener = Some(listener);
    }

    /// Left and right of the last block as hosts hear it: the master after
    /// the safety stage. Renderers and devices read this, never the raw
    /// master, so they play the same samples.
    pub fn output(&self) -> [&[f32]; 2] {
        [&self.output[0], &self.output[1]]
    }

    /// Apply queued commands, then run one block (audio thread).
    pub fn process_block(&mut self) {
        if self
            .schedule
            .transition
            .as_ref()
            .is_some_and(|t| t.blocks_left == 0)
        {
            self.finish_transition();
        }
        self.drain_commands();
        let start = self.frame;
        let end = start + self.schedule.block as u64;
        let due = self.pending.partition_point(|t| t.at < end);
        if due == 0 {
            self.schedule.process();
        } else {
            self.schedule.link(&mut self.pending[..due]);
            self.schedule.run::<true>(&self.pending[..due], start);
            self.schedule.unlink();
            // Shifts the rest down in place: no allocation.
            self.pending.drain(..due);
        }
        if let Some(t) = &mut self.schedule.transition {
            t.blocks_left = t.blocks_left.saturating_sub(1);
        }
        self.frame = end;
        self.clock.now.store(end, Ordering::Release);
        let [left, right] = &mut self.output;
        self.safety.process(self.schedule.master(), [left, right]);
        if let Some(listener) = &mut self.listener {
            listener([left, right]);
        }
    }

    /// Sample time of the next block's first frame.
    pub fn now(&self) -> u64 {
        self.frame
    }

    /// Queue a change for a later block, keeping `pending` in time order.
    /// When it is full the earliest change is applied now, early but in
    /// order, to make room (counted).
    fn defer(&mut self, change: Timed) {
        if self.pending.len() == self.pending.capacity() {
            let first = self.pending.first().copied().filter(|p| p.at <= change.at);
            let early = match first {
                Some(p) => {
                    self.pending.remove(0);
                    p
                }
                None => change,
            };
            self.clock.early.fetch_add(1, Ordering::Relaxed);
            self.schedule
                .set_param(early.node as usize, early.param as usize, early.value);
            if first.is_none() {
                return;
            }
        }
        let at = self.pending.partition_point(|p| p.at <= change.at);
        self.pending.insert(at, change);
    }

    /// Swap in `new`, handing it the state it adopts from the running
    /// schedule, and the timed changes still waiting, renumbered. The caller
    /// has checked that the garbage ring has room.
    fn install(&mut self, new: Box<Schedule>) {
        let renumber = &new.renumber;
        self.pending.retain_mut(|p| match renumber.get(p.node as usize) {
            Some(&node) if node != u32::MAX => {
                p.node = node;
                true
            }
            _ => false,
        });
        self.hand_over(new);
    }

    /// Swap in `new`, handing it the state it adopts from the running
    /// schedule (the caller has checked that the garbage ring has room).
    fn hand_over(&mut self, mut new: Box<Schedule>) {
        new.adopt_from(&mut self.schedule);
        let old = std::mem::replace(&mut self.schedule, new);
        // Cannot fail: callers check `garbage.slots()` first. Were it to,
        // leaking the schedule is still better than freeing it here.
        if let Err(rtrb::PushError::Full(old)) = self.garbage.push(old) {
            std::mem::forget(old);
        }
    }

    /// End a crossfade: the edited patch's own schedule takes over. With no
    /// room on the garbage ring, the crossfade schedule (by now playing only
    /// the new signal) plays on for another block.
    fn finish_transition(&mut self) {
        if self.garbage.slots() == 0 {
            return;
        }
        // Waiting changes are already numbered for `then`.
        if let Some(then) = self.schedule.transition.as_mut().and_then(|t| t.then.take()) {
            self.hand_over(then);
        }
    }

    fn drain_commands(&mut self) {
        loop {
            if let Ok(Command::Swap(_)) = self.commands.peek() {
                // Room for this swap's garbage and that of an unfinished
                // crossfade, which must end first: the new schedule's
                // adoption refers to the schedule the crossfade leads to.
                if self.garbage.slots() < 2 {
                    return;
                }
                self.finish_transition();
            }
            let Ok(command) = self.commands.pop() else { return };
            match command {
                Command::SetParam { node, param, value } => {
                    self.schedule.set_param(node as usize, param as usize, value)
                }
                Command::SetParamAt {
                    at,
                    node,
                    param,
                    value,
                } if at <= self.frame => self.schedule.set_param(node as usize, param as usize, value),
                Command::SetParamAt {
                    at,
                    node,
                    param,
                    value,
                } => self.defer(Timed {
                    at,
                    node,
                    param,
                    value,
                    next: NO_EVENT,
                }),
                Command::Swap(new) => self.install(new),
            }
        }
    }

    /// Fill an interleaved host buffer of any length (audio thread). The
    /// engine runs fixed-size blocks, so output is the same whatever the
    /// host's callback size.
    pub fn fill_interleaved(&mut self, out: &mut [f32], channels: usize) {
        // The output buffers' length, should a swap ever bring a schedule
        // with another block size.
        let block = self.output[0].len();
        let frames = out.len() / channels.max(1);
        // Once for the callback rather than once per block.
        let _denormals = crate::denormal::FlushToZero::new();
        let mut written = 0;
        while written < frames {
            if self.consumed == block {
                self.process_block();
                self.consumed = 0;
            }
            let n = (block - self.consumed).min(frames - written);
            let [left, right] = self.output();
            for k in 0..n {
                let frame = &mut out[(written + k) * channels..(written + k + 1) * channels];
                let src = self.consumed + k;
                match frame {
                    [mono] => *mono = 0.5 * (left[src] + right[src]),
                    [l, r, rest @ ..] => {
                        *l = left[src];
                        *r = right[src];
                        rest.fill(0.0);
                    }
                    [] => {}
                }
            }
            self.consumed += n;
            written += n;
        }
    }
}
