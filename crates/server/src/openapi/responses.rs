//! The shapes of the answers, added to the generated document: every error answer gets its
//! dialect's JSON body (`{error}`, seed 001's `{detail}`, seed 002's `{success, error, code}`),
//! and the JSON success answers that the handlers build with `json!` get their schema here, so
//! that a client (or schemathesis, `scripts/schemathesis`) can check every answer against the
//! document. The statuses every endpoint can answer whatever its own code does (a body over the
//! limit, a busy writer, a bad path or query) are listed on each operation too.

use serde_json::{json, Value};

/// `{error}`: hookledger's own APIs and seeds 000 and 003, Stripe.
fn error_schema() -> Value {
    json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}})
}

/// The error body of the operation at `path`, in its dialect's shape.
fn error_schema_of(path: &str) -> Value {
    if path.starts_with("/api/v2/webhooks/") {
        return json!({"type": "object", "required": ["detail"],
            "properties": {"detail": {"type": "string"}}});
    }
    if path == "/functions/v1/webhook-receiver" {
        return json!({"type": "object", "required": ["success", "error", "code"],
            "properties": {"success": {"const": false}, "error": {"type": "string"},
                "code": {"type": "string"}}});
    }
    error_schema()
}

fn string() -> Value {
    json!({"type": "string"})
}
fn nullable_string() -> Value {
    json!({"type": ["string", "null"]})
}
fn integer() -> Value {
    json!({"type": "integer"})
}
fn nullable_integer() -> Value {
    json!({"type": ["integer", "null"]})
}

/// An object schema with these required properties.
fn object(properties: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    let properties: serde_json::Map<String, Value> = properties
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    json!({"type": "object", "required": required, "properties": properties})
}

