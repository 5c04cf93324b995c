//! The Rhai engine scripts run in: its limits and sandbox, and the API —
//! one function per registry node kind, generated from the registry, the
//! node handle type with its operators, and the control functions.

use std::any::TypeId;
use std::sync::Arc;

use patchbay_core::registry::OUTPUT_KIND;
use patchbay_core::{NodeDescriptor, Registry};
use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FLOAT, FnPtr, INT, ImmutableString, Map, NativeCallContext,
    Position,
};

use crate::graph::{GraphError, NodeRef, Origin, Signal};
use crate::state::{Ramp, Repeat, Said, Shared, State, Timer};
use crate::{Limits, sandbox};

/// How an API function failed: the host turns the kind into the matching
/// [`crate::ErrorKind`].
#[derive(Clone, Debug)]
pub struct ApiError {
    /// Which kind of failure.
    pub kind: ApiErrorKind,
    /// The message.
    pub message: String,
}

/// Categories of [`ApiError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// A refused node, port, parameter or value.
    Runtime,
    /// A path outside the script's folder.
    Sandbox,
    /// Too many nodes or edges.
    TooLarge,
}

type Res<T> = Result<T, Box<EvalAltResult>>;

/// An API error as the engine carries it (the call's position is filled in
/// by the engine).
pub fn api_error(kind: ApiErrorKind, message: impl Into<String>) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        Dynamic::from(ApiError {
            kind,
            message: message.into(),
        }),
        Position::NONE,
    )
    .into()
}

fn err(message: impl Into<String>) -> Box<EvalAltResult> {
    api_error(ApiErrorKind::Runtime, message)
}

fn gerr(e: GraphError) -> Box<EvalAltResult> {
    let kind = if e.0.starts_with("too many") {
        ApiErrorKind::TooLarge
    } else {
        ApiErrorKind::Runtime
    };
    api_error(kind, e.0)
}

/// Precedence of `>>`: below `||` (30), the loosest built-in operator.
const CONNECT_PRECEDENCE: u8 = 20;

/// Most positional parameters a node function takes; more go in a map.
pub const MAX_POSITIONAL: usize = 10;

/// Rhai keywords and reserved words: a node kind spelt like one is only
/// reachable as `node("kind", ...)`.
const RHAI_RESERVED: &[&str] = &[
    "let",
    "const",
    "if",
    "else",
    "switch",
    "do",
    "while",
    "until",
    "loop",
    "for",
    "in",
    "continue",
    "break",
    "return",
    "throw",
    "try",
    "catch",
    "import",
    "export",
    "as",
    "global",
    "private",
    "fn",
    "this",
    "true",
    "false",
    "is",
    "var",
    "static",
    "shared",
    "with",
    "goto",
    "exit",
    "match",
    "case",
    "default",
    "void",
    "null",
    "nil",
    "spawn",
    "thread",
    "go",
    "sync",
    "async",
    "await",
    "yield",
    "public",
    "protected",
    "new",
    "use",
    "module",
    "package",
    "super",
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_fn",
    "is_def_var",
];

/// The script API's own functions: a node kind with one of these names is
/// only reachable as `node("kind", ...)`. (`handle.input("name")` is a
/// method taking a handle and a name, so the `input` node kind keeps its
/// function: `input(2)`, `input(#{channels: 2})`.)
pub const API_FUNCTIONS: &[&str] = &[
    "node",
    "out",
    "find",
    "set",
    "get",
    "ramp",
    "every",
    "after",
    "on_beat",
    "cancel",
    "bpm",
    "now",
    "beat",
    "beats",
    "level",
    "readings",
    "arm",
    "start_recording",
    "stop_recording",
    "connect",
    "disconnect",
    "remove",
    "patch_file",
    "rand",
    "rand_int",
    "seed",
    "choose",
    "mtof",
    "db",
    "name",
    "port",
];

/// Method and property names of node handles that ports and parameters
/// cannot shadow.
const HANDLE_PROPERTIES: &[&str] = &["id", "kind", "name", "port", "out", "input"];

/// True when kind `kind` gets its own script function.
pub fn has_function(kind: &str) -> bool {
    let ident = kind
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    ident && !RHAI_RESERVED.contains(&kind) && !API_FUNCTIONS.contains(&kind)
}

