//! Audio hosts (ALSA, JACK) and their devices: listing them for
//! `patchbay devices`, and finding the output a `play` asks for.

use std::fmt;

use cpal::traits::{DeviceTrait, HostTrait};

/// An audio host patchbay can play through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostChoice {
    /// The kernel's sound card interface (and its plugins: `default`, `null`).
    Alsa,
    /// A running JACK server.
    Jack,
}

impl HostChoice {
    /// Every host, in the order `play` tries them when none is named: a
    /// running JACK server is the one a user who started it wants.
    pub const ALL: [HostChoice; 2] = [HostChoice::Jack, HostChoice::Alsa];

    /// Its display name.
    pub fn name(self) -> &'static str {
        match self {
            HostChoice::Alsa => "ALSA",
            HostChoice::Jack => "JACK",
        }
    }

    fn id(self) -> cpal::HostId {
        match self {
            HostChoice::Alsa => cpal::HostId::Alsa,
            HostChoice::Jack => cpal::HostId::Jack,
        }
    }

    /// The cpal host, or why it is unavailable. JACK reports a missing
    /// server here rather than with an empty device list.
    pub(crate) fn host(self) -> Result<cpal::Host, String> {
        quiet_backends();
        let host = cpal::host_from_id(self.id()).map_err(|e| e.to_string())?;
        if self == HostChoice::Jack && host.devices().map(|mut d| d.next().is_none()).unwrap_or(true) {
            return Err("no JACK server is running".into());
        }
        Ok(host)
    }
}

impl std::str::FromStr for HostChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "alsa" => Ok(HostChoice::Alsa),
            "jack" => Ok(HostChoice::Jack),
            _ => Err(format!("unknown audio host `{s}`: use alsa or jack")),
        }
    }
}

impl fmt::Display for HostChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Stop libjack and alsa-lib from printing their own diagnostics on
/// stderr: patchbay reports failures itself, in one line. (alsa-lib's
/// handler is per thread: this is called on each thread that opens.)
pub fn quiet_backends() {
    static JACK: std::sync::Once = std::sync::Once::new();
    JACK.call_once(|| jack::set_logger(jack::LoggerType::None));
    // SAFETY: installs a handler for this thread that ignores its arguments.
    unsafe {
        alsa_sys::snd_lib_error_set_local(Some(ignore_alsa_error));
    }
}

unsafe extern "C" fn ignore_alsa_error(
    _file: *const std::ffi::c_char,
    _line: std::ffi::c_int,
    _function: *const std::ffi::c_char,
    _err: std::ffi::c_int,
    _fmt: *const std::ffi::c_char,
    _args: *mut alsa_sys::__va_list_tag,
) {
}

/// What one direction of a device supports.
#[derive(Clone, Debug, PartialEq)]
pub struct Capabilities {
    /// Most channels offered.
    pub max_channels: u16,
    /// Lowest and highest sample rate offered.
    pub rates: (u32, u32),
    /// The rate the device prefers.
    pub default_rate: Option<u32>,
    /// Sample formats offered (`f32`, `i16`, ...).
    pub formats: Vec<String>,
}

/// A device and what it can do.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceInfo {
    /// The host's identifier for it (ALSA's PCM name, such as `null`);
    /// `--device` accepts it or the name.
    pub id: String,
    /// Its descriptive name.
    pub name: String,
    /// Playback capabilities, if it plays.
    pub output: Option<Capabilities>,
    /// Capture capabilities, if it records.
    pub input: Option<Capabilities>,
    /// The host's default output.
    pub default_output: bool,
}

/// A host and its devices, or why it has none.
#[derive(Clone, Debug, PartialEq)]
pub struct HostInfo {
    /// Which host.
    pub host: HostChoice,
    /// Its devices.
    pub devices: Vec<DeviceInfo>,
    /// Why it is unavailable.
    pub unavailable: Option<String>,
}

