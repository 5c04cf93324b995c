//! `player`: plays an audio file, streamed or preloaded, with loop,
//! start/end points and varispeed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use patchbay_core::{
    NodeContext, NodeDescriptor, ParamSpec, PortSpec, ProcessIo, Processor, SettingKind, SettingSpec, Unit,
    no_latency,
};

use super::{Clip, DECLICK_S, FileEnds, FileJob, Region, StreamControl, StreamFrame, file_rings, point};
use crate::delay::hermite;
use crate::smooth::Ramp;

/// `player`: a file on disk, played.
pub static PLAYER: NodeDescriptor = NodeDescriptor {
    kind: "player",
    category: "io",
    summary: "Plays an audio file (WAV, FLAC, MP3, Ogg Vorbis): preloaded when short, streamed from disk \
              when long, converted to the engine's rate; loop, start/end points, varispeed.",
    inputs: &[PortSpec::control(
        "trig",
        "Each rise above 0.5 plays the region again from `start`.",
    )],
    outputs: &[
        PortSpec::audio("out", "The file, stereo (a mono file on both sides).").channels(2),
        PortSpec::control("playing", "1 while playing, 0 when stopped or at the end."),
    ],
    params: &[
        ParamSpec::choice("play", &["stop", "play"], 1)
            .doc("`play` starts from `start` (at once when the patch loads); `stop` fades out and stops."),
        ParamSpec::choice("looping", &["off", "on"], 0).doc("`on`: after `end`, play on from `start`."),
        point(
            "start",
            "Where playing starts, in seconds from the start of the file.",
        ),
        point(
            "end",
            "Where playing ends (or loops), in seconds; 0 means the end of the file.",
        ),
        ParamSpec::new("speed", 0.25, 4.0, 1.0)
            .log()
            .smoothing(0.05)
            .doc("Playback speed and pitch: 2 plays an octave up in half the time (interpolated)."),
        ParamSpec::new("gain", -60.0, 12.0, 0.0)
            .unit(Unit::Db)
            .doc("Level in dB."),
    ],
    settings: &[SettingSpec::new("file", SettingKind::File, "")
        .doc("The audio file to play (relative to the patch's folder). Changing it loads the new file.")],
    channels_param: None,
    latency: no_latency,
    breaks_cycles: false,
    may_rest: false,
    build: |ctx| Box::new(Player::new(ctx)),
};

/// Parameter indices.
const PLAY: usize = 0;
const LOOP: usize = 1;
const START: usize = 2;
const END: usize = 3;
const SPEED: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Stopped,
    /// Restarted; waiting for the first frame of the pass.
    Waiting,
    Playing,
    /// The region is over: this many more frames to move through the
    /// interpolator before the last one has been heard.
    Ending(u8),
}

/// What the source of frames had.
enum Next {
    Frame([f32; 2]),
    End,
    Empty,
}

/// The player's state. Frames come from a preloaded clip when the host
/// delivered one, else from the stream ring; either way the region's
/// frames, at speed 1, pass through a 4-point interpolator that moves
/// through them at `speed`.
pub struct Player {
    ends: FileEnds,
    job: Option<FileJob>,
    clip: Option<Box<Clip>>,
    sample_rate: f64,
    region: Region,
    /// `region` in frames of the clip.
    range: std::ops::Range<usize>,
    clip_pos: usize,
    /// The pass of the stream this player plays (see `StreamControl`).
    pass: u32,
    state: State,
    /// Frames around the playhead: before, at, after, after that.
    window: [[f32; 2]; 4],
    /// How far the playhead is past `window[1]`, 0..1.
    frac: f64,
    speed: f64,
    gain: Ramp,
    /// Level of the stop fade; `fade_step` is 0 while not stopping.
    fade: f32,
    fade_step: f32,
    trig_high: bool,
}

impl Player {
    fn new(ctx: &NodeContext) -> Player {
        let region = Region {
            start_s: ctx.param(START) as f64,
            end_s: ctx.param(END) as f64,
            looping: ctx.param(LOOP) >= 0.5,
        };
        let (ends, job) = file_rings(ctx.id, ctx.setting(0), ctx.sample_rate, Some(region));
        Player {
            ends,
            job,
            clip: None,
            sample_rate: ctx.sample_rate as f64,
            region,
            range: 0..0,
            clip_pos: 0,
            pass: 0,
            state: if ctx.param(PLAY) >= 0.5 {
                State::Waiting
            } else {
                State::Stopped
            },
            window: [[0.0; 2]; 4],
            frac: 0.0,
            speed: ctx.param(SPEED) as f64,
            gain: Ramp::new(crate::db_to_gain(ctx.param(5))),
            fade: 1.0,
            fade_step: 0.0,
            trig_high: false,
        }
    }

