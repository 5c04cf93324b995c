//! Node descriptors: the single description of every node kind. Validation,
//! the compiler, the CLI's `nodes` listing, the generated node reference (and
//! later the script API and the editor palette) all read from here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::processor::{NodeContext, Processor};

/// What a port carries. Both are audio-rate sample buffers; the kind tells
/// front ends how to draw the port and users what it is for. Any output may
/// feed any input: a control signal is also audio, and audio may modulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A sound signal.
    Audio,
    /// A modulation, gate, trigger or pitch signal.
    Control,
}

/// How many channels a port has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    /// Always this many.
    Fixed(u8),
    /// As many as the widest signal arriving at the node's "follows" inputs
    /// (1 when none is connected); the node processes each channel.
    Follows,
}

/// One input or output of a node kind.
#[derive(Clone, Copy, Debug)]
pub struct PortSpec {
    /// Name used in `"node.port"` references.
    pub name: &'static str,
    /// Audio or control.
    pub kind: PortKind,
    /// Channel count.
    pub channels: Channels,
    /// One line for the node reference.
    pub doc: &'static str,
}

impl PortSpec {
    /// A mono audio port.
    pub const fn audio(name: &'static str, doc: &'static str) -> Self {
        PortSpec {
            name,
            kind: PortKind::Audio,
            channels: Channels::Fixed(1),
            doc,
        }
    }
    /// A mono control port.
    pub const fn control(name: &'static str, doc: &'static str) -> Self {
        PortSpec {
            name,
            kind: PortKind::Control,
            channels: Channels::Fixed(1),
            doc,
        }
    }
    /// Builder: channel count follows the node's input.
    pub const fn follows(mut self) -> Self {
        self.channels = Channels::Follows;
        self
    }
    /// Builder: a fixed channel count.
    pub const fn channels(mut self, n: u8) -> Self {
        self.channels = Channels::Fixed(n);
        self
    }
}

/// The unit a parameter is shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Plain number.
    None,
    /// Frequency in hertz.
    Hz,
    /// Time in seconds.
    Seconds,
    /// Level in decibels.
    Db,
    /// Linear gain factor.
    Gain,
    /// A 0..1 proportion shown as percent.
    Percent,
    /// Beats per minute.
    Bpm,
    /// MIDI note number or semitones.
    Semitones,
    /// One of a list of named choices (the value is the index).
    Choice,
}

impl Unit {
    /// Short suffix for display.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::None | Unit::Choice => "",
            Unit::Hz => "Hz",
            Unit::Seconds => "s",
            Unit::Db => "dB",
            Unit::Gain => "×",
            Unit::Percent => "%",
            Unit::Bpm => "BPM",
            Unit::Semitones => "st",
        }
    }
}

/// How a knob maps its travel to the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced ratios (frequencies, times); needs a positive range.
    Log,
}

/// One parameter of a node kind.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// Name used in patch files, scripts and parameter commands.
    pub name: &'static str,
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
    /// Value when the patch does not give one.
    pub default: f64,
    /// Display unit.
    pub unit: Unit,
    /// Knob mapping.
    pub curve: Curve,
    /// Changes glide to their new value over this many seconds (0: jump).
    pub smoothing_s: f64,
    /// Names of the values 0, 1, 2... for [`Unit::Choice`] parameters.
    pub choices: &'static [&'static str],
    /// One line for the node reference.
    pub doc: &'static str,
}

/// Default glide for parameters that would click if they jumped.
pub const DEFAULT_SMOOTHING_S: f64 = 0.02;

