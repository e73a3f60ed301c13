//! The tool's layers, held by a test (as rust-analyzer's `tidy` holds its rules): the
//! sources are parsed with syn, every reference between the tool's modules is collected
//! (`use` trees, paths in code, paths in macro calls; `crate::`, `super::`, `self::` and
//! child modules alike, `pub use` included), and the test fails on a reference from a
//! lower layer to a higher one, or on a cycle among modules, naming the file and line.
//! The order of the layers is the one list in ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module of the crate: `["image", "spec"]`; the crate root is `[]`.
type Module = Vec<String>;

/// A reference from one module to another, where it is written.
#[derive(Debug, Clone)]
struct Edge {
    from: Module,
    to: Module,
    file: String,
    line: usize,
}

/// The layers, highest first, as ARCHITECTURE.md lists them between its markers.
fn declared_layers(architecture: &str) -> Vec<String> {
    let list = architecture
        .split_once("<!-- layers:begin -->")
        .and_then(|(_, rest)| rest.split_once("<!-- layers:end -->"))
        .map(|(list, _)| list)
        .expect("ARCHITECTURE.md lists the layers between <!-- layers:begin --> and <!-- layers:end -->");
    list.lines()
        .filter_map(|l| l.trim().strip_prefix("- `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.trim_end_matches('/').to_string()))
        .collect()
}

/// The module a source file is, from its path under `src/` (binaries are crates of their own).
fn module_of(rel: &str) -> Option<Module> {
    if rel == "main.rs" || rel.starts_with("bin/") {
        return None;
    }
    let rel = rel.strip_suffix(".rs")?;
    let mut parts: Vec<String> = rel.split('/').map(String::from).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    Some(parts)
}

struct Collector<'a> {
    file: &'a str,
    /// The module being visited (inline `mod x { … }` blocks nest).
    stack: Vec<Module>,
    /// Per nesting level: the child modules declared there.
    children: Vec<BTreeSet<String>>,
    modules: &'a BTreeSet<Module>,
    edges: Vec<Edge>,
}

impl Collector<'_> {
    fn current(&self) -> &Module {
        self.stack.last().expect("a module")
    }

    /// Records a reference, when `segments` lead into one of the crate's modules.
    fn reference(&mut self, segments: &[String], line: usize) {
        let Some(first) = segments.first() else { return };
        let current = self.current().clone();
        match first.as_str() {
            "crate" => self.resolve(vec![], &segments[1..], line),
            "self" => self.resolve(current, &segments[1..], line),
            "super" => {
                let (mut base, mut rest) = (current, segments);
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                self.resolve(base, rest, line);
            }
            child if self.children.last().is_some_and(|c| c.contains(child)) => {
                self.resolve(current, segments, line);
            }
            _ => {}
        }
    }

    /// Records an edge to the longest known module that `base` + a prefix of `rest` names.
    fn resolve(&mut self, base: Module, rest: &[String], line: usize) {
        let mut target = base;
        let mut found = self.modules.contains(&target).then(|| target.clone());
        for segment in rest {
            target.push(segment.clone());
            if !self.modules.contains(&target) {
                break;
            }
            found = Some(target.clone());
        }
        let from = self.file_module();
        if let Some(to) = found.filter(|to| *to != from) {
            self.edges.push(Edge { from, to, file: self.file.to_string(), line });
        }
    }

    /// The file's own module (inline test modules belong to their file).
    fn file_module(&self) -> Module {
        self.stack[0].clone()
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let line = name.ident.span().start().line;
                let mut full = prefix.clone();
                if name.ident != "self" {
                    full.push(name.ident.to_string());
                }
                self.reference(&full, line);
            }
            syn::UseTree::Rename(rename) => {
                let line = rename.ident.span().start().line;
                let mut full = prefix.clone();
                if rename.ident != "self" {
                    full.push(rename.ident.to_string());
                }
                self.reference(&full, line);
            }
            syn::UseTree::Glob(glob) => {
                let line = glob.star_token.span.start().line;
                self.reference(&prefix.clone(), line);
            }
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

fn declared_children(items: &[syn::Item]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if let Some((_, items)) = &item.content {
            let mut module = self.current().clone();
            module.push(item.ident.to_string());
            self.stack.push(module);
            self.children.push(declared_children(items));
            for item in items {
                self.visit_item(item);
            }
            self.children.pop();
            self.stack.pop();
        }
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(crate)`, `pub(super)`: who may see an item, not a use of a module.
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut vec![], &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(first) = path.segments.first() {
            self.reference(&segments, first.ident.span().start().line);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Macro bodies are tokens: find `crate :: a :: b` (and `super ::`) runs in them.
        let tokens: Vec<proc_macro2::TokenTree> = flatten(mac.tokens.clone());
        let mut i = 0;
        while i < tokens.len() {
            if let proc_macro2::TokenTree::Ident(ident) = &tokens[i] {
                if ident == "crate" || ident == "super" {
                    let line = ident.span().start().line;
                    let mut segments = vec![ident.to_string()];
                    let mut j = i + 1;
                    while j + 2 < tokens.len() + 1 && is_colons(&tokens[j..]) {
                        match tokens.get(j + 2) {
                            Some(proc_macro2::TokenTree::Ident(next)) => segments.push(next.to_string()),
                            _ => break,
                        }
                        j += 3;
                    }
                    // A bare `crate` is `pub(crate)`: who may see an item, not a use.
                    if segments.len() > 1 {
                        self.reference(&segments, line);
                    }
                    i = j;
                    continue;
                }
            }
            i += 1;
        }
        syn::visit::visit_macro(self, mac);
    }
}

fn flatten(stream: proc_macro2::TokenStream) -> Vec<proc_macro2::TokenTree> {
    let mut out = vec![];
    for tree in stream {
        match tree {
            proc_macro2::TokenTree::Group(group) => out.extend(flatten(group.stream())),
            other => out.push(other),
        }
    }
    out
}

fn is_colons(tokens: &[proc_macro2::TokenTree]) -> bool {
    matches!(
        (tokens.first(), tokens.get(1)),
        (Some(proc_macro2::TokenTree::Punct(a)), Some(proc_macro2::TokenTree::Punct(b)))
            if a.as_char() == ':' && b.as_char() == ':'
    )
}

/// Every reference between the crate's modules in `sources` (path under src/ → text).
fn edges(sources: &BTreeMap<String, String>) -> Vec<Edge> {
    let modules: BTreeSet<Module> = sources.keys().filter_map(|rel| module_of(rel)).collect();
    let mut edges = vec![];
    for (rel, text) in sources {
        let Some(module) = module_of(rel) else { continue };
        let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"));
        let mut collector = Collector {
            file: rel,
            stack: vec![module],
            children: vec![declared_children(&file.items)],
            modules: &modules,
            edges: vec![],
        };
        collector.visit_file(&file);
        let mut seen = BTreeSet::new();
        edges.extend(collector.edges.into_iter().filter(|e| seen.insert((e.to.clone(), e.line))));
    }
    edges
}

/// What breaks the layering: upward references and cycles, one sentence each.
fn violations(sources: &BTreeMap<String, String>, layers: &[String]) -> Vec<String> {
    let rank = |module: &Module| -> usize {
        match module.first() {
            // The crate root sits above every layer.
            None => usize::MAX,
            Some(first) => {
                let at = layers.iter().position(|l| l == first);
                layers.len()
                    - at.unwrap_or_else(|| panic!("the module `{first}` is in no layer of ARCHITECTURE.md"))
            }
        }
    };
    let name = |m: &Module| if m.is_empty() { "crate".to_string() } else { m.join("::") };
    let edges = edges(sources);
    let mut found = vec![];
    for edge in &edges {
        if rank(&edge.to) > rank(&edge.from) {
            found.push(format!(
                "src/{}:{}: `{}` uses `{}`, a higher layer",
                edge.file,
                edge.line,
                name(&edge.from),
                name(&edge.to)
            ));
        }
    }
    // Cycles: strongly connected components of more than one module (Tarjan).
    let mut graph: BTreeMap<&Module, BTreeSet<&Module>> = BTreeMap::new();
    for edge in &edges {
        graph.entry(&edge.from).or_default().insert(&edge.to);
        graph.entry(&edge.to).or_default();
    }
    for component in strongly_connected(&graph) {
        if component.len() < 2 {
            continue;
        }
        let members: BTreeSet<&Module> = component.iter().copied().collect();
        let inside: Vec<String> = edges
            .iter()
            .filter(|e| members.contains(&e.from) && members.contains(&e.to))
            .map(|e| format!("src/{}:{} ({} → {})", e.file, e.line, name(&e.from), name(&e.to)))
            .collect();
        found.push(format!(
            "a cycle among {}: {}",
            component.iter().map(|m| format!("`{}`", name(m))).collect::<Vec<_>>().join(", "),
            inside.join("; ")
        ));
    }
    found
}

fn strongly_connected<'a>(graph: &BTreeMap<&'a Module, BTreeSet<&'a Module>>) -> Vec<Vec<&'a Module>> {
    struct State<'a> {
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        next: usize,
        out: Vec<Vec<&'a Module>>,
    }
    fn visit<'a>(node: &'a Module, graph: &BTreeMap<&'a Module, BTreeSet<&'a Module>>, s: &mut State<'a>) {
        s.index.insert(node, s.next);
        s.low.insert(node, s.next);
        s.next += 1;
        s.stack.push(node);
        s.on_stack.insert(node);
        for &next in &graph[node] {
            if !s.index.contains_key(next) {
                visit(next, graph, s);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = vec![];
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                component.push(top);
                if top == node {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on_stack: BTreeSet::new(),
        next: 0,
        out: vec![],
    };
    for &node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(node, graph, &mut state);
        }
    }
    state.out
}

fn tool_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_sources(src: &Path) -> BTreeMap<String, String> {
    let mut sources = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().to_str().unwrap().replace('\\', "/");
                sources.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    sources
}

#[test]
fn layers_are_used_downward_only_and_no_module_cycle() {
    let architecture = std::fs::read_to_string(tool_dir().join("ARCHITECTURE.md")).unwrap();
    let layers = declared_layers(&architecture);
    assert!(layers.len() >= 8, "{layers:?}");
    let sources = read_sources(&tool_dir().join("src"));
    // Every folder of src/ is a declared layer, and every layer a folder.
    let folders: BTreeSet<String> = sources
        .keys()
        .filter_map(|rel| rel.split_once('/').map(|(d, _)| d.to_string()))
        .filter(|d| d != "bin")
        .collect();
    assert_eq!(
        folders,
        layers.iter().cloned().collect::<BTreeSet<_>>(),
        "src/'s folders and ARCHITECTURE.md's layers"
    );
    let found = violations(&sources, &layers);
    assert!(found.is_empty(), "{} violations of the layering:\n{}", found.len(), found.join("\n"));
    // The analysis does see the tool's references (it would pass on an empty graph).
    assert!(edges(&sources).len() > 100);
}

#[test]
fn the_check_finds_a_planted_cycle_and_an_upward_reference() {
    let layers: Vec<String> = ["high", "low"].map(String::from).to_vec();
    let sources: BTreeMap<String, String> = [
        ("lib.rs", "pub mod high;\npub mod low;\n"),
        ("high/mod.rs", "pub mod a;\n"),
        ("high/a.rs", "use crate::low::b::Thing;\npub struct Top;\n"),
        ("low/mod.rs", "pub mod b;\npub mod c;\n"),
        (
            "low/b.rs",
            "pub struct Thing;\npub fn f() {\n    let _ = crate::high::a::Top;\n    super::c::g();\n}\n",
        ),
        ("low/c.rs", "use super::b;\npub fn g() {\n    b::f();\n}\n"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into_iter()
    .collect();
    let found = violations(&sources, &layers);
    assert!(
        found.iter().any(|v| v == "src/low/b.rs:3: `low::b` uses `high::a`, a higher layer"),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|v| v.starts_with("a cycle among `low::b`, `low::c`")
            || v.starts_with("a cycle among `low::c`, `low::b`")),
        "{found:#?}"
    );
    assert!(found.iter().any(|v| v.contains("src/low/c.rs:1 (low::c → low::b)")), "{found:#?}");
    assert_eq!(found.len(), 2, "{found:#?}");
    // A macro's body counts too.
    let mut with_macro = sources.clone();
    with_macro.insert(
        "low/b.rs".into(),
        "pub struct Thing;\npub fn f() {\n    println!(\"{:?}\", crate::high::a::Top);\n}\n".into(),
    );
    with_macro.insert("low/c.rs".into(), "pub fn g() {}\n".into());
    let found = violations(&with_macro, &layers);
    assert_eq!(found[0], "src/low/b.rs:3: `low::b` uses `high::a`, a higher layer");
    assert!(found[1].starts_with("a cycle among"), "high uses low, low uses high: {found:#?}");
}

/// The library's API is the crate root's own items: every layer is a private module, so an
/// extension's xtask can reach only `Tasks`, `TaskContext`, `TestSuite`, `main` (and, with
/// their features, `self_test` and the registry client's entry point).
#[test]
fn the_crate_root_exports_the_small_api_only() {
    let lib = std::fs::read_to_string(tool_dir().join("src/lib.rs")).unwrap();
    let file = syn::parse_file(&lib).unwrap();
    let mut exported = BTreeSet::new();
    for item in &file.items {
        match item {
            syn::Item::Mod(m) => {
                assert!(matches!(m.vis, syn::Visibility::Inherited), "`mod {}` is private", m.ident);
            }
            syn::Item::Use(u) if matches!(u.vis, syn::Visibility::Public(_)) => {
                let mut names = vec![];
                collect_use_names(&u.tree, &mut names);
                exported.extend(names);
            }
            syn::Item::Fn(f) if matches!(f.vis, syn::Visibility::Public(_)) => {
                exported.insert(f.sig.ident.to_string());
            }
            _ => {}
        }
    }
    let expected: BTreeSet<String> =
        ["Tasks", "TaskContext", "TestSuite", "main", "self_test", "registry_client_main"]
            .map(String::from)
            .into();
    assert_eq!(exported, expected);
    assert!(
        lib.contains("#![warn(unreachable_pub, missing_docs)]"),
        "the lints that keep it small and documented"
    );
}

fn collect_use_names(tree: &syn::UseTree, names: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(p) => collect_use_names(&p.tree, names),
        syn::UseTree::Name(n) => names.push(n.ident.to_string()),
        syn::UseTree::Rename(r) => names.push(r.rename.to_string()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| collect_use_names(t, names)),
        syn::UseTree::Glob(_) => panic!("no glob re-export: the API is listed"),
    }
}

/// Where a module starts a program other than through `util::process`: xshell's own `cmd!`
/// (which takes a program's name as std does, `npm` and never `npm.cmd`), `Shell::cmd`, or a
/// `Command::new` of std's. One sentence each, with the file and line.
fn programs_started_outside_the_process_module(sources: &BTreeMap<String, String>) -> Vec<String> {
    struct Finder<'a> {
        file: &'a str,
        found: Vec<String>,
    }
    impl Finder<'_> {
        fn say(&mut self, line: usize, what: &str) {
            self.found.push(format!(
                "src/{}:{line}: {what}: start programs with `cmd!` or an `Argv` of `util::process`, which find them as the OS does",
                self.file
            ));
        }
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
            fn names(prefix: &mut Vec<String>, tree: &syn::UseTree, out: &mut Vec<(Vec<String>, usize)>) {
                match tree {
                    syn::UseTree::Path(p) => {
                        prefix.push(p.ident.to_string());
                        names(prefix, &p.tree, out);
                        prefix.pop();
                    }
                    syn::UseTree::Name(n) => {
                        out.push((
                            [prefix.clone(), vec![n.ident.to_string()]].concat(),
                            n.ident.span().start().line,
                        ));
                    }
                    syn::UseTree::Rename(r) => {
                        out.push((
                            [prefix.clone(), vec![r.ident.to_string()]].concat(),
                            r.ident.span().start().line,
                        ));
                    }
                    syn::UseTree::Glob(g) => out.push((prefix.clone(), g.star_token.span.start().line)),
                    syn::UseTree::Group(g) => g.items.iter().for_each(|t| names(prefix, t, out)),
                }
            }
            let mut out = vec![];
            names(&mut vec![], &item.tree, &mut out);
            for (path, line) in out {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                match path.as_slice() {
                    ["xshell", "cmd"] | ["xshell"] => self.say(line, "xshell's `cmd!` is imported"),
                    ["std", "process", "Command"] | ["std", "process"] => {
                        self.say(line, "std's `Command` is imported");
                    }
                    _ => {}
                }
            }
        }

        fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
            let segments: Vec<String> = expr.path.segments.iter().map(|s| s.ident.to_string()).collect();
            let line = expr.path.segments[0].ident.span().start().line;
            if segments.ends_with(&["Command".to_string(), "new".to_string()])
                && (segments.len() == 2 || segments[segments.len() - 3] == "process")
            {
                self.say(line, "a `Command::new`");
            }
            if segments.ends_with(&["Shell".to_string(), "cmd".to_string()]) {
                self.say(line, "a `Shell::cmd`");
            }
            syn::visit::visit_expr_path(self, expr);
        }

        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            let segments: Vec<String> = mac.path.segments.iter().map(|s| s.ident.to_string()).collect();
            if segments == ["xshell", "cmd"] {
                self.say(mac.path.segments[0].ident.span().start().line, "xshell's `cmd!`");
            }
            syn::visit::visit_macro(self, mac);
        }
    }
    let mut found = vec![];
    for (rel, text) in sources {
        if rel.starts_with("util/process/") {
            continue;
        }
        let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"));
        let mut finder = Finder { file: rel, found: vec![] };
        finder.visit_file(&file);
        found.extend(finder.found);
    }
    found
}

/// Only `util::process` starts programs: everything else goes through its `cmd!` or an
/// `Argv`, which find a program as the platform's shell does (`npm` is `npm.cmd` on
/// Windows, Python is `py -3`) and refuse what a batch file cannot be given. (Libraries that
/// start cargo themselves, cargo_metadata's `MetadataCommand`, start `cargo`, which is
/// `cargo.exe` everywhere.)
#[test]
fn programs_are_started_by_the_process_module_only() {
    let sources = read_sources(&tool_dir().join("src"));
    let found = programs_started_outside_the_process_module(&sources);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The process module does start programs (the check would pass on an empty crate).
    let process: BTreeMap<String, String> = sources
        .iter()
        .filter(|(rel, _)| rel.starts_with("util/process/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let renamed: BTreeMap<String, String> =
        process.into_iter().map(|(k, v)| (format!("elsewhere/{k}"), v)).collect();
    assert!(
        !programs_started_outside_the_process_module(&renamed).is_empty(),
        "the module's own code is found elsewhere"
    );

    // Each way is found, where it is.
    let planted: BTreeMap<String, String> = [(
        "builders/ui.rs",
        "use xshell::{cmd, Shell};\nuse std::process::Command;\nfn f(sh: &Shell) {\n    let _ = cmd!(sh, \"npm ci\");\n    let _ = std::process::Command::new(\"npm\");\n    let _ = Command::new(\"npx\");\n    let _ = Shell::cmd(sh, \"node\");\n    let _ = xshell::cmd!(sh, \"npm\");\n}\n",
    )]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into_iter()
    .collect();
    let found = programs_started_outside_the_process_module(&planted);
    let lines: Vec<&str> = found.iter().map(|f| f.split(": ").next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "src/builders/ui.rs:1",
            "src/builders/ui.rs:2",
            "src/builders/ui.rs:5",
            "src/builders/ui.rs:6",
            "src/builders/ui.rs:7",
            "src/builders/ui.rs:8"
        ],
        "{found:#?}"
    );
}

/// Where a module spells a digest itself (a string `sha256:`, or one that formats
/// `sha256:{…}`) instead of going through `util::digest::Digest`, which is computed or
/// parsed once and written one way. Test modules may spell them: they keep their own
/// expectations.
fn digests_spelled_outside_the_digest_type(sources: &BTreeMap<String, String>) -> Vec<String> {
    struct Finder<'a> {
        file: &'a str,
        found: Vec<String>,
    }
    impl Finder<'_> {
        fn literal(&mut self, value: &str, line: usize) {
            if value == "sha256:" || value.contains("sha256:{") {
                self.found.push(format!(
                    "src/{}:{line}: `{value}` spells a digest: compute, parse and write digests with `util::digest::Digest`",
                    self.file
                ));
            }
        }
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
            let test_only = item
                .attrs
                .iter()
                .any(|a| a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test"));
            if !test_only {
                syn::visit::visit_item_mod(self, item);
            }
        }

        fn visit_lit_str(&mut self, lit: &'ast syn::LitStr) {
            self.literal(&lit.value(), lit.span().start().line);
        }

        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            for token in flatten(mac.tokens.clone()) {
                if let proc_macro2::TokenTree::Literal(literal) = token {
                    if let syn::Lit::Str(lit) = syn::Lit::new(literal) {
                        self.literal(&lit.value(), lit.span().start().line);
                    }
                }
            }
            syn::visit::visit_macro(self, mac);
        }
    }
    let mut found = vec![];
    for (rel, text) in sources {
        if rel == "util/digest.rs" {
            continue;
        }
        let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"));
        let mut finder = Finder { file: rel, found: vec![] };
        finder.visit_file(&file);
        found.extend(finder.found);
    }
    found
}

/// One digest type: images, the registry client, downloads, the ledger and the fingerprints
/// hold `Digest` values, so none formats `sha256:{:x}` or strips `sha256:` by hand (the
/// strings were spelled in 11 places, with 4 different checks of what follows).
#[test]
fn digests_are_the_digest_types_only() {
    let sources = read_sources(&tool_dir().join("src"));
    let found = digests_spelled_outside_the_digest_type(&sources);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The digest module itself spells it (the check would pass on an empty crate).
    let own: BTreeMap<String, String> =
        [("elsewhere.rs".to_string(), sources["util/digest.rs"].clone())].into();
    assert!(!digests_spelled_outside_the_digest_type(&own).is_empty(), "the digest module's own code");
    // Each way is found, where it is; a test module's are not.
    let planted: BTreeMap<String, String> = [(
        "registry/mod.rs".to_string(),
        "fn a(h: &str) -> String {\n    format!(\"sha256:{h}\")\n}\nfn b(d: &str) -> &str {\n    d.trim_start_matches(\"sha256:\")\n}\n#[cfg(test)]\nmod tests {\n    const D: &str = \"sha256:{x}\";\n}\n"
            .to_string(),
    )]
    .into();
    let found = digests_spelled_outside_the_digest_type(&planted);
    let lines: Vec<&str> = found.iter().map(|f| f.split(": ").next().unwrap()).collect();
    assert_eq!(lines, ["src/registry/mod.rs:2", "src/registry/mod.rs:5"], "{found:#?}");
}

/// Where the command line's words are read: the flags parser's crate named, or a command
/// matched by its name, outside `cli/args.rs` (the parser) and `cli/mod.rs` (the table).
fn flags_read_outside_the_parser(sources: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = vec![];
    for (rel, source) in sources {
        if rel == "cli/args.rs" || rel == "cli/mod.rs" {
            continue;
        }
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let reads_args = rel.starts_with("cli/") && code.contains("env::args");
            if code.contains("lexopt") || reads_args {
                found.push(format!("src/{rel}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn commands_declare_their_flags_to_the_one_parser() {
    let sources = read_sources(&tool_dir().join("src"));
    let mut found = flags_read_outside_the_parser(&sources);
    // The entry point hands the process's arguments over, and nothing else reads them.
    found.retain(|f| {
        !f.starts_with("src/cli/tasks.rs") || !f.contains("self.run_with(std::env::args().skip(1))")
    });
    assert!(found.is_empty(), "read the words through cli::args::Spec:\n{}", found.join("\n"));
    assert!(sources["cli/args.rs"].contains("lexopt::Parser"), "the parser is where the rule says");
    let planted: BTreeMap<String, String> =
        [("cli/dist.rs".to_string(), "fn f() {\n    let p = lexopt::Parser::from_env();\n}\n".to_string())]
            .into();
    assert_eq!(flags_read_outside_the_parser(&planted).len(), 1);
}
