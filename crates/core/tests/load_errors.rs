//! Every way a patch file can be wrong gives a specific error that names the
//! file and, where it can, the line, node, port or parameter; and no input
//! at all makes the loader panic.

mod common;

use common::registry;
use patchbay_core::{LoadError, LoadErrorKind, ValidationError, load_patch_str};
use proptest::prelude::*;

/// One bad patch and what its error must say.
struct Case {
    name: &'static str,
    text: &'static str,
    /// The error kind, with its important fields.
    kind: fn(&LoadErrorKind) -> bool,
    /// The line the error points at (`None`: it must not claim one).
    line: Option<usize>,
    /// Words the message must contain besides the file name.
    mentions: &'static [&'static str],
}

use LoadErrorKind as K;
use ValidationError as V;

/// Bad patches, each wrong in one way. Nodes and edges are written one per
/// line, so that the line an error points at is easy to check.
const CASES: &[Case] = &[
    Case {
        name: "broken JSON",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src",}
  ]
}"#,
        kind: |k| matches!(k, K::Json(_)),
        line: Some(5),
        mentions: &["trailing comma"],
    },
    Case {
        name: "empty file",
        text: "",
        kind: |k| matches!(k, K::Json(_)),
        line: Some(1),
        mentions: &["EOF"],
    },
    Case {
        name: "not an object: an array",
        text: r#"["patchbay", 1]"#,
        kind: |k| matches!(k, K::Json(m) if m.contains("sequence")),
        line: Some(1),
        mentions: &["expected a map"],
    },
    Case {
        name: "not an object: a number",
        text: "42",
        kind: |k| matches!(k, K::Json(_)),
        line: Some(1),
        mentions: &["42"],
    },
    Case {
        name: "missing format",
        text: r#"{"version": 1, "nodes": []}"#,
        kind: |k| matches!(k, K::NotAPatch),
        line: None,
        mentions: &["format", "missing"],
    },
    Case {
        name: "wrong format",
        text: r#"{
  "format": "ardour",
  "version": 1
}"#,
        kind: |k| matches!(k, K::WrongFormat(f) if f == "\"ardour\""),
        line: Some(2),
        mentions: &["ardour", "patchbay"],
    },
    Case {
        name: "missing version",
        text: r#"{"format": "patchbay", "nodes": []}"#,
        kind: |k| matches!(k, K::MissingVersion),
        line: None,
        mentions: &["version", "missing"],
    },
    Case {
        name: "future version",
        text: r#"{
  "format": "patchbay",
  "version": 5,
  "some_future_field": true
}"#,
        kind: |k| matches!(k, K::FutureVersion(5)),
        line: Some(3),
        mentions: &["version 5", "upgrade"],
    },
    Case {
        name: "version 0",
        text: r#"{
  "format": "patchbay",
  "version": 0
}"#,
        kind: |k| matches!(k, K::BadVersion(v) if v == "0"),
        line: Some(3),
        mentions: &["version 0"],
    },
    Case {
        name: "version as a string",
        text: r#"{"format": "patchbay", "version": "1"}"#,
        kind: |k| matches!(k, K::BadVersion(v) if v == "\"1\""),
        line: Some(1),
        mentions: &["\"1\""],
    },
    Case {
        name: "fractional version",
        text: r#"{"format": "patchbay", "version": 1.5}"#,
        kind: |k| matches!(k, K::BadVersion(v) if v == "1.5"),
        line: Some(1),
        mentions: &["1.5"],
    },
    Case {
        name: "unknown top-level field",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [],
  "edgez": []
}"#,
        kind: |k| matches!(k, K::Json(m) if m.contains("unknown field `edgez`")),
        line: Some(5),
        mentions: &["edgez", "nodes", "edges"],
    },
    Case {
        name: "unknown node field",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "b", "kind": "src", "colour": "red"}
  ]
}"#,
        kind: |k| matches!(k, K::Json(m) if m.contains("unknown field `colour`")),
        line: Some(6),
        mentions: &["colour"],
    },
    Case {
        name: "parameter value not a number",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "g", "kind": "gain", "params": {"gain": "loud"}}
  ]
}"#,
        kind: |k| matches!(k, K::Json(_)),
        line: Some(5),
        mentions: &["loud"],
    },
    Case {
        name: "malformed port reference",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "out", "kind": "output"}
  ],
  "edges": [
    {"from": "a-out", "to": "out.in"}
  ]
}"#,
        kind: |k| matches!(k, K::Json(m) if m.contains("a-out")),
        line: Some(9),
        mentions: &["a-out", "node.port"],
    },
    Case {
        name: "unknown kind",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "g", "kind": "gian"}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::UnknownKind { node, kind, suggestion: Some(s) })
                if node == "g" && kind == "gian" && s == "gain")
        },
        line: Some(6),
        mentions: &["`g`", "gian", "did you mean `gain`"],
    },
    Case {
        name: "unknown parameter",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "g", "kind": "gain", "params": {"gian": 0.5}}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::UnknownParam { node, param, suggestion: Some(s), .. })
                if node == "g" && param == "gian" && s == "gain")
        },
        line: Some(6),
        mentions: &["`g`", "gian", "did you mean `gain`"],
    },
    Case {
        name: "unknown setting",
        text: r#"{
  "format": "patchbay",
  "version": 2,
  "nodes": [
    {"id": "a", "kind": "src",
     "settings": {"lable": "kick"}}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::UnknownSetting { node, setting, suggestion: Some(s), .. })
                if node == "a" && setting == "lable" && s == "label")
        },
        line: Some(6),
        mentions: &["`a`", "lable", "did you mean `label`", "it has label"],
    },
    Case {
        name: "setting that is not a valid name",
        text: r#"{
  "format": "patchbay",
  "version": 2,
  "nodes": [
    {"id": "b", "kind": "gain"},
    {"id": "a", "kind": "src",
     "settings": {"label": "../kick"}}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::BadSetting { node, setting, value, .. })
                if node == "a" && setting == "label" && value == "../kick")
        },
        line: Some(7),
        mentions: &["`a`", "`label`", "../kick", "not a valid name"],
    },
    Case {
        name: "setting that is not text",
        text: r#"{
  "format": "patchbay",
  "version": 2,
  "nodes": [
    {"id": "a", "kind": "src", "settings": {"label": 3}}
  ]
}"#,
        kind: |k| matches!(k, K::Json(m) if m.contains("setting `label` is text")),
        line: Some(5),
        mentions: &["label", "quotes"],
    },
    Case {
        name: "parameter out of range",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "g", "kind": "gain", "params": {"gain": 3.5}}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::ParamOutOfRange { node, param, value, min, max })
                if node == "g" && param == "gain" && *value == 3.5 && *min == -2.0 && *max == 2.0)
        },
        line: Some(6),
        mentions: &["`g`", "`gain`", "3.5", "-2", "2"],
    },
    Case {
        name: "fractional choice",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "g", "kind": "gain"},
    {"id": "a", "kind": "src", "params": {"range": 0.5}}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::ParamNotChoice { node, param, choices, .. })
                if node == "a" && param == "range" && choices == "full, half")
        },
        line: Some(6),
        mentions: &["`a`", "`range`", "0.5", "full, half"],
    },
    Case {
        name: "invalid id",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "my node", "kind": "gain"}
  ]
}"#,
        kind: |k| matches!(k, K::Invalid(V::InvalidId(id)) if id == "my node"),
        line: Some(6),
        mentions: &["`my node`"],
    },
    Case {
        name: "duplicate id",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "src", "kind": "src"},
    {"id": "g", "kind": "gain"},
    {"id": "src", "kind": "src"}
  ]
}"#,
        kind: |k| matches!(k, K::Invalid(V::DuplicateId(id)) if id == "src"),
        line: Some(7),
        mentions: &["`src`", "twice"],
    },
    Case {
        name: "edge to a missing node",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "out", "kind": "output"}
  ],
  "edges": [
    {"from": "a.out", "to": "out.in"},
    {"from": "a.out", "to": "nowhere.in"}
  ]
}"#,
        kind: |k| matches!(k, K::Invalid(V::MissingNode { missing, .. }) if missing == "nowhere"),
        line: Some(10),
        mentions: &["a.out -> nowhere.in", "`nowhere`"],
    },
    Case {
        name: "unknown output port",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "b", "kind": "src"},
    {"id": "out", "kind": "output"}
  ],
  "edges": [
    {"from": "a.out", "to": "out.in"},
    {"from": "b.output", "to": "out.in"}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::UnknownPort { node, port, direction: "output", known, .. })
                if node == "b" && port == "output" && known == "`out`")
        },
        line: Some(11),
        mentions: &["b.output -> out.in", "no output `output`", "`out`"],
    },
    Case {
        name: "unknown input port",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "g", "kind": "gain"}
  ],
  "edges": [
    {"from": "a.out", "to": "g.input"}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::UnknownPort { node, port, direction: "input or parameter", known, .. })
                if node == "g" && port == "input" && known == "`in`, `gain`")
        },
        line: Some(9),
        mentions: &["a.out -> g.input", "`input`", "`in`, `gain`"],
    },
    Case {
        name: "duplicate edge",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src"},
    {"id": "out", "kind": "output"}
  ],
  "edges": [
    {"from": "a.out", "to": "out.in"},
    {"from": "a.out", "to": "out.in"}
  ]
}"#,
        kind: |k| matches!(k, K::Invalid(V::DuplicateEdge { from, to }) if from == "a.out" && to == "out.in"),
        line: Some(10),
        mentions: &["a.out -> out.in", "twice"],
    },
    Case {
        name: "stereo into a mono input",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "s", "kind": "stereo_src"},
    {"id": "m", "kind": "mono_in"},
    {"id": "out", "kind": "output"}
  ],
  "edges": [
    {"from": "m.out", "to": "out.in"},
    {"from": "s.out", "to": "m.in"}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::ChannelMismatch { from, to, from_channels: 2, to_channels: 1 })
                if from == "s.out" && to == "m.in")
        },
        line: Some(11),
        mentions: &["s.out -> m.in", "2-channel", "1-channel"],
    },
    Case {
        name: "stereo into a parameter",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "s", "kind": "stereo_src"},
    {"id": "g", "kind": "gain"}
  ],
  "edges": [
    {"from": "s.out", "to": "g.gain"}
  ]
}"#,
        kind: |k| {
            matches!(
                k,
                K::Invalid(V::ChannelMismatch {
                    from_channels: 2,
                    to_channels: 1,
                    ..
                })
            )
        },
        line: Some(9),
        mentions: &["s.out -> g.gain"],
    },
    Case {
        name: "cycle",
        text: r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "s", "kind": "src"},
    {"id": "x", "kind": "add2"},
    {"id": "y", "kind": "gain"},
    {"id": "out", "kind": "output"}
  ],
  "edges": [
    {"from": "s.out", "to": "x.a"},
    {"from": "x.out", "to": "y.in"},
    {"from": "y.out", "to": "x.b"},
    {"from": "y.out", "to": "out.in"}
  ]
}"#,
        kind: |k| {
            matches!(k, K::Invalid(V::Cycle { nodes })
                if nodes == &["x", "y"] || nodes == &["y", "x"])
        },
        line: None, // checked below: the line of the first node named
        mentions: &["cycle", "put a delay node in the loop"],
    },
];

