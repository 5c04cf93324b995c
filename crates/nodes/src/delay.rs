//! Delays: an echo with feedback that may also sit inside a patch's own
//! feedback loop, and the [`DelayLine`] every delay-based node reads from.

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Unit, no_latency,
};

use crate::smooth::Ramp;

/// Longest delay time in seconds.
const MAX_TIME_S: f64 = 10.0;

/// `delay`: a fractional delay line with feedback.
pub static DELAY: NodeDescriptor = NodeDescriptor {
    kind: "delay",
    category: "delays",
    summary: "Echo: delays each channel by up to 10 s, with feedback and a dry/wet mix. \
              It may sit inside a feedback loop of the patch: the loop's period is then `time`.",
    inputs: &[PortSpec::audio("in", "Signal to delay.").follows()],
    outputs: &[PortSpec::audio("out", "Dry and delayed signal, mixed.").follows()],
    params: &[
        ParamSpec::new("time", 0.0, MAX_TIME_S, 0.25)
            .unit(Unit::Seconds)
            .smoothing(0.1)
            .doc("Delay time in seconds; changes glide like tape (the pitch bends, nothing clicks)."),
        ParamSpec::new("feedback", -0.99, 0.99, 0.0)
            .unit(Unit::Gain)
            .doc("Part of the delayed signal fed back into the line (linear; negative inverts)."),
        ParamSpec::new("mix", 0.0, 1.0, 1.0)
            .unit(Unit::Percent)
            .doc("Dry/wet balance: 0 = input only, 1 = delayed signal only."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: true,
    may_rest: false,
    build: |ctx| Box::new(Delay::new(ctx)),
};

/// A circular buffer of past samples, read at whole or fractional delays.
/// Shared by every delay-based node (echo, comb, allpass, chorus, flanger,
/// reverb). Its length is a power of two, allocated in `build` for the
/// longest delay the node allows at its sample rate; reading and writing
/// never allocate.
///
/// The line has a *current slot*: [`DelayLine::write`] stores there,
/// [`DelayLine::at`]`(k)` reads the sample stored `k` slots before it (0 is
/// the current slot), and [`DelayLine::advance`] moves on by one sample.
/// The first [`GUARD`] samples are mirrored past the end, so the four
/// neighbours an interpolator reads are always one contiguous run.
pub struct DelayLine {
    /// `mask + 1` samples, then [`GUARD`] copies of the first ones.
    data: Box<[f32]>,
    /// Length minus one.
    mask: usize,
    /// The current slot.
    write: usize,
}

/// Samples mirrored past the end of a [`DelayLine`].
const GUARD: usize = 3;

impl DelayLine {
    /// A silent line able to delay by `max_delay` samples, with room for the
    /// interpolators' neighbours.
    pub fn new(max_delay: usize) -> Self {
        let len = (max_delay + 4).next_power_of_two();
        DelayLine {
            data: vec![0.0; len + GUARD].into_boxed_slice(),
            mask: len - 1,
            write: 0,
        }
    }

    /// The longest delay, in samples, that [`DelayLine::hermite`] can read.
    pub fn max_delay(&self) -> usize {
        self.mask + 1 - 4
    }

    /// Store `x` in slot `i`, and in its mirror past the end.
    #[inline]
    fn store(&mut self, i: usize, x: f32) {
        self.data[i] = x;
        if i < GUARD {
            self.data[self.mask + 1 + i] = x;
        }
    }

    /// Store `x` in the current slot.
    #[inline]
    pub fn write(&mut self, x: f32) {
        self.store(self.write, x);
    }

    /// Move the current slot on by one sample.
    #[inline]
    pub fn advance(&mut self) {
        self.write = (self.write + 1) & self.mask;
    }

    /// Store `x` `ahead` slots after the current one, to write a block of
    /// input before reading taps relative to each of its frames.
    #[inline]
    pub fn write_ahead(&mut self, ahead: usize, x: f32) {
        self.store((self.write + ahead) & self.mask, x);
    }

    /// Move the current slot on by `frames` samples.
    #[inline]
    pub fn advance_by(&mut self, frames: usize) {
        self.write = (self.write + frames) & self.mask;
    }

    /// The four samples a cubic interpolator needs around `ago` (at least
    /// 1): `[at(ago - 1), at(ago), at(ago + 1), at(ago + 2)]`. `ago` may
    /// have wrapped below zero, for frames written ahead.
    #[inline]
    pub fn taps4(&self, ago: usize) -> [f32; 4] {
        window(&self.data, self.mask, self.write.wrapping_sub(ago))
    }

    /// The sample stored `ago` slots before the current one.
    #[inline]
    pub fn at(&self, ago: usize) -> f32 {
        let i = self.write.wrapping_sub(ago) & self.mask;
        // SAFETY: the length is a power of two and `mask` is the length
        // minus one, so `i` is in bounds. (Taps are read several times per
        // sample in every modulated effect; the checks are measurable.)
        unsafe { *self.data.get_unchecked(i) }
    }

    /// Sample by sample with feedback: for frame `k`, read the line
    /// `whole[k] + t` samples back (Hermite, given as `weights[i][k]` =
    /// [`hermite_weights`]`(t)[i]`; `whole[k]` at least 2), let
    /// `f(k, tap)` return what to store, store it and move on. The same as
    /// [`DelayLine::hermite`], [`DelayLine::write`] and
    /// [`DelayLine::advance`] per frame, with the slot kept in a register.
    #[inline]
    pub fn feedback_block<const N: usize>(
        &mut self,
        whole: &[usize],
        weights: &[[f32; N]; 4],
        mut f: impl FnMut(usize, f32) -> f32,
    ) {
        let (mask, mut w) = (self.mask, self.write);
        for (k, &whole) in whole.iter().enumerate().take(N) {
            let weights = [weights[0][k], weights[1][k], weights[2][k], weights[3][k]];
            let stored = f(k, dot4(weights, window(&self.data, mask, w.wrapping_sub(whole))));
            self.data[w] = stored;
            if w < GUARD {
                self.data[mask + 1 + w] = stored;
            }
            w = (w + 1) & mask;
        }
        self.write = w;
    }

    /// Run a block through a whole-sample delay of at least the block's
    /// length: for each frame, `f(x, y)` gets the input and the sample
    /// stored `delay` frames earlier and returns what to store and what to
    /// output. Reading and writing then touch disjoint runs of the buffer,
    /// so the loop works on plain slices and vectorises. Returns false
    /// (doing nothing) when the delay is too short or too long for that.
    #[inline]
    pub fn run_block(
        &mut self,
        delay: usize,
        input: &[f32],
        output: &mut [f32],
        mut f: impl FnMut(f32, f32) -> (f32, f32),
    ) -> bool {
        let n = input.len().min(output.len());
        let len = self.mask + 1;
        if delay < n || delay + n > len {
            return false;
        }
        let mut k = 0;
        while k < n {
            let w = (self.write + k) & self.mask;
            let r = (self.write + k).wrapping_sub(delay) & self.mask;
            let run = (n - k).min(len - w).min(len - r);
            // Read run [r, r+run) and write run [w, w+run) are disjoint: they
            // are `delay >= n` apart one way and `len - delay >= n` the other.
            let (read, write) = if r < w {
                let (lo, hi) = self.data.split_at_mut(w);
                (&lo[r..r + run], &mut hi[..run])
            } else {
                let (lo, hi) = self.data.split_at_mut(r);
                (&hi[..run], &mut lo[w..w + run])
            };
            let (input, output) = (&input[k..k + run], &mut output[k..k + run]);
            for i in 0..run {
                let (stored, out) = f(input[i], read[i]);
                write[i] = stored;
                output[i] = out;
            }
            k += run;
        }
        self.data.copy_within(0..GUARD, len);
        self.write = (self.write + n) & self.mask;
        true
    }

    /// Linear interpolation between `at(whole)` and `at(whole + 1)`, `t` of
    /// the way (0..1). Its gain never exceeds 1 at any frequency, which keeps
    /// modulated feedback networks provably bounded.
    #[inline]
    pub fn linear(&self, whole: usize, t: f32) -> f32 {
        let a = self.at(whole);
        a + t * (self.at(whole + 1) - a)
    }

    /// [`DelayLine::hermite`] at `delay` samples ago (a non-negative
    /// number of samples, fraction included).
    #[inline]
    pub fn hermite_at(&self, delay: f32) -> f32 {
        // Through i32: one instruction each way, where usize takes several.
        let whole = delay as i32;
        self.hermite(whole as usize, delay - whole as f32)
    }

    /// [`hermite`] interpolation `whole + t` samples ago (`t` in 0..1),
    /// from the samples `whole - 1 ..= whole + 2` ago; below one sample the
    /// current slot stands in for the future one.
    #[inline]
    pub fn hermite(&self, whole: usize, t: f32) -> f32 {
        if whole == 0 {
            return hermite(self.at(0), self.at(0), self.at(1), self.at(2), t);
        }
        let [a, b, c, d] = self.taps4(whole);
        hermite(a, b, c, d, t)
    }
}

/// An echo: one [`DelayLine`] per channel, read at a fractional position
/// that moves sample by sample.
pub struct Delay {
    lines: Vec<DelayLine>,
    sample_rate: f64,
    /// Samples by which the input already arrives late (inside a loop).
    late: f64,
    /// Delay in samples now and at the end of the next call.
    delay: f64,
    delay_target: f64,
    feedback: Ramp,
    mix: Ramp,
}

impl Delay {
    fn new(ctx: &NodeContext) -> Self {
        let sample_rate = ctx.sample_rate as f64;
        let longest = (MAX_TIME_S * sample_rate).ceil() as usize;
        let mut delay = Delay {
            lines: (0..ctx.channels).map(|_| DelayLine::new(longest)).collect(),
            sample_rate,
            late: ctx.feedback_delay as f64,
            delay: 0.0,
            delay_target: 0.0,
            feedback: Ramp::new(ctx.param(1)),
            mix: Ramp::new(ctx.param(2)),
        };
        delay.delay_target = delay.samples(ctx.param(0));
        delay.delay = delay.delay_target;
        delay
    }

    /// Delay in samples for `time` seconds, less what the patch's loop
    /// already adds. A time that is an exact number of samples but for f32
    /// rounding (0.1 s at 48 kHz) is made exact.
    fn samples(&self, time: f32) -> f64 {
        let d = (time as f64 * self.sample_rate - self.late).clamp(0.0, MAX_TIME_S * self.sample_rate);
        let whole = d.round();
        if (d - whole).abs() <= d * f32::EPSILON as f64 {
            whole
        } else {
            d
        }
    }
}

/// `[data[i + 1], data[i], data[i - 1], data[i - 2]]` (indices masked):
/// the neighbours of slot `i` that a cubic interpolator reads, newest
/// first, as one contiguous run thanks to the mirrored guard samples.
#[inline]
fn window(data: &[f32], mask: usize, i: usize) -> [f32; 4] {
    let r = i.wrapping_sub(2) & mask;
    debug_assert!(r + 4 <= data.len());
    // SAFETY: `r <= mask`, and `data` holds `mask + 1 + GUARD` samples,
    // so `r + 3 < data.len()`.
    unsafe {
        [
            *data.get_unchecked(r + 3),
            *data.get_unchecked(r + 2),
            *data.get_unchecked(r + 1),
            *data.get_unchecked(r),
        ]
    }
}

/// 4-point, 3rd-order Hermite interpolation (x-form) from O. Niemitalo,
/// "Polynomial Interpolators for High-Quality Resampling of Oversampled
/// Audio" (2001): the value at `t` (0..1) between `x0` and `x1`, with
/// neighbours `xm1` before and `x2` after.
///
/// Computed as weights on the four samples ([`hermite_weights`]), which
/// depend on `t` alone: where the fractions are known before the samples
/// (a swept tap), the weights are computed ahead in bulk and only a dot
/// product waits for the reads.
#[inline]
pub fn hermite(xm1: f32, x0: f32, x1: f32, x2: f32, t: f32) -> f32 {
    dot4(hermite_weights(t), [xm1, x0, x1, x2])
}

/// The weights of [`hermite`] on `[xm1, x0, x1, x2]` at `t`:
/// `-t/2 + t² - t³/2`, `1 - 5t²/2 + 3t³/2`, `t/2 + 2t² - 3t³/2`,
/// `-t²/2 + t³/2`. At `t = 0` they are exactly `[0, 1, 0, 0]`.
#[inline]
pub fn hermite_weights(t: f32) -> [f32; 4] {
    let (t2, t3) = (t * t, t * t * t);
    [
        -0.5 * t + t2 - 0.5 * t3,
        1.0 - 2.5 * t2 + 1.5 * t3,
        0.5 * t + 2.0 * t2 - 1.5 * t3,
        0.5 * (t3 - t2),
    ]
}

/// `Σ w[i]·x[i]`, as a balanced tree.
#[inline]
pub fn dot4(w: [f32; 4], x: [f32; 4]) -> f32 {
    (w[0] * x[0] + w[1] * x[1]) + (w[2] * x[2] + w[3] * x[3])
}

impl Processor for Delay {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => self.delay_target = self.samples(value),
            1 => self.feedback.set(value),
            _ => self.mix.set(value),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let (feedback, mix) = (self.feedback.segment(frames), self.mix.segment(frames));
        let step = (self.delay_target - self.delay) / frames.max(1) as f64;
        // A delay of whole samples that does not move needs no interpolation
        // (Hermite at t = 0 is exactly the sample itself).
        let whole = (step == 0.0 && self.delay.fract() == 0.0).then_some(self.delay as usize);
        for (ch, line) in self.lines.iter_mut().enumerate().take(io.output_channels(0)) {
            let input = io.input(0, ch);
            let out = io.output(0, ch);
            if let Some(whole) = whole
                && feedback.is_flat()
                && mix.is_flat()
            {
                // The same arithmetic as below, a block at a time.
                let (g, m) = (feedback.at(0), mix.at(0));
                if line.run_block(whole, input, out, |x, y| (x + g * y, (1.0 - m) * x + m * y)) {
                    continue;
                }
            }
            for (k, (o, &x)) in out.iter_mut().zip(input).enumerate() {
                line.write(x);
                let y = match whole {
                    Some(whole) => line.at(whole),
                    None => {
                        let d = self.delay + step * (k + 1) as f64;
                        let whole = d as usize;
                        line.hermite(whole, (d - whole as f64) as f32)
                    }
                };
                line.write(x + feedback.at(k) * y);
                let m = mix.at(k);
                *o = (1.0 - m) * x + m * y;
                line.advance();
            }
        }
        self.delay = self.delay_target;
        self.feedback.finish();
        self.mix.finish();
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const SR: u32 = 48_000;

    /// Index and value of the largest |sample| in `x[from..to]`.
    fn strongest(x: &[f32], from: usize, to: usize) -> (usize, f32) {
        x[from..to].iter().enumerate().fold((0, 0.0f32), |best, (i, &v)| {
            if v.abs() > best.1.abs() {
                (from + i, v)
            } else {
                best
            }
        })
    }

    fn impulse_through(params: &[(&str, f64)], frames: usize) -> Vec<f32> {
        render_node("impulse", &[], "delay", params, frames)
    }

    #[test]
    fn an_impulse_comes_out_exactly_time_later() {
        let out = impulse_through(&[("time", 0.1)], 10_000);
        assert_eq!(strongest(&out, 0, out.len()), (4800, 1.0));
        let rest: f32 = out.iter().map(|v| v.abs()).sum::<f32>() - 1.0;
        assert!(rest < 1e-6, "energy outside the echo: {rest}");
    }

    #[test]
    fn feedback_repeats_each_echo_6db_down_and_mix_adds_the_dry_signal() {
        let out = impulse_through(&[("time", 0.1), ("feedback", 0.5)], 20_000);
        let echoes: Vec<(usize, f32)> = (1..=4)
            .map(|k| strongest(&out, k * 4800 - 100, k * 4800 + 100))
            .collect();
        for (k, &(at, _)) in echoes.iter().enumerate() {
            assert_eq!(at, (k + 1) * 4800);
        }
        for pair in echoes.windows(2) {
            let db = to_db(pair[1].1 / pair[0].1);
            assert!((db + 6.02).abs() < 0.01, "echo to echo {db} dB");
        }
        let out = impulse_through(&[("time", 0.1), ("mix", 0.25)], 10_000);
        assert_eq!((out[0], out[4800]), (0.75, 0.25));
    }

    #[test]
    fn fractional_delays_interpolate_a_sine() {
        let delay = 100.5;
        let out = render_node(
            "sine",
            &[("freq", 1000.0)],
            "delay",
            &[("time", delay / 48_000.0)],
            4800,
        );
        let w = std::f64::consts::TAU * 1000.0 / 48_000.0;
        let worst = (200..4800)
            .map(|n| (out[n] as f64 - (w * (n as f64 - delay)).sin()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "error {worst}");
    }

    #[test]
    fn a_feedback_loop_through_the_patch_repeats_every_time_seconds() {
        // impulse -> delay -> output, and delay -> gain(-6 dB) -> delay:
        // the compiler feeds the delay one block late; it must subtract that.
        for block in [64, 100, 512] {
            let mut patch = Patch::default();
            patch.nodes.push(node("imp", "impulse", &[]));
            patch.nodes.push(node("dly", "delay", &[("time", 0.1)]));
            patch.nodes.push(node("fb", "gain", &[("gain", -6.0)]));
            patch.nodes.push(node("out", "output", &[]));
            patch
                .connect("imp.out", "dly.in")
                .connect("dly.out", "fb.in")
                .connect("fb.out", "dly.in")
                .connect("dly.out", "out.in");
            let (out, _) = render_patch_with(&patch, 25_000, SR, block, &[]);
            let echoes: Vec<(usize, f32)> = (1..=5)
                .map(|k| strongest(&out, k * 4800 - 200, k * 4800 + 200))
                .collect();
            assert!(
                strongest(&out, 0, 4600).1.abs() < 1e-6,
                "block {block}: sound before the first echo"
            );
            for (k, &(at, _)) in echoes.iter().enumerate() {
                assert_eq!(at, (k + 1) * 4800, "block {block}: echo {}", k + 1);
            }
            assert!((echoes[0].1 - 1.0).abs() < 1e-6);
            for pair in echoes.windows(2) {
                let db = to_db(pair[1].1 / pair[0].1);
                assert!((db + 6.0).abs() < 0.01, "block {block}: loop gain {db} dB");
            }
        }
    }

    #[test]
    fn changing_the_time_glides_without_clicks() {
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "sine", &[("freq", 440.0)]));
        patch.nodes.push(node("dly", "delay", &[("time", 0.25)]));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect("src.out", "dly.in").connect("dly.out", "out.in");
        let change = |frame, value| Change {
            frame,
            node: "dly",
            param: "time",
            value,
        };
        let changes = [change(24_000, 0.3), change(36_000, 0.25), change(48_000, 0.2)];
        let (out, _) = render_patch_with(&patch, 72_000, SR, 64, &changes);
        // A 440 Hz sine moves at most 0.058 per sample; gliding the read
        // position bends the pitch by 1.5x at most. A jump in the read
        // position would step by up to 2.
        let step = max_step(&out[12_001..]);
        assert!(step < 0.1, "step of {step}");
        // The pitch really did bend, so the time really did change.
        assert!(max_step(&out[48_000..53_000]) > 0.07);
    }
}
