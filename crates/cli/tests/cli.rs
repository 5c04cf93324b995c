//! The `patchbay` binary end to end: exit codes, messages, files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{patchbay, repo, text};

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every patch file under `patches/` (golden expectations excluded).
fn example_patches() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![repo("patches")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.to_string_lossy().into_owned();
            if path.is_dir() {
                dirs.push(path);
            } else if name.ends_with(".json") && !name.ends_with(".expect.json") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn check_accepts_every_example_patch() {
    let patches = example_patches();
    assert!(patches.len() >= 3, "{patches:?}");
    for path in patches {
        let out = patchbay(&["check", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", path.display(), text(&out.stderr));
        assert!(text(&out.stdout).contains(": ok ("));
    }
}

#[test]
fn check_rejects_a_bad_patch_naming_file_line_and_node() {
    let dir = temp_dir("bad");
    let path = dir.join("typo.json");
    std::fs::write(
        &path,
        "{\n  \"format\": \"patchbay\",\n  \"version\": 1,\n  \"nodes\": [\n    { \"id\": \"osc\", \"kind\": \"sine\", \"params\": { \"frq\": 440 } }\n  ]\n}\n",
    )
    .unwrap();
    let out = patchbay(&["check", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("typo.json:5:"), "{err}");
    assert!(
        err.contains("node `osc`") && err.contains("`frq`") && err.contains("did you mean `freq`"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn check_plan_prints_order_and_buffers() {
    let out = patchbay(&["check", "patches/sine.json", "--plan"]);
    assert!(out.status.success());
    let plan = text(&out.stdout);
    assert!(plan.contains("buffers of 64 frames"), "{plan}");
    assert!(plan.contains("osc (sine)"), "{plan}");
    assert!(plan.contains("master: L=b"), "{plan}");
}

#[test]
fn render_writes_the_requested_file() {
    let dir = temp_dir("render");
    let wav = dir.join("sine.wav");
    let out = patchbay(&[
        "render",
        "patches/sine.json",
        "-o",
        wav.to_str().unwrap(),
        "--seconds",
        "1.5",
        "--rate",
        "44100",
        "--format",
        "i16",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stderr);
    assert!(
        summary.contains("rendered 1.50 s") && summary.contains("real time"),
        "{summary}"
    );
    let reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(reader.spec().sample_rate, 44_100);
    assert_eq!(reader.spec().bits_per_sample, 16);
    assert_eq!(reader.duration(), 66_150);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn render_reports_a_missing_file_in_one_line() {
    let out = patchbay(&["render", "patches/no-such.json", "-o", "/tmp/x.wav"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: patches/no-such.json: cannot read"),
        "{err}"
    );
}

#[test]
fn the_node_reference_in_docs_is_up_to_date() {
    let out = patchbay(&["nodes", "--markdown"]);
    assert!(out.status.success());
    let generated = text(&out.stdout);
    let committed = std::fs::read_to_string(repo("docs/nodes.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/nodes.md is stale: run `cargo run -p patchbay -- nodes --markdown > docs/nodes.md`"
    );
    for d in patchbay_kinds(&text(&patchbay(&["nodes"]).stdout)) {
        assert!(
            generated.contains(&format!("### `{d}`")),
            "{d} missing from the reference"
        );
    }
}

/// Kind names from the plain listing (lines indented by two spaces).
fn patchbay_kinds(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Every example script under `scripts/`.
fn example_scripts() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(repo("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rhai"))
        .collect();
    found.sort();
    found
}

#[test]
fn check_and_export_accept_every_example_script() {
    let scripts = example_scripts();
    assert!(scripts.len() >= 6, "{scripts:?}");
    let dir = temp_dir("export");
    for path in scripts {
        let out = patchbay(&["check", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", path.display(), text(&out.stderr));
        assert!(text(&out.stdout).contains(": ok ("));
        // The exported patch is a patch file that checks on its own.
        let json = dir.join(path.file_name().unwrap()).with_extension("json");
        let out = patchbay(&["export", path.to_str().unwrap(), "-o", json.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", path.display(), text(&out.stderr));
        let out = patchbay(&["check", json.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", json.display(), text(&out.stderr));
    }
}

#[test]
fn a_bad_script_is_reported_with_line_column_and_caret() {
    let dir = temp_dir("bad-script");
    let path = dir.join("typo.rhai");
    std::fs::write(&path, "let f = 800;\nsaw(110) >> lowpas(f) >> out();\n").unwrap();
    let out = patchbay(&["check", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "error: {}:2:13: unknown function `lowpas` for (an integer) (did you mean the node kind `lowpass`?)",
            path.display()
        )
    );
    assert_eq!(lines[1], " 2 | saw(110) >> lowpas(f) >> out();");
    assert_eq!(lines[2], "   |             ^");
}

#[test]
fn render_runs_a_scripts_timers() {
    let dir = temp_dir("render-script");
    let path = dir.join("timed.rhai");
    std::fs::write(
        &path,
        "sine(440, 0.5).name(\"s\") >> out();\nafter(0.5, || { set(\"s.amp\", 0.0); print(\"quiet\"); });\n",
    )
    .unwrap();
    let wav = dir.join("timed.wav");
    let out = patchbay(&[
        "render",
        path.to_str().unwrap(),
        "-o",
        wav.to_str().unwrap(),
        "--seconds",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("quiet"), "{}", text(&out.stderr));
    let mut reader = hound::WavReader::open(&wav).unwrap();
    let samples: Vec<f32> = reader.samples::<f32>().map(|s| s.unwrap()).collect();
    let loud = samples[..40_000].iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let quiet = samples[60_000..].iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(loud > 0.4 && quiet < 1e-3, "{loud} then {quiet}");
}

#[test]
fn edit_without_a_display_says_so_and_fails() {
    let output = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["edit", "patches/sine.json"])
        .current_dir(repo(""))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("patchbay runs");
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot open the editor window"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn edit_names_the_file_and_line_of_a_broken_patch() {
    let dir = temp_dir("edit-broken");
    let file = dir.join("broken.json");
    std::fs::write(&file, "{\n  \"format\": \"patchbay\",\n  \"version\": 1,\n  \"nodes\": [\n    {\"id\": \"a\", \"kind\": \"sinus\"}\n  ]\n}\n").unwrap();
    let output = patchbay(&["edit", file.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("broken.json:5"), "{stderr}");
    assert!(stderr.contains("did you mean `sine`"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
