//! The null output: runs the runtime at real-time pace with nowhere to
//! send the sound, so the engine keeps its clock (envelopes, sequencers,
//! recorders, live edits) while the device is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::callback::DeviceCallback;

/// Frames per null "callback": a typical device buffer.
const FRAMES: usize = 256;

/// A thread that pulls buffers from the runtime at the stream's rate.
pub struct NullOutput {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NullOutput {
    /// Start pulling `callback` at `rate` Hz.
    pub fn start(mut callback: DeviceCallback, rate: u32) -> NullOutput {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("patchbay-null-output".into())
            .spawn(move || {
                let mut buffer = vec![0.0f32; FRAMES * callback.channels()];
                let period = Duration::from_secs_f64(FRAMES as f64 / rate.max(1) as f64);
                let mut next = Instant::now();
                while !stopped.load(Ordering::Relaxed) {
                    callback.fill_f32(&mut buffer);
                    next += period;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else if now - next > Duration::from_millis(500) {
                        // Far behind (the machine was suspended): skip ahead
                        // rather than rush to catch up.
                        next = now;
                    }
                }
            })
            .ok();
        NullOutput { stop, thread }
    }
}

impl Drop for NullOutput {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
