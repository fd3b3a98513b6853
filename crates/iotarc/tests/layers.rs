//! The library's layers are one-way (ARCHITECTURE.md): a module may use the modules of
//! lower layers and its own, never a higher layer's nor a sibling's of the same layer.
//! This test reads every source file and fails on a back-edge, naming file and line.

use std::path::{Path, PathBuf};

/// Layer of each top-level module of `crates/iotarc/src`; `None` for a module this table
/// does not know, which fails the test so that a new module gets a layer.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "error" => 0,
        "util" => 1,
        "codec" => 2,
        "model" => 3,
        "format" => 4,
        "wal" => 5,
        "archive" => 6,
        "input" | "stream" => 7,
        "pack" => 8,
        _ => return None,
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`src/archive/query.rs` → `archive`,
/// `src/model.rs` → `model`); `None` for `lib.rs`, the root that ties them together.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib").then_some(name)
}

/// The modules named by `crate::NAME` paths on a line of code (comments and doc
/// comments excluded). Names that are not modules (root items such as `failpoint` or
/// the re-exported `Error`) come back too; the caller ignores names without a layer
/// only when they are not modules.
fn crate_paths(line: &str) -> Vec<&str> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let code = code.split(" //").next().unwrap_or(code);
    code.match_indices("crate::")
        .filter(|(i, _)| {
            // `iotarc_crate::` or `$crate::` are not this crate's paths.
            code[..*i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '$'))
        })
        .map(|(i, m)| {
            let rest = &code[i + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn layers_are_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 20, "found only {} source files", files.len());
    let modules: Vec<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut problems = Vec::new();
    for file in &files {
        let Some(from) = module_of(&src, file) else {
            continue;
        };
        let Some(from_layer) = layer(&from) else {
            problems.push(format!("{}: module `{from}` has no layer", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for to in crate_paths(line) {
                if to == from || !modules.iter().any(|m| m == to) {
                    continue;
                }
                let ok = layer(to).is_some_and(|l| l < from_layer);
                if !ok {
                    problems.push(format!(
                        "{}:{}: `{from}` uses `{to}`: {}",
                        file.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "back-edges:\n{}", problems.join("\n"));
}

#[test]
fn the_check_finds_a_back_edge() {
    assert_eq!(crate_paths("use crate::archive::Archive;"), ["archive"]);
    assert_eq!(
        crate_paths("    let x = crate::stream::wal::f(); // crate::pack"),
        ["stream"]
    );
    assert!(crate_paths("/// see [`x`](crate::pack::run)").is_empty());
    assert!(crate_paths("use iotarc_crate::x;").is_empty());
    assert!(layer("codec") < layer("format"));
    assert_eq!(layer("input"), layer("stream"));
}
