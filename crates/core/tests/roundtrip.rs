//! A patch written as JSON reads back equal: ids, kinds, every parameter
//! value to the last bit, positions, edges and their order.

mod common;

use common::nodes::ALL;
use patchbay_core::{Comment, Edge, Node, Patch, PortRef, Unit, load_patch_str};
use proptest::prelude::*;

/// A valid node id: 1 to 64 of letters, digits, `_` and `-`.
fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,64}"
}

/// A value for a parameter of `spec`'s range: any f64 in it, its ends, or
/// for a choice any of its whole numbers.
fn value(min: f64, max: f64, choice: bool) -> BoxedStrategy<f64> {
    if choice {
        (min as u32..=max as u32).prop_map(f64::from).boxed()
    } else {
        prop_oneof![
            Just(min),
            Just(max),
            min..=max,
            any::<f64>().prop_filter("in range", move |v| (min..=max).contains(v))
        ]
        .boxed()
    }
}

/// One node of a random test kind, with a random subset of its parameters
/// and maybe a position.
fn node() -> impl Strategy<Value = Node> {
    (0..ALL.len(), id()).prop_flat_map(|(k, id)| {
        let kind = ALL[k];
        let params: Vec<_> = kind
            .params
            .iter()
            .map(|p| {
                prop::option::of(value(p.min, p.max, p.unit == Unit::Choice)).prop_map(move |v| (p.name, v))
            })
            .collect();
        let settings: Vec<_> = kind
            .settings
            .iter()
            .map(|s| prop::option::of("[A-Za-z0-9 _.-]{1,12}").prop_map(move |v| (s.name, v)))
            .collect();
        let pos =
            prop::option::of(any::<[f32; 2]>().prop_filter("finite", |p| p.iter().all(|x| x.is_finite())));
        (params, settings, pos).prop_map(move |(params, settings, pos)| Node {
            id: id.clone(),
            kind: kind.kind.to_string(),
            params: params
                .into_iter()
                .filter_map(|(name, v)| Some((name.to_string(), v?)))
                .collect(),
            settings: settings
                .into_iter()
                .filter_map(|(name, v)| Some((name.to_string(), v?)))
                .collect(),
            pos,
        })
    })
}

/// A patch of unique ids with edges between random ports (not validated:
/// the text round trip does not need them to make sense).
fn patch() -> impl Strategy<Value = Patch> {
    (
        prop::collection::vec(node(), 0..12),
        prop::collection::vec((any::<usize>(), id(), any::<usize>(), id()), 0..20),
        prop::collection::vec(comment(), 0..3),
    )
        .prop_map(|(mut nodes, edges, comments)| {
            let mut seen = std::collections::HashSet::new();
            nodes.retain(|n| seen.insert(n.id.clone()));
            let edges = if nodes.is_empty() {
                Vec::new()
            } else {
                let id = |i: usize| nodes[i % nodes.len()].id.clone();
                edges
                    .into_iter()
                    .map(|(a, p, b, q)| Edge {
                        from: PortRef { node: id(a), port: p },
                        to: PortRef { node: id(b), port: q },
                    })
                    .collect()
            };
            Patch {
                nodes,
                edges,
                comments,
            }
        })
}

/// A canvas note: any text (quotes, newlines, non-ASCII) at a finite place,
/// of the default width or its own.
fn comment() -> impl Strategy<Value = Comment> {
    (
        "\\PC{0,40}(\n\\PC{0,20})?",
        any::<[f32; 2]>().prop_filter("finite", |p| p.iter().all(|x| x.is_finite())),
        proptest::option::of(1.0f32..2000.0),
    )
        .prop_map(|(text, pos, width)| Comment { text, pos, width })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_patch_reads_back_equal(patch in patch()) {
        let text = patch.to_json();
        let back = Patch::from_json(&text, "roundtrip.json").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &patch);
        // Every parameter bit for bit (PartialEq would let -0.0 pass for 0.0).
        for (a, b) in back.nodes.iter().zip(&patch.nodes) {
            for (x, y) in a.params.values().zip(b.params.values()) {
                prop_assert_eq!(x.to_bits(), y.to_bits());
            }
        }
        // Writing it again gives the same text.
        prop_assert_eq!(back.to_json(), text);
    }
}

#[test]
fn a_valid_patch_survives_load_and_save() {
    let mut patch = common::patch(
        vec![
            Node::new("noise", "stereo_src").with("seed", 77.0),
            Node::new("amp", "gain").with("gain", -0.123_456_789_012_345_67),
            Node::new("out", "output"),
        ],
        &[("noise.out", "amp.in"), ("amp.out", "out.in")],
    );
    patch.node_mut("amp").unwrap().pos = Some([12.5, -3.25]);
    let text = patch.to_json();
    assert!(
        text.starts_with("{\n  \"format\": \"patchbay\",\n  \"version\": 1,"),
        "{text}"
    );
    assert_eq!(
        load_patch_str(&text, "ok.json", &common::registry()).unwrap(),
        patch
    );
}
