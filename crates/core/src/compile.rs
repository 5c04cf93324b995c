//! Patch → petgraph graph → validated → [`Plan`].
//!
//! The compiler runs on the control thread. In order it: resolves kinds,
//! parameters and ports against the registry; finds feedback loops (legal
//! only through a cycle-breaking node, whose fed-back input then comes from
//! the previous block); orders the nodes topologically; resolves channel
//! counts; computes latency and inserts alignment delays where parallel paths
//! meet; emits steps over virtual values; and finally maps those values to a
//! small pool of physical buffers by liveness.

use std::collections::{HashMap, HashSet};

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::error::ValidationError;
use crate::patch::{Patch, is_valid_id};
use crate::plan::{BufferId, FeedbackStore, Plan, PlanNode, SILENCE, Step};
use crate::processor::NodeContext;
use crate::registry::{Channels, NodeDescriptor, OUTPUT_KIND, Registry, Unit, closest};

/// The most nodes a patch may hold.
pub const MAX_NODES: usize = 100_000;
/// The most edges a patch may hold.
pub const MAX_EDGES: usize = 400_000;
/// The widest signal a port may carry.
pub const MAX_CHANNELS: usize = 32;

/// What a plan is compiled for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompileOptions {
    /// Samples per second.
    pub sample_rate: f32,
    /// Frames per block.
    pub block: usize,
}

/// The engine's default block size in frames.
pub const DEFAULT_BLOCK: usize = 64;

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            sample_rate: 48_000.0,
            block: DEFAULT_BLOCK,
        }
    }
}

/// Check a patch's meaning without keeping the plan.
pub fn validate(patch: &Patch, registry: &Registry) -> Result<(), ValidationError> {
    compile(patch, registry, &CompileOptions::default()).map(|_| ())
}

/// Where an edge lands on its destination node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Target {
    Input(usize),
    Param(usize),
}

/// An edge resolved to indices.
#[derive(Clone, Copy, Debug)]
struct Link {
    src: usize,
    out_port: usize,
    dst: usize,
    target: Target,
    /// Carries the previous block's signal into a cycle breaker.
    feedback: bool,
}

/// Compile `patch` into a plan.
pub fn compile(patch: &Patch, registry: &Registry, opts: &CompileOptions) -> Result<Plan, ValidationError> {
    if patch.nodes.len() > MAX_NODES {
        return Err(ValidationError::TooLarge {
            what: "nodes",
            count: patch.nodes.len(),
            limit: MAX_NODES,
        });
    }
    if patch.edges.len() > MAX_EDGES {
        return Err(ValidationError::TooLarge {
            what: "edges",
            count: patch.edges.len(),
            limit: MAX_EDGES,
        });
    }
    let (descs, params) = resolve_nodes(patch, registry)?;
    let index: HashMap<&str, usize> = patch
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut links = resolve_edges(patch, &descs, &index)?;
    let order = order_nodes(patch, &descs, &mut links)?;
    let least: Vec<usize> = descs
        .iter()
        .zip(&params)
        .map(|(d, p)| least_width(d, p))
        .collect();
    let widths = resolve_channels(patch, &descs, &links, &order, &least)?;

    let n = patch.nodes.len();
    let mut fed_back = vec![false; n];
    for l in links.iter().filter(|l| l.feedback) {
        fed_back[l.dst] = true;
    }
    let mut nodes: Vec<PlanNode> = Vec::with_capacity(n);
    for i in 0..n {
        let settings = descs[i].resolve_settings(&patch.nodes[i].settings);
        let ctx = NodeContext {
            id: &patch.nodes[i].id,
            sample_rate: opts.sample_rate,
            max_block: opts.block,
            channels: widths.follows[i],
            params: &params[i],
            settings: &settings,
            feedback_delay: 0,
        };
        nodes.push(PlanNode {
            id: patch.nodes[i].id.clone(),
            descriptor: descs[i],
            channels: widths.follows[i],
            latency: (descs[i].latency)(&ctx),
            feedback_delay: if fed_back[i] { opts.block } else { 0 },
            params: params[i].clone(),
            settings,
        });
    }

    let mut emitter = Emitter::new(&nodes, &links, &widths);
    let plan_latency = emitter.emit(&order);
    let (steps, master, buffer_count, feedback) = emitter.allocate();
    Ok(Plan {
        sample_rate: opts.sample_rate,
        block: opts.block,
        nodes,
        steps,
        buffer_count,
        feedback,
        master,
        latency: plan_latency,
    })
}

