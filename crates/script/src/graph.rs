//! The patch a script is building: nodes with their script positions,
//! edges, the identity rule that names them, and the lowering of signal
//! arithmetic (`a * 0.5 + b`) into edges and helper nodes.
//!
//! Nothing here knows Rhai: the API layer turns script values into the
//! [`NodeRef`] and [`Signal`] handles this module works with.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use patchbay_core::registry::{OUTPUT_KIND, closest};
use patchbay_core::{Edge, Node, NodeDescriptor, Patch, PortRef, Registry, Unit};

/// Where in which script file something was written (1-based).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Origin {
    /// The source name (the file as the user named it).
    pub source: Arc<str>,
    /// Line.
    pub line: usize,
    /// Column (characters).
    pub column: usize,
}

/// A script's handle on one node, or on one of its ports (`filter.cutoff`,
/// `svf.port("lp")`). Which port an unqualified handle means depends on
/// where it is used: its first output as a source, its first input as a
/// destination.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRef {
    /// The run of the script that made it (handles do not outlive a run).
    pub generation: u64,
    /// Index in the run's node list.
    pub index: usize,
    /// A named port, input, output or parameter.
    pub port: Option<Arc<str>>,
}

/// Signal arithmetic not yet turned into nodes: a weighted sum of node
/// outputs plus a constant. It becomes edges (and scaling and constant
/// nodes) only where it is connected, so `a + b >> f` is a plain fan-in.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// (source, weight) pairs.
    pub terms: Vec<(NodeRef, f64)>,
    /// Added constant.
    pub offset: f64,
}

impl Signal {
    /// A node's output at weight 1.
    pub fn of(node: NodeRef) -> Signal {
        Signal {
            terms: vec![(node, 1.0)],
            offset: 0.0,
        }
    }

    /// A constant.
    pub fn constant(value: f64) -> Signal {
        Signal {
            terms: Vec::new(),
            offset: value,
        }
    }

    /// The sum of two signals.
    pub fn plus(mut self, other: Signal) -> Signal {
        for (node, w) in other.terms {
            match self.terms.iter_mut().find(|(n, _)| *n == node) {
                Some((_, weight)) => *weight += w,
                None => self.terms.push((node, w)),
            }
        }
        self.offset += other.offset;
        self
    }

    /// The signal times a number.
    pub fn times(mut self, k: f64) -> Signal {
        for (_, w) in &mut self.terms {
            *w *= k;
        }
        self.offset *= k;
        self
    }

    /// The single node this signal is, unweighted, if it is one.
    pub fn as_node(&self) -> Option<&NodeRef> {
        match self.terms.as_slice() {
            [(node, w)] if *w == 1.0 && self.offset == 0.0 => Some(node),
            _ => None,
        }
    }
}

/// One node under construction.
#[derive(Clone, Debug)]
pub struct GraphNode {
    /// Its kind.
    pub desc: &'static NodeDescriptor,
    /// Its place among the script's unnamed nodes of its kind (1-based), or
    /// among the helper nodes of its kind for arithmetic helpers.
    pub ordinal: u32,
    /// Made by signal arithmetic, not by the script directly.
    pub helper: bool,
    /// Given by `.name(...)`.
    pub name: Option<String>,
    /// Parameter values set.
    pub params: BTreeMap<String, f64>,
    /// Settings (folders, files, names) set.
    pub settings: BTreeMap<String, String>,
    /// Where the script created it.
    pub origin: Origin,
    /// False once `remove`d.
    pub alive: bool,
}

impl GraphNode {
    /// The node's id in the patch (see the crate docs for the rule).
    pub fn id(&self) -> String {
        match (&self.name, self.helper) {
            (Some(name), _) => name.clone(),
            (None, false) => format!("{}_{}", self.desc.kind, self.ordinal),
            (None, true) => format!("_{}_{}", self.desc.kind, self.ordinal),
        }
    }
}

