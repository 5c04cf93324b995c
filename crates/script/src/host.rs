//! [`ScriptHost`]: owns the Rhai engine, the script's compiled AST and its
//! scheduled callbacks. It turns a script into a [`Patch`], and, advanced
//! by [`ScriptHost::tick`] from the host's control loop (or once per block
//! by an offline render), runs due callbacks and sends what they did to a
//! [`LiveEngine`] as parameter commands or a live patch change. Everything
//! here runs on the control thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use patchbay_core::{Applied, LiveEngine, LiveError, Patch, Registry, ValidationError, validate};
use patchbay_io::DiskReport;
use rhai::{Dynamic, EvalAltResult, FnPtr, INT, ParseError};

use crate::api::{self, ApiError, ApiErrorKind};
use crate::error::{ErrorKind, Location, ScriptError, source_line};
use crate::graph::{Graph, Origin};
use crate::state::{Repeat, Said, Shared, Sources, State};

/// Limits on what a script may do. Rhai's own defaults are lower in debug
/// builds than in release ones; these are set explicitly so a script
/// behaves the same in both.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock budget for running a script's top level (seconds).
    pub build_seconds: f64,
    /// Wall-clock budget for one callback (seconds).
    pub callback_seconds: f64,
    /// Most operations one run or callback may take.
    pub max_operations: u64,
    /// Deepest nesting of function calls.
    pub max_call_levels: usize,
    /// Deepest expression nesting at the top level.
    pub max_expr_depth: usize,
    /// Deepest expression nesting inside functions.
    pub max_function_expr_depth: usize,
    /// Longest string (bytes).
    pub max_string_size: usize,
    /// Largest array.
    pub max_array_size: usize,
    /// Largest object map.
    pub max_map_size: usize,
    /// Most modules one run imports.
    pub max_modules: usize,
    /// Most variables in scope.
    pub max_variables: usize,
    /// Most functions a script defines.
    pub max_functions: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            build_seconds: 0.75,
            callback_seconds: 0.25,
            max_operations: 50_000_000,
            max_call_levels: 48,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            max_modules: 64,
            max_variables: 10_000,
            max_functions: 1_000,
        }
    }
}

/// A script to run: a file, or text with a name and a folder (tests,
/// editors).
#[derive(Clone, Debug)]
pub enum ScriptSource {
    /// A `.rhai` file; its folder is the sandbox.
    File(PathBuf),
    /// Script text.
    Text {
        /// How errors name it.
        name: String,
        /// The text.
        text: String,
        /// The folder it may import from.
        dir: PathBuf,
    },
}

/// Something the host reports from a tick.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The script printed.
    Print(String),
    /// A callback failed (it is cancelled) or its change was refused.
    Error(Box<ScriptError>),
    /// A callback changed the patch's structure and the engine took it.
    Changed(Applied),
    /// A recorder's or player's disk work reported (offline sessions; a
    /// live host reports its own disk work).
    Disk(DiskReport),
}

/// A successful run, not yet in force.
struct Prepared {
    state: State,
    ast: rhai::AST,
    patch: Patch,
}

/// Most callbacks one tick runs: a timer that keeps rescheduling itself
/// for "now" must not hold the control thread.
const MAX_CALLBACKS_PER_TICK: usize = 1000;
/// Ramps send a value at most this often (seconds); the engine glides in
/// between.
const RAMP_INTERVAL_S: f64 = 0.005;

/// Runs scripts: builds patches and runs their callbacks.
pub struct ScriptHost {
    engine: rhai::Engine,
    shared: Arc<Shared>,
    registry: Registry,
    limits: Limits,
    ast: Option<rhai::AST>,
    generation: u64,
    printed: Vec<String>,
}

impl ScriptHost {
    /// A host whose scripts can create every kind in `registry`.
    pub fn new(registry: &Registry) -> ScriptHost {
        ScriptHost::with_limits(registry, Limits::default())
    }

