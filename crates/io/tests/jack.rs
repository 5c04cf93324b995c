//! Live, against a real audio server: a private JACK server with the dummy
//! backend (callbacks at exactly real-time pace, no sound card), patchbay
//! playing through cpal's JACK host while the patch is edited live, and a
//! second JACK client, written here, recording what patchbay plays.
//!
//! One test in this file: it sets `JACK_DEFAULT_SERVER` for the process.

use std::time::{Duration, Instant};

use patchbay_core::{Applied, CompileOptions, LiveEngine, Node, Patch};
use patchbay_io::{CpalOutput, HostChoice, OutputSpec, Player};
use patchbay_nodes::analysis::{peak_frequency, rms, to_db};
use patchbay_tests::jack::{JackServer, RATE};

fn sine_patch(through_gain: bool) -> Patch {
    let mut patch = Patch::default();
    patch
        .nodes
        .push(Node::new("osc", "sine").with("freq", 440.0).with("amp", 0.5));
    patch.nodes.push(Node::new("out", "output"));
    if through_gain {
        patch.nodes.push(Node::new("unity", "gain"));
        patch.connect("osc.out", "unity.in");
        patch.connect("unity.out", "out.in");
    } else {
        patch.connect("osc.out", "out.in");
    }
    patch
}

/// A JACK client that records its two inputs into a ring.
struct Recorder {
    client: jack::AsyncClient<(), jack::contrib::ClosureProcessHandler<(), RecordFn>>,
    samples: rtrb::Consumer<f32>,
}

type RecordFn = Box<dyn FnMut(&jack::Client, &jack::ProcessScope) -> jack::Control + Send>;

impl Recorder {
    fn start(seconds: usize) -> Recorder {
        let (client, _) =
            jack::Client::new("recorder", jack::ClientOptions::NO_START_SERVER).expect("recorder client");
        let left = client.register_port("in_l", jack::AudioIn::default()).unwrap();
        let right = client.register_port("in_r", jack::AudioIn::default()).unwrap();
        let (mut tx, rx) = rtrb::RingBuffer::new(seconds * RATE as usize * 2);
        let record: RecordFn = Box::new(move |_, ps| {
            for (l, r) in left.as_slice(ps).iter().zip(right.as_slice(ps)) {
                let _ = tx.push(*l);
                let _ = tx.push(*r);
            }
            jack::Control::Continue
        });
        let client = client
            .activate_async((), jack::contrib::ClosureProcessHandler::new(record))
            .unwrap();
        Recorder { client, samples: rx }
    }

    /// Stop and return (left, right).
    fn finish(mut self) -> (Vec<f32>, Vec<f32>) {
        drop(self.client.deactivate());
        let mut interleaved = Vec::new();
        while let Ok(x) = self.samples.pop() {
            interleaved.push(x);
        }
        let left = interleaved.iter().step_by(2).copied().collect();
        let right = interleaved.iter().skip(1).step_by(2).copied().collect();
        (left, right)
    }
}

#[test]
fn plays_through_jack_at_real_time_pace_while_edited_live() {
    let server = JackServer::start_realtime();
    let name = server.name.clone();
    // SAFETY: set before any JACK client exists, and this file's only test
    // is the only thread reading the environment.
    unsafe { std::env::set_var("JACK_DEFAULT_SERVER", &name) };

    let mut output = CpalOutput::new(OutputSpec {
        host: Some(HostChoice::Jack),
        ..OutputSpec::default()
    });
    let rate = output.probe().expect("the JACK output is found");
    assert_eq!(rate, RATE);
    let options = CompileOptions {
        sample_rate: rate as f32,
        block: patchbay_core::DEFAULT_BLOCK,
    };
    let (mut live, runtime) =
        LiveEngine::start(sine_patch(false), patchbay_nodes::registry(), options).unwrap();
    let mut player = Player::start(Box::new(output), runtime, rate).expect("plays through JACK");

    // patchbay's ports are visible to other JACK clients.
    let client = format!("{}_out", patchbay_io::devices::JACK_CLIENT);
    let ports = server.ports();
    for port in ["out_0", "out_1"] {
        assert!(
            ports.contains(&format!("{client}:{port}")),
            "{port} not in jack_lsp:\n{ports}"
        );
    }
    let recorder = Recorder::start(12);
    server.connect(&format!("{client}:out_0"), "recorder:in_l");
    server.connect(&format!("{client}:out_1"), "recorder:in_r");

    // Live structural edits every 200 ms while it plays, for 3 s: the sine
    // is routed through a unity gain and back, each a crossfaded swap.
    // Xruns are JACK's, server-wide: on a machine busy with other work the
    // dummy driver's own timer can wake late whatever its clients do. So a
    // window with xruns is retried (twice at most) if patchbay's callbacks
    // stayed well inside their budget; one clean window is required.
    let mut swaps = 0;
    let mut through_gain = false;
    let mut attempt = 0;
    let (elapsed, frames, status) = loop {
        attempt += 1;
        let before = player.status().totals;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(200));
            through_gain = !through_gain;
            let applied = live.apply(sine_patch(through_gain)).unwrap();
            assert!(matches!(applied, Applied::Rebuilt { .. }), "{applied:?}");
            swaps += 1;
            live.collect_garbage();
            assert!(player.poll().is_none(), "the device failed");
        }
        let elapsed = started.elapsed().as_secs_f64();
        let status = player.status();
        let xruns = status.totals.xruns - before.xruns;
        assert!(
            status.max_load < 0.5,
            "callback load {:.1}%",
            100.0 * status.max_load
        );
        if xruns == 0 || attempt == 3 {
            assert_eq!(xruns, 0, "xruns in every window");
            break (elapsed, (status.totals.frames - before.frames) as f64, status);
        }
        eprintln!("window {attempt}: {xruns} xruns from a busy machine; trying another");
    };
    let (left, right) = recorder.finish();
    drop(player);
    assert!(live.collect_garbage() > 0, "replaced schedules came back");

    // Real-time pace: the frames JACK pulled match the wall clock.
    let pace = frames / (elapsed * RATE as f64);
    assert!(
        (0.95..1.05).contains(&pace),
        "{frames} frames in {elapsed:.3} s: pace {pace:.3}"
    );
    assert_eq!(status.totals.faults, 0);
    assert!(swaps >= 10, "{swaps} swaps");

    // What the recorder heard: the sine, at its level, on both sides, with
    // no click from the swaps. Two seconds well after connecting, and
    // before the recorder's last cycles (cut short by its deactivation).
    let end = left.len().saturating_sub(RATE as usize / 10);
    assert!(end > 2 * RATE as usize, "recorded only {} frames", left.len());
    let window = end - 2 * RATE as usize..end;
    let (l, r) = (&left[window.clone()], &right[window]);
    let pitch = peak_frequency(l, RATE as f32);
    assert!((pitch - 440.0).abs() < 1.0, "pitch {pitch} Hz");
    let level = to_db(rms(l));
    assert!((level - to_db(0.5 / 2f32.sqrt())).abs() < 0.2, "level {level} dB");
    let differ = l.iter().zip(r).filter(|(a, b)| a != b).count();
    let first = l.iter().zip(r).position(|(a, b)| a != b);
    assert_eq!(
        differ, 0,
        "left and right differ from frame {first:?} of the window"
    );
    let sine_step = 0.5 * 2.0 * std::f32::consts::PI * 440.0 / RATE as f32;
    let step = l.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
    assert!(
        step <= sine_step * 1.05,
        "largest step {step} > the sine's own {sine_step}"
    );
}
