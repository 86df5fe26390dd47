//! The API contract as a test holds it: `/openapi.json` read from the running worker, every
//! call made through [`Contract::call`] checked against the operation it names (the status
//! must be documented, the body must match the documented schema), and a record of which
//! operations were exercised.
//!
//! The schema check is a strict subset of JSON Schema 2020-12: the keywords the document uses.
//! An unknown keyword fails the test, so the document cannot say more than is checked.

use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;

pub struct Contract {
    pub doc: Value,
    base: String,
    exercised: RefCell<BTreeSet<(String, String)>>,
}

/// What a request sends.
pub enum Body<'a> {
    None,
    Json(Value),
    Form(&'a [(&'a str, &'a str)]),
}

#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub content_type: String,
    pub json: Value,
    pub text: String,
}

/// Where `value` breaks `schema` (`doc` resolves `$ref`s), or `None`.
pub fn violation(doc: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    let Some(rules) = schema.as_object() else {
        return Some(format!("{at}: the schema is not an object: {schema}"));
    };
    for (keyword, rule) in rules {
        let broken = match keyword.as_str() {
            "description" | "title" | "examples" | "deprecated" => None,
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .unwrap_or_else(|| panic!("{at}: only local schema refs: {rule}"));
                let target = &doc["components"]["schemas"][name];
                assert!(!target.is_null(), "{at}: no schema {name}");
                violation(doc, target, value, at)
            }
            "type" => {
                let allowed: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => panic!("{at}: type must be a string or a list: {rule}"),
                };
                let actual = match value {
                    Value::Null => "null",
                    Value::Bool(_) => "boolean",
                    Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                };
                let fits = allowed.contains(&actual)
                    || (actual == "integer" && allowed.contains(&"number"));
                (!fits).then(|| format!("{at}: {actual} is not {allowed:?}: {value}"))
            }
            "properties" => {
                let props = rule.as_object().expect("properties is an object");
                props.iter().find_map(|(name, sub)| {
                    value
                        .get(name)
                        .filter(|_| value.is_object())
                        .and_then(|v| violation(doc, sub, v, &format!("{at}.{name}")))
                })
            }
            "required" => value.as_object().and_then(|o| {
                rule.as_array()
                    .expect("required is a list")
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|name| !o.contains_key(*name))
                    .map(|name| format!("{at}: {name} is missing from {value}"))
            }),
            "additionalProperties" => value.as_object().and_then(|o| {
                let known = rules.get("properties").and_then(Value::as_object);
                o.iter()
                    .filter(|(k, _)| known.is_none_or(|p| !p.contains_key(*k)))
                    .find_map(|(k, v)| match rule {
                        Value::Bool(false) => Some(format!("{at}: {k} is not documented")),
                        Value::Bool(true) => None,
                        sub => violation(doc, sub, v, &format!("{at}.{k}")),
                    })
            }),
            "items" => value.as_array().and_then(|items| {
                items
                    .iter()
                    .enumerate()
                    .find_map(|(i, v)| violation(doc, rule, v, &format!("{at}[{i}]")))
            }),
            "enum" => (!rule.as_array().expect("enum is a list").contains(value))
                .then(|| format!("{at}: {value} is not one of {rule}")),
            "const" => (rule != value).then(|| format!("{at}: {value} is not {rule}")),
            "allOf" => rule
                .as_array()
                .expect("allOf is a list")
                .iter()
                .find_map(|sub| violation(doc, sub, value, at)),
            "oneOf" => {
                let fitting = rule
                    .as_array()
                    .expect("oneOf is a list")
                    .iter()
                    .filter(|sub| violation(doc, sub, value, at).is_none())
                    .count();
                (fitting != 1).then(|| format!("{at}: {fitting} of oneOf fit {value}"))
            }
            "format" => match (rule.as_str(), value.as_str()) {
                (Some("date-time"), Some(text)) => chrono::DateTime::parse_from_rfc3339(text)
                    .is_err()
                    .then(|| format!("{at}: {text:?} is not a date-time")),
                _ => None,
            },
            "minimum" | "maximum" => value.as_f64().and_then(|n| {
                let bound = rule.as_f64().expect("a number");
                let ok = if keyword == "minimum" {
                    n >= bound
                } else {
                    n <= bound
                };
                (!ok).then(|| format!("{at}: {n} breaks {keyword} {bound}"))
            }),
            "minLength" | "maxLength" => value.as_str().and_then(|s| {
                let bound = rule.as_u64().expect("a length") as usize;
                let n = s.chars().count();
                let ok = if keyword == "minLength" {
                    n >= bound
                } else {
                    n <= bound
                };
                (!ok).then(|| format!("{at}: length {n} breaks {keyword} {bound}"))
            }),
            "pattern" => value.as_str().and_then(|text| {
                let pattern = rule.as_str().expect("a pattern");
                let re = regex::Regex::new(pattern)
                    .unwrap_or_else(|e| panic!("{at}: pattern {pattern:?} does not compile: {e}"));
                (!re.is_match(text)).then(|| format!("{at}: {text:?} does not match {pattern}"))
            }),
            "uniqueItems" => value.as_array().and_then(|items| {
                let unique = rule.as_bool().expect("uniqueItems is a boolean");
                let repeated = items
                    .iter()
                    .enumerate()
                    .any(|(i, v)| items[..i].contains(v));
                (unique && repeated).then(|| format!("{at}: an item is repeated in {value}"))
            }),
            "minItems" | "maxItems" => value.as_array().and_then(|items| {
                let bound = rule.as_u64().expect("a count") as usize;
                let ok = if keyword == "minItems" {
                    items.len() >= bound
                } else {
                    items.len() <= bound
                };
                (!ok).then(|| format!("{at}: {} items break {keyword} {bound}", items.len()))
            }),
            other => panic!("{at}: the schema uses {other:?}, which this check does not know"),
        };
        if broken.is_some() {
            return broken;
        }
    }
    None
}

