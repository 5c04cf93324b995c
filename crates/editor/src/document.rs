//! The patch being edited, independent of any UI: every edit is a step of
//! invertible operations on the [`Patch`], so undo and redo cover them all;
//! a parameter drag previews freely and becomes one step when it ends.
//! Connections are checked by the compiler itself (`core::compile`), so the
//! editor refuses exactly what the engine would, with the engine's reason.

use std::fmt;
use std::path::{Path, PathBuf};

use patchbay_core::registry::Unit;
use patchbay_core::{
    Comment, Edge, LoadError, Node, NodeDescriptor, ParamSpec, Patch, PortRef, Registry, ValidationError,
    load_patch, validate,
};

/// How far a duplicate (or a paste with no place given) lands from its
/// original, in canvas units.
const DUPLICATE_OFFSET: [f32; 2] = [40.0, 40.0];

/// One invertible change to a patch. Applying an operation returns the
/// operation that undoes it.
#[derive(Clone, Debug, PartialEq)]
enum Op {
    InsertNode {
        index: usize,
        node: Node,
    },
    RemoveNode {
        index: usize,
    },
    InsertEdge {
        index: usize,
        edge: Edge,
    },
    RemoveEdge {
        index: usize,
    },
    SetParam {
        node: String,
        param: String,
        value: Option<f64>,
    },
    SetPos {
        node: String,
        pos: Option<[f32; 2]>,
    },
    InsertComment {
        index: usize,
        comment: Comment,
    },
    RemoveComment {
        index: usize,
    },
    SetComment {
        index: usize,
        comment: Comment,
    },
}

/// What an applied operation means for the engine playing the patch.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// One parameter moved: a glide is enough.
    Param {
        /// Node id.
        node: String,
        /// Parameter name.
        param: String,
        /// The new value.
        value: f64,
    },
    /// Nodes or edges changed: the graph must be rebuilt.
    Graph,
    /// Only where nodes are drawn, or the notes beside them, changed:
    /// nothing to hear.
    Layout,
}

/// What is selected on the canvas: nodes by id, notes by index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    /// Node ids.
    pub nodes: Vec<String>,
    /// Indices into the patch's comments.
    pub comments: Vec<usize>,
}

impl Selection {
    /// True when nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.comments.is_empty()
    }
}

/// Something placed on the canvas.
#[derive(Clone, Debug, PartialEq)]
pub enum Placed {
    /// A node, by id.
    Node(String),
    /// A note, by index in the patch's comments.
    Comment(usize),
}

impl Op {
    /// Apply to `patch`; returns the inverse and what changed. Operations
    /// are built by [`Document`] against the current patch, so their indices
    /// and ids are valid.
    fn apply(self, patch: &mut Patch) -> (Op, Change) {
        match self {
            Op::InsertNode { index, node } => {
                patch.nodes.insert(index, node);
                (Op::RemoveNode { index }, Change::Graph)
            }
            Op::RemoveNode { index } => {
                let node = patch.nodes.remove(index);
                (Op::InsertNode { index, node }, Change::Graph)
            }
            Op::InsertEdge { index, edge } => {
                patch.edges.insert(index, edge);
                (Op::RemoveEdge { index }, Change::Graph)
            }
            Op::RemoveEdge { index } => {
                let edge = patch.edges.remove(index);
                (Op::InsertEdge { index, edge }, Change::Graph)
            }
            Op::SetParam { node, param, value } => {
                let target = patch.node_mut(&node).expect("operation on a missing node");
                let before = match value {
                    Some(v) => target.params.insert(param.clone(), v),
                    None => target.params.remove(&param),
                };
                // A removed value means "back to the default": the engine's
                // own diff finds it.
                let change = match value {
                    Some(v) => Change::Param {
                        node: node.clone(),
                        param: param.clone(),
                        value: v,
                    },
                    None => Change::Graph,
                };
                (
                    Op::SetParam {
                        node,
                        param,
                        value: before,
                    },
                    change,
                )
            }
            Op::SetPos { node, pos } => {
                let target = patch.node_mut(&node).expect("operation on a missing node");
                let before = std::mem::replace(&mut target.pos, pos);
                (Op::SetPos { node, pos: before }, Change::Layout)
            }
            Op::InsertComment { index, comment } => {
                patch.comments.insert(index, comment);
                (Op::RemoveComment { index }, Change::Layout)
            }
            Op::RemoveComment { index } => {
                let comment = patch.comments.remove(index);
                (Op::InsertComment { index, comment }, Change::Layout)
            }
            Op::SetComment { index, comment } => {
                let before = std::mem::replace(&mut patch.comments[index], comment);
                (
                    Op::SetComment {
                        index,
                        comment: before,
                    },
                    Change::Layout,
                )
            }
        }
    }
}

/// One undoable edit: operations applied in order.
#[derive(Clone, Debug)]
struct Step {
    label: String,
    ops: Vec<Op>,
    serial: u64,
}

/// Why an edit was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The connection exists already.
    #[error("{from} is already connected to {to}")]
    AlreadyConnected {
        /// Source port.
        from: PortRef,
        /// Destination port.
        to: PortRef,
    },
    /// The compiler refuses the edited patch (a cycle without a delay, a
    /// channel mismatch, an unknown port): its own message.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No node with this id.
    #[error("there is no node `{0}`")]
    UnknownNode(String),
    /// No such kind in the registry.
    #[error("there is no node kind `{0}`")]
    UnknownKind(String),
    /// The node's kind has no such parameter.
    #[error("node `{node}` has no parameter `{param}`")]
    UnknownParam {
        /// Node id.
        node: String,
        /// The parameter asked for.
        param: String,
    },
    /// A typed value that is not a number.
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// Pasted text that is not patch JSON.
    #[error("the clipboard holds no patch: {0}")]
    NotAPatch(String),
}

