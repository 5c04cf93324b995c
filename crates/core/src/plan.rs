//! The compiled form of a patch: plain data saying which step runs when and
//! which buffers it reads and writes. Printable, testable without sound, and
//! instantiated into a running [`crate::runtime::Schedule`].

use std::fmt;

use crate::registry::NodeDescriptor;

/// Index of a mono block buffer in the schedule's pool.
pub type BufferId = u32;

/// Buffer 0 is always silent; unconnected inputs read it.
pub const SILENCE: BufferId = 0;

/// One node as the plan sees it.
#[derive(Debug, Clone)]
pub struct PlanNode {
    /// The patch's node id.
    pub id: String,
    /// Its kind.
    pub descriptor: &'static NodeDescriptor,
    /// Channel count of its "follows input" ports.
    pub channels: usize,
    /// Parameter values in declaration order.
    pub params: Vec<f32>,
    /// Setting values in declaration order, as written (relative paths are
    /// resolved by the host that opens them).
    pub settings: Vec<String>,
    /// Its own latency in samples.
    pub latency: usize,
    /// Samples by which its input arrives late (cycle breakers in a loop).
    pub feedback_delay: usize,
}

/// One thing the audio thread does, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run node `node`'s processor.
    Process {
        /// Index into [`Plan::nodes`].
        node: usize,
        /// Per input port, the buffer of each channel.
        inputs: Vec<Vec<BufferId>>,
        /// Per output port, the buffer of each channel.
        outputs: Vec<Vec<BufferId>>,
        /// Parameters driven by a signal: (parameter index, buffer).
        modulations: Vec<(usize, BufferId)>,
    },
    /// `output = sum(inputs)`: several edges into one input.
    Sum {
        /// Buffers to add.
        inputs: Vec<BufferId>,
        /// Where the sum goes.
        output: BufferId,
    },
    /// `to = from`: keeps a fed-back signal for the next block.
    Copy {
        /// Source buffer.
        from: BufferId,
        /// Persistent destination buffer.
        to: BufferId,
    },
    /// Delay by `samples` to align a path with a slower parallel one.
    Delay {
        /// Delay in samples.
        samples: usize,
        /// Source buffer.
        input: BufferId,
        /// Delayed copy.
        output: BufferId,
    },
}

impl Step {
    /// Buffers this step reads.
    pub fn reads(&self) -> Vec<BufferId> {
        match self {
            Step::Process {
                inputs, modulations, ..
            } => inputs
                .iter()
                .flatten()
                .copied()
                .chain(modulations.iter().map(|m| m.1))
                .collect(),
            Step::Sum { inputs, .. } => inputs.clone(),
            Step::Copy { from, .. } => vec![*from],
            Step::Delay { input, .. } => vec![*input],
        }
    }

    /// Buffers this step writes.
    pub fn writes(&self) -> Vec<BufferId> {
        match self {
            Step::Process { outputs, .. } => outputs.iter().flatten().copied().collect(),
            Step::Sum { output, .. } => vec![*output],
            Step::Copy { to, .. } => vec![*to],
            Step::Delay { output, .. } => vec![*output],
        }
    }
}

/// Which output channel a feedback store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackStore {
    /// Index into [`Plan::nodes`].
    pub node: usize,
    /// Output port of that node.
    pub port: usize,
    /// Channel of that port.
    pub channel: usize,
}

/// A compiled patch.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Samples per second it was compiled for.
    pub sample_rate: f32,
    /// Frames per block.
    pub block: usize,
    /// Every node of the patch, in patch order.
    pub nodes: Vec<PlanNode>,
    /// What runs, in order.
    pub steps: Vec<Step>,
    /// Mono buffers needed, including the silent one and feedback stores.
    pub buffer_count: usize,
    /// Buffers kept across blocks for fed-back signals: entry `i` is buffer
    /// `i + 1` and holds that output channel's previous block.
    pub feedback: Vec<FeedbackStore>,
    /// The two buffers (left, right) that reach the device or file.
    pub master: [BufferId; 2],
    /// Samples from input to the master output along the slowest path.
    pub latency: usize,
}

impl Plan {
    /// The plan node with this id.
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }
}

fn list(ids: &[BufferId]) -> String {
    let parts: Vec<String> = ids.iter().map(|b| format!("b{b}")).collect();
    format!("[{}]", parts.join(" "))
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "plan: {} nodes, {} steps, {} buffers of {} frames ({} for feedback, b0 silent), latency {} samples",
            self.nodes.len(),
            self.steps.len(),
            self.buffer_count,
            self.block,
            self.feedback.len(),
            self.latency
        )?;
        for (i, step) in self.steps.iter().enumerate() {
            write!(f, "{i:>5}  ")?;
            match step {
                Step::Process {
                    node,
                    inputs,
                    outputs,
                    modulations,
                } => {
                    let n = &self.nodes[*node];
                    write!(f, "{} ({})", n.id, n.descriptor.kind)?;
                    for (port, bufs) in n.descriptor.inputs.iter().zip(inputs) {
                        write!(f, " {}={}", port.name, list(bufs))?;
                    }
                    for (param, buf) in modulations {
                        write!(f, " {}=b{buf}", n.descriptor.params[*param].name)?;
                    }
                    write!(f, " ->")?;
                    for (port, bufs) in n.descriptor.outputs.iter().zip(outputs) {
                        write!(f, " {}={}", port.name, list(bufs))?;
                    }
                }
                Step::Sum { inputs, output } => write!(f, "sum {} -> b{output}", list(inputs))?,
                Step::Copy { from, to } => write!(f, "keep b{from} -> b{to} for next block")?,
                Step::Delay {
                    samples,
                    input,
                    output,
                } => write!(f, "align b{input} -> b{output} delayed {samples} samples")?,
            }
            writeln!(f)?;
        }
        writeln!(f, "master: L=b{} R=b{}", self.master[0], self.master[1])
    }
}
