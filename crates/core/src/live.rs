//! Live changes: apply an edited [`Patch`] to a running engine, keeping the
//! state of every node whose id and kind are unchanged, without a click.
//!
//! [`LiveEngine::apply`] diffs the new patch against the running one:
//! - parameter-only edits become gliding parameter commands;
//! - structural edits compile the new patch and also a *crossfade* patch:
//!   the union of old and new, in which every input whose sources changed
//!   (and the master, if what reaches it changed) is fed by a crossfade
//!   from its old sources to its new ones. Removed nodes stay in it as
//!   ghosts, so what fades out is their real, continuing sound. The runtime
//!   plays the crossfade schedule for [`CROSSFADE_SECONDS`], then hands
//!   over to the new patch's own schedule. Both hand-overs move processors
//!   (phase, filter memory, delay lines) and feedback stores across.
//!
//! Everything here runs on the control thread.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::compile::{CompileOptions, compile};
use crate::disk::DiskJob;
use crate::error::ValidationError;
use crate::patch::{Edge, Node, Patch, PortRef};
use crate::plan::Plan;
use crate::processor::{ProcessIo, Processor};
use crate::registry::{NodeDescriptor, OUTPUT_KIND, ParamSpec, PortSpec, Registry, no_latency};
use crate::runtime::{Adoption, Command, Engine, Runtime, Schedule, SendError, engine};
use crate::telemetry::Tap;

/// How long a structural edit crossfades changed paths.
pub const CROSSFADE_SECONDS: f64 = 0.01;

/// Prefix of the ids removed or replaced nodes carry while they fade out.
const GHOST: &str = "__old__";
const CROSSFADE_KIND: &str = "__crossfade";

/// The crossfade inserted where a path changes (internal: never in files).
static CROSSFADE: NodeDescriptor = NodeDescriptor {
    kind: CROSSFADE_KIND,
    category: "internal",
    summary: "Fades from `old` to `new` over `samples` samples (raised cosine).",
    inputs: &[
        PortSpec::audio("old", "Signal fading out.").follows(),
        PortSpec::audio("new", "Signal fading in.").follows(),
    ],
    outputs: &[PortSpec::audio("out", "The crossfade.").follows()],
    params: &[ParamSpec::new("samples", 1.0, 1e7, 480.0).smoothing(0.0)],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        Box::new(Crossfade {
            position: 0,
            length: ctx.param(0) as u32,
        })
    },
};

/// Raised-cosine crossfade: the gains sum to one, so a signal present on
/// both sides passes unchanged.
struct Crossfade {
    position: u32,
    length: u32,
}

impl Processor for Crossfade {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let start = self.position;
        for ch in 0..io.output_channels(0) {
            let (old, new) = (io.input(0, ch), io.input(1, ch));
            let out = io.output(0, ch);
            for (k, o) in out.iter_mut().enumerate() {
                let t = ((start + k as u32) as f32 / self.length as f32).min(1.0);
                let g = 0.5 - 0.5 * (std::f32::consts::PI * t).cos();
                *o = old[k] + g * (new[k] - old[k]);
            }
        }
        self.position = self.position.saturating_add(io.frames() as u32);
    }
}

/// What [`LiveEngine::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing audible changed (positions only, or nothing at all).
    Unchanged,
    /// This many parameter glides were sent.
    Params(usize),
    /// A new schedule was swapped in.
    Rebuilt {
        /// Nodes whose running state carried over.
        kept: usize,
        /// Nodes built fresh.
        built: usize,
        /// Inputs (and the master) crossfaded from old to new sources; zero
        /// when the crossfade patch could not be formed and the swap was
        /// direct.
        crossfades: usize,
    },
}

/// Why a live change was refused. Nothing changed in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The new patch does not compile; the old one keeps playing.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A parameter command named a node that is not in the patch.
    #[error("no node `{0}` in the running patch")]
    UnknownNode(String),
    /// A parameter command named a parameter the node does not have.
    #[error("node `{node}` ({kind}) has no parameter `{param}`")]
    UnknownParam {
        /// Node id.
        node: String,
        /// Its kind.
        kind: String,
        /// The parameter given.
        param: String,
    },
    /// A parameter value outside its range.
    #[error("node `{node}`: parameter `{param}` = {value} is out of range {min} … {max}")]
    OutOfRange {
        /// Node id.
        node: String,
        /// Parameter name.
        param: String,
        /// The value given.
        value: f64,
        /// Smallest accepted.
        min: f64,
        /// Largest accepted.
        max: f64,
    },
    /// The audio thread is not taking commands.
    #[error(transparent)]
    Engine(#[from] SendError),
}