impl ParamSpec {
    /// A linear parameter with default smoothing.
    pub const fn new(name: &'static str, min: f64, max: f64, default: f64) -> Self {
        ParamSpec {
            name,
            min,
            max,
            default,
            unit: Unit::None,
            curve: Curve::Linear,
            smoothing_s: DEFAULT_SMOOTHING_S,
            choices: &[],
            doc: "",
        }
    }
    /// A parameter choosing one of `choices`; it jumps, never glides.
    pub const fn choice(name: &'static str, choices: &'static [&'static str], default: usize) -> Self {
        ParamSpec {
            name,
            min: 0.0,
            max: (choices.len() - 1) as f64,
            default: default as f64,
            unit: Unit::Choice,
            curve: Curve::Linear,
            smoothing_s: 0.0,
            choices,
            doc: "",
        }
    }
    /// Builder: unit.
    pub const fn unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }
    /// Builder: logarithmic knob.
    pub const fn log(mut self) -> Self {
        self.curve = Curve::Log;
        self
    }
    /// Builder: glide time in seconds (0 for none).
    pub const fn smoothing(mut self, seconds: f64) -> Self {
        self.smoothing_s = seconds;
        self
    }
    /// Builder: documentation line.
    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }
    /// True when `value` is a legal setting.
    pub fn accepts(&self, value: f64) -> bool {
        value.is_finite()
            && value >= self.min
            && value <= self.max
            && (self.unit != Unit::Choice || value.fract() == 0.0)
    }
}

/// What a setting holds. Settings are the text a node needs besides its
/// numbers (a recorder's folder, a file player's file); they are fixed while
/// the node runs: changing one rebuilds the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingKind {
    /// One line of free text.
    Text,
    /// A name that becomes part of a file name: letters, digits, `_`, `-`,
    /// `.` and spaces, no folder separators.
    Name,
    /// A file. A relative path is relative to the folder of the patch file
    /// (or script) that names it.
    File,
    /// A folder, relative like [`SettingKind::File`].
    Folder,
}

impl SettingKind {
    /// How the reference and error messages call it.
    pub fn describe(self) -> &'static str {
        match self {
            SettingKind::Text => "text",
            SettingKind::Name => "name",
            SettingKind::File => "file",
            SettingKind::Folder => "folder",
        }
    }
}

/// One non-numeric setting of a node kind.
#[derive(Clone, Copy, Debug)]
pub struct SettingSpec {
    /// Name used in patch files (`"settings": {"folder": "takes"}`) and scripts.
    pub name: &'static str,
    /// What it holds.
    pub kind: SettingKind,
    /// Value when the patch does not give one.
    pub default: &'static str,
    /// One line for the node reference.
    pub doc: &'static str,
}

/// The longest setting value accepted.
pub const MAX_SETTING_LEN: usize = 4096;

impl SettingSpec {
    /// A setting of `kind` with a default.
    pub const fn new(name: &'static str, kind: SettingKind, default: &'static str) -> Self {
        SettingSpec {
            name,
            kind,
            default,
            doc: "",
        }
    }
    /// Builder: documentation line.
    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }
    /// `Ok` when `value` is a legal setting, else why not.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if value.len() > MAX_SETTING_LEN {
            return Err(format!("longer than {MAX_SETTING_LEN} bytes"));
        }
        if value.chars().any(char::is_control) {
            return Err("contains a control character (a line break or tab)".into());
        }
        match self.kind {
            SettingKind::Text => Ok(()),
            SettingKind::Name => {
                let legal = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ');
                if value.trim().is_empty() || value == "." || value == ".." {
                    Err("a name must not be empty".into())
                } else if !value.chars().all(legal) {
                    Err("a name may hold letters, digits, `_`, `-`, `.` and spaces only".into())
                } else {
                    Ok(())
                }
            }
            SettingKind::File | SettingKind::Folder if value.is_empty() => {
                Err(format!("the {} must not be empty", self.kind.describe()))
            }
            SettingKind::File | SettingKind::Folder => Ok(()),
        }
    }
}

