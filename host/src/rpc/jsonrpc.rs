//! JSON-RPC 2.0 on `POST /rpc`: the same commands as methods, with named parameters.
//!
//! Single calls, batches (run in order) and notifications (no `id`, no answer) are supported.
//! Errors use the standard codes: -32700 parse error, -32600 invalid request, -32601 method not
//! found; a command's failure is answered with the code [`super::errors::classify`] gives it
//! (-32602 invalid params, and the server-error range for the gateway's failures). Business
//! answers (e.g. `{"status":"Error","errorMsg":"account unknown"}`) are results, exactly as the
//! HTTP routes return them.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use super::app::App;
use super::body::{read_body, BodyError};
use super::errors::classify;
use super::response::json_status;
use crate::compat::args::Args;
use crate::compat::commands::{self, CommandError};
use axum::body::Body;
use crate::access::Principal;
use axum::extract::{ConnectInfo, Extension, State};
use std::sync::Arc;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use txtrader_plugin_api::model::ConnectionStatus;

fn rpc_error(id: Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let (Some(d), Some(fields)) = (data, error.as_object_mut()) {
        fields.insert("data".into(), d);
    }
    json!({"jsonrpc": "2.0", "error": error, "id": id})
}

/// Handles one HTTP request to `/rpc` (already authenticated).
pub async fn rpc_call(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(principal): Extension<Arc<Principal>>,
    method: Method,
    body: Body,
) -> Response {
    if method != Method::POST {
        let mut r = json_status(
            StatusCode::METHOD_NOT_ALLOWED,
            &rpc_error(Value::Null, -32600, "Invalid Request", Some(json!("JSON-RPC requires POST"))),
        );
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let bytes = match read_body(body, app.max_body, app.body_timeout).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(limit)) => {
            tracing::warn!(%peer, limit, "JSON-RPC request too large");
            return json_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                &rpc_error(Value::Null, -32600, "Invalid Request", Some(json!(format!("request over {limit} bytes")))),
            );
        }
        Err(BodyError::Read(e)) => {
            return json_status(StatusCode::BAD_REQUEST, &rpc_error(Value::Null, -32700, "Parse error", Some(json!(e))));
        }
        Err(BodyError::Timeout(d)) => {
            tracing::warn!(%peer, timeout_s = d.as_secs(), "JSON-RPC request body too slow");
            return json_status(
                StatusCode::REQUEST_TIMEOUT,
                &rpc_error(Value::Null, -32600, "Invalid Request", Some(json!(format!("request body not received within {} s", d.as_secs())))),
            );
        }
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(%peer, cause = %e, "JSON-RPC parse error");
            return json_status(StatusCode::OK, &rpc_error(Value::Null, -32700, "Parse error", Some(json!(e.to_string()))));
        }
    };
    match value {
        Value::Array(items) if items.is_empty() => json_status(
            StatusCode::OK,
            &rpc_error(Value::Null, -32600, "Invalid Request", Some(json!("empty batch"))),
        ),
        Value::Array(items) => {
            let mut answers = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                // the request took one from the user's rate; each further call takes its own
                let within = i == 0 || app.access.limiter.take(&principal).is_ok();
                let answer = if within { call(&app, peer, &principal, item).await } else { limited(&item) };
                if let Some(a) = answer {
                    answers.push(a);
                }
            }
            if answers.is_empty() { no_content() } else { json_status(StatusCode::OK, &Value::Array(answers)) }
        }
        single => match call(&app, peer, &principal, single).await {
            Some(a) => json_status(StatusCode::OK, &a),
            None => no_content(),
        },
    }
}

fn no_content() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// A batch call over the user's rate: its own error, `None` for a notification.
fn limited(item: &Value) -> Option<Value> {
    let id = item.get("id")?.clone();
    let (code, message) = super::errors::RATE_LIMITED;
    Some(rpc_error(id, code, message, Some(json!("this call of the batch is over the user's request rate"))))
}

/// One request object; `None` for a notification.
async fn call(app: &App, peer: SocketAddr, principal: &Arc<Principal>, item: Value) -> Option<Value> {
    let Value::Object(obj) = item else {
        return Some(rpc_error(Value::Null, -32600, "Invalid Request", Some(json!("a request must be an object"))));
    };
    let id = obj.get("id").cloned();
    let reply_id = match &id {
        None | Some(Value::Null | Value::String(_) | Value::Number(_)) => id.clone().unwrap_or(Value::Null),
        Some(_) => {
            return Some(rpc_error(Value::Null, -32600, "Invalid Request", Some(json!("id must be a string, number or null"))));
        }
    };
    if obj.get("jsonrpc") != Some(&Value::from("2.0")) {
        return Some(rpc_error(reply_id, -32600, "Invalid Request", Some(json!("jsonrpc must be \"2.0\""))));
    }
    let Some(Value::String(method)) = obj.get("method") else {
        return Some(rpc_error(reply_id, -32600, "Invalid Request", Some(json!("method must be a string"))));
    };
    let notification = id.is_none();
    let answer = |v: Value| if notification { None } else { Some(v) };
    let params = match obj.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return answer(rpc_error(reply_id, -32602, "Invalid params", Some(json!("params must be an object (named parameters)"))));
        }
    };
    let Some(spec) = commands::find(method) else {
        tracing::warn!(%peer, method, "JSON-RPC method not found");
        return answer(rpc_error(reply_id, -32601, "Method not found", Some(json!(method))));
    };
    if !spec.before_init && app.gateway.status() != ConnectionStatus::Up {
        return answer(rpc_error(reply_id, -32001, "Gateway not Initialized", None));
    }
    let mut args = Args::from_map(params);
    if app.log.http_requests {
        tracing::info!("RPC--> {peer} {} {} {}", principal.name, spec.name, args.redacted());
    }
    args.insert("client", Value::from(peer.to_string()));
    match commands::call(spec, app.ctx(peer, principal.clone()), args).await {
        Ok(result) => answer(json!({"jsonrpc": "2.0", "result": result, "id": reply_id})),
        Err(e) => {
            tracing::warn!(method = spec.name, error = %e, "JSON-RPC call failed");
            let class = classify(&e);
            let data = match &e {
                CommandError::Denied(d) => json!({"message": e.to_string(), "rule": d.rule, "limit": d.limit, "value": d.value, "account": d.account, "symbol": d.symbol}),
                _ => json!(e.to_string()),
            };
            answer(rpc_error(reply_id, class.code, class.message, Some(data)))
        }
    }
}