/// One edge under construction: (node index, port) to (node index, port).
#[derive(Clone, Debug, PartialEq)]
pub struct GraphEdge {
    /// Source node and output port.
    pub from: (usize, &'static str),
    /// Destination node and input port or parameter.
    pub to: (usize, String),
    /// Where the script connected them.
    pub origin: Origin,
}

/// Why a graph operation was refused; the API layer adds the position.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphError(pub String);

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type GResult<T> = Result<T, GraphError>;

fn fail<T>(message: impl Into<String>) -> GResult<T> {
    Err(GraphError(message.into()))
}

/// Most nodes one script may create: a runaway loop ends with an error,
/// not with the machine's memory.
pub const MAX_NODES: usize = 100_000;
/// Most gain nodes chained to reach a factor beyond one gain's range.
const MAX_GAIN_CHAIN: f64 = 8.0;
/// Most edges one script may create.
pub const MAX_EDGES: usize = 400_000;

/// A patch under construction by one run of a script.
#[derive(Clone)]
pub struct Graph {
    /// This run's number; handles from other runs are refused.
    pub generation: u64,
    registry: Registry,
    /// Nodes in creation order.
    pub nodes: Vec<GraphNode>,
    /// Edges in connection order.
    pub edges: Vec<GraphEdge>,
    counters: HashMap<&'static str, u32>,
    helper_counters: HashMap<&'static str, u32>,
    names: HashMap<String, usize>,
    output: Option<usize>,
    scalers: HashMap<(usize, &'static str, u64, u64), (usize, &'static str)>,
    constants: HashMap<u64, usize>,
    /// Set when nodes or edges change (parameters excluded).
    pub structure_changed: bool,
}

impl Graph {
    /// An empty graph for run `generation`.
    pub fn new(registry: Registry, generation: u64) -> Graph {
        Graph {
            generation,
            registry,
            nodes: Vec::new(),
            edges: Vec::new(),
            counters: HashMap::new(),
            helper_counters: HashMap::new(),
            names: HashMap::new(),
            output: None,
            scalers: HashMap::new(),
            constants: HashMap::new(),
            structure_changed: false,
        }
    }

    /// The registry the graph's kinds come from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The node a handle refers to.
    pub fn node(&self, r: &NodeRef) -> GResult<&GraphNode> {
        self.check(r)?;
        Ok(&self.nodes[r.index])
    }

    fn check(&self, r: &NodeRef) -> GResult<()> {
        if r.generation != self.generation || r.index >= self.nodes.len() {
            return fail("this node handle belongs to an earlier run of the script");
        }
        if !self.nodes[r.index].alive {
            return fail(format!("node `{}` was removed", self.nodes[r.index].id()));
        }
        Ok(())
    }

    /// A handle on node `index`.
    pub fn handle(&self, index: usize) -> NodeRef {
        NodeRef {
            generation: self.generation,
            index,
            port: None,
        }
    }

    /// Create a node of `kind` (unknown kinds are refused with a suggestion).
    pub fn add(&mut self, kind: &str, origin: Origin) -> GResult<NodeRef> {
        let Some(desc) = self.registry.get(kind) else {
            let hint = self
                .registry
                .suggest(kind)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return fail(format!("unknown node kind `{kind}`{hint}"));
        };
        if desc.kind == OUTPUT_KIND {
            return Ok(self.output(origin));
        }
        self.push(desc, false, origin)
    }

    fn push(&mut self, desc: &'static NodeDescriptor, helper: bool, origin: Origin) -> GResult<NodeRef> {
        if self.nodes.len() >= MAX_NODES {
            return fail(format!("too many nodes: a script may create at most {MAX_NODES}"));
        }
        let counters = if helper {
            &mut self.helper_counters
        } else {
            &mut self.counters
        };
        let ordinal = counters.entry(desc.kind).or_insert(0);
        *ordinal += 1;
        self.nodes.push(GraphNode {
            desc,
            ordinal: *ordinal,
            helper,
            name: None,
            params: BTreeMap::new(),
            settings: BTreeMap::new(),
            origin,
            alive: true,
        });
        self.structure_changed = true;
        Ok(self.handle(self.nodes.len() - 1))
    }

