//! The reverb's long-run stability check: an hour of full-scale white noise
//! through a reverb at its most extreme settings (size 100 %, decay 30 s,
//! no damping, fully wet), rendered offline as fast as the machine allows.
//!
//! ```text
//! cargo run --release -p patchbay-nodes --example reverb_endurance [MINUTES [RATE]]
//! ```
//!
//! Prints each minute's peak and RMS and exits with an error unless every
//! sample stayed finite, no peak reached 40 (+32 dBFS) and no minute's RMS
//! rose above 1.5 times the second minute's (the network has filled by
//! then). An hour at 48 kHz takes about a minute in a release build; the
//! unit test `ten_minutes_of_noise_at_the_longest_decay_stay_bounded` runs
//! the same check for ten minutes at 22.05 kHz in every test run.

use std::process::ExitCode;
use std::time::Instant;

use patchbay_core::{CompileOptions, Node, Patch, Schedule, compile};

const BLOCK: usize = 512;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>());
    let minutes = match args.next() {
        Some(Ok(m)) if m >= 2 => m as usize,
        None => 60,
        _ => return usage(),
    };
    let rate = match args.next() {
        Some(Ok(r)) if (22_050..=192_000).contains(&r) => r,
        None => 48_000,
        _ => return usage(),
    };

    let mut patch = Patch::default();
    patch.nodes.push(Node::new("src", "noise").with("amp", 1.0));
    patch.nodes.push(
        Node::new("dut", "reverb")
            .with("size", 1.0)
            .with("decay", 30.0)
            .with("damping", 0.0)
            .with("mix", 1.0),
    );
    patch.nodes.push(Node::new("out", "output"));
    patch.connect("src.out", "dut.in").connect("dut.out", "out.in");
    let options = CompileOptions {
        sample_rate: rate as f32,
        block: BLOCK,
    };
    let plan = compile(&patch, patchbay_nodes::registry(), &options).expect("the patch compiles");
    let mut schedule = Schedule::new(&plan);

    let blocks_per_minute = 60 * rate as usize / BLOCK;
    let started = Instant::now();
    let mut settled = f32::INFINITY;
    println!("minute  peak (dBFS)  rms (dBFS)");
    for minute in 1..=minutes {
        let (mut top, mut energy, mut non_finite) = (0.0f32, 0.0f64, 0usize);
        for _ in 0..blocks_per_minute {
            schedule.process();
            for side in schedule.master() {
                for &v in side {
                    if v.is_finite() {
                        top = top.max(v.abs());
                        energy += (v as f64) * (v as f64);
                    } else {
                        non_finite += 1;
                    }
                }
            }
        }
        let level = (energy / (2 * blocks_per_minute * BLOCK) as f64).sqrt() as f32;
        println!("{minute:6}  {:11.2}  {:10.2}", db(top), db(level));
        if minute == 2 {
            settled = level;
        }
        let fault = if non_finite > 0 {
            Some(format!("{non_finite} non-finite samples"))
        } else if top >= 40.0 {
            Some(format!("peak {top}"))
        } else if level > 1.5 * settled {
            Some(format!("rms {level} after settling at {settled}"))
        } else {
            None
        };
        if let Some(fault) = fault {
            eprintln!("unstable in minute {minute}: {fault}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "{minutes} minutes at {rate} Hz stayed finite and bounded ({:.1} s to render)",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn db(level: f32) -> f32 {
    20.0 * level.max(1e-10).log10()
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: reverb_endurance [MINUTES (at least 2, default 60) [RATE (22050..=192000, default 48000)]]"
    );
    ExitCode::FAILURE
}