/// A parameter being dragged: its value before the drag began.
#[derive(Clone, Debug)]
struct ParamDrag {
    node: String,
    param: String,
    before: Option<f64>,
}

/// Saving or opening failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Opening: the file is unreadable or not a valid patch (file:line: why).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Saving: the file could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// What the system said.
        message: String,
    },
    /// Saving a document that has no file yet.
    #[error("the patch has no file yet; use Save As")]
    NoPath,
    /// Opening a script that fails (file:line:column: why).
    #[error("{0}")]
    Script(String),
}

/// The patch being edited, with its file, history and selection.
pub struct Document {
    registry: &'static Registry,
    patch: Patch,
    path: Option<PathBuf>,
    undo: Vec<Step>,
    redo: Vec<Step>,
    next_serial: u64,
    /// Serial of the newest applied step when last saved or opened.
    saved_serial: u64,
    drag: Option<ParamDrag>,
    changes: Vec<Change>,
    /// What the user has selected.
    pub selection: Selection,
}

impl Document {
    /// An empty, unsaved patch.
    pub fn new(registry: &'static Registry) -> Document {
        Document::with_patch(registry, Patch::default(), None)
    }

    /// Edit `patch` (which must be valid), saved at `path` if given.
    pub fn with_patch(registry: &'static Registry, patch: Patch, path: Option<PathBuf>) -> Document {
        Document {
            registry,
            patch,
            path,
            undo: Vec::new(),
            redo: Vec::new(),
            next_serial: 1,
            saved_serial: 0,
            drag: None,
            changes: Vec::new(),
            selection: Selection::default(),
        }
    }

    /// Open and validate a patch file.
    pub fn open(registry: &'static Registry, path: &Path) -> Result<Document, FileError> {
        let patch = load_patch(path, registry)?;
        Ok(Document::with_patch(registry, patch, Some(path.to_path_buf())))
    }

    /// Write the patch to its file.
    pub fn save(&mut self) -> Result<(), FileError> {
        let path = self.path.clone().ok_or(FileError::NoPath)?;
        self.save_as(&path)
    }

    /// Write the patch to `path`, which becomes its file.
    pub fn save_as(&mut self, path: &Path) -> Result<(), FileError> {
        self.end_drag();
        std::fs::write(path, self.patch.to_json()).map_err(|e| FileError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.path = Some(path.to_path_buf());
        self.saved_serial = self.current_serial();
        Ok(())
    }

    /// Make `path` the patch's file (for a new file not yet written).
    pub fn set_path(&mut self, path: &Path) {
        self.path = Some(path.to_path_buf());
    }

    /// The patch as edited so far.
    pub fn patch(&self) -> &Patch {
        &self.patch
    }

    /// The registry nodes come from.
    pub fn registry(&self) -> &'static Registry {
        self.registry
    }

    /// The file, if the patch has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// True when the patch differs from its file (or has never been saved
    /// and is not empty).
    pub fn is_dirty(&self) -> bool {
        self.drag.is_some() || self.current_serial() != self.saved_serial
    }

    /// What changed since the last call, in order, for the engine.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// The label of the edit undo would revert.
    pub fn undo_label(&self) -> Option<&str> {
        self.undo.last().map(|s| s.label.as_str())
    }

    /// The label of the edit redo would reapply.
    pub fn redo_label(&self) -> Option<&str> {
        self.redo.last().map(|s| s.label.as_str())
    }

    fn current_serial(&self) -> u64 {
        self.undo.last().map_or(0, |s| s.serial)
    }