    /// The script's one output node, id `out`, created on first use.
    pub fn output(&mut self, origin: Origin) -> NodeRef {
        if let Some(i) = self.output {
            return self.handle(i);
        }
        let desc = self
            .registry
            .get(OUTPUT_KIND)
            .expect("every registry has the output kind");
        self.nodes.push(GraphNode {
            desc,
            ordinal: 0,
            helper: false,
            name: Some("out".to_string()),
            params: BTreeMap::new(),
            settings: BTreeMap::new(),
            origin,
            alive: true,
        });
        let i = self.nodes.len() - 1;
        self.names.insert("out".to_string(), i);
        self.output = Some(i);
        self.structure_changed = true;
        self.handle(i)
    }

    /// Give a node a name, which becomes its id.
    pub fn name(&mut self, r: &NodeRef, name: &str) -> GResult<()> {
        self.check(r)?;
        if !patchbay_core::patch::is_valid_id(name) {
            return fail(format!(
                "`{name}` is not a valid node name: use letters, digits, `_` and `-` (at most 64)"
            ));
        }
        let node = &self.nodes[r.index];
        if node.name.as_deref() == Some(name) {
            return Ok(());
        }
        if node.name.is_some() {
            return fail(format!(
                "node `{}` is already named; a node has one name",
                node.id()
            ));
        }
        if let Some(&other) = self.names.get(name) {
            let o = &self.nodes[other].origin;
            return fail(format!(
                "the name `{name}` is already used by the node made at {}:{}:{}",
                o.source, o.line, o.column
            ));
        }
        if self.is_automatic_id(name) {
            return fail(format!(
                "`{name}` looks like an automatic id (kind_number) that an unnamed node may take; choose another name"
            ));
        }
        self.nodes[r.index].name = Some(name.to_string());
        self.names.insert(name.to_string(), r.index);
        self.structure_changed = true;
        Ok(())
    }

    /// True if `name` has the shape `kind_N` of an automatic id.
    fn is_automatic_id(&self, name: &str) -> bool {
        let name = name.strip_prefix('_').unwrap_or(name);
        match name.rsplit_once('_') {
            Some((kind, n)) => {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && self.registry.get(kind).is_some()
            }
            None => false,
        }
    }

    /// The node whose id is `id`.
    pub fn find(&self, id: &str) -> Option<usize> {
        if let Some(&i) = self.names.get(id) {
            return self.nodes[i].alive.then_some(i);
        }
        let helper = id.starts_with('_');
        let (kind, n) = id.strip_prefix('_').unwrap_or(id).rsplit_once('_')?;
        let n: u32 = n.parse().ok()?;
        self.nodes.iter().position(|node| {
            node.alive
                && node.name.is_none()
                && node.helper == helper
                && node.desc.kind == kind
                && node.ordinal == n
        })
    }

    /// Set parameter `param` of a node; names, ranges and choices are
    /// checked here so the error points at the script line.
    pub fn set_param(&mut self, r: &NodeRef, param: &str, value: f64) -> GResult<()> {
        self.check(r)?;
        let node = &self.nodes[r.index];
        let spec = param_spec(node, param)?;
        check_value(node, spec, value)?;
        self.nodes[r.index].params.insert(param.to_string(), value);
        Ok(())
    }

    /// Set a setting (text: a folder, file or name).
    pub fn set_setting(&mut self, r: &NodeRef, setting: &str, value: &str) -> GResult<()> {
        self.check(r)?;
        let node = &self.nodes[r.index];
        let Some((_, spec)) = node.desc.setting(setting) else {
            return fail(format!(
                "node `{}` ({}) has no setting `{setting}`",
                node.id(),
                node.desc.kind
            ));
        };
        if let Err(reason) = spec.check(value) {
            return fail(format!(
                "node `{}`: setting `{setting}` = {value:?} is not a valid {}: {reason}",
                node.id(),
                spec.kind.describe()
            ));
        }
        self.nodes[r.index]
            .settings
            .insert(setting.to_string(), value.to_string());
        Ok(())
    }