impl Contract {
    pub fn fetch(base: &str) -> Contract {
        let answer = ureq::get(&format!("{base}/openapi.json"))
            .call()
            .expect("GET /openapi.json");
        let doc: Value = answer.into_json().expect("the document is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let contract = Contract {
            doc,
            base: base.to_owned(),
            exercised: RefCell::new(BTreeSet::new()),
        };
        contract
            .exercised
            .borrow_mut()
            .insert(("get".into(), "/openapi.json".into()));
        contract
    }

    /// Every documented operation: (method, path template).
    pub fn operations(&self) -> BTreeSet<(String, String)> {
        let mut all = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                all.insert((method.clone(), path.clone()));
            }
        }
        all
    }

    pub fn exercised(&self) -> BTreeSet<(String, String)> {
        self.exercised.borrow().clone()
    }

    /// Calls documented operation `method template` with `params` in its path, checks the
    /// answer against the document, and returns it.
    pub fn call(
        &self,
        method: &str,
        template: &str,
        params: &[&str],
        query: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Answered {
        let key = method.to_ascii_lowercase();
        let operation = &self.doc["paths"][template][&key];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let mut path = template.to_owned();
        for value in params {
            let open = path.find('{').expect("a parameter left to fill");
            let close = open + path[open..].find('}').unwrap();
            path.replace_range(open..=close, value);
        }
        assert!(!path.contains('{'), "{template}: a parameter was not given");
        // Every query parameter sent is one the operation documents.
        let documented: Vec<&str> = operation["parameters"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for pair in query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            assert!(
                documented.contains(&name),
                "{method} {template}: query parameter {name:?} is not documented ({documented:?})"
            );
        }
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let mut request = agent.request(method, &format!("{}{path}{query}", self.base));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let sent_json = match &body {
            Body::Json(v) => Some(v.clone()),
            _ => None,
        };
        let result = match body {
            Body::None => request.call(),
            Body::Json(v) => request.send_json(v),
            Body::Form(fields) => request.send_form(fields),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let location = response.header("location").map(str::to_owned);
        let set_cookie = response.header("set-cookie").map(str::to_owned);
        let content_type = response.content_type().to_owned();
        let text = response.into_string().unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let answered = Answered {
            status,
            location,
            set_cookie,
            content_type,
            json,
            text,
        };

        let documented = &operation["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {template} answered {status}, which is not documented: {answered:?}"
        );
        match documented["content"].as_object() {
            None => {
                if documented["headers"]["Location"].is_object() {
                    assert!(answered.location.is_some(), "{method} {path}: no Location");
                }
            }
            Some(content) => {
                let media = content.get(&answered.content_type).unwrap_or_else(|| {
                    panic!(
                        "{method} {template} {status} answered {}, documented {:?}",
                        answered.content_type,
                        content.keys().collect::<Vec<_>>()
                    )
                });
                if answered.content_type == "application/json" {
                    if let Some(broken) =
                        violation(&self.doc, &media["schema"], &answered.json, "body")
                    {
                        panic!("{method} {template} {status}: {broken}\n{}", answered.text);
                    }
                }
            }
        }
        // What a successful call sent is what the document says a request may be.
        if (200..300).contains(&status) {
            if let Some(sent) = sent_json {
                let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
                assert!(
                    schema.is_object(),
                    "{method} {template}: no documented request body"
                );
                if let Some(broken) = violation(&self.doc, schema, &sent, "request") {
                    panic!("{method} {template}: the request that worked breaks the document: {broken}");
                }
            }
        }
        self.exercised
            .borrow_mut()
            .insert((key, template.to_owned()));
        answered
    }
}
