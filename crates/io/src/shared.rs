//! Hand the one [`Runtime`] between whoever drives it: the device's audio
//! callback, or the null output while the device is gone. ([`Shared`] does
//! the same for any audio-side state that outlives a stream: a live
//! input's list of the rings it feeds.)
//!
//! The runtime sits behind an atomic pointer. A driver takes it (swaps in
//! null), runs it, and puts it back: no lock, no allocation, never waits.
//! Should two drivers ever overlap (for a moment while the control thread
//! switches from a failed device to the null output), the one that finds
//! the slot empty plays silence for that buffer instead of blocking.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use patchbay_core::Runtime;

/// The runtime, shared by the drivers that take turns running it.
pub type SharedRuntime = Shared<Runtime>;

/// A value that one thread at a time may use, wait-free.
pub struct Shared<T> {
    slot: AtomicPtr<T>,
}

impl<T: Send> Shared<T> {
    /// Share `value` (control thread).
    pub fn new(value: T) -> Shared<T> {
        Shared {
            slot: AtomicPtr::new(Box::into_raw(Box::new(value))),
        }
    }

    /// Run `f` on the value, unless another thread holds it right now
    /// (then `None`). Wait-free; allocates nothing.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let taken = self.slot.swap(ptr::null_mut(), Ordering::Acquire);
        if taken.is_null() {
            return None;
        }
        /// Puts the value back even if `f` unwinds.
        struct PutBack<'a, T>(&'a AtomicPtr<T>, *mut T);
        impl<T> Drop for PutBack<'_, T> {
            fn drop(&mut self) {
                self.0.store(self.1, Ordering::Release);
            }
        }
        let back = PutBack(&self.slot, taken);
        // SAFETY: the pointer came from `Box::into_raw` and, having swapped
        // it out of the slot, this call is its only user until `back`
        // stores it again.
        Some(f(unsafe { &mut *back.1 }))
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        let value = self.slot.swap(ptr::null_mut(), Ordering::Acquire);
        if !value.is_null() {
            // SAFETY: from `Box::into_raw`; no one holds it (we have
            // `&mut self`, so no `with` call is running).
            drop(unsafe { Box::from_raw(value) });
        }
    }
}

// SAFETY: `T` is `Send`; the slot gives it to one thread at a time.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above: `with` hands out the value exclusively.
unsafe impl<T: Send> Sync for Shared<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use patchbay_core::{CompileOptions, LiveEngine, Patch};

    #[test]
    fn a_second_driver_finds_the_runtime_busy() {
        let (_live, runtime) = LiveEngine::start(
            Patch::default(),
            patchbay_nodes::registry(),
            CompileOptions::default(),
        )
        .unwrap();
        let shared = SharedRuntime::new(runtime);
        let inner = shared.with(|_| shared.with(|_| ()));
        assert_eq!(inner, Some(None));
        assert_eq!(shared.with(|_| 7), Some(7));
    }
}