fn array_of(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn subscription() -> Value {
    object(&[
        ("id", string()),
        ("url", string()),
        ("event", string()),
        ("ordered", json!({"type": "boolean"})),
        ("status", string()),
        ("status_reason", nullable_string()),
        ("created_at", string()),
        ("created_after_seq", integer()),
    ])
}

fn delivery() -> Value {
    object(&[
        ("id", string()),
        ("event", string()),
        (
            "status",
            json!({"enum": ["pending", "delivered", "dead", "skipped"]}),
        ),
        ("attempts", integer()),
        ("last_error", nullable_string()),
        ("last_status_code", nullable_integer()),
        ("destination", string()),
        ("subscription_id", nullable_string()),
        ("outbox_id", string()),
        ("seq", integer()),
        ("stream", string()),
        ("next_attempt_at", nullable_string()),
    ])
}

/// The success bodies built with `json!` in the handlers, by (method, path, status).
fn success_schema(method: &str, path: &str, status: &str) -> Option<Value> {
    let minor = |name: &'static str| (name, integer());
    let schema = match (method, path, status) {
        ("get", "/api/digest", "200") => object(&[(
            "digest",
            json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
        )]),
        ("get", "/api/verify", "200") => json!({"oneOf": [
            object(&[("ok", json!({"const": true})), ("head_seq", integer()), ("head_hash", nullable_string())]),
            object(&[("ok", json!({"const": false})), ("first_bad_seq", integer()), ("reason", string())]),
        ]}),
        ("post", "/api/v1/tenant/tokens", "201") => object(&[
            ("token", string()),
            ("role", json!({"enum": ["auditor", "admin"]})),
        ]),
        ("get", "/api/ledger/trial-balance", "200") => object(&[
            (
                "accounts",
                array_of(object(&[
                    ("account", string()),
                    ("currency", string()),
                    minor("debit_minor"),
                    minor("credit_minor"),
                    minor("balance_minor"),
                ])),
            ),
            (
                "totals",
                array_of(object(&[
                    ("currency", string()),
                    minor("debit_minor"),
                    minor("credit_minor"),
                ])),
            ),
            minor("total_debit_minor"),
            minor("total_credit_minor"),
        ]),
        ("post", "/api/v1/tenant/webhooks/subscriptions", "201") => object(&[
            ("id", string()),
            ("url", string()),
            ("event", string()),
            ("secret", string()),
            ("created_at", string()),
            ("ordered", json!({"type": "boolean"})),
            ("status", string()),
        ]),
        ("get", "/api/v1/tenant/webhooks/subscriptions", "200") => {
            object(&[("subscriptions", array_of(subscription()))])
        }
        ("post", "/api/v1/tenant/webhooks/subscriptions/{id}/rotate-secret", "200") => object(&[
            ("id", string()),
            ("secret", string()),
            ("previous_secret_expires_at", nullable_string()),
        ]),
        ("post", "/api/v1/tenant/webhooks/subscriptions/{id}/redeliver", "202") => object(&[
            ("requeued", integer()),
            ("created", integer()),
            ("pending", integer()),
            ("next_since_seq", nullable_integer()),
        ]),
        ("get", "/api/v1/tenant/webhooks/deliveries", "200") => {
            object(&[("deliveries", array_of(delivery()))])
        }
        ("get", "/api/v1/tenant/webhooks/deliveries/{id}", "200") => {
            let mut one = delivery();
            one["properties"]["body"] = string();
            one["properties"]["attempt_history"] = array_of(object(&[
                ("attempt", integer()),
                ("started_at", string()),
                ("duration_ms", json!({"type": "number"})),
                ("outcome", string()),
                ("status_code", nullable_integer()),
                ("response_body", nullable_string()),
                ("error", nullable_string()),
            ]));
            one
        }
        ("post", "/api/v1/tenant/webhooks/deliveries/{id}/retry", "202") => {
            object(&[("id", string()), ("status", json!({"const": "pending"}))])
        }
        ("post", "/api/webhooks/order-status", "200") => object(&[
            ("success", json!({"const": true})),
            ("orderId", string()),
            ("status", string()),
            ("accountingStatus", string()),
            ("workOrderId", nullable_string()),
        ]),
        ("post", "/api/v2/webhooks/orders", "200") => object(&[
            ("success", json!({"const": true})),
            ("message", string()),
            ("order_id", integer()),
            ("order_number", string()),
        ]),
        ("post", "/api/vendor/order-updates", "200") => {
            object(&[("success", json!({"const": true})), ("message", string())])
        }
        ("post", "/api/webhooks/stripe", "200") => object(&[("received", json!({"const": true}))]),
        ("post", "/functions/v1/webhook-receiver", "200") => {
            object(&[("success", json!({"const": true}))])
        }
        ("post", "/api/external/webhook-test", "200") => object(&[
            ("success", json!({"const": true})),
            ("message", string()),
            ("webhookUrl", string()),
        ]),
        ("post", "/api/external/webhook-test", "502") => object(&[
            ("success", json!({"const": false})),
            ("error", string()),
            ("webhookUrl", string()),
        ]),
        _ => return None,
    };
    Some(schema)
}

/// Statuses any operation may answer besides its own: a path or query that does not parse
/// (400); for writes, a body over the limit (413) and a busy writer or an unset secret (503).
fn common_statuses(method: &str, path: &str) -> Vec<(&'static str, &'static str)> {
    let mut statuses = Vec::new();
    if path.contains('{') || path.starts_with("/api/") {
        statuses.push(("400", "a path segment or query string that does not parse"));
    }
    if method == "post" {
        statuses.push(("413", "the body is over `body_limit_bytes`"));
        statuses.push((
            "503",
            "the ledger is busy (`Retry-After`) or a required secret is not set",
        ));
    }
    statuses
}

/// Fills in the bodies of one operation's answers.
fn describe(method: &str, path: &str, operation: &mut Value) {
    let public = operation.get("security").is_none();
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, description) in common_statuses(method, path) {
        if public && status == "400" && !path.contains('{') && !path.starts_with("/api/") {
            continue;
        }
        responses
            .entry(status)
            .or_insert_with(|| json!({ "description": description }));
    }
    if !public {
        responses
            .entry("401")
            .or_insert_with(|| json!({ "description": "no or unknown bearer token" }));
    }
    for (status, response) in responses.iter_mut() {
        if response.get("content").is_some() {
            continue;
        }
        let schema = match success_schema(method, path, status) {
            Some(schema) => schema,
            None if status.starts_with('4') || status.starts_with('5') => error_schema_of(path),
            None => continue,
        };
        response["content"] = json!({ "application/json": { "schema": schema } });
    }
}