    /// A host with explicit limits.
    pub fn with_limits(registry: &Registry, limits: Limits) -> ScriptHost {
        let shared = Arc::new(Shared::new(State::new(registry.clone(), 0)));
        let engine = api::engine(shared.clone(), registry, &limits);
        ScriptHost {
            engine,
            shared,
            registry: registry.clone(),
            limits,
            ast: None,
            generation: 0,
            printed: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Run a script and make it the current one; returns its patch. On
    /// error the previous script stays current.
    pub fn load(&mut self, source: &ScriptSource, now: f64) -> Result<Patch, ScriptError> {
        let prepared = self.run(source, now)?;
        let patch = prepared.patch.clone();
        self.commit(prepared);
        Ok(patch)
    }

    /// Run a script and make `live` play it, keeping the state of every
    /// node whose id and kind are unchanged. On any error nothing changes:
    /// the engine plays on and the previous script's callbacks keep running.
    pub fn reload(
        &mut self,
        source: &ScriptSource,
        now: f64,
        live: &mut LiveEngine,
    ) -> Result<Applied, ScriptError> {
        let prepared = self.run(source, now)?;
        let applied = live
            .apply(prepared.patch.clone())
            .map_err(|e| live_error(e, &prepared.state.graph, &prepared.state.sources))?;
        self.commit(prepared);
        self.shared.lock().live = true;
        Ok(applied)
    }

    /// The patch the current script has built (with what its callbacks
    /// changed since).
    pub fn patch(&self) -> Patch {
        self.shared.lock().graph.to_patch()
    }

    /// Every file the current script read: itself, its imports, patch
    /// files (canonical paths). The hot-reload watcher watches these.
    pub fn files(&self) -> Vec<PathBuf> {
        self.shared.lock().sources.files.clone()
    }

    /// What the script printed while loading, since the last call.
    pub fn take_printed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.printed)
    }

    /// How many callbacks are scheduled.
    pub fn timers(&self) -> usize {
        self.shared.lock().timers.len()
    }

    fn run(&mut self, source: &ScriptSource, now: f64) -> Result<Prepared, ScriptError> {
        let (text, sources) = read_source(source)?;
        self.generation += 1;
        let mut state = State::new(self.registry.clone(), self.generation);
        state.now = now;
        state.sources = sources;
        {
            // The beat grid runs on through reloads; the tempo is the
            // script's (120 unless it says otherwise).
            let old = self.shared.lock();
            state.clock = old.clock;
            state.clock.set_bpm(120.0, now);
        }
        let name = state.sources.main.clone();
        let old = std::mem::replace(&mut *self.shared.lock(), state);
        let result = self.engine.compile(&text).map_err(Err).and_then(|mut ast| {
            ast.set_source(name.to_string());
            self.shared.start_budget(self.limits.build_seconds);
            let ran = self.engine.run_ast(&ast);
            self.shared.end_budget();
            ran.map(|()| ast).map_err(Ok)
        });
        let mut state = std::mem::replace(&mut *self.shared.lock(), old);
        self.printed.extend(state.said.drain(..).map(|Said::Print(s)| s));
        let ast = match result {
            Ok(ast) => ast,
            Err(Err(parse)) => return Err(parse_error(&parse, &state.sources)),
            Err(Ok(eval)) => return Err(self.eval_error(&eval, &state.sources)),
        };
        state.graph.structure_changed = false;
        let patch = state.graph.to_patch();
        if let Err(e) = validate(&patch, &self.registry) {
            return Err(validation_error(e, &state.graph, &state.sources));
        }
        Ok(Prepared { state, ast, patch })
    }

    fn commit(&mut self, prepared: Prepared) {
        *self.shared.lock() = prepared.state;
        self.ast = Some(prepared.ast);
    }

    fn eval_error(&self, e: &EvalAltResult, sources: &Sources) -> ScriptError {
        script_error(
            e,
            sources,
            &self.limits,
            self.shared.budget_seconds(),
            &self.registry,
        )
    }

