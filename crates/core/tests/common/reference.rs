//! A naive reference interpreter for acyclic patches.
//!
//! It shares nothing with the compiler but the patch and the descriptors. It
//! evaluates the whole signal at once by recursion from the outputs, one
//! fresh `Vec` per edge, memoized per node, with the semantics the compiler
//! promises:
//! - an input fed by several edges gets their sum, added in edge order (the
//!   first copied, the others added one by one);
//! - a mono signal feeding a wider input reaches every channel;
//! - a node's "follows" width is the widest signal at its follows inputs
//!   (1 when none is connected); an unconnected input is silent;
//! - every path into a node is delayed to arrive with its slowest one (by the
//!   declared latencies), and every output node with the slowest output;
//! - several output nodes are summed into the master in patch order;
//! - a parameter driven by a signal takes the signal's value, clamped to its
//!   range, at the start of every control chunk: each `CONTROL_CHUNK` frames
//!   from the start of every block (non-finite values are ignored).
//!
//! Only the block size's effect on modulation makes the result depend on it.

use std::collections::HashMap;
use std::rc::Rc;

use patchbay_core::runtime::CONTROL_CHUNK;
use patchbay_core::{Channels, NodeContext, NodeDescriptor, Patch, Registry};

use super::nodes::{noise, range_scale};

/// Channels of samples.
pub type Signal = Vec<Vec<f32>>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Input(usize),
    Param(usize),
}

#[derive(Clone, Copy, Debug)]
struct Link {
    src: usize,
    port: usize,
    dst: usize,
    target: Target,
}

/// The reference evaluation of one patch.
pub struct Reference {
    kinds: Vec<&'static NodeDescriptor>,
    params: Vec<Vec<f32>>,
    links: Vec<Link>,
    frames: usize,
    block: usize,
    widths: HashMap<usize, usize>,
    ready: HashMap<usize, usize>,
    outputs: HashMap<usize, Rc<Vec<Signal>>>,
}

impl Reference {
    /// Prepare to evaluate `frames` frames of `patch`, as run in blocks of
    /// `block` frames. Panics on anything the compiler should have rejected.
    pub fn new(patch: &Patch, registry: &Registry, frames: usize, block: usize) -> Self {
        let kinds: Vec<_> = patch
            .nodes
            .iter()
            .map(|n| registry.get(&n.kind).expect("known kind"))
            .collect();
        let index: HashMap<&str, usize> = patch
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let links = patch
            .edges
            .iter()
            .map(|e| {
                let (src, dst) = (index[e.from.node.as_str()], index[e.to.node.as_str()]);
                let port = kinds[src].output(&e.from.port).expect("known output").0;
                let target = match kinds[dst].input(&e.to.port) {
                    Some((i, _)) => Target::Input(i),
                    None => Target::Param(kinds[dst].param(&e.to.port).expect("known parameter").0),
                };
                Link {
                    src,
                    port,
                    dst,
                    target,
                }
            })
            .collect();
        Reference {
            params: patch
                .nodes
                .iter()
                .zip(&kinds)
                .map(|(n, k)| k.resolve_params(&n.params))
                .collect(),
            kinds,
            links,
            frames,
            block,
            widths: HashMap::new(),
            ready: HashMap::new(),
            outputs: HashMap::new(),
        }
    }

    /// Output nodes in patch order.
    fn output_nodes(&self) -> Vec<usize> {
        (0..self.kinds.len())
            .filter(|&v| self.kinds[v].kind == "output")
            .collect()
    }

    /// Samples from the sources to the master along the slowest path.
    pub fn latency(&mut self) -> usize {
        self.output_nodes()
            .into_iter()
            .map(|v| self.arrival(v))
            .max()
            .unwrap_or(0)
    }

    /// What the device would hear: left and right.
    pub fn master(&mut self) -> [Vec<f32>; 2] {
        let latency = self.latency();
        let heard: Vec<Signal> = self
            .output_nodes()
            .into_iter()
            .map(|v| self.gather(v, Target::Input(0), 2, latency))
            .collect();
        let [left, right]: [Vec<f32>; 2] = self.sum(heard, 2).try_into().expect("two channels");
        [left, right]
    }

    /// The width of `v`'s "follows" ports.
    fn width(&mut self, v: usize) -> usize {
        if let Some(&w) = self.widths.get(&v) {
            return w;
        }
        let mut width = 1;
        let feeding: Vec<Link> = self.links.iter().copied().filter(|l| l.dst == v).collect();
        for l in feeding {
            if let Target::Input(p) = l.target
                && self.kinds[v].inputs[p].channels == Channels::Follows
            {
                width = width.max(self.port_width(l.src, l.port));
            }
        }
        self.widths.insert(v, width);
        width
    }

    fn port_width(&mut self, v: usize, port: usize) -> usize {
        match self.kinds[v].outputs[port].channels {
            Channels::Fixed(k) => k as usize,
            Channels::Follows => self.width(v),
        }
    }

    fn input_width(&mut self, v: usize, port: usize) -> usize {
        match self.kinds[v].inputs[port].channels {
            Channels::Fixed(k) => k as usize,
            Channels::Follows => self.width(v),
        }
    }

    /// When `v`'s inputs are all there: the latest of its sources.
    fn arrival(&mut self, v: usize) -> usize {
        let sources: Vec<usize> = self.links.iter().filter(|l| l.dst == v).map(|l| l.src).collect();
        sources.into_iter().map(|s| self.ready(s)).max().unwrap_or(0)
    }

