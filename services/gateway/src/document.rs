//! The served and committed OpenAPI document, with the edge's statuses trimmed to the operations
//! they can reach: a body too large (413) or of the wrong type (415) needs a body, so operations
//! without a request body do not promise them. A field typed by an enum is a plain `$ref` (with
//! its description beside it), not poem-openapi's `allOf` of the enum and a description, which
//! code generators refuse ("cannot take allOf a non-object"). What the edge does on every
//! operation is stated on each (see [`edge_contract`]): `X-Request-Id` on every answer,
//! `Retry-After` where it can come, and on every POST the optional `Idempotency-Key` with the
//! answers it can bring. Everything else is poem-openapi's.

use city_platform::idempotency::{KEY_PATTERN, KEY_RULE};
use city_platform::problem::kind::{self, ErrorKind};
use serde_json::{json, Value};

/// `spec` with 413 and 415 removed from every operation that takes no request body.
///
/// Works on poem-openapi's pretty-printed text (paths at 4 spaces, methods at 6, statuses at 10)
/// so the document keeps its order; a document of another shape is returned unchanged.
pub fn refine(spec: &str) -> String {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(spec) else {
        return spec.to_owned();
    };
    let has_body = |path: &str, method: &str| doc["paths"][path][method].get("requestBody").is_some();
    let lines: Vec<&str> = spec.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let (mut path, mut method, mut in_paths) = (String::new(), String::new(), false);
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let key = line.trim_start().strip_prefix('"').and_then(|r| r.split_once("\": ")).map(|(k, _)| k);
        match (indent, key) {
            (2, Some(k)) => in_paths = k == "paths",
            (4, Some(k)) if in_paths => path = k.to_owned(),
            (6, Some(k)) if in_paths => method = k.to_owned(),
            (10, Some(k @ ("413" | "415"))) if in_paths && line.ends_with('{') && !has_body(&path, &method) => {
                let _ = k;
                // Skip the entry through its closing brace at the same indent.
                let mut j = i + 1;
                while j < lines.len()
                    && !(lines[j].len() - lines[j].trim_start().len() == 10 && lines[j].trim_start().starts_with('}'))
                {
                    j += 1;
                }
                // A removed last entry leaves the previous one with a trailing comma.
                if !lines.get(j).is_some_and(|l| l.trim_end().ends_with(',')) {
                    if let Some(prev) = out.last_mut() {
                        if let Some(stripped) = prev.strip_suffix(',') {
                            *prev = stripped.to_owned();
                        }
                    }
                }
                i = j + 1;
                continue;
            }
            _ => {}
        }
        out.push(line.to_owned());
        i += 1;
    }
    let out = plain_enum_refs(&doc, out);
    let out = edge_contract(out);
    let mut text = out.join("\n");
    if spec.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Replaces each `"allOf": [{"$ref": E}, {"description": ..}]` whose `E` is not an object with
/// `"$ref": E`, on the pretty-printed lines (the description already stands beside it).
fn plain_enum_refs(doc: &serde_json::Value, lines: Vec<String>) -> Vec<String> {
    let is_object = |reference: &str| {
        let name = reference.rsplit('/').next().unwrap_or_default();
        doc["components"]["schemas"][name]["type"] == "object"
    };
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let indent = line.len() - line.trim_start().len();
        if line.trim_start() == "\"allOf\": [" && i + 8 < lines.len() {
            let block: Vec<&str> = lines[i + 1..=i + 8].iter().map(|l| l.trim()).collect();
            let reference = block[1].strip_prefix("\"$ref\": \"").and_then(|r| r.strip_suffix('"'));
            let shaped = block[0] == "{"
                && block[2] == "},"
                && block[3] == "{"
                && block[4].starts_with("\"description\": ")
                && block[5] == "}"
                && (block[6] == "]" || block[6] == "],");
            if let (true, Some(reference)) = (shaped, reference) {
                if !is_object(reference) {
                    let comma = if block[6].ends_with(',') { "," } else { "" };
                    out.push(format!("{}\"$ref\": \"{reference}\"{comma}", " ".repeat(indent)));
                    i += 8;
                    continue;
                }
            }
        }
        out.push(line.clone());
        i += 1;
    }
    out
}