/// Build the engine: limits, sandbox, and the API over `registry`.
pub fn engine(shared: Arc<Shared>, registry: &Registry, limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(limits.max_modules)
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true);
    // `eval` would compile text at run time, outside the positions and
    // limits the host reports on.
    engine.disable_symbol("eval");
    // Rhai ranks `>>` above `*` and `+` (as C does not). Connections should
    // bind loosest, so `a * 0.5 + b >> f >> out()` connects the mix: `>>`
    // is re-registered as an operator below every other (integer shifts
    // remain as `shift_right`).
    engine.disable_symbol(">>");
    engine
        .register_custom_operator(">>", CONNECT_PRECEDENCE)
        .expect("a disabled operator can be made custom");
    {
        let shared = shared.clone();
        engine.on_progress(move |ops| {
            if ops % 256 == 0 && shared.over_budget() {
                Some(Dynamic::from("time budget"))
            } else {
                None
            }
        });
    }
    {
        let shared = shared.clone();
        engine.on_print(move |text| shared.lock().said.push(Said::Print(text.to_string())));
    }
    {
        let shared = shared.clone();
        engine.on_debug(move |text, _source, pos| {
            let at = match (pos.line(), pos.position()) {
                (Some(l), Some(c)) => format!("[{l}:{c}] "),
                _ => String::new(),
            };
            shared.lock().said.push(Said::Print(format!("{at}{text}")));
        });
    }
    engine.set_module_resolver(sandbox::Resolver::new(shared.clone()));

    engine.register_type_with_name::<NodeRef>("Node");
    engine.register_type_with_name::<Signal>("Signal");
    engine.register_type_with_name::<ApiError>("Error");
    engine.register_fn("to_string", |e: &mut ApiError| e.message.clone());

    register_node_functions(&mut engine, &shared, registry);
    register_handles(&mut engine, &shared, registry);
    register_operators(&mut engine, &shared);
    register_control(&mut engine, &shared);
    engine
}

/// Where the native function being called was called from.
fn origin(st: &State, ctx: &NativeCallContext) -> Origin {
    let pos = ctx.call_position();
    Origin {
        source: st.source_name(ctx.call_source()),
        line: pos.line().unwrap_or(0),
        column: pos.position().unwrap_or(0),
    }
}

fn number(v: &Dynamic) -> Option<f64> {
    if let Ok(i) = v.as_int() {
        Some(i as f64)
    } else if let Ok(f) = v.as_float() {
        Some(f)
    } else {
        v.as_bool().ok().map(|b| if b { 1.0 } else { 0.0 })
    }
}

fn signal(v: &Dynamic) -> Option<Signal> {
    if let Some(n) = v.read_lock::<NodeRef>() {
        return Some(Signal::of(n.clone()));
    }
    v.read_lock::<Signal>().map(|s| s.clone())
}

fn number_arg(v: &Dynamic, function: &str, what: &str) -> Res<f64> {
    number(v).ok_or_else(|| {
        err(format!(
            "`{function}` takes a number for {what}, not {}",
            type_name(v)
        ))
    })
}

/// The script-facing name of a value's type.
fn type_name(v: &Dynamic) -> String {
    match v.type_name() {
        t if t.ends_with("NodeRef") => "a node".into(),
        t if t.ends_with("Signal") => "a signal".into(),
        "i64" | "i32" => "an integer".into(),
        "f64" | "f32" => "a number".into(),
        "string" | "ImmutableString" => "a string".into(),
        "array" => "an array".into(),
        "map" => "a map".into(),
        "()" => "nothing (`()`)".into(),
        "bool" => "a boolean".into(),
        "Fn" => "a function".into(),
        other => format!("a `{other}`"),
    }
}

/// Give node `node` the value `v` for `param` (a parameter, or an input
/// for signals): a number, a choice name, or a signal that drives it.
fn apply_value(st: &mut State, node: &NodeRef, param: &str, v: &Dynamic, origin: &Origin) -> Res<()> {
    let v = v.flatten_clone();
    let desc = st.graph.node(node).map_err(gerr)?.desc;
    if let Some((_, spec)) = desc.setting(param) {
        let Ok(text) = v.clone().into_immutable_string() else {
            return Err(err(format!(
                "setting `{param}` of `{}` is a {}: give it text in quotes, not {}",
                desc.kind,
                spec.kind.describe(),
                type_name(&v)
            )));
        };
        return st.graph.set_setting(node, param, &text).map_err(gerr);
    }
    if let Some(x) = number(&v) {
        if desc.param(param).is_none() && desc.input(param).is_some() {
            return Err(err(format!(
                "`{param}` is an input of `{}`: give it a signal (a node), not a number",
                desc.kind
            )));
        }
        return st.graph.set_param(node, param, x).map_err(gerr);
    }
    if let Ok(text) = v.clone().into_immutable_string() {
        let x = st.graph.choice_value(node, param, &text).map_err(gerr)?;
        return st.graph.set_param(node, param, x).map_err(gerr);
    }
    if let Some(sig) = signal(&v) {
        let port = NodeRef {
            port: Some(Arc::from(param)),
            ..node.clone()
        };
        return st.graph.connect(&sig, &port, origin).map_err(gerr);
    }
    Err(err(format!(
        "parameter `{param}` of `{}` takes a number, a choice name or a signal, not {}",
        desc.kind,
        type_name(&v)
    )))
}

