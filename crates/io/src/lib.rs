//! Where patchbay meets files and devices: offline rendering to WAV, live
//! playback through ALSA or JACK (cpal) that survives device faults, device
//! listing, and reloading a patch file when it changes. Offline and live
//! drive the same [`patchbay_core::Runtime`], through the same safety
//! stage, so they produce the same samples.
//!
//! Not here: the patch model, compiler or any DSP.

pub mod callback;
pub mod decode;
pub mod devices;
pub mod disk;
pub mod input;
pub mod meters;
pub mod null;
pub mod playback;
pub mod player;
pub mod recorder;
pub mod render;
pub mod resample;
pub mod shared;
pub mod stream;
pub mod watch;

pub use callback::{DeviceCallback, Driver};
pub use decode::{Audio, AudioReader, DecodeError, decode};
pub use devices::{HostChoice, HostInfo, list_hosts};
pub use disk::{DiskHost, DiskReport};
pub use meters::{Meters, Totals};
pub use null::NullOutput;
pub use player::{DeviceError, Output, Player, PlayerEvent, Running, Status};
pub use render::{
    BlockSource, RenderError, RenderOptions, RenderSummary, SampleFormat, render_to_wav, render_with_disk,
    write_wav,
};
pub use resample::{StreamResampler, resample};
pub use shared::SharedRuntime;
pub use stream::{CpalOutput, OutputSpec};
pub use watch::{PatchWatcher, WatchError};