/// The methods the edge's idempotency applies to (`city_platform::idempotency::idempotent`).
const IDEMPOTENT_METHODS: &[&str] = &["post"];

/// The edge's response headers, declared once under `components/headers` and referred to.
const EDGE_HEADERS: &[(&str, &str)] =
    &[("IdempotentReplayed", "Idempotent-Replayed"), ("RequestId", "X-Request-Id"), ("RetryAfter", "Retry-After")];

/// The `components/headers` entries the edge's headers refer to.
fn edge_header_components() -> Vec<(&'static str, Value)> {
    vec![
        (
            "IdempotentReplayed",
            json!({"description": "Sent with an `Idempotency-Key`: `true` on an answer replayed from the first \
                request with that key, `false` on the first answer itself.",
                "required": false, "deprecated": false, "schema": {"type": "string", "enum": ["true", "false"]}}),
        ),
        (
            "RequestId",
            json!({"description": "The request's id, on every answer: the client's own `X-Request-Id` when it is \
                1 to 128 letters, digits or `-_.:`, otherwise a new one. A problem quotes it as `instance`.",
                "required": true, "deprecated": false,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}),
        ),
        (
            "RetryAfter",
            json!({"description": "Seconds to wait before trying again.",
                "required": false, "deprecated": false, "schema": {"type": "string", "pattern": "^[0-9]+$"}}),
        ),
    ]
}

/// The optional `Idempotency-Key` header parameter, with the rules the edge enforces.
fn idempotency_key_parameter() -> Value {
    json!({
        "name": "Idempotency-Key",
        "schema": {"type": "string", "maxLength": 255, "minLength": 1, "pattern": KEY_PATTERN},
        "in": "header",
        "description": format!("Makes a retry safe. The same key (per caller) with the same path and body \
            within `idempotency_ttl_secs` (24 h by default) gets the first answer again, with \
            `Idempotent-Replayed: true`, instead of running twice; with another path or body it is a 422 \
            (`{}`), and while the first request runs a 409 (`{}`). The key {} (400 otherwise).",
            kind::IDEMPOTENCY_KEY_REUSED.code, kind::IDEMPOTENCY_IN_PROGRESS.code, KEY_RULE),
        "required": false,
        "deprecated": false,
        "explode": true
    })
}

/// The problems the edge's idempotency adds to a status: a malformed key (400), a request still
/// running under the key (409), a key used for another request (422).
fn idempotency_kinds(status: &str) -> &'static [&'static ErrorKind] {
    match status {
        "400" => &[&kind::MALFORMED],
        "409" => &[&kind::IDEMPOTENCY_IN_PROGRESS],
        "422" => &[&kind::IDEMPOTENCY_KEY_REUSED],
        _ => &[],
    }
}

/// The edge's headers that `status` of an operation (idempotent or not) can carry, by the name
/// of their component: the request id always; `Retry-After` on 429 and 503 (and the 409 of a key
/// still in use); `Idempotent-Replayed` on what an idempotent operation stores and replays
/// (every answer but 429 and 5xx).
fn edge_headers_for(status: &str, idempotent: bool) -> Vec<&'static str> {
    let code = status.parse::<u16>().ok();
    let mut names = vec![];
    if idempotent && code.is_some_and(|c| c < 500 && c != 429) {
        names.push("IdempotentReplayed");
    }
    names.push("RequestId");
    if matches!(status, "429" | "503") || (idempotent && status == "409") {
        names.push("RetryAfter");
    }
    names
}

fn problem_content() -> Value {
    json!({"schema": {"$ref": "#/components/schemas/Problem"}})
}