/// Create a node of `desc`'s kind from a call's arguments: positional
/// parameters in declaration order, then optionally a map by name.
fn create(
    shared: &Shared,
    ctx: &NativeCallContext,
    desc: &'static NodeDescriptor,
    args: &[Dynamic],
) -> Res<NodeRef> {
    let (positional, named) = match args.split_last() {
        Some((last, rest)) if last.is_map() => (rest, last.clone().try_cast::<Map>()),
        _ => (args, None),
    };
    if positional.len() > desc.params.len() {
        let names: Vec<&str> = desc.params.iter().map(|p| p.name).collect();
        return Err(err(format!(
            "`{}` takes at most {} positional parameter{} ({}); got {}",
            desc.kind,
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
            positional.len()
        )));
    }
    let mut st = shared.lock();
    let at = origin(&st, ctx);
    let node = st.graph.add(desc.kind, at.clone()).map_err(gerr)?;
    for (spec, v) in desc.params.iter().zip(positional) {
        apply_value(&mut st, &node, spec.name, v, &at)?;
    }
    if let Some(map) = named {
        for (key, v) in &map {
            apply_value(&mut st, &node, key, v, &at)?;
        }
    }
    Ok(node)
}

fn register_node_functions(engine: &mut Engine, shared: &Arc<Shared>, registry: &Registry) {
    for desc in registry.kinds() {
        if !has_function(desc.kind) {
            continue;
        }
        let most = desc.params.len().min(MAX_POSITIONAL) + 1;
        for arity in 0..=most {
            let shared = shared.clone();
            engine.register_raw_fn(
                desc.kind,
                vec![TypeId::of::<Dynamic>(); arity],
                move |ctx: NativeCallContext, args: &mut [&mut Dynamic]| {
                    let args: Vec<Dynamic> = args.iter().map(|a| (**a).clone()).collect();
                    create(&shared, &ctx, desc, &args)
                },
            );
        }
    }
    // `node("kind", ...)`: any kind, including those spelt like keywords.
    for arity in 0..=MAX_POSITIONAL + 1 {
        let shared = shared.clone();
        let mut types = vec![TypeId::of::<ImmutableString>()];
        types.extend(std::iter::repeat_n(TypeId::of::<Dynamic>(), arity));
        engine.register_raw_fn(
            "node",
            types,
            move |ctx: NativeCallContext, args: &mut [&mut Dynamic]| {
                let kind = args[0].clone().into_immutable_string().unwrap_or_default();
                let desc = {
                    let st = shared.lock();
                    match st.registry.get(&kind) {
                        Some(d) => d,
                        None => {
                            let hint = st
                                .registry
                                .suggest(&kind)
                                .map(|s| format!(" (did you mean `{s}`?)"))
                                .unwrap_or_default();
                            return Err(err(format!("unknown node kind `{kind}`{hint}")));
                        }
                    }
                };
                let rest: Vec<Dynamic> = args[1..].iter().map(|a| (**a).clone()).collect();
                create(&shared, &ctx, desc, &rest)
            },
        );
    }
    let s = shared.clone();
    engine.register_fn("out", move |ctx: NativeCallContext| {
        let mut st = s.lock();
        let at = origin(&st, &ctx);
        st.graph.output(at)
    });
    let _ = OUTPUT_KIND;
}