    /// The value of a choice parameter given by name (`"hp"`).
    pub fn choice_value(&self, r: &NodeRef, param: &str, choice: &str) -> GResult<f64> {
        let node = self.node(r)?;
        let spec = param_spec(node, param)?;
        if spec.unit != Unit::Choice {
            return fail(format!(
                "node `{}` ({}): parameter `{param}` takes a number, not the text \"{choice}\"",
                node.id(),
                node.desc.kind
            ));
        }
        match spec.choices.iter().position(|c| *c == choice) {
            Some(i) => Ok(i as f64),
            None => fail(format!(
                "node `{}` ({}): parameter `{param}` has no choice \"{choice}\"; it is one of {}",
                node.id(),
                node.desc.kind,
                spec.choices.join(", ")
            )),
        }
    }

    /// The current value of a parameter (set or default).
    pub fn param(&self, r: &NodeRef, param: &str) -> GResult<f64> {
        let node = self.node(r)?;
        let spec = param_spec(node, param)?;
        Ok(node.params.get(param).copied().unwrap_or(spec.default))
    }

    /// Resolve the port a handle names as a destination: its named input or
    /// parameter, else the node's first input.
    pub fn destination(&self, r: &NodeRef) -> GResult<String> {
        let node = self.node(r)?;
        let d = node.desc;
        match &r.port {
            Some(port) => {
                if d.input(port).is_some() || d.param(port).is_some() {
                    Ok(port.to_string())
                } else if d.output(port).is_some() {
                    fail(format!(
                        "`{port}` is an output of node `{}` ({}); connect from it, not into it",
                        node.id(),
                        d.kind
                    ))
                } else {
                    fail(unknown_port(node, port, "input or parameter"))
                }
            }
            None => match d.inputs.first() {
                Some(p) => Ok(p.name.to_string()),
                None => fail(format!(
                    "node `{}` ({}) has no inputs to connect into; name a parameter, e.g. `{}.{}`",
                    node.id(),
                    d.kind,
                    node.id(),
                    d.params.first().map_or("param", |p| p.name)
                )),
            },
        }
    }

    /// Resolve the port a handle names as a source: its named output, else
    /// the node's first output.
    pub fn source(&self, r: &NodeRef) -> GResult<&'static str> {
        let node = self.node(r)?;
        let d = node.desc;
        match &r.port {
            Some(port) => match d.output(port) {
                Some((_, p)) => Ok(p.name),
                None if d.input(port).is_some() || d.param(port).is_some() => fail(format!(
                    "`{port}` is an input of node `{}` ({}); connect into it, not from it",
                    node.id(),
                    d.kind
                )),
                None => fail(unknown_port(node, port, "output")),
            },
            None => match d.outputs.first() {
                Some(p) => Ok(p.name),
                None => fail(format!(
                    "node `{}` ({}) has no outputs to connect from",
                    node.id(),
                    d.kind
                )),
            },
        }
    }