    /// The descriptor of node `id`.
    pub fn descriptor(&self, id: &str) -> Option<&'static NodeDescriptor> {
        self.registry.get(&self.patch.node(id)?.kind)
    }

    /// Apply `ops` as one undoable step labelled `label`.
    fn commit(&mut self, label: impl Into<String>, ops: Vec<Op>) {
        self.end_drag();
        if ops.is_empty() {
            return;
        }
        let inverse = self.run(ops);
        let serial = self.next_serial;
        self.next_serial += 1;
        self.undo.push(Step {
            label: label.into(),
            ops: inverse,
            serial,
        });
        self.redo.clear();
    }

    /// Apply `ops`; returns the operations that undo them, in order.
    fn run(&mut self, ops: Vec<Op>) -> Vec<Op> {
        let mut inverse = Vec::with_capacity(ops.len());
        for op in ops {
            let (undo, change) = op.apply(&mut self.patch);
            self.note(change);
            inverse.push(undo);
        }
        inverse.reverse();
        inverse
    }

    fn note(&mut self, change: Change) {
        // Consecutive glides of one parameter: only the last matters.
        if let (
            Some(Change::Param { node, param, .. }),
            Change::Param {
                node: n2, param: p2, ..
            },
        ) = (self.changes.last(), &change)
            && node == n2
            && param == p2
        {
            self.changes.pop();
        }
        self.changes.push(change);
    }

    /// Revert the newest edit. Returns false when there is none.
    pub fn undo(&mut self) -> bool {
        self.end_drag();
        let Some(step) = self.undo.pop() else {
            return false;
        };
        let redo = self.run(step.ops);
        self.redo.push(Step {
            label: step.label,
            ops: redo,
            serial: step.serial,
        });
        self.forget_missing_selection();
        true
    }

    /// Reapply the newest undone edit. Returns false when there is none.
    pub fn redo(&mut self) -> bool {
        self.end_drag();
        let Some(step) = self.redo.pop() else {
            return false;
        };
        let undo = self.run(step.ops);
        self.undo.push(Step {
            label: step.label,
            ops: undo,
            serial: step.serial,
        });
        self.forget_missing_selection();
        true
    }

    fn forget_missing_selection(&mut self) {
        let patch = &self.patch;
        self.selection.nodes.retain(|id| patch.node(id).is_some());
        self.selection.comments.retain(|&i| i < patch.comments.len());
    }

    /// A fresh id for a node of `kind`: the kind and the smallest number
    /// not yet used (`sine1`, `sine2`, ...).
    pub fn fresh_id(&self, kind: &str) -> String {
        fresh_id(&self.patch, kind)
    }

    /// Add a node of `kind` with default parameters at `pos`; returns its id.
    pub fn add_node(&mut self, kind: &str, pos: [f32; 2]) -> Result<String, EditError> {
        if self.registry.get(kind).is_none() {
            return Err(EditError::UnknownKind(kind.to_string()));
        }
        let id = self.fresh_id(kind);
        let mut node = Node::new(id.clone(), kind);
        node.pos = Some(pos);
        self.commit(
            format!("add {id}"),
            vec![Op::InsertNode {
                index: self.patch.nodes.len(),
                node,
            }],
        );
        Ok(id)
    }

    /// Add a node of `kind` at `pos` and connect `wire` to it in one step:
    /// `wire` is an existing port and the name of the new node's port.
    pub fn add_node_connected(
        &mut self,
        kind: &str,
        pos: [f32; 2],
        wire: &WireEnd,
    ) -> Result<String, EditError> {
        let desc = self
            .registry
            .get(kind)
            .ok_or_else(|| EditError::UnknownKind(kind.to_string()))?;
        let id = self.fresh_id(kind);
        let mut node = Node::new(id.clone(), kind);
        node.pos = Some(pos);
        let edge = wire.edge_to(&id, desc).ok_or_else(|| EditError::UnknownParam {
            node: id.clone(),
            param: "(a port that takes the wire)".into(),
        })?;
        let mut trial = self.patch.clone();
        trial.nodes.push(node.clone());
        trial.edges.push(edge.clone());
        validate(&trial, self.registry)?;
        self.commit(
            format!("add {id}"),
            vec![
                Op::InsertNode {
                    index: self.patch.nodes.len(),
                    node,
                },
                Op::InsertEdge {
                    index: self.patch.edges.len(),
                    edge,
                },
            ],
        );
        Ok(id)
    }

    /// The node kinds that could take `wire` on a fresh node, in registry
    /// order: each is tried against the compiler.
    pub fn kinds_taking(&self, wire: &WireEnd) -> Vec<&'static NodeDescriptor> {
        let id = self.fresh_id("candidate");
        let mut trial = self.patch.clone();
        trial.nodes.push(Node::new(id.clone(), ""));
        trial.edges.push(Edge {
            from: PortRef {
                node: String::new(),
                port: String::new(),
            },
            to: PortRef {
                node: String::new(),
                port: String::new(),
            },
        });
        self.registry
            .kinds()
            .into_iter()
            .filter(|desc| {
                let Some(edge) = wire.edge_to(&id, desc) else {
                    return false;
                };
                trial.nodes.last_mut().expect("pushed").kind = desc.kind.to_string();
                *trial.edges.last_mut().expect("pushed") = edge;
                validate(&trial, self.registry).is_ok()
            })
            .collect()
    }

    /// Remove nodes and every edge touching them, as one step.
    pub fn remove_nodes(&mut self, ids: &[String]) {
        self.remove(&Selection {
            nodes: ids.to_vec(),
            comments: Vec::new(),
        });
    }

    /// Remove nodes (with every edge touching them) and notes, as one step.
    pub fn remove(&mut self, what: &Selection) {
        let ids = &what.nodes;
        let mut ops = Vec::new();
        // Edges first, highest index first, so the indices stay valid.
        for (index, edge) in self.patch.edges.iter().enumerate().rev() {
            if ids.contains(&edge.from.node) || ids.contains(&edge.to.node) {
                ops.push(Op::RemoveEdge { index });
            }
        }
        for (index, node) in self.patch.nodes.iter().enumerate().rev() {
            if ids.contains(&node.id) {
                ops.push(Op::RemoveNode { index });
            }
        }
        for index in (0..self.patch.comments.len()).rev() {
            if what.comments.contains(&index) {
                ops.push(Op::RemoveComment { index });
            }
        }
        let label = match (ids.as_slice(), what.comments.len()) {
            ([one], 0) => format!("delete {one}"),
            ([], 1) => "delete note".to_string(),
            (many, 0) => format!("delete {} nodes", many.len()),
            (many, notes) => format!("delete {} nodes and {notes} notes", many.len()),
        };
        self.commit(label, ops);
        self.forget_missing_selection();
    }

    /// The selected nodes with their parameters, settings and the edges
    /// among them, and the selected notes: a patch of their own, for the
    /// clipboard (as its JSON text).
    pub fn copy(&self, what: &Selection) -> Patch {
        let nodes: Vec<Node> = (self.patch.nodes.iter())
            .filter(|n| what.nodes.contains(&n.id))
            .cloned()
            .collect();
        let inside = |id: &str| nodes.iter().any(|n| n.id == id);
        let edges = (self.patch.edges.iter())
            .filter(|e| inside(&e.from.node) && inside(&e.to.node))
            .cloned()
            .collect();
        let comments = (self.patch.comments.iter().enumerate())
            .filter(|(i, _)| what.comments.contains(i))
            .map(|(_, c)| c.clone())
            .collect();
        Patch {
            nodes,
            edges,
            comments,
        }
    }

    /// Add `fragment` (a copied selection, or any patch) to the patch as
    /// one step: every node gets a fresh id (edges follow), and the whole
    /// lands with its top left corner at `at`, or offset a little from
    /// where it was when no place is given. The result must validate.
    /// Returns the new node ids, in the fragment's order; the pasted nodes
    /// and notes become the selection.
    pub fn paste(&mut self, fragment: &Patch, at: Option<[f32; 2]>) -> Result<Vec<String>, EditError> {
        let shift = match at {
            Some([x, y]) => {
                let (left, top) = fragment_corner(fragment);
                [x - left, y - top]
            }
            None => DUPLICATE_OFFSET,
        };
        let moved = |p: [f32; 2]| [p[0] + shift[0], p[1] + shift[1]];
        let mut trial = self.patch.clone();
        let mut renamed: Vec<(&str, String)> = Vec::new();
        let mut ops = Vec::new();
        for original in &fragment.nodes {
            if renamed.iter().any(|(old, _)| *old == original.id) {
                return Err(EditError::NotAPatch(format!(
                    "node id `{}` appears twice",
                    original.id
                )));
            }
            let fresh = fresh_id(&trial, &original.kind);
            let mut node = original.clone();
            node.id = fresh.clone();
            node.pos = Some(moved(original.pos.unwrap_or_default()));
            trial.nodes.push(node.clone());
            ops.push(Op::InsertNode {
                index: trial.nodes.len() - 1,
                node,
            });
            renamed.push((&original.id, fresh));
        }
        let new_id = |old: &str| (renamed.iter().find(|(o, _)| *o == old)).map(|(_, n)| n.clone());
        for edge in &fragment.edges {
            // An edge to a node outside the fragment has nothing to attach to.
            let (Some(from), Some(to)) = (new_id(&edge.from.node), new_id(&edge.to.node)) else {
                continue;
            };
            let edge = Edge {
                from: PortRef {
                    node: from,
                    port: edge.from.port.clone(),
                },
                to: PortRef {
                    node: to,
                    port: edge.to.port.clone(),
                },
            };
            trial.edges.push(edge.clone());
            ops.push(Op::InsertEdge {
                index: trial.edges.len() - 1,
                edge,
            });
        }
        let first_comment = trial.comments.len();
        for comment in &fragment.comments {
            let comment = Comment {
                pos: moved(comment.pos),
                ..comment.clone()
            };
            trial.comments.push(comment.clone());
            ops.push(Op::InsertComment {
                index: trial.comments.len() - 1,
                comment,
            });
        }
        validate(&trial, self.registry)?;
        let fresh: Vec<String> = renamed.into_iter().map(|(_, n)| n).collect();
        let label = match fresh.len() {
            0 => "paste notes".to_string(),
            n => format!("paste {n} node(s)"),
        };
        self.commit(label, ops);
        self.selection = Selection {
            nodes: fresh.clone(),
            comments: (first_comment..self.patch.comments.len()).collect(),
        };
        Ok(fresh)
    }

    /// Paste the text of a copied selection (patch JSON).
    pub fn paste_text(&mut self, text: &str, at: Option<[f32; 2]>) -> Result<Vec<String>, EditError> {
        let fragment =
            Patch::from_json(text, "the clipboard").map_err(|e| EditError::NotAPatch(e.to_string()))?;
        self.paste(&fragment, at)
    }

    /// Copy nodes, their parameters and the edges among them, offset a
    /// little; returns the new ids (in the patch's order).
    pub fn duplicate(&mut self, ids: &[String]) -> Vec<String> {
        let fragment = self.copy(&Selection {
            nodes: ids.to_vec(),
            comments: Vec::new(),
        });
        // A part of a valid patch, renamed, is valid.
        self.paste(&fragment, None).unwrap_or_default()
    }

    /// Move nodes (a finished drag) as one step.
    pub fn move_nodes(&mut self, moves: &[(String, [f32; 2])]) {
        let moves: Vec<(Placed, [f32; 2])> = (moves.iter())
            .map(|(id, pos)| (Placed::Node(id.clone()), *pos))
            .collect();
        self.move_to(&moves);
    }

    /// Move nodes and notes (a finished drag) as one step.
    pub fn move_to(&mut self, moves: &[(Placed, [f32; 2])]) {
        let ops = (moves.iter())
            .filter_map(|(what, pos)| match what {
                Placed::Node(id) => {
                    let node = self.patch.node(id)?;
                    (node.pos != Some(*pos)).then(|| Op::SetPos {
                        node: id.clone(),
                        pos: Some(*pos),
                    })
                }
                Placed::Comment(index) => {
                    let comment = self.patch.comments.get(*index)?;
                    (comment.pos != *pos).then(|| Op::SetComment {
                        index: *index,
                        comment: Comment {
                            pos: *pos,
                            ..comment.clone()
                        },
                    })
                }
            })
            .collect();
        self.commit("move", ops);
    }

    /// Make the whole patch `patch` (a reload from disk), as one step.
    /// Node ids that stay keep their state in the engine, as with any
    /// live edit.
    pub fn replace_patch(&mut self, patch: Patch, label: &str) {
        let mut ops: Vec<Op> = Vec::new();
        ops.extend(
            (0..self.patch.edges.len())
                .rev()
                .map(|index| Op::RemoveEdge { index }),
        );
        ops.extend(
            (0..self.patch.nodes.len())
                .rev()
                .map(|index| Op::RemoveNode { index }),
        );
        ops.extend(
            (0..self.patch.comments.len())
                .rev()
                .map(|index| Op::RemoveComment { index }),
        );
        let Patch {
            nodes,
            edges,
            comments,
        } = patch;
        ops.extend(
            nodes
                .into_iter()
                .enumerate()
                .map(|(index, node)| Op::InsertNode { index, node }),
        );
        ops.extend(
            edges
                .into_iter()
                .enumerate()
                .map(|(index, edge)| Op::InsertEdge { index, edge }),
        );
        ops.extend(
            (comments.into_iter().enumerate()).map(|(index, comment)| Op::InsertComment { index, comment }),
        );
        self.commit(label, ops);
        self.forget_missing_selection();
    }

    /// Take the patch as what its file holds (after a reload from it).
    pub fn mark_saved(&mut self) {
        self.saved_serial = self.current_serial();
    }

    /// Take the patch as not yet in any file (it came from elsewhere).
    pub fn mark_unsaved(&mut self) {
        self.saved_serial = u64::MAX;
    }

    /// Put a note on the canvas at `pos`; returns its index.
    pub fn add_comment(&mut self, text: &str, pos: [f32; 2]) -> usize {
        let index = self.patch.comments.len();
        self.commit(
            "add note",
            vec![Op::InsertComment {
                index,
                comment: Comment {
                    text: text.to_string(),
                    pos,
                    width: None,
                },
            }],
        );
        index
    }

    /// Change a note's text as one step; false if there is no such note.
    pub fn set_comment_text(&mut self, index: usize, text: &str) -> bool {
        let Some(comment) = self.patch.comments.get(index) else {
            return false;
        };
        if comment.text != text {
            let comment = Comment {
                text: text.to_string(),
                ..comment.clone()
            };
            self.commit("edit note", vec![Op::SetComment { index, comment }]);
        }
        true
    }

    /// Change how wide a note's text runs (`None`: the editor's default) as
    /// one step; false if there is no such note.
    pub fn set_comment_width(&mut self, index: usize, width: Option<f32>) -> bool {
        let Some(comment) = self.patch.comments.get(index) else {
            return false;
        };
        if comment.width != width {
            let comment = Comment {
                width,
                ..comment.clone()
            };
            self.commit("resize note", vec![Op::SetComment { index, comment }]);
        }
        true
    }

    /// Why `from -> to` cannot be connected, if it cannot: the compiler
    /// decides (cycles without a delay, channel mismatches, unknown ports).
    pub fn check_connection(&self, from: &PortRef, to: &PortRef) -> Result<(), EditError> {
        if self.patch.edges.iter().any(|e| &e.from == from && &e.to == to) {
            return Err(EditError::AlreadyConnected {
                from: from.clone(),
                to: to.clone(),
            });
        }
        let mut trial = self.patch.clone();
        trial.edges.push(Edge {
            from: from.clone(),
            to: to.clone(),
        });
        validate(&trial, self.registry)?;
        Ok(())
    }

    /// Connect `from` (an output) to `to` (an input or parameter), or say
    /// why not.
    pub fn connect(&mut self, from: &PortRef, to: &PortRef) -> Result<(), EditError> {
        self.check_connection(from, to)?;
        self.commit(
            format!("connect {from} -> {to}"),
            vec![Op::InsertEdge {
                index: self.patch.edges.len(),
                edge: Edge {
                    from: from.clone(),
                    to: to.clone(),
                },
            }],
        );
        Ok(())
    }

    /// Remove the edge `from -> to`; false if there is none.
    pub fn disconnect(&mut self, from: &PortRef, to: &PortRef) -> bool {
        let Some(index) = self
            .patch
            .edges
            .iter()
            .position(|e| &e.from == from && &e.to == to)
        else {
            return false;
        };
        self.commit(
            format!("disconnect {from} -> {to}"),
            vec![Op::RemoveEdge { index }],
        );
        true
    }

    /// Remove every edge into (`input`) or out of (`!input`) a port.
    pub fn disconnect_port(&mut self, port: &PortRef, input: bool) {
        let ops = (self.patch.edges.iter().enumerate().rev())
            .filter(|(_, e)| if input { &e.to == port } else { &e.from == port })
            .map(|(index, _)| Op::RemoveEdge { index })
            .collect();
        self.commit(format!("disconnect {port}"), ops);
    }

    /// The spec of a node's parameter.
    pub fn param_spec(&self, node: &str, param: &str) -> Result<&'static ParamSpec, EditError> {
        let desc = self
            .descriptor(node)
            .ok_or_else(|| EditError::UnknownNode(node.to_string()))?;
        desc.param(param)
            .map(|(_, spec)| spec)
            .ok_or_else(|| EditError::UnknownParam {
                node: node.to_string(),
                param: param.to_string(),
            })
    }

    /// The value a parameter has now (its default when not set).
    pub fn param_value(&self, node: &str, param: &str) -> Result<f64, EditError> {
        let spec = self.param_spec(node, param)?;
        let set = self.patch.node(node).and_then(|n| n.params.get(param).copied());
        Ok(set.unwrap_or(spec.default))
    }

    /// Set a parameter as one step (a typed value, a reset). The value is
    /// brought into the parameter's range (and to a whole choice).
    pub fn set_param(&mut self, node: &str, param: &str, value: f64) -> Result<(), EditError> {
        let spec = self.param_spec(node, param)?;
        let value = conform(spec, value);
        if self.param_value(node, param)? == value {
            return Ok(());
        }
        self.commit(
            format!("set {node}.{param}"),
            vec![Op::SetParam {
                node: node.to_string(),
                param: param.to_string(),
                value: Some(value),
            }],
        );
        Ok(())
    }

    /// Parse typed text (a number, optionally with the unit, or a choice
    /// name) and set the parameter to it.
    pub fn set_param_text(&mut self, node: &str, param: &str, text: &str) -> Result<(), EditError> {
        let spec = self.param_spec(node, param)?;
        let value = parse_value(spec, text).ok_or_else(|| EditError::NotANumber(text.trim().to_string()))?;
        self.set_param(node, param, value)
    }

    /// Put a parameter back to its default, as one step.
    pub fn reset_param(&mut self, node: &str, param: &str) -> Result<(), EditError> {
        let spec = self.param_spec(node, param)?;
        self.set_param(node, param, spec.default)
    }

    /// Move a parameter during a drag: the patch (and the engine) follow at
    /// once; the whole drag becomes one step at [`Document::end_drag`].
    pub fn drag_param(&mut self, node: &str, param: &str, value: f64) -> Result<(), EditError> {
        let spec = self.param_spec(node, param)?;
        let value = conform(spec, value);
        let same_drag = self
            .drag
            .as_ref()
            .is_some_and(|d| d.node == node && d.param == param);
        if !same_drag {
            self.end_drag();
            self.drag = Some(ParamDrag {
                node: node.to_string(),
                param: param.to_string(),
                before: self.patch.node(node).and_then(|n| n.params.get(param).copied()),
            });
        }
        let (_, change) = Op::SetParam {
            node: node.to_string(),
            param: param.to_string(),
            value: Some(value),
        }
        .apply(&mut self.patch);
        self.note(change);
        Ok(())
    }

    /// Turn the running parameter drag, if any, into one undoable step.
    pub fn end_drag(&mut self) {
        let Some(drag) = self.drag.take() else {
            return;
        };
        let now = self
            .patch
            .node(&drag.node)
            .and_then(|n| n.params.get(&drag.param).copied());
        if now == drag.before {
            return;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        self.undo.push(Step {
            label: format!("set {}.{}", drag.node, drag.param),
            ops: vec![Op::SetParam {
                node: drag.node,
                param: drag.param,
                value: drag.before,
            }],
            serial,
        });
        self.redo.clear();
    }
}

