//! HTTP responses: the JSON success body, and the one error shape of the whole API.
//!
//! Every error answers `{"status": "Error", "errorMsg": ..., "command": ...}` with a precise
//! status code, except the two bodies existing clients know: `401 {"status":"Unauthorized"}` and
//! `503 Gateway not Initialized` with the body `false`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

fn with_body(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `200` with a JSON value already serialized.
pub fn json_body(body: Vec<u8>) -> Response {
    with_body(StatusCode::OK, body)
}

/// A JSON value with any status.
pub fn json_status(status: StatusCode, value: &Value) -> Response {
    with_body(status, serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()))
}

/// An error in the API's one shape.
pub fn error(status: StatusCode, message: &str, command: Option<&str>) -> Response {
    let body = match command {
        Some(c) => json!({"status": "Error", "errorMsg": message, "command": c}),
        None => json!({"status": "Error", "errorMsg": message}),
    };
    json_status(status, &body)
}

/// `401`, as the original answered it (no `WWW-Authenticate`: clients send credentials
/// pre-emptively).
pub fn unauthorized() -> Response {
    json_status(StatusCode::UNAUTHORIZED, &json!({"status": "Unauthorized"}))
}

/// `503 Gateway not Initialized` with the body `false`.
pub fn not_initialized() -> Response {
    let mut r = json_status(StatusCode::SERVICE_UNAVAILABLE, &Value::Bool(false));
    r.extensions_mut().insert(hyper::ext::ReasonPhrase::from_static(b"Gateway not Initialized"));
    r
}

/// `429` with `Retry-After` (whole seconds, at least 1): in the API's error shape on the leaf
/// routes, as a JSON-RPC error on `/rpc`.
pub fn too_many(limited: &crate::access::Limited, rpc: bool) -> Response {
    let message = limited.to_string();
    let body = if rpc {
        let (code, text) = super::errors::RATE_LIMITED;
        json!({"jsonrpc": "2.0", "error": {"code": code, "message": text, "data": message}, "id": null})
    } else {
        json!({"status": "Error", "errorMsg": message})
    };
    let mut r = json_status(StatusCode::TOO_MANY_REQUESTS, &body);
    let secs = limited.retry_after.as_secs_f64().ceil().max(1.0);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
    r
}