    fn add_edge(&mut self, from: (usize, &'static str), to: (usize, String), origin: &Origin) -> GResult<()> {
        if self.edges.iter().any(|e| e.from == from && e.to == to) {
            return Ok(());
        }
        if self.edges.len() >= MAX_EDGES {
            return fail(format!(
                "too many connections: a script may make at most {MAX_EDGES}"
            ));
        }
        self.edges.push(GraphEdge {
            from,
            to,
            origin: origin.clone(),
        });
        self.structure_changed = true;
        Ok(())
    }

    /// Connect `signal` into the destination `to` names: each weighted term
    /// through a scaler, the constant through a constant node (or, into a
    /// parameter with nothing else driving it, as the parameter's value).
    pub fn connect(&mut self, signal: &Signal, to: &NodeRef, origin: &Origin) -> GResult<()> {
        let port = self.destination(to)?;
        let is_param = self.nodes[to.index].desc.param(&port).is_some();
        if signal.terms.is_empty() {
            if is_param {
                return self.set_param(to, &port, signal.offset);
            }
            if signal.offset == 0.0 {
                return Ok(());
            }
        }
        // One term and a constant is what a `scale` node does by itself.
        if let [(node, weight)] = signal.terms.as_slice()
            && signal.offset != 0.0
            && self.scaler(*weight, signal.offset).is_some()
        {
            let from = (node.index, self.source(node)?);
            let from = self.scaled_offset(from, *weight, signal.offset, origin)?;
            return self.add_edge(from, (to.index, port), origin);
        }
        for (node, weight) in &signal.terms {
            let from = self.source(node)?;
            let from = self.scaled((node.index, from), *weight, origin)?;
            self.add_edge(from, (to.index, port.clone()), origin)?;
        }
        if signal.offset != 0.0 {
            let c = self.constant(signal.offset, origin)?;
            self.add_edge((c, "out"), (to.index, port), origin)?;
        }
        Ok(())
    }

    /// Remove every edge from `from`'s source port into `to`'s destination
    /// (through any scaler in between); returns how many went.
    pub fn disconnect(&mut self, from: &NodeRef, to: &NodeRef) -> GResult<usize> {
        let src = (from.index, self.source(from)?);
        let port = self.destination(to)?;
        let scaled: Vec<usize> = self
            .scalers
            .iter()
            .filter(|((n, p, _, _), _)| (*n, *p) == src)
            .map(|(_, (helper, _))| *helper)
            .collect();
        let before = self.edges.len();
        self.edges.retain(|e| {
            let from_here = e.from == src || scaled.contains(&e.from.0);
            !(from_here && e.to.0 == to.index && e.to.1 == port)
        });
        let removed = before - self.edges.len();
        if removed > 0 {
            self.structure_changed = true;
        }
        Ok(removed)
    }

    /// Remove a node and its edges.
    pub fn remove(&mut self, r: &NodeRef) -> GResult<()> {
        self.check(r)?;
        if Some(r.index) == self.output {
            return fail("the output node cannot be removed");
        }
        self.nodes[r.index].alive = false;
        if let Some(name) = self.nodes[r.index].name.take() {
            self.names.remove(&name);
        }
        self.edges.retain(|e| e.from.0 != r.index && e.to.0 != r.index);
        self.structure_changed = true;
        Ok(())
    }

    /// A constant node putting out `value` (one per value per run).
    fn constant(&mut self, value: f64, origin: &Origin) -> GResult<usize> {
        if let Some(&i) = self.constants.get(&value.to_bits()) {
            return Ok(i);
        }
        let Some(desc) = self.registry.get("constant") else {
            return fail(
                "adding a number to a signal needs the `constant` node kind, which this build lacks",
            );
        };
        let node = self.push(desc, true, origin.clone())?;
        self.set_param(&node, "value", value)?;
        self.constants.insert(value.to_bits(), node.index);
        Ok(node.index)
    }

    /// `scale`, if this build has it and `factor` and `offset` are within
    /// its parameters' ranges.
    fn scaler(&self, factor: f64, offset: f64) -> Option<&'static NodeDescriptor> {
        let desc = self.registry.get("scale").filter(|d| d.inputs.len() == 1)?;
        let fits = |param: &str, v: f64| desc.param(param).is_some_and(|(_, s)| v >= s.min && v <= s.max);
        (fits("factor", factor) && fits("offset", offset)).then_some(desc)
    }