    /// When `v`'s output is there: its arrival plus its declared latency.
    fn ready(&mut self, v: usize) -> usize {
        if let Some(&r) = self.ready.get(&v) {
            return r;
        }
        let ctx = NodeContext {
            id: "",
            settings: &[],
            sample_rate: 48_000.0,
            max_block: self.block,
            channels: self.width(v),
            params: &self.params[v].clone(),
            feedback_delay: 0,
        };
        let ready = self.arrival(v) + (self.kinds[v].latency)(&ctx);
        self.ready.insert(v, ready);
        ready
    }

    /// The signal at one input (or parameter) of `v`, `width` wide, with every
    /// source delayed to arrive at `arrival`.
    fn gather(&mut self, v: usize, target: Target, width: usize, arrival: usize) -> Signal {
        let feeding: Vec<Link> = self
            .links
            .iter()
            .copied()
            .filter(|l| l.dst == v && l.target == target)
            .collect();
        let mut sources = Vec::new();
        for l in feeding {
            let lag = arrival - self.ready(l.src);
            let signal: Signal = self.eval(l.src)[l.port].iter().map(|x| delayed(x, lag)).collect();
            sources.push(signal);
        }
        self.sum(sources, width)
    }

    /// Sum signals channel by channel in order; mono spreads.
    fn sum(&self, sources: Vec<Signal>, width: usize) -> Signal {
        let channel = |s: &Signal, ch: usize| if s.len() == 1 { s[0].clone() } else { s[ch].clone() };
        (0..width)
            .map(|ch| match sources.split_first() {
                None => vec![0.0; self.frames],
                Some((first, rest)) => {
                    let mut acc = channel(first, ch);
                    for s in rest {
                        for (a, x) in acc.iter_mut().zip(channel(s, ch)) {
                            *a += x;
                        }
                    }
                    acc
                }
            })
            .collect()
    }

    /// Parameter `p` of `v`, frame by frame.
    fn param_track(&mut self, v: usize, p: usize, arrival: usize) -> Vec<f32> {
        let initial = self.params[v][p];
        if !self
            .links
            .iter()
            .any(|l| l.dst == v && l.target == Target::Param(p))
        {
            return vec![initial; self.frames];
        }
        let driven = self.gather(v, Target::Param(p), 1, arrival).swap_remove(0);
        let spec = &self.kinds[v].params[p];
        let (min, max) = (spec.min as f32, spec.max as f32);
        let mut value = initial;
        (0..self.frames)
            .map(|t| {
                // A new value only when it compares different: -0.0 after
                // 0.0 is no change (the runtime skips equal values).
                if (t % self.block).is_multiple_of(CONTROL_CHUNK)
                    && driven[t].is_finite()
                    && driven[t].clamp(min, max) != value
                {
                    value = driven[t].clamp(min, max);
                }
                value
            })
            .collect()
    }

    /// Every output port of `v`.
    fn eval(&mut self, v: usize) -> Rc<Vec<Signal>> {
        if let Some(out) = self.outputs.get(&v) {
            return out.clone();
        }
        let out = Rc::new(self.compute(v));
        self.outputs.insert(v, out.clone());
        out
    }

    fn compute(&mut self, v: usize) -> Vec<Signal> {
        let kind = self.kinds[v];
        let arrival = self.arrival(v);
        let inputs: Vec<Signal> = (0..kind.inputs.len())
            .map(|p| {
                let width = self.input_width(v, p);
                self.gather(v, Target::Input(p), width, arrival)
            })
            .collect();
        let tracks: Vec<Vec<f32>> = (0..kind.params.len())
            .map(|p| self.param_track(v, p, arrival))
            .collect();
        let params = &self.params[v];
        let n = self.frames;
        let map = |s: &Signal, f: &dyn Fn(usize, f32) -> f32| -> Signal {
            s.iter()
                .map(|x| x.iter().enumerate().map(|(t, &x)| f(t, x)).collect())
                .collect()
        };
        match kind.kind {
            "src" => {
                let scale = range_scale(params[1]);
                vec![vec![
                    noise(params[0] as u32, 0, n)
                        .into_iter()
                        .map(|x| x * scale)
                        .collect(),
                ]]
            }
            "stereo_src" => vec![(0..2).map(|ch| noise(params[0] as u32, ch, n)).collect()],
            "dc" => vec![vec![tracks[0].clone()]],
            "gain" => vec![map(&inputs[0], &|t, x| x * tracks[0][t])],
            "add2" => vec![
                inputs[0]
                    .iter()
                    .zip(&inputs[1])
                    .map(|(a, b)| add2(a, b))
                    .collect(),
            ],
            "mono_in" => vec![map(&inputs[0], &|_, x| -x)],
            "fork" => vec![inputs[0].clone(), map(&inputs[0], &|_, x| -x)],
            "lat" => vec![inputs[0].iter().map(|x| delayed(x, params[0] as usize)).collect()],
            other => panic!("the reference interpreter has no `{other}`"),
        }
    }
}

fn add2(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(a, b)| a + 0.5 * b).collect()
}

/// `x` delayed by `lag` samples, silence shifted in.
pub fn delayed(x: &[f32], lag: usize) -> Vec<f32> {
    let lag = lag.min(x.len());
    let mut y = vec![0.0; lag];
    y.extend_from_slice(&x[..x.len() - lag]);
    y
}
