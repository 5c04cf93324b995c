//! The only doors from a script to the file system: `import` of Rhai
//! modules and `patch_file` of patch files, both by a relative path that
//! must stay inside the script's folder. Absolute paths, `..` that climbs
//! out, and symbolic links that lead out are refused.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use patchbay_core::registry::OUTPUT_KIND;
use rhai::module_resolvers::ModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext, Position, Scope};

type SharedModule = std::sync::Arc<Module>;

use crate::api::{ApiErrorKind, api_error};
use crate::graph::{NodeRef, Origin};
use crate::state::{Shared, Sources};

/// A file a script asked for, once checked.
struct Found {
    canonical: PathBuf,
    /// How errors name it: the script folder as the user wrote it, joined
    /// with the relative path.
    name: String,
}

/// Resolve `path` (relative, as written in the script) against the folder
/// of the file asking (`from`, a source name), refusing anything outside
/// the script's folder.
fn resolve(
    sources: &Sources,
    from: Option<&str>,
    path: &str,
    extension: Option<&str>,
) -> Result<Found, (ApiErrorKind, String)> {
    let refuse = |why: String| (ApiErrorKind::Sandbox, why);
    let rel = Path::new(path);
    if path.is_empty() {
        return Err((ApiErrorKind::Runtime, "empty path".into()));
    }
    if rel.is_absolute() || rel.has_root() || path.starts_with('~') {
        return Err(refuse(format!(
            "refused to open \"{path}\": scripts may only open files inside their own folder, by a relative path"
        )));
    }
    let mut rel = rel.to_path_buf();
    if let Some(ext) = extension
        && rel.extension().is_none()
    {
        rel.set_extension(ext);
    }
    // The asking file's folder, relative to the root (modules may import
    // their neighbours).
    let from_dir: PathBuf = from
        .and_then(|name| sources.paths.get(name))
        .and_then(|p| p.parent())
        .and_then(|p| p.strip_prefix(&sources.root).ok())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut inside = PathBuf::new();
    for c in from_dir.components().chain(rel.components()) {
        match c {
            Component::Normal(part) => inside.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !inside.pop() {
                    return Err(refuse(format!(
                        "refused to open \"{path}\": it is outside the script's folder"
                    )));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(format!(
                    "refused to open \"{path}\": scripts may only open files inside their own folder"
                )));
            }
        }
    }
    let candidate = sources.root.join(&inside);
    let canonical = candidate.canonicalize().map_err(|_| {
        (
            ApiErrorKind::Runtime,
            format!(
                "no file \"{}\" in the script's folder",
                sources.root_display.join(&inside).display()
            ),
        )
    })?;
    if !canonical.starts_with(&sources.root) {
        return Err(refuse(format!(
            "refused to open \"{path}\": it links to a file outside the script's folder"
        )));
    }
    if !canonical.is_file() {
        return Err((ApiErrorKind::Runtime, format!("\"{path}\" is not a file")));
    }
    Ok(Found {
        canonical,
        name: sources.root_display.join(&inside).display().to_string(),
    })
}

fn read(found: &Found) -> Result<String, String> {
    std::fs::read_to_string(&found.canonical).map_err(|e| format!("cannot read \"{}\": {e}", found.name))
}

fn at(mut e: Box<EvalAltResult>, pos: Position) -> Box<EvalAltResult> {
    e.set_position(pos);
    e
}

/// Resolves `import "path"` inside the script's folder, compiling and
/// evaluating each module once per run, and remembers the files for the
/// hot-reload watcher and for error carets.
pub struct Resolver {
    shared: Arc<Shared>,
}

