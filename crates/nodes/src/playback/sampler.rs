//! `sampler`: a preloaded sample played by a gate at the pitch of a note,
//! the building block of a drum kit.

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, SettingKind, SettingSpec, Unit,
    no_latency,
};

use super::{Clip, DECLICK_S, FileEnds, FileJob, Region, file_rings, point};
use crate::delay::hermite;
use crate::smooth::Ramp;

/// `sampler`: a sample voice.
pub static SAMPLER: NodeDescriptor = NodeDescriptor {
    kind: "sampler",
    category: "sources",
    summary: "Plays a sample (preloaded from a file) on each rise of `gate`, pitched by `note` against \
              `root`: one-shot, held while the gate is, or looped while it is.",
    inputs: &[
        PortSpec::control(
            "gate",
            "Each rise above 0.5 plays the sample from `start` (a playing one fades out in 3 ms).",
        ),
        PortSpec::control(
            "note",
            "MIDI note number, read at each rise of `gate`; 0 (unconnected) plays at the root.",
        ),
    ],
    outputs: &[PortSpec::audio("out", "The sample, stereo (a mono one on both sides).").channels(2)],
    params: &[
        ParamSpec::new("root", 0.0, 127.0, 60.0)
            .unit(Unit::Semitones)
            .smoothing(0.0)
            .doc("The note at which the sample plays at its own pitch."),
        ParamSpec::new("tune", -48.0, 48.0, 0.0)
            .unit(Unit::Semitones)
            .smoothing(0.0)
            .doc("Transposition in semitones (fractions detune)."),
        ParamSpec::choice("mode", &["oneshot", "gate", "loop"], 0).doc(
            "`oneshot`: plays to the end whatever the gate does; `gate`: stops (3 ms fade) when \
             the gate falls; `loop`: repeats `start`..`end` until the gate falls.",
        ),
        point("start", "Where the sample starts, in seconds into the file."),
        point(
            "end",
            "Where it ends (or loops), in seconds; 0 means the end of the file.",
        ),
        ParamSpec::new("gain", -60.0, 12.0, 0.0)
            .unit(Unit::Db)
            .doc("Level in dB."),
    ],
    settings: &[SettingSpec::new("file", SettingKind::File, "")
        .doc("The sample (relative to the patch's folder), loaded whole into memory.")],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Sampler::new(ctx)),
};

/// Parameter indices.
const ROOT: usize = 0;
const TUNE: usize = 1;
const MODE: usize = 2;
const START: usize = 3;
const END: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    OneShot,
    Gate,
    Loop,
}

impl Mode {
    fn from_param(value: f32) -> Mode {
        match value.round() as i32 {
            0 => Mode::OneShot,
            1 => Mode::Gate,
            _ => Mode::Loop,
        }
    }
}

/// One playing of the sample.
#[derive(Clone, Copy, Debug, Default)]
struct Voice {
    active: bool,
    looping: bool,
    /// Position in clip frames.
    pos: f64,
    /// Frames advanced per output frame.
    rate: f64,
    level: f32,
    /// Per-frame fall of `level` (0: not fading).
    fade: f32,
}

/// The sampler's state: the voice playing and the one fading out after a
/// retrigger.
pub struct Sampler {
    ends: FileEnds,
    job: Option<FileJob>,
    clip: Option<Box<Clip>>,
    sample_rate: f64,
    region: Region,
    range: std::ops::Range<usize>,
    root: f32,
    tune: f32,
    mode: Mode,
    gain: Ramp,
    voices: [Voice; 2],
    gate_high: bool,
    declick_step: f32,
}

impl Sampler {
    fn new(ctx: &NodeContext) -> Sampler {
        let (ends, job) = file_rings(ctx.id, ctx.setting(0), ctx.sample_rate, None);
        let sample_rate = ctx.sample_rate as f64;
        Sampler {
            ends,
            job,
            clip: None,
            sample_rate,
            region: Region {
                start_s: ctx.param(START) as f64,
                end_s: ctx.param(END) as f64,
                looping: false,
            },
            range: 0..0,
            root: ctx.param(ROOT),
            tune: ctx.param(TUNE),
            mode: Mode::from_param(ctx.param(MODE)),
            gain: Ramp::new(crate::db_to_gain(ctx.param(5))),
            voices: [Voice::default(); 2],
            gate_high: false,
            declick_step: (1.0 / (DECLICK_S * sample_rate)).min(1.0) as f32,
        }
    }