/// The control-side owner of a running patch.
pub struct LiveEngine {
    engine: Engine,
    /// Readings of the running patch's analysis nodes, by node id.
    taps: HashMap<String, Arc<Tap>>,
    /// Disk work of processors built and not yet taken by the host.
    disk_jobs: Vec<(String, DiskJob)>,
    registry: Registry,
    options: CompileOptions,
    patch: Patch,
    plan: Plan,
}

impl LiveEngine {
    /// Compile `patch` and return the engine and the runtime to hand to the
    /// audio thread (or to an offline host).
    pub fn start(
        patch: Patch,
        registry: &Registry,
        options: CompileOptions,
    ) -> Result<(LiveEngine, Runtime), ValidationError> {
        let plan = compile(&patch, registry, &options)?;
        let mut schedule = Schedule::new(&plan);
        let taps = taps_by_id(&schedule, &plan);
        let disk_jobs = disk_jobs_by_id(&mut schedule, &plan);
        let (engine, runtime) = engine(schedule);
        let mut registry = registry.clone();
        registry.add(&CROSSFADE);
        let live = LiveEngine {
            engine,
            taps,
            disk_jobs,
            registry,
            options,
            patch,
            plan,
        };
        Ok((live, runtime))
    }

    /// The patch the engine is playing (or is about to, once queued
    /// commands are drained).
    pub fn patch(&self) -> &Patch {
        &self.patch
    }

    /// The plan of the running patch.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The readings node `id` publishes (meters, scopes, spectra), if it is
    /// an analysis node.
    pub fn tap(&self, id: &str) -> Option<&Arc<Tap>> {
        self.taps.get(id)
    }

    /// The disk work (recorders, file players) of the nodes built since
    /// the last call, by node id: the host runs each job (see
    /// [`crate::disk`]). Call after `start` and after every `apply`; nodes
    /// kept across an edit keep their running job.
    pub fn take_disk_jobs(&mut self) -> Vec<(String, DiskJob)> {
        std::mem::take(&mut self.disk_jobs)
    }

    /// Drop schedules the audio thread has finished with.
    pub fn collect_garbage(&mut self) -> usize {
        self.engine.collect_garbage()
    }

    /// Glide one parameter of the running patch to `value`, starting with
    /// the next block.
    pub fn set_param(&mut self, node: &str, param: &str, value: f64) -> Result<(), LiveError> {
        let (index, p) = self.param_index(node, param, value)?;
        self.engine.send(Command::SetParam {
            node: index as u32,
            param: p as u32,
            value: value as f32,
        })?;
        self.record(index, p, node, param, value);
        Ok(())
    }

    /// Start one parameter's glide (a jump, for parameters without
    /// smoothing) exactly at sample time `at`, counted from the first frame
    /// the engine computed (see [`LiveEngine::now`]); a time already past
    /// takes effect at the next block. The running patch records the new
    /// value at once.
    pub fn set_param_at(&mut self, node: &str, param: &str, value: f64, at: u64) -> Result<(), LiveError> {
        let (index, p) = self.param_index(node, param, value)?;
        self.engine.send(Command::SetParamAt {
            node: index as u32,
            param: p as u32,
            value: value as f32,
            at,
        })?;
        self.record(index, p, node, param, value);
        Ok(())
    }

    /// Frames per second the patch runs at.
    pub fn sample_rate(&self) -> f32 {
        self.options.sample_rate
    }

    /// Sample time of the first frame the engine has not computed yet.
    pub fn now(&self) -> u64 {
        self.engine.now()
    }

    /// Timed changes the engine had to apply early because too many were
    /// waiting (see [`crate::runtime::PENDING_CAPACITY`]).
    pub fn early_changes(&self) -> u64 {
        self.engine.early_changes()
    }

    /// The plan indices of `node`'s parameter `param`, checking `value`.
    fn param_index(&self, node: &str, param: &str, value: f64) -> Result<(usize, usize), LiveError> {
        let index = self
            .plan
            .node_index(node)
            .ok_or_else(|| LiveError::UnknownNode(node.to_string()))?;
        let desc = self.plan.nodes[index].descriptor;
        let Some((p, spec)) = desc.param(param) else {
            return Err(LiveError::UnknownParam {
                node: node.to_string(),
                kind: desc.kind.to_string(),
                param: param.to_string(),
            });
        };
        if !spec.accepts(value) {
            return Err(LiveError::OutOfRange {
                node: node.to_string(),
                param: param.to_string(),
                value,
                min: spec.min,
                max: spec.max,
            });
        }
        Ok((index, p))
    }

