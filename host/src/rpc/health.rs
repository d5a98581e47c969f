//! Health probes for supervisors, orchestrators and load balancers, answered without
//! credentials: `/healthz` (the process answers HTTP) and `/readyz` (the gateway is `Up`, its
//! core and journal writer answer — a journal that cannot be written stops the process — and
//! every adapter instance is linked to its broker). Each answers one word and its status code
//! (200, or 503 when not ready), nothing else about the gateway.

use super::App;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;
use txtrader_plugin_api::model::ConnectionStatus;

/// How long the readiness check may wait on the gateway's core.
const READY_WAIT: Duration = Duration::from_secs(2);

/// `GET /healthz`.
pub async fn live() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok")
}

/// `GET /readyz`.
pub async fn ready(State(app): State<App>) -> (StatusCode, &'static str) {
    let check = async {
        app.gateway.status() == ConnectionStatus::Up
            && app.gateway.journal().await.is_ok()
            && app.gateway.adapters().await.is_ok_and(|(adapters, _)| adapters.iter().all(|a| a.state == "ready"))
    };
    match tokio::time::timeout(READY_WAIT, check).await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) | Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready"),
    }
}
