//! The generated script API: every registry kind callable with its declared
//! parameters, the operators, ports, names and the identity rule.

mod common;

use common::*;
use patchbay_core::{Channels, ParamSpec, Unit};
use patchbay_script::api::{MAX_POSITIONAL, has_function};

/// A legal value for `p` other than its default.
fn other_value(p: &ParamSpec) -> f64 {
    if p.unit == Unit::Choice {
        return if p.choices.len() > 1 { 1.0 } else { 0.0 };
    }
    let v = p.min + 0.25 * (p.max - p.min);
    if p.accepts(v) { v } else { p.default }
}

/// A float literal Rhai reads back exactly.
fn literal(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn call(kind: &str, args: &str) -> String {
    if has_function(kind) {
        format!("{kind}({args})")
    } else if args.is_empty() {
        format!("node(\"{kind}\")")
    } else {
        format!("node(\"{kind}\", {args})")
    }
}

#[test]
fn every_registry_kind_is_a_script_function_with_its_declared_parameters() {
    let registry = patchbay_nodes::registry();
    let kinds = registry.kinds();
    assert!(kinds.len() > 10, "the registry should hold the node library");
    for d in kinds {
        if d.kind == "output" {
            let p = patch("output(); out();");
            assert_eq!(p.nodes.len(), 1, "output() and out() are the one output node");
            continue;
        }
        // Positionally, in declaration order (up to MAX_POSITIONAL).
        let positional: Vec<&ParamSpec> = d.params.iter().take(MAX_POSITIONAL).collect();
        let args: Vec<String> = positional.iter().map(|p| literal(other_value(p))).collect();
        let script = format!("let n = {}; n.name(\"dut\");", call(d.kind, &args.join(", ")));
        let built = patch(&script);
        let node = built
            .node("dut")
            .unwrap_or_else(|| panic!("{}: no node in {script}", d.kind));
        assert_eq!(node.kind, d.kind);
        for p in &positional {
            assert_eq!(
                node.params.get(p.name),
                Some(&other_value(p)),
                "{} positional {}",
                d.kind,
                p.name
            );
        }

        // By name, every parameter.
        let fields: Vec<String> = d
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, literal(other_value(p))))
            .collect();
        let script = format!(
            "{}.name(\"dut\");",
            call(d.kind, &format!("#{{{}}}", fields.join(", ")))
        );
        let built = patch(&script);
        let node = built.node("dut").unwrap();
        for p in d.params {
            assert_eq!(
                node.params.get(p.name),
                Some(&other_value(p)),
                "{} named {}",
                d.kind,
                p.name
            );
        }

        // As a property, every parameter; and the choice names.
        for p in d.params {
            let value = if p.unit == Unit::Choice {
                format!("\"{}\"", p.choices[other_value(p) as usize])
            } else {
                literal(other_value(p))
            };
            let script = format!(
                "let n = {}; n.{} = {value}; n.name(\"dut\");",
                call(d.kind, ""),
                p.name
            );
            let built = patch(&script);
            assert_eq!(
                built.node("dut").unwrap().params.get(p.name),
                Some(&other_value(p)),
                "{script}"
            );
        }

        // Wired in by its first input and out by its first output: the
        // result compiles.
        if !d.outputs.is_empty() {
            let width = d.inputs.first().map(|p| p.channels);
            let source = match width {
                Some(Channels::Fixed(2)) => "sine(220) >> pan()",
                _ => "sine(220)",
            };
            let into = if d.inputs.is_empty() {
                String::new()
            } else {
                format!("{source} >> ")
            };
            let out_port = d.outputs[0].name;
            let to_out = match d.outputs[0].channels {
                Channels::Fixed(n) if n > 2 => String::new(),
                _ => format!("n.port(\"{out_port}\") >> out();"),
            };
            let script = format!("let n = {into}{}; {to_out}", call(d.kind, ""));
            patch(&script);
        }
    }
}

#[test]
fn kinds_spelt_like_keywords_or_api_functions_use_node() {
    // Every kind is reachable through `node`, whatever its name.
    for d in patchbay_nodes::registry().kinds() {
        patch(&format!("node(\"{}\");", d.kind));
    }
    assert!(!has_function("switch") && !has_function("set") && !has_function("level"));
    assert!(has_function("lowpass"));
}

