//! The `patchbay` command: a thin layer over the library crates that turns
//! their typed errors into one clear line each.

mod play;
mod play_script;
mod record;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use patchbay_core::{CompileOptions, Patch, compile, load_patch};
use patchbay_io::{HostChoice, RenderOptions, SampleFormat, render_with_disk};

#[derive(Parser)]
#[command(name = "patchbay", version, about = "A modular node-graph audio environment")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a patch or script to a WAV file, faster than real time.
    Render {
        /// Patch file (.json) or script (.rhai; its timers run at their sample times).
        patch: PathBuf,
        /// Output WAV file.
        #[arg(short, long, default_value = "out.wav")]
        output: PathBuf,
        /// Length in seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Sample rate in Hz.
        #[arg(long, default_value_t = 48_000)]
        rate: u32,
        /// Frames per processing block.
        #[arg(long, default_value_t = patchbay_core::DEFAULT_BLOCK)]
        block: usize,
        /// Sample format: f32, i24 or i16.
        #[arg(long, default_value = "f32")]
        format: SampleFormat,
        /// Switch off the safety limiter (non-finite samples are still silenced).
        #[arg(long)]
        no_limit: bool,
        /// A recording (WAV, FLAC, MP3, Ogg Vorbis) that input nodes read, converted to --rate;
        /// silence after its end. A mono file feeds every channel; otherwise it must have the channels the node takes (`first` on).
        #[arg(long, value_name = "FILE")]
        input: Option<PathBuf>,
    },
    /// Play a patch or script through the sound card until Ctrl-C.
    Play {
        /// Patch file (.json) or script (.rhai; always reloaded on save, with its imports).
        patch: PathBuf,
        /// Audio host: alsa or jack (default: JACK if a server runs, else ALSA).
        #[arg(long)]
        host: Option<HostChoice>,
        /// Output device, as `patchbay devices` lists it (default: the host's default);
        /// under JACK, the client's name (default: patchbay).
        #[arg(long)]
        device: Option<String>,
        /// Input device for the patch's input nodes, as `patchbay devices` lists it (default: the
        /// host's default); under JACK, the client's name (`NAME_in`, default: patchbay_in).
        #[arg(long)]
        input: Option<String>,
        /// Record the master, as the device hears it, to this WAV file (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// Sample format of --record: f32, i24 or i16.
        #[arg(long, default_value = "f32")]
        format: SampleFormat,
        /// Sample rate in Hz (default: the device's).
        #[arg(long)]
        rate: Option<u32>,
        /// Frames per device callback (default: the device's).
        #[arg(long)]
        buffer: Option<u32>,
        /// Reload the patch when the file changes, keeping what plays.
        #[arg(long)]
        watch: bool,
        /// Switch off the safety limiter (non-finite samples are still silenced).
        #[arg(long)]
        no_limit: bool,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Record an input device to a WAV file, without a patch, until Ctrl-C.
    Record {
        /// Audio host: alsa or jack (default: JACK if a server runs, else ALSA).
        #[arg(long)]
        host: Option<HostChoice>,
        /// Input device, as `patchbay devices` lists it (default: the host's default);
        /// under JACK, the client's name (`NAME_in`, default: patchbay_in).
        #[arg(long)]
        input: Option<String>,
        /// Channels to record, from the first.
        #[arg(long, default_value_t = 2)]
        channels: usize,
        /// Sample format: f32, i24 or i16.
        #[arg(long, default_value = "f32")]
        format: SampleFormat,
        /// The WAV file (replaced if it exists).
        #[arg(short, long)]
        output: PathBuf,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Open the visual node editor on a patch file (a new one if it does not exist).
    Edit {
        /// Patch file (.json); without it, an empty untitled patch.
        patch: Option<PathBuf>,
        /// Switch audio on at once.
        #[arg(long)]
        play: bool,
        /// Save a PNG of the window after --after seconds, then quit (for docs).
        #[arg(long, value_name = "FILE")]
        screenshot: Option<PathBuf>,
        /// Seconds to wait before --screenshot.
        #[arg(long, default_value_t = 3.0)]
        after: f64,
    },
    /// List audio hosts and their devices.
    Devices,
    /// Check a patch or script; exits non-zero with the error if it is bad.
    Check {
        /// Patch file (.json) or script (.rhai).
        patch: PathBuf,
        /// Also print the compiled plan: order, buffers, buffer count.
        #[arg(long)]
        plan: bool,
    },
    /// Run a script and write the patch it builds as a patch file.
    Export {
        /// Script (.rhai); a patch file is written back normalized.
        script: PathBuf,
        /// Patch file to write (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List every node kind with its ports and parameters.
    Nodes {
        /// Write the node reference as Markdown instead.
        #[arg(long)]
        markdown: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let registry = patchbay_nodes::registry();
    match cli.command {
        Command::Render {
            patch,
            output,
            seconds,
            rate,
            block,
            format,
            no_limit,
            input,
        } => {
            let options = RenderOptions {
                seconds,
                sample_rate: rate,
                block,
                format,
                ceiling_db: (!no_limit).then_some(patchbay_core::DEFAULT_CEILING_DB),
            };
            render(&patch, &options, &output, input.as_deref())
        }
        Command::Play {
            patch,
            host,
            device,
            input,
            record,
            format,
            rate,
            buffer,
            watch,
            no_limit,
            seconds,
        } => play::play(play::PlayArgs {
            patch,
            host,
            device,
            input,
            record,
            format,
            rate,
            buffer,
            watch,
            no_limit,
            seconds,
        }),
        Command::Record {
            host,
            input,
            channels,
            format,
            output,
            seconds,
        } => record::record(record::RecordArgs {
            host,
            input,
            channels,
            format,
            output,
            seconds,
        }),
        Command::Edit {
            patch,
            play,
            screenshot,
            after,
        } => {
            let screenshot = screenshot.map(|file| (file, after));
            patchbay_editor::run(patch.as_deref(), patchbay_editor::Options { play, screenshot })?;
            Ok(())
        }
        Command::Devices => {
            for host in patchbay_io::list_hosts() {
                print!("{host}");
            }
            Ok(())
        }
        Command::Check { patch, plan } => {
            let loaded = load(&patch)?;
            let compiled = compile(&loaded, registry, &CompileOptions::default())
                .with_context(|| patch.display().to_string())?;
            if plan {
                print!("{compiled}");
            } else {
                println!(
                    "{}: ok ({} nodes, {} edges, {} buffers)",
                    patch.display(),
                    loaded.nodes.len(),
                    loaded.edges.len(),
                    compiled.buffer_count
                );
            }
            Ok(())
        }
        Command::Export { script, output } => {
            let json = load(&script)?.to_json();
            match output {
                Some(path) => {
                    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => print!("{json}"),
            }
            Ok(())
        }
        Command::Nodes { markdown } => {
            if markdown {
                print!("{}", registry.describe_markdown());
            } else {
                print!("{}", registry.describe_text());
            }
            Ok(())
        }
    }
}

/// Load a patch file, or run a script (`.rhai`) for the patch it builds.
fn load(path: &Path) -> Result<Patch> {
    if patchbay_script::is_script(path) {
        return Ok(patchbay_script::patch_from_file(
            path,
            patchbay_nodes::registry(),
        )?);
    }
    Ok(load_patch(path, patchbay_nodes::registry())?)
}

/// The folder relative paths in a patch (or script) are relative to.
pub(crate) fn patch_folder(patch: &Path) -> PathBuf {
    match patch.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn render(patch: &Path, options: &RenderOptions, output: &Path, input: Option<&Path>) -> Result<()> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new((options.seconds * options.sample_rate as f64) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    };
    let say = |text: String| match &bar {
        Some(bar) => bar.println(text),
        None => eprintln!("{text}"),
    };
    let mut disk_failed = false;
    let mut disk_report = |report: &patchbay_io::DiskReport| {
        disk_failed |= matches!(report, patchbay_io::DiskReport::Failed { .. });
        say(report.to_string());
    };
    // Recorders', players' and inputs' relative paths are the patch file's
    // (or script's) folder's; --input is relative to the current folder.
    let mut disk = patchbay_io::DiskHost::inline(patch_folder(patch));
    if let Some(input) = input {
        disk = disk.with_input(input);
    }
    let summary = if patchbay_script::is_script(patch) {
        // A script's timers run at their sample times; what they print or
        // fail at is reported as it happens.
        let mut report = |event: &patchbay_script::Event| match event {
            patchbay_script::Event::Print(text) => say(text.clone()),
            patchbay_script::Event::Error(err) => say(format!("error: {err}")),
            patchbay_script::Event::Disk(report) => disk_report(report),
            patchbay_script::Event::Changed(_) => {}
        };
        patchbay_script::render_script_to_wav(
            patch,
            patchbay_nodes::registry(),
            options,
            output,
            disk,
            &mut progress,
            &mut report,
        )?
    } else {
        let summary = render_with_disk(
            &load(patch)?,
            patchbay_nodes::registry(),
            options,
            output,
            &mut disk,
            &mut progress,
        )?;
        disk.finish().iter().for_each(&mut disk_report);
        summary
    };
    if disk_failed {
        anyhow::bail!("a node's disk work failed (see above): a recorder keeps what it wrote");
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let peak_db = 20.0 * summary.peak.max(1e-10).log10();
    eprintln!(
        "rendered {:.2} s in {:.2} s ({:.0}x real time), peak {:.1} dBFS -> {}",
        summary.seconds,
        summary.wall.as_secs_f64(),
        summary.realtime_factor(),
        peak_db,
        output.display()
    );
    if summary.non_finite > 0 {
        eprintln!(
            "warning: {} non-finite samples were replaced by silence",
            summary.non_finite
        );
    }
    Ok(())
}
