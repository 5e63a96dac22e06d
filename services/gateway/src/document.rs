//! The served and committed OpenAPI document, with the edge's statuses trimmed to the operations
//! they can reach: a body too large (413) or of the wrong type (415) needs a body, so operations
//! without a request body do not promise them. A field typed by an enum is a plain `$ref` (with
//! its description beside it), not poem-openapi's `allOf` of the enum and a description, which
//! code generators refuse ("cannot take allOf a non-object"). Everything else is poem-openapi's.

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