    fn control(&self) -> Option<&Arc<StreamControl>> {
        self.ends.stream.as_ref().map(|(_, control)| control)
    }

    fn set_region(&mut self) {
        if let Some(control) = self.control() {
            control.set_region(self.region);
        }
        if let Some(clip) = &self.clip {
            self.range = self.region.frames(self.sample_rate, clip.len());
        }
    }

    /// Play the region again from its start.
    fn restart(&mut self) {
        if let Some(control) = self.control() {
            self.pass = control.next_pass();
        }
        self.clip_pos = self.range.start;
        self.state = State::Waiting;
        self.frac = 0.0;
        self.fade = 1.0;
        self.fade_step = 0.0;
    }

    fn next_frame(&mut self) -> Next {
        if let Some(clip) = &self.clip {
            if self.clip_pos >= self.range.end {
                if !self.region.looping || self.range.is_empty() {
                    return Next::End;
                }
                self.clip_pos = self.range.start;
            }
            let frame = clip.frame(self.clip_pos);
            self.clip_pos += 1;
            return Next::Frame(frame);
        }
        let Some((ring, _)) = &mut self.ends.stream else {
            return Next::Empty;
        };
        let pass = self.pass;
        // Frames of an earlier pass are stale: drop them in one go.
        if ring.peek().is_ok_and(|f| f.pass != pass) {
            let n = ring.slots();
            if let Ok(chunk) = ring.read_chunk(n) {
                let (a, b) = chunk.as_slices();
                let stale = a.iter().chain(b).take_while(|f| f.pass != pass).count();
                chunk.commit(stale);
            }
        }
        match ring.pop() {
            Ok(StreamFrame { end: true, .. }) => Next::End,
            Ok(f) => Next::Frame(f.frame),
            Err(_) => Next::Empty,
        }
    }

    /// Move the window on by one frame.
    fn shift(&mut self) {
        let incoming = match self.state {
            State::Ending(n) => {
                self.state = if n <= 1 {
                    State::Stopped
                } else {
                    State::Ending(n - 1)
                };
                [0.0; 2]
            }
            _ => match self.next_frame() {
                Next::Frame(f) => f,
                Next::End => {
                    self.state = State::Ending(2);
                    [0.0; 2]
                }
                Next::Empty => {
                    if let Some(control) = self.control() {
                        control.underruns.fetch_add(1, Ordering::Relaxed);
                    }
                    [0.0; 2]
                }
            },
        };
        self.window = [self.window[1], self.window[2], self.window[3], incoming];
    }

    /// Start playing if the pass's first frame is there.
    fn try_start(&mut self) {
        match self.next_frame() {
            Next::Frame(first) => {
                // Two frames of lookahead behind the first: it sounds now.
                self.window = [[0.0; 2], [0.0; 2], [0.0; 2], first];
                self.state = State::Playing;
                self.shift();
                self.shift();
            }
            Next::End => self.state = State::Stopped,
            Next::Empty => {}
        }
    }

    /// Render one stretch: `trig` in, stereo and the playing flag out.
    fn render(&mut self, trig: &[f32], left: &mut [f32], right: &mut [f32], playing: &mut [f32]) {
        if self.clip.is_none()
            && let Ok(clip) = self.ends.clip.pop()
        {
            self.clip = Some(clip);
            self.set_region();
            self.clip_pos = self.range.start;
        }
        let gain = self.gain.segment(left.len());
        for k in 0..left.len() {
            let high = trig[k] > 0.5;
            if high && !self.trig_high {
                self.restart();
            }
            self.trig_high = high;
            if self.state == State::Waiting {
                self.try_start();
            }
            if matches!(self.state, State::Stopped | State::Waiting) {
                left[k] = 0.0;
                right[k] = 0.0;
                playing[k] = f32::from(self.state == State::Waiting);
                continue;
            }
            let t = self.frac as f32;
            let [a, b, c, d] = self.window;
            let level = gain.at(k) * self.fade;
            left[k] = hermite(a[0], b[0], c[0], d[0], t) * level;
            right[k] = hermite(a[1], b[1], c[1], d[1], t) * level;
            playing[k] = 1.0;
            self.frac += self.speed;
            while self.frac >= 1.0 && self.state != State::Stopped {
                self.frac -= 1.0;
                self.shift();
            }
            if self.fade_step > 0.0 {
                self.fade -= self.fade_step;
                if self.fade <= 0.0 {
                    self.state = State::Stopped;
                }
            }
        }
    }
}

