//! The shape of the house, kept by a test so the next feature cannot undo it quietly:
//! - no SQL outside a store module (`store.rs` or `src/store/**`) in a service crate;
//! - no poem type, `Problem` or `Failure` inside a store or domain module;
//! - no source file under a crate's `src/` over 800 lines (test data excepted);
//! - no import circle between the files of a crate;
//! - `println!` only in the `city` binary's command line.
//!
//! It reads the code as text; it runs nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;
/// Test data, not code: the HJ 633 / EPA reference cases.
const EXEMPT_FROM_SIZE: &[&str] = &["services/air/src/domain/reference_tests.rs"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// Every crate's `src/` folder: `services/*/src` and `shared/*/src`.
fn crate_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for top in ["services", "shared"] {
        let Ok(entries) = fs::read_dir(repo().join(top)) else { continue };
        for e in entries.flatten() {
            let src = e.path().join("src");
            if src.is_dir() {
                out.push(src);
            }
        }
    }
    out.sort();
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

/// The code without comments and without `#[cfg(test)] mod tests { ... }` at the end of a file,
/// so doc examples and unit tests do not count as uses.
fn code_of(text: &str) -> String {
    // A quote as a char literal would open a string that never closes.
    let text = text.replace("'\"'", "'q'").replace("'\\\"'", "'q'");
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    if n == '\n' {
                        out.push('\n');
                    }
                    prev = n;
                }
            }
            _ => out.push(c),
        }
    }
    match out.find("#[cfg(test)]\nmod tests") {
        Some(i) => out[..i].to_owned(),
        None => out,
    }
}

fn is_store(rel: &str) -> bool {
    rel.ends_with("/src/store.rs") || rel.contains("/src/store/")
}

fn is_domain(rel: &str) -> bool {
    rel.contains("/src/domain/") || rel.ends_with("/src/domain.rs")
}

/// Statements as the project writes them (keywords in capitals), so "Update on your report" is prose.
const SQL_STARTS: &[&str] =
    &["SELECT ", "INSERT INTO ", "UPDATE ", "DELETE FROM ", "WITH ", "CREATE ", "ALTER ", "DROP "];

/// Where the code runs SQL: a sqlx query call, or a string literal that starts like a statement.
fn sql_lines(code: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let calls = ["sqlx::query", "query_as(", "query_scalar(", "query_as::<", "query_scalar::<", "raw_sql("]
            .iter()
            .any(|c| line.contains(c));
        let literal = line.split('"').skip(1).step_by(2).any(|lit| {
            let t = lit.trim_start();
            SQL_STARTS.iter().any(|s| t.starts_with(s))
        }) || line.contains("r#\"") && {
            let after = line.split("r#\"").nth(1).unwrap_or("").trim_start();
            SQL_STARTS.iter().any(|s| after.starts_with(s))
        };
        if calls || literal {
            lines.push(n + 1);
        }
    }
    lines
}

#[test]
fn sql_lives_only_in_store_modules() {
    let mut found = Vec::new();
    for src in crate_sources().into_iter().filter(|s| rel(s).starts_with("services/")) {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let r = rel(&f);
            if is_store(&r) {
                continue;
            }
            let code = code_of(&fs::read_to_string(&f).unwrap());
            for line in sql_lines(&code) {
                found.push(format!("{r}:{line}"));
            }
        }
    }
    assert!(found.is_empty(), "SQL outside a store module (move it into store.rs or store/):\n{}", found.join("\n"));
}

