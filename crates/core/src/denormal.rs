//! Flush denormals to zero while the audio thread processes: decaying filter
//! and reverb tails would otherwise fall into subnormal floats, which are
//! up to a hundred times slower on x86.

/// Sets the CPU's flush-to-zero mode while alive and restores the previous
/// mode when dropped, so the host thread's state is left as it was found.
/// Writing the control register stalls the pipeline, so a guard inside
/// another (blocks inside a host callback) writes nothing.
pub struct FlushToZero {
    #[cfg(target_arch = "x86_64")]
    saved: Option<u32>,
}

#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

impl FlushToZero {
    /// Enter flush-to-zero mode.
    #[allow(clippy::new_without_default, reason = "a guard is always created explicitly")]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut saved: u32 = 0;
            // SAFETY: stmxcsr/ldmxcsr read and write the SSE control register
            // of this thread only; FTZ and DAZ change no other behaviour.
            unsafe {
                std::arch::asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack));
                if saved & FTZ_DAZ == FTZ_DAZ {
                    return FlushToZero { saved: None };
                }
                let mode = saved | FTZ_DAZ;
                std::arch::asm!("ldmxcsr [{}]", in(reg) &mode, options(nostack));
            }
            FlushToZero { saved: Some(saved) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushToZero {}
    }
}

impl Drop for FlushToZero {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if let Some(saved) = &self.saved {
            // SAFETY: restores the value read in `new`.
            unsafe {
                std::arch::asm!("ldmxcsr [{}]", in(reg) saved, options(nostack));
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
    }
}
