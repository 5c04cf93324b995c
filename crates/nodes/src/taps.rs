//! Analysis taps: a level meter, an oscilloscope and a spectrum analyser.
//! Each passes its input unchanged to `out` (so it can sit inline or hang
//! off a fan-out as a sink: sinks are scheduled whether or not anything
//! hears them) and publishes its readings through a lock-free
//! [`Tap`] that the control side reads with `LiveEngine::tap(id)` or
//! `Schedule::taps()`. The layout of each tap is in its node's summary and
//! below.
//!
//! All buffers, and the FFT plan and scratch, are made in `build`: nothing
//! allocates on the audio thread.

use std::sync::Arc;

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, Tap, Unit, no_latency,
};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Copy every input channel to the output.
fn pass_through(io: &mut ProcessIo<'_>) {
    for ch in 0..io.output_channels(0) {
        let input = io.input(0, ch);
        io.output(0, ch).copy_from_slice(input);
    }
}

const IN: PortSpec = PortSpec::audio("in", "Signal to analyse.").follows();
const OUT: PortSpec = PortSpec::audio(
    "out",
    "The input, unchanged (leave unconnected to use as a sink).",
)
.follows();

// ---------------------------------------------------------------------------
// Meter

/// Longest meter window in seconds.
const MAX_WINDOW_S: f64 = 1.0;
/// The meter keeps peak and mean square per segment of this many samples;
/// its window is a whole number of segments (plus the current partial one).
const SEGMENT: usize = 128;

/// `meter`: peak, RMS and held peak per channel.
pub static METER: NodeDescriptor = NodeDescriptor {
    kind: "meter",
    category: "analysis",
    summary: "Level meter. Tap layout, for C channels (3·C values, linear, 1.0 = 0 dBFS): \
              C sample peaks over the window, then C RMS levels over the window, then C held peaks.",
    inputs: &[IN],
    outputs: &[OUT],
    params: &[
        ParamSpec::new("window", 0.01, MAX_WINDOW_S, 0.3)
            .unit(Unit::Seconds)
            .smoothing(0.0)
            .doc("Integration time in seconds of peak and RMS (rounded to 128 samples)."),
        ParamSpec::new("hold", 0.0, 10.0, 1.5)
            .unit(Unit::Seconds)
            .smoothing(0.0)
            .doc("Seconds the held peak stays before it falls."),
        ParamSpec::new("decay", 0.0, 200.0, 20.0)
            .smoothing(0.0)
            .doc("Fall rate of the held peak after the hold time, in dB per second."),
    ],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Meter::new(ctx)),
};

/// One channel's meter state: per-segment peaks and sums of squares in
/// rings, a running sum of the complete segments in the window.
struct MeterChannel {
    peaks: Vec<f32>,
    squares: Vec<f64>,
    /// Peak and sum of squares of the segment being filled.
    peak: f32,
    square: f64,
    /// Sum of `squares` and largest of `peaks` over the window's complete
    /// segments.
    window_sum: f64,
    window_peak: f32,
    held: f32,
    /// Samples left before the held peak starts to fall.
    holding: u64,
}

/// Windowed peak and RMS (exact over the segments in the window) and a
/// peak-hold line that falls at a fixed dB rate after its hold time, as in
/// the PPM/sample-peak meters of IEC 60268-10 and EBU Tech 3341 displays.
pub struct Meter {
    channels: Vec<MeterChannel>,
    /// Ring position of the segment being filled, and how full it is.
    segment: usize,
    filled: usize,
    /// Complete segments in the window.
    window: usize,
    hold: u64,
    /// Per-sample factor of the held peak's fall.
    decay: f64,
    decay_db: f32,
    sample_rate: f32,
    readings: Vec<f32>,
    tap: Arc<Tap>,
}

impl Meter {
    fn new(ctx: &NodeContext) -> Self {
        let capacity = (MAX_WINDOW_S * ctx.sample_rate as f64 / SEGMENT as f64).ceil() as usize + 1;
        let channels = (0..ctx.channels)
            .map(|_| MeterChannel {
                peaks: vec![0.0; capacity],
                squares: vec![0.0; capacity],
                peak: 0.0,
                square: 0.0,
                window_sum: 0.0,
                window_peak: 0.0,
                held: 0.0,
                holding: 0,
            })
            .collect();
        let mut meter = Meter {
            channels,
            segment: 0,
            filled: 0,
            window: 1,
            hold: 0,
            decay: 1.0,
            decay_db: 0.0,
            sample_rate: ctx.sample_rate,
            readings: vec![0.0; 3 * ctx.channels],
            tap: Tap::new(3 * ctx.channels),
        };
        for (i, &v) in ctx.params.iter().enumerate() {
            meter.set_param(i, v);
        }
        meter
    }

