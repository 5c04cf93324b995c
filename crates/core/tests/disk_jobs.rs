//! Disk jobs: a processor's ring ends reach the host once, right after the
//! processor is built; a node kept across a live edit keeps its job (a take
//! goes on through the swap), a node rebuilt (new settings, new channel
//! count) or removed abandons its ring, which the job sees.

mod common;

use common::patch;
use patchbay_core::{
    CompileOptions, DiskJob, LiveEngine, Node, NodeDescriptor, ParamSpec, Patch, PortSpec, ProcessIo,
    Processor, Registry, Runtime, SettingKind, SettingSpec, no_latency,
};

/// Streams its input's first channel to the host; the job is the far end.
static TAPE: NodeDescriptor = NodeDescriptor {
    kind: "tape",
    category: "test",
    summary: "Pushes every input sample into a ring the host drains.",
    inputs: &[PortSpec::audio("in", "signal").follows()],
    outputs: &[],
    params: &[ParamSpec::new("width", 1.0, 8.0, 1.0).smoothing(0.0)],
    settings: &[SettingSpec::new("reel", SettingKind::Name, "a")],
    channels_param: Some("width"),
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| {
        let (producer, consumer) = rtrb::RingBuffer::new(1 << 16);
        Box::new(Tape {
            producer,
            job: Some(TapeJob {
                reel: ctx.setting(0).to_string(),
                channels: ctx.channels,
                samples: consumer,
            }),
        })
    },
};

struct TapeJob {
    reel: String,
    channels: usize,
    samples: rtrb::Consumer<f32>,
}

struct Tape {
    producer: rtrb::Producer<f32>,
    job: Option<TapeJob>,
}

impl Processor for Tape {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for &x in io.input(0, 0) {
            let _ = self.producer.push(x);
        }
    }

    fn disk_job(&mut self) -> Option<DiskJob> {
        self.job.take().map(DiskJob::new)
    }
}

fn registry() -> Registry {
    let mut r = common::registry();
    r.add(&TAPE);
    r
}

fn tape_patch(value: f64, reel: &str) -> Patch {
    patch(
        vec![
            Node::new("dc", "dc").with("value", value),
            Node::new("tape", "tape").with_setting("reel", reel),
        ],
        &[("dc.out", "tape.in")],
    )
}

fn jobs(live: &mut LiveEngine) -> Vec<(String, TapeJob)> {
    live.take_disk_jobs()
        .into_iter()
        .map(|(id, job)| (id, job.downcast::<TapeJob>().expect("a tape job")))
        .collect()
}

fn run(runtime: &mut Runtime, blocks: usize) {
    for _ in 0..blocks {
        runtime.process_block();
    }
}

fn drain(job: &mut TapeJob) -> Vec<f32> {
    let mut out = Vec::new();
    while let Ok(x) = job.samples.pop() {
        out.push(x);
    }
    out
}

#[test]
fn a_kept_node_keeps_its_job_through_live_edits() {
    let (mut live, mut runtime) =
        LiveEngine::start(tape_patch(0.25, "a"), &registry(), CompileOptions::default()).unwrap();
    let mut started = jobs(&mut live);
    assert_eq!(started.len(), 1);
    let (id, mut job) = started.pop().unwrap();
    assert_eq!((id.as_str(), job.reel.as_str(), job.channels), ("tape", "a", 1));
    assert!(jobs(&mut live).is_empty(), "a job is handed over once");
    run(&mut runtime, 10);

    // A structural edit (a gain in the path) that keeps the tape node.
    let mut edited = tape_patch(0.25, "a");
    edited.nodes.push(Node::new("g", "gain").with("gain", 1.0));
    edited.edges.clear();
    edited.connect("dc.out", "g.in").connect("g.out", "tape.in");
    live.apply(edited).unwrap();
    assert!(jobs(&mut live).is_empty(), "the kept tape is not built again");
    run(&mut runtime, 20);
    live.collect_garbage();
    let samples = drain(&mut job);
    assert_eq!(samples.len(), 30 * 64, "every block reached the same ring");
    assert!(!job.samples.is_abandoned());

    // New settings rebuild the node: a new job, the old ring abandoned.
    live.apply(tape_patch(0.25, "b")).unwrap();
    let mut rebuilt = jobs(&mut live);
    assert_eq!(rebuilt.len(), 1);
    let (_, mut job_b) = rebuilt.pop().unwrap();
    assert_eq!(job_b.reel, "b");
    run(&mut runtime, 10);
    live.collect_garbage();
    assert!(job.samples.is_abandoned(), "the replaced tape let go of its ring");
    assert!(!drain(&mut job_b).is_empty());

    // A channel count set by a parameter rebuilds too.
    let mut wide = tape_patch(0.25, "b");
    wide.node_mut("tape").unwrap().params.insert("width".into(), 4.0);
    live.apply(wide).unwrap();
    let (_, job_wide) = jobs(&mut live).pop().expect("a rebuilt tape");
    assert_eq!(job_wide.channels, 4);
    assert_eq!(
        live.plan().nodes[live.plan().node_index("tape").unwrap()].channels,
        4
    );

    // Removing the node abandons its ring.
    live.apply(patch(vec![Node::new("dc", "dc")], &[])).unwrap();
    run(&mut runtime, 10);
    live.collect_garbage();
    assert!(job_wide.samples.is_abandoned());
}
