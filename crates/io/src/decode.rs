//! Reading audio files: WAV, FLAC, MP3 and Ogg Vorbis decoded to f32 frames
//! by symphonia, whole ([`decode`]) or a chunk at a time with seeking
//! ([`AudioReader`], for the file reader threads). Every error names the file.
//!
//! Not here: rate conversion (`io::resample`) or anything on the audio thread.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Timestamp;

/// Why a file could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file cannot be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Not a format patchbay reads, or its header is damaged.
    #[error("{path} is not a readable audio file (WAV, FLAC, MP3 or Ogg Vorbis): {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The audio data is damaged.
    #[error("{path} is corrupt at {seconds:.3} s: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where, in seconds from the start.
        seconds: f64,
        /// What the decoder said.
        reason: String,
    },
    /// The file ends before its header says it does.
    #[error("{path} is truncated: its header promises {expected} frames, it holds {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Frames the header announces.
        expected: u64,
        /// Frames actually decoded.
        found: u64,
    },
}

/// A whole file in memory: one `Vec` per channel, all of the same length.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// Frames per second.
    pub sample_rate: u32,
    /// Samples, channel by channel.
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    /// Frames per channel.
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / self.sample_rate as f64
    }
}

/// Decode all of `path`.
pub fn decode(path: &Path) -> Result<Audio, DecodeError> {
    let mut reader = AudioReader::open(path)?;
    let mut channels = vec![Vec::new(); reader.channels()];
    if let Some(frames) = reader.frames() {
        for ch in &mut channels {
            ch.reserve(frames as usize);
        }
    }
    while reader.read_into(&mut channels, usize::MAX)? > 0 {}
    Ok(Audio {
        sample_rate: reader.sample_rate(),
        channels,
    })
}

/// An open file, decoded on demand a packet at a time.
pub struct AudioReader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    sample_rate: u32,
    channels: usize,
    frames: Option<u64>,
    /// Decoded frames not yet handed out, channel by channel, from `next`.
    pending: Vec<Vec<f32>>,
    next: usize,
    /// Frames still to drop after an accurate seek landed early.
    skip: u64,
    /// The file frame the next frame handed out comes from.
    position: u64,
    /// The stream has ended (or a seek went past it).
    finished: bool,
}

impl AudioReader {
    /// Open `path` and find its first audio track.
    pub fn open(path: &Path) -> Result<Self, DecodeError> {
        let file = File::open(path).map_err(|source| DecodeError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let format_err = |reason: String| DecodeError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| format_err(e.to_string()))?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| format_err("no audio track".into()))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| format_err("no audio codec parameters".into()))?;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|e| format_err(e.to_string()))?;
        let sample_rate = params
            .sample_rate
            .filter(|&r| r > 0)
            .ok_or_else(|| format_err("no sample rate".into()))?;
        let channels = params
            .channels
            .as_ref()
            .map(|c| c.count())
            .filter(|&c| c > 0)
            .ok_or_else(|| format_err("no channel layout".into()))?;
        let track_id = track.id;
        let frames = track.num_frames;
        Ok(AudioReader {
            path: path.to_path_buf(),
            format,
            decoder,
            track_id,
            sample_rate,
            channels,
            frames,
            pending: vec![Vec::new(); channels],
            next: 0,
            skip: 0,
            position: 0,
            finished: false,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channel count.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Length in frames, when the header says.
    pub fn frames(&self) -> Option<u64> {
        self.frames
    }

    /// Append up to `max` frames to `out` (one `Vec` per channel, at least
    /// [`AudioReader::channels`] of them). Returns how many were appended; 0
    /// means the end of the file.
    pub fn read_into(&mut self, out: &mut [Vec<f32>], max: usize) -> Result<usize, DecodeError> {
        let mut done = 0;
        while done < max {
            let available = self.pending[0].len() - self.next;
            if available == 0 {
                if !self.decode_packet()? {
                    break;
                }
                continue;
            }
            let take = available.min(max - done);
            for (dst, src) in out.iter_mut().zip(&self.pending) {
                dst.extend_from_slice(&src[self.next..self.next + take]);
            }
            self.next += take;
            self.position += take as u64;
            done += take;
        }
        Ok(done)
    }

    /// Continue from frame `frame` (clamped to the file). Exact: an early
    /// landing is made good by dropping the frames before the target.
    pub fn seek(&mut self, frame: u64) -> Result<(), DecodeError> {
        let frame = self.frames.map_or(frame, |n| frame.min(n));
        self.pending.iter_mut().for_each(Vec::clear);
        self.next = 0;
        self.finished = false;
        let seeked = self.format.seek(
            SeekMode::Accurate,
            SeekTo::Timestamp {
                ts: Timestamp::from(frame as i64),
                track_id: self.track_id,
            },
        );
        self.decoder.reset();
        match seeked {
            Ok(to) => {
                let actual = to.actual_ts.get().max(0) as u64;
                self.skip = frame.saturating_sub(actual);
                self.position = frame;
                Ok(())
            }
            // Past the end: the next read says so.
            Err(SymphoniaError::SeekError(_)) => {
                self.finished = true;
                self.position = frame;
                Ok(())
            }
            Err(e) => Err(self.corrupt(e)),
        }
    }

    /// Frames handed out, counted from the start of the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    fn corrupt(&self, e: SymphoniaError) -> DecodeError {
        DecodeError::Corrupt {
            path: self.path.clone(),
            seconds: self.position as f64 / self.sample_rate as f64,
            reason: e.to_string(),
        }
    }

    /// Decode the next packet of the track into `pending`; false at the end.
    fn decode_packet(&mut self) -> Result<bool, DecodeError> {
        if self.finished {
            return Ok(false);
        }
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return self.end(),
                Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.end();
                }
                Err(e) => return Err(self.corrupt(e)),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(decoded) => decoded,
                Err(e) => return Err(self.corrupt(e)),
            };
            decoded.copy_to_vecs_planar(&mut self.pending);
            self.pending.resize_with(self.channels, Vec::new);
            self.next = 0;
            if self.skip > 0 {
                let drop = (self.skip as usize).min(self.pending[0].len());
                self.next = drop;
                self.skip -= drop as u64;
            }
            if self.next < self.pending[0].len() {
                return Ok(true);
            }
        }
    }

    /// The stream ended: fine if the header agrees, else truncated.
    fn end(&mut self) -> Result<bool, DecodeError> {
        self.finished = true;
        let found = self.position;
        match self.frames {
            Some(expected) if found < expected => Err(DecodeError::Truncated {
                path: self.path.clone(),
                expected,
                found,
            }),
            _ => Ok(false),
        }
    }
}
