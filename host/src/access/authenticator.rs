//! Deciding who a caller is, for every surface: a password (HTTP Basic, stream `auth`), a bearer
//! token, or a verified client certificate, against the legacy pair and the users file.
//!
//! Passwords of the users file are argon2 hashes: checking one costs tens of milliseconds of CPU
//! on purpose, so it runs on the blocking pool, at most as many at once as there are cores, and
//! a password once verified is remembered under a keyed digest (a secret of this process) so a
//! client that sends Basic credentials with every request pays once. Wrong passwords are never
//! remembered: each guess costs the full hash. An unknown user is checked against a fixed hash
//! all the same, so the time of an answer does not tell whether the user exists. A reload of the
//! users file forgets everything remembered.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use super::credentials::{digest, Credentials, Presented};
use super::roles::Principal;
use super::users::Users;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// A hash of a password nobody knows, checked for unknown users.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZGVjb3lkZWNveWRlY295$5v0nQbQX3E5Lb7HfMmfmmxBCu3aP1cGb2Q8m9CEuRs0";

/// Most verified passwords remembered; past it the memory is cleared and refilled.
const REMEMBERED: usize = 4096;

/// Most password checks waiting or running; past it a check is refused at once.
const MAX_PENDING_CHECKS: usize = 256;

/// Everyone who may sign in.
#[derive(Debug, Default)]
struct Directory {
    legacy: Option<(Credentials, Arc<Principal>)>,
    users: HashMap<String, (Option<String>, Arc<Principal>)>,
    tokens: HashMap<[u8; 32], Arc<Principal>>,
    certificates: HashMap<String, Arc<Principal>>,
}

impl Directory {
    fn new(legacy: Option<(&str, &str)>, users: Users) -> Self {
        let mut d = Self {
            legacy: legacy.map(|(u, p)| (Credentials::new(u, p), Arc::new(Principal::superuser(u)))),
            ..Self::default()
        };
        for (name, user) in users.users {
            let principal = Arc::new(user.principal);
            for t in user.tokens {
                d.tokens.insert(t, principal.clone());
            }
            if let Some(c) = user.certificate {
                d.certificates.insert(c, principal.clone());
            }
            d.users.insert(name, (user.password_hash, principal));
        }
        d
    }
}

/// The authenticator, shared by the listeners (cheap to clone).
#[derive(Clone, Debug)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    directory: RwLock<Arc<Directory>>,
    /// Keys the digests of remembered passwords.
    secret: [u8; 32],
    remembered: Mutex<HashMap<[u8; 32], Arc<Principal>>>,
    checks: tokio::sync::Semaphore,
    pending: AtomicUsize,
}

