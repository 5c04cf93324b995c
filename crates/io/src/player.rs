//! The live host on the control side: plays a runtime through an output
//! device, and when the device fails, reports it once, keeps the engine
//! running on the null output and reopens the device now and then until it
//! is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_core::Runtime;

use crate::callback::Driver;
use crate::meters::{Meters, Totals};
use crate::null::NullOutput;
use crate::shared::SharedRuntime;

/// How often a failed device is retried, by default.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// Why no output could be opened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// What was tried, and why each failed.
    #[error("no audio output device could be opened ({0})")]
    NotOpened(String),
    /// What was tried for the input, and why each failed.
    #[error("no audio input device could be opened ({0})")]
    InputNotOpened(String),
}

/// A device patchbay can play through; [`crate::CpalOutput`] is the real
/// one, tests bring their own.
pub trait Output: Send {
    /// The device, for messages (`JACK client \`patchbay_out\``).
    fn describe(&self) -> String;

    /// Open the device at `rate` Hz and start it pulling from `driver`. Its
    /// errors go to `driver.meters()`: xruns counted, others as faults.
    fn open(&mut self, rate: u32, driver: &Driver) -> Result<Box<dyn Running>, DeviceError>;
}

/// A started output; dropping it stops it.
pub trait Running {}

/// Something the control side should tell the user.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    /// The device failed; the engine runs on the null output.
    DeviceLost {
        /// Which device.
        device: String,
        /// What it said.
        message: String,
    },
    /// The device works again and plays.
    DeviceBack {
        /// Which device.
        device: String,
    },
}

/// Playback figures since the previous [`Player::status`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Status {
    /// Time in callbacks / duration of the audio they produced.
    pub load: f64,
    /// The heaviest single callback's load.
    pub max_load: f64,
    /// Largest absolute sample sent.
    pub peak: f32,
    /// Cumulative totals.
    pub totals: Totals,
    /// True while the device is lost and the null output runs.
    pub on_null: bool,
}

impl Status {
    /// The peak in dBFS (-inf shown as -200).
    pub fn peak_db(&self) -> f32 {
        20.0 * self.peak.max(1e-10).log10()
    }
}

/// Plays one runtime through an output, surviving device faults.
pub struct Player {
    output: Box<dyn Output>,
    driver: Driver,
    rate: u32,
    running: Option<Box<dyn Running>>,
    null: Option<NullOutput>,
    retry_every: Duration,
    next_retry: Instant,
    last: Totals,
}

impl Player {
    /// Open `output` at `rate` Hz (the rate `runtime` was compiled for) and
    /// start playing. Fails if the device cannot be opened now.
    pub fn start(mut output: Box<dyn Output>, runtime: Runtime, rate: u32) -> Result<Player, DeviceError> {
        let driver = Driver::new(Arc::new(SharedRuntime::new(runtime)), Arc::new(Meters::default()));
        let running = output.open(rate, &driver)?;
        Ok(Player {
            output,
            driver,
            rate,
            running: Some(running),
            null: None,
            retry_every: RETRY_INTERVAL,
            next_retry: Instant::now(),
            last: Totals::default(),
        })
    }

    /// How often to try reopening a lost device.
    pub fn set_retry_interval(&mut self, every: Duration) {
        self.retry_every = every;
    }

    /// The counters the drivers report to.
    pub fn meters(&self) -> &Arc<Meters> {
        self.driver.meters()
    }

    /// The device, for messages.
    pub fn describe(&self) -> String {
        self.output.describe()
    }

    /// True while the device is lost and the null output runs.
    pub fn on_null(&self) -> bool {
        self.null.is_some()
    }

    /// Handle device faults and retries; call every few tens of
    /// milliseconds from the control loop.
    pub fn poll(&mut self) -> Option<PlayerEvent> {
        if self.running.is_some() {
            let message = self.meters().take_fault()?;
            // Stop the failed stream before the null output takes over, so
            // the two never pull from the runtime at once.
            self.running = None;
            self.meters().clear_fault();
            self.null = Some(NullOutput::start(self.driver.callback(2, self.rate), self.rate));
            self.next_retry = Instant::now() + self.retry_every;
            return Some(PlayerEvent::DeviceLost {
                device: self.output.describe(),
                message,
            });
        }
        if Instant::now() < self.next_retry {
            return None;
        }
        self.next_retry = Instant::now() + self.retry_every;
        // Open first (streams start paused until `play` inside `open`
        // returns), then stop the null output: at most a buffer of overlap,
        // during which the loser of the runtime's slot plays silence.
        let running = self.output.open(self.rate, &self.driver).ok()?;
        self.null = None;
        self.meters().clear_fault();
        self.running = Some(running);
        Some(PlayerEvent::DeviceBack {
            device: self.output.describe(),
        })
    }

    /// Load, peak and totals since the previous call.
    pub fn status(&mut self) -> Status {
        let totals = self.meters().totals();
        let busy = totals.busy_ns - self.last.busy_ns;
        let budget = totals.budget_ns - self.last.budget_ns;
        self.last = totals;
        Status {
            load: busy as f64 / budget.max(1) as f64,
            max_load: self.meters().take_max_load(),
            peak: self.meters().take_peak(),
            totals,
            on_null: self.on_null(),
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        // Streams first: the runtime (inside the shared slot) must outlive
        // every driver, and is then dropped here, off the audio thread.
        self.running = None;
        self.null = None;
    }
}