/// The kinds' lines as poem-openapi writes a response's description (`` `code`: meaning ``).
fn kind_lines(kinds: &[&ErrorKind]) -> String {
    kinds.iter().map(|k| format!("`{}`: {}", k.code, k.meaning)).collect::<Vec<_>>().join("\n\n")
}

/// States the edge's behaviour on every operation (see the module's doc): header parameters,
/// the answers idempotency adds, and the response headers, on the pretty-printed lines like the
/// passes above. Nothing already stated is stated twice, so a refined document refines to itself.
fn edge_contract(lines: Vec<String>) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<Value>(&lines.join("\n")) else { return lines };
    let mut out: Vec<String> = Vec::with_capacity(lines.len() * 3 / 2);
    let (mut path, mut method, mut in_paths, mut params_done) = (String::new(), String::new(), false, false);
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let (indent, key) = (indent_of(line), key_of(line));
        match (indent, key) {
            (2, Some("components")) if line.ends_with('{') => {
                in_paths = false;
                out.push(line.clone());
                out.extend(component_headers(&doc, &lines, &mut i));
                continue;
            }
            (2, Some(k)) => in_paths = k == "paths",
            (4, Some(k)) if in_paths => path = k.to_owned(),
            (6, Some(k)) if in_paths => {
                method = k.to_owned();
                params_done = false;
            }
            (8, Some(k)) if in_paths => {
                let op = &doc["paths"][path.as_str()][method.as_str()];
                let idempotent = IDEMPOTENT_METHODS.contains(&method.as_str());
                let wants_key = idempotent && !has_header_parameter(op, "Idempotency-Key");
                if k == "parameters" && wants_key && line.ends_with('[') {
                    // The array through its last element; the parameter goes after it.
                    let close = (i + 1..lines.len())
                        .find(|&j| indent_of(&lines[j]) == 8 && lines[j].trim_start().starts_with(']'))
                        .unwrap_or(lines.len());
                    out.extend(lines[i..close].iter().cloned());
                    if let Some(last) = out.last_mut().filter(|_| close > i + 1) {
                        last.push(',');
                    }
                    out.extend(render(None, &idempotency_key_parameter(), 10));
                    params_done = true;
                    i = close;
                    continue;
                }
                if matches!(k, "requestBody" | "responses")
                    && wants_key
                    && !params_done
                    && op.get("parameters").is_none()
                {
                    let mut block = render(Some("parameters"), &json!([idempotency_key_parameter()]), 8);
                    if let Some(last) = block.last_mut() {
                        last.push(',');
                    }
                    out.extend(block);
                    params_done = true;
                }
                if k == "responses" && line.ends_with('{') {
                    let mut j = i + 1;
                    while j < lines.len() && !(indent_of(&lines[j]) == 8 && lines[j].trim_start().starts_with('}')) {
                        j += 1;
                    }
                    if j < lines.len() {
                        out.push(line.clone());
                        out.extend(responses(&lines[i + 1..j], op, idempotent));
                        out.push(lines[j].clone());
                        i = j + 1;
                        continue;
                    }
                }
            }
            _ => {}
        }
        out.push(line.clone());
        i += 1;
    }
    if doc.get("components").is_none() {
        // No components to add to: they go last, before the document's closing brace.
        if let Some(close) = out.iter().rposition(|l| l == "}").filter(|&c| c > 0) {
            let headers: serde_json::Map<String, Value> =
                edge_header_components().into_iter().map(|(name, v)| (name.to_owned(), v)).collect();
            out[close - 1].push(',');
            let block = render(Some("components"), &json!({ "headers": headers }), 2);
            out.splice(close..close, block);
        }
    }
    out
}