    /// Advance to time `until` (seconds of the engine's sample clock): run
    /// every callback due before it, in time order, then send what they
    /// changed to `live`, and move ramps. A parameter a callback sets
    /// starts on the sample its callback was due ([`LiveEngine::set_param_at`]),
    /// so a host that ticks ahead of the audio (offline: to the end of the
    /// next block; live: a little more than a device buffer) makes timers
    /// sample-exact. A structural change (the patch's shape) is sent at
    /// once and plays from the next block.
    pub fn tick(&mut self, until: f64, live: &mut LiveEngine) -> Vec<Event> {
        let mut events = Vec::new();
        let Some(ast) = self.ast.clone() else {
            return events;
        };
        let mut before: Option<Graph> = None;
        let mut fired = 0;
        loop {
            let (callback, args, id, origin) = {
                let mut st = self.shared.lock();
                let Some(i) = st
                    .timers
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.due < until)
                    .min_by(|a, b| a.1.due.total_cmp(&b.1.due))
                    .map(|(i, _)| i)
                else {
                    break;
                };
                if before.is_none() {
                    before = Some(st.graph.clone());
                    let ids: Vec<String> = st
                        .graph
                        .nodes
                        .iter()
                        .filter(|n| n.alive)
                        .map(|n| n.id())
                        .collect();
                    st.taps = ids
                        .into_iter()
                        .filter_map(|id| live.tap(&id).map(|t| (id, t.clone())))
                        .collect();
                }
                let clock = st.clock;
                let t = &mut st.timers[i];
                let due = t.due;
                let args = match t.repeat {
                    Repeat::Once => None,
                    Repeat::Every(p) => {
                        t.due += p;
                        if t.due < until {
                            // Behind by more than a period: skip to the grid.
                            t.due = (until / p).ceil() * p;
                        }
                        Some(t.count)
                    }
                    Repeat::Beats { every, ref mut next } => {
                        let beat = *next;
                        *next += every;
                        t.due = clock.time_of(*next as f64);
                        if t.due < until {
                            let b = clock.beat_at(until);
                            *next = ((b / every as f64).floor() as i64 + 1) * every;
                            t.due = clock.time_of(*next as f64);
                        }
                        Some(beat)
                    }
                };
                t.count += 1;
                let (callback, id, origin) = (t.callback.clone(), t.id, t.origin.clone());
                if args.is_none() {
                    st.timers.remove(i);
                }
                st.now = due;
                st.live = true;
                (callback, args, id, origin)
            };
            fired += 1;
            if fired > MAX_CALLBACKS_PER_TICK {
                let mut st = self.shared.lock();
                st.timers.retain(|t| t.id != id);
                events.push(Event::Error(Box::new(located(
                    ErrorKind::Runtime(format!(
                        "more than {MAX_CALLBACKS_PER_TICK} callbacks fell due at once; this one is cancelled"
                    )),
                    &origin,
                    &st.sources,
                ))));
                break;
            }
            self.shared.start_budget(self.limits.callback_seconds);
            let result = call(&self.engine, &ast, &callback, args);
            self.shared.end_budget();
            if let Err(e) = result {
                let mut st = self.shared.lock();
                st.timers.retain(|t| t.id != id);
                let mut error = self.eval_error(&e, &st.sources);
                if error.location.is_none() {
                    // Some errors (a stopped endless loop) carry no position
                    // inside a closure: point at where it was scheduled.
                    let kind = error.kind.clone();
                    error = ScriptError {
                        notes: error.notes,
                        ..located(kind, &origin, &st.sources)
                    };
                }
                error.notes.push(format!(
                    "in the callback scheduled at {}:{}:{}, which is now cancelled",
                    origin.source, origin.line, origin.column
                ));
                events.push(Event::Error(Box::new(error)));
            }
        }

