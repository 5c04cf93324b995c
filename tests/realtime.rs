//! The audio thread's rule, enforced: the engine's whole process path —
//! draining parameter commands and schedule swaps, running every node kind
//! of the library, the live engine's crossfaded structural swaps and their
//! hand-over, the safety stage, and handing blocks to a host — allocates
//! nothing.
//!
//! The test binary's allocator counts (de)allocations made inside
//! `assert_no_alloc`; any count above zero fails the test.

use assert_no_alloc::{AllocDisabler, assert_no_alloc, reset_violation_count, violation_count};
use patchbay_core::{
    Applied, Channels, Command, CompileOptions, LiveEngine, Node, Patch, Schedule, Unit, compile, engine,
};

#[cfg(debug_assertions)]
#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

/// One node of every kind, each input fed by a sine and its first
/// parameter driven by a slow sine, all outputs summed into the output.
fn every_kind_patch(freq: f64) -> Patch {
    let registry = patchbay_nodes::registry();
    let mut patch = Patch::default();
    patch
        .nodes
        .push(Node::new("src", "sine").with("freq", freq).with("amp", 0.5));
    patch.nodes.push(Node::new("lfo", "sine").with("freq", 0.5));
    patch.nodes.push(Node::new("out", "output"));
    for d in registry.kinds().into_iter().filter(|d| d.kind != "output") {
        let id = format!("n_{}", d.kind);
        patch.nodes.push(Node::new(&id, d.kind));
        for input in d.inputs {
            patch.connect("src.out", &format!("{id}.{}", input.name));
        }
        if let Some(param) = d.params.iter().find(|p| p.unit != Unit::Choice) {
            patch.connect("lfo.out", &format!("{id}.{}", param.name));
        }
        // Outputs up to stereo reach the output node; wider ones run as sinks.
        if let Some(output) = d.outputs.first()
            && !matches!(output.channels, Channels::Fixed(n) if n > 2)
        {
            patch.connect(&format!("{id}.{}", output.name), "out.in");
        }
    }
    // A chain nothing drives: it comes to rest and folds, and the changes
    // below wake it.
    patch
        .nodes
        .push(Node::new("held", "constant").with("value", 0.25));
    patch.nodes.push(Node::new("held_gain", "gain"));
    patch.nodes.push(Node::new("held_pan", "pan"));
    patch.connect("held.out", "held_gain.in");
    patch.connect("held_gain.out", "held_pan.in");
    patch.connect("held_pan.out", "out.in");
    patch
}

#[test]
fn the_process_path_never_allocates() {
    let registry = patchbay_nodes::registry();
    let opts = CompileOptions::default();
    let first = compile(&every_kind_patch(220.0), registry, &opts).unwrap_or_else(|e| panic!("{e}"));
    let second = compile(&every_kind_patch(330.0), registry, &opts).unwrap();
    let (mut engine, mut runtime) = engine(Schedule::new(&first));

    // Commands are queued on the control side (which may allocate), then
    // drained and applied on the "audio thread" under the guard.
    for node in 0..first.nodes.len() as u32 {
        for param in 0..first.nodes[node as usize].params.len() as u32 {
            engine
                .send(Command::SetParam {
                    node,
                    param,
                    value: 0.3,
                })
                .unwrap();
        }
    }
    // Timed changes for every parameter, more than can wait at once: some
    // inside blocks, some applied early, the rest dropped at the swap (the
    // raw schedule carries no renumbering).
    let mut at = 0;
    for round in 0..6 {
        for node in 0..first.nodes.len() as u32 {
            for param in 0..first.nodes[node as usize].params.len() as u32 {
                at += 37;
                let value = 0.1 * round as f32;
                engine
                    .send(Command::SetParamAt {
                        node,
                        param,
                        value,
                        at,
                    })
                    .unwrap();
            }
        }
    }
    let swap = Box::new(Schedule::new(&second));
    let mut host = vec![0.0f32; 2 * 1000];

    reset_violation_count();
    assert_no_alloc(|| {
        for _ in 0..200 {
            runtime.process_block();
        }
    });
    engine.send(Command::Swap(swap)).unwrap();
    assert_no_alloc(|| {
        // Host callbacks of sizes that do not divide the block size.
        for frames in [1000, 37, 512, 1] {
            runtime.fill_interleaved(&mut host[..frames * 2], 2);
        }
    });
    assert_eq!(violation_count(), 0, "the audio thread allocated");
    let held_pan = second.node_index("held_pan").unwrap();
    assert!(runtime.schedule().is_skipped(held_pan), "the held chain folded");
    assert!(engine.early_changes() > 0, "the waiting list was full at times");
    assert_eq!(engine.collect_garbage(), 1, "the replaced schedule came back");
    assert!(host.iter().all(|x| x.is_finite()));
}