/// The `headers` entry of `components` (its line at `lines[*i]`, already copied), or the edge's
/// entries added to one there is; moves `*i` past what it consumed.
fn component_headers(doc: &Value, lines: &[String], i: &mut usize) -> Vec<String> {
    *i += 1;
    let existing = &doc["components"]["headers"];
    let missing: Vec<(&str, Value)> =
        edge_header_components().into_iter().filter(|(name, _)| existing.get(name).is_none()).collect();
    let mut out = vec![];
    match existing.as_object() {
        None => {
            let object: serde_json::Map<String, Value> =
                missing.into_iter().map(|(name, v)| (name.to_owned(), v)).collect();
            out.extend(render(Some("headers"), &Value::Object(object), 4));
            if lines.get(*i).is_some_and(|l| indent_of(l) == 4) {
                if let Some(last) = out.last_mut() {
                    last.push(',');
                }
            }
        }
        Some(present) => {
            // Copy up to the `"headers"` line, then add ours at its top.
            while let Some(l) = lines.get(*i) {
                *i += 1;
                if indent_of(l) == 4 && key_of(l) == Some("headers") {
                    let opened = l.ends_with('{');
                    out.push(if opened { l.clone() } else { l.replacen("{}", "{", 1) });
                    let n = missing.len();
                    for (k, (name, v)) in missing.iter().enumerate() {
                        let mut block = render(Some(name), v, 6);
                        if k + 1 < n || !present.is_empty() {
                            if let Some(last) = block.last_mut() {
                                last.push(',');
                            }
                        }
                        out.extend(block);
                    }
                    if !opened {
                        out.push(format!("    }}{}", if l.trim_end().ends_with(',') { "," } else { "" }));
                    }
                    break;
                }
                out.push(l.clone());
            }
        }
    }
    out
}

/// An operation's responses (the lines inside its `"responses"` object): the answers the edge's
/// idempotency adds, and the edge's headers on each.
fn responses(lines: &[String], op: &Value, idempotent: bool) -> Vec<String> {
    // Split into entries at indent 10, each without its closing comma.
    let mut entries: Vec<(String, Vec<String>)> = vec![];
    for line in lines {
        if indent_of(line) == 10 && key_of(line).is_some() {
            entries.push((key_of(line).unwrap_or_default().to_owned(), vec![line.clone()]));
        } else if let Some((_, entry)) = entries.last_mut() {
            entry.push(line.clone());
        }
    }
    for (status, entry) in &mut entries {
        if let Some(last) = entry.last_mut() {
            *last = last.trim_end_matches(',').to_owned();
        }
        let response = &op["responses"][status.as_str()];
        let kinds = if idempotent { idempotency_kinds(status) } else { &[] };
        *entry = amend(std::mem::take(entry), response, kinds, &edge_headers_for(status, idempotent));
    }
    if idempotent {
        for status in ["400", "409", "422"] {
            if op["responses"].get(status).is_none() {
                let headers: serde_json::Map<String, Value> = edge_headers_for(status, true)
                    .into_iter()
                    .map(|name| (header_name(name).to_owned(), json!({"$ref": format!("#/components/headers/{name}")})))
                    .collect();
                let response = json!({"description": kind_lines(idempotency_kinds(status)),
                    "content": {"application/problem+json": problem_content()}, "headers": headers});
                entries.push((status.to_owned(), render(Some(status), &response, 10)));
            }
        }
    }
    // Statuses in order, as poem-openapi gives them; anything not a number (`default`) last.
    entries.sort_by_key(|(status, _)| status.parse::<u16>().unwrap_or(u16::MAX));
    let n = entries.len();
    let mut out = vec![];
    for (k, (_, mut entry)) in entries.into_iter().enumerate() {
        if k + 1 < n {
            if let Some(last) = entry.last_mut() {
                last.push(',');
            }
        }
        out.extend(entry);
    }
    out
}

