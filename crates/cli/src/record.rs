//! `patchbay record`: a device's input straight to a WAV file, no patch:
//! the input callback feeds a recording whose disk side runs on a thread
//! of its own, until Ctrl-C or `--seconds`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use patchbay_core::DiskJob;
use patchbay_io::input::{InputSpec, LiveInput, Recording};
use patchbay_io::{DiskHost, DiskReport, HostChoice, PlayerEvent, SampleFormat};

use crate::play::one_line;

/// What `record` was asked to do.
pub struct RecordArgs {
    pub host: Option<HostChoice>,
    pub input: Option<String>,
    pub channels: usize,
    pub format: SampleFormat,
    pub output: PathBuf,
    pub seconds: Option<f64>,
}

pub fn record(args: RecordArgs) -> Result<()> {
    if !(1..=32).contains(&args.channels) {
        return Err(anyhow!("--channels {} must be between 1 and 32", args.channels));
    }
    let spec = InputSpec {
        host: args.host,
        device: args.input,
        channels: args.channels,
    };
    let not_opened = |e: patchbay_io::DeviceError| anyhow!("{}", one_line(&e.to_string()));
    let rate = LiveInput::probe(&spec).map_err(not_opened)?;
    let path = std::path::absolute(&args.output).with_context(|| args.output.display().to_string())?;
    let (capture, job) = Recording::to_file(args.channels, rate, path.clone(), args.format.into());
    let lost = capture.lost_counter();
    let mut disk = DiskHost::threaded(".");
    disk.start(vec![("record".into(), DiskJob::new(job))])?;
    let mut input = LiveInput::open(spec, rate).map_err(not_opened)?;
    input.add(Box::new(capture)).map_err(|e| anyhow!(e))?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    eprintln!(
        "recording {} ch at {rate} Hz from {} to {} (Ctrl-C to stop)",
        args.channels,
        input.describe(),
        path.display()
    );
    let started = Instant::now();
    let mut last_status = Instant::now();
    while !stop.load(Ordering::Relaxed) && args.seconds.is_none_or(|s| started.elapsed().as_secs_f64() < s) {
        match input.poll() {
            Some(PlayerEvent::DeviceLost { device, message }) => eprintln!(
                "error: {device} failed: {}; the recording pauses until it is back",
                one_line(&message)
            ),
            Some(PlayerEvent::DeviceBack { device }) => eprintln!("{device} is back, recording"),
            None => {}
        }
        for report in disk.reports() {
            if let DiskReport::Failed { .. } = report {
                eprintln!("error: {report}");
            }
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            last_status = Instant::now();
            let peak = input.meters().take_peak();
            eprintln!(
                "{:.0} s  peak {:.1} dBFS  lost frames {}",
                started.elapsed().as_secs_f64(),
                20.0 * peak.max(1e-10).log10(),
                lost.load(Ordering::Relaxed)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The stream stops, the recording lets go of its ring, the disk side
    // writes the rest and closes the file.
    let xruns = input.meters().totals().xruns;
    drop(input);
    let mut failed = false;
    for report in disk.finish() {
        failed |= matches!(report, DiskReport::Failed { .. });
        eprintln!("{report}");
    }
    let lost = lost.load(Ordering::Relaxed);
    eprintln!(
        "recorded {:.1} s: xruns {xruns}, lost frames {lost}{}",
        started.elapsed().as_secs_f64(),
        if lost > 0 { " (written as silence)" } else { "" }
    );
    if failed {
        return Err(anyhow!(
            "the recording failed (see above); the file keeps what was written"
        ));
    }
    Ok(())
}
