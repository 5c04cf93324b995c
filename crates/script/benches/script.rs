//! Script benchmarks:
//! - script-to-Patch: run a 500-node script and validate its patch (target
//!   under 20 ms);
//! - save-to-sound: from a save (write and rename) to the first block of
//!   the new graph, through the watcher, the re-run and the live apply
//!   (target under 50 ms median).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use patchbay_core::CompileOptions;
use patchbay_script::{OfflineSession, ScriptHost, ScriptSource, ScriptWatcher};

/// 100 voices of five nodes each: saw -> low-pass (cutoff modulated by a
/// shared LFO) -> gain -> pan -> the bus; 500 nodes plus bus, LFO, helpers
/// and output.
fn voices_script(voices: usize, cutoff: f64) -> String {
    format!(
        r#"
let bus = gain(-20).name("bus");
let lfo = sine(0.3, 1.0).name("lfo");
for i in 0..{voices} {{
    let f = 55.0 * (1.0 + i * 0.01);
    saw(f, 0.2)
        >> lowpass(#{{cutoff: lfo * 200 + {cutoff}, q: 1.5}})
        >> gain(-6)
        >> pan(-0.9 + 1.8 * i / {voices})
        >> bus;
}}
bus >> out();
"#
    )
}

fn script_to_patch(c: &mut Criterion) {
    let text = voices_script(125, 800.0);
    let source = ScriptSource::Text {
        name: "voices.rhai".into(),
        text,
        dir: std::env::temp_dir(),
    };
    let registry = patchbay_nodes::registry();
    let mut host = ScriptHost::new(registry);
    let patch = host.load(&source, 0.0).unwrap();
    let script_nodes = patch.nodes.iter().filter(|n| !n.id.starts_with('_')).count();
    assert!(script_nodes >= 500, "{script_nodes} nodes");
    c.bench_function("script_to_patch_500_nodes", |b| {
        b.iter(|| host.load(&source, 0.0).unwrap());
    });
}

fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("rhai.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn save_to_sound(c: &mut Criterion) {
    let dir: PathBuf = std::env::temp_dir().join(format!("patchbay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("live.rhai");
    let texts = [voices_script(20, 800.0), voices_script(20, 900.0)];
    std::fs::write(&path, &texts[0]).unwrap();
    let source = ScriptSource::File(path.clone());
    let mut session = OfflineSession::start(
        &source,
        patchbay_nodes::registry(),
        CompileOptions {
            sample_rate: 48_000.0,
            block: 64,
        },
    )
    .unwrap();
    let mut watcher = ScriptWatcher::new(&session.host.files()).unwrap();
    let mut turn = 0;
    let mut group = c.benchmark_group("save_to_sound");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("edit_cutoff_100_nodes", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                turn += 1;
                // Let the previous save's events drain first.
                std::thread::sleep(Duration::from_millis(30));
                while watcher.poll() {}
                let started = Instant::now();
                save(&path, &texts[turn % 2]);
                while !watcher.poll() {
                    std::thread::sleep(Duration::from_micros(500));
                }
                session.reload(&source).unwrap();
                session.process_block();
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, script_to_patch, save_to_sound);
criterion_main!(benches);