        let mut st = self.shared.lock();
        st.now = until;
        events.extend(st.said.drain(..).map(|Said::Print(s)| Event::Print(s)));
        if st.graph.structure_changed {
            st.graph.structure_changed = false;
            st.sets.clear();
            match live.apply(st.graph.to_patch()) {
                Ok(applied) => events.push(Event::Changed(applied)),
                Err(e) => {
                    events.push(Event::Error(Box::new(live_error(e, &st.graph, &st.sources))));
                    if let Some(graph) = before {
                        st.graph = graph;
                    }
                }
            }
        } else {
            let rate = live.sample_rate() as f64;
            for (node, param, value, at) in std::mem::take(&mut st.sets) {
                let frame = (at * rate).round().max(0.0) as u64;
                if let Err(e) = live.set_param_at(&node, &param, value, frame) {
                    events.push(Event::Error(Box::new(ScriptError::new(ErrorKind::Engine(
                        e.to_string(),
                    )))));
                }
            }
        }
        // Ramps move with the audio, not ahead of it.
        let now = live.now() as f64 / live.sample_rate() as f64;
        let mut ramps = std::mem::take(&mut st.ramps);
        for ramp in &mut ramps {
            let done = now >= ramp.end;
            if !done && now - ramp.last_sent < RAMP_INTERVAL_S {
                continue;
            }
            ramp.last_sent = now;
            let value = ramp.value_at(now);
            if let Some(i) = st.graph.find(&ramp.node) {
                let node = st.graph.handle(i);
                let _ = st.graph.set_param(&node, &ramp.param, value);
            }
            if let Err(e) = live.set_param(&ramp.node, &ramp.param, value) {
                events.push(Event::Error(Box::new(ScriptError::new(ErrorKind::Engine(
                    e.to_string(),
                )))));
            }
        }
        ramps.retain(|r| now < r.end);
        // Ramps started by callbacks this tick come after the old ones.
        ramps.append(&mut st.ramps);
        st.ramps = ramps;
        events
    }
}

/// Call a callback, with its count or beat number if it takes one.
fn call(
    engine: &rhai::Engine,
    ast: &rhai::AST,
    f: &FnPtr,
    arg: Option<i64>,
) -> Result<(), Box<EvalAltResult>> {
    let result = match arg {
        Some(n) => match f.call::<Dynamic>(engine, ast, (n as INT,)) {
            Err(e) if matches!(*e, EvalAltResult::ErrorFunctionNotFound(ref sig, _) if sig.starts_with(f.fn_name())) => {
                f.call::<Dynamic>(engine, ast, ())
            }
            other => other,
        },
        None => f.call::<Dynamic>(engine, ast, ()),
    };
    result.map(|_| ())
}

fn read_source(source: &ScriptSource) -> Result<(String, Sources), ScriptError> {
    let mut sources = Sources::default();
    let text = match source {
        ScriptSource::File(path) => {
            let name = path.display().to_string();
            let read_err = |e: std::io::Error| {
                ScriptError::new(ErrorKind::Read {
                    path: name.clone(),
                    message: e.to_string(),
                })
            };
            let text = std::fs::read_to_string(path).map_err(read_err)?;
            let (root, display) = crate::sandbox::root_of(path).map_err(read_err)?;
            let canonical = path.canonicalize().map_err(read_err)?;
            sources.root = root;
            sources.root_display = display;
            sources.files.push(canonical.clone());
            sources.paths.insert(name.clone(), canonical);
            sources.main = Arc::from(name.as_str());
            text
        }
        ScriptSource::Text { name, text, dir } => {
            sources.root = dir.canonicalize().map_err(|e| {
                ScriptError::new(ErrorKind::Read {
                    path: dir.display().to_string(),
                    message: e.to_string(),
                })
            })?;
            sources.root_display = dir.clone();
            sources.main = Arc::from(name.as_str());
            text.clone()
        }
    };
    sources
        .texts
        .insert(sources.main.to_string(), Arc::from(text.as_str()));
    Ok((text, sources))
}

/// An error at `origin`, with its source line.
fn located(kind: ErrorKind, origin: &Origin, sources: &Sources) -> ScriptError {
    let mut e = ScriptError::new(kind);
    if origin.line > 0 {
        e.line_text = sources
            .texts
            .get(&*origin.source)
            .and_then(|t| source_line(t, origin.line));
        e.location = Some(Location {
            source: origin.source.to_string(),
            line: origin.line,
            column: origin.column.max(1),
        });
    }
    e
}

fn at_position(kind: ErrorKind, source: &str, pos: rhai::Position, sources: &Sources) -> ScriptError {
    let origin = Origin {
        source: Arc::from(source),
        line: pos.line().unwrap_or(0),
        column: pos.position().unwrap_or(1),
    };
    located(kind, &origin, sources)
}