fn resolve_nodes(
    patch: &Patch,
    registry: &Registry,
) -> Result<(Vec<&'static NodeDescriptor>, Vec<Vec<f32>>), ValidationError> {
    let mut seen = HashSet::new();
    let mut descs = Vec::with_capacity(patch.nodes.len());
    let mut params = Vec::with_capacity(patch.nodes.len());
    for node in &patch.nodes {
        if !is_valid_id(&node.id) {
            return Err(ValidationError::InvalidId(node.id.clone()));
        }
        if !seen.insert(node.id.as_str()) {
            return Err(ValidationError::DuplicateId(node.id.clone()));
        }
        let Some(desc) = registry.get(&node.kind) else {
            return Err(ValidationError::UnknownKind {
                node: node.id.clone(),
                kind: node.kind.clone(),
                suggestion: registry.suggest(&node.kind).map(str::to_string),
            });
        };
        for (name, &value) in &node.params {
            let Some((_, spec)) = desc.param(name) else {
                return Err(ValidationError::UnknownParam {
                    node: node.id.clone(),
                    kind: node.kind.clone(),
                    param: name.clone(),
                    suggestion: closest(name, desc.params.iter().map(|p| p.name)).map(str::to_string),
                });
            };
            if !value.is_finite() || value < spec.min || value > spec.max {
                return Err(ValidationError::ParamOutOfRange {
                    node: node.id.clone(),
                    param: name.clone(),
                    value,
                    min: spec.min,
                    max: spec.max,
                });
            }
            if spec.unit == Unit::Choice && value.fract() != 0.0 {
                return Err(ValidationError::ParamNotChoice {
                    node: node.id.clone(),
                    param: name.clone(),
                    value,
                    choices: spec.choices.join(", "),
                });
            }
        }
        for (name, value) in &node.settings {
            let Some((_, spec)) = desc.setting(name) else {
                let known: Vec<&str> = desc.settings.iter().map(|s| s.name).collect();
                return Err(ValidationError::UnknownSetting {
                    node: node.id.clone(),
                    kind: node.kind.clone(),
                    setting: name.clone(),
                    suggestion: closest(name, known.iter().copied()).map(str::to_string),
                    known: if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                });
            };
            if let Err(reason) = spec.check(value) {
                return Err(ValidationError::BadSetting {
                    node: node.id.clone(),
                    setting: name.clone(),
                    value: value.clone(),
                    holds: spec.kind.describe(),
                    reason,
                });
            }
        }
        params.push(desc.resolve_params(&node.params));
        descs.push(desc);
    }
    Ok((descs, params))
}