    /// Keep the running patch and plan in step with a sent parameter change.
    fn record(&mut self, index: usize, p: usize, node: &str, param: &str, value: f64) {
        self.plan.nodes[index].params[p] = value as f32;
        if let Some(n) = self.patch.node_mut(node) {
            n.params.insert(param.to_string(), value);
        }
    }

    /// Make the engine play `new`. On error nothing changes.
    pub fn apply(&mut self, new: Patch) -> Result<Applied, LiveError> {
        let plan = compile(&new, &self.registry, &self.options)?;
        // A parameter that sets a node's latency (a limiter's lookahead)
        // changes the plan's alignment delays: that takes a rebuild.
        if same_structure(&self.patch, &new) && same_shapes(&self.plan, &plan) {
            let mut sent = 0;
            for (i, (before, after)) in self.plan.nodes.iter().zip(&plan.nodes).enumerate() {
                for (p, (&a, &b)) in before.params.iter().zip(&after.params).enumerate() {
                    if a != b {
                        self.engine.send(Command::SetParam {
                            node: i as u32,
                            param: p as u32,
                            value: b,
                        })?;
                        sent += 1;
                    }
                }
            }
            self.patch = new;
            self.plan = plan;
            return Ok(if sent == 0 {
                Applied::Unchanged
            } else {
                Applied::Params(sent)
            });
        }

        let direct = adoption(&plan, &self.plan, &|id| Some(id.to_string()));
        let kept = direct.nodes.len();
        let built = plan.nodes.len() - kept;
        let Handover {
            mut schedule,
            crossfades,
            taps: built_taps,
            disk_jobs,
        } = match self.crossfade_schedule(&new, &plan) {
            Some(fade) => fade,
            None => {
                let mut schedule = Schedule::adopting(&plan, direct);
                let taps = taps_by_id(&schedule, &plan);
                let disk_jobs = disk_jobs_by_id(&mut schedule, &plan);
                Handover {
                    schedule,
                    crossfades: 0,
                    taps,
                    disk_jobs,
                }
            }
        };
        // Timed changes still waiting carry over to nodes of the same id and
        // kind (they are numbered as `plan`'s nodes, even during a crossfade).
        let new_index: HashMap<&str, usize> = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        schedule.renumber(
            self.plan
                .nodes
                .iter()
                .map(|n| match new_index.get(n.id.as_str()) {
                    Some(&i) if plan.nodes[i].descriptor.kind == n.descriptor.kind => i as u32,
                    _ => u32::MAX,
                })
                .collect(),
        );
        self.engine.send(Command::Swap(Box::new(schedule)))?;
        self.disk_jobs.extend(disk_jobs);
        // A processor publishes through the tap it was built with: the one
        // of the schedule that built it, else the running one it came from.
        let mut taps = HashMap::new();
        for n in &plan.nodes {
            if let Some(tap) = built_taps.get(&n.id).or_else(|| self.taps.get(&n.id)) {
                taps.insert(n.id.clone(), tap.clone());
            }
        }
        self.taps = taps;
        self.patch = new;
        self.plan = plan;
        Ok(Applied::Rebuilt {
            kept,
            built,
            crossfades,
        })
    }

    /// The crossfade schedule leading from the running patch to `new`
    /// (whose plan is `plan`), and how many crossfades it holds; `None` when
    /// nothing needs fading or the union does not compile (say, old and new
    /// edges together would form a loop), in which case the swap is direct.
    fn crossfade_schedule(&self, new: &Patch, plan: &Plan) -> Option<Handover> {
        let fade_blocks = (CROSSFADE_SECONDS * self.options.sample_rate as f64 / self.options.block as f64)
            .ceil()
            .max(1.0) as u32;
        let fade_samples = fade_blocks as usize * self.options.block;
        let (union, crossfades) = crossfade_patch(&self.patch, new, fade_samples)?;
        let union_plan = compile(&union, &self.registry, &self.options).ok()?;
        let from_running = adoption(&union_plan, &self.plan, &|id| {
            Some(id.strip_prefix(GHOST).unwrap_or(id).to_string())
        });
        let mut fade = Schedule::adopting(&union_plan, from_running);
        let from_fade = adoption(plan, &union_plan, &|id| Some(id.to_string()));
        let node_map = plan
            .nodes
            .iter()
            .map(|n| union_plan.node_index(&n.id).map_or(u32::MAX, |i| i as u32))
            .collect();
        let mut last = Schedule::adopting(plan, from_fade);
        let mut taps = taps_by_id(&fade, &union_plan);
        taps.extend(taps_by_id(&last, plan));
        let mut jobs = disk_jobs_by_id(&mut fade, &union_plan);
        jobs.extend(disk_jobs_by_id(&mut last, plan));
        fade.then(last, fade_blocks, node_map);
        Some(Handover {
            schedule: fade,
            crossfades,
            taps,
            disk_jobs: jobs,
        })
    }
}