    /// The output `from` through a helper `scale` node, `in × factor +
    /// offset` (one per source, factor and offset per run); the caller has
    /// checked [`Graph::scaler`].
    fn scaled_offset(
        &mut self,
        from: (usize, &'static str),
        factor: f64,
        offset: f64,
        origin: &Origin,
    ) -> GResult<(usize, &'static str)> {
        let key = (from.0, from.1, factor.to_bits(), offset.to_bits());
        if let Some(&port) = self.scalers.get(&key) {
            return Ok(port);
        }
        let Some(desc) = self.scaler(factor, offset) else {
            return fail(format!("cannot scale a signal by {factor} and add {offset}"));
        };
        let node = self.push(desc, true, origin.clone())?;
        self.set_param(&node, "factor", factor)?;
        if offset != 0.0 {
            self.set_param(&node, "offset", offset)?;
        }
        self.add_edge(from, (node.index, desc.inputs[0].name.to_string()), origin)?;
        let port = (node.index, desc.outputs[0].name);
        self.scalers.insert(key, port);
        Ok(port)
    }

    /// Whether one `gain` node can scale by `k` (positive).
    fn gain_db_fits(&self, k: f64) -> bool {
        let db = 20.0 * k.log10();
        self.registry
            .get("gain")
            .filter(|d| d.inputs.len() == 1)
            .and_then(|d| d.param("gain"))
            .is_some_and(|(_, spec)| db >= spec.min && db <= spec.max)
    }

    /// The output `from` scaled by `k`: the port itself for 1, else a
    /// helper node (one per source and factor per run). Positive factors
    /// within the `gain` node's range use it (smoothed, in dB); other
    /// factors a `scale` node, or where it lacks the range a `multiply`
    /// node fed a constant.
    fn scaled(
        &mut self,
        from: (usize, &'static str),
        k: f64,
        origin: &Origin,
    ) -> GResult<(usize, &'static str)> {
        if k == 1.0 {
            return Ok(from);
        }
        if !k.is_finite() {
            return fail(format!("cannot scale a signal by {k}"));
        }
        if self.scaler(k, 0.0).is_some() && !(k > 0.0 && self.gain_db_fits(k)) {
            return self.scaled_offset(from, k, 0.0, origin);
        }
        let key = (from.0, from.1, k.to_bits(), 0);
        if let Some(&port) = self.scalers.get(&key) {
            return Ok(port);
        }
        // The gain stages (dB) that make `k`: one within the gain node's
        // range, or a short chain when no multiply node is there.
        let gain = self
            .registry
            .get("gain")
            .filter(|d| d.inputs.len() == 1)
            .and_then(|d| {
                let (_, spec) = d.param("gain")?;
                if k <= 0.0 {
                    return None;
                }
                let db = 20.0 * k.log10();
                if db >= spec.min && db <= spec.max {
                    return Some((d, vec![db]));
                }
                if self.multiplier().is_some() {
                    return None;
                }
                let step = if db > 0.0 { spec.max } else { spec.min };
                let n = (db / step).ceil();
                (step != 0.0 && n <= MAX_GAIN_CHAIN).then(|| (d, vec![db / n; n as usize]))
            });
        let port = if let Some((desc, stages)) = gain {
            let mut port = from;
            for db in stages {
                let node = self.push(desc, true, origin.clone())?;
                self.set_param(&node, "gain", db)?;
                self.add_edge(port, (node.index, desc.inputs[0].name.to_string()), origin)?;
                port = (node.index, desc.outputs[0].name);
            }
            port
        } else if let Some(desc) = self.multiplier() {
            let c = self.constant(k, origin)?;
            let node = self.push(desc, true, origin.clone())?;
            self.add_edge(from, (node.index, desc.inputs[0].name.to_string()), origin)?;
            self.add_edge((c, "out"), (node.index, desc.inputs[1].name.to_string()), origin)?;
            (node.index, desc.outputs[0].name)
        } else {
            return fail(format!(
                "scaling a signal by {k} needs a `multiply` node kind (two inputs), which this build lacks; \
                 only positive factors can be made with `gain` nodes"
            ));
        };
        self.scalers.insert(key, port);
        Ok(port)
    }

    fn multiplier(&self) -> Option<&'static NodeDescriptor> {
        self.registry
            .get("multiply")
            .filter(|d| d.inputs.len() >= 2 && !d.outputs.is_empty())
    }

    /// The product of two signals, through a `multiply` node.
    pub fn multiply(&mut self, a: &Signal, b: &Signal, origin: &Origin) -> GResult<NodeRef> {
        let Some(desc) = self.multiplier() else {
            return fail(
                "multiplying two signals needs a `multiply` node kind (two inputs), which this build lacks",
            );
        };
        let node = self.push(desc, true, origin.clone())?;
        for (side, signal) in [a, b].into_iter().enumerate() {
            let port = NodeRef {
                port: Some(desc.inputs[side].name.into()),
                ..node.clone()
            };
            self.connect(signal, &port, origin)?;
        }
        Ok(node)
    }

    /// A node standing for `signal`: the node itself when the signal is
    /// one unweighted node, else a unity `gain` node the signal feeds (a
    /// summing point that can be named and connected from).
    pub fn materialize(&mut self, signal: &Signal, origin: &Origin) -> GResult<NodeRef> {
        if let Some(node) = signal.as_node() {
            return Ok(node.clone());
        }
        let Some(desc) = self.registry.get("gain").filter(|d| d.inputs.len() == 1) else {
            return fail("a summing point needs the `gain` node kind, which this build lacks");
        };
        let node = self.push(desc, true, origin.clone())?;
        self.connect(signal, &node, origin)?;
        Ok(node)
    }

    /// The patch: live nodes with their ids and a simple layout (column by
    /// distance from the sources), and the edges between them.
    pub fn to_patch(&self) -> Patch {
        let ids: Vec<String> = self.nodes.iter().map(GraphNode::id).collect();
        let layout = self.layout();
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.alive)
            .map(|(i, n)| Node {
                id: ids[i].clone(),
                kind: n.desc.kind.to_string(),
                params: n.params.clone(),
                settings: n.settings.clone(),
                pos: Some(layout[i]),
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .map(|e| Edge {
                from: PortRef {
                    node: ids[e.from.0].clone(),
                    port: e.from.1.to_string(),
                },
                to: PortRef {
                    node: ids[e.to.0].clone(),
                    port: e.to.1.clone(),
                },
            })
            .collect();
        Patch {
            nodes,
            edges,
            ..Patch::default()
        }
    }

    /// Editor positions: column = longest path from a source (cycles cut),
    /// row = order within the column.
    fn layout(&self) -> Vec<[f32; 2]> {
        let n = self.nodes.len();
        let mut depth = vec![0usize; n];
        // Relax a bounded number of times: a longest-path layering that a
        // feedback loop cannot make run forever.
        for _ in 0..n.min(64) {
            let mut changed = false;
            for e in &self.edges {
                let d = depth[e.from.0] + 1;
                if d > depth[e.to.0] && d <= n {
                    depth[e.to.0] = d;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut rows: HashMap<usize, usize> = HashMap::new();
        (0..n)
            .map(|i| {
                let row = rows.entry(depth[i]).or_insert(0);
                *row += 1;
                [depth[i] as f32 * 220.0, (*row - 1) as f32 * 120.0]
            })
            .collect()
    }

    /// Where the script made the node with this id.
    pub fn origin_of_node(&self, id: &str) -> Option<&Origin> {
        self.nodes
            .iter()
            .find(|n| n.alive && n.id() == id)
            .map(|n| &n.origin)
    }

    /// Where the script made the edge `from -> to` (ids and ports as text).
    pub fn origin_of_edge(&self, from: &str, to: &str) -> Option<&Origin> {
        self.edges
            .iter()
            .find(|e| {
                format!("{}.{}", self.nodes[e.from.0].id(), e.from.1) == from
                    && format!("{}.{}", self.nodes[e.to.0].id(), e.to.1) == to
            })
            .map(|e| &e.origin)
    }
}

fn param_spec(node: &GraphNode, param: &str) -> GResult<&'static patchbay_core::ParamSpec> {
    match node.desc.param(param) {
        Some((_, spec)) => Ok(spec),
        None => {
            let hint = closest(param, node.desc.params.iter().map(|p| p.name))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            let known = if node.desc.params.is_empty() {
                "it has none".to_string()
            } else {
                format!(
                    "it has {}",
                    node.desc
                        .params
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            fail(format!(
                "node `{}` ({}) has no parameter `{param}`{hint}; {known}",
                node.id(),
                node.desc.kind
            ))
        }
    }
}

fn check_value(node: &GraphNode, spec: &patchbay_core::ParamSpec, value: f64) -> GResult<()> {
    if spec.accepts(value) {
        return Ok(());
    }
    if spec.unit == Unit::Choice {
        return fail(format!(
            "node `{}` ({}): parameter `{}` = {value} is not a choice; use 0 … {} or one of {}",
            node.id(),
            node.desc.kind,
            spec.name,
            spec.choices.len() - 1,
            spec.choices
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    fail(format!(
        "node `{}` ({}): parameter `{}` = {value} is out of range {} … {}",
        node.id(),
        node.desc.kind,
        spec.name,
        spec.min,
        spec.max
    ))
}

fn unknown_port(node: &GraphNode, port: &str, direction: &str) -> String {
    let d = node.desc;
    let names: Vec<&str> = match direction {
        "output" => d.outputs.iter().map(|p| p.name).collect(),
        _ => d
            .inputs
            .iter()
            .map(|p| p.name)
            .chain(d.params.iter().map(|p| p.name))
            .collect(),
    };
    let hint = closest(port, names.iter().copied())
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    let known = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    format!(
        "node `{}` ({}) has no {direction} `{port}`{hint}; its {direction}s: {known}",
        node.id(),
        d.kind
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            source: "t.rhai".into(),
            line: 1,
            column: 1,
        }
    }

    #[test]
    fn ids_follow_kind_order_and_names() {
        let mut g = Graph::new(patchbay_nodes::registry().clone(), 1);
        let a = g.add("saw", origin()).unwrap();
        let b = g.add("saw", origin()).unwrap();
        let c = g.add("sine", origin()).unwrap();
        g.name(&b, "bass").unwrap();
        let d = g.add("saw", origin()).unwrap();
        let ids: Vec<String> = [a, b, c, d].iter().map(|r| g.node(r).unwrap().id()).collect();
        assert_eq!(ids, ["saw_1", "bass", "sine_1", "saw_3"]);
        assert_eq!(g.find("saw_3"), Some(3));
        assert_eq!(g.find("bass"), Some(1));
        assert!(
            g.name(&ids_ref(&g, 0), "saw_9").is_err(),
            "automatic-looking names are refused"
        );
    }

    fn ids_ref(g: &Graph, i: usize) -> NodeRef {
        g.handle(i)
    }

    #[test]
    fn weighted_sums_become_fan_in_with_helpers() {
        let mut g = Graph::new(patchbay_nodes::registry().clone(), 1);
        let a = g.add("saw", origin()).unwrap();
        let b = g.add("sine", origin()).unwrap();
        let out = g.output(origin());
        let sum = Signal::of(a).plus(Signal::of(b).times(0.5));
        g.connect(&sum, &out, &origin()).unwrap();
        let p = g.to_patch();
        let edges: Vec<String> = p
            .edges
            .iter()
            .map(|e| format!("{} -> {}", e.from, e.to))
            .collect();
        assert_eq!(
            edges,
            [
                "saw_1.out -> out.in",
                "sine_1.out -> _gain_1.in",
                "_gain_1.out -> out.in"
            ]
        );
        let gain = p.node("_gain_1").unwrap();
        assert!((gain.params["gain"] + 6.0206).abs() < 1e-3);
    }
}
