//! Recording never loses what it was given: the `record` node's takes equal
//! a render of the same signal sample for sample, survive a disk that
//! stalls, are numbered after what the folder holds, and a folder that
//! cannot be written or a disk that fills up stops the take with an error
//! naming the file while keeping what was written.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use patchbay_core::{CompileOptions, LiveEngine, Node, Patch};
use patchbay_io::disk::{Files, WriteFile};
use patchbay_io::{DiskHost, DiskReport, RenderOptions, SampleFormat, render_with_disk};
use patchbay_nodes::record::readings;

/// A scratch folder, removed when the test ends however it ends.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("record-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// Noise and a sine, panned to stereo: every sample differs from the next.
fn source() -> Patch {
    let mut patch = Patch::default();
    patch
        .nodes
        .push(Node::new("osc", "sine").with("freq", 441.0).with("amp", 0.4));
    patch.nodes.push(Node::new("hiss", "noise").with("amp", 0.2));
    patch.nodes.push(Node::new("pan", "pan").with("pan", 0.3));
    patch.nodes.push(Node::new("out", "output"));
    patch
        .connect("osc.out", "pan.in")
        .connect("hiss.out", "pan.in")
        .connect("pan.out", "out.in");
    patch
}

/// `source` with a recorder on what the output hears.
fn recorded(state: &str, format: f64) -> Patch {
    let mut patch = source();
    let state = ["stop", "arm", "record"]
        .iter()
        .position(|s| *s == state)
        .unwrap() as f64;
    patch.nodes.push(
        Node::new("rec", "record")
            .with("state", state)
            .with("format", format)
            .with_setting("name", "take"),
    );
    patch.connect("pan.out", "rec.in");
    patch
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let samples = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => reader.samples::<i32>().map(|s| s.unwrap() as f32).collect(),
    };
    (spec, samples)
}

fn options(format: SampleFormat, seconds: f64) -> RenderOptions {
    RenderOptions {
        seconds,
        format,
        ..RenderOptions::default()
    }
}

#[test]
fn a_recorded_take_equals_the_rendered_file_sample_for_sample() {
    let dir = temp_dir("roundtrip");
    for (format, choice) in [
        (SampleFormat::F32, 0.0),
        (SampleFormat::I24, 1.0),
        (SampleFormat::I16, 2.0),
    ] {
        let rendered = dir.join(format!("render-{choice}.wav"));
        let mut disk = DiskHost::inline(&*dir);
        render_with_disk(
            &source(),
            patchbay_nodes::registry(),
            &options(format, 1.5),
            &rendered,
            &mut disk,
            &mut |_, _| {},
        )
        .unwrap();
        assert!(disk.finish().is_empty(), "no disk work without a recorder");

        let mut disk = DiskHost::inline(&*dir);
        let ignored = dir.join("ignored.wav");
        render_with_disk(
            &recorded("record", choice),
            patchbay_nodes::registry(),
            &options(format, 1.5),
            &ignored,
            &mut disk,
            &mut |_, _| {},
        )
        .unwrap();
        let reports = disk.finish();
        let take = dir.join(format!("take-{:03}.wav", choice as u32 + 1));
        assert_eq!(
            reports,
            [
                DiskReport::Started {
                    node: "rec".into(),
                    path: take.clone()
                },
                DiskReport::Finished {
                    node: "rec".into(),
                    path: take.clone(),
                    frames: 72_000
                }
            ]
        );
        let (spec_a, a) = read_wav(&rendered);
        let (spec_b, b) = read_wav(&take);
        assert_eq!((spec_b.channels, spec_b.sample_rate), (2, 48_000));
        assert_eq!(
            (spec_a.bits_per_sample, spec_a.sample_format),
            (spec_b.bits_per_sample, spec_b.sample_format)
        );
        assert_eq!(a.len(), b.len());
        assert!(a == b, "{format:?}: the take differs from the render");
        assert!(a.iter().any(|&x| x != 0.0));
    }
}