/// The generated document with [`describe`] applied to every operation.
pub fn describe_all(mut document: Value) -> Value {
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                describe(method, path, operation);
            }
        }
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (method, path, status) the table names, so that an entry cannot go stale.
    const TABLE: [(&str, &str, &str); 19] = [
        ("get", "/api/digest", "200"),
        ("get", "/api/verify", "200"),
        ("post", "/api/v1/tenant/tokens", "201"),
        ("get", "/api/ledger/trial-balance", "200"),
        ("post", "/api/v1/tenant/webhooks/subscriptions", "201"),
        ("get", "/api/v1/tenant/webhooks/subscriptions", "200"),
        (
            "post",
            "/api/v1/tenant/webhooks/subscriptions/{id}/rotate-secret",
            "200",
        ),
        (
            "post",
            "/api/v1/tenant/webhooks/subscriptions/{id}/redeliver",
            "202",
        ),
        ("get", "/api/v1/tenant/webhooks/deliveries", "200"),
        ("get", "/api/v1/tenant/webhooks/deliveries/{id}", "200"),
        (
            "post",
            "/api/v1/tenant/webhooks/deliveries/{id}/retry",
            "202",
        ),
        ("post", "/api/webhooks/order-status", "200"),
        ("post", "/api/v2/webhooks/orders", "200"),
        ("post", "/api/vendor/order-updates", "200"),
        ("post", "/api/webhooks/stripe", "200"),
        ("post", "/functions/v1/webhook-receiver", "200"),
        ("post", "/api/external/webhook-test", "200"),
        ("post", "/api/external/webhook-test", "502"),
        ("get", "/api/events/{seq}", "400"),
    ];

    #[test]
    fn every_answer_of_the_table_exists_and_every_error_has_a_json_body() {
        let document = crate::openapi::document();
        for (method, path, status) in TABLE {
            let response = &document["paths"][path][method]["responses"][status];
            assert!(
                response["content"]["application/json"]["schema"].is_object(),
                "{method} {path} {status}: {response}"
            );
        }
        let paths = document["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("item") {
                // The console's pages answer their own errors as HTML (a browser shows them); what
                // the framework refuses before a page runs (413, 503) is JSON like everywhere.
                if operation["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|t| t == "console"))
                {
                    for (status, response) in operation["responses"].as_object().expect("responses")
                    {
                        if status.starts_with('4') || status.starts_with('5') {
                            assert!(
                                response["content"]["text/html"].is_object()
                                    || response["content"]["application/json"]["schema"]
                                        ["required"]
                                        .is_array(),
                                "{method} {path} {status}: a console page's error is HTML or JSON"
                            );
                        }
                    }
                    continue;
                }
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            response["content"]["application/json"]["schema"]["required"]
                                .is_array(),
                            "{method} {path} {status} has no error body"
                        );
                    }
                }
                if method == "post" {
                    for status in ["413", "503"] {
                        assert!(
                            operation["responses"][status].is_object(),
                            "{method} {path} lacks {status}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn each_dialect_has_its_own_error_shape() {
        assert_eq!(
            error_schema_of("/api/v2/webhooks/orders")["required"],
            json!(["detail"])
        );
        assert_eq!(
            error_schema_of("/functions/v1/webhook-receiver")["required"],
            json!(["success", "error", "code"])
        );
        assert_eq!(error_schema_of("/api/events")["required"], json!(["error"]));
    }
}
