//! The server's top-level modules, as the `crate::…` paths in their sources connect them:
//! `http` uses `realtime` (board messages, the hub), so `realtime` must not reach `http`, not
//! even through another module — the WebSocket gateway and the HTTP routes share `app`
//! (the assembled server), `auth::session` (credentials) and `error`, not each other. The
//! command layer (`commands`), which both transports call, reaches neither of them, not even
//! through `app`: it is given its parts, so a transport can never be a command's dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// module -> the modules its files name as `crate::<module>`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).expect("under src");
            let first = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .unwrap_or_default()
                .trim_end_matches(".rs")
                .to_string();
            if first == "lib" || first == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let uses = g.entry(first.clone()).or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != first {
                    uses.insert(name);
                }
            }
        }
    }
    g
}

fn reaches(g: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    // Breadth first, keeping the path for the failure message.
    let mut seen = BTreeSet::from([from.to_string()]);
    let mut queue = std::collections::VecDeque::from([vec![from.to_string()]]);
    while let Some(path) = queue.pop_front() {
        let last = path.last().expect("a path is never empty");
        for next in g.get(last).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next.clone());
            if next == to {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                queue.push_back(longer);
            }
        }
    }
    None
}

#[test]
fn realtime_does_not_reach_http() {
    let g = graph();
    assert!(
        reaches(&g, "http", "realtime").is_some(),
        "the check looks at the real graph: http uses realtime ({g:?})"
    );
    if let Some(path) = reaches(&g, "realtime", "http") {
        panic!(
            "an import loop between http and realtime: {}",
            path.join(" -> ")
        );
    }
}

#[test]
fn commands_reach_neither_transport() {
    let g = graph();
    assert!(
        g.get("commands").is_some_and(|uses| uses.contains("auth")),
        "the check looks at the real graph: commands uses auth ({g:?})"
    );
    for transport in ["http", "realtime", "app"] {
        if let Some(path) = reaches(&g, "commands", transport) {
            panic!(
                "the command layer reaches `{transport}`: {}",
                path.join(" -> ")
            );
        }
    }
    for transport in ["http", "realtime"] {
        assert!(
            reaches(&g, transport, "commands").is_some(),
            "{transport} is a transport over the command layer ({g:?})"
        );
    }
}