/// Run a live engine holding `patch` for `blocks`, applying `(block, state)` changes.
fn run_live(patch: Patch, disk: &mut DiskHost, blocks: usize, changes: &[(usize, f64)]) -> LiveEngine {
    let (mut live, mut runtime) =
        LiveEngine::start(patch, patchbay_nodes::registry(), CompileOptions::default()).unwrap();
    disk.start(live.take_disk_jobs()).unwrap();
    for block in 0..blocks {
        for &(_, state) in changes.iter().filter(|(at, _)| *at == block) {
            live.set_param("rec", "state", state).unwrap();
        }
        disk.pump();
        runtime.process_block();
    }
    drop(runtime);
    disk.pump();
    live
}

#[test]
fn takes_are_numbered_after_the_highest_in_the_folder() {
    let dir = temp_dir("numbering");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for existing in [
        "take-001.wav",
        "take-007.wav",
        "take-x.wav",
        "take-0100.txt",
        "other-009.wav",
    ] {
        std::fs::write(dir.join("sub").join(existing), b"").unwrap();
    }
    let mut disk = DiskHost::inline(&*dir);
    // Relative to the patch's folder: `dir`.
    let mut patch = recorded("stop", 0.0);
    patch
        .node_mut("rec")
        .unwrap()
        .settings
        .insert("folder".into(), "sub".into());
    run_live(
        patch,
        &mut disk,
        60,
        &[(10, 2.0), (20, 1.0), (30, 2.0), (45, 0.0)],
    );
    let finished: Vec<(PathBuf, u64)> = disk
        .finish()
        .into_iter()
        .filter_map(|r| match r {
            DiskReport::Finished { path, frames, .. } => Some((path, frames)),
            _ => None,
        })
        .collect();
    let names: Vec<String> = finished
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["take-008.wav", "take-009.wav"]);
    assert_eq!(finished.iter().map(|f| f.1).collect::<Vec<_>>(), [640, 960]);
    for (path, frames) in &finished {
        assert_eq!(read_wav(path).1.len() as u64, frames * 2);
    }
}

#[test]
fn preroll_starts_the_take_with_what_was_heard_while_armed() {
    let dir = temp_dir("preroll");
    let mut disk = DiskHost::inline(&*dir);
    let mut patch = recorded("arm", 0.0);
    // 0.01 s = 480 frames = 7.5 blocks.
    patch
        .node_mut("rec")
        .unwrap()
        .params
        .insert("preroll".into(), 0.01);
    run_live(patch, &mut disk, 40, &[(20, 2.0), (30, 0.0)]);
    let reports = disk.finish();
    assert!(
        matches!(
            &reports[..],
            [
                DiskReport::Started { .. },
                DiskReport::Finished { frames: 1120, .. }
            ]
        ),
        "{reports:?}"
    );
}