    fn set_region(&mut self) {
        if let Some(clip) = &self.clip {
            self.range = self.region.frames(self.sample_rate, clip.len());
        }
    }

    /// A new voice for `note`; the playing one fades out.
    fn trigger(&mut self, note: f32) {
        let note = if note > 0.0 { note } else { self.root };
        let semitones = (note - self.root + self.tune) as f64;
        if self.voices[0].active {
            self.voices[1] = Voice {
                fade: self.declick_step,
                ..self.voices[0]
            };
        }
        self.voices[0] = Voice {
            active: !self.range.is_empty(),
            looping: self.mode == Mode::Loop,
            pos: self.range.start as f64,
            rate: (semitones / 12.0).exp2(),
            level: 1.0,
            fade: 0.0,
        };
    }

    /// The voice's next frame, moving it on.
    #[inline]
    fn tick(voice: &mut Voice, clip: &Clip, range: &std::ops::Range<usize>) -> [f32; 2] {
        if !voice.active {
            return [0.0; 2];
        }
        let whole = voice.pos as usize;
        let t = (voice.pos - whole as f64) as f32;
        let len = range.len();
        // Neighbours outside the region are silence, or the other end of
        // the loop.
        let at = |i: isize| -> [f32; 2] {
            let i = whole as isize + i;
            if (range.start as isize..range.end as isize).contains(&i) {
                clip.frame(i as usize)
            } else if voice.looping {
                let offset = (i - range.start as isize).rem_euclid(len as isize) as usize;
                clip.frame(range.start + offset)
            } else {
                [0.0; 2]
            }
        };
        let (a, b, c, d) = (at(-1), at(0), at(1), at(2));
        let level = voice.level;
        let out = [
            hermite(a[0], b[0], c[0], d[0], t) * level,
            hermite(a[1], b[1], c[1], d[1], t) * level,
        ];
        voice.pos += voice.rate;
        if voice.pos >= range.end as f64 {
            if voice.looping {
                voice.pos -= len as f64;
            } else {
                voice.active = false;
            }
        }
        if voice.fade > 0.0 {
            voice.level -= voice.fade;
            if voice.level <= 0.0 {
                voice.active = false;
            }
        }
        out
    }

    fn render(&mut self, gate: &[f32], note: &[f32], left: &mut [f32], right: &mut [f32]) {
        if self.clip.is_none()
            && let Ok(clip) = self.ends.clip.pop()
        {
            self.clip = Some(clip);
            self.set_region();
        }
        let gain = self.gain.segment(left.len());
        for k in 0..left.len() {
            let high = gate[k] > 0.5;
            if high && !self.gate_high {
                self.trigger(note[k]);
            } else if !high && self.gate_high && self.mode != Mode::OneShot && self.voices[0].fade == 0.0 {
                self.voices[0].fade = self.declick_step;
            }
            self.gate_high = high;
            let Some(clip) = &self.clip else {
                left[k] = 0.0;
                right[k] = 0.0;
                continue;
            };
            let [l0, r0] = Self::tick(&mut self.voices[0], clip, &self.range);
            let [l1, r1] = Self::tick(&mut self.voices[1], clip, &self.range);
            let g = gain.at(k);
            left[k] = (l0 + l1) * g;
            right[k] = (r0 + r1) * g;
        }
    }
}