#[test]
fn stores_and_domain_modules_know_nothing_of_http() {
    let words = ["poem", "poem_openapi", "Problem", "ProblemResponse", "Failure"];
    let mut found = Vec::new();
    for src in crate_sources() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let r = rel(&f);
            if !(is_store(&r) || is_domain(&r)) {
                continue;
            }
            let code = code_of(&fs::read_to_string(&f).unwrap());
            for (n, line) in code.lines().enumerate() {
                let line_words: Vec<&str> =
                    line.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
                if let Some(w) = words.iter().find(|w| line_words.contains(w)) {
                    found.push(format!("{r}:{}: `{w}`", n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "HTTP types inside a store or domain module:\n{}", found.join("\n"));
}

#[test]
fn no_source_file_is_over_800_lines() {
    let mut found = Vec::new();
    for src in crate_sources() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let r = rel(&f);
            if EXEMPT_FROM_SIZE.contains(&r.as_str()) {
                continue;
            }
            let n = fs::read_to_string(&f).unwrap().lines().count();
            if n > MAX_LINES {
                found.push(format!("{r}: {n} lines"));
            }
        }
    }
    assert!(found.is_empty(), "files over {MAX_LINES} lines (split them by responsibility):\n{}", found.join("\n"));
}

#[test]
fn library_code_does_not_print() {
    let mut found = Vec::new();
    for src in crate_sources() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let r = rel(&f);
            // The command line's output is its product; benches and tests are not under src/.
            if r.starts_with("services/gateway/src/cli/") || r.ends_with("/src/main.rs") {
                continue;
            }
            let code = code_of(&fs::read_to_string(&f).unwrap());
            for (n, line) in code.lines().enumerate() {
                let line = line.replace("eprintln!(", "").replace("eprint!(", "");
                if line.contains("println!(") || line.contains("print!(") {
                    found.push(format!("{r}:{}", n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "println! in library code (log with tracing instead):\n{}", found.join("\n"));
}

/// The module path of a file under `src/`: `src/domain/scheme.rs` -> `domain::scheme`,
/// `src/domain/mod.rs` -> `domain`, `src/lib.rs` -> ``.
fn module_of(src: &Path, file: &Path) -> String {
    let r = file.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
    let r = r.trim_end_matches(".rs");
    let r = r.strip_suffix("/mod").unwrap_or(r);
    if r == "lib" || r == "main" {
        String::new()
    } else {
        r.replace('/', "::")
    }
}

/// The code with every string literal's content blanked, so text is never read as a path.
fn blank_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in code.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
                out.push(c);
                continue;
            }
            out.push(if c == '\n' { '\n' } else { ' ' });
        } else {
            if c == '"' {
                in_str = true;
            }
            out.push(c);
        }
    }
    out
}

/// Expands one `use` tree (`crate::a::{b, c::d}`) into its paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    fn go(prefix: &str, tree: &str, out: &mut Vec<String>) {
        if let Some(open) = tree.find('{') {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&format!("{prefix}{head}"), &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if start < inner.len() {
                go(&format!("{prefix}{head}"), &inner[start..], out);
            }
        } else if !tree.is_empty() {
            out.push(format!("{prefix}{tree}").split(" as ").next().unwrap_or("").to_owned());
        }
    }
    let mut out = Vec::new();
    go("", &tree, &mut out);
    out
}

/// The module paths a file refers to: its `use` trees and inline `crate::`/`super::` paths,
/// made absolute.
fn references(code: &str, own: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let code = blank_strings(code);
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let s = line.trim_start();
        let s = ["pub ", "pub(crate) ", "pub(super) "].iter().fold(s, |s, p| s.strip_prefix(p).unwrap_or(s));
        if let Some(start) = s.strip_prefix("use ") {
            let mut tree = start.to_owned();
            while !tree.contains(';') {
                match lines.next() {
                    Some(more) => tree.push_str(more),
                    None => break,
                }
            }
            paths.extend(expand_use(tree.split(';').next().unwrap_or("")));
        }
    }
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("crate::") || word.starts_with("super::") {
            paths.push(word.to_owned());
        }
    }
    // `super` of a `mod.rs` file is its folder's parent; of `a/b.rs` it is `a`.
    let own_parts: Vec<String> = own.split("::").filter(|p| !p.is_empty()).map(str::to_owned).collect();
    let mut out = Vec::new();
    for p in paths {
        let parts: Vec<&str> = p.split("::").filter(|x| !x.is_empty() && *x != "*" && *x != "self").collect();
        let Some(first) = parts.first() else { continue };
        let mut abs: Vec<String> = match *first {
            "crate" => Vec::new(),
            "super" => {
                let mut base = own_parts.clone();
                base.pop();
                base
            }
            _ => continue,
        };
        let mut rest = &parts[1..];
        while rest.first() == Some(&"super") {
            abs.pop();
            rest = &rest[1..];
        }
        abs.extend(rest.iter().map(|s| s.to_string()));
        out.push(abs);
    }
    out
}