/// One response's lines (`"<status>": {` to `}`) with `kinds` in its description, a problem
/// body among its contents when `kinds` are added, and the `headers` (by component) it lacks.
fn amend(entry: Vec<String>, response: &Value, kinds: &[&ErrorKind], headers: &[&str]) -> Vec<String> {
    let description = response["description"].as_str().unwrap_or_default();
    let new_kinds: Vec<&ErrorKind> =
        kinds.iter().copied().filter(|k| !description.contains(&format!("`{}`", k.code))).collect();
    let wants_problem = !kinds.is_empty() && response["content"].get("application/problem+json").is_none();
    let declared =
        |name: &str| response["headers"].as_object().is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name)));
    let new_headers: Vec<(String, Value)> = headers
        .iter()
        .filter(|name| !declared(header_name(name)))
        .map(|name| (header_name(name).to_owned(), json!({"$ref": format!("#/components/headers/{name}")})))
        .collect();
    let header_lines = |indent: usize| -> Vec<String> {
        let mut out = vec![];
        for (name, v) in &new_headers {
            let mut block = render(Some(name), v, indent);
            if let Some(last) = block.last_mut() {
                last.push(',');
            }
            out.extend(block);
        }
        out
    };
    let mut out = Vec::with_capacity(entry.len() + 8);
    for (k, line) in entry.iter().enumerate() {
        let at_top = indent_of(line) == 12 && k > 0;
        match key_of(line) {
            Some("description") if at_top && !new_kinds.is_empty() => {
                let comma = line.trim_end().ends_with(',');
                let text = format!(
                    "{}{}{}",
                    description,
                    if description.is_empty() { "" } else { "\n\n" },
                    kind_lines(&new_kinds)
                );
                let value = serde_json::to_string(&text).unwrap_or_default();
                out.push(format!("{}\"description\": {value}{}", " ".repeat(12), if comma { "," } else { "" }));
                continue;
            }
            Some("content") if at_top && wants_problem && line.ends_with('{') => {
                out.push(line.clone());
                let mut block = render(Some("application/problem+json"), &problem_content(), 14);
                if let Some(last) = block.last_mut() {
                    last.push(',');
                }
                out.extend(block);
                continue;
            }
            Some("headers") if at_top && !new_headers.is_empty() && line.ends_with('{') => {
                out.push(line.clone());
                out.extend(header_lines(14));
                continue;
            }
            _ => {}
        }
        out.push(line.clone());
    }
    // What the entry has no key for yet goes at its end, before the closing brace.
    let mut tail: Vec<(&str, Value)> = vec![];
    if wants_problem && response.get("content").is_none() {
        tail.push(("content", json!({"application/problem+json": problem_content()})));
    }
    if !new_headers.is_empty() && response.get("headers").is_none() {
        tail.push(("headers", Value::Object(new_headers.iter().cloned().collect())));
    }
    if !tail.is_empty() {
        let close = out.pop().unwrap_or_else(|| " ".repeat(10) + "}");
        if out.len() > 1 {
            if let Some(last) = out.last_mut() {
                last.push(',');
            }
        }
        let n = tail.len();
        for (k, (key, value)) in tail.into_iter().enumerate() {
            let mut block = render(Some(key), &value, 12);
            if k + 1 < n {
                if let Some(last) = block.last_mut() {
                    last.push(',');
                }
            }
            out.extend(block);
        }
        out.push(close);
    }
    out
}

/// The header a component of [`EDGE_HEADERS`] describes.
fn header_name(component: &str) -> &'static str {
    EDGE_HEADERS.iter().find(|(c, _)| *c == component).map(|(_, h)| *h).unwrap_or("")
}

fn has_header_parameter(op: &Value, name: &str) -> bool {
    op["parameters"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| p["in"] == "header" && p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    })
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The key a pretty-printed line opens, if any (`"key": ...`).
fn key_of(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix('"').and_then(|r| r.split_once("\": ")).map(|(k, _)| k)
}

