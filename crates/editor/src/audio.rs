//! The editor's live path: the edited patch runs in a [`LiveEngine`] played
//! by an [`io::Player`](patchbay_io::Player), as `patchbay play` does.
//! Parameter moves become gliding `set_param` commands; structural edits
//! go through `LiveEngine::apply` (state kept, changed paths crossfaded).
//! With no sound card the engine runs on the null output and says so: the
//! editor never fails because audio did. File players, samplers and
//! recorders get their disk work from a [`DiskHost`], whose failures (a
//! missing file) are reported against their node. Input nodes hear the
//! sound card's input (or JACK's), opened when the first appears, as in
//! `patchbay play`.
//!
//! The engine has no per-port level readings; hovering an output adds a
//! `meter` node on that output to the playing patch only (a probe: the
//! fan-out shares the buffer, so nothing heard changes), and reads its tap.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use patchbay_core::{
    Applied, CompileOptions, DEFAULT_BLOCK, LiveEngine, Node, Patch, PortRef, Registry, Runtime, Tap,
};
use patchbay_io::disk::DiskError;
use patchbay_io::input::{InputNodes, InputSpec};
use patchbay_io::{
    CpalOutput, DeviceError, DiskHost, DiskReport, Driver, NullOutput, Output, OutputSpec, Player, Running,
    Status,
};

use crate::document::Change;
use crate::telemetry;

/// The id of the meter measuring the output under the pointer; `__` ids
/// are the engine's own and never in a patch file.
const PROBE: &str = "__probe";

/// The rate the engine runs at when there is no device to ask.
const NULL_RATE: u32 = 48_000;

/// Where sound goes when audio is switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// The default sound card, falling back to the null output.
    Device,
    /// The null output only: the engine runs at real-time pace, unheard
    /// (tests, and machines without sound).
    Null,
    /// No output: the engine computes only what [`Audio::render`] asks
    /// for, so a test can hear exactly what an edit did.
    Offline,
}

/// An [`Output`] that runs the engine on the null output.
struct Silent;

