//! Measuring helpers shared by the filter tests: impulse responses rendered
//! through the real engine, their frequency response by direct DFT, the
//! bilinear-transform frequency warping the analytic responses need, and
//! the sweeps and jumps the stability and click tests use.

use std::f64::consts::{PI, TAU};

use rustfft::num_complex::Complex64;

use crate::testing::*;

/// One second of the impulse response of `kind` (its output `port`) with
/// `params`, at `rate`.
pub fn impulse_response(kind: &str, port: &str, params: &[(&str, f64)], rate: u32) -> Vec<f32> {
    let mut patch = Patch::default();
    patch.nodes.push(node("imp", "impulse", &[]));
    patch.nodes.push(node("dut", kind, params));
    patch.nodes.push(node("out", "output", &[]));
    patch
        .connect("imp.out", "dut.in")
        .connect(&format!("dut.{port}"), "out.in");
    render_patch(&patch, rate as usize, rate).0
}

/// The complex frequency response at `f` of an impulse response, by a
/// direct DFT.
pub fn response(ir: &[f32], f: f64, fs: f64) -> Complex64 {
    let mut sum = Complex64::new(0.0, 0.0);
    let step = Complex64::from_polar(1.0, -TAU * f / fs);
    let mut rotor = Complex64::new(1.0, 0.0);
    for (n, &h) in ir.iter().enumerate() {
        sum += rotor * h as f64;
        rotor *= step;
        // Renormalise now and then so rounding does not drift the rotor.
        if n % 1024 == 1023 {
            rotor = Complex64::from_polar(1.0, -TAU * f * (n + 1) as f64 / fs);
        }
    }
    sum
}

/// Gain in dB of a complex response.
pub fn db(h: Complex64) -> f64 {
    20.0 * h.norm().max(1e-30).log10()
}

/// The bilinear transform's frequency warping, normalised at `f0`: the
/// analog prototype's frequency that a digital filter tuned to `f0` maps
/// `f` onto, `tan(πf/Fs) / tan(πf0/Fs)`.
pub fn warp(f: f64, f0: f64, fs: f64) -> f64 {
    (PI * f / fs).tan() / (PI * f0 / fs).tan()
}

/// Twenty log-spaced probe frequencies from 20 Hz to 20 kHz (or 0.45 × the
/// sample rate, whichever is lower).
pub fn probes(fs: f64) -> impl Iterator<Item = f64> {
    let top = 20_000f64.min(0.45 * fs);
    (0..20).map(move |i| 20.0 * (top / 20.0).powf(i as f64 / 19.0))
}

/// Assert that the impulse response's gain at `f` is within `tolerance_db`
/// of `expected`'s. Deep in a stopband (below -60 dB, where an f32 impulse
/// response no longer resolves a tenth of a dB) it need only be below -55 dB.
pub fn assert_close_db(ir: &[f32], f: f64, fs: f64, expected: Complex64, tolerance_db: f64, what: &str) {
    let measured = db(response(ir, f, fs));
    let expected = db(expected);
    if expected < -60.0 {
        assert!(
            measured < -55.0,
            "{what}: at {f:.1} Hz {measured:.3} dB, expected {expected:.3}"
        );
    } else {
        assert!(
            (measured - expected).abs() < tolerance_db,
            "{what}: at {f:.1} Hz {measured:.3} dB, expected {expected:.3}"
        );
    }
}

/// Noise through `kind` (its first output) while every parameter sweeps
/// its whole range up and down and jumps end to end, at `rate`.
pub fn sweep_every_parameter(kind: &str, rate: u32) -> (Vec<f32>, Vec<f32>) {
    let d = crate::registry().get(kind).expect("registered");
    let mut patch = Patch::default();
    patch.nodes.push(node("n", "noise", &[("seed", 5.0)]));
    patch.nodes.push(node("dut", kind, &[]));
    patch.nodes.push(node("out", "output", &[]));
    patch
        .connect("n.out", "dut.in")
        .connect(&format!("dut.{}", d.outputs[0].name), "out.in");
    let frames = rate as usize * 2;
    let steps = 64;
    let mut changes = Vec::new();
    for i in 0..steps {
        // Up and down twice, then corner to corner.
        let t = i as f64 / steps as f64;
        let ramp = 1.0 - (2.0 * (2.0 * t).fract() - 1.0).abs();
        for (k, p) in d.params.iter().enumerate() {
            let x = if i >= steps / 2 {
                ((i + k) % 2) as f64
            } else {
                ramp
            };
            let value = if p.curve == patchbay_core::Curve::Log {
                p.min * (p.max / p.min).powf(x)
            } else {
                p.min + (p.max - p.min) * x
            };
            changes.push(Change {
                frame: i * frames / steps,
                node: "dut",
                param: p.name,
                value: value as f32,
            });
        }
    }
    render_patch_with(&patch, frames, rate, 64, &changes)
}

/// Half a second of a `freq` Hz sine at amplitude 0.25 through
/// `kind` (set to `params`) at 48 kHz, with `param` sent to `to` after
/// 0.25 s; the first 0.1 s (the filter settling) is left out.
pub fn jump(kind: &str, params: &[(&str, f64)], param: &str, to: f32, freq: f64) -> Vec<f32> {
    let d = crate::registry().get(kind).expect("registered");
    let mut patch = Patch::default();
    patch
        .nodes
        .push(node("src", "sine", &[("freq", freq), ("amp", 0.25)]));
    patch.nodes.push(node("dut", kind, params));
    patch.nodes.push(node("out", "output", &[]));
    patch
        .connect("src.out", "dut.in")
        .connect(&format!("dut.{}", d.outputs[0].name), "out.in");
    let change = Change {
        frame: 12_000,
        node: "dut",
        param,
        value: to,
    };
    render_patch_with(&patch, 24_000, 48_000, 64, &[change]).0[4800..].to_vec()
}

/// The largest sample-to-sample step of a steady sine.
pub fn sine_step(freq: f64, amp: f64, fs: f64) -> f32 {
    (2.0 * (PI * freq / fs).sin() * amp) as f32
}