/// Check that `node` has a port or parameter `port` and return the handle
/// on it.
fn port_handle(shared: &Shared, node: &NodeRef, port: &str) -> Res<NodeRef> {
    let st = shared.lock();
    let n = st.graph.node(node).map_err(gerr)?;
    let d = n.desc;
    if d.input(port).is_none() && d.output(port).is_none() && d.param(port).is_none() {
        let names: Vec<&str> = d
            .inputs
            .iter()
            .chain(d.outputs)
            .map(|p| p.name)
            .chain(d.params.iter().map(|p| p.name))
            .collect();
        let hint = patchbay_core::registry::closest(port, names.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(err(format!(
            "node `{}` ({}) has no port or parameter `{port}`{hint}; it has {}",
            n.id(),
            d.kind,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    Ok(NodeRef {
        port: Some(Arc::from(port)),
        ..node.clone()
    })
}

fn register_handles(engine: &mut Engine, shared: &Arc<Shared>, registry: &Registry) {
    let s = shared.clone();
    engine.register_fn(
        "name",
        move |node: NodeRef, name: ImmutableString| -> Res<NodeRef> {
            s.lock().graph.name(&node, &name).map_err(gerr)?;
            Ok(NodeRef { port: None, ..node })
        },
    );
    let s = shared.clone();
    engine.register_fn(
        "name",
        move |ctx: NativeCallContext, sig: Signal, name: ImmutableString| -> Res<NodeRef> {
            let mut st = s.lock();
            let at = origin(&st, &ctx);
            let node = st.graph.materialize(&sig, &at).map_err(gerr)?;
            st.graph.name(&node, &name).map_err(gerr)?;
            Ok(node)
        },
    );
    for method in ["port", "out", "input"] {
        let s = shared.clone();
        engine.register_fn(method, move |node: NodeRef, port: ImmutableString| {
            port_handle(&s, &node, &port)
        });
    }
    let s = shared.clone();
    engine.register_get("id", move |node: &mut NodeRef| -> Res<String> {
        Ok(s.lock().graph.node(node).map_err(gerr)?.id())
    });
    let s = shared.clone();
    engine.register_get("kind", move |node: &mut NodeRef| -> Res<String> {
        Ok(s.lock().graph.node(node).map_err(gerr)?.desc.kind.to_string())
    });
    for name in ["to_string", "to_debug"] {
        let s = shared.clone();
        engine.register_fn(name, move |node: &mut NodeRef| -> String {
            let st = s.lock();
            match st.graph.node(node) {
                Ok(n) => match &node.port {
                    Some(p) => format!("{}.{p}", n.id()),
                    None => n.id(),
                },
                Err(_) => "(stale node)".to_string(),
            }
        });
        let s = shared.clone();
        engine.register_fn(name, move |sig: &mut Signal| -> String {
            let st = s.lock();
            let mut parts: Vec<String> = sig
                .terms
                .iter()
                .map(|(n, w)| {
                    let id = st.graph.node(n).map(|n| n.id()).unwrap_or_else(|_| "?".into());
                    if *w == 1.0 { id } else { format!("{w}*{id}") }
                })
                .collect();
            if sig.offset != 0.0 || parts.is_empty() {
                parts.push(sig.offset.to_string());
            }
            parts.join(" + ")
        });
    }
    // `node.cutoff`, `svf.lp`, `osc.fm`: a handle on that port or
    // parameter; `node.cutoff = 400` sets it. Generated from every name
    // any kind declares.
    let mut names = std::collections::BTreeSet::new();
    let mut params = std::collections::BTreeSet::new();
    for d in registry.kinds() {
        names.extend(d.inputs.iter().chain(d.outputs).map(|p| p.name));
        names.extend(d.params.iter().map(|p| p.name));
        params.extend(d.params.iter().map(|p| p.name));
    }
    for name in names {
        if HANDLE_PROPERTIES.contains(&name) || RHAI_RESERVED.contains(&name) {
            continue;
        }
        let s = shared.clone();
        engine.register_get(name, move |node: &mut NodeRef| port_handle(&s, node, name));
        if params.contains(name) {
            let s = shared.clone();
            engine.register_raw_fn(
                format!("set${name}"),
                [TypeId::of::<NodeRef>(), TypeId::of::<Dynamic>()],
                move |ctx: NativeCallContext, args: &mut [&mut Dynamic]| -> Res<()> {
                    let node = args[0].clone().cast::<NodeRef>();
                    let target = port_handle(&s, &node, name)?;
                    set_target(&s, &ctx, &Dynamic::from(target), args[1])
                },
            );
        }
    }
}

/// `a >> b`: connect every source on the left into every destination on
/// the right; the value is the right side, so chains read left to right.
fn connect_values(shared: &Shared, ctx: &NativeCallContext, left: &Dynamic, right: &Dynamic) -> Res<Dynamic> {
    let sources: Vec<Signal> = match left.read_lock::<Array>() {
        Some(items) => items
            .iter()
            .map(|v| signal(&v.flatten_clone()))
            .collect::<Option<_>>()
            .ok_or_else(|| err("`>>` from an array needs an array of nodes or signals"))?,
        None => vec![signal(left).ok_or_else(|| err("`>>` needs a node or signal on its left"))?],
    };
    let dests: Vec<NodeRef> = match right.read_lock::<Array>() {
        Some(items) => items
            .iter()
            .map(|v| v.flatten_clone().try_cast::<NodeRef>())
            .collect::<Option<_>>()
            .ok_or_else(|| err("`>>` into an array needs an array of nodes"))?,
        None => vec![
            right
                .read_lock::<NodeRef>()
                .map(|n| n.clone())
                .ok_or_else(|| err("`>>` needs a node on its right"))?,
        ],
    };
    let mut st = shared.lock();
    let at = origin(&st, ctx);
    for dest in &dests {
        for source in &sources {
            st.graph.connect(source, dest, &at).map_err(gerr)?;
        }
    }
    Ok(right.clone())
}

/// Anything arithmetic accepts: nodes, signals and numbers.
trait AsSignal {
    fn sig(self) -> Signal;
}
impl AsSignal for NodeRef {
    fn sig(self) -> Signal {
        Signal::of(self)
    }
}
impl AsSignal for Signal {
    fn sig(self) -> Signal {
        self
    }
}
impl AsSignal for INT {
    fn sig(self) -> Signal {
        Signal::constant(self as f64)
    }
}
impl AsSignal for FLOAT {
    fn sig(self) -> Signal {
        Signal::constant(self)
    }
}

fn tidy(mut s: Signal) -> Signal {
    s.terms.retain(|(_, w)| *w != 0.0);
    s
}

fn register_operators(engine: &mut Engine, shared: &Arc<Shared>) {
    let handles = [
        TypeId::of::<NodeRef>(),
        TypeId::of::<Signal>(),
        TypeId::of::<Array>(),
    ];
    for left in handles {
        for right in [TypeId::of::<NodeRef>(), TypeId::of::<Array>()] {
            let s = shared.clone();
            engine.register_raw_fn(
                ">>",
                [left, right],
                move |ctx: NativeCallContext, args: &mut [&mut Dynamic]| {
                    connect_values(&s, &ctx, args[0], args[1])
                },
            );
        }
    }
    let s = shared.clone();
    engine.register_raw_fn(
        "connect",
        [TypeId::of::<Dynamic>(), TypeId::of::<Dynamic>()],
        move |ctx: NativeCallContext, args: &mut [&mut Dynamic]| connect_values(&s, &ctx, args[0], args[1]),
    );

    macro_rules! sum_ops {
        ($($l:ty, $r:ty);* $(;)?) => {$(
            engine.register_fn("+", |a: $l, b: $r| tidy(a.sig().plus(b.sig())));
            engine.register_fn("-", |a: $l, b: $r| tidy(a.sig().plus(b.sig().times(-1.0))));
        )*};
    }
    sum_ops!(
        NodeRef, NodeRef; NodeRef, Signal; Signal, NodeRef; Signal, Signal;
        NodeRef, INT; NodeRef, FLOAT; Signal, INT; Signal, FLOAT;
        INT, NodeRef; FLOAT, NodeRef; INT, Signal; FLOAT, Signal;
    );
    macro_rules! scale_ops {
        ($($l:ty, $r:ty);* $(;)?) => {$(
            engine.register_fn("*", |a: $l, k: $r| a.sig().times(k as f64));
            engine.register_fn("*", |k: $r, a: $l| a.sig().times(k as f64));
            engine.register_fn("/", |a: $l, k: $r| -> Res<Signal> {
                if k as f64 == 0.0 {
                    return Err(err("division of a signal by zero"));
                }
                Ok(a.sig().times(1.0 / k as f64))
            });
        )*};
    }
    scale_ops!(NodeRef, INT; NodeRef, FLOAT; Signal, INT; Signal, FLOAT);
    engine.register_fn("-", |a: NodeRef| a.sig().times(-1.0));
    engine.register_fn("-", |a: Signal| a.sig().times(-1.0));
    macro_rules! product_ops {
        ($($l:ty, $r:ty);* $(;)?) => {$({
            let s = shared.clone();
            engine.register_fn("*", move |ctx: NativeCallContext, a: $l, b: $r| -> Res<Dynamic> {
                let (a, b) = (tidy(a.sig()), tidy(b.sig()));
                // A signal whose terms cancelled out is just a number.
                if a.terms.is_empty() {
                    return Ok(Dynamic::from(b.times(a.offset)));
                }
                if b.terms.is_empty() {
                    return Ok(Dynamic::from(a.times(b.offset)));
                }
                let mut st = s.lock();
                let at = origin(&st, &ctx);
                st.graph.multiply(&a, &b, &at).map(Dynamic::from).map_err(gerr)
            });
        })*};
    }
    product_ops!(NodeRef, NodeRef; NodeRef, Signal; Signal, NodeRef; Signal, Signal);
}

/// The node and parameter a control function names: `"bass.cutoff"` or a
/// handle on a parameter (`bass.cutoff`).
fn target(st: &State, v: &Dynamic, function: &str) -> Res<(NodeRef, String)> {
    let v = v.flatten_clone();
    let (node, param) = if let Some(r) = v.read_lock::<NodeRef>() {
        let Some(param) = &r.port else {
            let id = st.graph.node(&r).map(|n| n.id()).unwrap_or_default();
            return Err(err(format!(
                "`{function}` needs a parameter: write `{id}.param` or \"{id}.param\""
            )));
        };
        (r.clone(), param.to_string())
    } else if let Ok(text) = v.clone().into_immutable_string() {
        let Some((id, param)) = text.split_once('.') else {
            return Err(err(format!(
                "`{function}` needs \"node.param\", e.g. \"bass.cutoff\"; got \"{text}\""
            )));
        };
        let Some(index) = st.graph.find(id) else {
            return Err(err(format!("there is no node `{id}` in the patch")));
        };
        (st.graph.handle(index), param.to_string())
    } else {
        return Err(err(format!(
            "`{function}` needs a parameter (\"node.param\" or node.param), not {}",
            type_name(&v)
        )));
    };
    let n = st.graph.node(&node).map_err(gerr)?;
    if n.desc.param(&param).is_none() {
        // Reuse the graph's message with its list and suggestion.
        st.graph.param(&node, &param).map_err(gerr)?;
    }
    Ok((node, param))
}

/// The id of the `record` node a recorder function names: a handle or an id.
fn recorder(st: &State, v: &Dynamic, function: &str) -> Res<String> {
    let v = v.flatten_clone();
    let node = if let Some(r) = v.read_lock::<NodeRef>() {
        st.graph.node(&r).map_err(gerr)?
    } else if let Ok(id) = v.clone().into_immutable_string() {
        let index = st
            .graph
            .find(&id)
            .ok_or_else(|| err(format!("there is no node `{id}` in the patch")))?;
        st.graph.node(&st.graph.handle(index)).map_err(gerr)?
    } else {
        return Err(err(format!(
            "`{function}` takes a recorder or its name, not {}",
            type_name(&v)
        )));
    };
    if node.desc.kind != "record" {
        return Err(err(format!(
            "`{function}` needs a `record` node; `{}` is a `{}`",
            node.id(),
            node.desc.kind
        )));
    }
    Ok(node.id())
}

/// `set`: the graph's value now; in a callback also an engine command.
fn set_target(shared: &Shared, _ctx: &NativeCallContext, target_v: &Dynamic, value: &Dynamic) -> Res<()> {
    let mut st = shared.lock();
    let (node, param) = target(&st, target_v, "set")?;
    let value = value.flatten_clone();
    let x = match number(&value) {
        Some(x) => x,
        None => match value.clone().into_immutable_string() {
            Ok(text) => st.graph.choice_value(&node, &param, &text).map_err(gerr)?,
            Err(_) => {
                return Err(err(format!(
                    "`set` takes a number or a choice name, not {}; connect signals with `>>`",
                    type_name(&value)
                )));
            }
        },
    };
    st.graph.set_param(&node, &param, x).map_err(gerr)?;
    let id = st.graph.node(&node).map_err(gerr)?.id();
    st.ramps.retain(|r| !(r.node == id && r.param == param));
    if st.live {
        let at = st.now;
        st.sets.push((id, param, x, at));
    }
    Ok(())
}

fn callback_arg(v: &Dynamic) -> Res<FnPtr> {
    v.flatten_clone()
        .try_cast::<FnPtr>()
        .ok_or_else(|| err("expected a function: a closure `|| ...` or `Fn(\"name\")`"))
}

fn schedule(shared: &Shared, ctx: &NativeCallContext, due: f64, repeat: Repeat, callback: FnPtr) -> INT {
    let mut st = shared.lock();
    let at = origin(&st, ctx);
    let id = st.next_timer;
    st.next_timer += 1;
    st.timers.push(Timer {
        id,
        due,
        repeat,
        count: 0,
        callback,
        origin: at,
    });
    id
}

/// Shortest timer period: a callback every millisecond is already more
/// than the control thread is for.
const MIN_PERIOD_S: f64 = 0.001;

fn register_control(engine: &mut Engine, shared: &Arc<Shared>) {
    let dynamic = TypeId::of::<Dynamic>();
    let fnptr = TypeId::of::<FnPtr>();

    let s = shared.clone();
    engine.register_fn("find", move |id: ImmutableString| -> Res<NodeRef> {
        let st = s.lock();
        match st.graph.find(&id) {
            Some(i) => Ok(st.graph.handle(i)),
            None => Err(err(format!("there is no node `{id}` in the patch"))),
        }
    });
    let s = shared.clone();
    engine.register_raw_fn("set", [dynamic, dynamic], move |ctx, args| {
        set_target(&s, &ctx, args[0], args[1])
    });
    // A recorder's transport, as `set("rec.state", "record")` would set it.
    for (function, state) in [
        ("arm", "arm"),
        ("start_recording", "record"),
        ("stop_recording", "stop"),
    ] {
        let s = shared.clone();
        engine.register_raw_fn(function, [dynamic], move |ctx, args| -> Res<()> {
            let id = recorder(&s.lock(), args[0], function)?;
            set_target(
                &s,
                &ctx,
                &Dynamic::from(format!("{id}.state")),
                &Dynamic::from(state),
            )
        });
    }
    let s = shared.clone();
    engine.register_raw_fn("get", [dynamic], move |_ctx, args| -> Res<FLOAT> {
        let st = s.lock();
        let (node, param) = target(&st, args[0], "get")?;
        st.graph.param(&node, &param).map_err(gerr)
    });
    let s = shared.clone();
    engine.register_raw_fn(
        "ramp",
        [dynamic, dynamic, dynamic],
        move |_ctx, args| -> Res<()> {
            let to = number_arg(args[1], "ramp", "the target value")?;
            let seconds = number_arg(args[2], "ramp", "the time in seconds")?;
            if !(seconds.is_finite() && seconds >= 0.0) {
                return Err(err(format!("`ramp` time must be 0 s or more, not {seconds}")));
            }
            let mut st = s.lock();
            let (node, param) = target(&st, args[0], "ramp")?;
            // Check the end value now, where the script can be told.
            let from = st.graph.param(&node, &param).map_err(gerr)?;
            st.graph.set_param(&node, &param, to).map_err(gerr)?;
            st.graph.set_param(&node, &param, from).map_err(gerr)?;
            let id = st.graph.node(&node).map_err(gerr)?.id();
            st.ramps.retain(|r| !(r.node == id && r.param == param));
            let now = st.now;
            st.ramps.push(Ramp {
                node: id,
                param,
                from,
                to,
                start: now,
                end: now + seconds,
                last_sent: f64::NEG_INFINITY,
            });
            Ok(())
        },
    );

    let s = shared.clone();
    engine.register_raw_fn("every", [dynamic, fnptr], move |ctx, args| -> Res<INT> {
        let period = number_arg(args[0], "every", "the period in seconds")?;
        if !(period.is_finite() && period >= MIN_PERIOD_S) {
            return Err(err(format!(
                "`every` needs a period of at least {MIN_PERIOD_S} s, not {period}"
            )));
        }
        let callback = callback_arg(args[1])?;
        let now = s.lock().now;
        let due = ((now / period).floor() + 1.0) * period;
        Ok(schedule(&s, &ctx, due, Repeat::Every(period), callback))
    });
    let s = shared.clone();
    engine.register_raw_fn("after", [dynamic, fnptr], move |ctx, args| -> Res<INT> {
        let delay = number_arg(args[0], "after", "the delay in seconds")?;
        if !(delay.is_finite() && delay >= 0.0) {
            return Err(err(format!("`after` needs a delay of 0 s or more, not {delay}")));
        }
        let callback = callback_arg(args[1])?;
        let now = s.lock().now;
        Ok(schedule(&s, &ctx, now + delay, Repeat::Once, callback))
    });
    for arity in [1, 2] {
        let s = shared.clone();
        let types: Vec<TypeId> = if arity == 1 {
            vec![fnptr]
        } else {
            vec![dynamic, fnptr]
        };
        engine.register_raw_fn("on_beat", types, move |ctx, args| -> Res<INT> {
            let every = if args.len() == 2 {
                let n = number_arg(args[0], "on_beat", "the number of beats")?;
                if !(n >= 1.0 && n.fract() == 0.0 && n <= 1e6) {
                    return Err(err(format!(
                        "`on_beat` needs a whole number of beats (1 or more), not {n}"
                    )));
                }
                n as i64
            } else {
                1
            };
            let callback = callback_arg(args[args.len() - 1])?;
            let (clock, now) = {
                let st = s.lock();
                (st.clock, st.now)
            };
            // The next beat divisible by `every`, this instant included.
            let beat = clock.beat_at(now) - 1e-9;
            let next = ((beat / every as f64).ceil() as i64) * every;
            Ok(schedule(
                &s,
                &ctx,
                clock.time_of(next as f64),
                Repeat::Beats { every, next },
                callback,
            ))
        });
    }
    let s = shared.clone();
    engine.register_fn("cancel", move |id: INT| -> bool {
        let mut st = s.lock();
        let before = st.timers.len();
        st.timers.retain(|t| t.id != id);
        st.timers.len() != before
    });
    let s = shared.clone();
    engine.register_raw_fn("bpm", [dynamic], move |_ctx, args| -> Res<()> {
        let bpm = number_arg(args[0], "bpm", "the tempo")?;
        if !(1.0..=999.0).contains(&bpm) {
            return Err(err(format!("`bpm` must be between 1 and 999, not {bpm}")));
        }
        let mut st = s.lock();
        let now = st.now;
        st.clock.set_bpm(bpm, now);
        // Beat timers follow the new grid.
        let clock = st.clock;
        for t in &mut st.timers {
            if let Repeat::Beats { next, .. } = t.repeat {
                t.due = clock.time_of(next as f64);
            }
        }
        Ok(())
    });
    let s = shared.clone();
    engine.register_fn("bpm", move || -> FLOAT { s.lock().clock.bpm });
    let s = shared.clone();
    engine.register_fn("now", move || -> FLOAT { s.lock().now });
    let s = shared.clone();
    engine.register_fn("beat", move || -> FLOAT {
        let st = s.lock();
        st.clock.beat_at(st.now)
    });
    let s = shared.clone();
    engine.register_raw_fn("beats", [dynamic], move |_ctx, args| -> Res<FLOAT> {
        let n = number_arg(args[0], "beats", "a number of beats")?;
        Ok(n * 60.0 / s.lock().clock.bpm)
    });

    for (name, all) in [("level", false), ("readings", true)] {
        let s = shared.clone();
        engine.register_raw_fn(name, [dynamic], move |_ctx, args| -> Res<Dynamic> {
            let st = s.lock();
            let v = args[0].flatten_clone();
            let node = if let Some(r) = v.read_lock::<NodeRef>() {
                st.graph.node(&r).map_err(gerr)?
            } else if let Ok(text) = v.clone().into_immutable_string() {
                let Some(index) = st.graph.find(&text) else {
                    return Err(err(format!("there is no node `{text}` in the patch")));
                };
                st.graph.node(&st.graph.handle(index)).map_err(gerr)?
            } else {
                return Err(err(format!(
                    "`{name}` needs a node or its id, not {}",
                    type_name(&v)
                )));
            };
            let (id, kind) = (node.id(), node.desc.kind);
            if !all && kind != "meter" {
                return Err(err(format!(
                    "`level` reads a meter, and `{id}` is a `{kind}`; `readings(\"{id}\")` gives any analysis node's raw values"
                )));
            }
            // While the script's top level runs nothing is playing yet:
            // every reading is zero.
            if st.live && !st.taps.contains_key(&id) {
                return Err(err(format!(
                    "node `{id}` publishes no readings; `{name}` reads analysis nodes such as a meter"
                )));
            }
            let values = st.taps.get(&id).map(|t| t.snapshot()).unwrap_or_default();
            Ok(if all {
                Dynamic::from_array(values.iter().map(|&x| Dynamic::from_float(x as FLOAT)).collect())
            } else {
                Dynamic::from_float(meter_level(&values) as FLOAT)
            })
        });
    }

    let s = shared.clone();
    engine.register_raw_fn("disconnect", [dynamic, dynamic], move |_ctx, args| -> Res<INT> {
        let (Some(a), Some(b)) = (
            args[0].flatten_clone().try_cast::<NodeRef>(),
            args[1].flatten_clone().try_cast::<NodeRef>(),
        ) else {
            return Err(err(
                "`disconnect` takes two nodes (or ports): disconnect(from, to)",
            ));
        };
        s.lock().graph.disconnect(&a, &b).map(|n| n as INT).map_err(gerr)
    });
    let s = shared.clone();
    engine.register_fn("remove", move |node: NodeRef| -> Res<()> {
        s.lock().graph.remove(&node).map_err(gerr)
    });

    for arity in [1, 2] {
        let s = shared.clone();
        let types = vec![TypeId::of::<ImmutableString>(); arity];
        engine.register_raw_fn("patch_file", types, move |ctx, args| -> Res<Map> {
            let path = args[0].clone().into_immutable_string().unwrap_or_default();
            let prefix = match args.get(1) {
                Some(p) => (**p).clone().into_immutable_string().unwrap_or_default(),
                None => ImmutableString::new(),
            };
            sandbox::load_patch_file(&s, &ctx, &path, &prefix)
        });
    }

    let s = shared.clone();
    engine.register_fn("rand", move || -> FLOAT { s.lock().random() });
    let s = shared.clone();
    engine.register_raw_fn("rand", [dynamic, dynamic], move |_ctx, args| -> Res<FLOAT> {
        let lo = number_arg(args[0], "rand", "the low end")?;
        let hi = number_arg(args[1], "rand", "the high end")?;
        Ok(lo + (hi - lo) * s.lock().random())
    });
    let s = shared.clone();
    engine.register_fn("rand_int", move |lo: INT, hi: INT| -> Res<INT> {
        if hi < lo {
            return Err(err(format!(
                "`rand_int({lo}, {hi})`: the high end is below the low end"
            )));
        }
        let span = (hi - lo) as f64 + 1.0;
        Ok(lo + ((s.lock().random() * span) as INT).min(hi - lo))
    });
    let s = shared.clone();
    engine.register_fn("seed", move |seed: INT| {
        // Zero would stick xorshift at zero.
        s.lock().rng = (seed as u64) ^ 0x9E37_79B9_7F4A_7C15 | 1;
    });
    let s = shared.clone();
    engine.register_fn("choose", move |items: Array| -> Res<Dynamic> {
        if items.is_empty() {
            return Err(err("`choose` needs a non-empty array"));
        }
        let i = ((s.lock().random() * items.len() as f64) as usize).min(items.len() - 1);
        Ok(items[i].clone())
    });
    engine.register_raw_fn("mtof", [dynamic], |_ctx, args| -> Res<FLOAT> {
        let note = number_arg(args[0], "mtof", "a MIDI note number")?;
        Ok(440.0 * 2f64.powf((note - 69.0) / 12.0))
    });
    engine.register_raw_fn("db", [dynamic], |_ctx, args| -> Res<FLOAT> {
        let db = number_arg(args[0], "db", "a level in dB")?;
        Ok(10f64.powf(db / 20.0))
    });
}

/// What `level` reads from a meter's readings: the loudest channel's RMS
/// (linear, 1.0 = 0 dBFS). The meter publishes 3·C values for C channels:
/// C sample peaks, then C RMS levels, then C held peaks; before it plays,
/// nothing (0).
fn meter_level(readings: &[f32]) -> f32 {
    let channels = readings.len() / 3;
    readings[channels..2 * channels]
        .iter()
        .fold(0.0, |loudest, &rms| loudest.max(rms))
}
