//! Flush denormals to zero while the audio thread processes: decaying filter
//! and reverb tails would otherwise fall into subnormal floats, which are
//! up to a hundred times slower on x86.

/// Sets the CPU's flush-to-zero mode while alive and restores the previous
/// mode when dropped, so the host thread's state is left as it was found.
/// A guard inside another (blocks inside a host callback) touches neither
/// the control register nor its state: the outer guard marks the thread
/// (a thread-local flag, one load), because even reading the register
/// (`stmxcsr`) is microcoded, slow enough to be a sizable part of a small
/// patch's block.
pub struct FlushToZero {
    #[cfg(target_arch = "x86_64")]
    state: Guard,
}

#[cfg(target_arch = "x86_64")]
enum Guard {
    /// Inside another guard: nothing to undo.
    Nested,
    /// The outermost guard: clears the thread's mark and restores the
    /// register if it wrote it.
    Outer { restore: Option<u32> },
}

#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// Whether a guard is alive on this thread (so the mode is set).
    static FLUSHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl FlushToZero {
    /// Enter flush-to-zero mode.
    #[allow(clippy::new_without_default, reason = "a guard is always created explicitly")]
    #[inline]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if FLUSHING.get() {
                return FlushToZero { state: Guard::Nested };
            }
            FlushToZero {
                state: Guard::Outer {
                    restore: Self::enter(),
                },
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushToZero {}
    }

    /// Set the mode and mark the thread; returns the register to restore,
    /// if it had to be written.
    #[cfg(target_arch = "x86_64")]
    #[cold]
    fn enter() -> Option<u32> {
        FLUSHING.set(true);
        let mut saved: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr read and write the SSE control register
        // of this thread only; FTZ and DAZ change no other behaviour.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack));
            if saved & FTZ_DAZ == FTZ_DAZ {
                return None;
            }
            let mode = saved | FTZ_DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &mode, options(nostack));
        }
        Some(saved)
    }
}

impl Drop for FlushToZero {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if let Guard::Outer { restore } = &self.state {
            FLUSHING.set(false);
            if let Some(saved) = restore {
                // SAFETY: restores the value read in `enter`.
                unsafe {
                    std::arch::asm!("ldmxcsr [{}]", in(reg) saved, options(nostack));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn subnormals_become_zero_inside_the_guard() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        let _guard = super::FlushToZero::new();
        let halved = std::hint::black_box(tiny) * std::hint::black_box(0.5);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(halved, 0.0);
        #[cfg(not(target_arch = "x86_64"))]
        let _ = halved;
    }

    #[cfg(target_arch = "x86_64")]
    fn halved_tiny() -> f32 {
        std::hint::black_box(f32::MIN_POSITIVE) * std::hint::black_box(0.5)
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn an_inner_guard_keeps_the_mode_and_the_outer_one_restores_it() {
        assert_ne!(halved_tiny(), 0.0, "the test thread starts without flush-to-zero");
        {
            let _outer = super::FlushToZero::new();
            {
                let _inner = super::FlushToZero::new();
                assert_eq!(halved_tiny(), 0.0);
            }
            assert_eq!(halved_tiny(), 0.0, "still flushing after the inner guard");
        }
        assert_ne!(halved_tiny(), 0.0, "the thread's own mode is back");
        let _again = super::FlushToZero::new();
        assert_eq!(halved_tiny(), 0.0, "a later guard flushes again");
    }
}