#[test]
fn live_structural_edits_and_the_safety_stage_never_allocate() {
    let registry = patchbay_nodes::registry();
    let (mut live, mut runtime) =
        LiveEngine::start(every_kind_patch(220.0), registry, CompileOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
    // A structural edit that changes what reaches the output, boosted far
    // over full scale so the safety limiter works throughout.
    let mut edited = every_kind_patch(220.0);
    edited.nodes.push(Node::new("boost", "gain").with("gain", 24.0));
    edited.connect("src.out", "boost.in");
    edited.connect("boost.out", "out.in");
    let mut host = vec![0.0f32; 2 * 300];

    reset_violation_count();
    assert_no_alloc(|| {
        for _ in 0..20 {
            runtime.fill_interleaved(&mut host, 2);
        }
    });
    // The control side diffs and compiles (allocating, as it may) ...
    let applied = live.apply(edited).unwrap();
    assert!(
        matches!(applied, Applied::Rebuilt { crossfades, .. } if crossfades > 0),
        "{applied:?}"
    );
    live.set_param("boost", "gain", 18.0).unwrap();
    // Timed changes waiting across the crossfade and its hand-over.
    let now = live.now();
    for (k, id) in ["boost", "n_lowpass", "n_gain", "src"].into_iter().enumerate() {
        let kind = &live.patch().node(id).unwrap().kind;
        let spec = &registry.get(kind).unwrap().params[0];
        live.set_param_at(id, spec.name, spec.min, now + 100 + 300 * k as u64)
            .unwrap();
    }
    // ... the audio side swaps, crossfades, hands over and limits without.
    let mut peak = 0.0f32;
    assert_no_alloc(|| {
        for _ in 0..40 {
            runtime.fill_interleaved(&mut host, 2);
            peak = host.iter().fold(peak, |p, x| p.max(x.abs()));
        }
    });
    assert_eq!(violation_count(), 0, "the audio thread allocated");
    assert_eq!(
        live.collect_garbage(),
        2,
        "the original and the crossfade schedules came back"
    );
    assert!(runtime.safety().gain() < 0.5, "the limiter was not engaged");
    assert!(peak <= 10f32.powf(patchbay_core::DEFAULT_CEILING_DB / 20.0));
}

/// The file nodes with their files: a streamed player looping a region and
/// retriggered by a clock (so stale stream frames are dropped), a preloaded
/// one at a gliding speed, stopped and started by commands, and a sampler
/// retriggered with changing notes. Their readers are served between blocks,
/// outside the guard, as a host's reader thread would.
#[test]
fn file_nodes_never_allocate_while_streaming_looping_or_retriggered() {
    use patchbay_io::playback::FileReader;
    use patchbay_nodes::playback::FileJob;

    let long = patchbay_tests::sine_wav(
        "rt-long.wav",
        44_100,
        500.0,
        patchbay_io::playback::PRELOAD_MAX_S + 1.0,
    );
    let mut patch = Patch::default();
    for node in [
        Node::new("fast", "clock")
            .with("bpm", 600.0)
            .with("division", 4.0),
        Node::new("notes", "sequencer")
            .with("pitch2", 72.0)
            .with("pitch3", 50.0),
        Node::new("long", "player")
            .with("looping", 1.0)
            .with("start", 2.0)
            .with("end", 2.05)
            .with_setting("file", long.display().to_string()),
        Node::new("short", "player")
            .with("looping", 1.0)
            .with("speed", 1.5)
            .with_setting("file", "crates/io/tests/data/tone.flac"),
        Node::new("kick", "sampler").with_setting("file", "patches/samples/kick.flac"),
        Node::new("out", "output"),
    ] {
        patch.nodes.push(node);
    }
    for (from, to) in [
        ("fast.out", "notes.clock"),
        ("fast.out", "long.trig"),
        ("notes.gate", "kick.gate"),
        ("notes.pitch", "kick.note"),
        ("long.out", "out.in"),
        ("short.out", "out.in"),
        ("kick.out", "out.in"),
    ] {
        patch.connect(from, to);
    }
    let plan = compile(&patch, patchbay_nodes::registry(), &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut schedule = Schedule::new(&plan);
    let mut readers: Vec<FileReader> = schedule
        .take_disk_jobs()
        .into_iter()
        .map(|(_, job)| {
            let job = job.downcast::<FileJob>().expect("a file job");
            FileReader::open(job, &patchbay_tests::repo("")).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    assert_eq!(readers.iter().filter(|r| r.is_streaming()).count(), 1);
    let (mut engine, mut runtime) = engine(schedule);
    let short = plan.node_index("short").unwrap() as u32;
    let mut peak = 0.0f32;
    reset_violation_count();
    for block in 0..3000 {
        for r in &mut readers {
            r.service().unwrap_or_else(|e| panic!("{e}"));
        }
        if block % 500 == 250 {
            // Stop, then play again 250 blocks later; and a new speed.
            let play = (block / 500 % 2) as f32;
            engine
                .send(Command::SetParam {
                    node: short,
                    param: 0,
                    value: play,
                })
                .unwrap();
            engine
                .send(Command::SetParam {
                    node: short,
                    param: 4,
                    value: 0.5 + play,
                })
                .unwrap();
        }
        assert_no_alloc(|| runtime.process_block());
        peak = runtime.output()[0].iter().fold(peak, |p, x| p.max(x.abs()));
    }
    assert_eq!(violation_count(), 0, "the audio thread allocated");
    assert!(peak > 0.3, "the files played: peak {peak}");
}

/// Live input: a device callback (i16 samples, mono device) feeding two
/// input nodes and a recording through the input hub, the nodes played
/// and the master heard by a recording's output listener, all on the
/// "audio thread"; one input node rebuilt meanwhile (its old ring let go
/// by the hub, the new one taken in).
#[test]
fn live_input_and_master_recording_never_allocate() {
    use patchbay_io::input::{Recording, hub};
    use patchbay_nodes::input::InputJob;
    use patchbay_nodes::record::Encoding;

    let mut patch = Patch::default();
    patch.nodes.push(Node::new("mic", "input").with("channels", 1.0));
    patch.nodes.push(Node::new("pair", "input").with("channels", 2.0));
    patch.nodes.push(Node::new("out", "output"));
    patch.connect("mic.out", "out.in");
    patch.connect("pair.out", "out.in");
    let (mut live, mut runtime) = LiveEngine::start(
        patch.clone(),
        patchbay_nodes::registry(),
        CompileOptions::default(),
    )
    .unwrap();
    let (mut control, mut hub) = hub();
    let add_inputs = |live: &mut LiveEngine, control: &mut patchbay_io::input::HubControl| {
        for (_, job) in live.take_disk_jobs() {
            let job = job.downcast::<InputJob>().expect("an input job");
            job.set_live();
            control.add(Box::new(job)).unwrap();
        }
    };
    add_inputs(&mut live, &mut control);
    let dir = patchbay_tests::scratch("rt-input");
    let (device_take, _device_job) = Recording::to_file(2, 48_000, dir.join("unused.wav"), Encoding::F32);
    control.add(Box::new(device_take)).unwrap();
    let (mut master, _master_job) =
        Recording::to_file(2, 48_000, dir.join("unused-master.wav"), Encoding::F32);
    runtime.set_output_listener(Box::new(move |[left, right]| {
        use patchbay_io::input::Capture;
        let mut frames = [0.0f32; 2 * 64];
        for (k, frame) in frames.chunks_exact_mut(2).enumerate().take(left.len()) {
            frame.copy_from_slice(&[left[k], right[k]]);
        }
        master.capture(&frames[..2 * left.len()]);
    }));
    let device: Vec<i16> = (0..256)
        .map(|k| ((k as f32 * 0.05).sin() * 16_000.0) as i16)
        .collect();
    let mut host = vec![0.0f32; 2 * 256];
    let mut peak = 0.0f32;
    reset_violation_count();
    for round in 0..200 {
        if round == 100 {
            let mut wider = patch.clone();
            wider
                .node_mut("mic")
                .unwrap()
                .params
                .insert("channels".into(), 2.0);
            live.apply(wider).unwrap();
            add_inputs(&mut live, &mut control);
        }
        assert_no_alloc(|| {
            hub.feed(&device, 1);
            runtime.fill_interleaved(&mut host, 2);
        });
        peak = host.iter().fold(peak, |p, x| p.max(x.abs()));
        control.collect_garbage();
        live.collect_garbage();
    }
    assert_eq!(violation_count(), 0, "the audio thread allocated");
    assert!(peak > 0.5, "the input was heard: peak {peak}");
    let _ = std::fs::remove_dir_all(dir);
}