#[test]
fn an_unwritable_folder_stops_the_take_with_an_error_naming_it() {
    let dir = temp_dir("unwritable");
    std::fs::write(dir.join("a-file"), b"not a folder").unwrap();
    let mut disk = DiskHost::inline(&*dir);
    let mut patch = recorded("record", 0.0);
    patch
        .node_mut("rec")
        .unwrap()
        .settings
        .insert("folder".into(), "a-file/takes".into());
    let live = run_live(patch, &mut disk, 20, &[]);
    let reports = disk.finish();
    let folder = dir.join("a-file/takes");
    match &reports[..] {
        [DiskReport::Failed { node, message }] => {
            assert_eq!(node, "rec");
            assert!(
                message.contains(&format!("cannot create the take folder {}", folder.display())),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The audio side lost nothing: the disk side kept draining the ring.
    assert_eq!(live.tap("rec").unwrap().snapshot()[readings::LOST_FRAMES], 0.0);
}

/// A disk that fills up after `limit` bytes.
struct FullDisk {
    limit: u64,
}

struct Limited {
    file: std::fs::File,
    limit: u64,
}

impl Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let position = self.file.stream_position()?;
        if position + buf.len() as u64 > self.limit {
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Limited {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(to)
    }
}

impl Files for FullDisk {
    fn create(&self, path: &Path, _replace: bool) -> std::io::Result<Box<dyn WriteFile>> {
        let file = std::fs::File::create(path)?;
        Ok(Box::new(std::io::BufWriter::with_capacity(
            8192,
            Limited {
                file,
                limit: self.limit,
            },
        )))
    }
}

#[test]
fn a_full_disk_ends_the_take_and_keeps_what_was_written() {
    let dir = temp_dir("full");
    let mut disk = DiskHost::inline(&*dir).with_files(Arc::new(FullDisk { limit: 1_000_000 }));
    let live = run_live(recorded("record", 0.0), &mut disk, 48_000 * 3 / 64, &[]);
    let reports = disk.finish();
    let take = dir.join("take-001.wav");
    match &reports[..] {
        [DiskReport::Started { .. }, DiskReport::Failed { message, .. }] => {
            assert!(message.contains(&take.display().to_string()), "{message}");
            assert!(message.contains("No space left on device"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // What the header last counted is there and is the signal: the render's
    // first frames, sample for sample.
    let (_, kept) = read_wav(&take);
    let full = rendered_source(&dir);
    let header_every = (patchbay_io::recorder::HEADER_EVERY_SECONDS * 48_000.0) as usize * 2;
    assert!(
        kept.len() + header_every + 8192 >= 1_000_000 / 4 - 100,
        "kept only {} samples",
        kept.len()
    );
    assert!(kept[..] == full[..kept.len()]);
    assert_eq!(live.tap("rec").unwrap().snapshot()[readings::LOST_FRAMES], 0.0);
}

/// 3 s of `source()` rendered to `render.wav` in `dir`, read back.
fn rendered_source(dir: &Path) -> Vec<f32> {
    let rendered = dir.join("render.wav");
    let mut disk = DiskHost::inline(dir);
    render_with_disk(
        &source(),
        patchbay_nodes::registry(),
        &options(SampleFormat::F32, 3.0),
        &rendered,
        &mut disk,
        &mut |_, _| {},
    )
    .unwrap();
    read_wav(&rendered).1
}

/// A disk that stalls for `stall` at random (seeded) moments, at most
/// `MAX_STALLS` times; `stalls` counts them.
struct SlowDisk {
    stall: Duration,
    stalls: Arc<AtomicU64>,
    seed: u64,
}

const MAX_STALLS: u64 = 40;

struct Stalling {
    file: std::io::BufWriter<std::fs::File>,
    state: u64,
    stall: Duration,
    stalls: Arc<AtomicU64>,
}

impl Write for Stalling {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // xorshift: hound writes a sample at a time, 96 000 a second here;
        // one write in 72 000 stalls: about 40 stalls spread over the minute.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        if self.state.is_multiple_of(72_000) && self.stalls.load(Ordering::Relaxed) < MAX_STALLS {
            self.stalls.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(self.stall);
        }
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Stalling {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(to)
    }
}

impl Files for SlowDisk {
    fn create(&self, path: &Path, _replace: bool) -> std::io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(Stalling {
            file: std::io::BufWriter::with_capacity(4096, std::fs::File::create(path)?),
            state: self.seed | 1,
            stall: self.stall,
            stalls: self.stalls.clone(),
        }))
    }
}

/// Sixty seconds of audio recorded by a disk thread that stalls for 200 ms
/// of audio time at random moments, paced like a sound card. Time runs ten
/// times faster than real (so the test takes six seconds) and the stalls
/// shrink with it to 20 ms: the ring sees exactly what a real-time 200 ms
/// stall does to it.
#[test]
fn a_stalling_disk_loses_nothing_and_the_take_is_bit_exact() {
    const SPEED: f64 = 10.0;
    const SECONDS: usize = 60;
    let dir = temp_dir("slow");
    let stalls = Arc::new(AtomicU64::new(0));
    let slow = SlowDisk {
        stall: Duration::from_secs_f64(0.2 / SPEED),
        stalls: stalls.clone(),
        seed: 0x9E37_79B9_7F4A_7C15,
    };
    let mut disk = DiskHost::threaded(&*dir).with_files(Arc::new(slow));
    let mut patch = recorded("record", 0.0);
    // Mono, so that the output's left channel is exactly what is recorded.
    patch.edges.retain(|e| e.to.node != "rec");
    patch.connect("osc.out", "rec.in");
    patch.nodes.retain(|n| n.id != "pan");
    patch.edges.retain(|e| e.to.node != "pan" && e.from.node != "pan");
    patch.connect("osc.out", "out.in");
    let (mut live, mut runtime) =
        LiveEngine::start(patch, patchbay_nodes::registry(), CompileOptions::default()).unwrap();
    disk.start(live.take_disk_jobs()).unwrap();
    let blocks = SECONDS * 48_000 / 64;
    let block_time = Duration::from_secs_f64(64.0 / 48_000.0 / SPEED);
    let mut heard = Vec::with_capacity(SECONDS * 48_000);
    let started = Instant::now();
    for block in 0..blocks {
        runtime.process_block();
        heard.extend_from_slice(runtime.output()[0]);
        // Pace like a device: never ahead of the clock.
        let due = block_time * (block as u32 + 1);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    live.set_param("rec", "state", 0.0).unwrap();
    runtime.process_block();
    let lost = live.tap("rec").unwrap().snapshot()[readings::LOST_FRAMES];
    drop(runtime);
    live.collect_garbage();
    let reports = disk.finish();
    assert!(
        stalls.load(Ordering::Relaxed) >= 20,
        "the disk stalled only {stalls:?} times"
    );
    assert_eq!(lost, 0.0, "samples lost");
    let take = dir.join("take-001.wav");
    assert!(
        reports.contains(&DiskReport::Finished {
            node: "rec".into(),
            path: take.clone(),
            frames: heard.len() as u64
        }),
        "{reports:?}"
    );
    let (_, recorded) = read_wav(&take);
    assert!(recorded == heard, "the take differs from what was played");
}

/// The disk side away for longer than the ring holds: the frames that did
/// not fit are lost (counted), and written as silence, so everything after
/// them is still at its own time in the take.
#[test]
fn frames_lost_to_a_full_ring_become_silence_and_the_take_keeps_its_timeline() {
    let dir = temp_dir("gap");
    let reference = rendered_source(&dir);

    let (mut live, mut runtime) = LiveEngine::start(
        recorded("record", 0.0),
        patchbay_nodes::registry(),
        CompileOptions::default(),
    )
    .unwrap();
    let mut disk = DiskHost::inline(&*dir);
    disk.start(live.take_disk_jobs()).unwrap();
    let ring_blocks = (patchbay_nodes::record::RING_SECONDS * 48_000.0 / 64.0) as usize;
    let (stalled, total) = (ring_blocks + 100, 3 * 48_000 / 64);
    for block in 0..total {
        // The disk side stalls from the start for 100 blocks more than the ring holds.
        if block >= stalled {
            disk.pump();
        }
        runtime.process_block();
    }
    let lost = live.tap("rec").unwrap().snapshot()[readings::LOST_FRAMES];
    assert_eq!(lost, 100.0 * 64.0);
    drop(runtime);
    disk.pump();
    disk.finish();
    let (_, take) = read_wav(&dir.join("take-001.wav"));
    assert_eq!(take.len(), reference.len(), "the take is as long as the render");
    let gap = 2 * ring_blocks * 64..2 * stalled * 64;
    assert!(
        take[gap.clone()].iter().all(|&x| x == 0.0),
        "lost frames are silence"
    );
    assert!(take[..gap.start] == reference[..gap.start]);
    assert!(
        take[gap.end..] == reference[gap.end..],
        "after the gap, every frame at its time"
    );
}