/// One end of a wire dropped on empty canvas: the port it came from.
#[derive(Clone, Debug, PartialEq)]
pub enum WireEnd {
    /// Dragged out of this output: a new node takes it on an input.
    FromOutput(PortRef),
    /// Dragged out of this input: a new node feeds it from an output.
    IntoInput(PortRef),
}

impl WireEnd {
    /// The edge between this end and a fresh node `id` of kind `desc`, on
    /// its first input (or parameter) or first output.
    fn edge_to(&self, id: &str, desc: &NodeDescriptor) -> Option<Edge> {
        let port = |name: &str| PortRef {
            node: id.to_string(),
            port: name.to_string(),
        };
        match self {
            WireEnd::FromOutput(from) => {
                let input = (desc.inputs.first().map(|p| p.name)).or(desc.params.first().map(|p| p.name))?;
                Some(Edge {
                    from: from.clone(),
                    to: port(input),
                })
            }
            WireEnd::IntoInput(to) => Some(Edge {
                from: port(desc.outputs.first()?.name),
                to: to.clone(),
            }),
        }
    }
}

/// The top left corner of what a fragment places (nodes without a
/// position count as at the origin).
fn fragment_corner(fragment: &Patch) -> (f32, f32) {
    let node_places = fragment.nodes.iter().map(|n| n.pos.unwrap_or_default());
    let places = node_places.chain(fragment.comments.iter().map(|c| c.pos));
    places.fold((f32::INFINITY, f32::INFINITY), |(x, y), p| {
        (x.min(p[0]), y.min(p[1]))
    })
}