#[test]
fn input_is_both_the_input_node_and_the_handles_port_method() {
    let p = patch(
        r#"
        let voice = input(#{channels: 2}).name("voice");
        let comp = compressor();
        voice >> comp >> out();
        input(1) >> comp.input("sidechain");
        "#,
    );
    assert_eq!(p.node("voice").unwrap().kind, "input");
    assert_eq!(p.node("voice").unwrap().params["channels"], 2.0);
    assert_eq!(p.node("input_2").unwrap().params["channels"], 1.0);
    assert!(
        edges(&p).contains(&"input_2.out -> compressor_1.sidechain".to_string()),
        "{:?}",
        edges(&p)
    );
}

#[test]
fn ids_follow_names_and_construction_order_within_a_kind() {
    let p = patch(
        r#"
        let a = saw(110);
        let b = saw(220).name("bass");
        let c = sine(330);
        let d = saw(440);
        a >> out(); b >> out(); c >> out(); d >> out();
        "#,
    );
    let ids: Vec<&str> = p.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["saw_1", "bass", "sine_1", "saw_3", "out"]);
}

#[test]
fn chains_read_left_to_right_and_bind_looser_than_arithmetic() {
    let p = patch("saw(110) >> lowpass(#{cutoff: 800}) >> out();");
    assert_eq!(
        edges(&p),
        ["saw_1.out -> lowpass_1.in", "lowpass_1.out -> out.in"]
    );

    // `a + b * 0.5 >> f` connects the whole mix: `>>` binds loosest.
    let p = patch("saw(110) + sine(220) * 0.5 >> lowpass(800) >> out();");
    assert_eq!(
        edges(&p),
        [
            "saw_1.out -> lowpass_1.in",
            "sine_1.out -> _gain_1.in",
            "_gain_1.out -> lowpass_1.in",
            "lowpass_1.out -> out.in"
        ]
    );
    let gain = p.node("_gain_1").unwrap().params["gain"];
    assert!((gain - 20.0 * 0.5f64.log10()).abs() < 1e-9);
}

#[test]
fn arrays_fan_in_and_fan_out() {
    let p = patch("let a = saw(1); let b = sine(2); [a, b] >> lowpass() >> [out(), delay()];");
    assert_eq!(
        edges(&p),
        [
            "saw_1.out -> lowpass_1.in",
            "sine_1.out -> lowpass_1.in",
            "lowpass_1.out -> out.in",
            "lowpass_1.out -> delay_1.in"
        ]
    );
}

#[test]
fn named_ports_and_parameters_as_destinations() {
    let p = patch(
        r#"
        let f = svf(#{cutoff: 500});
        saw(110) >> f;
        f.lp >> out();
        f.port("hp") >> delay() >> out();
        sine(2) >> f.cutoff;
        "#,
    );
    assert_eq!(
        edges(&p),
        [
            "saw_1.out -> svf_1.in",
            "svf_1.lp -> out.in",
            "svf_1.hp -> delay_1.in",
            "delay_1.out -> out.in",
            "sine_1.out -> svf_1.cutoff"
        ]
    );
}

#[test]
fn a_signal_in_a_parameter_map_modulates_it() {
    // sine(0.2) * 400 + 800 into the cutoff: one `scale` node does both.
    let p = patch("saw(110) >> lowpass(#{cutoff: sine(0.2, 1.0) * 400 + 800}) >> out();");
    let e = edges(&p);
    for edge in ["sine_1.out -> _scale_1.in", "_scale_1.out -> lowpass_1.cutoff"] {
        assert!(e.iter().any(|x| x == edge), "no {edge} in {e:?}");
    }
    let scale = &p.node("_scale_1").unwrap().params;
    assert_eq!((scale["factor"], scale["offset"]), (400.0, 800.0));
    // saw, sine, lowpass, the scale and the output: nothing else.
    assert_eq!(p.nodes.len(), 5, "{:?}", p.nodes);
}

#[test]
fn modulated_cutoff_sounds_like_the_arithmetic_says() {
    // A cutoff driven by a constant 800 through the arithmetic path sounds
    // the same as a cutoff set to 800: the fan-in into a parameter sums.
    let driven = {
        let mut s = session(&text(
            "noise() >> lowpass(#{cutoff: sine(0.0, 0.0) * 400 + 800}) >> out();",
        ));
        s.render(0.5).0
    };
    let set = {
        let mut s = session(&text("noise() >> lowpass(#{cutoff: 800}) >> out();"));
        s.render(0.5).0
    };
    let diff: f32 = driven
        .iter()
        .zip(&set)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-3, "largest difference {diff}");
    assert!(rms(&set) > 0.01);
}

