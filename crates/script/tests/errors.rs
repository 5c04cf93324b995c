//! Bad scripts: each gives its own positioned error, none panics, and none
//! stops a script that is already playing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use patchbay_script::{ErrorKind, Event, ScriptError, ScriptHost, ScriptSource};

/// What a bad script must report.
struct Bad {
    what: &'static str,
    script: &'static str,
    /// (line, column) of the error.
    at: (usize, usize),
    /// Which kind of error.
    kind: fn(&ErrorKind) -> bool,
    /// Text the message must contain.
    says: &'static str,
}

fn runtime(k: &ErrorKind) -> bool {
    matches!(k, ErrorKind::Runtime(_))
}

const GOOD: &str = "sine(440, 0.5) >> out();";

fn bad_scripts() -> Vec<Bad> {
    vec![
        Bad {
            what: "syntax error",
            script: "saw(110) >> lowpass(800)\n  >> ;\n",
            at: (2, 6),
            kind: |k| matches!(k, ErrorKind::Syntax(_)),
            says: "syntax error",
        },
        Bad {
            what: "unknown node kind",
            script: "let f = 800;\nsaw(110) >> lowpas(f) >> out();\n",
            at: (2, 13),
            kind: runtime,
            says: "unknown function `lowpas` for (an integer) (did you mean the node kind `lowpass`?)",
        },
        Bad {
            what: "unknown node kind through node()",
            script: "node(\"revreb\") >> out();",
            at: (1, 1),
            kind: runtime,
            says: "unknown node kind `revreb`",
        },
        Bad {
            what: "wrong parameter name",
            script: "saw(110)\n  >> lowpass(#{cutof: 800})\n  >> out();\n",
            at: (2, 6),
            kind: runtime,
            says: "node `lowpass_1` (lowpass) has no parameter `cutof` (did you mean `cutoff`?)",
        },
        Bad {
            what: "parameter out of range",
            script: "lowpass(#{cutoff: 50000}) >> out();",
            at: (1, 1),
            kind: runtime,
            says: "parameter `cutoff` = 50000 is out of range 10 … 20000",
        },
        Bad {
            what: "too many positional parameters",
            script: "saw(110, 0.5, 3) >> out();",
            at: (1, 1),
            kind: runtime,
            says: "`saw` takes at most 2 positional parameters (freq, amp); got 3",
        },
        Bad {
            what: "type error: an array as a parameter",
            script: "saw([110, 220]) >> out();",
            at: (1, 1),
            kind: runtime,
            says: "parameter `freq` of `saw` takes a number, a choice name or a signal, not an array",
        },
        Bad {
            what: "type error: connecting into a number",
            script: "let x = saw(110);\nx >> 3;\n",
            at: (2, 3),
            kind: runtime,
            says: "no operator `>>` for (a node, an integer)",
        },
        Bad {
            what: "unknown port",
            script: "svf().port(\"lowpass\") >> out();",
            at: (1, 7),
            kind: runtime,
            says: "node `svf_1` (svf) has no port or parameter `lowpass`",
        },
        Bad {
            what: "undefined variable",
            script: "saw(110) >> fliter >> out();",
            at: (1, 13),
            kind: |k| matches!(k, ErrorKind::Syntax(_)),
            says: "Undefined variable: fliter",
        },
        Bad {
            what: "infinite loop",
            script: "let n = 0;\nloop { n += 1; }\n",
            at: (2, 0),
            kind: |k| matches!(k, ErrorKind::Timeout(_) | ErrorKind::TooManyOperations(_)),
            says: "an endless loop?",
        },
        Bad {
            what: "deep recursion",
            script: "fn deeper(n) { deeper(n + 1) }\ndeeper(0);\n",
            at: (2, 1),
            kind: |k| matches!(k, ErrorKind::StackOverflow(_)),
            says: "calls nested more than 48 deep",
        },
        Bad {
            what: "huge allocation",
            script: "let a = [];\na.pad(1000000000, 0.0);\n",
            at: (2, 3),
            kind: |k| matches!(k, ErrorKind::TooLarge(_)),
            says: "over the script limit",
        },
        Bad {
            what: "string growing without end",
            script: "let s = \"ab\";\nwhile true { s += s; }\n",
            at: (2, 16),
            kind: |k| matches!(k, ErrorKind::TooLarge(_)),
            says: "Length of string is over the script limit",
        },
        Bad {
            what: "file access outside the folder (import)",
            script: "import \"../../etc/passwd\" as p;\n",
            at: (1, 8),
            kind: |k| matches!(k, ErrorKind::Sandbox(_)),
            says: "refused to open \"../../etc/passwd\": it is outside the script's folder",
        },
        Bad {
            what: "file access outside the folder (absolute patch file)",
            script: "\n  patch_file(\"/etc/passwd\");\n",
            at: (2, 3),
            kind: |k| matches!(k, ErrorKind::Sandbox(_)),
            says: "refused to open \"/etc/passwd\"",
        },
        Bad {
            what: "eval is disabled",
            script: "eval(\"saw(1)\");",
            at: (1, 1),
            kind: |k| matches!(k, ErrorKind::Syntax(_)),
            says: "'eval' is disabled",
        },
        Bad {
            what: "cycle without a delay",
            script: "let a = lowpass(800);\nlet b = highpass(100);\nsaw(55) >> a >> b >> out();\nb >> a;\n",
            at: (4, 3),
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::Invalid(patchbay_core::ValidationError::Cycle { .. })
                )
            },
            says: "cycle without a delay",
        },
        Bad {
            what: "stereo into a mono input",
            script: "saw(55) >> pan(0.5)\n  >> pan(-0.5) >> out();\n",
            at: (2, 3),
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::Invalid(patchbay_core::ValidationError::ChannelMismatch { .. })
                )
            },
            says: "a 2-channel signal cannot feed a 1-channel input",
        },
        Bad {
            what: "a name used twice",
            script: "saw(55).name(\"bass\") >> out();\nsaw(110).name(\"bass\") >> out();\n",
            at: (2, 10),
            kind: runtime,
            says: "the name `bass` is already used by the node made at test.rhai:1:1",
        },
        Bad {
            what: "a choice that does not exist",
            script: "lowpass(800) >> out();\nlet m = node(\"lowpass\"); m.cutoff = \"wide\";",
            at: (2, 28),
            kind: runtime,
            says: "takes a number, not the text \"wide\"",
        },
        Bad {
            what: "throw",
            script: "GOOD;\nthrow \"no more\";",
            at: (2, 1),
            kind: runtime,
            says: "the script threw: no more",
        },
        Bad {
            what: "error inside a function names the call",
            script: "fn voice(f) {\n  saw(f) >> lowpass(#{q: 99})\n}\nvoice(110) >> out();\n",
            at: (2, 13),
            kind: runtime,
            says: "parameter `q` = 99 is out of range",
        },
        Bad {
            what: "connecting from a node with no outputs",
            script: "out() >> lowpass(200);",
            at: (1, 7),
            kind: runtime,
            says: "node `out` (output) has no outputs",
        },
        Bad {
            what: "recording what is not a recorder",
            script: "sine(440).name(\"osc\") >> out();\nstart_recording(\"osc\");\n",
            at: (2, 1),
            kind: runtime,
            says: "`start_recording` needs a `record` node; `osc` is a `sine`",
        },
    ]
}