fn parse_error(e: &ParseError, sources: &Sources) -> ScriptError {
    at_position(ErrorKind::Syntax(e.0.to_string()), &sources.main, e.1, sources)
}

/// A Rhai error as a positioned script error: the innermost position, with
/// the chain of calls (and imports) that led there as notes.
pub(crate) fn script_error(
    e: &EvalAltResult,
    sources: &Sources,
    limits: &Limits,
    budget: f64,
    registry: &Registry,
) -> ScriptError {
    let mut source = sources.main.to_string();
    let mut notes = Vec::new();
    let mut e = e;
    loop {
        match e {
            EvalAltResult::ErrorInFunctionCall(name, fn_source, inner, pos) => {
                let label = if name.starts_with("anon$") {
                    "a closure".to_string()
                } else {
                    format!("`{name}`")
                };
                if !pos.is_none() {
                    notes.push(format!("in {label}, called at {}", position_text(&source, *pos)));
                }
                if !fn_source.is_empty() {
                    source = fn_source.clone();
                }
                e = inner;
            }
            EvalAltResult::ErrorInModule(path, inner, pos) => {
                notes.push(format!(
                    "in module \"{path}\", imported at {}",
                    position_text(&source, *pos)
                ));
                source = sources.modules.get(path).cloned().unwrap_or_else(|| path.clone());
                e = inner;
            }
            _ => break,
        }
    }
    notes.reverse();
    let kind = match e {
        EvalAltResult::ErrorParsing(t, _) => ErrorKind::Syntax(t.to_string()),
        EvalAltResult::ErrorRuntime(value, _) => match value.read_lock::<ApiError>() {
            Some(api) => match api.kind {
                ApiErrorKind::Runtime => ErrorKind::Runtime(api.message.clone()),
                ApiErrorKind::Sandbox => ErrorKind::Sandbox(api.message.clone()),
                ApiErrorKind::TooLarge => ErrorKind::TooLarge(api.message.clone()),
            },
            None => ErrorKind::Runtime(format!("the script threw: {value}")),
        },
        EvalAltResult::ErrorTerminated(..) => ErrorKind::Timeout(budget),
        EvalAltResult::ErrorTooManyOperations(_) => ErrorKind::TooManyOperations(limits.max_operations),
        EvalAltResult::ErrorStackOverflow(_) => ErrorKind::StackOverflow(limits.max_call_levels),
        EvalAltResult::ErrorDataTooLarge(what, _) => ErrorKind::TooLarge(format!(
            "{what} is over the script limit (strings {} bytes, arrays {} items, maps {} items)",
            limits.max_string_size, limits.max_array_size, limits.max_map_size
        )),
        EvalAltResult::ErrorTooManyModules(_) => {
            ErrorKind::TooLarge(format!("more than {} modules imported", limits.max_modules))
        }
        EvalAltResult::ErrorTooManyVariables(_) => {
            ErrorKind::TooLarge(format!("more than {} variables", limits.max_variables))
        }
        EvalAltResult::ErrorFunctionNotFound(signature, _) => {
            ErrorKind::Runtime(function_not_found(signature, registry))
        }
        EvalAltResult::ErrorVariableNotFound(name, _) => {
            ErrorKind::Runtime(format!("unknown variable `{name}`"))
        }
        EvalAltResult::ErrorMismatchDataType(wanted, got, _) => ErrorKind::Runtime(format!(
            "type error: expected {}, got {}",
            friendly_type(wanted),
            friendly_type(got)
        )),
        EvalAltResult::ErrorModuleNotFound(path, _) => {
            ErrorKind::Runtime(format!("no module \"{path}\" in the script's folder"))
        }
        other => {
            let text = other.to_string();
            let text = match text.rfind(" (line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            ErrorKind::Runtime(text)
        }
    };
    let mut error = at_position(kind, &source, e.position(), sources);
    error.notes = notes;
    error
}

fn position_text(source: &str, pos: rhai::Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!("{source}:{l}:{c}"),
        (Some(l), None) => format!("{source}:{l}"),
        _ => source.to_string(),
    }
}