#[test]
fn factors_a_gain_cannot_make_use_a_scale_node_or_a_multiply() {
    // Within the gain node's range (in dB): a gain.
    let p = patch("sine(1) * 0.5 >> out();");
    assert_eq!(p.node("_gain_1").unwrap().kind, "gain");
    // Beyond it, or negative: a scale node.
    for (factor, script) in [
        (400.0, "sine(1) * 400 >> out();"),
        (-0.5, "-0.5 * sine(1) >> out();"),
    ] {
        let p = patch(script);
        assert_eq!(
            edges(&p),
            ["sine_1.out -> _scale_1.in", "_scale_1.out -> out.in"],
            "{script}"
        );
        assert_eq!(p.node("_scale_1").unwrap().params["factor"], factor, "{script}");
    }
    // Beyond the scale node's range too: a multiply fed a constant.
    let p = patch("sine(1) * 5000 >> out();");
    let constant = p.nodes.iter().find(|n| n.kind == "constant").unwrap();
    assert_eq!(constant.params["value"], 5000.0);
    assert!(p.nodes.iter().any(|n| n.kind == "multiply"));
}

#[test]
fn arithmetic_helpers_never_renumber_the_scripts_own_nodes() {
    let plain = patch("gain(-6) >> out(); gain(-3) >> out();");
    let modulated = patch("sine(1) * 0.5 >> out(); gain(-6) >> out(); gain(-3) >> out();");
    for id in ["gain_1", "gain_2"] {
        assert_eq!(plain.node(id).unwrap().params, modulated.node(id).unwrap().params);
    }
}

#[test]
fn sums_can_be_named_as_a_summing_point() {
    let p = patch(r#"(saw(1) + sine(2)).name("bus") >> out();"#);
    assert_eq!(p.node("bus").unwrap().kind, "gain");
    assert_eq!(
        edges(&p),
        ["saw_1.out -> bus.in", "sine_1.out -> bus.in", "bus.out -> out.in"]
    );
}

#[test]
fn loops_and_functions_build_repeated_structure() {
    let p = patch(
        r#"
        fn voice(f) { saw(f) >> lowpass(#{cutoff: f * 4}) }
        let mix = gain(-12).name("mix");
        for i in 0..8 { voice(110.0 * (1.0 + 0.003 * i)) >> mix; }
        mix >> out();
        "#,
    );
    assert_eq!(p.nodes.iter().filter(|n| n.kind == "saw").count(), 8);
    assert_eq!(p.edges.iter().filter(|e| e.to.node == "mix").count(), 8);
    assert_eq!(
        p.node("saw_8").unwrap().params["freq"],
        110.0 * (1.0 + 0.003 * 7.0)
    );
}

#[test]
fn the_patch_exports_as_a_patch_file_that_loads_back() {
    let p = patch("saw(110).name(\"bass\") >> lowpass(800) >> out();");
    let json = p.to_json();
    let back = patchbay_core::load_patch_str(&json, "x.json", patchbay_nodes::registry()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn control_functions_at_the_top_level_set_the_patch() {
    let p = patch(
        r#"
        saw(110).name("bass") >> lowpass(800).name("f") >> out();
        set("f.cutoff", 400);
        let f = find("f");
        f.q = 2.0;
        set(f.q, get("f.q") + 1.0);
        "#,
    );
    let f = p.node("f").unwrap();
    assert_eq!(f.params["cutoff"], 400.0);
    assert_eq!(f.params["q"], 3.0);
}

#[test]
fn patch_files_load_from_the_scripts_folder() {
    let dir = scratch_dir("patchfile");
    std::fs::copy(repo().join("patches/sine.json"), dir.join("sine.json")).unwrap();
    let p = ScriptHostExt::load(
        &dir,
        r#"let p = patch_file("sine.json", "s-"); p.osc >> delay() >> out();"#,
    );
    assert_eq!(p.node("s-osc").unwrap().kind, "sine");
    assert!(edges(&p).contains(&"s-osc.out -> out.in".to_string()));
    assert!(edges(&p).contains(&"s-osc.out -> delay_1.in".to_string()));
}

struct ScriptHostExt;
impl ScriptHostExt {
    fn load(dir: &std::path::Path, script: &str) -> patchbay_core::Patch {
        patchbay_script::ScriptHost::new(patchbay_nodes::registry())
            .load(&text_in(script, dir), 0.0)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

#[test]
fn modules_import_from_the_scripts_folder() {
    let dir = scratch_dir("modules");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(
        dir.join("lib/voices.rhai"),
        "fn pluck(f) { saw(f) >> lowpass(#{cutoff: f * 3.0}) }\nexport const ROOT = 55.0;\n",
    )
    .unwrap();
    let main = dir.join("main.rhai");
    std::fs::write(
        &main,
        "import \"lib/voices\" as v;\nv::pluck(v::ROOT) >> out();\n",
    )
    .unwrap();
    let mut host = patchbay_script::ScriptHost::new(patchbay_nodes::registry());
    let p = host
        .load(&patchbay_script::ScriptSource::File(main.clone()), 0.0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.node("saw_1").unwrap().params["freq"], 55.0);
    let files = host.files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("lib/voices.rhai")));
}
