//! What a caller presents: the legacy `TXTRADER_USERNAME`/`PASSWORD` pair (kept only as SHA-256
//! digests, compared with `subtle`, user and password both, without short-circuiting, so neither
//! the timing nor the length of a wrong guess tells anything) and the `Authorization` header's
//! Basic and Bearer forms. Credentials are never logged.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use axum::http::{self, HeaderMap};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The legacy pair's expected credentials.
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

/// SHA-256 of `s`.
pub fn digest(s: &[u8]) -> [u8; 32] {
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
}

/// What an `Authorization` header presents.
#[derive(PartialEq, Eq)]
pub enum Presented {
    /// Nothing (no header).
    Nothing,
    /// `Basic` user and password.
    Basic {
        /// The user.
        user: Vec<u8>,
        /// The password.
        password: Vec<u8>,
    },
    /// `Bearer` token.
    Bearer(Vec<u8>),
    /// A header that is neither.
    Malformed,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Nothing => "Nothing",
            Self::Basic { .. } => "Basic(********)",
            Self::Bearer(_) => "Bearer(********)",
            Self::Malformed => "Malformed",
        })
    }
}

impl Presented {
    /// Reads a request's `Authorization` header.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else { return Self::Nothing };
        let Ok(value) = value.to_str() else { return Self::Malformed };
        let Some((scheme, rest)) = value.trim().split_once(' ') else { return Self::Malformed };
        if scheme.eq_ignore_ascii_case("bearer") {
            let token = rest.trim();
            return if token.is_empty() { Self::Malformed } else { Self::Bearer(token.as_bytes().to_vec()) };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Self::Malformed;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else { return Self::Malformed };
        let mut parts = decoded.splitn(2, |b| *b == b':');
        let (Some(user), Some(password)) = (parts.next(), parts.next()) else { return Self::Malformed };
        Self::Basic { user: user.to_vec(), password: password.to_vec() }
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
    fn legacy_pair() {
        let c = Credentials::new("u", "p:w");
        assert!(c.matches(b"u", b"p:w"));
        assert!(!c.matches(b"u", b"p"));
        assert!(!c.matches(b"x", b"p:w"));
        assert_eq!(format!("{c:?}"), "Credentials(********)");
    }

    #[test]
    fn header_forms() {
        assert_eq!(Presented::from_headers(&basic("u", "p:w")), Presented::Basic { user: b"u".to_vec(), password: b"p:w".to_vec() });
        assert_eq!(Presented::from_headers(&HeaderMap::new()), Presented::Nothing);
        assert_eq!(Presented::from_headers(&header("Bearer abc")), Presented::Bearer(b"abc".to_vec()));
        assert_eq!(Presented::from_headers(&header("bearer   ")), Presented::Malformed);
        assert_eq!(Presented::from_headers(&header("Basic !!!not-base64")), Presented::Malformed);
        assert_eq!(Presented::from_headers(&header("Basic dXNlcg==")), Presented::Malformed, "no colon");
        assert_eq!(Presented::from_headers(&header("Digest x")), Presented::Malformed);
        assert_eq!(format!("{:?}", Presented::from_headers(&basic("u", "secret"))), "Basic(********)");
    }
}