struct SilentRunning(#[allow(dead_code)] NullOutput);

impl Running for SilentRunning {}

impl Output for Silent {
    fn describe(&self) -> String {
        "no device (null output)".into()
    }

    fn open(&mut self, rate: u32, driver: &Driver) -> Result<Box<dyn Running>, DeviceError> {
        Ok(Box::new(SilentRunning(NullOutput::start(
            driver.callback(2, rate),
            rate,
        ))))
    }
}

/// What runs the engine.
enum Host {
    Player(Player),
    Offline(Runtime),
}

/// A running engine and what plays it.
struct Session {
    live: LiveEngine,
    host: Host,
    disk: DiskHost,
    /// The device feeding input nodes; `None` off the sound card.
    inputs: Option<InputNodes>,
    /// The output measured for the pointer, and the probe's readings.
    probe: Option<(PortRef, Arc<Tap>)>,
}

/// What the transport bar shows.
#[derive(Clone, Debug, Default)]
pub struct Transport {
    /// Callback time over audio time, recent.
    pub load: f64,
    /// Buffers the device missed, in total.
    pub xruns: u64,
    /// Master peak (linear), held and decaying for display.
    pub peak: f32,
    /// Where the sound goes, or why it does not.
    pub device: String,
}

/// The audio side of the editor: off, or a live engine following the
/// document.
pub struct Audio {
    registry: &'static Registry,
    sink: Sink,
    session: Option<Session>,
    transport: Transport,
    /// The last thing that went wrong, for the status bar.
    pub message: Option<String>,
    /// Disk work that failed, by node, since last taken.
    faults: HashMap<String, String>,
    /// Where relative file names in the patch start from.
    folder: PathBuf,
    /// The device (host, name, buffer size) to play on.
    spec: OutputSpec,
}

/// How much of the displayed peak is kept per frame: a meter fall of about
/// 20 dB per second at 60 frames per second.
const PEAK_FALL_PER_FRAME: f32 = 0.963;

impl Audio {
    /// Audio off, to be played on `sink`.
    pub fn new(registry: &'static Registry, sink: Sink) -> Audio {
        Audio {
            registry,
            sink,
            session: None,
            transport: Transport {
                device: "audio off".into(),
                ..Transport::default()
            },
            message: None,
            faults: HashMap::new(),
            folder: PathBuf::from("."),
            spec: OutputSpec::default(),
        }
    }

    /// The device asked for (host, device, buffer size; `None`: defaults).
    pub fn output(&self) -> &OutputSpec {
        &self.spec
    }

    /// Play on another device or with another buffer size: from now on,
    /// and at once if playing (the engine restarts on `patch`).
    pub fn set_output(&mut self, spec: OutputSpec, patch: &Patch) {
        self.spec = spec;
        if self.is_on() {
            self.start(patch);
        }
    }

    /// Resolve the patch's relative file names (players, recorders) from
    /// `folder` (the patch file's), from the next start on.
    pub fn set_folder(&mut self, folder: PathBuf) {
        self.folder = folder;
    }

    /// True while an engine runs.
    pub fn is_on(&self) -> bool {
        self.session.is_some()
    }

    /// Start playing `patch`. A device that cannot be opened is reported
    /// and the engine runs on the null output instead.
    pub fn start(&mut self, patch: &Patch) {
        self.stop();
        let mut device: Box<dyn Output> = Box::new(Silent);
        let mut rate = NULL_RATE;
        let mut why_silent = None;
        if self.sink == Sink::Device {
            let mut cpal = CpalOutput::new(self.spec.clone());
            match cpal.probe() {
                Ok(r) => {
                    rate = r;
                    device = Box::new(cpal);
                }
                Err(e) => why_silent = Some(e.to_string()),
            }
        }
        let options = CompileOptions {
            sample_rate: rate as f32,
            block: DEFAULT_BLOCK,
        };
        let (live, runtime) = match LiveEngine::start(patch.clone(), self.registry, options) {
            Ok(started) => started,
            Err(e) => {
                self.message = Some(format!("cannot play: {e}"));
                return;
            }
        };
        if self.sink == Sink::Offline {
            self.finish_start(live, Host::Offline(runtime), None, None);
            return;
        }
        let inputs = (self.sink == Sink::Device).then(|| {
            let spec = InputSpec {
                host: self.spec.host,
                device: None,
                channels: 0,
            };
            InputNodes::new(spec, rate)
        });
        let player = match Player::start(device, runtime, rate) {
            Ok(p) => p,
            Err(e) => {
                // The runtime went with the failed start: build it again
                // for the null output.
                why_silent = Some(e.to_string());
                let options = CompileOptions {
                    sample_rate: NULL_RATE as f32,
                    block: DEFAULT_BLOCK,
                };
                let Ok((live, runtime)) = LiveEngine::start(patch.clone(), self.registry, options) else {
                    return;
                };
                match Player::start(Box::new(Silent), runtime, NULL_RATE) {
                    Ok(player) => {
                        self.finish_start(live, Host::Player(player), None, why_silent);
                    }
                    Err(e) => self.message = Some(format!("cannot start the null output: {e}")),
                }
                return;
            }
        };
        self.finish_start(live, Host::Player(player), inputs, why_silent);
    }

    fn finish_start(
        &mut self,
        live: LiveEngine,
        host: Host,
        inputs: Option<InputNodes>,
        why_silent: Option<String>,
    ) {
        self.transport = Transport {
            device: match &host {
                Host::Player(player) => player.describe(),
                Host::Offline(_) => "offline".into(),
            },
            ..Transport::default()
        };
        self.message = why_silent.map(|why| format!("{why}; playing silently on the null output"));
        self.session = Some(Session {
            live,
            host,
            disk: DiskHost::threaded(self.folder.clone()),
            inputs,
            probe: None,
        });
        self.start_disk_work();
    }

    /// Start what new nodes handed over: input nodes to the input device,
    /// the rest to the disk host. What cannot start is a fault on its node.
    fn start_disk_work(&mut self) {
        let Some(session) = &mut self.session else {
            return;
        };
        let jobs = session.live.take_disk_jobs();
        let (jobs, unheard) = match &mut session.inputs {
            Some(inputs) => inputs.claim(jobs),
            None => patchbay_io::input::unheard(jobs, "silent: audio is not on a sound card"),
        };
        let started = session.disk.start(jobs);
        for (node, why) in unheard {
            self.message = Some(format!("input node `{node}`: {why}"));
            self.faults.insert(node, why);
        }
        if let Err(e) = started {
            self.note_disk_error(e);
        }
    }

    /// Stop the engine.
    pub fn stop(&mut self) {
        if let Some(mut session) = self.session.take() {
            drop(session.host);
            session.live.collect_garbage();
            let reports = session.disk.finish();
            self.take_reports(reports);
        }
        self.transport = Transport {
            device: "audio off".into(),
            ..Transport::default()
        };
    }

    /// Make the engine play what the document now holds: glides for
    /// parameter moves, one rebuild for any structural edit.
    pub fn follow(&mut self, patch: &Patch, changes: &[Change]) {
        let Some(session) = &mut self.session else {
            return;
        };
        let result = if changes.contains(&Change::Graph) {
            session.probe = None;
            let applied = session.live.apply(patch.clone()).map(|_: Applied| ());
            self.start_disk_work();
            applied
        } else {
            changes.iter().try_for_each(|change| match change {
                Change::Param { node, param, value } => session.live.set_param(node, param, *value),
                _ => Ok(()),
            })
        };
        if let Err(e) = result {
            self.message = Some(format!("the engine refused the edit: {e}"));
        }
    }

    /// Collect garbage, handle device faults and update the transport
    /// figures; call once per frame.
    pub fn poll(&mut self) -> &Transport {
        if let Some(session) = &mut self.session {
            session.live.collect_garbage();
            if let Host::Player(player) = &mut session.host {
                if let Some(event) = player.poll() {
                    self.message = Some(match event {
                        patchbay_io::PlayerEvent::DeviceLost { device, message } => {
                            format!("{device} failed: {message}; running on the null output")
                        }
                        patchbay_io::PlayerEvent::DeviceBack { device } => format!("{device} is back"),
                    });
                }
                let status: Status = player.status();
                self.transport.load = status.load;
                self.transport.xruns = status.totals.xruns;
                self.transport.peak = (self.transport.peak * PEAK_FALL_PER_FRAME).max(status.peak);
                self.transport.device = player.describe();
            }
            if let Some(event) = session.inputs.as_mut().and_then(InputNodes::poll) {
                self.message = Some(match event {
                    patchbay_io::PlayerEvent::DeviceLost { device, message } => {
                        format!("{device} failed: {message}; input nodes are silent until it is back")
                    }
                    patchbay_io::PlayerEvent::DeviceBack { device } => format!("{device} is back"),
                });
            }
            let reports = session.disk.reports();
            self.take_reports(reports);
        }
        &self.transport
    }

    /// Offline ([`Sink::Offline`]): compute `blocks` blocks of what plays
    /// now and return the master's left channel; empty otherwise.
    pub fn render(&mut self, blocks: usize) -> Vec<f32> {
        let Some(Session {
            live,
            host: Host::Offline(runtime),
            ..
        }) = &mut self.session
        else {
            return Vec::new();
        };
        let mut left = Vec::new();
        for _ in 0..blocks {
            runtime.process_block();
            left.extend_from_slice(runtime.output()[0]);
            live.collect_garbage();
        }
        left
    }

    /// Disk work that could not start: each failure on its node.
    fn note_disk_error(&mut self, error: DiskError) {
        if let DiskError::NotStarted(failures) = &error {
            for failure in failures {
                // Each reads "node `id`: why".
                let node = failure
                    .strip_prefix("node `")
                    .and_then(|rest| rest.split_once('`'));
                if let Some((node, _)) = node {
                    self.faults.insert(node.to_string(), failure.clone());
                }
            }
        }
        self.message = Some(error.to_string());
    }

    fn take_reports(&mut self, reports: Vec<DiskReport>) {
        for report in reports {
            if let DiskReport::Failed { node, message } = &report {
                self.faults.insert(node.clone(), message.clone());
            }
            self.message = Some(report.to_string());
        }
    }

    /// Disk work that failed since the last call, by node: the reason.
    pub fn take_faults(&mut self) -> HashMap<String, String> {
        std::mem::take(&mut self.faults)
    }

    /// Measure output `port` of `patch` (the patch being played) from now
    /// on, with a probe meter added to what the engine plays.
    pub fn probe(&mut self, patch: &Patch, port: &PortRef) {
        let Some(session) = &mut self.session else {
            return;
        };
        if session.probe.as_ref().is_some_and(|(p, _)| p == port) {
            return;
        }
        let mut probed = patch.clone();
        probed.nodes.push(Node::new(PROBE, "meter"));
        probed.edges.push(patchbay_core::Edge {
            from: port.clone(),
            to: PortRef {
                node: PROBE.into(),
                port: "in".into(),
            },
        });
        session.probe = None;
        if session.live.apply(probed).is_ok()
            && let Some(tap) = session.live.tap(PROBE)
        {
            session.probe = Some((port.clone(), tap.clone()));
        }
    }

    /// The level at output `port` as a tooltip says it: peak and RMS of
    /// its loudest channel, once it is being probed.
    pub fn level(&self, port: &PortRef) -> String {
        let Some(session) = &self.session else {
            return "switch audio on to see its level".into();
        };
        match &session.probe {
            Some((probed, tap)) if probed == port => {
                let values = tap.snapshot();
                let channels = values.len() / 3;
                let loudest = |part: usize| {
                    (values[part * channels..(part + 1) * channels].iter()).fold(0.0f32, |a, &b| a.max(b))
                };
                format!(
                    "peak {:.1} dB, RMS {:.1} dB",
                    telemetry::db(loudest(0)),
                    telemetry::db(loudest(1))
                )
            }
            _ => "measuring…".into(),
        }
    }

    /// The transport figures as last polled.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The readings an analysis node publishes, while playing.
    pub fn tap(&self, node: &str) -> Option<Arc<Tap>> {
        self.session.as_ref()?.live.tap(node).cloned()
    }

    /// The patch the engine plays, while playing.
    pub fn playing(&self) -> Option<&Patch> {
        Some(self.session.as_ref()?.live.patch())
    }
}

impl Drop for Audio {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Document;

    fn port(text: &str) -> patchbay_core::PortRef {
        text.parse().unwrap()
    }

    #[test]
    fn input_nodes_off_the_sound_card_are_silent_and_say_so() {
        let mut patch = Patch::default();
        patch.nodes.push(Node::new("mic", "input"));
        patch.nodes.push(Node::new("out", "output"));
        patch.connect("mic.out", "out.in");
        let mut audio = Audio::new(patchbay_nodes::registry(), Sink::Offline);
        audio.start(&patch);
        assert!(audio.is_on());
        let faults = audio.take_faults();
        assert_eq!(Vec::from_iter(faults.keys()), ["mic"]);
        assert!(faults["mic"].contains("not on a sound card"), "{faults:?}");
        assert!(audio.render(8).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn the_engine_follows_edits_and_undo() {
        let mut doc = Document::new(patchbay_nodes::registry());
        doc.add_node("sine", [0.0, 0.0]).unwrap();
        doc.add_node("meter", [0.0, 0.0]).unwrap();
        doc.add_node("output", [0.0, 0.0]).unwrap();
        doc.connect(&port("sine1.out"), &port("meter1.in")).unwrap();
        doc.connect(&port("meter1.out"), &port("output1.in")).unwrap();
        doc.take_changes();
        let mut audio = Audio::new(doc.registry(), Sink::Null);
        audio.start(doc.patch());
        assert!(audio.is_on(), "{:?}", audio.message);
        assert_eq!(audio.playing(), Some(doc.patch()));

        doc.drag_param("sine1", "freq", 220.0).unwrap();
        let changes = doc.take_changes();
        audio.follow(doc.patch(), &changes);
        assert_eq!(
            audio.playing(),
            Some(doc.patch()),
            "a drag reaches the engine at once"
        );

        doc.end_drag();
        doc.add_node("lowpass", [0.0, 0.0]).unwrap();
        doc.connect(&port("sine1.out"), &port("lowpass1.in")).unwrap();
        let changes = doc.take_changes();
        audio.follow(doc.patch(), &changes);
        assert_eq!(audio.playing(), Some(doc.patch()));
        doc.undo();
        doc.undo();
        doc.undo();
        let changes = doc.take_changes();
        audio.follow(doc.patch(), &changes);
        assert_eq!(audio.playing(), Some(doc.patch()));
        assert_eq!(doc.param_value("sine1", "freq").unwrap(), 440.0);

        // The meter publishes what the sine plays: wait for a reading near
        // a full-scale sine's RMS (1/sqrt 2).
        let tap = audio.tap("meter1").expect("a meter has a tap");
        let mut readings = [0.0f32; 3];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            tap.read(&mut readings);
            if (readings[1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            (readings[1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01,
            "meter RMS {readings:?}"
        );
        audio.stop();
        assert!(!audio.is_on());
    }
}
