//! How a failed command is answered: the one table from [`CommandError`] to the HTTP status of
//! the leaf routes and the JSON-RPC error code and message of `/rpc`.

use crate::compat::commands::CommandError;
use crate::gateway::GatewayError;
use axum::http::StatusCode;

/// What an HTTP leaf route answers a failure with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpAnswer {
    /// A status with the API's one error shape.
    Status(StatusCode),
    /// The original's `503 Gateway not Initialized` with the body `false`.
    NotInitialized,
    /// The original's answer to an order it refused: `200` with the order dict
    /// `{"status": "Error", "errorMsg": …}` (here with the denial's rule, limit and value).
    OrderRefused,
}

/// A failure as each surface answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorClass {
    /// The leaf routes' answer.
    pub http: HttpAnswer,
    /// The JSON-RPC error code.
    pub code: i64,
    /// The JSON-RPC error message (the failure's text goes in `data`).
    pub message: &'static str,
}

const fn class(http: HttpAnswer, code: i64, message: &'static str) -> ErrorClass {
    ErrorClass { http, code, message }
}

/// A request over its user's rate: HTTP `429` with `Retry-After`, this JSON-RPC code and message.
pub const RATE_LIMITED: (i64, &str) = (-32008, "Rate limit exceeded");

/// The answer to a failed command on each surface.
///
/// JSON-RPC codes: -32602 invalid params; the server-error range for the rest: -32001 gateway
/// not initialized, -32002 broker timeout, -32003 adapter error, -32004 symbol not active,
/// -32005 operation refused, -32006 order refused by a risk limit (its `data`: the rule, the
/// limit, the value, the account and the symbol), -32007 forbidden (the caller's role or accounts
/// do not allow it), -32000 anything else. (-32008, a request over the user's rate, is answered
/// before any command runs: see [`RATE_LIMITED`].)
pub fn classify(e: &CommandError) -> ErrorClass {
    use HttpAnswer::{NotInitialized, OrderRefused, Status};
    match e {
        CommandError::Arg(_) => class(Status(StatusCode::BAD_REQUEST), -32602, "Invalid params"),
        CommandError::Failed(_) => class(Status(StatusCode::UNPROCESSABLE_ENTITY), -32000, "Server error"),
        CommandError::Refused(_) | CommandError::Gateway(GatewayError::NoJournal) => {
            class(Status(StatusCode::CONFLICT), -32005, "Operation refused")
        }
        CommandError::Denied(_) => class(OrderRefused, -32006, "Order refused by risk limit"),
        CommandError::Forbidden(_) => class(Status(StatusCode::FORBIDDEN), -32007, "Forbidden"),
        CommandError::Gateway(GatewayError::NotInitialized) => class(NotInitialized, -32001, "Gateway not Initialized"),
        CommandError::Gateway(GatewayError::Timeout(_)) => class(Status(StatusCode::GATEWAY_TIMEOUT), -32002, "Broker timeout"),
        CommandError::Gateway(GatewayError::Adapter(_)) => class(Status(StatusCode::BAD_GATEWAY), -32003, "Adapter error"),
        CommandError::Gateway(GatewayError::NotActive(_)) => class(Status(StatusCode::CONFLICT), -32004, "Symbol not active"),
        CommandError::Gateway(GatewayError::Closed) => class(Status(StatusCode::SERVICE_UNAVAILABLE), -32000, "Server error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::args::ArgError;

    #[test]
    fn every_failure_has_one_answer_per_surface() {
        let arg = CommandError::Arg(ArgError::Missing("symbol"));
        assert_eq!(classify(&arg), class(HttpAnswer::Status(StatusCode::BAD_REQUEST), -32602, "Invalid params"));
        let not_up = CommandError::Gateway(GatewayError::NotInitialized);
        assert_eq!(classify(&not_up).http, HttpAnswer::NotInitialized);
        assert_eq!(classify(&not_up).code, -32001);
        let refused = classify(&CommandError::Refused("busy".into()));
        assert_eq!((refused.http, refused.code), (HttpAnswer::Status(StatusCode::CONFLICT), -32005));
        assert_eq!(classify(&CommandError::Gateway(GatewayError::NoJournal)), refused, "no journal is refused like an operator command");
        assert_eq!(classify(&CommandError::Gateway(GatewayError::Timeout("x"))).http, HttpAnswer::Status(StatusCode::GATEWAY_TIMEOUT));
        assert_eq!(classify(&CommandError::Failed("route".into())).code, -32000);
        let forbidden = CommandError::Forbidden(crate::access::Forbidden::AllAccounts { user: "t".into(), command: "global_cancel".into() });
        assert_eq!((classify(&forbidden).http, classify(&forbidden).code), (HttpAnswer::Status(StatusCode::FORBIDDEN), -32007));
    }
}
