//! The code's layering, checked from the source: the modules' imports form a hierarchy (no
//! circle, however long), and no command imports another command.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module's name from its file: `commands/api.rs` → `commands::api`; a folder module's
/// files (`sandbox/*.rs`) count as the folder.
fn module_of(rel: &str) -> String {
    let rel = rel.trim_end_matches(".rs").trim_end_matches("/mod");
    match rel.split_once('/') {
        Some(("commands", name)) => format!("commands::{name}"),
        Some((folder, _)) => folder.to_string(),
        None => rel.to_string(),
    }
}

/// The modules a file names through `crate::` paths, `use crate::{a, b::c}` lists included.
fn imports(text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut add = |path: &str| {
        let mut parts = path.split("::").map(str::trim).filter(|p| !p.is_empty());
        let Some(first) = parts.next() else { return };
        let name = match (first, parts.next()) {
            ("commands", Some(second)) => format!("commands::{second}"),
            (first, _) => first.to_string(),
        };
        if known.contains(&name) {
            found.insert(name);
        }
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            list.split(',').for_each(&mut add);
        } else {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
            add(&rest[..end]);
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
                files.push((module_of(&rel), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let known: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &files {
        let mut deps = imports(text, &known);
        deps.remove(module);
        graph.entry(module.clone()).or_default().extend(deps);
    }
    graph
}

#[test]
fn the_modules_import_in_one_direction_and_no_command_imports_another() {
    let graph = graph();
    assert!(graph.contains_key("session") && graph.contains_key("commands::api"), "{graph:?}");
    for (module, deps) in &graph {
        if module.starts_with("commands::") {
            let others: Vec<&String> = deps.iter().filter(|d| d.starts_with("commands::")).collect();
            assert!(others.is_empty(), "{module} imports another command: {others:?}");
        }
    }
    // Depth-first search for a circle; the path is printed when one is found.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = stack.iter().position(|s| *s == m) {
            panic!("an import circle: {} -> {m}", stack[at..].join(" -> "));
        }
        stack.push(m);
        for d in graph.get(m).into_iter().flatten() {
            visit(d, graph, stack, done);
        }
        stack.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
    // The layers the README's code map names: the session sits above the wire, which never
    // reaches back up to it or to a command.
    for low in [
        "http",
        "token_api",
        "open_api",
        "store",
        "token_response",
        "config",
        "files",
        "secret",
        "expiry",
        "url",
        "error",
    ] {
        let up: Vec<&String> =
            graph[low].iter().filter(|d| *d == "session" || d.starts_with("commands") || *d == "cli").collect();
        assert!(up.is_empty(), "{low} imports a layer above it: {up:?}");
    }
}