fn friendly_type(t: &str) -> String {
    match t {
        t if t.ends_with("NodeRef") || t == "Node" => "a node".into(),
        t if t.ends_with("Signal") => "a signal".into(),
        "i64" => "an integer".into(),
        "f64" => "a number".into(),
        "string" => "a string".into(),
        "()" => "nothing".into(),
        other => format!("`{other}`"),
    }
}

fn function_not_found(signature: &str, registry: &Registry) -> String {
    let (name, args) = match signature.split_once(" (") {
        Some((n, rest)) => (n, rest.trim_end_matches(')')),
        None => (signature, ""),
    };
    let args: Vec<String> = args
        .split(", ")
        .filter(|a| !a.is_empty())
        .map(|a| friendly_type(a.trim()))
        .collect();
    if let Some(d) = registry.get(name).filter(|d| api::has_function(d.kind)) {
        let params: Vec<&str> = d.params.iter().map(|p| p.name).collect();
        return format!(
            "`{name}` was given {} arguments; it takes up to {} positional parameters ({}) and then a map, e.g. {name}(#{{{}}})",
            args.len(),
            params.len().min(api::MAX_POSITIONAL),
            params.join(", "),
            params.first().map(|p| format!("{p}: ...")).unwrap_or_default()
        );
    }
    if name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        let hint = registry
            .suggest(name)
            .map(|s| format!(" (did you mean the node kind `{s}`?)"))
            .unwrap_or_default();
        if args.is_empty() {
            format!("unknown function `{name}()`{hint}")
        } else {
            format!("unknown function `{name}` for ({}){hint}", args.join(", "))
        }
    } else {
        format!("no operator `{name}` for ({})", args.join(", "))
    }
}

/// A patch the compiler refused, located at the script line that made the
/// node or connection at fault.
fn validation_error(e: ValidationError, graph: &Graph, sources: &Sources) -> ScriptError {
    use ValidationError::*;
    let mut notes = Vec::new();
    let origin = match &e {
        UnknownKind { node, .. }
        | UnknownParam { node, .. }
        | ParamOutOfRange { node, .. }
        | ParamNotChoice { node, .. }
        | InvalidId(node)
        | DuplicateId(node) => graph.origin_of_node(node).cloned(),
        MissingNode { from, to, .. }
        | UnknownPort { from, to, .. }
        | ChannelMismatch { from, to, .. }
        | DuplicateEdge { from, to } => graph.origin_of_edge(from, to).cloned(),
        Cycle { nodes } => {
            // The connection that closed the loop: the last one made.
            let ids: Vec<String> = graph.nodes.iter().map(|n| n.id()).collect();
            let closing = graph.edges.iter().rfind(|edge| {
                (0..nodes.len())
                    .any(|i| ids[edge.from.0] == nodes[i] && ids[edge.to.0] == nodes[(i + 1) % nodes.len()])
            });
            if let Some(first) = nodes.first().and_then(|n| graph.origin_of_node(n)) {
                notes.push(format!(
                    "`{}` was made at {}:{}:{}",
                    nodes[0], first.source, first.line, first.column
                ));
            }
            closing.map(|edge| edge.origin.clone())
        }
        _ => None,
    };
    let mut error = match origin {
        Some(o) => located(ErrorKind::Invalid(e), &o, sources),
        None => ScriptError::new(ErrorKind::Invalid(e)),
    };
    error.notes = notes;
    error
}

fn live_error(e: LiveError, graph: &Graph, sources: &Sources) -> ScriptError {
    match e {
        LiveError::Invalid(v) => validation_error(v, graph, sources),
        other => ScriptError::new(ErrorKind::Engine(other.to_string())),
    }
}

/// A convenience for one-shot use: run the script at `path` and return its
/// patch (what `patchbay export` and `check` do).
pub fn patch_from_file(path: &Path, registry: &Registry) -> Result<Patch, ScriptError> {
    ScriptHost::new(registry).load(&ScriptSource::File(path.to_path_buf()), 0.0)
}
