//! The house's shape (issue 11, point 4): the console's top-level modules depend on
//! each other without cycles, read from the source as the compiler sees its paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a file under `src/` belongs to.
fn module_of(path: &Path, src: &Path) -> Option<String> {
    let relative = path.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// Every top-level module a source text names through `crate::` (also in grouped
/// imports such as `use crate::{auth, store::Store}`).
fn modules_named(text: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 1 && (c == ',' || c.is_whitespace()) {
                    if let Some(head) = item.split("::").next().filter(|h| !h.is_empty()) {
                        named.insert(head.to_owned());
                    }
                    item.clear();
                } else if depth == 1 && c != '{' {
                    item.push(c);
                }
            }
            if let Some(head) = item.split("::").next().filter(|h| !h.is_empty()) {
                named.insert(head.to_owned());
            }
        } else {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                named.insert(ident);
            }
        }
    }
    named
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f, &src)).collect();
    for file in &files {
        let Some(module) = module_of(file, &src) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a source file");
        let entry = graph.entry(module.clone()).or_default();
        for other in modules_named(&text) {
            if other != module && modules.contains(&other) {
                entry.insert(other);
            }
        }
    }
    graph
}

/// A cycle through `start`, if any (depth-first).
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    let last = path.last()?.clone();
    for next in graph.get(&last).into_iter().flatten() {
        if let Some(at) = path.iter().position(|m| m == next) {
            let mut cycle = path[at..].to_vec();
            cycle.push(next.clone());
            return Some(cycle);
        }
        path.push(next.clone());
        if let Some(cycle) = cycle_from(graph, path) {
            return Some(cycle);
        }
        path.pop();
    }
    None
}

#[test]
fn the_top_level_modules_have_no_dependency_cycles() {
    let graph = dependencies();
    assert!(graph.contains_key("routes") && graph.contains_key("store"));
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, &mut vec![module.clone()]) {
            panic!("a module cycle: {}\n{graph:#?}", cycle.join(" → "));
        }
    }
    // Dependencies point down: nothing below the handlers knows them.
    for (module, uses) in &graph {
        if module != "startup" && module != "cli" {
            assert!(!uses.contains("routes"), "{module} uses routes");
        }
    }
}

#[test]
fn grouped_imports_are_read() {
    let named = modules_named(
        "use crate::{auth::{self, Role}, store::Store};\nlet x = crate::tokens::new_token();",
    );
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        ["auth", "store", "tokens"]
    );
}
