//! Sample-rate conversion of files to the engine's rate, with rubato's
//! synchronous FFT resampler (band-limited, the quality of a long sinc):
//! whole clips ([`resample`]) and streams a chunk at a time
//! ([`StreamResampler`], for the file reader threads).
//!
//! Not here: varispeed playback (the player node interpolates that itself,
//! since its ratio changes every sample).

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

use crate::decode::Audio;

/// Frames the stream resampler takes per call.
const CHUNK: usize = 1024;

/// `audio` converted to `rate` (a copy when the rates already match).
pub fn resample(audio: &Audio, rate: u32) -> Audio {
    let mut converter = StreamResampler::new(audio.sample_rate, rate, audio.channels.len());
    let mut channels = vec![Vec::new(); audio.channels.len()];
    converter.push(&audio.channels, true, &mut channels);
    Audio {
        sample_rate: rate,
        channels,
    }
}

/// Converts a stream fed in arbitrary pieces; output is trimmed of the
/// resampler's delay, so frame `n` out lines up with frame `n · ratio` in.
pub struct StreamResampler {
    resampler: Option<Fft<f32>>,
    channels: usize,
    /// Input waiting for a whole chunk.
    input: Vec<Vec<f32>>,
    output: Vec<Vec<f32>>,
    /// Output frames still to drop (the resampler's delay).
    delay_left: usize,
    /// Output rate over input rate.
    ratio: f64,
    /// Input frames fed and output frames emitted since the last reset.
    fed: u64,
    emitted: u64,
}

impl StreamResampler {
    /// From `from` Hz to `to` Hz, `channels` wide.
    pub fn new(from: u32, to: u32, channels: usize) -> Self {
        let resampler = (from != to).then(|| {
            Fft::<f32>::new(from as usize, to as usize, CHUNK, channels, FixedSync::Input)
                .expect("rates and channels are positive")
        });
        let (output, delay_left) = match &resampler {
            Some(r) => (vec![vec![0.0; r.output_frames_max()]; channels], r.output_delay()),
            None => (Vec::new(), 0),
        };
        StreamResampler {
            resampler,
            channels,
            input: vec![Vec::with_capacity(CHUNK); channels],
            output,
            delay_left,
            ratio: to as f64 / from as f64,
            fed: 0,
            emitted: 0,
        }
    }

    /// Forget everything fed so far (after a seek).
    pub fn reset(&mut self) {
        if let Some(r) = &mut self.resampler {
            r.reset();
            self.delay_left = r.output_delay();
        }
        self.input.iter_mut().for_each(Vec::clear);
        self.fed = 0;
        self.emitted = 0;
    }

    /// Feed `frames` (one `Vec` per channel); converted frames are appended
    /// to `out`. With `end`, the input is over: the tail is flushed.
    pub fn push(&mut self, frames: &[Vec<f32>], end: bool, out: &mut [Vec<f32>]) {
        if self.resampler.is_none() {
            for (o, i) in out.iter_mut().zip(frames) {
                o.extend_from_slice(i);
            }
            return;
        }
        let n = frames.first().map_or(0, Vec::len);
        self.fed += n as u64;
        let mut offset = 0;
        while offset < n {
            let take = (CHUNK - self.input[0].len()).min(n - offset);
            for (buf, src) in self.input.iter_mut().zip(frames) {
                buf.extend_from_slice(&src[offset..offset + take]);
            }
            offset += take;
            if self.input[0].len() == CHUNK {
                self.run_chunk(u64::MAX, out);
            }
        }
        if end {
            // Pump silence until everything the input is worth has come out
            // past the delay, and no more.
            let wanted = (self.fed as f64 * self.ratio).round() as u64;
            while self.emitted < wanted {
                for buf in &mut self.input {
                    buf.resize(CHUNK, 0.0);
                }
                self.run_chunk(wanted - self.emitted, out);
            }
        }
    }

    /// Convert the full input chunk, appending at most `limit` frames.
    fn run_chunk(&mut self, limit: u64, out: &mut [Vec<f32>]) {
        let resampler = self.resampler.as_mut().expect("only called when converting");
        let input = SequentialSliceOfVecs::new(&self.input, self.channels, CHUNK)
            .expect("input holds a whole chunk per channel");
        let frames_out = resampler.output_frames_next();
        let mut output = SequentialSliceOfVecs::new_mut(&mut self.output, self.channels, frames_out)
            .expect("output sized by output_frames_max");
        let (_, produced) = resampler
            .process_into_buffer(&input, &mut output, None)
            .expect("buffers sized by rubato itself");
        for buf in &mut self.input {
            buf.clear();
        }
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        let keep = ((produced - skip) as u64).min(limit) as usize;
        for (o, src) in out.iter_mut().zip(&self.output) {
            o.extend_from_slice(&src[skip..skip + keep]);
        }
        self.emitted += keep as u64;
    }
}
