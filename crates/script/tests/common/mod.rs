//! Helpers shared by the script crate's tests: run script text, play it
//! offline, make scratch folders, measure sound.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use patchbay_core::{CompileOptions, Patch};
use patchbay_script::{OfflineSession, ScriptError, ScriptHost, ScriptSource};

pub const RATE: u32 = 48_000;

/// A fresh, empty folder under the system temp dir.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("script-{label}-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Script text named `test.rhai`, sandboxed in `dir`.
pub fn text_in(text: &str, dir: &Path) -> ScriptSource {
    ScriptSource::Text {
        name: "test.rhai".into(),
        text: text.into(),
        dir: dir.to_path_buf(),
    }
}

/// Script text in the system temp dir.
pub fn text(text: &str) -> ScriptSource {
    text_in(text, &std::env::temp_dir())
}

/// Run script text and return its patch.
pub fn build(script: &str) -> Result<Patch, ScriptError> {
    ScriptHost::new(patchbay_nodes::registry()).load(&text(script), 0.0)
}

/// Run script text that must succeed.
pub fn patch(script: &str) -> Patch {
    build(script).unwrap_or_else(|e| panic!("script failed:\n{e}"))
}

/// The patch's edges as "from -> to" lines.
pub fn edges(p: &Patch) -> Vec<String> {
    p.edges
        .iter()
        .map(|e| format!("{} -> {}", e.from, e.to))
        .collect()
}

/// Start playing a script offline at 48 kHz, 64-frame blocks.
pub fn session(source: &ScriptSource) -> OfflineSession {
    OfflineSession::start(
        source,
        patchbay_nodes::registry(),
        CompileOptions {
            sample_rate: RATE as f32,
            block: 64,
        },
    )
    .unwrap_or_else(|e| panic!("script failed:\n{e}"))
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn rms(x: &[f32]) -> f32 {
    patchbay_nodes::analysis::rms(x)
}

pub fn peak(x: &[f32]) -> f32 {
    patchbay_nodes::analysis::peak(x)
}

/// The strongest frequency in `x` (Hann-windowed FFT, interpolated).
pub fn pitch(x: &[f32]) -> f32 {
    patchbay_nodes::analysis::peak_frequency(x, RATE as f32)
}

/// Samples `from..to` seconds of `x`.
pub fn window(x: &[f32], from: f64, to: f64) -> &[f32] {
    let a = ((from * RATE as f64) as usize).min(x.len());
    let b = ((to * RATE as f64) as usize).min(x.len());
    &x[a..b]
}
