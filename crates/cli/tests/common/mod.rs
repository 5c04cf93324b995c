//! Helpers for the binary's tests: scratch folders that clean up after
//! themselves, running the binary (also as a client of a private JACK
//! server), and a recording patch.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A path relative to the repository root.
pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

/// Run `patchbay ARGS` in the repository root to its end.
pub fn patchbay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("patchbay runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A 441 Hz sine recorded as 16-bit takes named `vocal` in `takes/`
/// (relative to the patch file), written to `dir`; the patch's path.
pub fn recording_patch(dir: &Path) -> PathBuf {
    let path = dir.join("rec.json");
    std::fs::write(
        &path,
        r#"{
  "format": "patchbay",
  "version": 2,
  "nodes": [
    { "id": "osc", "kind": "sine", "params": { "freq": 441, "amp": 0.5 } },
    { "id": "vocal", "kind": "record", "params": { "state": 2, "format": 2 },
      "settings": { "folder": "takes" } },
    { "id": "out", "kind": "output" }
  ],
  "edges": [
    { "from": "osc.out", "to": "vocal.in" },
    { "from": "osc.out", "to": "out.in" }
  ]
}
"#,
    )
    .unwrap();
    path
}

/// A scratch folder (in the test binary's, under the target folder)
/// removed when the test ends, however it ends.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = patchbay_tests::scratch(&format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub use patchbay_tests::jack::JackServer;
#[allow(unused_imports)] // not every test file reads WAV files
pub use patchbay_tests::read_channels;

/// `patchbay ARGS` as a client of `server`.
pub fn patchbay_on(server: &JackServer, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    command
        .args(args)
        .env("JACK_DEFAULT_SERVER", &server.name)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}