fn load(text: &str) -> Result<patchbay_core::Patch, LoadError> {
    load_patch_str(text, "bad.json", &registry())
}

#[test]
fn every_bad_patch_gets_its_own_error() {
    assert!(CASES.len() >= 15);
    for case in CASES {
        let err = match load(case.text) {
            Ok(_) => panic!("{}: loaded", case.name),
            Err(err) => err,
        };
        let message = err.to_string();
        assert!(
            (case.kind)(&err.kind),
            "{}: wrong error {:?}",
            case.name,
            err.kind
        );
        assert_eq!(err.source, "bad.json");
        assert!(message.starts_with("bad.json"), "{}: {message}", case.name);
        if let K::Invalid(V::Cycle { nodes }) = &err.kind {
            let first = if nodes[0] == "x" { 6 } else { 7 };
            assert_eq!(err.line, Some(first), "{}: {message}", case.name);
        } else {
            assert_eq!(err.line, case.line, "{}: {message}", case.name);
        }
        if let Some(line) = err.line {
            let prefix = match err.column {
                Some(column) => format!("bad.json:{line}:{column}: "),
                None => format!("bad.json:{line}: "),
            };
            assert!(message.starts_with(&prefix), "{}: {message}", case.name);
        }
        // Syntax errors carry a 1-based column; meaning errors none.
        match err.kind {
            K::Json(_) => assert!(
                err.column.is_some_and(|c| c >= 1),
                "{}: {:?}",
                case.name,
                err.column
            ),
            _ => assert_eq!(err.column, None, "{}", case.name),
        }
        for word in case.mentions {
            assert!(
                message.contains(word),
                "{}: `{word}` not in: {message}",
                case.name
            );
        }
    }
}

