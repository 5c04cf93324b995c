//! Rhai scripting for patchbay: scripts that build patches, automate a
//! running engine, and reload live when saved.
//!
//! Not here: the patch model, compiler or runtime (`patchbay-core`), any
//! DSP (`patchbay-nodes`), devices (`patchbay-io`). Scripts never touch the
//! audio thread: [`ScriptHost`] runs on the control thread and talks to a
//! [`patchbay_core::LiveEngine`] only through `set_param` and `apply`.
//!
//! # The script API
//!
//! Every node kind in the registry is a function of the same name,
//! generated from its descriptor (no per-node glue): `saw(110)` takes
//! parameters by position in declaration order, `lowpass(#{cutoff: 800,
//! q: 2})` by name, and both mix (`saw(110, #{amp: 0.3})`). A choice
//! parameter also takes its name (`#{mode: "hp"}`). A node or signal given
//! for a parameter drives it: `lowpass(#{cutoff: sine(0.2) * 400 + 800})`.
//! A kind whose name is a Rhai keyword or one of the API's own functions is
//! reached as `node("kind", ...)`, which works for every kind.
//!
//! Node handles connect and combine:
//! - `a >> b` connects `a`'s first output to `b`'s first input and is `b`,
//!   so chains read `saw(110) >> lowpass(800) >> out()`; either side may be
//!   an array (`[a, b] >> mixer`, `bus >> [rev, out()]`);
//! - `a + b` mixes (the terms fan in to what the sum is connected to);
//!   `a * 0.5` scales (a `gain` node; a `scale` node for factors `gain`
//!   cannot reach, a `multiply` with a constant beyond `scale`'s range);
//!   `a + 800` adds a `constant` node, and `a * 400 + 800` is one `scale`
//!   node; `a * b` of two signals multiplies them in a `multiply` node;
//! - `node.cutoff`, `svf.lp`, `node.port("lp")` name a port or parameter;
//!   `node.cutoff = 400` sets one;
//! - `.name("bass")` names a node; `out()` is the output (one per script).
//!
//! Control, in the script or in callbacks: `set("bass.cutoff", 400)`,
//! `ramp("bass.cutoff", 2000, 4.0)`, `every(0.5, || ...)`, `after(2.0, ||
//! ...)`, `on_beat(|beat| ...)` / `on_beat(4, |beat| ...)` at `bpm(x)`,
//! `cancel(id)`, `level("meter")` (its loudest channel's RMS),
//! `readings(node)`, `arm(rec)`, `start_recording(rec)`,
//! `stop_recording(rec)`, `connect(a, b)`, `disconnect(a, b)`,
//! `remove(node)`, `find("id")`, `rand()`, `seed(n)`, `choose([...])`,
//! `mtof(note)`, `db(x)`, `now()`, `beat()`, `beats(n)`. Callbacks run on
//! the control thread, ticked a little ahead of the audio; a parameter they
//! set becomes a command timed to the callback's own sample, a structural
//! change one live patch change per tick.
//!
//! # Identity across reloads
//!
//! A node's id is what lets the engine keep its state (oscillator phase,
//! filter memory, delay lines) when the script is edited and reloaded:
//! - a named node's id is its name: `saw(55).name("bass")` is `bass`;
//! - an unnamed node's id is `kind_N`, where N counts the nodes of that kind
//!   the script created up to and including it, named or not: the third
//!   `saw(...)` call is `saw_3` whatever its parameters;
//! - helper nodes that signal arithmetic creates are counted separately,
//!   `_gain_1`, `_scale_1`, `_constant_1`, `_multiply_1`, so adding modulation never
//!   renumbers the script's own nodes;
//! - the output is `out`.
//!
//! So a node keeps its id, and its state, if it keeps its name, or if it is
//! unnamed and keeps its kind and its place among the nodes of that kind.
//! Editing a parameter never changes an id; inserting a new `saw` before
//! others renumbers the later saws (name them to pin them).
//!
//! # Sandbox and limits
//!
//! Scripts reach files only through `import "module"` (Rhai modules) and
//! `patch_file("x.json")`, by a relative path inside the script's folder;
//! anything else is refused. `eval` is disabled. Time, operations, call
//! depth, expression depth and the sizes of strings, arrays and maps are
//! limited ([`Limits`]): an endless loop ends with an error within the
//! time budget and the engine plays on.

pub mod api;
pub mod error;
pub mod graph;
pub mod host;
pub mod offline;
pub mod sandbox;
pub mod state;
pub mod watch;

pub use error::{ErrorKind, Location, ScriptError};
pub use host::{Event, Limits, ScriptHost, ScriptSource, patch_from_file};
pub use offline::{OfflineSession, RenderScriptError, render_script_to_wav};
pub use watch::{ScriptWatcher, WatchError};

/// True when `path` names a script (by its `.rhai` extension) rather than a
/// patch file.
pub fn is_script(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("rhai"))
}