impl Authenticator {
    /// The legacy pair (when it is enabled) and the users.
    pub fn new(legacy: Option<(&str, &str)>, users: Users) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            inner: Arc::new(Inner {
                directory: RwLock::new(Arc::new(Directory::new(legacy, users))),
                secret: random32(),
                remembered: Mutex::new(HashMap::new()),
                checks: tokio::sync::Semaphore::new(cores),
                pending: AtomicUsize::new(0),
            }),
        }
    }

    /// Only the legacy pair (tests and embedders).
    pub fn legacy(user: &str, password: &str) -> Self {
        Self::new(Some((user, password)), Users::default())
    }

    fn directory(&self) -> Arc<Directory> {
        self.inner.directory.read().map_or_else(|p| p.into_inner().clone(), |d| d.clone())
    }

    /// Replaces the users (a reloaded users file), keeping the legacy pair; forgets every
    /// remembered password.
    pub fn replace_users(&self, users: Users) {
        let legacy = self.directory().legacy.clone();
        let mut next = Directory::new(None, users);
        next.legacy = legacy;
        match self.inner.directory.write() {
            Ok(mut d) => *d = Arc::new(next),
            Err(p) => *p.into_inner() = Arc::new(next),
        }
        self.forget();
    }

    fn forget(&self) {
        match self.inner.remembered.lock() {
            Ok(mut m) => m.clear(),
            Err(p) => p.into_inner().clear(),
        }
    }

    fn key(&self, user: &[u8], password: &[u8]) -> [u8; 32] {
        let mut buf = Vec::with_capacity(user.len().saturating_add(password.len()).saturating_add(40));
        buf.extend_from_slice(&self.inner.secret);
        buf.extend_from_slice(&(user.len() as u64).to_le_bytes());
        buf.extend_from_slice(user);
        buf.extend_from_slice(password);
        digest(&buf)
    }

    /// Checks a user and password: the legacy pair, then the users file.
    pub async fn password(&self, user: &[u8], password: &[u8]) -> Option<Arc<Principal>> {
        let dir = self.directory();
        if let Some((legacy, principal)) = &dir.legacy {
            if legacy.matches(user, password) {
                return Some(principal.clone());
            }
        }
        let key = self.key(user, password);
        let known = self.inner.remembered.lock().ok().and_then(|m| m.get(&key).cloned());
        if known.is_some() {
            return known;
        }
        let entry = std::str::from_utf8(user).ok().and_then(|u| dir.users.get(u)).cloned();
        let (hash, principal) = match entry {
            Some((Some(hash), principal)) => (hash, Some(principal)),
            // no such user, or one without a password: the same work, then no
            _ => (DECOY.to_owned(), None),
        };
        if self.inner.pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_CHECKS {
            self.inner.pending.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(max = MAX_PENDING_CHECKS, "password check refused: too many in progress");
            return None;
        }
        let verified = {
            let _permit = self.inner.checks.acquire().await.ok();
            let password = password.to_vec();
            tokio::task::spawn_blocking(move || {
                PasswordHash::new(&hash).is_ok_and(|h| argon2::Argon2::default().verify_password(&password, &h).is_ok())
            })
            .await
            .unwrap_or(false)
        };
        self.inner.pending.fetch_sub(1, Ordering::AcqRel);
        let principal = principal.filter(|_| verified)?;
        if let Ok(mut m) = self.inner.remembered.lock() {
            if m.len() >= REMEMBERED {
                m.clear();
            }
            m.insert(key, principal.clone());
        }
        Some(principal)
    }

    /// Checks a bearer token (stored as its SHA-256 digest; a token is random, so its digest
    /// alone finds it).
    pub fn token(&self, token: &[u8]) -> Option<Arc<Principal>> {
        self.directory().tokens.get(&digest(token)).cloned()
    }

    /// The user a verified client certificate's subject CN names, if any.
    pub fn certificate(&self, common_name: &str) -> Option<Arc<Principal>> {
        self.directory().certificates.get(common_name).cloned()
    }

    /// Whether any user or the legacy pair signs in by certificate.
    pub fn has_certificates(&self) -> bool {
        !self.directory().certificates.is_empty()
    }

    /// Who an HTTP request's `Authorization` header names, if anyone: Basic or Bearer.
    pub async fn presented(&self, presented: Presented) -> Option<Arc<Principal>> {
        match presented {
            Presented::Basic { user, password } => self.password(&user, &password).await,
            Presented::Bearer(token) => self.token(&token),
            Presented::Nothing | Presented::Malformed => None,
        }
    }
}

/// 32 bytes from the system's random source (two version-4 UUIDs: 244 random bits).
fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// A new bearer token: 32 random bytes in hex, and the form the users file stores.
pub fn new_token() -> (String, String) {
    let bytes = random32();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let stored: String = digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    (token, format!("sha256:{stored}"))
}

/// Hashes a password for the users file (argon2id, a random salt).
///
/// # Errors
/// The hasher's error (in practice none).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())?;
    Ok(argon2::Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(hash: &str, token: &str) -> Users {
        Users::parse(
            &format!(
                "[users.alice]\npassword = \"{hash}\"\nroles = [\"read\"]\ntokens = [\"{token}\"]\ncertificate = \"alice-cn\"\n[users.bob]\ncertificate = \"bob\"\nroles = [\"read\"]\n"
            ),
            "users.toml",
        )
        .expect("users")
    }

    #[tokio::test]
    async fn passwords_tokens_and_certificates() {
        let hash = hash_password("s3cret").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        let (token, stored) = new_token();
        let auth = Authenticator::new(Some(("legacy", "pw")), users(&hash, &stored));
        assert_eq!(auth.password(b"legacy", b"pw").await.expect("legacy").name, "legacy");
        assert_eq!(auth.password(b"alice", b"s3cret").await.expect("alice").name, "alice");
        assert_eq!(auth.password(b"alice", b"s3cret").await.expect("remembered").name, "alice");
        assert!(auth.password(b"alice", b"wrong").await.is_none());
        assert!(auth.password(b"nobody", b"s3cret").await.is_none());
        assert!(auth.password(b"bob", b"").await.is_none(), "bob has no password");
        assert_eq!(auth.token(token.as_bytes()).expect("token").name, "alice");
        assert!(auth.token(b"guess").is_none());
        assert_eq!(auth.certificate("alice-cn").expect("cert").name, "alice");
        assert!(auth.certificate("mallory").is_none());
        // a reload forgets alice's remembered password: her new file has another
        let other = hash_password("changed").expect("hash");
        auth.replace_users(users(&other, &stored));
        assert!(auth.password(b"alice", b"s3cret").await.is_none(), "the old password no longer works");
        assert!(auth.password(b"alice", b"changed").await.is_some());
        assert!(auth.password(b"legacy", b"pw").await.is_some(), "the legacy pair stays");
    }

    #[test]
    fn the_decoy_is_a_valid_hash() {
        assert!(PasswordHash::new(DECOY).is_ok());
    }
}