fn check(bad: &Bad, err: &ScriptError) {
    let text = err.to_string();
    assert!(
        (bad.kind)(&err.kind),
        "{}: wrong kind {:?}\n{text}",
        bad.what,
        err.kind
    );
    assert!(
        text.contains(bad.says),
        "{}: expected `{}` in\n{text}",
        bad.what,
        bad.says
    );
    let at = err
        .location
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no position\n{text}", bad.what));
    assert_eq!(at.source, "test.rhai", "{}", bad.what);
    assert_eq!(at.line, bad.at.0, "{}: line\n{text}", bad.what);
    if bad.at.1 > 0 {
        assert_eq!(at.column, bad.at.1, "{}: column\n{text}", bad.what);
    }
    // The rendering: `file:line:col: message`, the source line, a caret.
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("test.rhai:{}:{}: ", at.line, at.column)),
        "{}: {text}",
        bad.what
    );
    assert!(
        lines.len() >= 3 && lines[2].trim_end().ends_with('^'),
        "{}: no caret\n{text}",
        bad.what
    );
}

#[test]
fn each_bad_script_gives_its_own_positioned_error() {
    let bad = bad_scripts();
    assert!(bad.len() >= 12);
    for b in &bad {
        let script = b.script.replace("GOOD", "1");
        let started = Instant::now();
        let err = build(&script).expect_err(b.what);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{} took {:?}",
            b.what,
            started.elapsed()
        );
        check(b, &err);
    }
}

