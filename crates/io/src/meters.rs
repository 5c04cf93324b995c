//! What the audio side tells the control side about playback: callback
//! load, xruns, peak level, non-finite samples, device faults. The audio
//! thread only adds to and maxes atomics; the control thread reads them.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters shared between the drivers of a runtime and the control side.
#[derive(Debug, Default)]
pub struct Meters {
    callbacks: AtomicU64,
    frames: AtomicU64,
    /// Nanoseconds spent inside callbacks.
    busy_ns: AtomicU64,
    /// Nanoseconds of audio those callbacks produced.
    budget_ns: AtomicU64,
    /// Largest single-callback load since the last status, in 1/1000.
    max_load_permille: AtomicU32,
    /// Largest absolute sample since the last status (f32 bits: for
    /// non-negative floats the integer order is the float order).
    peak_bits: AtomicU32,
    /// Total non-finite samples the safety stage has replaced.
    non_finite: AtomicU64,
    xruns: AtomicU64,
    faults: AtomicU64,
    /// Set by a device's error callback; the control thread takes it.
    fault_pending: AtomicBool,
    fault_message: Mutex<Option<String>>,
}

/// One callback's measurements.
#[derive(Clone, Copy, Debug)]
pub struct CallbackReport {
    /// Frames produced.
    pub frames: u64,
    /// Time spent producing them.
    pub busy_ns: u64,
    /// Their duration at the stream's rate.
    pub budget_ns: u64,
    /// Largest absolute sample written.
    pub peak: f32,
    /// The safety stage's running total of non-finite samples (`None`:
    /// the runtime was busy, unknown this time).
    pub non_finite_total: Option<u64>,
}

/// Cumulative totals, read by the control side.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Callbacks run (device and null output together).
    pub callbacks: u64,
    /// Frames produced.
    pub frames: u64,
    /// Nanoseconds spent in callbacks.
    pub busy_ns: u64,
    /// Nanoseconds of audio produced.
    pub budget_ns: u64,
    /// Buffer under- or overruns the device reported.
    pub xruns: u64,
    /// Device errors other than xruns.
    pub faults: u64,
    /// Non-finite samples replaced by silence.
    pub non_finite: u64,
}

impl Meters {
    /// A cpal stream's error handler that counts into `meters`: xruns, and
    /// faults for the control thread to report. It runs on the backend's
    /// thread, not in the data callback.
    pub fn stream_error_handler(meters: Arc<Meters>) -> impl FnMut(cpal::Error) + Send + 'static {
        move |err: cpal::Error| match err.kind() {
            cpal::ErrorKind::Xrun => meters.record_xrun(),
            cpal::ErrorKind::RealtimeDenied | cpal::ErrorKind::DeviceChanged => {}
            _ => meters.record_fault(err.to_string()),
        }
    }

    /// Record one callback (audio thread: atomics only).
    pub fn record_callback(&self, report: CallbackReport) {
        self.callbacks.fetch_add(1, Ordering::Relaxed);
        self.frames.fetch_add(report.frames, Ordering::Relaxed);
        self.busy_ns.fetch_add(report.busy_ns, Ordering::Relaxed);
        self.budget_ns.fetch_add(report.budget_ns, Ordering::Relaxed);
        let load = (report.busy_ns.saturating_mul(1000) / report.budget_ns.max(1)).min(u32::MAX as u64);
        self.max_load_permille.fetch_max(load as u32, Ordering::Relaxed);
        self.peak_bits
            .fetch_max(report.peak.abs().to_bits(), Ordering::Relaxed);
        if let Some(total) = report.non_finite_total {
            self.non_finite.store(total, Ordering::Relaxed);
        }
    }

    /// A buffer under- or overrun (device error callback).
    pub fn record_xrun(&self) {
        self.xruns.fetch_add(1, Ordering::Relaxed);
    }

    /// The device failed (device error callback, not the data callback:
    /// the message is kept for the control thread to print; if the slot is
    /// busy this one is dropped, the first is what matters).
    pub fn record_fault(&self, message: String) {
        self.faults.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut slot) = self.fault_message.try_lock()
            && slot.is_none()
        {
            *slot = Some(message);
        }
        self.fault_pending.store(true, Ordering::Release);
    }

    /// The pending device fault, if any, clearing it (control thread).
    pub fn take_fault(&self) -> Option<String> {
        if !self.fault_pending.swap(false, Ordering::Acquire) {
            return None;
        }
        let message = self.fault_message.lock().ok().and_then(|mut m| m.take());
        Some(message.unwrap_or_else(|| "the audio device failed".to_string()))
    }

    /// Forget a pending fault (after the failed stream is gone).
    pub fn clear_fault(&self) {
        self.take_fault();
    }

    /// Cumulative totals.
    pub fn totals(&self) -> Totals {
        Totals {
            callbacks: self.callbacks.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            busy_ns: self.busy_ns.load(Ordering::Relaxed),
            budget_ns: self.budget_ns.load(Ordering::Relaxed),
            xruns: self.xruns.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            non_finite: self.non_finite.load(Ordering::Relaxed),
        }
    }

    /// Largest absolute sample since the last call, and reset it.
    pub fn take_peak(&self) -> f32 {
        f32::from_bits(self.peak_bits.swap(0, Ordering::Relaxed))
    }

    /// Largest single-callback load since the last call, and reset it.
    pub fn take_max_load(&self) -> f64 {
        self.max_load_permille.swap(0, Ordering::Relaxed) as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_and_loads_are_maxima_and_reset_when_read() {
        let meters = Meters::default();
        for (peak, busy) in [(0.5, 100), (0.25, 700), (-0.75, 200)] {
            meters.record_callback(CallbackReport {
                frames: 64,
                busy_ns: busy,
                budget_ns: 1000,
                peak,
                non_finite_total: Some(3),
            });
        }
        assert_eq!(meters.take_peak(), 0.75);
        assert_eq!(meters.take_peak(), 0.0);
        assert_eq!(meters.take_max_load(), 0.7);
        let totals = meters.totals();
        assert_eq!((totals.callbacks, totals.frames, totals.busy_ns), (3, 192, 1000));
        assert_eq!(totals.non_finite, 3);
    }

    #[test]
    fn a_fault_is_taken_once() {
        let meters = Meters::default();
        meters.record_fault("gone".into());
        meters.record_fault("still gone".into());
        assert_eq!(meters.take_fault().as_deref(), Some("gone"));
        assert_eq!(meters.take_fault(), None);
        assert_eq!(meters.totals().faults, 2);
    }
}