impl Resolver {
    /// A resolver over the sandbox in `shared`.
    pub fn new(shared: Arc<Shared>) -> Resolver {
        Resolver { shared }
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let found = {
            let st = self.shared.lock();
            resolve(&st.sources, source, path, Some("rhai"))
                .map_err(|(kind, m)| at(api_error(kind, m), pos))?
        };
        {
            let mut st = self.shared.lock();
            st.sources.modules.insert(path.to_string(), found.name.clone());
            if let Some(module) = st.sources.cache.get(&found.canonical) {
                return Ok(module.clone());
            }
            if st.sources.loading.contains(&found.canonical) {
                return Err(at(
                    api_error(
                        ApiErrorKind::Runtime,
                        format!(
                            "import cycle: \"{}\" imports itself through its imports",
                            found.name
                        ),
                    ),
                    pos,
                ));
            }
        }
        let text = read(&found).map_err(|m| at(api_error(ApiErrorKind::Runtime, m), pos))?;
        {
            let mut st = self.shared.lock();
            st.sources.files.push(found.canonical.clone());
            st.sources
                .texts
                .insert(found.name.clone(), Arc::from(text.as_str()));
            st.sources
                .paths
                .insert(found.name.clone(), found.canonical.clone());
            st.sources.loading.insert(found.canonical.clone());
        }
        let in_module = |e: Box<EvalAltResult>| -> Box<EvalAltResult> {
            EvalAltResult::ErrorInModule(path.to_string(), e, pos).into()
        };
        let result = engine
            .compile(&text)
            .map_err(|e| in_module(EvalAltResult::ErrorParsing(*e.0, e.1).into()))
            .and_then(|mut ast| {
                ast.set_source(found.name.as_str());
                Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(in_module)
            });
        let mut st = self.shared.lock();
        st.sources.loading.remove(&found.canonical);
        let module: SharedModule = result?.into();
        st.sources.cache.insert(found.canonical, module.clone());
        Ok(module)
    }
}

/// `patch_file("drums.json", "drums-")`: add a patch file's nodes (ids
/// prefixed, outputs joined to the script's `out()`) and edges; returns a
/// map from the file's ids to node handles.
pub fn load_patch_file(
    shared: &Shared,
    ctx: &NativeCallContext,
    path: &str,
    prefix: &str,
) -> Result<Map, Box<EvalAltResult>> {
    let mut st = shared.lock();
    let found =
        resolve(&st.sources, ctx.call_source(), path, None).map_err(|(kind, m)| api_error(kind, m))?;
    let text = read(&found).map_err(|m| api_error(ApiErrorKind::Runtime, m))?;
    let patch = patchbay_core::load_patch_str(&text, &found.name, &st.registry)
        .map_err(|e| api_error(ApiErrorKind::Runtime, e.to_string()))?;
    st.sources.files.push(found.canonical.clone());
    st.sources
        .texts
        .insert(found.name.clone(), Arc::from(text.as_str()));
    let pos = ctx.call_position();
    let origin = Origin {
        source: st.source_name(ctx.call_source()),
        line: pos.line().unwrap_or(0),
        column: pos.position().unwrap_or(0),
    };
    let fail = |e: crate::graph::GraphError| api_error(ApiErrorKind::Runtime, format!("{}: {e}", found.name));
    let mut handles: Vec<(String, NodeRef)> = Vec::new();
    for node in &patch.nodes {
        let handle = if node.kind == OUTPUT_KIND {
            st.graph.output(origin.clone())
        } else {
            let h = st.graph.add(&node.kind, origin.clone()).map_err(fail)?;
            for (param, value) in &node.params {
                st.graph.set_param(&h, param, *value).map_err(fail)?;
            }
            st.graph.name(&h, &format!("{prefix}{}", node.id)).map_err(|e| {
                api_error(
                    ApiErrorKind::Runtime,
                    format!(
                        "{}: {e} (load the file with a prefix: patch_file(\"{path}\", \"x-\"))",
                        found.name
                    ),
                )
            })?;
            h
        };
        handles.push((node.id.clone(), handle));
    }
    let find = |id: &str| handles.iter().find(|(i, _)| i == id).map(|(_, h)| h.clone());
    for edge in &patch.edges {
        let (Some(from), Some(to)) = (find(&edge.from.node), find(&edge.to.node)) else {
            continue;
        };
        let from = NodeRef {
            port: Some(Arc::from(edge.from.port.as_str())),
            ..from
        };
        let to = NodeRef {
            port: Some(Arc::from(edge.to.port.as_str())),
            ..to
        };
        st.graph
            .connect(&crate::graph::Signal::of(from), &to, &origin)
            .map_err(fail)?;
    }
    Ok(handles
        .into_iter()
        .map(|(id, h)| (id.into(), Dynamic::from(h)))
        .collect())
}

/// The folder a script may read from, and how to name it: `path`'s parent.
pub fn root_of(path: &Path) -> Result<(PathBuf, PathBuf), std::io::Error> {
    let display = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if display.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        display.clone()
    };
    Ok((dir.canonicalize()?, display))
}
