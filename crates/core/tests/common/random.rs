//! Random valid patches for the property tests: acyclic ones, or ones with
//! feedback loops that each pass through a `z1`.

use std::collections::HashSet;

use patchbay_core::{Channels, Node, NodeDescriptor, Patch};
use proptest::prelude::*;

use super::nodes::Noise;
use super::{patch, registry};

/// Kinds drawn for acyclic patches.
const ACYCLIC: &[&str] = &[
    "src",
    "stereo_src",
    "dc",
    "gain",
    "add2",
    "mono_in",
    "fork",
    "lat",
    "output",
];
/// Kinds drawn for patches with loops: the same plus the cycle breaker.
const LOOPING: &[&str] = &[
    "src",
    "stereo_src",
    "dc",
    "gain",
    "add2",
    "mono_in",
    "fork",
    "lat",
    "output",
    "z1",
    "z1",
];

/// A random patch before it is made valid: raw choices, decoded by [`build`].
#[derive(Clone, Debug)]
pub struct Blueprint {
    /// Whether edges may run back into a `z1`, closing loops.
    loops: bool,
    /// Per node: kind index and two raw numbers for its parameters.
    nodes: Vec<(usize, u32, u32)>,
    /// Candidate edges: two node positions and raw port choices.
    edges: Vec<(usize, usize, u8, u8)>,
    /// Seed for the order of the nodes in the document.
    shuffle: u64,
}

/// Blueprints of 2 to 14 nodes and up to three edges per node.
pub fn blueprint(loops: bool) -> impl Strategy<Value = Blueprint> {
    let kinds = if loops { LOOPING.len() } else { ACYCLIC.len() };
    (2usize..=14).prop_flat_map(move |n| {
        (
            prop::collection::vec((0..kinds, any::<u32>(), any::<u32>()), n),
            prop::collection::vec((0..n, 0..n, any::<u8>(), any::<u8>()), 0..=3 * n),
            any::<u64>(),
        )
            .prop_map(move |(nodes, edges, shuffle)| Blueprint {
                loops,
                nodes,
                edges,
                shuffle,
            })
    })
}

/// A value in `[min, max]` from raw bits, in steps of 1/1000.
fn scaled(raw: u32, min: f64, max: f64) -> f64 {
    let steps = ((max - min) * 1000.0) as u32 + 1;
    min + f64::from(raw % steps) / 1000.0
}

/// Parameters for a node from raw bits; one node in five keeps the defaults.
fn with_params(node: Node, raw: u32, raw2: u32) -> Node {
    if raw2.is_multiple_of(5) && node.kind != "z1" {
        return node;
    }
    match node.kind.as_str() {
        "src" => node
            .with("seed", f64::from(raw % 1000))
            .with("range", f64::from(raw2 % 2)),
        "stereo_src" => node.with("seed", f64::from(raw % 1000)),
        "dc" => node.with("value", scaled(raw, -2.0, 2.0)),
        "gain" => node.with("gain", scaled(raw, -2.0, 2.0)),
        "lat" => node.with("samples", f64::from(raw % 301)),
        // At least the largest block the loop tests run (64).
        "z1" => node.with("samples", f64::from(64 + raw % 237)),
        _ => node,
    }
}