fn resolve_edges(
    patch: &Patch,
    descs: &[&'static NodeDescriptor],
    index: &HashMap<&str, usize>,
) -> Result<Vec<Link>, ValidationError> {
    let mut seen = HashSet::new();
    let mut links = Vec::with_capacity(patch.edges.len());
    for edge in &patch.edges {
        let from = edge.from.to_string();
        let to = edge.to.to_string();
        let missing = |id: &str| ValidationError::MissingNode {
            from: from.clone(),
            to: to.clone(),
            missing: id.to_string(),
        };
        let &src = index
            .get(edge.from.node.as_str())
            .ok_or_else(|| missing(&edge.from.node))?;
        let &dst = index
            .get(edge.to.node.as_str())
            .ok_or_else(|| missing(&edge.to.node))?;
        let unknown_port = |node: usize, port: &str, direction: &'static str, known: Vec<&str>| {
            ValidationError::UnknownPort {
                from: from.clone(),
                to: to.clone(),
                node: patch.nodes[node].id.clone(),
                kind: patch.nodes[node].kind.clone(),
                port: port.to_string(),
                direction,
                known: if known.is_empty() {
                    "none".to_string()
                } else {
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            }
        };
        let Some((out_port, _)) = descs[src].output(&edge.from.port) else {
            let known = descs[src].outputs.iter().map(|p| p.name).collect();
            return Err(unknown_port(src, &edge.from.port, "output", known));
        };
        let target = if let Some((i, _)) = descs[dst].input(&edge.to.port) {
            Target::Input(i)
        } else if let Some((i, _)) = descs[dst].param(&edge.to.port) {
            Target::Param(i)
        } else {
            let known = descs[dst]
                .inputs
                .iter()
                .map(|p| p.name)
                .chain(descs[dst].params.iter().map(|p| p.name))
                .collect();
            return Err(unknown_port(dst, &edge.to.port, "input or parameter", known));
        };
        if !seen.insert((src, out_port, dst, target)) {
            return Err(ValidationError::DuplicateEdge { from, to });
        }
        links.push(Link {
            src,
            out_port,
            dst,
            target,
            feedback: false,
        });
    }
    Ok(links)
}

/// Mark feedback links and return a topological order of the rest.
fn order_nodes(
    patch: &Patch,
    descs: &[&'static NodeDescriptor],
    links: &mut [Link],
) -> Result<Vec<usize>, ValidationError> {
    let n = patch.nodes.len();
    let mut graph = DiGraph::<(), ()>::with_capacity(n, links.len());
    for _ in 0..n {
        graph.add_node(());
    }
    for l in links.iter() {
        graph.add_edge(NodeIndex::new(l.src), NodeIndex::new(l.dst), ());
    }
    // A link inside a strongly connected component that enters a cycle
    // breaker is a feedback link: it carries the previous block.
    let mut component = vec![usize::MAX; n];
    for (c, scc) in tarjan_scc(&graph).iter().enumerate() {
        for v in scc {
            component[v.index()] = c;
        }
    }
    for l in links.iter_mut() {
        l.feedback = component[l.src] == component[l.dst] && descs[l.dst].breaks_cycles;
    }
    let mut forward = DiGraph::<(), ()>::with_capacity(n, links.len());
    for _ in 0..n {
        forward.add_node(());
    }
    for l in links.iter().filter(|l| !l.feedback) {
        forward.add_edge(NodeIndex::new(l.src), NodeIndex::new(l.dst), ());
    }
    match toposort(&forward, None) {
        Ok(order) => Ok(order.into_iter().map(|v| v.index()).collect()),
        Err(cycle) => {
            let nodes = find_cycle(&forward, cycle.node_id())
                .into_iter()
                .map(|v| patch.nodes[v.index()].id.clone())
                .collect();
            Err(ValidationError::Cycle { nodes })
        }
    }
}

/// A cycle through `start`'s component, as the nodes around it in order.
fn find_cycle(graph: &DiGraph<(), ()>, start: NodeIndex) -> Vec<NodeIndex> {
    // Iterative depth-first search; the first edge back to a node on the
    // stack closes a cycle.
    let mut on_stack = vec![false; graph.node_count()];
    let mut done = vec![false; graph.node_count()];
    let mut stack: Vec<(NodeIndex, Vec<NodeIndex>)> = Vec::new();
    let mut path: Vec<NodeIndex> = Vec::new();
    let neighbours = |v: NodeIndex| {
        let mut ns: Vec<NodeIndex> = graph.neighbors(v).collect();
        ns.reverse();
        ns
    };
    stack.push((start, neighbours(start)));
    path.push(start);
    on_stack[start.index()] = true;
    while let Some((_, pending)) = stack.last_mut() {
        match pending.pop() {
            Some(next) if on_stack[next.index()] => {
                let at = path.iter().position(|&v| v == next).unwrap_or(0);
                return path[at..].to_vec();
            }
            Some(next) if !done[next.index()] => {
                on_stack[next.index()] = true;
                path.push(next);
                let ns = neighbours(next);
                stack.push((next, ns));
            }
            Some(_) => {}
            None => {
                let (v, _) = stack.pop().unwrap_or((start, Vec::new()));
                on_stack[v.index()] = false;
                done[v.index()] = true;
                path.pop();
            }
        }
    }
    vec![start]
}

/// Resolved channel counts.
struct Widths {
    /// Per node: the width of its "follows input" ports.
    follows: Vec<usize>,
    /// Per node, per output port: its width.
    outputs: Vec<Vec<usize>>,
}

impl Widths {
    fn of_target(&self, desc: &NodeDescriptor, node: usize, target: Target) -> usize {
        match target {
            Target::Param(_) => 1,
            Target::Input(p) => match desc.inputs[p].channels {
                Channels::Fixed(k) => k as usize,
                Channels::Follows => self.follows[node],
            },
        }
    }
}

/// The width a node's follows ports have with nothing wider arriving: 1, or
/// its channel-count parameter.
fn least_width(desc: &NodeDescriptor, params: &[f32]) -> usize {
    desc.channels_param
        .and_then(|name| desc.param(name))
        .map_or(1, |(i, _)| (params[i].round() as usize).clamp(1, MAX_CHANNELS))
}

fn resolve_channels(
    patch: &Patch,
    descs: &[&'static NodeDescriptor],
    links: &[Link],
    order: &[usize],
    least: &[usize],
) -> Result<Widths, ValidationError> {
    let n = patch.nodes.len();
    let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, l) in links.iter().enumerate() {
        incoming[l.dst].push(i);
    }
    let mut widths = Widths {
        follows: least.to_vec(),
        outputs: descs
            .iter()
            .zip(least)
            .map(|(d, &least)| {
                d.outputs
                    .iter()
                    .map(|p| match p.channels {
                        Channels::Fixed(k) => k as usize,
                        Channels::Follows => least,
                    })
                    .collect()
            })
            .collect(),
    };
    // Widths only grow, so repeating the pass until nothing changes settles
    // feedback loops whose width depends on themselves.
    for _ in 0..=MAX_CHANNELS {
        let mut changed = false;
        for &v in order {
            let mut follows = least[v];
            for &li in &incoming[v] {
                let l = links[li];
                if let Target::Input(p) = l.target
                    && descs[v].inputs[p].channels == Channels::Follows
                {
                    follows = follows.max(widths.outputs[l.src][l.out_port]);
                }
            }
            let follows = follows.min(MAX_CHANNELS);
            if follows != widths.follows[v] {
                changed = true;
                widths.follows[v] = follows;
                for (p, spec) in descs[v].outputs.iter().enumerate() {
                    if spec.channels == Channels::Follows {
                        widths.outputs[v][p] = follows;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for l in links {
        let from_channels = widths.outputs[l.src][l.out_port];
        let to_channels = widths.of_target(descs[l.dst], l.dst, l.target);
        if from_channels != 1 && from_channels != to_channels {
            let to_port = match l.target {
                Target::Input(p) => descs[l.dst].inputs[p].name,
                Target::Param(p) => descs[l.dst].params[p].name,
            };
            return Err(ValidationError::ChannelMismatch {
                from: format!(
                    "{}.{}",
                    patch.nodes[l.src].id, descs[l.src].outputs[l.out_port].name
                ),
                to: format!("{}.{}", patch.nodes[l.dst].id, to_port),
                from_channels,
                to_channels,
            });
        }
    }
    Ok(widths)
}

/// Emits steps over virtual values, then maps them to physical buffers.
struct Emitter<'a> {
    nodes: &'a [PlanNode],
    links: &'a [Link],
    widths: &'a Widths,
    incoming: Vec<Vec<usize>>,
    steps: Vec<Step>,
    /// Next virtual value; 0 is silence, 1..=feedback are pinned stores.
    next_value: BufferId,
    /// Per node, per output port: the values of its channels.
    outputs: Vec<Vec<Vec<BufferId>>>,
    /// Per (node, output port) that is fed back: its pinned store values.
    stores: HashMap<(usize, usize), Vec<BufferId>>,
    /// What each pinned store keeps, in value order.
    store_owners: Vec<FeedbackStore>,
    feedback_values: BufferId,
    /// Per node: when its output is ready, in samples of latency.
    ready_at: Vec<usize>,
    /// Per node: it may rest and is fed only by nodes that may hold, so its
    /// outputs may stay as written for good (the runtime folds it).
    may_hold: Vec<bool>,
    /// Values never released for reuse: the outputs of nodes that may hold.
    kept: Vec<BufferId>,
    master: [BufferId; 2],
}

impl<'a> Emitter<'a> {
    fn new(nodes: &'a [PlanNode], links: &'a [Link], widths: &'a Widths) -> Self {
        let mut incoming = vec![Vec::new(); nodes.len()];
        for (i, l) in links.iter().enumerate() {
            incoming[l.dst].push(i);
        }
        let mut next_value = 1;
        let mut stores = HashMap::new();
        let mut store_owners = Vec::new();
        for l in links.iter().filter(|l| l.feedback) {
            stores.entry((l.src, l.out_port)).or_insert_with(|| {
                let width = widths.outputs[l.src][l.out_port];
                store_owners.extend((0..width).map(|channel| FeedbackStore {
                    node: l.src,
                    port: l.out_port,
                    channel,
                }));
                let values: Vec<BufferId> = (next_value..next_value + width as BufferId).collect();
                next_value += width as BufferId;
                values
            });
        }
        Emitter {
            nodes,
            links,
            widths,
            incoming,
            steps: Vec::new(),
            feedback_values: next_value - 1,
            next_value,
            outputs: vec![Vec::new(); nodes.len()],
            stores,
            store_owners,
            ready_at: vec![0; nodes.len()],
            may_hold: vec![false; nodes.len()],
            kept: Vec::new(),
            master: [SILENCE; 2],
        }
    }

    fn value(&mut self) -> BufferId {
        let v = self.next_value;
        self.next_value += 1;
        v
    }

    /// The values feeding one input (or parameter) of `node`, `width`
    /// channels wide, aligned to arrive at `arrival`: adding alignment
    /// delays, spreading mono and summing fan-in as needed.
    fn gather(&mut self, node: usize, target: Target, width: usize, arrival: usize) -> Vec<BufferId> {
        let mut sources: Vec<Vec<BufferId>> = Vec::new();
        for i in 0..self.incoming[node].len() {
            let l = self.links[self.incoming[node][i]];
            if l.target != target {
                continue;
            }
            let mut values = if l.feedback {
                self.stores[&(l.src, l.out_port)].clone()
            } else {
                self.outputs[l.src][l.out_port].clone()
            };
            // A node fed back from its own loop hears that signal one block
            // late (`feedback_delay`); its other inputs are delayed to match,
            // so the node can subtract the block from all of its input.
            let late = match target {
                Target::Input(_) => self.nodes[node].feedback_delay,
                Target::Param(_) => 0,
            };
            let lag = if l.feedback {
                0
            } else {
                arrival - self.ready_at[l.src] + late
            };
            if lag > 0 {
                for v in values.iter_mut() {
                    let output = self.value();
                    self.steps.push(Step::Delay {
                        samples: lag,
                        input: *v,
                        output,
                    });
                    *v = output;
                }
            }
            sources.push(values);
        }
        let channel =
            |values: &Vec<BufferId>, ch: usize| if values.len() == 1 { values[0] } else { values[ch] };
        match sources.len() {
            0 => vec![SILENCE; width],
            1 => (0..width).map(|ch| channel(&sources[0], ch)).collect(),
            _ => (0..width)
                .map(|ch| {
                    let inputs = sources.iter().map(|s| channel(s, ch)).collect();
                    let output = self.value();
                    self.steps.push(Step::Sum { inputs, output });
                    output
                })
                .collect(),
        }
    }

    /// Latest readiness among a node's non-feedback sources.
    fn arrival(&self, node: usize) -> usize {
        self.incoming[node]
            .iter()
            .map(|&i| self.links[i])
            .filter(|l| !l.feedback)
            .map(|l| self.ready_at[l.src])
            .max()
            .unwrap_or(0)
    }

    /// Emit every node's steps in `order`; returns the plan's latency.
    fn emit(&mut self, order: &[usize]) -> usize {
        let mut outputs_nodes = Vec::new();
        // Fed-back signals are kept only after every node has run, so that
        // every reader of a store sees the previous block, whatever the order.
        let mut keeps = Vec::new();
        for &v in order {
            let node = &self.nodes[v];
            let desc = node.descriptor;
            if desc.kind == OUTPUT_KIND {
                outputs_nodes.push(v);
                continue;
            }
            let arrival = self.arrival(v);
            let inputs: Vec<Vec<BufferId>> = (0..desc.inputs.len())
                .map(|p| {
                    let width = self.widths.of_target(desc, v, Target::Input(p));
                    self.gather(v, Target::Input(p), width, arrival)
                })
                .collect();
            let mut modulations = Vec::new();
            for p in 0..desc.params.len() {
                let driven = self.incoming[v]
                    .iter()
                    .any(|&i| self.links[i].target == Target::Param(p));
                if driven {
                    let values = self.gather(v, Target::Param(p), 1, arrival);
                    modulations.push((p, values[0]));
                }
            }
            let outputs: Vec<Vec<BufferId>> = self.widths.outputs[v]
                .iter()
                .map(|&w| (0..w).map(|_| self.value()).collect())
                .collect();
            self.ready_at[v] = arrival + node.latency;
            self.may_hold[v] = desc.may_rest
                && self.incoming[v].iter().all(|&i| {
                    let l = self.links[i];
                    !l.feedback && matches!(l.target, Target::Input(_)) && self.may_hold[l.src]
                });
            if self.may_hold[v] {
                self.kept.extend(outputs.iter().flatten());
            }
            self.steps.push(Step::Process {
                node: v,
                inputs,
                outputs: outputs.clone(),
                modulations,
            });
            for (port, values) in outputs.iter().enumerate() {
                if let Some(store) = self.stores.get(&(v, port)) {
                    for (&from, &to) in values.iter().zip(store) {
                        keeps.push(Step::Copy { from, to });
                    }
                }
            }
            self.outputs[v] = outputs;
        }
        self.steps.extend(keeps);
        // Output nodes all meet at the master, aligned to the slowest, and
        // are summed in patch order: float addition is not associative, so
        // the order must come from the document, not from the traversal
        // (which changes with unrelated edits such as listing edges anew).
        outputs_nodes.sort_unstable();
        let latency = outputs_nodes.iter().map(|&v| self.arrival(v)).max().unwrap_or(0);
        let heard: Vec<Vec<BufferId>> = outputs_nodes
            .iter()
            .map(|&v| self.gather(v, Target::Input(0), 2, latency))
            .collect();
        self.master = match heard.len() {
            0 => [SILENCE; 2],
            1 => [heard[0][0], heard[0][1]],
            _ => [0, 1].map(|ch| {
                let inputs = heard.iter().map(|h| h[ch]).collect();
                let output = self.value();
                self.steps.push(Step::Sum { inputs, output });
                output
            }),
        };
        latency
    }

    /// Map virtual values to physical buffers by liveness. Returns the
    /// rewritten steps, the master buffers, the buffer count and what each
    /// feedback store keeps.
    fn allocate(self) -> (Vec<Step>, [BufferId; 2], usize, Vec<FeedbackStore>) {
        let pinned = self.feedback_values;
        let count = self.next_value as usize;
        let end = self.steps.len();
        let mut last_use = vec![usize::MAX; count];
        for (i, step) in self.steps.iter().enumerate() {
            for v in step.writes() {
                if last_use[v as usize] == usize::MAX {
                    last_use[v as usize] = i;
                }
            }
            for v in step.reads() {
                last_use[v as usize] = i;
            }
        }
        for &v in &self.master {
            last_use[v as usize] = end;
        }
        for &v in &self.kept {
            last_use[v as usize] = end;
        }
        let mut release_at: Vec<Vec<BufferId>> = vec![Vec::new(); end];
        for v in (pinned + 1)..(count as BufferId) {
            let at = last_use[v as usize];
            if at < end {
                release_at[at].push(v);
            }
        }
        let mut physical: Vec<BufferId> = (0..count as BufferId).collect();
        let mut free: Vec<BufferId> = Vec::new();
        let mut buffers = pinned + 1;
        let mut steps = self.steps;
        for (i, step) in steps.iter_mut().enumerate() {
            for v in step.writes() {
                if v > pinned {
                    physical[v as usize] = free.pop().unwrap_or_else(|| {
                        buffers += 1;
                        buffers - 1
                    });
                }
            }
            let map = |v: &mut BufferId| *v = physical[*v as usize];
            match step {
                Step::Process {
                    inputs,
                    outputs,
                    modulations,
                    ..
                } => {
                    inputs.iter_mut().flatten().for_each(map);
                    outputs.iter_mut().flatten().for_each(map);
                    modulations.iter_mut().for_each(|(_, v)| map(v));
                }
                Step::Sum { inputs, output } => {
                    inputs.iter_mut().for_each(map);
                    map(output);
                }
                Step::Copy { from, to } => {
                    map(from);
                    map(to);
                }
                Step::Delay { input, output, .. } => {
                    map(input);
                    map(output);
                }
            }
            // Released in reverse so the first freed is reused first.
            for &v in release_at[i].iter().rev() {
                free.push(physical[v as usize]);
            }
        }
        let master = self.master.map(|v| physical[v as usize]);
        (steps, master, buffers as usize, self.store_owners)
    }
}