/// A fresh id in `patch` for a node of `kind`.
fn fresh_id(patch: &Patch, kind: &str) -> String {
    let stem: String = kind
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(56)
        .collect();
    (1..)
        .map(|n| format!("{stem}{n}"))
        .find(|id| patch.node(id).is_none())
        .expect("some number is free")
}

/// `value` inside the parameter's range; choices rounded to a whole index.
pub fn conform(spec: &ParamSpec, value: f64) -> f64 {
    let value = if value.is_finite() { value } else { spec.default };
    let value = value.clamp(spec.min, spec.max);
    if spec.unit == Unit::Choice {
        value.round()
    } else {
        value
    }
}

/// A typed value: a number (a trailing unit such as `Hz`, `dB`, `s` or
/// `%` is allowed; `k` multiplies by 1000), or the name of a choice.
pub fn parse_value(spec: &ParamSpec, text: &str) -> Option<f64> {
    let text = text.trim();
    if spec.unit == Unit::Choice
        && let Some(i) = spec.choices.iter().position(|c| c.eq_ignore_ascii_case(text))
    {
        return Some(i as f64);
    }
    let lower = text.to_ascii_lowercase();
    let suffix = spec.unit.suffix().to_ascii_lowercase();
    let mut number = lower.as_str();
    if !suffix.is_empty() {
        number = number.strip_suffix(suffix.as_str()).unwrap_or(number).trim_end();
    }
    let (number, scale) = match number.strip_suffix('k') {
        Some(n) => (n.trim_end(), 1000.0),
        None => (number, 1.0),
    };
    let value: f64 = number.parse().ok()?;
    let value = value * scale;
    // Percent parameters are stored as 0..1 and typed as percent.
    Some(if spec.unit == Unit::Percent {
        value / 100.0
    } else {
        value
    })
}

