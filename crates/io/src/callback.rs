//! The audio callback: fill a device buffer from the shared runtime,
//! convert to the device's sample format, and measure itself. Runs on the
//! audio thread: no allocation, lock, log or panic.

use std::sync::Arc;
use std::time::Instant;

use cpal::{FromSample, SizedSample};

use crate::meters::{CallbackReport, Meters};
use crate::shared::SharedRuntime;

/// Frames converted at a time for devices that do not take f32.
const SCRATCH_FRAMES: usize = 1024;

/// What a driver (device stream or null output) needs to run the runtime:
/// cheap to clone, one per stream opened.
#[derive(Clone)]
pub struct Driver {
    shared: Arc<SharedRuntime>,
    meters: Arc<Meters>,
}

impl Driver {
    /// Drive `shared`, reporting to `meters`.
    pub fn new(shared: Arc<SharedRuntime>, meters: Arc<Meters>) -> Driver {
        Driver { shared, meters }
    }

    /// The meters callbacks report to (for device error callbacks).
    pub fn meters(&self) -> &Arc<Meters> {
        &self.meters
    }

    /// A callback for a stream of `channels` at `rate` Hz (control thread:
    /// allocates its conversion buffer here).
    pub fn callback(&self, channels: usize, rate: u32) -> DeviceCallback {
        let channels = channels.max(1);
        DeviceCallback {
            driver: self.clone(),
            channels,
            ns_per_frame: 1e9 / rate.max(1) as f64,
            scratch: vec![0.0; SCRATCH_FRAMES * channels].into_boxed_slice(),
        }
    }
}

/// Fills interleaved device buffers of any size from the runtime.
pub struct DeviceCallback {
    driver: Driver,
    channels: usize,
    ns_per_frame: f64,
    scratch: Box<[f32]>,
}

impl DeviceCallback {
    /// Channels of the stream.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Fill an f32 buffer (audio thread).
    pub fn fill_f32(&mut self, out: &mut [f32]) {
        let started = Instant::now();
        let (peak, non_finite) = render(&self.driver.shared, out, self.channels);
        self.report(started, out.len(), peak, non_finite);
    }

    /// Fill a buffer of any sample type, converting from f32 through the
    /// preallocated scratch buffer (audio thread).
    pub fn fill<T: SizedSample + FromSample<f32>>(&mut self, out: &mut [T]) {
        let started = Instant::now();
        let (mut peak, mut non_finite) = (0.0f32, None);
        let chunk = self.scratch.len();
        for part in out.chunks_mut(chunk) {
            let scratch = &mut self.scratch[..part.len()];
            let (p, n) = render(&self.driver.shared, scratch, self.channels);
            peak = peak.max(p);
            non_finite = n.or(non_finite);
            for (o, &x) in part.iter_mut().zip(scratch.iter()) {
                *o = T::from_sample(x);
            }
        }
        self.report(started, out.len(), peak, non_finite);
    }

    fn report(&self, started: Instant, samples: usize, peak: f32, non_finite: Option<u64>) {
        let frames = (samples / self.channels) as u64;
        let meters = &self.driver.meters;
        meters.record_callback(CallbackReport {
            frames,
            busy_ns: started.elapsed().as_nanos() as u64,
            budget_ns: (frames as f64 * self.ns_per_frame) as u64,
            peak,
            non_finite_total: non_finite,
        });
    }
}

/// Run the runtime into `out`; silence if another driver holds it. Returns
/// the peak written and the safety stage's non-finite total.
fn render(shared: &SharedRuntime, out: &mut [f32], channels: usize) -> (f32, Option<u64>) {
    let non_finite = shared.with(|runtime| {
        runtime.fill_interleaved(out, channels);
        runtime.safety().non_finite()
    });
    if non_finite.is_none() {
        out.fill(0.0);
    }
    let peak = out.iter().fold(0.0f32, |p, x| p.max(x.abs()));
    (peak, non_finite)
}
