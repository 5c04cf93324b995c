//! Live changes keep state and never click: structural edits applied to a
//! running engine, measured from its output.

use patchbay_core::{Applied, CompileOptions, LiveEngine, Node, Patch, Runtime};
use patchbay_tests::*;

const RATE: f32 = 48_000.0;

fn start(patch: &Patch) -> (LiveEngine, Runtime) {
    LiveEngine::start(
        patch.clone(),
        patchbay_nodes::registry(),
        CompileOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Run `blocks` blocks, appending the left channel to `out`.
fn play(runtime: &mut Runtime, blocks: usize, out: &mut Vec<f32>) {
    for _ in 0..blocks {
        runtime.process_block();
        out.extend_from_slice(runtime.schedule().master()[0]);
    }
}

fn chain(nodes: &[(&str, &str)]) -> Patch {
    let mut patch = Patch::default();
    for (id, kind) in nodes {
        patch.nodes.push(Node::new(*id, *kind));
    }
    for pair in nodes.windows(2) {
        patch.connect(&format!("{}.out", pair[0].0), &format!("{}.in", pair[1].0));
    }
    patch
}

/// A sine through a feedback delay: its phase and the echoes are state.
fn echo_patch() -> Patch {
    let mut patch = chain(&[("osc", "sine"), ("echo", "delay"), ("out", "output")]);
    patch.node_mut("osc").unwrap().params.insert("freq".into(), 220.0);
    let echo = patch.node_mut("echo").unwrap();
    echo.params.insert("time".into(), 0.05);
    echo.params.insert("feedback".into(), 0.6);
    echo.params.insert("mix".into(), 0.5);
    patch
}

#[test]
fn an_edit_elsewhere_leaves_the_running_sound_bit_identical() {
    let reference = render(&echo_patch(), 1.0, 48_000).0;

    let (mut live, mut runtime) = start(&echo_patch());
    let mut out = Vec::new();
    play(&mut runtime, 375, &mut out); // 0.5 s
    let mut edited = echo_patch();
    edited.nodes.push(Node::new("hiss", "noise"));
    edited.nodes.push(Node::new("dark", "lowpass"));
    edited.connect("hiss.out", "dark.in");
    let applied = live.apply(edited).unwrap();
    assert!(
        matches!(
            applied,
            Applied::Rebuilt {
                kept: 3,
                built: 2,
                crossfades: 0
            }
        ),
        "{applied:?}"
    );
    play(&mut runtime, 375, &mut out);
    assert_eq!(live.collect_garbage(), 1);
    assert!(
        out == reference,
        "oscillator phase or delay line was disturbed by the edit"
    );
}

#[test]
fn a_branch_added_to_the_output_fades_in_over_the_unbroken_original() {
    let reference = render(&echo_patch(), 1.0, 48_000).0;
    let mut edited = echo_patch();
    edited
        .nodes
        .push(Node::new("bell", "sine").with("freq", 1320.0).with("amp", 0.2));
    edited.connect("bell.out", "out.in");
    let branch_alone = {
        let mut p = Patch::default();
        p.nodes
            .push(Node::new("bell", "sine").with("freq", 1320.0).with("amp", 0.2));
        p.nodes.push(Node::new("out", "output"));
        p.connect("bell.out", "out.in");
        render(&p, 0.5, 48_000).0
    };

    let (mut live, mut runtime) = start(&echo_patch());
    let mut out = Vec::new();
    play(&mut runtime, 375, &mut out);
    assert!(matches!(
        live.apply(edited).unwrap(),
        Applied::Rebuilt { crossfades: 1, .. }
    ));
    play(&mut runtime, 375, &mut out);

    let edit = 375 * 64;
    // The crossfade lasts whole blocks: 10 ms rounded up to 64 frames.
    let fade = (0.01 * RATE / 64.0).ceil() as usize * 64;
    let residual: Vec<f32> = out.iter().zip(&reference).map(|(a, b)| a - b).collect();
    assert!(residual[..edit].iter().all(|&r| r == 0.0));
    // During the fade the new branch rises smoothly from silence...
    assert!(peak(&residual[edit..edit + fade / 4]) < 0.2 * 0.2);
    // ...and afterwards the residual is exactly the branch, started at the edit.
    for k in fade..branch_alone.len() - 64 {
        assert!(
            (residual[edit + k] - branch_alone[k]).abs() < 1e-5,
            "sample {k} after the edit: {} vs {}",
            residual[edit + k],
            branch_alone[k]
        );
    }
    live.collect_garbage();
}

#[test]
fn replacing_the_node_after_an_oscillator_keeps_its_phase() {
    let before = chain(&[("osc", "sine"), ("level", "gain"), ("out", "output")]);
    let after = chain(&[("osc", "sine"), ("tone", "lowpass"), ("out", "output")]);
    let (mut live, mut runtime) = start(&before);
    let mut out = Vec::new();
    play(&mut runtime, 301, &mut out);
    live.apply(after.clone()).unwrap();
    play(&mut runtime, 450, &mut out);
    // A lowpass run from the start, with the oscillator never interrupted:
    // once the new filter has settled, the live output must match it.
    let reference = render(&after, out.len() as f64 / RATE as f64, 48_000).0;
    let tail = out.len() - 9600..out.len();
    let error = peak(
        &out[tail.clone()]
            .iter()
            .zip(&reference[tail])
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
    );
    assert!(error < 1e-4, "oscillator phase jumped: error {error}");
}

/// The steepest step a sine of this frequency and amplitude makes.
fn sine_slope(freq: f32, amp: f32) -> f32 {
    amp * 2.0 * std::f32::consts::PI * freq / RATE
}

#[test]
fn a_hundred_random_structural_edits_never_click() {
    // A sine through a chain of gains and filters; each edit inserts or
    // removes a stage, reroutes around one, or adds a quiet parallel path.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut stages: Vec<(String, &str, f64)> = Vec::new();
    let mut parallel = false;
    let build = |stages: &[(String, &str, f64)], parallel: bool| {
        let mut patch = Patch::default();
        patch
            .nodes
            .push(Node::new("osc", "sine").with("freq", 440.0).with("amp", 0.5));
        patch.nodes.push(Node::new("out", "output"));
        let mut prev = "osc".to_string();
        for (id, kind, value) in stages {
            let node = match *kind {
                "gain" => Node::new(id, "gain").with("gain", *value),
                _ => Node::new(id, "lowpass").with("cutoff", *value),
            };
            patch.nodes.push(node);
            patch.connect(&format!("{prev}.out"), &format!("{id}.in"));
            prev = id.clone();
        }
        patch.connect(&format!("{prev}.out"), "out.in");
        if parallel {
            patch.nodes.push(Node::new("side", "gain").with("gain", -30.0));
            patch.connect("osc.out", "side.in");
            patch.connect("side.out", "out.in");
        }
        patch
    };
    let (mut live, mut runtime) = start(&build(&stages, parallel));
    let mut out = Vec::new();
    play(&mut runtime, 20, &mut out);
    let mut serial = 0;
    for _ in 0..100 {
        match next(4) {
            0 | 1 if stages.len() < 6 => {
                serial += 1;
                let at = next(stages.len() as u64 + 1) as usize;
                let stage = if next(2) == 0 {
                    (format!("g{serial}"), "gain", -(next(12) as f64))
                } else {
                    (format!("f{serial}"), "lowpass", 4_000.0 + next(8_000) as f64)
                };
                stages.insert(at, stage);
            }
            2 if !stages.is_empty() => {
                let at = next(stages.len() as u64) as usize;
                stages.remove(at);
            }
            _ => parallel = !parallel,
        }
        live.apply(build(&stages, parallel)).unwrap();
        play(&mut runtime, 5 + next(20) as usize, &mut out);
        live.collect_garbage();
    }
    // Stages only attenuate: the loudest signal possible is the bare sine
    // plus the parallel path, and none of its steps can exceed that slope.
    let bound = 1.1 * sine_slope(440.0, 0.5 * (1.0 + 10f32.powf(-30.0 / 20.0)));
    let steepest = out.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
    assert!(
        steepest <= bound,
        "a click: step {steepest} exceeds the signal's own {bound}"
    );
    assert!(rms(&out) > 0.1, "the sine kept playing");
}

#[test]
fn a_bad_edit_changes_nothing() {
    let (mut live, mut runtime) = start(&echo_patch());
    let mut out = Vec::new();
    play(&mut runtime, 10, &mut out);
    let mut broken = echo_patch();
    broken.connect("echo.out", "osc.fm"); // fine: through the delay
    broken.nodes.push(Node::new("loop", "gain"));
    broken.connect("loop.out", "loop.in"); // a loop with no delay
    let err = live.apply(broken).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
    assert_eq!(live.patch(), &echo_patch());
    play(&mut runtime, 10, &mut out);
    assert_eq!(
        out,
        render(&echo_patch(), out.len() as f64 / RATE as f64, 48_000).0
    );
}

#[test]
fn parameter_edits_glide_without_a_swap() {
    let (mut live, mut runtime) = start(&echo_patch());
    let mut edited = echo_patch();
    edited.node_mut("osc").unwrap().params.insert("amp".into(), 0.25);
    edited.node_mut("osc").unwrap().pos = Some([10.0, 20.0]);
    assert_eq!(live.apply(edited).unwrap(), Applied::Params(1));
    let mut out = Vec::new();
    play(&mut runtime, 100, &mut out);
    assert_eq!(live.collect_garbage(), 0, "no schedule was replaced");
    live.set_param("osc", "freq", 330.0).unwrap();
    assert!(live.set_param("osc", "frq", 330.0).is_err());
    assert!(live.set_param("osc", "freq", -5.0).is_err());
    assert!(live.set_param("nope", "freq", 1.0).is_err());
    assert_eq!(live.patch().node("osc").unwrap().params["freq"], 330.0);
}

/// `constant 0.5 -> level (gain) -> out`, and the same with a new 0 dB gain
/// `pre` listed first, which renumbers every node and changes `level`'s
/// input (a crossfade between two identical signals: silent).
fn level_and_pre() -> (Patch, Patch) {
    let mut before = chain(&[("dc", "constant"), ("level", "gain"), ("out", "output")]);
    before.node_mut("dc").unwrap().params.insert("value".into(), 0.5);
    let mut after = before.clone();
    after.nodes.insert(0, Node::new("pre", "gain"));
    after.edges.clear();
    for (from, to) in [
        ("dc.out", "pre.in"),
        ("pre.out", "level.in"),
        ("level.out", "out.in"),
    ] {
        after.connect(from, to);
    }
    (before, after)
}

#[test]
fn a_parameter_set_during_a_crossfade_survives_the_hand_over() {
    let (before, after) = level_and_pre();
    let (mut live, mut runtime) = start(&before);
    let mut out = Vec::new();
    play(&mut runtime, 2, &mut out);
    assert!(matches!(
        live.apply(after).unwrap(),
        Applied::Rebuilt { crossfades: 1, .. }
    ));
    live.set_param("level", "gain", -6.0).unwrap();
    play(&mut runtime, 50, &mut out);
    assert_eq!(live.collect_garbage(), 2, "the crossfade handed over");
    let settled = 0.5 * 10f32.powf(-6.0 / 20.0);
    assert!(
        (out.last().unwrap() - settled).abs() < 1e-4,
        "{}",
        out.last().unwrap()
    );
}

#[test]
fn timed_changes_land_on_their_sample_across_a_structural_edit() {
    let (before, after) = level_and_pre();
    let (mut live, mut runtime) = start(&before);
    let mut out = Vec::new();
    play(&mut runtime, 2, &mut out);
    assert_eq!(live.now(), 128);
    // One change lands while the edit crossfades, one after the hand-over.
    live.set_param_at("level", "gain", -6.0, 300).unwrap();
    live.set_param_at("level", "gain", -12.0, 2000).unwrap();
    assert!(matches!(
        live.apply(after).unwrap(),
        Applied::Rebuilt { crossfades: 1, .. }
    ));
    play(&mut runtime, 50, &mut out);
    assert_eq!(live.collect_garbage(), 2);

    assert!(out[..300].iter().all(|&x| x == 0.5), "untouched before frame 300");
    assert!(out[300] < 0.5, "the glide starts on frame 300: {}", out[300]);
    let settled = 0.5 * 10f32.powf(-6.0 / 20.0);
    assert!(
        (out[1999] - settled).abs() < 1e-4,
        "{} after the first glide",
        out[1999]
    );
    assert!(out[1500..2000].iter().all(|&x| x == out[1999]));
    assert!(out[2000] < out[1999], "the second glide starts on frame 2000");
    assert!((out.last().unwrap() - 0.5 * 10f32.powf(-12.0 / 20.0)).abs() < 1e-4);
}