impl fmt::Display for WireEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireEnd::FromOutput(p) | WireEnd::IntoInput(p) => write!(f, "{p}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(text: &str) -> PortRef {
        text.parse().unwrap()
    }

    /// sine1 -> out1, the smallest patch that plays.
    fn doc() -> Document {
        let mut d = Document::new(patchbay_nodes::registry());
        d.add_node("sine", [0.0, 0.0]).unwrap();
        d.add_node("output", [200.0, 0.0]).unwrap();
        d.connect(&port("sine1.out"), &port("output1.in")).unwrap();
        d
    }

    #[test]
    fn every_edit_undoes_and_redoes_to_the_same_patch() {
        let mut d = doc();
        let mut states = vec![d.patch().clone()];
        d.add_node("lowpass", [100.0, 50.0]).unwrap();
        states.push(d.patch().clone());
        d.connect(&port("sine1.out"), &port("lowpass1.in")).unwrap();
        states.push(d.patch().clone());
        d.set_param("lowpass1", "cutoff", 500.0).unwrap();
        states.push(d.patch().clone());
        d.move_nodes(&[("lowpass1".into(), [120.0, 80.0]), ("sine1".into(), [5.0, 5.0])]);
        states.push(d.patch().clone());
        d.disconnect(&port("sine1.out"), &port("output1.in"));
        states.push(d.patch().clone());
        d.remove_nodes(&["sine1".into()]);
        states.push(d.patch().clone());
        assert!(d.patch().node("sine1").is_none());
        assert!(d.patch().edges.is_empty(), "removing a node removes its edges");

        for expected in states.iter().rev().skip(1) {
            assert!(d.undo());
            assert_eq!(d.patch(), expected);
        }
        for expected in states.iter().skip(1) {
            assert!(d.redo());
            assert_eq!(d.patch(), expected);
        }
        assert!(!d.redo());
    }

    #[test]
    fn undo_restores_a_removed_node_with_its_edges_in_their_order() {
        let mut d = doc();
        d.add_node("saw", [0.0, 100.0]).unwrap();
        d.connect(&port("saw1.out"), &port("output1.in")).unwrap();
        d.connect(&port("saw1.out"), &port("sine1.fm")).unwrap();
        let before = d.patch().clone();
        d.remove_nodes(&["saw1".into()]);
        assert_eq!(d.patch().edges.len(), 1);
        d.undo();
        assert_eq!(d.patch(), &before);
    }

    #[test]
    fn a_parameter_drag_is_one_undo_step() {
        let mut d = doc();
        let before = d.patch().clone();
        d.take_changes();
        for f in [300.0, 350.0, 420.0, 880.0] {
            d.drag_param("sine1", "freq", f).unwrap();
        }
        assert_eq!(d.param_value("sine1", "freq").unwrap(), 880.0);
        d.end_drag();
        // The engine hears the drag's newest value only.
        assert_eq!(
            d.take_changes(),
            [Change::Param {
                node: "sine1".into(),
                param: "freq".into(),
                value: 880.0
            }]
        );
        assert_eq!(d.undo_label(), Some("set sine1.freq"));
        d.undo();
        assert_eq!(d.patch(), &before);
        d.redo();
        assert_eq!(d.param_value("sine1", "freq").unwrap(), 880.0);
    }

    #[test]
    fn another_edit_ends_a_drag_first() {
        let mut d = doc();
        d.drag_param("sine1", "freq", 500.0).unwrap();
        d.add_node("noise", [0.0, 0.0]).unwrap();
        d.undo();
        assert_eq!(d.param_value("sine1", "freq").unwrap(), 500.0);
        d.undo();
        assert_eq!(d.param_value("sine1", "freq").unwrap(), 440.0);
    }

    #[test]
    fn a_cycle_without_a_delay_is_refused_with_the_compilers_reason() {
        let mut d = doc();
        d.add_node("lowpass", [0.0, 0.0]).unwrap();
        d.connect(&port("sine1.out"), &port("lowpass1.in")).unwrap();
        let before = d.patch().clone();
        let err = d.connect(&port("lowpass1.out"), &port("sine1.fm")).unwrap_err();
        assert!(err.to_string().contains("cycle without a delay"), "{err}");
        assert_eq!(d.patch(), &before, "a refused edit changes nothing");
        assert_eq!(d.undo_label(), Some("connect sine1.out -> lowpass1.in"));

        // Through a delay the same loop is legal.
        d.add_node("delay", [0.0, 0.0]).unwrap();
        d.connect(&port("lowpass1.out"), &port("delay1.in")).unwrap();
        d.connect(&port("delay1.out"), &port("sine1.fm")).unwrap();
    }

    #[test]
    fn a_channel_mismatch_and_a_duplicate_are_refused() {
        let mut d = doc();
        d.add_node("pan", [0.0, 0.0]).unwrap();
        d.add_node("sine", [0.0, 0.0]).unwrap();
        d.connect(&port("sine1.out"), &port("pan1.in")).unwrap();
        let refused = d
            .check_connection(&port("pan1.out"), &port("sine2.fm"))
            .unwrap_err();
        assert!(
            matches!(
                refused,
                EditError::Invalid(ValidationError::ChannelMismatch { .. })
            ),
            "{refused}"
        );
        let twice = d.connect(&port("sine1.out"), &port("output1.in")).unwrap_err();
        assert!(twice.to_string().contains("already connected"), "{twice}");
    }

    #[test]
    fn fresh_ids_count_up_per_kind() {
        let mut d = doc();
        assert_eq!(d.add_node("sine", [0.0, 0.0]).unwrap(), "sine2");
        d.remove_nodes(&["sine1".into()]);
        assert_eq!(d.add_node("sine", [0.0, 0.0]).unwrap(), "sine1");
        assert!(matches!(
            d.add_node("nope", [0.0, 0.0]),
            Err(EditError::UnknownKind(_))
        ));
    }

    #[test]
    fn duplicate_copies_parameters_and_inner_edges() {
        let mut d = doc();
        d.add_node("lowpass", [10.0, 10.0]).unwrap();
        d.set_param("lowpass1", "cutoff", 700.0).unwrap();
        d.connect(&port("sine1.out"), &port("lowpass1.in")).unwrap();
        let copies = d.duplicate(&["sine1".into(), "lowpass1".into()]);
        assert_eq!(copies, ["sine2", "lowpass2"]);
        let p = d.patch();
        assert_eq!(p.node("lowpass2").unwrap().params["cutoff"], 700.0);
        assert_eq!(p.node("lowpass2").unwrap().pos, Some([50.0, 50.0]));
        assert!(
            p.edges
                .iter()
                .any(|e| e.from == port("sine2.out") && e.to == port("lowpass2.in"))
        );
        // Only edges inside the copied set are copied.
        assert!(
            !p.edges
                .iter()
                .any(|e| e.from.node == "sine2" && e.to.node == "output1")
        );
        validate(p, d.registry()).unwrap();
        d.undo();
        assert!(d.patch().node("sine2").is_none());
    }

    #[test]
    fn parameters_are_kept_in_range_and_typed_with_units() {
        let mut d = doc();
        d.set_param("sine1", "freq", 1e9).unwrap();
        let spec = d.param_spec("sine1", "freq").unwrap();
        assert_eq!(d.param_value("sine1", "freq").unwrap(), spec.max);
        d.set_param_text("sine1", "freq", "1.5 kHz").unwrap();
        assert_eq!(d.param_value("sine1", "freq").unwrap(), 1500.0);
        d.set_param_text("sine1", "freq", "220").unwrap();
        assert_eq!(d.param_value("sine1", "freq").unwrap(), 220.0);
        assert!(matches!(
            d.set_param_text("sine1", "freq", "loud"),
            Err(EditError::NotANumber(_))
        ));
        d.reset_param("sine1", "freq").unwrap();
        assert_eq!(d.param_value("sine1", "freq").unwrap(), spec.default);
    }

    #[test]
    fn saving_clears_dirty_and_writes_the_patch() {
        let dir = std::env::temp_dir().join(format!("patchbay-editor-doc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("saved.json");
        let mut d = doc();
        assert!(d.is_dirty());
        assert!(matches!(d.save(), Err(FileError::NoPath)));
        d.save_as(&file).unwrap();
        assert!(!d.is_dirty());
        let reopened = Document::open(d.registry(), &file).unwrap();
        assert_eq!(reopened.patch(), d.patch());
        d.set_param("sine1", "freq", 330.0).unwrap();
        assert!(d.is_dirty());
        d.undo();
        assert!(!d.is_dirty(), "undoing back to the saved state is clean");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropped_wire_offers_only_kinds_that_take_it() {
        let mut d = doc();
        d.add_node("pan", [0.0, 0.0]).unwrap();
        let stereo = WireEnd::FromOutput(port("pan1.out"));
        let kinds: Vec<&str> = d.kinds_taking(&stereo).iter().map(|k| k.kind).collect();
        assert!(kinds.contains(&"lowpass"), "{kinds:?}");
        assert!(
            !kinds.contains(&"sine"),
            "a stereo signal cannot drive a mono fm input: {kinds:?}"
        );
        let id = d.add_node_connected("lowpass", [0.0, 0.0], &stereo).unwrap();
        assert!(d.patch().edges.iter().any(|e| e.to == port(&format!("{id}.in"))));
        let into = WireEnd::IntoInput(port("output1.in"));
        let sources: Vec<&str> = d.kinds_taking(&into).iter().map(|k| k.kind).collect();
        assert!(
            sources.contains(&"saw") && !sources.contains(&"output"),
            "{sources:?}"
        );
    }
}
