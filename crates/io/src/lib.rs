//! Where patchbay meets files and devices. Today: offline rendering of a
//! patch to a WAV file, as fast as the CPU allows and bit-for-bit
//! deterministic. It drives the same [`patchbay_core::Runtime`] that a live
//! audio callback drives.
//!
//! Not here: the patch model, compiler or any DSP.

pub mod render;

pub use render::{RenderError, RenderOptions, RenderSummary, SampleFormat, render_to_wav};
