//! Hand the one [`Runtime`] between whoever drives it: the device's audio
//! callback, or the null output while the device is gone.
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
pub struct SharedRuntime {
    slot: AtomicPtr<Runtime>,
}

impl SharedRuntime {
    /// Share `runtime` (control thread).
    pub fn new(runtime: Runtime) -> SharedRuntime {
        SharedRuntime {
            slot: AtomicPtr::new(Box::into_raw(Box::new(runtime))),
        }
    }

    /// Run `f` on the runtime, unless another driver holds it right now
    /// (then `None`). Wait-free; allocates nothing.
    pub fn with<R>(&self, f: impl FnOnce(&mut Runtime) -> R) -> Option<R> {
        let taken = self.slot.swap(ptr::null_mut(), Ordering::Acquire);
        if taken.is_null() {
            return None;
        }
        /// Puts the runtime back even if `f` unwinds.
        struct PutBack<'a>(&'a AtomicPtr<Runtime>, *mut Runtime);
        impl Drop for PutBack<'_> {
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

impl Drop for SharedRuntime {
    fn drop(&mut self) {
        let runtime = self.slot.swap(ptr::null_mut(), Ordering::Acquire);
        if !runtime.is_null() {
            // SAFETY: from `Box::into_raw`; no driver holds it (we have
            // `&mut self`, so no `with` call is running).
            drop(unsafe { Box::from_raw(runtime) });
        }
    }
}

// SAFETY: the runtime is `Send`; the slot gives it to one thread at a time.
unsafe impl Send for SharedRuntime {}
// SAFETY: as above: `with` hands out the runtime exclusively.
unsafe impl Sync for SharedRuntime {}

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
