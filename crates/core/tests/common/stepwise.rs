//! A second reference interpreter, for patches with feedback loops: it runs
//! the whole graph one sample at a time, keeping every signal's history, so
//! a loop through a `z1` of `samples` simply reads its input from `samples`
//! ago. It implements the same promises as [`super::reference`], plus:
//! - an edge into a cycle breaker from inside its own loop (from a node the
//!   breaker reaches) is the feedback edge; the others are ordinary;
//! - a `z1` delays everything arriving at its input by exactly `samples`,
//!   from inside the loop or not; latency compensation ignores feedback
//!   edges.

use patchbay_core::runtime::CONTROL_CHUNK;
use patchbay_core::{Channels, NodeContext, NodeDescriptor, Patch, Registry};

use super::nodes::{Noise, range_scale};

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
    feedback: bool,
}

/// Sample-by-sample evaluation of one patch.
pub struct Stepwise {
    kinds: Vec<&'static NodeDescriptor>,
    params: Vec<Vec<f32>>,
    links: Vec<Link>,
    block: usize,
    /// Forward order: every node after its non-feedback sources.
    order: Vec<usize>,
    width: Vec<usize>,
    /// When each node's input is aligned to (`arrival`) and its output is
    /// ready (`arrival` plus latency).
    arrival: Vec<usize>,
    ready: Vec<usize>,
    /// Histories: per node, per output port, per channel.
    out: Vec<Vec<Vec<Vec<f32>>>>,
    /// Histories of each node's first input, per channel (what delays read).
    input: Vec<Vec<Vec<f32>>>,
    /// Per node: generator state and current parameter values.
    noise: Vec<Vec<Noise>>,
    param: Vec<Vec<f32>>,
}

