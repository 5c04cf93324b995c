//! `--watch`: a patch file rewritten on disk (by write-and-rename, as
//! editors save) is reloaded into the running engine; a broken rewrite is
//! reported with its file and line, and the last good patch keeps playing.

use std::path::Path;
use std::time::{Duration, Instant};

use patchbay_core::{Applied, CompileOptions, LiveEngine, LoadError, Patch, load_patch};
use patchbay_io::PatchWatcher;

fn sine_json(freq: f64) -> String {
    format!(
        "{{\n  \"format\": \"patchbay\",\n  \"version\": 1,\n  \"nodes\": [\n    {{ \"id\": \"osc\", \"kind\": \"sine\", \"params\": {{ \"freq\": {freq} }} }},\n    {{ \"id\": \"out\", \"kind\": \"output\" }}\n  ],\n  \"edges\": [ {{ \"from\": \"osc.out\", \"to\": \"out.in\" }} ]\n}}\n"
    )
}

/// Save as editors do: write a temporary file beside it, rename it over.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Poll until the watcher reports, or panic after a few seconds.
fn next_reload(watcher: &mut PatchWatcher) -> Result<Patch, LoadError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(result) = watcher.poll(patchbay_nodes::registry()) {
            return result;
        }
        assert!(Instant::now() < deadline, "no reload seen");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn freq(live: &LiveEngine) -> f64 {
    live.patch().node("osc").unwrap().params["freq"]
}

#[test]
fn saves_reload_and_broken_saves_keep_the_last_good_patch() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("watch");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("live.json");
    std::fs::write(&path, sine_json(220.0)).unwrap();
    let registry = patchbay_nodes::registry();
    let patch = load_patch(&path, registry).unwrap();
    let (mut live, mut runtime) = LiveEngine::start(patch, registry, CompileOptions::default()).unwrap();
    let mut watcher = PatchWatcher::new(&path).unwrap();

    // Several saves in a row: each save-by-rename is seen (a watch on the
    // file itself would go silent after the first).
    for f in [330.0, 440.0, 550.0] {
        let saved = Instant::now();
        save(&path, &sine_json(f));
        let patch = next_reload(&mut watcher).unwrap();
        let latency = saved.elapsed();
        assert_eq!(live.apply(patch).unwrap(), Applied::Params(1));
        runtime.process_block();
        assert_eq!(freq(&live), f);
        assert!(latency < Duration::from_millis(500), "reload took {latency:?}");
        eprintln!("save to reload: {latency:?}");
    }

    // A broken save: reported with file and line; nothing changes.
    let broken = sine_json(660.0).replace("\"freq\"", "\"frq\"");
    save(&path, &broken);
    let err = next_reload(&mut watcher).unwrap_err().to_string();
    assert!(err.contains("live.json:5:"), "{err}");
    assert!(err.contains("`frq`"), "{err}");
    assert_eq!(freq(&live), 550.0, "the last good patch keeps playing");

    // Two quick writes coalesce into one reload of the final text.
    std::fs::write(&path, sine_json(770.0)).unwrap();
    save(&path, &sine_json(880.0));
    let patch = next_reload(&mut watcher).unwrap();
    live.apply(patch).unwrap();
    assert_eq!(freq(&live), 880.0);
    let quiet = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet {
        assert!(watcher.poll(registry).is_none(), "a second reload for one burst");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
