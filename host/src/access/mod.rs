//! Access control for every surface: who a caller is and what it may do.
//!
//! A caller signs in with the legacy `TXTRADER_USERNAME`/`PASSWORD` pair (one user with every
//! role, so existing clients and deployments work unchanged), a user of the users file (password,
//! bearer token or client certificate), and then runs as a [`Principal`]. Each command belongs to
//! one class in the command table (`compat::commands`), which is a role; HTTP routes, JSON-RPC
//! methods and stream commands all run commands, so that table classifies all three. Orders and
//! cancels are further held to the principal's accounts.
//!
//! # Layout
//! - [`roles`]: roles, principals and the decision between them.
//! - [`users`]: the users file.
//! - [`credentials`]: the legacy pair and the `Authorization` header.
//! - [`authenticator`]: passwords, tokens, certificates → principals.
//! - [`rate`]: per-user request rates.

pub mod authenticator;
pub mod credentials;
pub mod rate;
pub mod roles;
pub mod users;

pub use authenticator::Authenticator;
pub use rate::{Limited, RateLimiter};
pub use roles::{Class, Forbidden, Principal, Role};

/// What the listeners share to admit a caller: who it is, and whether it is within its rate.
#[derive(Clone, Debug)]
pub struct Access {
    /// Credentials → principal.
    pub authenticator: Authenticator,
    /// Per-user rates.
    pub limiter: RateLimiter,
}

impl Access {
    /// The legacy pair only, no rate limits (tests and embedders).
    pub fn legacy(user: &str, password: &str) -> Self {
        Self { authenticator: Authenticator::legacy(user, password), limiter: RateLimiter::default() }
    }
}