/// Everything patchbay knows about one node kind.
#[derive(Debug)]
pub struct NodeDescriptor {
    /// Kind name used in patch files.
    pub kind: &'static str,
    /// Palette group: "sources", "filters", "mixing", ...
    pub category: &'static str,
    /// One sentence on what it does.
    pub summary: &'static str,
    /// Input ports, in order.
    pub inputs: &'static [PortSpec],
    /// Output ports, in order.
    pub outputs: &'static [PortSpec],
    /// Parameters, in order; the index is what [`Processor::set_param`] gets.
    pub params: &'static [ParamSpec],
    /// Non-numeric settings (folders, files, names), in order; the index is
    /// that of [`NodeContext::settings`].
    pub settings: &'static [SettingSpec],
    /// A parameter whose whole value is the width of the node's "follows
    /// input" ports when no wider signal arrives: how a node with nothing to
    /// follow (a device input, a file player) gets its channel count.
    /// Changing it rebuilds the node.
    pub channels_param: Option<&'static str>,
    /// Output delay in samples relative to the input, which the compiler
    /// compensates on parallel paths.
    pub latency: fn(&NodeContext) -> usize,
    /// True for delay-type nodes whose output at a block depends only on
    /// input from earlier blocks; a cycle through such a node is legal.
    pub breaks_cycles: bool,
    /// Its processor may declare a rest form (`ProcessIo::rest`). Fed only
    /// by nodes that may rest, its outputs can then stay as written for
    /// good, so the compiler gives them buffers no later step reuses.
    pub may_rest: bool,
    /// Build the processor (control thread; may allocate).
    pub build: fn(&NodeContext) -> Box<dyn Processor>,
}

/// For [`NodeDescriptor::latency`] of nodes that add none.
pub fn no_latency(_: &NodeContext) -> usize {
    0
}

impl NodeDescriptor {
    /// The input port called `name`, with its index.
    pub fn input(&self, name: &str) -> Option<(usize, &PortSpec)> {
        self.inputs.iter().enumerate().find(|(_, p)| p.name == name)
    }
    /// The output port called `name`, with its index.
    pub fn output(&self, name: &str) -> Option<(usize, &PortSpec)> {
        self.outputs.iter().enumerate().find(|(_, p)| p.name == name)
    }
    /// The parameter called `name`, with its index.
    pub fn param(&self, name: &str) -> Option<(usize, &ParamSpec)> {
        self.params.iter().enumerate().find(|(_, p)| p.name == name)
    }
    /// The setting called `name`, with its index.
    pub fn setting(&self, name: &str) -> Option<(usize, &SettingSpec)> {
        self.settings.iter().enumerate().find(|(_, s)| s.name == name)
    }
    /// Setting values in declaration order, defaults filled in.
    pub fn resolve_settings(&self, given: &BTreeMap<String, String>) -> Vec<String> {
        self.settings
            .iter()
            .map(|s| given.get(s.name).map_or(s.default, String::as_str).to_string())
            .collect()
    }
    /// Parameter values in declaration order, defaults filled in.
    pub fn resolve_params(&self, given: &BTreeMap<String, f64>) -> Vec<f32> {
        self.params
            .iter()
            .map(|p| given.get(p.name).copied().unwrap_or(p.default) as f32)
            .collect()
    }
}

/// The kind name of the node whose input the device or file hears.
pub const OUTPUT_KIND: &str = "output";

/// A set of node kinds, looked up by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, &'static NodeDescriptor>,
}

impl Registry {
    /// A registry holding only the built-in `output` kind.
    pub fn new() -> Self {
        let mut r = Registry::default();
        r.add(&crate::processor::OUTPUT);
        r
    }

    /// Add (or replace) a kind.
    pub fn add(&mut self, descriptor: &'static NodeDescriptor) -> &mut Self {
        self.kinds.insert(descriptor.kind, descriptor);
        self
    }

