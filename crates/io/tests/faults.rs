//! Device faults: the device fails mid-stream, the player reports it once,
//! the engine keeps running on the null output (blocks keep advancing at
//! real-time pace, live edits still apply), and playback returns to the
//! device when it can be opened again. The "device" here is a test output
//! that pulls from the callback on its own thread, as a sound card would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use patchbay_core::{CompileOptions, LiveEngine, Node, Patch};
use patchbay_io::{DeviceError, Driver, Output, Player, PlayerEvent, Running};

const RATE: u32 = 48_000;

/// A device that can be made to refuse opening.
#[derive(Default)]
struct FlakyDevice {
    refuse_opens: AtomicU32,
    opens: AtomicU32,
}

struct FlakyOutput(Arc<FlakyDevice>);

/// A "stream": a thread pulling 256-frame buffers at real-time pace.
struct Pulling {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running for Pulling {}

impl Drop for Pulling {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Output for FlakyOutput {
    fn describe(&self) -> String {
        "the flaky test device".into()
    }

    fn open(&mut self, rate: u32, driver: &Driver) -> Result<Box<dyn Running>, DeviceError> {
        let refused = self
            .0
            .refuse_opens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err(DeviceError::NotOpened("still unplugged".into()));
        }
        self.0.opens.fetch_add(1, Ordering::Relaxed);
        let mut callback = driver.callback(2, rate);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buffer = vec![0.0f32; 512];
            let period = Duration::from_secs_f64(256.0 / rate as f64);
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                callback.fill_f32(&mut buffer);
                next += period;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        Ok(Box::new(Pulling {
            stop,
            thread: Some(thread),
        }))
    }
}

fn sine(freq: f64) -> Patch {
    let mut patch = Patch::default();
    patch.nodes.push(Node::new("osc", "sine").with("freq", freq));
    patch.nodes.push(Node::new("out", "output"));
    patch.connect("osc.out", "out.in");
    patch
}

/// Poll the player for `time`, returning its events.
fn run_for(player: &mut Player, live: &mut LiveEngine, time: Duration) -> Vec<PlayerEvent> {
    let mut events = Vec::new();
    let until = Instant::now() + time;
    while Instant::now() < until {
        events.extend(player.poll());
        live.collect_garbage();
        std::thread::sleep(Duration::from_millis(5));
    }
    events
}

#[test]
fn a_failed_device_is_reported_once_and_the_engine_keeps_running_until_it_is_back() {
    let device = Arc::new(FlakyDevice::default());
    let options = CompileOptions {
        sample_rate: RATE as f32,
        block: patchbay_core::DEFAULT_BLOCK,
    };
    let (mut live, runtime) = LiveEngine::start(sine(220.0), patchbay_nodes::registry(), options).unwrap();
    let mut player = Player::start(Box::new(FlakyOutput(device.clone())), runtime, RATE).unwrap();
    player.set_retry_interval(Duration::from_millis(100));
    let started = Instant::now();
    assert!(run_for(&mut player, &mut live, Duration::from_millis(200)).is_empty());
    assert!(player.meters().totals().frames > 0, "the device pulls");

    // The device fails (as cpal's error callback reports it, twice) and
    // refuses the next three reopenings.
    device.refuse_opens.store(3, Ordering::Relaxed);
    player.meters().record_fault("device unplugged".into());
    player.meters().record_fault("device unplugged again".into());
    let before = player.meters().totals().frames;
    let events = run_for(&mut player, &mut live, Duration::from_millis(200));
    assert_eq!(
        events,
        [PlayerEvent::DeviceLost {
            device: "the flaky test device".into(),
            message: "device unplugged".into(),
        }],
        "reported once"
    );
    assert!(player.on_null());
    assert!(player.status().on_null);
    // On the null output the runtime keeps running, and live edits apply.
    let during = player.meters().totals().frames;
    assert!(
        during - before > RATE as u64 / 10,
        "blocks stopped: {before} -> {during}"
    );
    live.apply(sine(330.0)).unwrap();

    // Three refused retries at 100 ms, then the device is back.
    let events = run_for(&mut player, &mut live, Duration::from_millis(600));
    assert_eq!(
        events,
        [PlayerEvent::DeviceBack {
            device: "the flaky test device".into()
        }]
    );
    assert!(!player.on_null());
    assert_eq!(device.opens.load(Ordering::Relaxed), 2);
    assert_eq!(device.refuse_opens.load(Ordering::Relaxed), 0);
    run_for(&mut player, &mut live, Duration::from_millis(100));

    // No gap: over the whole run, device and null output together pulled
    // frames at real-time pace.
    let frames = player.meters().totals().frames as f64;
    let pace = frames / (started.elapsed().as_secs_f64() * RATE as f64);
    assert!((0.9..1.05).contains(&pace), "pace {pace:.3}");
    assert_eq!(player.meters().totals().faults, 2);
}