/// `value` pretty-printed as serde_json does (two spaces a level), its first line at `indent`,
/// as `"key": value` when a key is given, with an object's keys in poem-openapi's order rather
/// than serde_json's alphabetical one.
fn render(key: Option<&str>, value: &Value, indent: usize) -> Vec<String> {
    const ORDER: &[&str] = &[
        "name",
        "$ref",
        "schema",
        "in",
        "description",
        "required",
        "deprecated",
        "explode",
        "content",
        "headers",
        "type",
        "enum",
        "maxLength",
        "minLength",
        "pattern",
    ];
    fn walk(key: Option<&str>, value: &Value, indent: usize, trailing: &str, out: &mut Vec<String>) {
        let pad = " ".repeat(indent);
        let head = key.map(|k| format!("{}: ", serde_json::to_string(k).unwrap_or_default())).unwrap_or_default();
        match value {
            Value::Object(map) if !map.is_empty() => {
                out.push(format!("{pad}{head}{{"));
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by_key(|k| ORDER.iter().position(|o| *o == k.as_str()).unwrap_or(ORDER.len()));
                for (n, k) in keys.iter().enumerate() {
                    walk(Some(k), &map[k.as_str()], indent + 2, if n + 1 < keys.len() { "," } else { "" }, out);
                }
                out.push(format!("{pad}}}{trailing}"));
            }
            Value::Array(items) if !items.is_empty() => {
                out.push(format!("{pad}{head}["));
                for (n, item) in items.iter().enumerate() {
                    walk(None, item, indent + 2, if n + 1 < items.len() { "," } else { "" }, out);
                }
                out.push(format!("{pad}]{trailing}"));
            }
            other => out.push(format!("{pad}{head}{}{trailing}", serde_json::to_string(other).unwrap_or_default())),
        }
    }
    let mut out = vec![];
    walk(key, value, indent, "", &mut out);
    out
}

