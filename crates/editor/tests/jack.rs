//! The editor's audio against a real audio server: a private JACK server
//! with the dummy backend (real-time pace, no sound card). A second engine
//! plays a sine into the editor's input client; the input node of the
//! patch being edited hears it, and so does the meter after it.
//!
//! One test in this file: it sets `JACK_DEFAULT_SERVER` for the process.

use std::time::{Duration, Instant};

use patchbay_core::{CompileOptions, LiveEngine, Node, Patch};
use patchbay_editor::Sink;
use patchbay_editor::audio::Audio;
use patchbay_io::{CpalOutput, HostChoice, OutputSpec, Player};
use patchbay_tests::jack::JackServer;

const SINE_RMS: f32 = 0.5 * std::f32::consts::FRAC_1_SQRT_2;

#[test]
fn an_input_node_in_the_editor_hears_the_jack_input() {
    let server = JackServer::start();
    // SAFETY: set before any JACK client exists, and this file's only test
    // is the only thread reading the environment.
    unsafe { std::env::set_var("JACK_DEFAULT_SERVER", &server.name) };
    let jack = |device: Option<&str>| OutputSpec {
        host: Some(HostChoice::Jack),
        device: device.map(str::to_string),
        ..OutputSpec::default()
    };

    // The source: a half-scale 440 Hz sine played as client `src_out`.
    let mut source_patch = Patch::default();
    source_patch.nodes.push(Node::new("osc", "sine").with("amp", 0.5));
    source_patch.nodes.push(Node::new("out", "output"));
    source_patch.connect("osc.out", "out.in");
    let mut output = CpalOutput::new(jack(Some("src")));
    let rate = output.probe().expect("the JACK output is found");
    let options = CompileOptions {
        sample_rate: rate as f32,
        block: patchbay_core::DEFAULT_BLOCK,
    };
    let (_source_live, runtime) =
        LiveEngine::start(source_patch, patchbay_nodes::registry(), options).unwrap();
    let _source = Player::start(Box::new(output), runtime, rate).expect("the source plays");

    // The edited patch: input → meter → output, on JACK.
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("in", "input").with("channels", 2.0));
    patch.nodes.push(Node::new("level", "meter"));
    patch.nodes.push(Node::new("out", "output"));
    patch.connect("in.out", "level.in");
    patch.connect("level.out", "out.in");
    let mut audio = Audio::new(patchbay_nodes::registry(), Sink::Device);
    audio.set_output(jack(None), &patch);
    audio.start(&patch);
    assert!(audio.is_on(), "{:?}", audio.message);
    server.wait_for_ports(&["src_out:out_0", "patchbay_in:in_0", "patchbay_in:in_1"]);
    server.connect("src_out:out_0", "patchbay_in:in_0");
    server.connect("src_out:out_1", "patchbay_in:in_1");

    let tap = audio.tap("level").expect("a meter has a tap");
    // A stereo meter's readings: peak, RMS and held peak per channel.
    let mut readings = [0.0f32; 6];
    let heard = |readings: &[f32; 6]| readings[2..4].iter().all(|rms| (rms - SINE_RMS).abs() < 0.01);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !heard(&readings) {
        audio.poll();
        tap.read(&mut readings);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        heard(&readings),
        "the meter after the input reads RMS {:?} (faults {:?}, {:?})",
        &readings[2..4],
        audio.take_faults(),
        audio.message
    );
    assert!(audio.take_faults().is_empty());
}
