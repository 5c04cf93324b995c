//! Playing files end to end: the `player` and `sampler` nodes with their
//! files opened, decoded, converted and streamed by `patchbay_io::playback`,
//! served between blocks as the offline host does.

use std::path::{Path, PathBuf};

use patchbay_core::{CompileOptions, DiskJob, LiveEngine, Node, Patch, Runtime, Schedule, compile, engine};
use patchbay_io::playback::FileReader;
use patchbay_io::{decode, resample};
use patchbay_nodes::playback::FileJob;
use patchbay_tests::*;

const RATE: u32 = 48_000;

fn player(file: &Path) -> Node {
    Node::new("p", "player").with_setting("file", file.display().to_string())
}

fn to_output(node: Node, port: &str) -> Patch {
    let mut patch = Patch::default();
    let id = node.id.clone();
    patch.nodes.push(node);
    patch.nodes.push(Node::new("out", "output"));
    patch.connect(&format!("{id}.{port}"), "out.in");
    patch
}

/// Open every file job (relative paths from the `patches` folder).
fn open(jobs: Vec<DiskJob>) -> Vec<FileReader> {
    jobs.into_iter()
        .map(|job| {
            let job = job.downcast::<FileJob>().expect("a file job");
            FileReader::open(job, &repo("patches")).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// Render `frames` of the left channel, serving the readers before each block.
fn run(runtime: &mut Runtime, readers: &mut [FileReader], frames: usize) -> Vec<f32> {
    let mut left = Vec::with_capacity(frames);
    while left.len() < frames {
        for r in readers.iter_mut() {
            r.service().unwrap_or_else(|e| panic!("{e}"));
        }
        runtime.process_block();
        left.extend_from_slice(runtime.output()[0]);
    }
    left.truncate(frames);
    left
}

fn render(patch: &Patch, frames: usize) -> (Vec<f32>, Vec<FileReader>) {
    let opts = CompileOptions {
        sample_rate: RATE as f32,
        block: 64,
    };
    let plan = compile(patch, patchbay_nodes::registry(), &opts).unwrap_or_else(|e| panic!("{e}"));
    let mut schedule = Schedule::new(&plan);
    let mut readers = open(schedule.take_disk_jobs().into_iter().map(|(_, j)| j).collect());
    let (_engine, mut runtime) = engine(schedule);
    let out = run(&mut runtime, &mut readers, frames);
    (out, readers)
}

/// Frames from the first to the last sample above -60 dBFS.
fn sounding(x: &[f32]) -> usize {
    let loud = |v: &&f32| v.abs() > 1e-3;
    let first = x.iter().position(|v| loud(&v)).unwrap_or(0);
    let last = x.iter().rposition(|v| loud(&v)).unwrap_or(0);
    last + 1 - first
}

#[test]
fn every_format_plays_at_its_pitch_for_its_length() {
    let wav = sine_wav("tone.wav", 44_100, 440.0, 0.5);
    // MP3 may pad by up to a frame of 1152 samples at 44.1 kHz.
    for (file, slack) in [
        (wav, 2),
        (repo("crates/io/tests/data/tone.flac"), 2),
        (repo("crates/io/tests/data/tone.ogg"), 2),
        (repo("crates/io/tests/data/tone.mp3"), 1300),
    ] {
        let (out, readers) = render(&to_output(player(&file), "out"), 36_000);
        assert!(!readers[0].is_streaming());
        let name = file.display();
        let f = peak_frequency(&out[2048..2048 + 16_384], RATE as f32);
        assert!((f - 440.0).abs() < 0.44, "{name}: {f} Hz");
        let length = sounding(&out) as i64;
        assert!((length - 24_000).abs() <= slack, "{name}: {length} frames");
    }
}

#[test]
fn a_44k1_sine_plays_at_48k_within_a_tenth_of_a_percent() {
    let file = sine_wav("khz.wav", 44_100, 1000.0, 1.0);
    let (out, _) = render(&to_output(player(&file), "out"), 40_000);
    let f = peak_frequency(&out[4096..4096 + 32_768], RATE as f32);
    assert!((f - 1000.0).abs() < 1.0, "{f} Hz");
}

/// A 1 kHz sine longer than `PRELOAD_MAX_S`, so it streams.
fn long_file(name: &str) -> PathBuf {
    sine_wav(name, 44_100, 1000.0, patchbay_io::playback::PRELOAD_MAX_S + 1.0)
}

#[test]
fn a_streamed_file_plays_sample_for_sample_what_decoding_gives() {
    let file = long_file("streamed.wav");
    let (out, readers) = render(&to_output(player(&file), "out"), 96_000);
    assert!(readers[0].is_streaming());
    let want = resample(&decode(&file).unwrap(), RATE);
    assert_eq!(out, want.channels[0][..96_000]);
}

#[test]
fn a_streamed_loop_repeats_its_region_exactly() {
    let file = long_file("loop.wav");
    let node = player(&file)
        .with("looping", 1.0)
        .with("start", 1.0)
        .with("end", 1.1);
    let (out, _) = render(&to_output(node, "out"), 48_000);
    // The first pass is the region, converted as if it began from silence.
    let audio = decode(&file).unwrap();
    let region = patchbay_io::Audio {
        sample_rate: 44_100,
        channels: vec![audio.channels[0][44_100..48_510].to_vec()],
    };
    let want = resample(&region, RATE);
    for i in 0..4000 {
        assert!((out[i] - want.channels[0][i]).abs() < 1e-4, "frame {i}");
    }
    // Then it repeats every 4410 frames of the file, 4800 of the engine;
    // the converter runs on across the splice (hence not bit for bit).
    for i in 4800..48_000 - 4800 {
        assert!((out[i] - out[i + 4800]).abs() < 1e-4, "frame {i}");
    }
}

#[test]
fn double_speed_doubles_the_pitch_of_a_streamed_file() {
    let node = player(&long_file("fast.wav")).with("speed", 2.0);
    let (out, _) = render(&to_output(node, "out"), 40_000);
    let f = peak_frequency(&out[4096..4096 + 32_768], RATE as f32);
    assert!((f - 2000.0).abs() < 2.0, "{f} Hz");
}

#[test]
fn a_live_edit_keeps_the_playback_position() {
    let file = long_file("edit.wav");
    let before = to_output(player(&file), "out");
    // Structural, but the master is unchanged: a meter joins the player.
    let mut after = before.clone();
    after.nodes.push(Node::new("m", "meter"));
    after.connect("p.out", "m.in");
    let opts = CompileOptions {
        sample_rate: RATE as f32,
        block: 64,
    };
    let (mut live, mut runtime) = LiveEngine::start(before, patchbay_nodes::registry(), opts).unwrap();
    let jobs = |live: &mut LiveEngine| live.take_disk_jobs().into_iter().map(|(_, j)| j).collect();
    let mut readers = open(jobs(&mut live));
    let mut out = run(&mut runtime, &mut readers, 24_000);
    live.apply(after).unwrap();
    assert!(
        open(jobs(&mut live)).is_empty(),
        "the player was kept, not rebuilt"
    );
    out.extend(run(&mut runtime, &mut readers, 48_000));
    let want = resample(&decode(&file).unwrap(), RATE);
    assert_eq!(out, want.channels[0][..72_000]);
}

#[test]
fn damaged_files_are_refused_naming_node_and_file() {
    let cut = scratch("cut.flac");
    let bytes = std::fs::read(repo("crates/io/tests/data/tone.flac")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let opts = CompileOptions::default();
    let plan = compile(&to_output(player(&cut), "out"), patchbay_nodes::registry(), &opts).unwrap();
    let job = Schedule::new(&plan).take_disk_jobs().pop().unwrap().1;
    let job = job.downcast::<FileJob>().unwrap();
    let err = FileReader::open(job, Path::new("/"))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("`p`") && err.contains("cut.flac") && err.contains("truncated"),
        "{err}"
    );
}

/// `patches/drums.json` with only `voice` reaching the output.
fn drums_solo(voice: &str) -> Patch {
    let mut patch = load("patches/drums.json");
    patch
        .edges
        .retain(|e| e.to.to_string() != "out.in" || e.from.to_string() == format!("{voice}.out"));
    patch
}

/// 120 BPM sixteenths: a step every 6000 frames at 48 kHz.
const STEP: usize = 6000;

#[test]
fn the_drum_kit_hits_on_its_steps() {
    let (full, readers) = render(&load("patches/drums.json"), 16 * STEP);
    assert_eq!(readers.len(), 4, "kick, snare, hat and bass");
    assert!(
        rms(&full) > 0.02 && peak(&full) < 0.5,
        "the kit plays under the limiter"
    );
    for (voice, steps) in [("kick", [1, 5, 9, 13]), ("snare", [5, 13, 5, 13])] {
        let (out, _) = render(&drums_solo(voice), 16 * STEP);
        for step in steps {
            let at = (step - 1) * STEP;
            let hit = rms(&out[at..at + 1000]);
            assert!(hit > 0.01, "{voice} on step {step}: rms {hit}");
            if at > 0 {
                let before = rms(&out[at - 1000..at]);
                assert!(before < hit / 20.0, "{voice} before step {step}: {before}");
            }
        }
        // Nothing where the pattern rests.
        assert!(rms(&out[2 * STEP + 3000..3 * STEP]) < 1e-3, "{voice} on step 3");
    }
}

#[test]
fn the_bass_sampler_plays_the_sequenced_notes() {
    let (out, _) = render(&drums_solo("bass"), 16 * STEP);
    // The pluck is C3 (root 48, 130.81 Hz); step 1 plays note 36, step 7
    // note 48: an octave apart.
    let pitch = |step: usize| {
        let at = (step - 1) * STEP + 500;
        peak_frequency(&out[at..at + 16_384], RATE as f32)
    };
    let (low, high) = (pitch(1), pitch(7));
    assert!((high - 130.81).abs() < 1.5, "note 48: {high} Hz");
    assert!((high / low - 2.0).abs() < 0.02, "note 36: {low} Hz");
}
