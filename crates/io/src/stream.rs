//! Device output through cpal: open the chosen host and device at the
//! engine's rate, in whatever sample format the device takes, and drive
//! the runtime from its callback.

use std::time::Duration;

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{BufferSize, SampleFormat, StreamConfig, SupportedStreamConfig};

use crate::callback::Driver;
use crate::devices::{HostChoice, by_sample_type, find_output};
use crate::meters::Meters;
use crate::player::{DeviceError, Output, Running};

/// How long a backend may take to start a stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Which output to open, as `play`'s options say.
#[derive(Clone, Debug, Default)]
pub struct OutputSpec {
    /// The host; `None` tries JACK (if a server runs), then ALSA.
    pub host: Option<HostChoice>,
    /// The device name as `patchbay devices` lists it; `None`: default.
    pub device: Option<String>,
    /// Sample rate; `None`: the device's preferred one.
    pub rate: Option<u32>,
    /// Frames per device callback; `None`: the device's default.
    pub buffer: Option<u32>,
}

/// A cpal output device, reopened with the same settings after a fault.
pub struct CpalOutput {
    spec: OutputSpec,
    /// What the last successful probe or open found, for messages.
    label: String,
}

/// A playing cpal stream; dropping it stops it.
struct CpalStream {
    _stream: cpal::Stream,
}

impl Running for CpalStream {}

impl CpalOutput {
    /// An output to open as `spec` says.
    pub fn new(spec: OutputSpec) -> CpalOutput {
        let label = match (&spec.host, &spec.device) {
            (Some(h), Some(d)) => format!("{h} `{d}`"),
            (Some(h), None) => format!("{h} default"),
            (None, Some(d)) => format!("`{d}`"),
            (None, None) => "the default output".into(),
        };
        CpalOutput { spec, label }
    }

    /// Find the device and the rate it will run at, without opening it:
    /// the patch is compiled for that rate.
    pub fn probe(&mut self) -> Result<u32, DeviceError> {
        let (found, config) = self.find(self.spec.rate)?;
        self.label = found.label;
        Ok(config.sample_rate())
    }

    fn find(&self, rate: Option<u32>) -> Result<(crate::devices::Found, SupportedStreamConfig), DeviceError> {
        let found = find_output(self.spec.host, self.spec.device.as_deref())
            .map_err(|tried| DeviceError::NotOpened(tried.join("; ")))?;
        let config = choose_config(&found.device, rate)
            .map_err(|why| DeviceError::NotOpened(format!("{}: {why}", found.label)))?;
        Ok((found, config))
    }
}

impl Output for CpalOutput {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn open(&mut self, rate: u32, driver: &Driver) -> Result<Box<dyn Running>, DeviceError> {
        let (found, supported) = self.find(Some(rate))?;
        self.label = found.label.clone();
        let config = StreamConfig {
            channels: supported.channels(),
            sample_rate: rate,
            buffer_size: match self.spec.buffer {
                Some(frames) => BufferSize::Fixed(frames),
                None => BufferSize::Default,
            },
        };
        let stream = build(&found.device, config, supported.sample_format(), driver)
            .map_err(|e| DeviceError::NotOpened(format!("{}: {e}", found.label)))?;
        stream
            .play()
            .map_err(|e| DeviceError::NotOpened(format!("{}: {e}", found.label)))?;
        Ok(Box::new(CpalStream { _stream: stream }))
    }
}

/// The device's configuration at `rate` (or its preferred one): stereo and
/// f32 when offered, else the closest.
fn choose_config(device: &cpal::Device, rate: Option<u32>) -> Result<SupportedStreamConfig, String> {
    let default = device.default_output_config().map_err(|e| e.to_string())?;
    let Some(rate) = rate else { return Ok(default) };
    if default.sample_rate() == rate {
        return Ok(default);
    }
    let mut ranges: Vec<_> = device
        .supported_output_configs()
        .map_err(|e| e.to_string())?
        .filter(|c| c.contains_rate(rate))
        .collect();
    // Stereo first, then f32, then more channels before fewer.
    ranges.sort_by_key(|c| {
        (
            c.channels() != 2,
            c.sample_format() != SampleFormat::F32,
            std::cmp::Reverse(c.channels()),
        )
    });
    ranges
        .into_iter()
        .next()
        .map(|c| c.with_sample_rate(rate))
        .ok_or_else(|| {
            format!(
                "{rate} Hz is not supported (the device prefers {} Hz)",
                default.sample_rate()
            )
        })
}

fn build(
    device: &cpal::Device,
    config: StreamConfig,
    format: SampleFormat,
    driver: &Driver,
) -> Result<cpal::Stream, String> {
    let on_error = Meters::stream_error_handler(driver.meters().clone());
    let mut callback = driver.callback(config.channels as usize, config.sample_rate);
    macro_rules! typed {
        ($t:ty) => {
            device.build_output_stream::<$t, _, _>(
                config,
                move |out: &mut [$t], _| callback.fill(out),
                on_error,
                Some(OPEN_TIMEOUT),
            )
        };
    }
    let stream = by_sample_type!(format, typed, f32 => device.build_output_stream::<f32, _, _>(
        config,
        move |out: &mut [f32], _| callback.fill_f32(out),
        on_error,
        Some(OPEN_TIMEOUT),
    ))
    .ok_or_else(|| format!("sample format {format} is not supported"))?;
    stream.map_err(|e| e.to_string())
}