/// The taps of the processors `schedule` built, by node id.
fn taps_by_id(schedule: &Schedule, plan: &Plan) -> HashMap<String, Arc<Tap>> {
    schedule
        .taps()
        .iter()
        .map(|(i, tap)| (plan.nodes[*i].id.clone(), tap.clone()))
        .collect()
}

/// What a structural edit sends: the schedule to swap in, how many inputs
/// it crossfades, and the taps and disk jobs of the processors it built.
struct Handover {
    schedule: Schedule,
    crossfades: usize,
    taps: HashMap<String, Arc<Tap>>,
    disk_jobs: Vec<(String, DiskJob)>,
}

/// The disk jobs of the processors `schedule` built, by node id.
fn disk_jobs_by_id(schedule: &mut Schedule, plan: &Plan) -> Vec<(String, DiskJob)> {
    schedule
        .take_disk_jobs()
        .into_iter()
        .map(|(i, job)| (plan.nodes[i].id.clone(), job))
        .collect()
}

/// True when two patches differ at most in parameter values and positions.
/// Settings are fixed while a node runs: changing one rebuilds it.
fn same_structure(a: &Patch, b: &Patch) -> bool {
    a.edges == b.edges
        && a.nodes.len() == b.nodes.len()
        && a.nodes
            .iter()
            .zip(&b.nodes)
            .all(|(x, y)| x.id == y.id && x.kind == y.kind && x.settings == y.settings)
}

/// True when every node of two plans of the same structure keeps its
/// latency and channel count (parameters can set either).
fn same_shapes(a: &Plan, b: &Plan) -> bool {
    a.nodes
        .iter()
        .zip(&b.nodes)
        .all(|(x, y)| x.latency == y.latency && x.channels == y.channels)
}

/// Which nodes and feedback stores of `new` can take over from `old`:
/// `old_id` names, for a node id of `new`, the id it had in `old`. A node
/// is taken over only if its processor was built for the same kind, channel
/// count, feedback delay, latency (the compiler aligned the new plan to
/// the new latency; a processor built for another would misalign it) and
/// settings. Of those, the parameters whose values differ are the ones the
/// edit changed.
fn adoption(new: &Plan, old: &Plan, old_id: &dyn Fn(&str) -> Option<String>) -> Adoption {
    let old_index: HashMap<&str, usize> = old
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut matched = vec![None; new.nodes.len()];
    let mut nodes = Vec::new();
    let mut edited = Vec::new();
    for (i, n) in new.nodes.iter().enumerate() {
        let Some(j) = old_id(&n.id).and_then(|id| old_index.get(id.as_str()).copied()) else {
            continue;
        };
        let o = &old.nodes[j];
        if o.descriptor.kind == n.descriptor.kind
            && o.channels == n.channels
            && o.feedback_delay == n.feedback_delay
            && o.latency == n.latency
            && o.settings == n.settings
        {
            matched[i] = Some(j);
            nodes.push((i as u32, j as u32));
            for (p, (a, b)) in n.params.iter().zip(&o.params).enumerate() {
                if a != b {
                    edited.push((i as u32, p as u32));
                }
            }
        }
    }
    let buffers = new
        .feedback
        .iter()
        .enumerate()
        .filter_map(|(k, store)| {
            let j = matched[store.node]?;
            let there = old
                .feedback
                .iter()
                .position(|s| s.node == j && s.port == store.port && s.channel == store.channel)?;
            Some((k as u32 + 1, there as u32 + 1))
        })
        .collect();
    Adoption {
        nodes,
        buffers,
        edited,
    }
}

/// A source as the crossfade patch names it: (node id, output port).
type Source = (String, String);

