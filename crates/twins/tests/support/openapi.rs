//! OpenAPI shape checks shared by the BigCommerce twin's tests: a small validator for the
//! official specs in `../shared/specs/bigcommerce` (types, required fields, nullability,
//! `$ref`s), skipping with a message when the specs are absent.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

pub fn specs_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs/bigcommerce");
    if dir.is_dir() {
        Some(dir)
    } else {
        let alt = PathBuf::from("/work/shared/specs/bigcommerce");
        alt.is_dir().then_some(alt)
    }
}

pub fn yaml_to_json(v: serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(s) => Value::Array(s.into_iter().map(yaml_to_json).collect()),
        serde_yaml::Value::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        serde_yaml::Value::String(s) => s,
                        other => serde_yaml::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        serde_yaml::Value::Tagged(t) => yaml_to_json(t.value),
    }
}

pub fn load_spec(name: &str) -> Option<Value> {
    let Some(dir) = specs_dir() else {
        eprintln!(
            "SKIP: BigCommerce OpenAPI specs not found (expected ../shared/specs/bigcommerce)"
        );
        return None;
    };
    let text = std::fs::read_to_string(dir.join(name)).expect("read spec");
    Some(yaml_to_json(serde_yaml::from_str(&text).expect("yaml")))
}

pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = doc;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            resolve(doc, cur)
        }
        None => schema,
    }
}

/// Checks `v` against `schema`: required fields, property types, nullability, arrays.
pub fn check(doc: &Value, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let s = resolve(doc, schema);
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(doc, sub, v, path, errs);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            let ok = alts.iter().any(|alt| {
                let mut e = Vec::new();
                check(doc, alt, v, path, &mut e);
                e.is_empty()
            });
            if !ok {
                errs.push(format!("{path}: matches none of {key}"));
            }
        }
    }
    if v.is_null() {
        if s.get("type").is_some() && s.get("nullable") != Some(&Value::Bool(true)) {
            errs.push(format!("{path}: null but not nullable"));
        }
        return;
    }
    let type_ok = match s.get("type").and_then(Value::as_str) {
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        _ => true,
    };
    if !type_ok {
        errs.push(format!("{path}: expected {} got {v}", s["type"]));
        return;
    }
    if let Some(req) = s.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if v.get(r).is_none() {
                errs.push(format!("{path}: missing required {r}"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (
        s.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, sub) in props {
            if let Some(val) = obj.get(k) {
                check(doc, sub, val, &format!("{path}.{k}"), errs);
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, val) in arr.iter().enumerate() {
            check(doc, items, val, &format!("{path}[{i}]"), errs);
        }
    }
}

pub fn properties_of(doc: &Value, schema: &Value, out: &mut Vec<String>) {
    let s = resolve(doc, schema);
    for sub in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        properties_of(doc, sub, out);
    }
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        out.extend(p.keys().cloned());
    }
}

/// Asserts that `v` conforms to `schema_name` and carries every documented property except
/// `may_lack`. `documented_nulls` lists null findings the spec's own text allows although the
/// type is not marked nullable (matched as substrings of the finding).
pub fn assert_conforms(
    doc: &Value,
    schema_name: &str,
    v: &Value,
    may_lack: &[&str],
    documented_nulls: &[&str],
) {
    let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{schema_name}") });
    let mut errs = Vec::new();
    check(doc, &schema, v, schema_name, &mut errs);
    errs.retain(|e| !documented_nulls.iter().any(|d| e.contains(d)));
    assert!(errs.is_empty(), "{schema_name}: {errs:#?}");
    let mut props = Vec::new();
    properties_of(doc, &schema, &mut props);
    let missing: Vec<&String> = props
        .iter()
        .filter(|p| v.get(p.as_str()).is_none() && !may_lack.contains(&p.as_str()))
        .collect();
    assert!(missing.is_empty(), "{schema_name} lacks {missing:?}");
}

/// The JSON schema of the documented `code` answer to `method path` (a `$ref` to
/// `components/responses` is followed; `application/json` or `application/problem+json`).
pub fn response_schema(doc: &Value, path: &str, method: &str, code: &str) -> Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "the spec has no {method} {path}");
    let answer = resolve(doc, &op["responses"][code]);
    assert!(
        answer.is_object(),
        "{method} {path} documents no {code} answer"
    );
    let content = &answer["content"];
    let schema = if content["application/json"].is_object() {
        &content["application/json"]["schema"]
    } else {
        &content["application/problem+json"]["schema"]
    };
    assert!(
        !schema.is_null(),
        "{method} {path} {code} has no JSON schema"
    );
    schema.clone()
}

/// Asserts that `v` is the documented `code` answer to `method path`: it conforms to the
/// schema, and (for an object, or each element of an array) carries every documented
/// top-level property except `may_lack`.
pub fn assert_response(
    doc: &Value,
    path: &str,
    method: &str,
    code: &str,
    v: &Value,
    may_lack: &[&str],
) {
    assert_response_with_nulls(doc, path, method, code, v, may_lack, &[]);
}

/// [`assert_response`] where `documented_nulls` lists null findings the reference documents
/// although the spec's type is not marked nullable (matched as substrings of the finding).
pub fn assert_response_with_nulls(
    doc: &Value,
    path: &str,
    method: &str,
    code: &str,
    v: &Value,
    may_lack: &[&str],
    documented_nulls: &[&str],
) {
    let schema = response_schema(doc, path, method, code);
    let mut errs = Vec::new();
    check(doc, &schema, v, &format!("{method} {path}"), &mut errs);
    errs.retain(|e| !documented_nulls.iter().any(|d| e.contains(d)));
    assert!(errs.is_empty(), "{method} {path} {code}: {errs:#?}\n{v:#}");
    let s = resolve(doc, &schema);
    let (item_schema, items): (&Value, Vec<&Value>) = match v.as_array() {
        Some(a) => (resolve(doc, &s["items"]), a.iter().collect()),
        None => (s, vec![v]),
    };
    let mut props = Vec::new();
    properties_of(doc, item_schema, &mut props);
    for item in items {
        let missing: Vec<&String> = props
            .iter()
            .filter(|p| item.get(p.as_str()).is_none() && !may_lack.contains(&p.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{method} {path} {code} lacks {missing:?}"
        );
    }
}
