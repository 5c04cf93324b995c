//! The core of patchbay: the [`Patch`] document model, the node [`Registry`]
//! types, the compiler from a patch to a [`Plan`], and the block [`Runtime`]
//! that runs a plan's [`Schedule`] on the audio thread.
//!
//! Not here: any node's DSP (`patchbay-nodes`), devices and files
//! (`patchbay-io`), scripts or GUI. This crate knows no cpal, egui or rhai.

pub mod compile;
pub mod denormal;
pub mod disk;
pub mod error;
pub mod lanes;
pub mod live;
pub mod patch;
pub mod plan;
pub mod processor;
pub mod registry;
pub mod runtime;
pub mod safety;
pub mod telemetry;

pub use compile::{CompileOptions, DEFAULT_BLOCK, compile, validate};
pub use disk::DiskJob;
pub use error::{LoadError, LoadErrorKind, ValidationError};
pub use live::{Applied, LiveEngine, LiveError};
pub use patch::{Comment, Edge, Node, Patch, PortRef, load_patch, load_patch_str};
pub use plan::{BufferId, FeedbackStore, Plan, PlanNode, SILENCE, Step};
pub use processor::{NodeContext, ProcessIo, Processor, Rest};
pub use registry::{
    Channels, Curve, NodeDescriptor, ParamSpec, PortKind, PortSpec, Registry, SettingKind, SettingSpec, Unit,
    no_latency,
};
pub use runtime::{Adoption, Command, Engine, OutputListener, Runtime, Schedule, engine};
pub use safety::{DEFAULT_CEILING_DB, Safety};
pub use telemetry::Tap;