/// The union of `old` and `new` with a crossfade wherever an input's sources
/// changed, and how many crossfades that is. `None` if nothing changed.
fn crossfade_patch(old: &Patch, new: &Patch, fade_samples: usize) -> Option<(Patch, usize)> {
    let new_kinds: HashMap<&str, &str> = new
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.kind.as_str()))
        .collect();
    let old_kinds: HashMap<&str, &str> = old
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.kind.as_str()))
        .collect();
    // An old node lives on under its own id if the new patch has it with the
    // same kind, else as a ghost while it fades out.
    let kept = |id: &str| new_kinds.get(id) == old_kinds.get(id);
    let old_name = |id: &str| {
        if kept(id) {
            id.to_string()
        } else {
            format!("{GHOST}{id}")
        }
    };
    let is_output = |kinds: &HashMap<&str, &str>, id: &str| kinds.get(id) == Some(&OUTPUT_KIND);
    let sources = |edges: &[Edge], rename: &dyn Fn(&str) -> String| {
        let mut into: HashMap<(String, String), BTreeSet<Source>> = HashMap::new();
        for e in edges {
            into.entry((e.to.node.clone(), e.to.port.clone()))
                .or_default()
                .insert((rename(&e.from.node), e.from.port.clone()));
        }
        into
    };
    let old_into = sources(&old.edges, &old_name);
    let new_into = sources(&new.edges, &|id| id.to_string());

    let mut union = Patch::default();
    let mut crossfades = 0;
    let mut fade = |union: &mut Patch, old: &BTreeSet<Source>, new: &BTreeSet<Source>, to: PortRef| {
        let id = format!("__fade{crossfades}");
        crossfades += 1;
        union
            .nodes
            .push(Node::new(&id, CROSSFADE_KIND).with("samples", fade_samples as f64));
        for (side, set) in [("old", old), ("new", new)] {
            for (node, port) in set {
                union.edges.push(edge(node, port, &id, side));
            }
        }
        union.edges.push(Edge {
            from: PortRef {
                node: id,
                port: "out".to_string(),
            },
            to,
        });
    };

    // Old nodes that do not carry over fade out as ghosts, fed as before.
    for n in old.nodes.iter().filter(|n| !kept(&n.id) && n.kind != OUTPUT_KIND) {
        union.nodes.push(Node {
            id: format!("{GHOST}{}", n.id),
            ..n.clone()
        });
    }
    for e in old
        .edges
        .iter()
        .filter(|e| !kept(&e.to.node) && !is_output(&old_kinds, &e.to.node))
    {
        union.edges.push(edge(
            &old_name(&e.from.node),
            &e.from.port,
            &old_name(&e.to.node),
            &e.to.port,
        ));
    }

    // New nodes, with a crossfade on every input whose sources changed.
    let empty = BTreeSet::new();
    for n in new.nodes.iter().filter(|n| n.kind != OUTPUT_KIND) {
        union.nodes.push(n.clone());
    }
    let mut targets: Vec<&(String, String)> = new_into.keys().collect();
    targets.sort();
    for target in targets {
        let (node, port) = target;
        if is_output(&new_kinds, node) {
            continue;
        }
        let now = &new_into[target];
        let before = if kept(node) {
            old_into.get(target).unwrap_or(&empty)
        } else {
            now
        };
        let to = PortRef {
            node: node.clone(),
            port: port.clone(),
        };
        if before == now {
            for (from, from_port) in now {
                union.edges.push(edge(from, from_port, node, port));
            }
        } else {
            fade(&mut union, before, now, to);
        }
    }
    // Inputs that lost every source fade to silence.
    for (target, before) in &old_into {
        let (node, port) = target;
        if kept(node) && !is_output(&old_kinds, node) && !new_into.contains_key(target) {
            let to = PortRef {
                node: node.clone(),
                port: port.clone(),
            };
            fade(&mut union, before, &empty, to);
        }
    }

    // The master: everything that reached an output before and after.
    let heard = |into: &HashMap<(String, String), BTreeSet<Source>>, kinds: &HashMap<&str, &str>| {
        into.iter()
            .filter(|((node, _), _)| is_output(kinds, node))
            .flat_map(|(_, set)| set.iter().cloned())
            .collect::<BTreeSet<Source>>()
    };
    let (heard_before, heard_now) = (heard(&old_into, &old_kinds), heard(&new_into, &new_kinds));
    union.nodes.push(Node::new("__master", OUTPUT_KIND));
    let master = PortRef {
        node: "__master".to_string(),
        port: "in".to_string(),
    };
    if heard_before == heard_now {
        for (from, port) in &heard_now {
            union.edges.push(edge(from, port, "__master", "in"));
        }
    } else {
        fade(&mut union, &heard_before, &heard_now, master);
    }
    (crossfades > 0).then_some((union, crossfades))
}

fn edge(from: &str, from_port: &str, to: &str, to_port: &str) -> Edge {
    Edge {
        from: PortRef {
            node: from.to_string(),
            port: from_port.to_string(),
        },
        to: PortRef {
            node: to.to_string(),
            port: to_port.to_string(),
        },
    }
}
