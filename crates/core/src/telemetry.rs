//! Readings that analysis nodes publish from the audio thread for the
//! control side (meters, scopes, spectra): a [`Tap`] is a fixed array of
//! floats behind a sequence lock. One writer, any number of readers; the
//! writer never waits, readers retry a torn read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// A published array of readings. Its layout is documented by the node
/// kind that publishes it.
#[derive(Debug)]
pub struct Tap {
    /// Even when stable, odd while the writer is updating.
    sequence: AtomicU64,
    values: Box<[AtomicU32]>,
}

impl Tap {
    /// A tap of `len` readings, all zero (control thread: allocates).
    pub fn new(len: usize) -> Arc<Tap> {
        Arc::new(Tap {
            sequence: AtomicU64::new(0),
            values: (0..len).map(|_| AtomicU32::new(0)).collect(),
        })
    }

    /// Number of readings.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True for a tap of no readings.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Publish `values` (audio thread: wait-free, never allocates). Extra
    /// values are ignored; missing ones keep their last reading.
    pub fn publish(&self, values: &[f32]) {
        let s = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        for (slot, v) in self.values.iter().zip(values) {
            slot.store(v.to_bits(), Ordering::Relaxed);
        }
        self.sequence.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Copy the latest consistent readings into `out` (control thread);
    /// returns how many times they have been published.
    pub fn read(&self, out: &mut [f32]) -> u64 {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            for (o, slot) in out.iter_mut().zip(self.values.iter()) {
                *o = f32::from_bits(slot.load(Ordering::Relaxed));
            }
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) == before {
                return before / 2;
            }
        }
    }

    /// The latest readings as a new vector (control thread).
    pub fn snapshot(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.read(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_never_see_a_torn_update() {
        let tap = Tap::new(64);
        let writer = {
            let tap = tap.clone();
            std::thread::spawn(move || {
                let mut values = [0.0f32; 64];
                for i in 1..=20_000 {
                    values.fill(i as f32);
                    tap.publish(&values);
                }
            })
        };
        let mut out = [0.0f32; 64];
        let mut last = 0;
        while !writer.is_finished() {
            let count = tap.read(&mut out);
            assert!(out.iter().all(|&v| v == out[0]), "torn read: {out:?}");
            assert!(count >= last);
            last = count;
        }
        writer.join().unwrap();
        assert_eq!(tap.read(&mut out), 20_000);
        assert_eq!(out[63], 20_000.0);
    }
}