/// An edge by indices: source, output port, destination, input or
/// parameter name.
type Link = (usize, usize, usize, &'static str);

/// Decode a blueprint into a valid patch.
///
/// Edges run from an earlier node to a later one, so the graph is acyclic;
/// with `loops`, an edge may also run back (or to itself) into a `z1`,
/// which closes a loop through it. Edges that would break a channel rule
/// (a stereo signal into a mono input or a parameter) are dropped. The
/// last node is an output fed by something, and the document lists the
/// nodes shuffled, so that its order is not a topological one.
pub fn build(bp: &Blueprint) -> Patch {
    let registry = registry();
    let kinds_list = if bp.loops { LOOPING } else { ACYCLIC };
    let mut nodes: Vec<Node> = bp
        .nodes
        .iter()
        .enumerate()
        .map(|(i, &(kind, a, b))| with_params(Node::new(format!("n{i}"), kinds_list[kind]), a, b))
        .collect();
    nodes.push(Node::new(format!("n{}", nodes.len()), "output"));
    let kinds: Vec<&NodeDescriptor> = nodes.iter().map(|n| registry.get(&n.kind).unwrap()).collect();
    let n = nodes.len();

    let mut links: Vec<Link> = Vec::new();
    for &(a, b, out_raw, in_raw) in &bp.edges {
        // One bit of the port choice says "backwards", when that can be.
        let back = out_raw & 0x80 != 0;
        let (src, dst) = if bp.loops && back && kinds[a.min(b)].kind == "z1" {
            (a.max(b), a.min(b)) // back into the z1, or a self-loop
        } else {
            (a.min(b), a.max(b))
        };
        if (src == dst && kinds[src].kind != "z1") || kinds[src].outputs.is_empty() {
            continue;
        }
        let mut targets: Vec<&'static str> = kinds[dst].inputs.iter().map(|p| p.name).collect();
        targets.extend(match kinds[dst].kind {
            "gain" => Some("gain"),
            "dc" => Some("value"),
            _ => None,
        });
        if targets.is_empty() {
            continue;
        }
        let port = (out_raw & 0x7f) as usize % kinds[src].outputs.len();
        let link = (src, port, dst, targets[in_raw as usize % targets.len()]);
        if !links.contains(&link) {
            links.push(link);
        }
    }
    if bp.loops {
        // Close a loop through two z1 in three: from a node it reaches (or
        // itself) back into it.
        for (z, &(_, a, b)) in bp.nodes.iter().enumerate() {
            if kinds[z].kind != "z1" || b.is_multiple_of(3) {
                continue;
            }
            let reached: Vec<usize> = reachable(z, &links)
                .into_iter()
                .filter(|&v| !kinds[v].outputs.is_empty())
                .collect();
            let from = reached[a as usize % reached.len()];
            let link = (from, (a >> 8) as usize % kinds[from].outputs.len(), z, "in");
            if !links.contains(&link) {
                links.push(link);
            }
        }
    }
    // The output node is fed by the latest node that has an output.
    if let Some(src) = (0..n - 1).rev().find(|&v| !kinds[v].outputs.is_empty()) {
        links.push((src, 0, n - 1, "in"));
    }
    // Drop edges that break a channel rule until none does.
    while let Some(bad) = links
        .iter()
        .position(|&l| !fits(&kinds, &widths(&kinds, &links), l))
    {
        links.remove(bad);
    }

    let edges: Vec<(String, String)> = links
        .iter()
        .map(|&(src, port, dst, target)| {
            (
                format!("n{src}.{}", kinds[src].outputs[port].name),
                format!("n{dst}.{target}"),
            )
        })
        .collect();
    shuffle(&mut nodes, bp.shuffle);
    let edges: Vec<(&str, &str)> = edges.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    patch(nodes, &edges)
}

/// The nodes `from` reaches along `links`, itself included.
fn reachable(from: usize, links: &[Link]) -> Vec<usize> {
    let mut seen = vec![from];
    let mut i = 0;
    while i < seen.len() {
        for &(src, _, dst, _) in links {
            if src == seen[i] && !seen.contains(&dst) {
                seen.push(dst);
            }
        }
        i += 1;
    }
    seen
}

/// Every node's "follows" width, settled by repetition (loops feed back).
fn widths(kinds: &[&NodeDescriptor], links: &[Link]) -> Vec<usize> {
    let mut width = vec![1; kinds.len()];
    loop {
        let mut changed = false;
        for &(src, port, dst, target) in links {
            if kinds[dst]
                .input(target)
                .is_some_and(|(_, p)| p.channels == Channels::Follows)
            {
                let w = port_width(kinds, &width, src, port);
                if w > width[dst] {
                    width[dst] = w;
                    changed = true;
                }
            }
        }
        if !changed {
            return width;
        }
    }
}

fn port_width(kinds: &[&NodeDescriptor], width: &[usize], v: usize, port: usize) -> usize {
    match kinds[v].outputs[port].channels {
        Channels::Fixed(w) => w as usize,
        Channels::Follows => width[v],
    }
}

/// Whether a link's channels meet: mono goes anywhere, wider only to as wide.
fn fits(kinds: &[&NodeDescriptor], width: &[usize], (src, port, dst, target): Link) -> bool {
    let from = port_width(kinds, width, src, port);
    let to = match kinds[dst].input(target).map(|(_, p)| p.channels) {
        Some(Channels::Fixed(w)) => w as usize,
        Some(Channels::Follows) => width[dst],
        None => 1, // a parameter
    };
    from == 1 || from == to
}

/// Fisher–Yates with the test noise generator.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = Noise::new(seed as u32 ^ (seed >> 32) as u32, 0);
    for i in (1..items.len()).rev() {
        let r = (rng.next_sample() + 1.0) * 0.5;
        items.swap(i, ((r * (i + 1) as f32) as usize).min(i));
    }
}

/// Whether `patch` has a node of `kind`.
pub fn has_kind(patch: &Patch, kind: &str) -> bool {
    patch.nodes.iter().any(|n| n.kind == kind)
}

/// Edges into the same port more than once.
pub fn has_fan_in(patch: &Patch) -> bool {
    let mut seen = HashSet::new();
    patch.edges.iter().any(|e| !seen.insert(&e.to))
}