/// Every host and its devices.
pub fn list_hosts() -> Vec<HostInfo> {
    [HostChoice::Alsa, HostChoice::Jack]
        .into_iter()
        .map(|choice| match choice.host() {
            Err(why) => HostInfo {
                host: choice,
                devices: Vec::new(),
                unavailable: Some(why),
            },
            Ok(host) => {
                let default = host.default_output_device();
                let devices: Vec<DeviceInfo> = host
                    .devices()
                    .map(|devices| {
                        devices
                            .map(|d| DeviceInfo {
                                id: device_id(&d),
                                name: device_name(&d),
                                output: direction(&d, true)
                                    .then(|| d.supported_output_configs().ok())
                                    .flatten()
                                    .and_then(|c| {
                                        capabilities(
                                            c,
                                            d.default_output_config().ok().map(|c| c.sample_rate()),
                                        )
                                    }),
                                input: direction(&d, false)
                                    .then(|| d.supported_input_configs().ok())
                                    .flatten()
                                    .and_then(|c| {
                                        capabilities(
                                            c,
                                            d.default_input_config().ok().map(|c| c.sample_rate()),
                                        )
                                    }),
                                default_output: default.as_ref() == Some(&d),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let devices = match choice {
                    HostChoice::Jack => devices.into_iter().map(jack_client).collect(),
                    HostChoice::Alsa => devices,
                };
                HostInfo {
                    host: choice,
                    devices,
                    unavailable: None,
                }
            }
        })
        .collect()
}

/// JACK's "devices" are the clients patchbay opens: listed under the
/// names other JACK clients see.
fn jack_client(device: DeviceInfo) -> DeviceInfo {
    let (id, name) = match device.input.is_some() {
        true => (
            format!("{JACK_CLIENT}_in"),
            "JACK client for input nodes, ports in_0, in_1, ... (`--input NAME`: client NAME_in)",
        ),
        false => (
            format!("{JACK_CLIENT}_out"),
            "JACK client for the output, ports out_0, out_1, ... (`--device NAME`: client NAME_out)",
        ),
    };
    DeviceInfo {
        id,
        name: name.into(),
        ..device
    }
}

fn capabilities(
    configs: impl Iterator<Item = cpal::SupportedStreamConfigRange>,
    default_rate: Option<u32>,
) -> Option<Capabilities> {
    let mut caps: Option<Capabilities> = None;
    for c in configs {
        let caps = caps.get_or_insert_with(|| Capabilities {
            max_channels: 0,
            rates: (u32::MAX, 0),
            default_rate,
            formats: Vec::new(),
        });
        caps.max_channels = caps.max_channels.max(c.channels());
        caps.rates = (
            caps.rates.0.min(c.min_sample_rate()),
            caps.rates.1.max(c.max_sample_rate()),
        );
        let format = c.sample_format().to_string();
        if !caps.formats.contains(&format) {
            caps.formats.push(format);
        }
    }
    caps
}

/// Whether a device plays (`output`) or records, as it describes itself:
/// JACK's devices offer configurations both ways but are one-way.
fn direction(device: &cpal::Device, output: bool) -> bool {
    match device.description() {
        Ok(d) if output => d.supports_output(),
        Ok(d) => d.supports_input(),
        Err(_) => true,
    }
}

/// A device's descriptive name.
fn device_name(device: &cpal::Device) -> String {
    match device.description() {
        Ok(d) => d.name().to_string(),
        Err(_) => device_id(device),
    }
}

/// A device's identifier on its host.
fn device_id(device: &cpal::Device) -> String {
    device
        .id()
        .map(|id| id.id().to_string())
        .unwrap_or_else(|_| "?".into())
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "up to {} ch, ", self.max_channels)?;
        if self.rates.0 == self.rates.1 {
            write!(f, "{} Hz", self.rates.0)?;
        } else {
            write!(f, "{}-{} Hz", self.rates.0, self.rates.1)?;
        }
        if let Some(rate) = self.default_rate {
            write!(f, " (default {rate})")?;
        }
        write!(f, ", {}", self.formats.join("/"))
    }
}

impl fmt::Display for HostInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.unavailable {
            return writeln!(f, "{}: unavailable ({why})", self.host);
        }
        writeln!(f, "{}:", self.host)?;
        if self.devices.is_empty() {
            writeln!(f, "  (no devices)")?;
        }
        for d in &self.devices {
            let mark = if d.default_output { " [default]" } else { "" };
            writeln!(f, "  {}{mark}: {}", d.id, d.name)?;
            if let Some(out) = &d.output {
                writeln!(f, "      output: {out}")?;
            }
            if let Some(inp) = &d.input {
                writeln!(f, "      input:  {inp}")?;
            }
        }
        Ok(())
    }
}

/// An output device found for `play`.
pub(crate) struct Found {
    pub device: cpal::Device,
    pub label: String,
}

/// `$build!(T)` for the sample type `T` of cpal format `$format`, or
/// `$f32` in place of `$build!(f32)` when given; `None` for a format
/// this list does not know.
macro_rules! by_sample_type {
    ($format:expr, $build:ident) => {
        $crate::devices::by_sample_type!($format, $build, f32 => $build!(f32))
    };
    ($format:expr, $build:ident, f32 => $f32:expr) => {
        match $format {
            cpal::SampleFormat::F32 => Some($f32),
            cpal::SampleFormat::F64 => Some($build!(f64)),
            cpal::SampleFormat::I16 => Some($build!(i16)),
            cpal::SampleFormat::I32 => Some($build!(i32)),
            cpal::SampleFormat::U16 => Some($build!(u16)),
            cpal::SampleFormat::U8 => Some($build!(u8)),
            cpal::SampleFormat::I8 => Some($build!(i8)),
            cpal::SampleFormat::U32 => Some($build!(u32)),
            cpal::SampleFormat::I24 => Some($build!(cpal::I24)),
            _ => None,
        }
    };
}
pub(crate) use by_sample_type;

