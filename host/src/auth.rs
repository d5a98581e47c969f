//! Authentication, for every surface: the HTTP API (Basic credentials, checked by the `rpc`
//! layer's middleware before any route) and the stream (`auth USER PASSWORD`).
//!
//! The configured user and password are kept only as SHA-256 digests; a caller's credentials
//! are digested and compared with `subtle`, user and password both, without short-circuiting,
//! so neither the timing nor the length of a wrong guess tells anything. Credentials are never
//! logged.

use base64::Engine;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use axum::http;

/// The expected credentials.
#[derive(Clone)]
pub struct Credentials {
    user: [u8; 32],
    password: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(********)")
    }
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

impl Credentials {
    /// Remembers the digests of the expected user and password.
    pub fn new(user: &str, password: &str) -> Self {
        Self { user: digest(user.as_bytes()), password: digest(password.as_bytes()) }
    }

    /// Checks a user and password.
    pub fn matches(&self, user: &[u8], password: &[u8]) -> bool {
        let u = self.user.ct_eq(&digest(user));
        let p = self.password.ct_eq(&digest(password));
        (u & p).into()
    }

    /// Checks a request's `Authorization: Basic` header.
    pub fn check(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((scheme, encoded)) = value.trim().split_once(' ') else { return false };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else { return false };
        self.matches(&decoded[..colon], &decoded[colon + 1..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, v.parse().expect("header"));
        h
    }

    fn basic(user: &str, pass: &str) -> HeaderMap {
        header(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))))
    }

    #[test]
    fn basic_auth() {
        let c = Credentials::new("u", "p:w");
        assert!(c.check(&basic("u", "p:w")), "a colon in the password is allowed");
        assert!(!c.check(&basic("u", "p")));
        assert!(!c.check(&basic("x", "p:w")));
        assert!(!c.check(&HeaderMap::new()));
        assert!(!c.check(&header("Bearer abc")));
        assert!(!c.check(&header("Basic !!!not-base64")));
        assert!(!c.check(&header("Basic dXNlcg==")), "no colon");
        assert_eq!(format!("{c:?}"), "Credentials(********)");
    }
}
