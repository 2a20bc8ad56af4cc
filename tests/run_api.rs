//! The HTTP API against its own OpenAPI document: generated requests (good,
//! bad and odd, with and without the token) to a running `tend run` never
//! get a 5xx, and every reply is one the document lists for that route,
//! with a body of the schema it names.

#![cfg(target_os = "linux")]

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

mod run_support;
use run_support::*;

/// Whether `v` fits `schema` (the subset of JSON Schema the document uses:
/// `$ref`, `type` (one or a list), `required`, `properties`, `items`,
/// `additionalProperties: false`).
fn fits(doc: &Value, schema: &Value, v: &Value) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return fits(doc, &doc["components"]["schemas"][name], v);
    }
    let kind = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    };
    match &schema["type"] {
        Value::String(t) if !kind(t) => return Err(format!("{v} is not {t}")),
        Value::Array(ts) if !ts.iter().any(|t| t.as_str().is_some_and(kind)) => {
            return Err(format!("{v} is none of {ts:?}"))
        }
        _ => {}
    }
    if let Some(obj) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return Err(format!("{v} lacks `{r}`"));
            }
        }
        for (k, x) in obj {
            match schema["properties"].get(k) {
                Some(s) => fits(doc, s, x)?,
                None if schema["additionalProperties"] == false => {
                    return Err(format!("`{k}` is not in the schema"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(xs)) = (schema.get("items"), v.as_array()) {
        for x in xs {
            fits(doc, items, x)?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    path: String,
    token: Option<&'static str>,
    content_type: &'static str,
    body: Vec<u8>,
}

fn customer_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("c1".to_string()),
        Just("c2".to_string()),
        Just("a%2Fb".to_string()),
        Just("%E5%B0%8F%E6%9E%97".to_string()),
        Just("x".repeat(300)),
        Just("%00".to_string()),
        Just("%20".to_string()),
        "[a-z0-9]{1,12}",
    ]
}

fn event() -> impl Strategy<Value = String> {
    // Each part is mostly right, so whole events are often accepted too.
    let name = prop_oneof![
        6 => Just("order.paid"),
        1 => Just("order.payed"),
        1 => Just("customer.updated"),
        1 => Just(""),
    ];
    let customer = prop_oneof![
        6 => Just("\"c1\"".to_string()),
        1 => Just("\"\"".to_string()),
        1 => Just("7".to_string()),
        1 => Just(format!("\"{}\"", "y".repeat(300))),
        1 => Just("null".to_string()),
    ];
    let at = prop_oneof![
        6 => Just("\"2026-12-03T10:00:00+08:00\""),
        1 => Just("\"2026-12-03T10:00:00\""),
        1 => Just("\"yesterday\""),
        1 => Just("12"),
    ];
    let data = prop_oneof![
        6 => Just(r#"{"order_id":"A1"}"#),
        1 => Just(r#"{"order_id":7}"#),
        1 => Just(r#"{}"#),
        1 => Just(r#"[1]"#),
    ];
    let id = prop_oneof![
        2 => Just(String::new()),
        6 => "[a-z]{1,3}".prop_map(|s| format!(r#""id":"{s}","#)),
        1 => Just(r#""id":"","#.to_string()),
        1 => Just(r#""id":{},"#.to_string()),
    ];
    let extra = prop_oneof![
        6 => Just(""),
        1 => Just(r#","bogus":1"#),
        1 => Just(r#","attributes":{"name":3}"#)
    ];
    (id, name, customer, at, data, extra).prop_map(|(id, n, c, a, d, x)| {
        format!(r#"{{{id}"name":"{n}","customer":{c},"at":{a},"data":{d}{x}}}"#)
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(event(), 1..4).prop_map(|es| es.join("\n").into_bytes()),
        1 => Just(b"{".to_vec()),
        1 => Just(b"".to_vec()),
        1 => Just(vec![0xff, 0xfe, b'{']),
        1 => Just(br#"{"name":"x"} trailing"#.to_vec()),
        1 => Just(br#"{"name":"Lin","tags":["a"]}"#.to_vec()),
        1 => Just(br#"[1,2,3]"#.to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    let token = prop_oneof![8 => Just(Some("tok-api")), 1 => Just(Some("wrong")), 1 => Just(None)];
    let ct = prop_oneof![
        Just("application/json"),
        Just("application/x-ndjson"),
        Just("text/plain")
    ];
    let route = prop_oneof![
        3 => Just(("POST", "/v1/events".to_string())),
        1 => customer_id().prop_map(|id| ("PUT", format!("/v1/customers/{id}"))),
        1 => customer_id().prop_map(|id| ("PATCH", format!("/v1/customers/{id}"))),
        1 => customer_id().prop_map(|id| ("GET", format!("/v1/customers/{id}"))),
        1 => customer_id().prop_map(|id| ("DELETE", format!("/v1/customers/{id}"))),
        1 => Just(("GET", "/v1/openapi.json".to_string())),
        1 => Just(("GET", "/healthz".to_string())),
        1 => Just(("GET", "/metrics".to_string())),
    ];
    (route, token, ct, body()).prop_map(|((method, path), token, content_type, body)| Call {
        method,
        path,
        token,
        content_type,
        body,
    })
}

/// The document's operation for a request path, by matching its templates.
fn operation<'d>(doc: &'d Value, method: &str, path: &str) -> &'d Value {
    let paths = doc["paths"].as_object().unwrap();
    let template = if path.starts_with("/v1/customers/") {
        "/v1/customers/{id}"
    } else {
        path
    };
    &paths[template][method.to_ascii_lowercase()]
}

#[test]
fn generated_requests_get_only_replies_the_openapi_document_lists() {
    let toml = RUN_TOML.replace(
        "name = \"string\"",
        "name = \"string\"\ntags = \"list<string>?\"",
    );
    let dir = project("api", &toml, RUN_PLAYBOOK);
    let (_child, base) = start(&dir, "tok-api");
    let doc = tend::run::openapi::document();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    // The same cases every run: a failure here is reproducible as it is.
    let mut cases = proptest::test_runner::TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let outcome = cases.run(&call(), |c| {
        let url = format!("{base}{}", c.path);
        let mut resp = match c.method {
            "GET" | "DELETE" => {
                let req = if c.method == "GET" {
                    agent.get(&url)
                } else {
                    agent.delete(&url)
                };
                let req = match c.token {
                    Some(t) => req.header("Authorization", format!("Bearer {t}")),
                    None => req,
                };
                req.call()
            }
            m => {
                let req = match m {
                    "POST" => agent.post(&url),
                    "PUT" => agent.put(&url),
                    _ => agent.patch(&url),
                };
                let req = req.header("Content-Type", c.content_type);
                let req = match c.token {
                    Some(t) => req.header("Authorization", format!("Bearer {t}")),
                    None => req,
                };
                req.send(&c.body[..])
            }
        }
        .unwrap();
        let status = resp.status().as_u16();
        seen.lock().unwrap().insert(status);
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        prop_assert!(status < 500, "{c:?} → {status} {text}");
        let op = operation(&doc, c.method, &c.path);
        prop_assert!(op.is_object(), "{c:?}: no such operation in the document");
        let listed = &op["responses"][status.to_string()];
        prop_assert!(
            listed.is_object(),
            "{c:?} → {status} {text}: not a reply the document lists"
        );
        if let Some(schema) = listed["content"]["application/json"].get("schema") {
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                TestCaseError::fail(format!("{c:?} → {status}: not JSON ({e}): {text}"))
            })?;
            if let Err(e) = fits(&doc, schema, &v) {
                prop_assert!(false, "{c:?} → {status}: {e}");
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    // The generator reaches every kind of reply, not only refusals.
    let seen = seen.into_inner().unwrap();
    for status in [200, 202, 204, 400, 401, 404, 422] {
        assert!(seen.contains(&status), "no {status} among {seen:?}");
    }

    let send = |method: &str, path: &str, body: Vec<u8>| {
        let url = format!("{base}{path}");
        let req = match method {
            "PUT" => agent.put(&url),
            _ => agent.post(&url),
        };
        let mut resp = req
            .header("Authorization", "Bearer tok-api")
            .send(&body[..])
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    };
    // Over 10 MiB: refused before it is read. Only the headers are sent (a
    // client still writing a body the server has refused may see the
    // connection reset before it reads the reply).
    assert_eq!(declared_too_big(&base), 413);
    // An id with a slash (escaped in the path) is an id like any other; one of 300 characters is refused.
    let (status, _) = send(
        "PUT",
        "/v1/customers/a%2Fb",
        r#"{"name":"斜杠"}"#.as_bytes().to_vec(),
    );
    assert_eq!(status, 204);
    let mut resp = agent
        .get(format!("{base}/v1/customers/a%2Fb"))
        .header("Authorization", "Bearer tok-api")
        .call()
        .unwrap();
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["id"], "a/b");
    let (status, text) = send(
        "PUT",
        &format!("/v1/customers/{}", "x".repeat(300)),
        r#"{"name":"长"}"#.as_bytes().to_vec(),
    );
    assert_eq!(status, 422);
    assert!(text.contains("at most 256 characters"), "{text}");
}

/// The status of a POST /v1/events that declares an 11 MiB body and sends none of it.
fn declared_too_big(base: &str) -> u16 {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut tcp = std::net::TcpStream::connect(host).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        tcp,
        "POST /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer tok-api\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        11u64 << 20
    )
    .unwrap();
    let mut reply = [0u8; 64];
    let n = tcp.read(&mut reply).unwrap();
    let head = String::from_utf8_lossy(&reply[..n]);
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}