    fn capacity(&self) -> usize {
        self.channels[0].peaks.len()
    }

    /// Ring index `back` segments before the current one.
    fn before(&self, back: usize) -> usize {
        let cap = self.capacity();
        (self.segment + cap - back % cap) % cap
    }

    /// Change the window to `segments` complete segments, adjusting the
    /// running sums by the segments that enter or leave.
    fn resize(&mut self, segments: usize) {
        let segments = segments.clamp(1, self.capacity() - 1);
        let (old, cap) = (self.window, self.capacity());
        for back in (old.min(segments) + 1)..=(old.max(segments)) {
            let i = (self.segment + cap - back) % cap;
            for c in &mut self.channels {
                if segments > old {
                    c.window_sum += c.squares[i];
                } else {
                    c.window_sum -= c.squares[i];
                }
            }
        }
        self.window = segments;
        self.window_peaks();
    }

    /// Recompute each channel's peak over the window's complete segments
    /// (a scan of contiguous ring slices, once per segment).
    fn window_peaks(&mut self) {
        let cap = self.capacity();
        let start = (self.segment + cap - self.window) % cap;
        let (first, second) = if start + self.window <= cap {
            (start..start + self.window, 0..0)
        } else {
            (start..cap, 0..self.window - (cap - start))
        };
        for c in &mut self.channels {
            let max = |s: &[f32]| s.iter().fold(0.0f32, |m, &v| m.max(v));
            c.window_peak = max(&c.peaks[first.clone()]).max(max(&c.peaks[second.clone()]));
        }
    }

    /// Close the current segment and open the next.
    fn advance(&mut self) {
        let cap = self.capacity();
        let leaving = self.before(self.window);
        for c in &mut self.channels {
            c.peaks[self.segment] = c.peak;
            c.squares[self.segment] = c.square;
            c.window_sum += c.square - c.squares[leaving];
            c.peak = 0.0;
            c.square = 0.0;
        }
        self.segment = (self.segment + 1) % cap;
        self.filled = 0;
        self.window_peaks();
    }

    fn publish(&mut self) {
        let n = self.channels.len();
        let count = (self.window * SEGMENT + self.filled) as f64;
        for (i, c) in self.channels.iter().enumerate() {
            self.readings[i] = c.window_peak.max(c.peak);
            self.readings[n + i] = ((c.window_sum + c.square).max(0.0) / count).sqrt() as f32;
            self.readings[2 * n + i] = c.held;
        }
        self.tap.publish(&self.readings);
    }
}

/// Largest absolute value and sum of squares of `x`, over eight lanes so
/// the loop vectorises.
fn peak_and_energy(x: &[f32]) -> (f32, f32) {
    let mut peak = [0.0f32; 8];
    let mut energy = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for i in 0..8 {
            peak[i] = peak[i].max(chunk[i].abs());
            energy[i] += chunk[i] * chunk[i];
        }
    }
    for (i, &v) in rest.iter().enumerate() {
        peak[i] = peak[i].max(v.abs());
        energy[i] += v * v;
    }
    (peak.iter().fold(0.0f32, |m, &v| m.max(v)), energy.iter().sum())
}

impl Processor for Meter {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            0 => {
                let segments = (value as f64 * self.sample_rate as f64 / SEGMENT as f64).round() as usize;
                self.resize(segments);
            }
            1 => self.hold = (value as f64 * self.sample_rate as f64) as u64,
            _ => {
                self.decay_db = value;
                self.decay = 10f64.powf(-(value as f64) / 20.0 / self.sample_rate as f64);
            }
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let frames = io.frames();
        let mut done = 0;
        while done < frames {
            let n = (SEGMENT - self.filled).min(frames - done);
            for (ch, c) in self.channels.iter_mut().enumerate().take(io.input_channels(0)) {
                let (peak, square) = peak_and_energy(&io.input(0, ch)[done..done + n]);
                c.peak = c.peak.max(peak);
                c.square += square as f64;
                // Held peak, at the granularity of this piece.
                if peak >= c.held {
                    c.held = peak;
                    c.holding = self.hold;
                } else if c.holding >= n as u64 {
                    c.holding -= n as u64;
                } else {
                    let falling = n as u64 - c.holding;
                    c.holding = 0;
                    c.held = ((c.held as f64) * self.decay.powi(falling as i32)).max(peak as f64) as f32;
                }
            }
            self.filled += n;
            done += n;
            if self.filled == SEGMENT {
                self.advance();
            }
        }
        self.publish();
        pass_through(io);
    }

    fn tap(&self) -> Option<Arc<Tap>> {
        Some(self.tap.clone())
    }
}

