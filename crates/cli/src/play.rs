//! `patchbay play`: the control loop around a live engine and a device.
//! Everything that could fail on the audio side is the library's; this
//! loop reports, reloads and draws the status line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use patchbay_core::DiskJob;
use patchbay_core::{Applied, CompileOptions, LiveEngine, LiveError};
use patchbay_io::input::{InputNodes, InputSpec, split_inputs};
use patchbay_io::{
    CpalOutput, DeviceError, DiskHost, DiskReport, HostChoice, OutputSpec, PatchWatcher, Player, PlayerEvent,
    SampleFormat, Status,
};
use patchbay_nodes::record::{Destination, recording};

/// How often the control loop wakes: garbage, faults, reloads.
const TICK: Duration = Duration::from_millis(5);

/// How far ahead of the audio a script's timers run, so that the
/// parameters they set start on their own sample: a tick plus a device
/// buffer of up to 20 ms. (A structural change a timer makes plays from the
/// next block, so at most this much early.)
const SCRIPT_LOOKAHEAD_S: f64 = 0.025;

/// What `play` was asked to do.
pub struct PlayArgs {
    pub patch: PathBuf,
    pub host: Option<HostChoice>,
    pub device: Option<String>,
    pub input: Option<String>,
    pub record: Option<PathBuf>,
    /// The sample format of `record`.
    pub format: SampleFormat,
    pub rate: Option<u32>,
    pub buffer: Option<u32>,
    pub watch: bool,
    pub no_limit: bool,
    pub seconds: Option<f64>,
}

