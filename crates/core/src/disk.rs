//! Disk work handed from processors to hosts.
//!
//! A processor that records or plays a file may not open it, wait for it or
//! spawn a thread (it lives in `patchbay-nodes`, and runs on the audio
//! thread). So at `build` (control thread) it makes its rtrb rings, keeps
//! the audio-side ends, and hands the far ends, with what the work needs to
//! know, to its host as a [`DiskJob`] ([`crate::Processor::disk_job`]). The
//! schedule collects the jobs of the processors it built
//! ([`crate::Schedule::take_disk_jobs`], [`crate::LiveEngine::take_disk_jobs`]);
//! the host runs each one: live hosts on a thread of its own, offline hosts
//! inline between blocks, so that a render never depends on thread timing.
//!
//! A processor adopted across a live edit keeps its rings, so its job (and
//! a recorder's take) carries on through the swap. A dropped processor
//! drops its ring ends, which the job sees (`is_abandoned`) and finishes.

use std::any::Any;
use std::fmt;

/// The far ends of a processor's rings and what its disk work needs to
/// know. Opaque here: the host downcasts it to the job types it knows
/// (`patchbay_io::disk` runs them).
pub struct DiskJob(Box<dyn Any + Send>);

impl DiskJob {
    /// Wrap a job description.
    pub fn new<T: Any + Send>(work: T) -> DiskJob {
        DiskJob(Box::new(work))
    }

    /// The job, if it is a `T`, left in place.
    pub fn peek<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The job as a `T`, or itself back if it is another type.
    pub fn downcast<T: Any>(self) -> Result<T, DiskJob> {
        if self.0.is::<T>() {
            Ok(*self.0.downcast::<T>().expect("type checked above"))
        } else {
            Err(self)
        }
    }
}

impl fmt::Debug for DiskJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DiskJob")
    }
}