// ---------------------------------------------------------------------------
// Scope

/// Samples in a scope trace.
pub const SCOPE_LEN: usize = 1024;

/// `scope`: triggered waveform capture.
pub static SCOPE: NodeDescriptor = NodeDescriptor {
    kind: "scope",
    category: "analysis",
    summary: "Oscilloscope. Tap layout: the last complete trace, 1024 samples of channel 0, starting at a \
              rising zero crossing (the first sample above 0 after one at or below it); with no crossing \
              for 1024 samples it free-runs.",
    inputs: &[IN],
    outputs: &[OUT],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |_| Box::new(Scope::new()),
};

/// A triggered capture: wait for a rising zero crossing (at most one trace
/// long), record a trace, publish it, wait again.
pub struct Scope {
    trace: Vec<f32>,
    /// Samples recorded into `trace`; `None` while waiting for a trigger.
    recording: Option<usize>,
    waited: usize,
    last: f32,
    tap: Arc<Tap>,
}

impl Scope {
    fn new() -> Self {
        Scope {
            trace: vec![0.0; SCOPE_LEN],
            recording: None,
            waited: 0,
            last: 0.0,
            tap: Tap::new(SCOPE_LEN),
        }
    }
}

impl Processor for Scope {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        for &x in io.input(0, 0) {
            match self.recording {
                None => {
                    if (self.last <= 0.0 && x > 0.0) || self.waited >= SCOPE_LEN {
                        self.trace[0] = x;
                        self.recording = Some(1);
                        self.waited = 0;
                    } else {
                        self.waited += 1;
                    }
                }
                Some(n) => {
                    self.trace[n] = x;
                    if n + 1 == SCOPE_LEN {
                        self.tap.publish(&self.trace);
                        self.recording = None;
                    } else {
                        self.recording = Some(n + 1);
                    }
                }
            }
            self.last = x;
        }
        pass_through(io);
    }

    fn tap(&self) -> Option<Arc<Tap>> {
        Some(self.tap.clone())
    }
}

// ---------------------------------------------------------------------------
// Spectrum

/// FFT size of the spectrum analyser.
pub const FFT_SIZE: usize = 1024;
/// Magnitude bins published: 0 Hz up to (not including) Nyquist.
pub const SPECTRUM_BINS: usize = FFT_SIZE / 2;
/// Samples between analyses (50% overlap).
pub const SPECTRUM_HOP: usize = FFT_SIZE / 2;
/// Level published for a bin with no energy.
pub const SPECTRUM_FLOOR_DB: f32 = -200.0;

/// `spectrum`: FFT magnitudes.
pub static SPECTRUM: NodeDescriptor = NodeDescriptor {
    kind: "spectrum",
    category: "analysis",
    summary: "Spectrum analyser: a 1024-point FFT (Hann window, hop 512) of the mean of the channels. \
              Tap layout: 512 levels in dBFS (floor -200), bin k centred on k·rate/1024 Hz; a full-scale \
              sine centred on a bin reads 0 dB.",
    inputs: &[IN],
    outputs: &[OUT],
    params: &[],
    settings: &[],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Spectrum::new(ctx)),
};

/// Short-time Fourier analysis with a precomputed rustfft plan and
/// preallocated buffers and scratch (`process_with_scratch`).
pub struct Spectrum {
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    /// Amplitude scale: 2 / Σw, so a sine of amplitude A reads A.
    scale: f32,
    ring: Vec<f32>,
    write: usize,
    since: usize,
    buffer: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    levels: Vec<f32>,
    tap: Arc<Tap>,
}