#[test]
fn the_error_kinds_are_all_different() {
    // No two cases are reported alike: each error says what is wrong.
    let messages: Vec<String> = CASES
        .iter()
        .map(|c| load(c.text).unwrap_err().to_string())
        .collect();
    for (i, a) in messages.iter().enumerate() {
        for b in &messages[..i] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn a_good_patch_loads() {
    let text = r#"{
  "format": "patchbay",
  "version": 1,
  "nodes": [
    {"id": "a", "kind": "src", "params": {"seed": 3, "range": 1}, "pos": [10, 20]},
    {"id": "out", "kind": "output"}
  ],
  "edges": [
    {"from": "a.out", "to": "out.in"}
  ]
}"#;
    let patch = load(text).unwrap();
    assert_eq!(patch.nodes.len(), 2);
    assert_eq!(patch.node("a").unwrap().params["range"], 1.0);
    assert_eq!(patch.node("a").unwrap().pos, Some([10.0, 20.0]));
}

#[test]
fn settings_load_and_save_in_the_lowest_version_that_holds_them() {
    use patchbay_core::{Node, Patch};
    let plain = Patch {
        nodes: vec![Node::new("a", "src")],
        ..Patch::default()
    };
    assert!(
        plain.to_json().contains("\"version\": 1"),
        "no settings: readable by version-1 builds"
    );
    let labelled = Patch {
        nodes: vec![Node::new("a", "src").with_setting("label", "kick drum")],
        ..Patch::default()
    };
    let text = labelled.to_json();
    assert!(text.contains("\"version\": 2"), "{text}");
    let loaded = load(&text).unwrap();
    assert_eq!(loaded, labelled);
    assert_eq!(loaded.node("a").unwrap().settings["label"], "kick drum");
}

#[test]
fn comments_load_and_save_as_version_3_only_when_there_are_some_and_4_with_a_width() {
    use patchbay_core::{Comment, Node, Patch};
    let mut noted = Patch {
        nodes: vec![Node::new("a", "src").with_setting("label", "kick drum")],
        ..Patch::default()
    };
    noted.comments.push(Comment {
        text: "the kick:\n\"tight\", 808-ish".into(),
        pos: [-40.0, 12.5],
        width: None,
    });
    let text = noted.to_json();
    assert!(
        text.contains("\"version\": 3") && !text.contains("width"),
        "{text}"
    );
    let loaded = load(&text).unwrap();
    assert_eq!(loaded, noted);
    assert_eq!(loaded.comments[0].text, "the kick:\n\"tight\", 808-ish");
    // A note of its own width needs a version-4 build.
    noted.comments[0].width = Some(320.0);
    let text = noted.to_json();
    assert!(
        text.contains("\"version\": 4") && text.contains("\"width\": 320.0"),
        "{text}"
    );
    assert_eq!(load(&text).unwrap(), noted);
    noted.comments.clear();
    let text = noted.to_json();
    assert!(
        text.contains("\"version\": 2") && !text.contains("comments"),
        "without comments the file is what a version-2 build reads: {text}"
    );
    // A comment's fields are checked like a node's: an unknown one is named.
    let misspelt =
        r#"{"format": "patchbay", "version": 3, "comments": [{"text": "x", "pos": [0, 0], "colour": 1}]}"#;
    let err = load(misspelt).unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn a_missing_file_names_the_path() {
    let path = std::path::Path::new("/nonexistent/dir/patch.json");
    let err = patchbay_core::load_patch(path, &registry()).unwrap_err();
    assert!(matches!(err.kind, K::Io(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/dir/patch.json: cannot read"),
        "{err}"
    );
}

/// JSON values built from words a patch uses, so that random documents
/// often get past the syntax into the format, version and graph checks.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let words = prop::sample::select(vec![
        "patchbay", "format", "version", "nodes", "edges", "id", "kind", "params", "pos", "from", "to", "a",
        "b", "a.out", "b.in", "out.in", "a.b.c", "output", "src", "gain", "z1", "gain", "seed", "range",
        "in", "out", "", "x y", "ü",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..5).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        words.clone().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((words.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// Documents that are patches in shape, with random kinds, ids, parameters
/// and edges: most fail validation in some way, some load.
fn patch_like() -> impl Strategy<Value = String> {
    let id = prop::sample::select(vec!["a", "b", "c", "out", "a b", ""]);
    let kind = prop::sample::select(vec![
        "src",
        "stereo_src",
        "gain",
        "add2",
        "mono_in",
        "fork",
        "lat",
        "z1",
        "output",
        "nope",
    ]);
    let param = prop::sample::select(vec!["seed", "range", "gain", "samples", "value", "bogus"]);
    let port = prop::sample::select(vec!["out", "in", "a", "b", "pos", "neg", "gain", "samples", "x"]);
    let node = (
        id.clone(),
        kind,
        prop::collection::vec((param, -5.0f64..2000.0), 0..3),
    );
    let edge = (id.clone(), port.clone(), id, port);
    (
        prop::collection::vec(node, 0..6),
        prop::collection::vec(edge, 0..10),
    )
        .prop_map(|(nodes, edges)| {
            let nodes: Vec<serde_json::Value> = nodes
                .into_iter()
                .map(|(id, kind, params)| {
                    let params: serde_json::Map<_, _> = params
                        .into_iter()
                        .map(|(p, v)| (p.to_string(), v.into()))
                        .collect();
                    serde_json::json!({"id": id, "kind": kind, "params": params})
                })
                .collect();
            let edges: Vec<serde_json::Value> = edges
                .into_iter()
                .map(|(a, p, b, q)| serde_json::json!({"from": format!("{a}.{p}"), "to": format!("{b}.{q}")}))
                .collect();
            serde_json::to_string_pretty(&serde_json::json!({
                "format": "patchbay", "version": 1, "nodes": nodes, "edges": edges
            }))
            .unwrap()
        })
}

/// Load `text`; whatever happens, an error must name the file. A patch that
/// loads must also compile and run a few blocks.
fn load_never_panics(text: &str) {
    match load(text) {
        Err(err) => assert!(err.to_string().starts_with("bad.json"), "{err}"),
        Ok(patch) => {
            let plan = patchbay_core::compile(&patch, &registry(), &common::opts(64))
                .expect("loaded, so it compiles");
            common::render(&plan, 128);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        load_never_panics(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_json_never_panics(value in json_value()) {
        load_never_panics(&value.to_string());
        load_never_panics(&serde_json::to_string_pretty(&value).unwrap());
    }

    #[test]
    fn random_envelopes_never_panic(value in json_value(), version in prop_oneof![Just(1u64), any::<u64>()]) {
        // A real envelope around random content.
        let text = serde_json::json!({"format": "patchbay", "version": version, "nodes": value}).to_string();
        load_never_panics(&text);
    }

    #[test]
    fn random_patches_never_panic(text in patch_like()) {
        load_never_panics(&text);
    }
}

#[test]
fn errors_point_at_the_right_line_in_a_written_patch() {
    // Three edges into out.in, as `Patch::to_json` writes them (one field a
    // line); only the second is wrong, and the error must point at it.
    let mut patch = common::patch(
        vec![
            patchbay_core::Node::new("a", "src"),
            patchbay_core::Node::new("b", "src"),
            patchbay_core::Node::new("out", "output"),
        ],
        &[("a.out", "out.in"), ("b.wrong", "out.in")],
    );
    patch.connect("b.out", "out.in");
    let text = patch.to_json();
    let wrong_to = text.lines().position(|l| l.contains("\"b.wrong\"")).unwrap() + 2;
    assert!(
        text.lines()
            .nth(wrong_to - 1)
            .unwrap()
            .contains("\"to\": \"out.in\""),
        "{text}"
    );
    let err = load(&text).unwrap_err();
    assert!(matches!(err.kind, K::Invalid(V::UnknownPort { .. })), "{err}");
    assert_eq!(err.line, Some(wrong_to), "{err}\n{text}");
}

#[test]
fn syntax_errors_give_the_exact_line_and_column() {
    for (text, line, column) in [
        (
            "{\n  \"format\": \"patchbay\",\n  \"version\": 1,\n  \"nodes\": [\n    {\"id\": \"a\", \"kind\": \"src\",}\n  ]\n}",
            5,
            31,
        ),
        ("{\n  \"format\": \"patchbay\"\n  \"version\": 1\n}", 3, 3),
        ("{\"format\": \"patchbay\", \"version\": 1, \"nodes\": [}", 1, 48),
    ] {
        let err = load(text).unwrap_err();
        assert!(matches!(err.kind, K::Json(_)), "{err}");
        assert_eq!(
            (err.line, err.column),
            (Some(line), Some(column)),
            "{err}\n{text}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("bad.json:{line}:{column}: ")),
            "{err}"
        );
    }
}