impl Processor for Sampler {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            ROOT => self.root = value,
            TUNE => self.tune = value,
            MODE => {
                self.mode = Mode::from_param(value);
                self.voices[0].looping = self.mode == Mode::Loop;
            }
            START => {
                self.region.start_s = value as f64;
                self.set_region();
            }
            END => {
                self.region.end_s = value as f64;
                self.set_region();
            }
            _ => self.gain.set(crate::db_to_gain(value)),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let (gate, note) = (io.input(0, 0), io.input(1, 0));
        let [left, right] = io.outputs([(0, 0), (0, 1)]);
        self.render(gate, note, left, right);
    }

    fn disk_job(&mut self) -> Option<patchbay_core::DiskJob> {
        self.job.take().map(patchbay_core::DiskJob::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::deliver;
    use crate::testing::*;

    const RATE: f32 = 48_000.0;

    /// A sampler of `clip` with `params` (root, tune, mode, start, end,
    /// gain), gated high for `hold` frames at each of `hits` (frame, note).
    fn run(clip: &Clip, params: [f32; 6], frames: usize, hits: &[(usize, f32)], hold: usize) -> Vec<f32> {
        let settings = ["memory".to_string()];
        let ctx = NodeContext {
            id: "s",
            sample_rate: RATE,
            max_block: 64,
            channels: 1,
            params: &params,
            settings: &settings,
            feedback_delay: 0,
        };
        let mut sampler = Sampler::new(&ctx);
        deliver(sampler.job.as_mut().expect("names a file"), clip);
        let (mut gate, mut note) = (vec![0.0; frames], vec![0.0; frames]);
        for &(at, n) in hits {
            gate[at..(at + hold).min(frames)].fill(1.0);
            note[at..frames].fill(n);
        }
        let (mut l, mut r) = (vec![0.0; frames], vec![0.0; frames]);
        for start in (0..frames).step_by(64) {
            let end = (start + 64).min(frames);
            sampler.render(
                &gate[start..end],
                &note[start..end],
                &mut l[start..end],
                &mut r[start..end],
            );
        }
        l
    }

    /// 0.5 s of a 440 Hz sine, fading in over 1 ms so a restart is audible
    /// as a return to silence.
    fn tone() -> Clip {
        Clip::new(&[(0..24_000)
            .map(|i| {
                let fade = (i as f32 / 48.0).min(1.0);
                (std::f32::consts::TAU * 440.0 * i as f32 / RATE).sin() * 0.5 * fade
            })
            .collect()])
    }

    const ONESHOT: [f32; 6] = [60.0, 0.0, 0.0, 0.0, 0.0, 0.0];

    #[test]
    fn the_note_sets_the_pitch_against_the_root() {
        let clip = tone();
        for (note, want) in [
            (60.0, 440.0),
            (72.0, 880.0),
            (67.0, 440.0 * 1.498_307),
            (0.0, 440.0),
        ] {
            let out = run(&clip, ONESHOT, 12_000, &[(0, note)], 10);
            let f = peak_frequency(&out[512..512 + 8192], RATE);
            assert!(
                (f - want).abs() < want * 0.002,
                "note {note}: {f} Hz, want {want}"
            );
        }
    }

    #[test]
    fn a_oneshot_plays_once_to_the_end_whatever_the_gate() {
        let clip = tone();
        let out = run(&clip, ONESHOT, 30_000, &[(100, 60.0)], 10);
        assert!(out[..100].iter().all(|&x| x == 0.0));
        for i in 0..clip.len() {
            assert_eq!(out[100 + i], clip.frame(i)[0], "frame {i}");
        }
        assert!(out[100 + clip.len()..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn a_retrigger_restarts_the_sample_and_fades_the_old_one() {
        let clip = tone();
        let out = run(&clip, ONESHOT, 24_000, &[(0, 60.0), (5_000, 60.0)], 10);
        // The old voice fades out in 3 ms (144 frames); after that the
        // output is the sample from its start again.
        let fade = (DECLICK_S * RATE as f64).ceil() as usize;
        for i in fade..12_000 {
            assert!((out[5_000 + i] - clip.frame(i)[0]).abs() < 1e-6, "frame {i}");
        }
        // During the fade both sound; the step at the retrigger is no
        // larger than the sine's own steepest step.
        let steepest = out[..5_000]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!((out[5_000] - out[4_999]).abs() <= steepest * 1.01);
    }

    #[test]
    fn gate_and_loop_modes_follow_the_gate() {
        let clip = tone();
        let gate_mode = [60.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let out = run(&clip, gate_mode, 24_000, &[(0, 60.0)], 4_800);
        assert!(rms(&out[2_000..4_800]) > 0.3);
        assert!(
            out[4_800 + 200..].iter().all(|&x| x == 0.0),
            "silent after the fade"
        );

        // Loop 0.1..0.11 s (480 frames) for 0.4 s: periodic while held.
        let loop_mode = [60.0, 0.0, 2.0, 0.1, 0.11, 0.0];
        let out = run(&clip, loop_mode, 24_000, &[(0, 60.0)], 19_200);
        for i in 0..18_000 {
            assert!((out[i] - out[i + 480]).abs() < 1e-6, "frame {i}");
        }
        assert!(out[19_200 + 200..].iter().all(|&x| x == 0.0));
    }
}