impl Spectrum {
    fn new(_ctx: &NodeContext) -> Self {
        let fft = FftPlanner::<f32>::new().plan_fft_forward(FFT_SIZE);
        let scratch = vec![Complex::new(0.0, 0.0); fft.get_inplace_scratch_len()];
        // Periodic Hann window.
        let window: Vec<f32> = (0..FFT_SIZE)
            .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / FFT_SIZE as f64).cos()) as f32)
            .collect();
        let sum: f32 = window.iter().sum();
        Spectrum {
            fft,
            scale: 2.0 / sum,
            window,
            ring: vec![0.0; FFT_SIZE],
            write: 0,
            since: 0,
            buffer: vec![Complex::new(0.0, 0.0); FFT_SIZE],
            scratch,
            levels: vec![SPECTRUM_FLOOR_DB; SPECTRUM_BINS],
            tap: Tap::new(SPECTRUM_BINS),
        }
    }

    fn analyse(&mut self) {
        for (i, (b, w)) in self.buffer.iter_mut().zip(&self.window).enumerate() {
            *b = Complex::new(self.ring[(self.write + i) % FFT_SIZE] * w, 0.0);
        }
        self.fft.process_with_scratch(&mut self.buffer, &mut self.scratch);
        let floor = 10f32.powf(SPECTRUM_FLOOR_DB / 20.0);
        for (l, c) in self.levels.iter_mut().zip(&self.buffer) {
            *l = 20.0 * (c.norm() * self.scale).max(floor).log10();
        }
        self.tap.publish(&self.levels);
    }
}