/// File-level import graph of one crate, and its circles (strongly connected groups of files).
fn circles(src: &Path) -> Vec<Vec<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files.iter().map(|f| (module_of(src, f), f.clone())).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let own = module_of(src, f);
        let code = code_of(&fs::read_to_string(f).unwrap());
        for path in references(&code, &own) {
            // The longest prefix that is a file of this crate is what the path imports from.
            let mut target = None;
            for n in (0..=path.len()).rev() {
                let m = path[..n].join("::");
                if modules.contains_key(&m) {
                    target = Some(m);
                    break;
                }
            }
            if let Some(t) = target {
                // A parent naming its own child (`mod x; pub use x::Y`) is composition, not a
                // reach back up; only lower files reaching up or sideways count.
                let parent_of_child = own.is_empty() || t.starts_with(&format!("{own}::"));
                if t != own && !parent_of_child {
                    edges.entry(own.clone()).or_default().insert(t);
                }
            }
        }
    }
    // Tarjan's strongly connected components.
    struct St<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(s: &mut St, v: &str) {
        s.index.insert(v.to_owned(), s.next);
        s.low.insert(v.to_owned(), s.next);
        s.next += 1;
        s.stack.push(v.to_owned());
        s.on.insert(v.to_owned());
        let targets: Vec<String> = s.edges.get(v).map(|t| t.iter().cloned().collect()).unwrap_or_default();
        for w in targets {
            if !s.index.contains_key(&w) {
                visit(s, &w);
                let lw = s.low[&w];
                let lv = s.low[v];
                s.low.insert(v.to_owned(), lv.min(lw));
            } else if s.on.contains(&w) {
                let iw = s.index[&w];
                let lv = s.low[v];
                s.low.insert(v.to_owned(), lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(&w);
                let done = w == v;
                group.push(w);
                if done {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut st = St {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for m in modules.keys() {
        if !st.index.contains_key(m) {
            visit(&mut st, m);
        }
    }
    st.out
}

#[test]
fn no_file_imports_round_in_a_circle() {
    let mut found = Vec::new();
    for src in crate_sources() {
        for group in circles(&src) {
            found.push(format!("{}: {}", rel(&src), group.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import circles (move what both need into a lower module):\n{}", found.join("\n"));
}

#[test]
fn the_checks_see_what_they_look_for() {
    // Each rule must be able to fail, or it proves nothing.
    assert_eq!(sql_lines("let q = \"SELECT id FROM t\";\nlet n = 1;"), vec![1]);
    assert_eq!(sql_lines("sqlx::query(&sql)"), vec![1]);
    assert!(sql_lines("let s = \"selection of ids\";").is_empty());
    assert!(sql_lines("let s = \"Update on your report\";").is_empty());
    assert_eq!(sql_lines("let s = \"UPDATE reports SET state = $1\";"), vec![1]);
    assert!(code_of("// SELECT 1\nlet a = 2;").lines().all(|l| !l.contains("SELECT")));
    assert_eq!(
        expand_use("crate::domain::{scheme::Iaqi, china}"),
        vec!["crate::domain::scheme::Iaqi".to_owned(), "crate::domain::china".to_owned()]
    );
    let dir = tempfile_dir();
    fs::create_dir_all(dir.join("domain")).unwrap();
    fs::write(dir.join("lib.rs"), "mod domain;").unwrap();
    fs::write(dir.join("domain/mod.rs"), "pub mod a; pub mod b;").unwrap();
    fs::write(dir.join("domain/a.rs"), "use super::b::X; pub struct Y;").unwrap();
    fs::write(dir.join("domain/b.rs"), "use crate::domain::a::Y; pub struct X;").unwrap();
    assert_eq!(circles(&dir), vec![vec!["domain::a".to_owned(), "domain::b".to_owned()]]);
    fs::write(dir.join("domain/b.rs"), "pub struct X;").unwrap();
    assert!(circles(&dir).is_empty());
    let _ = fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("city-shape-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}