impl Stepwise {
    pub fn new(patch: &Patch, registry: &Registry, block: usize) -> Self {
        let kinds: Vec<&'static NodeDescriptor> = patch
            .nodes
            .iter()
            .map(|n| registry.get(&n.kind).expect("known kind"))
            .collect();
        let n = kinds.len();
        let index = |id: &str| patch.nodes.iter().position(|n| n.id == id).expect("known node");
        let mut links: Vec<Link> = patch
            .edges
            .iter()
            .map(|e| {
                let (src, dst) = (index(&e.from.node), index(&e.to.node));
                let target = match kinds[dst].input(&e.to.port) {
                    Some((i, _)) => Target::Input(i),
                    None => Target::Param(kinds[dst].param(&e.to.port).expect("known port").0),
                };
                let port = kinds[src].output(&e.from.port).expect("known port").0;
                Link {
                    src,
                    port,
                    dst,
                    target,
                    feedback: false,
                }
            })
            .collect();
        // Feedback: into a breaker, from a node it reaches.
        let reaches = |from: usize, to: usize, links: &[Link]| {
            let mut seen = vec![false; n];
            let mut stack = vec![from];
            while let Some(v) = stack.pop() {
                if v == to {
                    return true;
                }
                for l in links.iter().filter(|l| l.src == v) {
                    if !seen[l.dst] {
                        seen[l.dst] = true;
                        stack.push(l.dst);
                    }
                }
            }
            false
        };
        let feedback: Vec<bool> = links
            .iter()
            .map(|l| kinds[l.dst].breaks_cycles && reaches(l.dst, l.src, &links))
            .collect();
        for (l, f) in links.iter_mut().zip(feedback) {
            l.feedback = f;
        }
        // Forward order (Kahn) over the other edges.
        let mut pending: Vec<usize> = (0..n)
            .map(|v| links.iter().filter(|l| l.dst == v && !l.feedback).count())
            .collect();
        let mut order: Vec<usize> = (0..n).filter(|&v| pending[v] == 0).collect();
        let mut i = 0;
        while i < order.len() {
            let v = order[i];
            for l in links.iter().filter(|l| l.src == v && !l.feedback) {
                pending[l.dst] -= 1;
                if pending[l.dst] == 0 {
                    order.push(l.dst);
                }
            }
            i += 1;
        }
        assert_eq!(order.len(), n, "a loop without a breaker");
        // Widths: settled by repetition, as loops feed back.
        let mut width = vec![1; n];
        loop {
            let mut changed = false;
            for l in &links {
                if let Target::Input(p) = l.target
                    && kinds[l.dst].inputs[p].channels == Channels::Follows
                {
                    let w = match kinds[l.src].outputs[l.port].channels {
                        Channels::Fixed(w) => w as usize,
                        Channels::Follows => width[l.src],
                    };
                    if w > width[l.dst] {
                        width[l.dst] = w;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let params: Vec<Vec<f32>> = patch
            .nodes
            .iter()
            .zip(&kinds)
            .map(|(n, k)| k.resolve_params(&n.params))
            .collect();
        // Latency: in forward order, ignoring feedback edges.
        let (mut arrival, mut ready) = (vec![0; n], vec![0; n]);
        for &v in &order {
            arrival[v] = links
                .iter()
                .filter(|l| l.dst == v && !l.feedback)
                .map(|l| ready[l.src])
                .max()
                .unwrap_or(0);
            let ctx = NodeContext {
                id: "",
                settings: &[],
                sample_rate: 48_000.0,
                max_block: block,
                channels: width[v],
                params: &params[v],
                feedback_delay: 0,
            };
            ready[v] = arrival[v] + (kinds[v].latency)(&ctx);
        }
        // Output nodes are all aligned to the slowest.
        let latency = (0..n)
            .filter(|&v| kinds[v].kind == "output")
            .map(|v| arrival[v])
            .max()
            .unwrap_or(0);
        for v in (0..n).filter(|&v| kinds[v].kind == "output") {
            arrival[v] = latency;
        }
        let out = (0..n)
            .map(|v| {
                let widths = kinds[v].outputs.iter().map(|p| match p.channels {
                    Channels::Fixed(w) => w as usize,
                    Channels::Follows => width[v],
                });
                widths.map(|w| vec![Vec::new(); w]).collect()
            })
            .collect();
        let noise = (0..n)
            .map(|v| match kinds[v].kind {
                "src" => vec![Noise::new(params[v][0] as u32, 0)],
                "stereo_src" => (0..2).map(|ch| Noise::new(params[v][0] as u32, ch)).collect(),
                _ => Vec::new(),
            })
            .collect();
        Stepwise {
            input: vec![Vec::new(); n],
            param: params.clone(),
            params,
            kinds,
            links,
            block,
            order,
            width,
            arrival,
            ready,
            out,
            noise,
        }
    }

    /// Samples from the sources to the master along the slowest path.
    pub fn latency(&self) -> usize {
        (0..self.kinds.len())
            .filter(|&v| self.kinds[v].kind == "output")
            .map(|v| self.arrival[v])
            .max()
            .unwrap_or(0)
    }

    /// The master's first `frames` frames: left and right.
    pub fn master(mut self, frames: usize) -> [Vec<f32>; 2] {
        let outputs: Vec<usize> = (0..self.kinds.len())
            .filter(|&v| self.kinds[v].kind == "output")
            .collect();
        let mut master = [Vec::with_capacity(frames), Vec::with_capacity(frames)];
        for t in 0..frames {
            for i in 0..self.order.len() {
                self.step(self.order[i], t);
            }
            // Breakers take their input only now: from inside the loop it
            // may come from nodes that ran after them.
            for v in 0..self.kinds.len() {
                if !self.kinds[v].breaks_cycles {
                    continue;
                }
                let x = self.gather(v, Target::Input(0), self.width[v], t);
                self.remember_input(v, x);
            }
            for (ch, side) in master.iter_mut().enumerate() {
                let heard: Vec<f32> = outputs
                    .iter()
                    .map(|&v| self.gather(v, Target::Input(0), 2, t)[ch])
                    .collect();
                side.push(sum(&heard));
            }
        }
        master
    }

    fn remember_input(&mut self, v: usize, x: Vec<f32>) {
        self.input[v].resize(x.len(), Vec::new());
        for (history, x) in self.input[v].iter_mut().zip(x) {
            history.push(x);
        }
    }

    /// One node's output at time `t`.
    fn step(&mut self, v: usize, t: usize) {
        let kind = self.kinds[v].kind;
        let width = self.width[v];
        // Driven parameters, sampled at each control chunk's start.
        for p in 0..self.kinds[v].params.len() {
            if (t % self.block).is_multiple_of(CONTROL_CHUNK)
                && self
                    .links
                    .iter()
                    .any(|l| l.dst == v && l.target == Target::Param(p))
            {
                let spec = &self.kinds[v].params[p];
                let driven = self.gather(v, Target::Param(p), 1, t)[0];
                if driven.is_finite() && driven.clamp(spec.min as f32, spec.max as f32) != self.param[v][p] {
                    self.param[v][p] = driven.clamp(spec.min as f32, spec.max as f32);
                }
            }
        }
        let back = |history: &Vec<Vec<f32>>, ch: usize, lag: usize| {
            if t >= lag { history[ch][t - lag] } else { 0.0 }
        };
        let outputs: Vec<Vec<f32>> = match kind {
            "src" => {
                let scale = range_scale(self.params[v][1]);
                vec![vec![self.noise[v][0].next_sample() * scale]]
            }
            "stereo_src" => vec![self.noise[v].iter_mut().map(Noise::next_sample).collect()],
            "dc" => vec![vec![self.param[v][0]]],
            "output" => vec![],
            // Delays: the input history, `samples` back.
            "z1" => vec![
                (0..width)
                    .map(|ch| back(&self.input[v], ch, self.params[v][0] as usize))
                    .collect(),
            ],
            "lat" => {
                let x = self.gather(v, Target::Input(0), width, t);
                self.remember_input(v, x);
                vec![
                    (0..width)
                        .map(|ch| back(&self.input[v], ch, self.params[v][0] as usize))
                        .collect(),
                ]
            }
            _ => {
                let inputs: Vec<Vec<f32>> = (0..self.kinds[v].inputs.len())
                    .map(|p| {
                        let w = match self.kinds[v].inputs[p].channels {
                            Channels::Fixed(w) => w as usize,
                            Channels::Follows => width,
                        };
                        self.gather(v, Target::Input(p), w, t)
                    })
                    .collect();
                match kind {
                    "gain" => vec![inputs[0].iter().map(|x| x * self.param[v][0]).collect()],
                    "add2" => vec![
                        inputs[0]
                            .iter()
                            .zip(&inputs[1])
                            .map(|(a, b)| a + 0.5 * b)
                            .collect(),
                    ],
                    "mono_in" => vec![vec![-inputs[0][0]]],
                    "fork" => vec![inputs[0].clone(), inputs[0].iter().map(|x| -x).collect()],
                    other => panic!("the stepwise interpreter has no `{other}`"),
                }
            }
        };
        for (port, values) in outputs.into_iter().enumerate() {
            for (ch, x) in values.into_iter().enumerate() {
                self.out[v][port][ch].push(x);
            }
        }
    }

    /// One input (or parameter) of `v` at time `t`, `width` wide: the sum
    /// in edge order of its sources, each as it was `lag` samples ago.
    fn gather(&self, v: usize, target: Target, width: usize, t: usize) -> Vec<f32> {
        (0..width)
            .map(|ch| {
                let values: Vec<f32> = self
                    .links
                    .iter()
                    .filter(|l| l.dst == v && l.target == target)
                    .map(|l| {
                        let lag = if l.feedback {
                            0
                        } else {
                            self.arrival[v] - self.ready[l.src]
                        };
                        let history = &self.out[l.src][l.port];
                        let history = if history.len() == 1 {
                            &history[0]
                        } else {
                            &history[ch]
                        };
                        if t >= lag { history[t - lag] } else { 0.0 }
                    })
                    .collect();
                sum(&values)
            })
            .collect()
    }
}

/// The first value, then each of the others added in order (0 for none).
fn sum(values: &[f32]) -> f32 {
    match values.split_first() {
        None => 0.0,
        Some((first, rest)) => rest.iter().fold(*first, |acc, x| acc + x),
    }
}