impl Processor for Spectrum {
    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let channels = io.input_channels(0);
        let inv = 1.0 / channels as f32;
        for k in 0..io.frames() {
            let mut x = 0.0;
            for ch in 0..channels {
                x += io.input(0, ch)[k];
            }
            self.ring[self.write] = x * inv;
            self.write = (self.write + 1) % FFT_SIZE;
            self.since += 1;
            if self.since == SPECTRUM_HOP {
                self.since = 0;
                self.analyse();
            }
        }
        pass_through(io);
    }

    fn tap(&self) -> Option<Arc<Tap>> {
        Some(self.tap.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use patchbay_core::{CompileOptions, LiveEngine, Schedule, Tap, compile};

    use super::*;
    use crate::testing::*;

    const SR: u32 = 48_000;

    /// A node of a source chain: id, kind, parameters.
    type SourceNode<'a> = (&'a str, &'a str, &'a [(&'a str, f64)]);

    /// `source` (a chain of nodes with params) into a `kind` node named "tap", rendered for
    /// `frames` frames through a schedule; the tap's readings and the
    /// output's left channel.
    fn tapped(
        source: &[SourceNode],
        kind: &str,
        params: &[(&str, f64)],
        frames: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut patch = Patch::default();
        for (i, &(id, k, p)) in source.iter().enumerate() {
            patch.nodes.push(node(id, k, p));
            if i > 0 {
                patch.connect(&format!("{}.out", source[i - 1].0), &format!("{id}.in"));
            }
        }
        patch.nodes.push(node("tap", kind, params));
        patch.nodes.push(node("out", "output", &[]));
        patch.connect(&format!("{}.out", source.last().unwrap().0), "tap.in");
        patch.connect("tap.out", "out.in");
        let plan = compile(
            &patch,
            crate::registry(),
            &CompileOptions {
                sample_rate: SR as f32,
                block: 64,
            },
        )
        .unwrap();
        let mut schedule = Schedule::new(&plan);
        let index = plan.node_index("tap").unwrap();
        let tap: Arc<Tap> = schedule
            .taps()
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, t)| t.clone())
            .unwrap();
        let mut out = Vec::new();
        while out.len() < frames {
            let n = allocations_during(|| schedule.process());
            assert_eq!(n, 0);
            out.extend_from_slice(schedule.master()[0]);
        }
        (tap.snapshot(), out)
    }

    #[test]
    fn meter_reads_peak_and_rms_of_a_sine_within_a_hundredth_of_a_db() {
        for (freq, amp) in [(1000.0, 0.5), (997.0, 1.0), (3000.0, 0.1)] {
            let (r, out) = tapped(
                &[("src", "sine", &[("freq", freq), ("amp", amp)])],
                "meter",
                &[],
                SR as usize,
            );
            assert_eq!(r.len(), 3, "mono: peak, rms, hold");
            let (peak, rms_, hold) = (r[0], r[1], r[2]);
            let a = amp as f32;
            assert!(to_db(peak / a).abs() < 0.01, "{freq} Hz: peak {peak}");
            assert!(
                to_db(rms_ / (a * std::f32::consts::FRAC_1_SQRT_2)).abs() < 0.01,
                "{freq} Hz: rms {rms_}"
            );
            assert!(to_db(hold / a).abs() < 0.01);
            // Inline: the signal passes unchanged.
            assert_eq!(
                out,
                render_source("sine", &[("freq", freq), ("amp", amp)], out.len(), SR)
            );
        }
    }

    #[test]
    fn meter_is_per_channel_and_its_hold_falls_after_the_hold_time() {
        // Stereo: a sine panned left of centre, through the meter.
        let (r, _) = tapped(
            &[
                ("src", "sine", &[("freq", 1000.0)]),
                ("p", "pan", &[("pan", -0.5)]),
            ],
            "meter",
            &[],
            SR as usize / 2,
        );
        assert_eq!(r.len(), 6);
        let theta = std::f32::consts::FRAC_PI_8;
        let (l, rr) = (theta.cos(), theta.sin());
        assert!(to_db(r[0] / l).abs() < 0.01 && to_db(r[1] / rr).abs() < 0.01);
        assert!(r[2] > r[3]);
        // A burst, then silence: the peak drops with the window, the hold
        // stays for `hold` seconds, then falls at `decay` dB/s.
        let mut patch = Patch::default();
        patch.nodes.push(node("src", "constant", &[("value", 0.5)]));
        patch.nodes.push(node(
            "m",
            "meter",
            &[("hold", 0.5), ("decay", 20.0), ("window", 0.1)],
        ));
        patch.connect("src.out", "m.in");
        let opts = CompileOptions {
            sample_rate: SR as f32,
            block: 64,
        };
        let (mut live, mut runtime) = LiveEngine::start(patch, crate::registry(), opts).unwrap();
        let tap = live.tap("m").unwrap().clone();
        let mut run = |seconds: f64| {
            for _ in 0..(seconds * SR as f64 / 64.0) as usize {
                runtime.process_block();
            }
            tap.snapshot()
        };
        assert_eq!(run(0.2), [0.5, 0.5, 0.5]);
        live.set_param("src", "value", 0.0).unwrap();
        let r = run(0.3);
        assert_eq!(r[0], 0.0, "window past");
        assert!(r[1] < 1e-3);
        assert_eq!(r[2], 0.5, "held");
        let r = run(1.0);
        // The hold ends 0.5 s after the level starts to fall (at 0.2 s),
        // then it falls for 0.8 s at 20 dB/s.
        let expected = 0.5 * 10f32.powf(-20.0 * 0.8 / 20.0);
        assert!(
            (to_db(r[2]) - to_db(expected)).abs() < 0.1,
            "{} vs {expected}",
            r[2]
        );
    }

    #[test]
    fn scope_traces_start_at_a_rising_zero_crossing() {
        let (trace, _) = tapped(
            &[("src", "sine", &[("freq", 440.0), ("amp", 0.8)])],
            "scope",
            &[],
            8192,
        );
        assert_eq!(trace.len(), SCOPE_LEN);
        // The trace is the sine from a phase within one sample after 0.
        let w = std::f32::consts::TAU * 440.0 / SR as f32;
        let phase = (trace[0] / 0.8).asin();
        assert!(trace[0] > 0.0 && phase < w * 1.001, "{}", trace[0]);
        for (i, &v) in trace.iter().enumerate() {
            let expected = 0.8 * (phase + w * i as f32).sin();
            assert!((v - expected).abs() < 1e-3, "sample {i}: {v} vs {expected}");
        }
        // No crossing (a constant): it free-runs.
        let (trace, _) = tapped(&[("src", "constant", &[("value", -0.25)])], "scope", &[], 4096);
        assert!(trace.iter().all(|&v| v == -0.25));
    }

    #[test]
    fn spectrum_peaks_at_the_sine_frequency() {
        let bin_hz = SR as f32 / FFT_SIZE as f32;
        for freq in [1500.0, 1000.0, 10_031.0] {
            let (levels, _) = tapped(&[("src", "sine", &[("freq", freq)])], "spectrum", &[], 8192);
            assert_eq!(levels.len(), SPECTRUM_BINS);
            let (k, &top) = levels
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            assert_eq!(k, (freq as f32 / bin_hz).round() as usize, "{freq} Hz");
            // Within the Hann window's scalloping loss (1.42 dB) of 0 dB.
            assert!(top <= 0.01 && top > -1.5, "{freq} Hz: {top} dB");
            if freq == 1500.0 {
                assert!(top.abs() < 0.01, "centred on a bin: {top}");
                // Far from the peak, only the window's sidelobes and rounding.
                assert!(levels[100] < -90.0, "{}", levels[100]);
            }
        }
    }
}
