//! The txTrader HTTP API: one leaf route per command, GET or POST alike.
//!
//! Only the first path segment counts (`/status`, `/status/x` both run `status`). The request
//! is already authenticated (see [`super::RequireAuth`]); the command is looked up, its
//! arguments read (the query string for GET, a JSON object body for POST), the initialization
//! gate applied, and the shared command handler run. Each failure gets a precise status and the
//! API's one error shape, is logged once, and affects nothing but its own request.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use super::app::App;
use super::body::{read_body, BodyError};
use super::errors::{classify, HttpAnswer};
use super::response::{self, error, json_body};
use crate::compat::args::Args;
use crate::compat::commands::{self, CommandError};
use crate::access::Principal;
use axum::extract::{ConnectInfo, Extension, Request, State};
use std::sync::Arc;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::net::SocketAddr;
use txtrader_plugin_api::model::ConnectionStatus;

/// Maps a command failure to a response (forcing a shutdown first when
/// `TXTRADER_ENABLE_EXCEPTION_HALT` is on and the request was at fault).
pub async fn command_error(app: &App, name: &str, e: &CommandError) -> Response {
    let status = match classify(e).http {
        HttpAnswer::Status(status) => status,
        HttpAnswer::NotInitialized => return response::not_initialized(),
        HttpAnswer::OrderRefused => {
            tracing::info!(command = name, error = %e, "order refused");
            return response::json_status(StatusCode::OK, &refused_order(e));
        }
    };
    tracing::warn!(command = name, error = %e, "command failed");
    if app.compat.flags.exception_halt && matches!(e, CommandError::Arg(_) | CommandError::Failed(_)) {
        app.gateway.force_shutdown(format!("{e} raised in {name} with TXTRADER_ENABLE_EXCEPTION_HALT set")).await;
    }
    error(status, &e.to_string(), Some(name))
}

/// The original's order dict for a refused order, with the denial's particulars under `risk`.
fn refused_order(e: &CommandError) -> Value {
    let mut out = serde_json::json!({"status": "Error", "errorMsg": e.to_string()});
    if let (CommandError::Denied(d), Some(fields)) = (e, out.as_object_mut()) {
        fields.insert("risk".into(), serde_json::to_value(d).unwrap_or(Value::Null));
    }
    out
}

/// The fallback handler: every path but `/rpc`.
pub async fn leaf(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(principal): Extension<Arc<Principal>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let name = parts.uri.path().trim_start_matches('/').split('/').next().unwrap_or_default().to_owned();
    let Some(spec) = commands::find(&name) else {
        tracing::warn!(%peer, path = %parts.uri.path(), "unknown command");
        return error(StatusCode::NOT_FOUND, &format!("no such command: {name:?}"), None);
    };
    let mut args = match parts.method {
        Method::GET | Method::HEAD => Args::from_query(parts.uri.query().unwrap_or_default()),
        Method::POST => match read_body(body, app.max_body, app.body_timeout).await {
            Err(BodyError::TooLarge(limit)) => {
                tracing::warn!(%peer, command = spec.name, limit, "request body too large");
                return error(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body over {limit} bytes"), Some(spec.name));
            }
            Err(BodyError::Read(e)) => {
                tracing::warn!(%peer, command = spec.name, cause = %e, "cannot read request body");
                return error(StatusCode::BAD_REQUEST, &format!("cannot read request body: {e}"), Some(spec.name));
            }
            Err(BodyError::Timeout(d)) => {
                tracing::warn!(%peer, command = spec.name, timeout_s = d.as_secs(), "request body too slow");
                return error(StatusCode::REQUEST_TIMEOUT, &format!("request body not received within {} s", d.as_secs()), Some(spec.name));
            }
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Args::from_map(map),
                Ok(other) => {
                    let kind = match other {
                        Value::Array(_) => "an array",
                        Value::String(_) => "a string",
                        Value::Number(_) => "a number",
                        Value::Bool(_) => "a boolean",
                        _ => "null",
                    };
                    tracing::warn!(%peer, command = spec.name, "POST body is not a JSON object");
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("POST body must be a JSON object, got {kind}"),
                        Some(spec.name),
                    );
                }
                Err(e) => {
                    tracing::warn!(%peer, command = spec.name, cause = %e, "POST body is not JSON");
                    return error(StatusCode::BAD_REQUEST, &format!("POST body is not valid JSON: {e}"), Some(spec.name));
                }
            },
        },
        other => {
            tracing::warn!(%peer, command = spec.name, method = %other, "unsupported method");
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("method {other} not supported; use GET or POST"),
                Some(spec.name),
            );
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
            return r;
        }
    };
    if !spec.before_init && app.gateway.status() != ConnectionStatus::Up {
        return response::not_initialized();
    }
    if app.log.http_requests {
        tracing::info!("{}--> {peer} {} /{} {}", parts.method, principal.name, spec.name, args.redacted());
    }
    args.insert("client", Value::from(peer.to_string()));
    match commands::call(spec, app.ctx(peer, principal), args).await {
        Ok(value) => {
            // serialized once: the body, and the log line's beginning of it
            let body = serde_json::to_vec(&value).unwrap_or_else(|_| b"null".to_vec());
            if app.log.http_responses {
                let text = String::from_utf8_lossy(&body);
                let cut = app.log.response_truncate.min(text.len());
                let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
                let more = if cut < text.len() { "..." } else { "" };
                tracing::info!("<--[200] {} {}{more}", text.len(), &text[..cut]);
            }
            json_body(body)
        }
        Err(e) => command_error(&app, spec.name, &e).await,
    }
}