/// `spec` without its `/v1/internal/...` paths: the gateway never forwards them, so its document
/// does not offer them. Works on the pretty-printed text like [`refine`], keeping the order.
pub fn without_internal(spec: &str) -> String {
    let lines: Vec<&str> = spec.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let (mut in_paths, mut i) = (false, 0);
    while i < lines.len() {
        let line = lines[i];
        match indent(line) {
            2 => in_paths = line.trim_start().starts_with("\"paths\": {"),
            4 if in_paths && line.trim_start().starts_with("\"/v1/internal/") && line.ends_with('{') => {
                let mut j = i + 1;
                while j < lines.len() && !(indent(lines[j]) == 4 && lines[j].trim_start().starts_with('}')) {
                    j += 1;
                }
                // A removed last path leaves the one before it with a trailing comma.
                if !lines.get(j).is_some_and(|l| l.trim_end().ends_with(',')) {
                    if let Some(prev) = out.last_mut() {
                        if let Some(stripped) = prev.strip_suffix(',') {
                            *prev = stripped.to_owned();
                        }
                    }
                }
                i = j + 1;
                continue;
            }
            _ => {}
        }
        out.push(line.to_owned());
        i += 1;
    }
    let mut text = out.join("\n");
    if spec.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    fn refined(spec: &serde_json::Value) -> (String, serde_json::Value) {
        let text = super::refine(&serde_json::to_string_pretty(spec).unwrap());
        let out = serde_json::from_str(&text).expect("still JSON");
        (text, out)
    }

    fn problem(description: &str) -> serde_json::Value {
        serde_json::json!({"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    }

    #[test]
    fn every_post_states_the_idempotency_key_its_answers_and_the_edges_headers() {
        use city_platform::idempotency::KEY_PATTERN;
        let ok = serde_json::json!({"description": "ok"});
        let spec = serde_json::json!({"openapi": "3.0.0", "paths": {
            "/a": {
                "get": {"parameters": [{"name": "q", "schema": {"type": "string"}, "in": "query"}],
                    "responses": {"200": ok, "429": problem("`rate-limited`: slow")}},
                "post": {"requestBody": {"content": {}}, "responses": {"201": ok,
                    "422": problem("`validation`: a rule")}}},
            "/b": {"post": {"parameters": [{"name": "id", "schema": {"type": "string"}, "in": "path",
                    "required": true}],
                "responses": {"200": {"description": "ok", "headers": {"ETAG": {"schema": {"type": "string"}}}},
                    "400": {"description": "WeChat's answer", "content": {"application/json": {}}}}}},
            "/c": {"post": {"parameters": [{"name": "Idempotency-Key", "schema": {"type": "string"},
                    "in": "header", "required": true}],
                "responses": {"201": ok, "409": problem("`idempotency-in-progress`: running\n\n`slot-taken`: gone")}}}},
            "components": {"schemas": {"Problem": {"type": "object"}}}});
        let (text, out) = refined(&spec);
        for (path, ops) in out["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let keys: Vec<&serde_json::Value> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
                    .collect();
                assert_eq!(keys.len(), usize::from(method == "post"), "{method} {path}: {keys:?}");
                for (status, response) in op["responses"].as_object().unwrap() {
                    assert_eq!(
                        response["headers"]["X-Request-Id"]["$ref"], "#/components/headers/RequestId",
                        "{method} {path} {status}"
                    );
                    assert_eq!(
                        response["headers"].get("Retry-After").is_some(),
                        status == "429" || (method == "post" && status == "409"),
                        "{method} {path} {status}"
                    );
                    assert_eq!(
                        response["headers"].get("Idempotent-Replayed").is_some(),
                        method == "post",
                        "{method} {path} {status}"
                    );
                }
                if method == "post" {
                    for (status, code) in [
                        ("400", "malformed-request"),
                        ("409", "idempotency-in-progress"),
                        ("422", "idempotency-key-reused"),
                    ] {
                        let response = &op["responses"][status];
                        let description = response["description"].as_str().unwrap();
                        assert_eq!(description.matches(&format!("`{code}`")).count(), 1, "{path} {status}");
                        assert!(response["content"].get("application/problem+json").is_some(), "{path} {status}");
                    }
                }
            }
        }
        // Added where missing, with the edge's rule; an operation that requires the key keeps it so.
        let key = &out["paths"]["/a"]["post"]["parameters"][0];
        assert_eq!((key["required"].as_bool(), key["schema"]["pattern"].as_str()), (Some(false), Some(KEY_PATTERN)));
        assert_eq!(key["schema"]["maxLength"], 255);
        assert_eq!(out["paths"]["/b"]["post"]["parameters"].as_array().unwrap().len(), 2);
        assert_eq!(out["paths"]["/c"]["post"]["parameters"][0]["required"], true);
        // What was there stays: the handler's own kinds, another format's body, a declared header.
        let a422 = out["paths"]["/a"]["post"]["responses"]["422"]["description"].as_str().unwrap();
        assert!(a422.starts_with("`validation`: a rule\n\n`idempotency-key-reused`: "), "{a422}");
        assert!(out["paths"]["/b"]["post"]["responses"]["400"]["content"].get("application/json").is_some());
        assert!(out["paths"]["/b"]["post"]["responses"]["200"]["headers"].get("ETAG").is_some());
        let statuses: Vec<&String> = out["paths"]["/a"]["post"]["responses"].as_object().unwrap().keys().collect();
        assert_eq!(statuses, vec!["201", "400", "409", "422"]);
        // Every header the responses refer to is a component.
        for name in ["RequestId", "RetryAfter", "IdempotentReplayed"] {
            assert!(out["components"]["headers"][name]["schema"].is_object(), "{name}");
        }
        assert!(out["components"]["schemas"]["Problem"].is_object());
        // Refining again changes nothing.
        assert_eq!(super::refine(&text), text);
    }

    #[test]
    fn a_document_without_components_gets_them_for_its_headers() {
        let spec = serde_json::json!({"openapi": "3.0.0", "paths": {"/a": {"get": {"responses": {
            "200": {"description": "ok"}}}}}});
        let (text, out) = refined(&spec);
        assert_eq!(
            out["paths"]["/a"]["get"]["responses"]["200"]["headers"]["X-Request-Id"]["$ref"],
            "#/components/headers/RequestId"
        );
        assert_eq!(out["components"]["headers"]["RequestId"]["required"], true);
        assert_eq!(super::refine(&text), text);
    }

    /// The portal's own document, as `city openapi` and the gateway serve it.
    #[tokio::test]
    async fn the_portals_document_states_the_key_on_every_post_and_the_request_id_on_every_answer() {
        let (spec, _) = crate::whole_document().await.expect("the document");
        let doc: serde_json::Value = serde_json::from_str(&spec).unwrap();
        let mut posts = 0;
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let keys = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
                    .count();
                assert_eq!(keys, usize::from(method == "post"), "{method} {path}");
                posts += usize::from(method == "post");
                for (status, response) in op["responses"].as_object().unwrap() {
                    assert!(response["headers"].get("X-Request-Id").is_some(), "{method} {path} {status}");
                }
            }
        }
        assert!(posts > 40, "{posts} POST operations");
    }

    #[test]
    fn the_gateways_document_leaves_out_internal_paths() {
        let spec = serde_json::json!({"openapi": "3.0.0", "paths": {
            "/v1/air": {"get": {}},
            "/v1/internal/booking/x": {"get": {"responses": {"200": {}}}},
            "/v1/internal/identity/y": {"get": {}}}, "components": {}});
        let text = super::without_internal(&serde_json::to_string_pretty(&spec).unwrap());
        let out: serde_json::Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(out["paths"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["/v1/air"]);
        assert!(out.get("components").is_some());
    }

    #[test]
    fn only_operations_with_a_body_keep_413_and_415() {
        let spec = serde_json::json!({"openapi": "3.0.0", "paths": {"/a": {
            "get": {"responses": {"200": {"description": "ok"}, "413": {"description": "big"},
                "415": {"description": "type"}, "429": {"description": "slow"}}},
            "post": {"requestBody": {}, "responses": {"201": {"description": "made"},
                "413": {"description": "big"}, "415": {"description": "type"}}}}}});
        let text = super::refine(&serde_json::to_string_pretty(&spec).unwrap());
        let out: serde_json::Value = serde_json::from_str(&text).unwrap();
        let get = out["paths"]["/a"]["get"]["responses"].as_object().unwrap();
        assert_eq!(get.keys().collect::<Vec<_>>(), vec!["200", "429"]);
        assert!(out["paths"]["/a"]["post"]["responses"].get("415").is_some());
        // The last entry of a map can go too, and the JSON stays valid.
        let only = serde_json::json!({"paths": {"/b": {"get": {"responses": {"200": {"description": "ok"},
            "415": {"description": "type"}}}}}});
        let out: serde_json::Value =
            serde_json::from_str(&super::refine(&serde_json::to_string_pretty(&only).unwrap())).unwrap();
        assert_eq!(out["paths"]["/b"]["get"]["responses"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_field_typed_by_an_enum_is_a_plain_reference_and_an_object_keeps_its_all_of() {
        let field = |name: &str| {
            serde_json::json!({"description": "Which.", "allOf": [{"$ref": format!("#/components/schemas/{name}")},
                {"description": "Which."}]})
        };
        let spec = serde_json::json!({"paths": {}, "components": {"schemas": {
            "Kind": {"type": "string", "enum": ["a", "b"]},
            "Place": {"type": "object", "properties": {}},
            "Thing": {"type": "object", "properties": {"kind": field("Kind"), "place": field("Place")}}}}});
        let out: serde_json::Value =
            serde_json::from_str(&super::refine(&serde_json::to_string_pretty(&spec).unwrap())).unwrap();
        let props = &out["components"]["schemas"]["Thing"]["properties"];
        assert_eq!(props["kind"], serde_json::json!({"description": "Which.", "$ref": "#/components/schemas/Kind"}));
        assert_eq!(props["place"], field("Place"));
    }
}