#[test]
fn a_bad_reload_leaves_the_last_good_graph_playing() {
    let mut s = session(&text(GOOD));
    let (before, _) = s.render(0.1);
    assert!(rms(&before) > 0.1);
    for b in bad_scripts() {
        let script = b.script.replace("GOOD", "1");
        let err = s.reload(&text(&script)).expect_err(b.what);
        check(&b, &err);
        let (after, _) = s.render(0.05);
        assert!(
            (rms(&after) - rms(&before)).abs() < 0.01,
            "{}: the good script stopped playing",
            b.what
        );
        assert!((pitch(&after) - 440.0).abs() < 20.0, "{}", b.what);
    }
}

#[test]
fn an_endless_loop_ends_within_a_second() {
    // Enough operations allowed that the time budget is what stops it.
    let limits = patchbay_script::Limits {
        max_operations: u64::MAX / 2,
        ..Default::default()
    };
    let mut host = ScriptHost::with_limits(patchbay_nodes::registry(), limits);
    let started = Instant::now();
    let err = host
        .load(&text("let n = 0;\nwhile true { n += 1; }\n"), 0.0)
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err.kind, ErrorKind::Timeout(_)), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(err.to_string().starts_with("test.rhai:2:"), "{err}");
}

#[test]
fn errors_in_modules_point_into_the_module_and_name_the_import() {
    let dir = scratch_dir("module-errors");
    std::fs::write(
        dir.join("voices.rhai"),
        "fn pluck(f) {\n  saw(f) >> lowpas(800)\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("broken.rhai"), "fn x( {\n").unwrap();
    std::fs::write(
        dir.join("main.rhai"),
        "import \"voices\" as v;\nv::pluck(110) >> out();\n",
    )
    .unwrap();
    let main = dir.join("main.rhai");
    let err = ScriptHost::new(patchbay_nodes::registry())
        .load(&ScriptSource::File(main.clone()), 0.0)
        .unwrap_err();
    let at = err.location.clone().unwrap();
    assert!(at.source.ends_with("voices.rhai"), "{err}");
    assert_eq!((at.line, at.column), (2, 13), "{err}");
    assert!(err.to_string().contains("called at"), "{err}");

    std::fs::write(
        dir.join("main.rhai"),
        "saw(1) >> out();\nimport \"broken\" as b;\n",
    )
    .unwrap();
    let err = ScriptHost::new(patchbay_nodes::registry())
        .load(&ScriptSource::File(main), 0.0)
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Syntax(_)), "{err}");
    assert!(
        err.location.as_ref().unwrap().source.ends_with("broken.rhai"),
        "{err}"
    );
    assert!(
        err.notes
            .iter()
            .any(|n| n.contains("imported at") && n.contains("main.rhai:2:8")),
        "{err}"
    );
}

#[test]
fn a_symlink_out_of_the_folder_is_refused() {
    let dir = scratch_dir("symlink");
    let outside = scratch_dir("outside");
    std::fs::write(outside.join("secret.rhai"), "saw(1) >> out();").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.join("secret.rhai"), dir.join("secret.rhai")).unwrap();
    #[cfg(unix)]
    {
        let err = ScriptHost::new(patchbay_nodes::registry())
            .load(&text_in("import \"secret\" as s;", &dir), 0.0)
            .unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Sandbox(_)), "{err}");
    }
}

#[test]
fn a_failing_callback_is_reported_at_its_line_and_the_audio_goes_on() {
    let script = "sine(440, 0.5) >> out();\nafter(0.05, || {\n  set(\"sine_1.freq\", -5);\n});\nevery(0.02, || { let n = 0; loop { n += 1; } });\n";
    let mut s = session(&text(script));
    let (audio, _) = s.render(0.3);
    let errors = s.errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let out_of_range = errors
        .iter()
        .find(|e| e.to_string().contains("out of range"))
        .unwrap();
    assert_eq!(out_of_range.location.as_ref().unwrap().line, 3);
    assert!(out_of_range.to_string().contains("now cancelled"));
    let endless = errors
        .iter()
        .find(|e| matches!(e.kind, ErrorKind::Timeout(_) | ErrorKind::TooManyOperations(_)))
        .unwrap();
    assert_eq!(endless.location.as_ref().unwrap().line, 5, "{endless}");
    assert_eq!(s.host.timers(), 0, "failed callbacks are cancelled");
    assert!((rms(window(&audio, 0.2, 0.3)) - 0.5 / 2f32.sqrt()).abs() < 0.01);
    let _ = Event::Print(String::new());
}