pub fn play(args: PlayArgs) -> Result<()> {
    let registry = patchbay_nodes::registry();
    // A script (.rhai) runs in its host, which runs its timers and reloads it.
    let (patch, mut script) = match crate::play_script::ScriptPlay::start(&args.patch, registry)? {
        Some((script, patch)) => (patch, Some(script)),
        None => (crate::load(&args.patch)?, None),
    };
    let mut output = CpalOutput::new(OutputSpec {
        host: args.host,
        device: args.device.clone(),
        rate: args.rate,
        buffer: args.buffer,
    });
    let rate = output.probe().map_err(no_device)?;
    let options = CompileOptions {
        sample_rate: rate as f32,
        block: patchbay_core::DEFAULT_BLOCK,
    };
    let (mut live, mut runtime) =
        LiveEngine::start(patch, registry, options).with_context(|| args.patch.display().to_string())?;
    if args.no_limit {
        runtime.set_ceiling_db(None);
    }
    // Recorders and players run their disk work on threads of their own.
    let mut disk = DiskHost::threaded(crate::patch_folder(&args.patch));
    let spec = InputSpec {
        host: args.host,
        device: args.input.clone(),
        channels: 0,
    };
    let (input_jobs, jobs) = split_inputs(live.take_disk_jobs());
    disk.start(jobs)?;
    if let Some(path) = &args.record {
        // The master as the device hears it, after the safety stage: the
        // runtime hands every block to the recording as it makes it.
        let path = std::path::absolute(path).with_context(|| path.display().to_string())?;
        let (mut feed, job) = recording(2, rate, Destination::File(path), 0);
        feed.set_recording(true, 0, args.format.into());
        runtime.set_output_listener(Box::new(move |[left, right]| {
            feed.push(&[left, right], left.len())
        }));
        disk.start(vec![("master".into(), DiskJob::new(job))])?;
    }
    let mut watcher = match args.watch && script.is_none() {
        true => Some(PatchWatcher::new(&args.patch)?),
        false => None,
    };
    let mut player = Player::start(Box::new(output), runtime, rate).map_err(no_device)?;
    // The input opens once the output runs: under JACK, an input client
    // opened first now and then stalls the server's whole graph (see
    // ARCHITECTURE.md, "Disk work").
    let mut inputs = InputNodes::new(spec, rate);
    let (_, errors) = inputs.claim(input_jobs);
    if let Some(e) = input_error(errors) {
        return Err(e);
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Without a handler Ctrl-C still ends the process, just less tidily.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let mut line = StatusLine::new(std::io::stderr().is_terminal());
    line.message(&format!(
        "playing {} on {} at {rate} Hz{}{} (Ctrl-C to stop)",
        args.patch.display(),
        player.describe(),
        if args.watch || script.is_some() {
            ", reloading on save"
        } else {
            ""
        },
        if args.no_limit { ", limiter off" } else { "" },
    ));
    for text in script.as_mut().map(|s| s.take_printed()).unwrap_or_default() {
        line.message(&text);
    }
    if let Some(input) = inputs.device() {
        line.message(&format!("input from {}", input.describe()));
    } else if args.input.is_some() {
        line.message("note: --input is not opened: the patch has no input node");
    }

    let started = Instant::now();
    let mut last_status = Instant::now();
    let mut worst = Status {
        load: 0.0,
        max_load: 0.0,
        peak: 0.0,
        totals: Default::default(),
        on_null: false,
    };
    while !stop.load(Ordering::Relaxed) && args.seconds.is_none_or(|s| started.elapsed().as_secs_f64() < s) {
        live.collect_garbage();
        match player.poll() {
            Some(PlayerEvent::DeviceLost { device, message }) => line.message(&format!(
                "error: {device} failed: {}; the engine keeps running without sound and retries",
                one_line(&message)
            )),
            Some(PlayerEvent::DeviceBack { device }) => line.message(&format!("{device} is back, playing")),
            None => {}
        }
        if let Some(event) = inputs.poll() {
            line.message(&match event {
                PlayerEvent::DeviceLost { device, message } => format!(
                    "error: {device} failed: {}; input nodes are silent until it is back",
                    one_line(&message)
                ),
                PlayerEvent::DeviceBack { device } => format!("{device} is back, recording input"),
            });
        }
        if let Some(w) = &mut watcher
            && let Some(loaded) = w.poll(registry)
        {
            let text = match loaded.map_err(|e| e.to_string()).and_then(|patch| {
                live.apply(patch).map_err(|e| match e {
                    LiveError::Invalid(e) => w.locate(&e),
                    other => format!("{}: {other}", w.path().display()),
                })
            }) {
                Ok(applied) => format!("reloaded {}: {}", w.path().display(), describe(applied)),
                Err(e) => format!("error: {e} (the last good patch keeps playing)"),
            };
            line.message(&text);
        }
        if let Some(s) = &mut script {
            let until = live.now() as f64 / live.sample_rate() as f64 + SCRIPT_LOOKAHEAD_S;
            for text in s.tick(until, &mut live) {
                line.message(&text);
            }
        }
        // Nodes built by a reload or a script bring their disk work; one
        // that cannot start is reported, the rest play.
        let (jobs, errors) = inputs.claim(live.take_disk_jobs());
        if let Some(e) = input_error(errors) {
            line.message(&format!("error: {e:#}"));
        }
        if let Err(e) = disk.start(jobs) {
            line.message(&format!("error: {e}"));
        }
        for report in disk.reports() {
            line.message(&match report {
                DiskReport::Failed { .. } => format!("error: {report}"),
                _ => report.to_string(),
            });
        }
        if last_status.elapsed() >= line.every {
            last_status = Instant::now();
            let status = player.status();
            worst.max_load = worst.max_load.max(status.max_load);
            worst.peak = worst.peak.max(status.peak);
            line.status(&status);
        }
        std::thread::sleep(TICK);
    }
    let end = player.status();
    drop(player);
    live.collect_garbage();
    for report in disk.finish() {
        line.message(&report.to_string());
    }
    line.finish();
    eprintln!(
        "played {:.1} s: xruns {}, max callback load {:.1}%, peak {:.1} dBFS{}",
        started.elapsed().as_secs_f64(),
        end.totals.xruns,
        100.0 * worst.max_load.max(end.max_load),
        Status {
            peak: worst.peak.max(end.peak),
            ..end
        }
        .peak_db(),
        non_finite_note(end.totals.non_finite),
    );
    Ok(())
}

/// What went wrong feeding input nodes from the device, one message.
fn input_error(errors: Vec<(String, String)>) -> Option<anyhow::Error> {
    // Nodes that failed alike (no device for any of them) share one line.
    let mut by_message = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (node, message) in errors {
        by_message
            .entry(one_line(&message))
            .or_default()
            .push(format!("`{node}`"));
    }
    let lines = Vec::from_iter(
        (by_message.into_iter())
            .map(|(message, nodes)| format!("input node {}: {message}", nodes.join(", "))),
    );
    (!lines.is_empty()).then(|| anyhow!("{}; try `patchbay render --input FILE`", lines.join("; ")))
}

fn no_device(err: DeviceError) -> anyhow::Error {
    anyhow!("{}; try `patchbay render`", one_line(&err.to_string()))
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn describe(applied: Applied) -> String {
    match applied {
        Applied::Unchanged => "no audible change".into(),
        Applied::Params(n) => format!("{n} parameter change(s)"),
        Applied::Rebuilt { kept, built, .. } => format!("rebuilt ({kept} nodes kept, {built} new)"),
    }
}

fn non_finite_note(n: u64) -> String {
    match n {
        0 => String::new(),
        n => format!(", {n} non-finite samples silenced"),
    }
}

/// The status line: redrawn in place on a terminal, printed as plain
/// periodic lines otherwise (logs, pipes, tests).
struct StatusLine {
    terminal: bool,
    every: Duration,
    drawn: bool,
}

impl StatusLine {
    fn new(terminal: bool) -> StatusLine {
        StatusLine {
            terminal,
            every: Duration::from_millis(if terminal { 250 } else { 1000 }),
            drawn: false,
        }
    }

    fn status(&mut self, s: &Status) {
        let text = format!(
            "load {:4.1}% (max {:4.1}%)  xruns {}  peak {:6.1} dBFS{}{}",
            100.0 * s.load,
            100.0 * s.max_load,
            s.totals.xruns,
            s.peak_db(),
            non_finite_note(s.totals.non_finite),
            if s.on_null {
                "  [no device: null output]"
            } else {
                ""
            },
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{text}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }

    fn message(&mut self, text: &str) {
        self.finish();
        eprintln!("{text}");
    }

    fn finish(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}
