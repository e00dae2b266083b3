//! `GET /api/v1/openapi.json` and `GET /api/v1/docs`: the REST surface described for tools and
//! people.
//!
//! The spec is a checked-in file (`openapi.json` beside this module) rather than generated from
//! annotations, so that it stays readable and reviewable as a document; the drift test below
//! holds it against [`super::routes`], the one table the router is built from, so a route added
//! without its description (or a description left behind by a removed route) fails the build.
//!
//! The docs page is rendered here, on the server, from the same file: the server may have no
//! internet access and the app's CSP allows no third-party script, so no Swagger UI from a CDN.

use crate::error::ApiError;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::fmt::Write;
use std::sync::OnceLock;

/// The OpenAPI 3.1 document of every route.
pub const SPEC: &str = include_str!("openapi.json");

pub async fn spec() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        SPEC.as_bytes(),
    )
        .into_response()
}

pub async fn docs() -> Response {
    static PAGE: OnceLock<Result<String, String>> = OnceLock::new();
    let page = PAGE.get_or_init(|| {
        serde_json::from_str::<Value>(SPEC)
            .map(|v| render(&v))
            .map_err(|e| e.to_string())
    });
    match page {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            html.clone(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the built-in OpenAPI document does not parse");
            ApiError::internal().into_response()
        }
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// `` `code` `` spans of the spec's Markdown-ish descriptions as `<code>`, the rest escaped.
fn text(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out.replace("\n\n", "<br>")
}

/// A schema in one line: `Board`, `[Column]`, `{name, template?}`, `string | null`.
fn schema(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = s[key].as_array() {
            let sep = if key == "allOf" { " &amp; " } else { " | " };
            return list.iter().map(schema).collect::<Vec<_>>().join(sep);
        }
    }
    if let Some(c) = s.get("const") {
        return format!("<code>{}</code>", esc(&c.to_string()));
    }
    if let Some(e) = s["enum"].as_array() {
        let vals: Vec<String> = e.iter().map(|v| esc(&v.to_string())).collect();
        return format!("<code>{}</code>", vals.join(" | "));
    }
    match s["type"].as_str() {
        Some("array") => format!("[{}]", schema(&s["items"])),
        Some("object") => match s["properties"].as_object() {
            Some(props) if !props.is_empty() => {
                let req: Vec<&str> = s["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let fields: Vec<String> = props
                    .iter()
                    .map(|(k, v)| {
                        let opt = if req.contains(&k.as_str()) { "" } else { "?" };
                        format!("{}{opt}: {}", esc(k), schema(v))
                    })
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            _ => "object".into(),
        },
        Some(t) => match s["format"].as_str() {
            Some(f) => format!("{} ({})", esc(t), esc(f)),
            None => esc(t),
        },
        None => "any".into(),
    }
}

fn content_schema(v: &Value) -> Option<String> {
    let content = v["content"].as_object()?;
    let (ctype, media) = content.iter().next()?;
    Some(format!(
        "{} <small>{}</small>",
        schema(&media["schema"]),
        esc(ctype)
    ))
}

/// The whole page: every path and method with its parameters, body and answers, then every
/// schema. Plain HTML and one inline style sheet.
fn render(spec: &Value) -> String {
    let mut h = String::new();
    let title = spec["info"]["title"].as_str().unwrap_or("API");
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} API</title>\
         <style>body{{font:15px/1.45 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}}\
         code{{background:#f3f3f3;padding:0 3px;border-radius:3px}}\
         .op{{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;margin:.8em 0}}\
         .m{{display:inline-block;min-width:4.5em;font-weight:bold;text-transform:uppercase}}\
         .get{{color:#1b6e3a}}.post{{color:#1d4ed8}}.patch{{color:#9a5b00}}.delete{{color:#b42318}}\
         table{{border-collapse:collapse}}td{{padding:2px 10px 2px 0;vertical-align:top}}\
         small{{color:#666}}</style></head><body><h1>{} API</h1><p>{}</p>\
         <p>Machine-readable: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a> (OpenAPI {}).</p>",
        esc(title),
        esc(title),
        text(spec["info"]["description"].as_str().unwrap_or("")),
        esc(spec["openapi"].as_str().unwrap_or("3")),
    );
    h.push_str("<h2>Paths</h2>");
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item.iter().filter(|(k, _)| METHODS.contains(&k.as_str())) {
                let _ = write!(
                    h,
                    "<div class=\"op\"><div><span class=\"m {m}\">{m}</span> <code>{p}</code> — {s}</div>",
                    m = esc(method),
                    p = esc(path),
                    s = text(op["summary"].as_str().unwrap_or("")),
                );
                if let Some(d) = op["description"].as_str() {
                    let _ = write!(h, "<p>{}</p>", text(d));
                }
                h.push_str("<table>");
                if let Some(params) = op["parameters"].as_array() {
                    for p in params {
                        let _ = write!(
                            h,
                            "<tr><td><code>{}</code> <small>{}{}</small></td><td>{}</td><td>{}</td></tr>",
                            esc(p["name"].as_str().unwrap_or("")),
                            esc(p["in"].as_str().unwrap_or("")),
                            if p["required"] == Value::Bool(true) { "" } else { ", optional" },
                            schema(&p["schema"]),
                            text(p["description"].as_str().unwrap_or("")),
                        );
                    }
                }
                if let Some(b) = content_schema(&op["requestBody"]) {
                    let _ = write!(h, "<tr><td><b>body</b></td><td colspan=\"2\">{b}</td></tr>");
                }
                if let Some(resps) = op["responses"].as_object() {
                    for (code, r) in resps {
                        let r = match r["$ref"].as_str() {
                            Some(rf) => resolve(spec, rf).unwrap_or(r),
                            None => r,
                        };
                        let _ = write!(
                            h,
                            "<tr><td><b>{}</b></td><td>{}</td><td>{}</td></tr>",
                            esc(code),
                            text(r["description"].as_str().unwrap_or("")),
                            content_schema(r).unwrap_or_default(),
                        );
                    }
                }
                h.push_str("</table></div>");
            }
        }
    }
    h.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = spec["components"]["schemas"].as_object() {
        for (name, s) in schemas {
            let _ = write!(
                h,
                "<div class=\"op\" id=\"schema-{n}\"><b>{n}</b>",
                n = esc(name)
            );
            if let Some(d) = s["description"].as_str() {
                let _ = write!(h, " — {}", text(d));
            }
            let _ = write!(h, "<div>{}</div></div>", schema(s));
        }
    }
    h.push_str("</body></html>");
    h
}

/// Follows a local `#/a/b/c` reference.
fn resolve<'a>(spec: &'a Value, r: &str) -> Option<&'a Value> {
    spec.pointer(r.strip_prefix('#')?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The (method, path) pairs the spec describes, sorted.
    fn described(spec: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(paths) = spec["paths"].as_object() {
            for (path, item) in paths {
                if let Some(item) = item.as_object() {
                    for method in item.keys().filter(|k| METHODS.contains(&k.as_str())) {
                        out.push((method.clone(), path.clone()));
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn parsed() -> Value {
        serde_json::from_str(SPEC).expect("src/http/openapi.json is valid JSON")
    }

    /// The drift test: the router's route table and the spec name exactly the same
    /// (method, path) pairs.
    #[test]
    fn spec_describes_exactly_the_routes() {
        let routed: BTreeSet<(String, String)> = super::super::routes()
            .iter()
            .map(|r| (r.verb.as_str().to_string(), r.path.to_string()))
            .collect();
        let described: BTreeSet<(String, String)> = described(&parsed()).into_iter().collect();
        let missing: Vec<_> = routed.difference(&described).collect();
        let stale: Vec<_> = described.difference(&routed).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "src/http/openapi.json has drifted from the router (src/http/mod.rs `routes`):\n\
             routes the spec does not describe: {missing:?}\n\
             spec paths no route serves: {stale:?}"
        );
    }

    #[test]
    fn route_table_has_no_duplicates() {
        let mut seen = BTreeSet::new();
        for r in super::super::routes() {
            assert!(
                seen.insert((r.verb, r.path)),
                "{:?} {} is twice in the route table",
                r.verb,
                r.path
            );
        }
    }

    /// Every operation says who may call it and what it answers, every path parameter is
    /// declared, and every `$ref` points at something.
    #[test]
    fn spec_is_complete_and_consistent() {
        let spec = parsed();
        assert_eq!(spec["openapi"], "3.1.0");
        for (method, path) in described(&spec) {
            let op = &spec["paths"][&path][&method];
            let where_ = format!("{method} {path}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{where_}: no summary"
            );
            assert!(
                op["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("Who:")),
                "{where_}: the description does not say who may call it"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{where_}: no responses"
            );
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let in_path: BTreeSet<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, in_path, "{where_}: path parameters");
        }
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                        out.push(r);
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&spec, &mut all);
        assert!(!all.is_empty());
        for r in all {
            assert!(resolve(&spec, r).is_some(), "dangling $ref {r}");
        }
    }

    #[test]
    fn docs_page_lists_every_operation_and_schema() {
        let spec = parsed();
        let page = render(&spec);
        for (method, path) in described(&spec) {
            let needle = format!(
                "<span class=\"m {method}\">{method}</span> <code>{}</code>",
                esc(&path)
            );
            assert!(page.contains(&needle), "docs page lacks {method} {path}");
        }
        for name in spec["components"]["schemas"]
            .as_object()
            .expect("schemas")
            .keys()
        {
            assert!(
                page.contains(&format!("id=\"schema-{name}\"")),
                "docs page lacks schema {name}"
            );
        }
        assert!(!page.contains("<script"), "the docs page needs no script");
    }

    #[test]
    fn docs_text_is_escaped() {
        assert_eq!(
            text("a <b> `x<y>` & c"),
            "a &lt;b&gt; <code>x&lt;y&gt;</code> &amp; c"
        );
        assert_eq!(
            schema(
                &serde_json::json!({"type":"object","properties":{"a":{"type":"string"}},"required":[]})
            ),
            "{a?: string}"
        );
    }
}
