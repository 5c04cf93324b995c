//! Per-sample smoothing of parameter updates.
//!
//! The runtime glides a parameter by calling `set_param` once per
//! [`patchbay_core::runtime::CONTROL_CHUNK`] frames. Where a step every 16
//! frames would be heard as zipper noise (gains, pan, mix, amplitudes), the
//! node keeps a [`Ramp`] and moves linearly from the old value to the new one
//! across the next `process` call.

/// A value that reaches its latest target by a straight line over one
/// `process` call.
#[derive(Clone, Copy, Debug)]
pub struct Ramp {
    current: f32,
    target: f32,
}

/// The per-sample values of a [`Ramp`] during one call: `at(k)` for frame `k`.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    start: f32,
    step: f32,
}

impl Segment {
    /// `value` on every frame.
    pub fn flat(value: f32) -> Self {
        Segment {
            start: value,
            step: 0.0,
        }
    }

    /// Value for frame `k` of the call (the last frame reaches the target).
    #[inline]
    pub fn at(&self, k: usize) -> f32 {
        self.start + self.step * (k + 1) as f32
    }

    /// True when the value does not move during the call.
    pub fn is_flat(&self) -> bool {
        self.step == 0.0
    }
}

impl Ramp {
    /// A ramp resting at `value`.
    pub fn new(value: f32) -> Self {
        Ramp {
            current: value,
            target: value,
        }
    }

    /// Head for `value` during the next call.
    pub fn set(&mut self, value: f32) {
        self.target = value;
    }

    /// The target (the value at the end of the next call).
    pub fn target(&self) -> f32 {
        self.target
    }

    /// The value, when it does not move during the next call.
    #[inline]
    pub fn resting(&self) -> Option<f32> {
        (self.current == self.target).then_some(self.target)
    }

    /// The values for a call of `frames` frames; call [`Ramp::finish`] after it.
    pub fn segment(&self, frames: usize) -> Segment {
        if self.current == self.target || frames == 0 {
            return Segment {
                start: self.target,
                step: 0.0,
            };
        }
        Segment {
            start: self.current,
            step: (self.target - self.current) / frames as f32,
        }
    }

    /// The call is over: the value is now its target.
    pub fn finish(&mut self) {
        self.current = self.target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_reaches_its_target_on_the_last_frame() {
        let mut r = Ramp::new(0.0);
        r.set(1.0);
        let s = r.segment(4);
        let values: Vec<f32> = (0..4).map(|k| s.at(k)).collect();
        assert_eq!(values, [0.25, 0.5, 0.75, 1.0]);
        r.finish();
        let s = r.segment(4);
        assert!(s.is_flat() && s.at(0) == 1.0);
    }
}