/// Find the output device `name` (or the default) on `host` (or the first
/// host that has one). On failure, says what was tried and why each failed.
pub(crate) fn find_output(host: Option<HostChoice>, name: Option<&str>) -> Result<Found, Vec<String>> {
    let hosts = match host {
        Some(h) => vec![h],
        None => HostChoice::ALL.to_vec(),
    };
    let mut tried = Vec::new();
    for choice in hosts {
        match find_on(choice, name) {
            Ok(found) => return Ok(found),
            Err(why) => tried.push(format!("{choice}: {why}")),
        }
    }
    Err(tried)
}

/// Find the input device `name` (or the default) on `host` (or the first
/// host that has one), as [`find_output`] does for outputs.
pub(crate) fn find_input(host: Option<HostChoice>, name: Option<&str>) -> Result<Found, Vec<String>> {
    let hosts = match host {
        Some(h) => vec![h],
        None => HostChoice::ALL.to_vec(),
    };
    let mut tried = Vec::new();
    for choice in hosts {
        match find_input_on(choice, name) {
            Ok(found) => return Ok(found),
            Err(why) => tried.push(format!("{choice}: {why}")),
        }
    }
    Err(tried)
}

fn find_input_on(choice: HostChoice, name: Option<&str>) -> Result<Found, String> {
    let host = choice.host()?;
    if choice == HostChoice::Jack {
        // As for outputs: a client of our own, `NAME_in`, its ports
        // `in_0`, `in_1`, ... connected to the system's capture ports.
        type JackDevice = <cpal::platform::JackHost as HostTrait>::Device;
        let (connect_to_system, start_server) = (true, false);
        let device: cpal::Device =
            JackDevice::default_input_device(name.unwrap_or(JACK_CLIENT), connect_to_system, start_server)
                .map_err(|e| e.to_string())?
                .into();
        let label = format!("JACK client `{}_in`", name.unwrap_or(JACK_CLIENT));
        return Ok(Found { device, label });
    }
    let device = match name {
        None => host
            .default_input_device()
            .ok_or_else(|| "no default input device".to_string())?,
        Some(name) => host
            .input_devices()
            .map_err(|e| e.to_string())?
            .find(|d| device_id(d) == name || device_name(d) == name)
            .or_else(|| host.device_by_id(&cpal::DeviceId::new(cpal::HostId::Alsa, name)))
            .ok_or_else(|| format!("no input device `{name}` (see `patchbay devices`)"))?,
    };
    let label = format!("ALSA input `{}`", device_id(&device));
    Ok(Found { device, label })
}

/// The name patchbay's JACK client takes unless `--device` names it: other
/// clients see its ports as `patchbay_out:out_0`, `patchbay_out:out_1`.
pub const JACK_CLIENT: &str = "patchbay";

fn find_on(choice: HostChoice, name: Option<&str>) -> Result<Found, String> {
    let host = choice.host()?;
    if choice == HostChoice::Jack {
        // JACK has no devices: a client is one, named by whoever opens it
        // (cpal's default is `cpal_client_<pid>`). JACK appends a number if
        // the name is taken.
        // (`JackHost::output_device_with_name` would be the way, but cpal
        // 0.18 hands back the device it made under its default name.)
        type JackDevice = <cpal::platform::JackHost as HostTrait>::Device;
        let connect_to_system = true;
        let start_server = false;
        let device: cpal::Device =
            JackDevice::default_output_device(name.unwrap_or(JACK_CLIENT), connect_to_system, start_server)
                .map_err(|e| e.to_string())?
                .into();
        // The name it asked for: cpal describes every JACK output as
        // "JACK Output" and keeps the client's name to itself.
        let label = format!("JACK client `{}_out`", name.unwrap_or(JACK_CLIENT));
        return Ok(Found { device, label });
    }
    let device = match name {
        None => host
            .default_output_device()
            .ok_or_else(|| "no default output device".to_string())?,
        Some(name) => {
            let listed = host
                .output_devices()
                .map_err(|e| e.to_string())?
                .find(|d| device_id(d) == name || device_name(d) == name);
            // ALSA also opens PCM names it does not list (`hw:1,0`, `plughw:X`).
            let by_id = || match choice {
                HostChoice::Alsa => host.device_by_id(&cpal::DeviceId::new(cpal::HostId::Alsa, name)),
                HostChoice::Jack => None,
            };
            listed
                .or_else(by_id)
                .ok_or_else(|| format!("no output device `{name}` (see `patchbay devices`)"))?
        }
    };
    // ALSA's identifiers are what users type (`default`, `hw:1,0`); JACK's
    // (`output`) say less than its names.
    let label = match choice {
        HostChoice::Alsa => format!("ALSA `{}`", device_id(&device)),
        HostChoice::Jack => device_name(&device),
    };
    Ok(Found { device, label })
}