    /// The kind called `name`.
    pub fn get(&self, name: &str) -> Option<&'static NodeDescriptor> {
        self.kinds.get(name).copied()
    }

    /// All kinds, sorted by category then name.
    pub fn kinds(&self) -> Vec<&'static NodeDescriptor> {
        let mut all: Vec<_> = self.kinds.values().copied().collect();
        all.sort_by_key(|d| (d.category, d.kind));
        all
    }

    /// The known kind closest to a misspelt `name`, for "did you mean".
    pub fn suggest(&self, name: &str) -> Option<&'static str> {
        closest(name, self.kinds.keys().copied())
    }

    /// A plain-text listing of every kind, its ports and parameters.
    pub fn describe_text(&self) -> String {
        let mut out = String::new();
        let mut category = "";
        for d in self.kinds() {
            if d.category != category {
                category = d.category;
                let _ = writeln!(out, "\n{}", category.to_uppercase());
            }
            let _ = writeln!(out, "  {:<12} {}", d.kind, d.summary);
            for p in d.inputs {
                let _ = writeln!(out, "      in   {:<10} {}", p.name, port_shape(p));
            }
            for p in d.outputs {
                let _ = writeln!(out, "      out  {:<10} {}", p.name, port_shape(p));
            }
            for p in d.params {
                let _ = writeln!(out, "      param {:<9} {}", p.name, param_range(p));
            }
            for s in d.settings {
                let _ = writeln!(
                    out,
                    "      set  {:<10} {}, default {:?}",
                    s.name,
                    s.kind.describe(),
                    s.default
                );
            }
        }
        out
    }

    /// The node reference as Markdown (`docs/nodes.md`).
    pub fn describe_markdown(&self) -> String {
        let mut out = String::from(
            "# Node reference\n\nGenerated by `patchbay nodes --markdown`; do not edit by hand.\n\
             Every parameter can also be driven by a signal: connect an output to `node.param`.\n\
             Settings are text (`\"settings\": {\"folder\": \"takes\"}` in a patch file); relative\n\
             files and folders are relative to the patch file's (or script's) folder.\n",
        );
        let mut category = "";
        for d in self.kinds() {
            if d.category != category {
                category = d.category;
                let _ = writeln!(out, "\n## {category}\n");
            }
            let _ = writeln!(out, "### `{}`\n\n{}\n", d.kind, d.summary);
            if d.breaks_cycles {
                out.push_str("Breaks cycles: it may sit inside a feedback loop.\n\n");
            }
            if !d.inputs.is_empty() || !d.outputs.is_empty() {
                out.push_str("| port | direction | signal | description |\n|---|---|---|---|\n");
                for (dir, ports) in [("in", d.inputs), ("out", d.outputs)] {
                    for p in ports {
                        let _ = writeln!(out, "| `{}` | {dir} | {} | {} |", p.name, port_shape(p), p.doc);
                    }
                }
                out.push('\n');
            }
            if !d.params.is_empty() {
                out.push_str("| parameter | range | default | description |\n|---|---|---|---|\n");
                for p in d.params {
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {} | {} |",
                        p.name,
                        param_range(p),
                        format_value(p, p.default),
                        p.doc
                    );
                }
                out.push('\n');
            }
            if !d.settings.is_empty() {
                out.push_str("| setting | holds | default | description |\n|---|---|---|---|\n");
                for s in d.settings {
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | `{}` | {} |",
                        s.name,
                        s.kind.describe(),
                        s.default,
                        s.doc
                    );
                }
                out.push('\n');
            }
        }
        out
    }
}

fn port_shape(p: &PortSpec) -> String {
    let kind = match p.kind {
        PortKind::Audio => "audio",
        PortKind::Control => "control",
    };
    match p.channels {
        Channels::Fixed(1) => format!("{kind}, mono"),
        Channels::Fixed(2) => format!("{kind}, stereo"),
        Channels::Fixed(n) => format!("{kind}, {n} ch"),
        Channels::Follows => format!("{kind}, follows input"),
    }
}

/// A value with its unit, or its choice name.
pub fn format_value(p: &ParamSpec, v: f64) -> String {
    if p.unit == Unit::Choice {
        return p.choices.get(v as usize).copied().unwrap_or("?").to_string();
    }
    let s = match p.unit {
        Unit::Percent => format!("{}", (v * 1e4).round() / 100.0),
        _ => format!("{v}"),
    };
    match p.unit.suffix() {
        "" => s,
        u => format!("{s} {u}"),
    }
}

fn param_range(p: &ParamSpec) -> String {
    if p.unit == Unit::Choice {
        return p.choices.join(" / ");
    }
    format!("{} … {}", format_value(p, p.min), format_value(p, p.max))
}

/// The candidate with the smallest edit distance to `name`, if close enough.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
