//! The last stage before the device or the file: every sample that leaves
//! patchbay is finite and, unless the limiter is switched off, inside the
//! safety ceiling. It protects ears and speakers from a patch gone wrong (a
//! filter blowing up, a feedback loop running away), not a mastering tool.
//!
//! The runtime runs it on the master after every block, so live playback and
//! offline rendering hear exactly the same samples.
//!
//! The limiter has zero latency: its gain drops instantly to whatever keeps
//! the loudest channel of the current sample at the ceiling and recovers
//! exponentially. Below the ceiling with the gain fully recovered it
//! multiplies by exactly 1.0, so a patch that stays under the ceiling passes
//! bit for bit. A lookahead limiter would sound smoother on overs, but it
//! would delay every patch's output, and an over here means the patch is
//! broken anyway.

/// The default ceiling, in dBFS.
pub const DEFAULT_CEILING_DB: f32 = -0.3;

/// How long the limiter's gain takes to recover by 1/e after an over.
const RELEASE_SECONDS: f32 = 0.05;

/// Linear gain of `db` decibels.
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// The safety stage: non-finite samples become silence (and are counted),
/// and a peak limiter keeps every sample inside the ceiling.
#[derive(Clone, Debug)]
pub struct Safety {
    /// Linear ceiling; `None` with the limiter off.
    ceiling: Option<f32>,
    gain: f32,
    /// Per-sample recovery factor of `1 - gain`.
    release: f32,
    non_finite: u64,
    /// Largest absolute sample of the last block, after the stage.
    peak: f32,
}

impl Safety {
    /// A stage for `sample_rate` with the limiter at [`DEFAULT_CEILING_DB`].
    pub fn new(sample_rate: f32) -> Safety {
        Safety {
            ceiling: Some(db_to_gain(DEFAULT_CEILING_DB)),
            gain: 1.0,
            release: (-1.0 / (RELEASE_SECONDS * sample_rate.max(1.0))).exp(),
            non_finite: 0,
            peak: 0.0,
        }
    }

    /// Set the limiter's ceiling in dBFS, or switch it off with `None`
    /// (non-finite samples are still silenced). Control side, before the
    /// runtime goes to the audio thread.
    pub fn set_ceiling_db(&mut self, ceiling_db: Option<f32>) {
        self.ceiling = ceiling_db.map(db_to_gain);
        self.gain = 1.0;
    }

    /// The limiter's linear ceiling, if it is on.
    pub fn ceiling(&self) -> Option<f32> {
        self.ceiling
    }

    /// Non-finite samples replaced by silence so far.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Largest absolute sample of the last block, after the stage.
    pub fn peak(&self) -> f32 {
        self.peak
    }

    /// The limiter's current gain (1.0 when it is not limiting).
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Make `input` (left, right) safe into `output` (audio thread: never
    /// allocates). Processes as many frames as the shortest slice holds.
    pub fn process(&mut self, input: [&[f32]; 2], output: [&mut [f32]; 2]) {
        let [in_l, in_r] = input;
        let [out_l, out_r] = output;
        let frames = in_l.len().min(in_r.len()).min(out_l.len()).min(out_r.len());
        let mut peak = 0.0f32;
        for k in 0..frames {
            let l = self.finite(in_l[k]);
            let r = self.finite(in_r[k]);
            let (l, r) = match self.ceiling {
                Some(ceiling) => {
                    // Recover towards unity, but never above what keeps
                    // this sample at the ceiling.
                    let level = l.abs().max(r.abs());
                    let released = 1.0 - (1.0 - self.gain) * self.release;
                    self.gain = if level * released > ceiling {
                        ceiling / level
                    } else {
                        released
                    };
                    // The clamp catches the last rounding ulp of `ceiling / level`.
                    (
                        (l * self.gain).clamp(-ceiling, ceiling),
                        (r * self.gain).clamp(-ceiling, ceiling),
                    )
                }
                None => (l, r),
            };
            out_l[k] = l;
            out_r[k] = r;
            peak = peak.max(l.abs()).max(r.abs());
        }
        self.peak = peak;
    }

    #[inline]
    fn finite(&mut self, x: f32) -> f32 {
        if x.is_finite() {
            x
        } else {
            self.non_finite += 1;
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(safety: &mut Safety, l: &[f32], r: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (mut a, mut b) = (vec![0.0; l.len()], vec![0.0; r.len()]);
        safety.process([l, r], [&mut a, &mut b]);
        (a, b)
    }

    #[test]
    fn quiet_signals_pass_bit_for_bit() {
        let mut safety = Safety::new(48_000.0);
        let l: Vec<f32> = (0..4800).map(|i| 0.9 * (i as f32 * 0.01).sin()).collect();
        let r: Vec<f32> = l.iter().map(|x| -x * 0.5).collect();
        let (a, b) = run(&mut safety, &l, &r);
        assert_eq!(a, l);
        assert_eq!(b, r);
    }

    #[test]
    fn overs_never_pass_the_ceiling_and_the_gain_recovers() {
        let mut safety = Safety::new(48_000.0);
        let ceiling = db_to_gain(DEFAULT_CEILING_DB);
        // +12 dBFS sine with spikes, then silence.
        let loud: Vec<f32> = (0..48_000)
            .map(|i| 4.0 * (i as f32 * 0.0576).sin() + if i % 997 == 0 { 1e6 } else { 0.0 })
            .collect();
        let (a, b) = run(&mut safety, &loud, &loud);
        assert!(a.iter().chain(&b).all(|x| x.abs() <= ceiling), "over the ceiling");
        assert!(a.iter().map(|x| x.abs()).fold(0.0, f32::max) > 0.9 * ceiling);
        let silence = vec![0.0; 48_000];
        run(&mut safety, &silence, &silence);
        assert!(safety.gain() > 0.999, "gain {} did not recover", safety.gain());
    }

    #[test]
    fn non_finite_samples_become_silence_and_are_counted() {
        for ceiling in [Some(DEFAULT_CEILING_DB), None] {
            let mut safety = Safety::new(48_000.0);
            safety.set_ceiling_db(ceiling);
            let l = [0.5, f32::NAN, f32::INFINITY, 0.25];
            let r = [f32::NEG_INFINITY, 0.1, 0.2, 0.3];
            let (a, b) = run(&mut safety, &l, &r);
            assert_eq!(a, [0.5, 0.0, 0.0, 0.25]);
            assert_eq!(b, [0.0, 0.1, 0.2, 0.3]);
            assert_eq!(safety.non_finite(), 3);
            assert_eq!(safety.peak(), 0.5);
        }
    }

    #[test]
    fn with_the_limiter_off_overs_pass() {
        let mut safety = Safety::new(48_000.0);
        safety.set_ceiling_db(None);
        let (a, _) = run(&mut safety, &[4.0, -3.0], &[0.0, 0.0]);
        assert_eq!(a, [4.0, -3.0]);
    }
}