impl Processor for Player {
    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            PLAY => {
                let on = value >= 0.5;
                let stopped = self.state == State::Stopped || self.fade_step > 0.0;
                if on && stopped {
                    self.restart();
                } else if !on && !stopped {
                    self.fade_step = (1.0 / (DECLICK_S * self.sample_rate)).min(1.0) as f32;
                }
            }
            LOOP => {
                self.region.looping = value >= 0.5;
                self.set_region();
            }
            START => {
                self.region.start_s = value as f64;
                self.set_region();
            }
            END => {
                self.region.end_s = value as f64;
                self.set_region();
            }
            SPEED => self.speed = value as f64,
            _ => self.gain.set(crate::db_to_gain(value)),
        }
    }

    fn process(&mut self, io: &mut ProcessIo<'_>) {
        let trig = io.input(0, 0);
        let [left, right, playing] = io.outputs([(0, 0), (0, 1), (1, 0)]);
        self.render(trig, left, right, playing);
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

    fn params(play: f32, looping: f32, start: f32, end: f32, speed: f32) -> [f32; 6] {
        [play, looping, start, end, speed, 0.0]
    }

    /// A player of `clip` (preloaded), run for `frames` with `trig`.
    fn play(clip: &Clip, params: &[f32; 6], frames: usize, trig_at: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let settings = ["memory".to_string()];
        let ctx = NodeContext {
            id: "p",
            sample_rate: RATE,
            max_block: 64,
            channels: 1,
            params,
            settings: &settings,
            feedback_delay: 0,
        };
        let mut player = Player::new(&ctx);
        deliver(player.job.as_mut().expect("names a file"), clip);
        let mut trig = vec![0.0; frames];
        for &at in trig_at {
            trig[at] = 1.0;
        }
        let (mut l, mut r, mut on) = (vec![0.0; frames], vec![0.0; frames], vec![0.0; frames]);
        for start in (0..frames).step_by(64) {
            let end = (start + 64).min(frames);
            player.render(
                &trig[start..end],
                &mut l[start..end],
                &mut r[start..end],
                &mut on[start..end],
            );
        }
        (l, on)
    }

    fn sine(freq: f32, seconds: f32) -> Clip {
        let n = (seconds * RATE) as usize;
        Clip::new(&[(0..n)
            .map(|i| (std::f32::consts::TAU * freq * i as f32 / RATE + 1.0).sin() * 0.5)
            .collect()])
    }

    #[test]
    fn plays_the_clip_once_sample_for_sample() {
        let clip = sine(440.0, 0.25);
        let (out, on) = play(&clip, &params(1.0, 0.0, 0.0, 0.0, 1.0), 24_000, &[]);
        for i in 0..clip.len() {
            assert_eq!(out[i], clip.frame(i)[0], "frame {i}");
        }
        assert!(out[clip.len() + 2..].iter().all(|&x| x == 0.0));
        let played = on.iter().filter(|&&x| x == 1.0).count();
        assert!((played as i64 - clip.len() as i64).abs() <= 2, "{played}");
    }

    #[test]
    fn double_speed_doubles_the_pitch_and_halves_the_length() {
        let clip = sine(440.0, 0.5);
        let (out, on) = play(&clip, &params(1.0, 0.0, 0.0, 0.0, 2.0), 24_000, &[]);
        let f = peak_frequency(&out[1000..1000 + 8192], RATE);
        assert!((f - 880.0).abs() < 0.9, "{f}");
        let played = on.iter().filter(|&&x| x == 1.0).count();
        assert!((played as i64 - 12_000).abs() <= 2, "{played}");
    }

    #[test]
    fn a_loop_repeats_the_region_exactly() {
        let clip = sine(440.0, 0.5);
        // Region 0.1 .. 0.2 s: 4800 frames, played from 4800.
        let (out, on) = play(&clip, &params(1.0, 1.0, 0.1, 0.2, 1.0), 48_000, &[]);
        assert!(
            on.iter().all(|&x| x == 1.0),
            "still playing after the file's length"
        );
        for i in 0..4800 * 9 {
            assert_eq!(out[i], clip.frame(4800 + i % 4800)[0], "frame {i}");
        }
    }

    #[test]
    fn a_trigger_plays_again_from_the_start() {
        let clip = sine(440.0, 0.1);
        let (out, on) = play(&clip, &params(0.0, 0.0, 0.0, 0.0, 1.0), 20_000, &[10_000]);
        assert!(out[..10_000].iter().all(|&x| x == 0.0) && on[..10_000].iter().all(|&x| x == 0.0));
        for i in 0..clip.len() {
            assert_eq!(out[10_000 + i], clip.frame(i)[0], "frame {i}");
        }
    }
}
