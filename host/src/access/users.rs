//! The users file (`TXTRADER_USERS_FILE`, TOML): each user's password hash, roles, accounts,
//! bearer tokens, client certificate and request rate.
//!
//! ```toml
//! [users.alice]
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."   # txtraderd hash-password
//! roles = ["read", "trade"]
//! accounts = ["DU123456"]                            # "*" for every account
//! tokens = ["sha256:9f86d081884c7d65..."]            # txtraderd new-token
//! certificate = "alice"                              # a client certificate's subject CN
//! requests_per_second = 50
//! ```
//!
//! The file is read whole or refused whole: an unknown key, a password that is not an argon2
//! hash, a role that does not exist, a trader without accounts, a token or a certificate given
//! to two users are errors with the user's name. It holds no secret in clear: passwords are
//! argon2 hashes and tokens SHA-256 hashes of random values.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use super::roles::{Accounts, Principal, Role};
use argon2::password_hash::PasswordHash;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use txtrader_plugin_api::model::AccountId;

/// The largest users file read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a users file is refused.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file cannot be read.
    #[error("users file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("users file {path}: {size} bytes or more, over the {max}-byte limit")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size (or the first size over the limit).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Not TOML of the expected shape.
    #[error("users file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with the line.
        message: String,
    },
    /// A user's entry is wrong.
    #[error("users file {path}: user {user:?}: {reason}")]
    User {
        /// The file.
        path: String,
        /// The user.
        user: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    users: BTreeMap<String, UserShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserShape {
    password: Option<String>,
    roles: Vec<String>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    tokens: Vec<String>,
    certificate: Option<String>,
    requests_per_second: Option<u32>,
}

/// One user.
#[derive(Clone, Debug)]
pub struct User {
    /// Who it is and what it may do.
    pub principal: Principal,
    /// The argon2 hash of its password, in PHC form; `None`: it signs in by token or certificate
    /// only.
    pub password_hash: Option<String>,
    /// SHA-256 digests of its bearer tokens.
    pub tokens: Vec<[u8; 32]>,
    /// The subject CN of its client certificate.
    pub certificate: Option<String>,
}

/// The users, by name.
#[derive(Clone, Debug, Default)]
pub struct Users {
    /// Each user.
    pub users: BTreeMap<String, User>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-@".contains(c))
}

/// A token's stored form: `sha256:` and 64 hex digits.
fn token_digest(s: &str) -> Option<[u8; 32]> {
    let hex = s.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

impl Users {
    /// Reads and checks a users file.
    ///
    /// # Errors
    /// [`UsersError`] saying what is wrong and where.
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let shown = path.display().to_string();
        let bytes = match crate::files::read_limited(path, MAX_FILE_BYTES) {
            Ok(b) => b,
            Err(crate::files::ReadError::Io(source)) => return Err(UsersError::Read { path: shown, source }),
            Err(crate::files::ReadError::TooLarge { size, max }) => return Err(UsersError::TooLarge { path: shown, size, max }),
        };
        let text = String::from_utf8(bytes).map_err(|_| UsersError::Syntax { path: shown.clone(), message: "not UTF-8 text".into() })?;
        Self::parse(&text, &shown)
    }

    /// Parses and checks a users file's text (`path` only names it in errors).
    ///
    /// # Errors
    /// [`UsersError`] saying what is wrong and where.
    pub fn parse(text: &str, path: &str) -> Result<Self, UsersError> {
        let shape: FileShape = toml::from_str(text).map_err(|e| UsersError::Syntax { path: path.into(), message: e.to_string() })?;
        let mut users = BTreeMap::new();
        let mut tokens_seen = BTreeSet::new();
        let mut certs_seen = BTreeSet::new();
        for (name, u) in shape.users {
            let bad = |reason: String| UsersError::User { path: path.into(), user: name.clone(), reason };
            if !valid_name(&name) {
                return Err(bad("a name is 1 to 64 letters, digits and '_', '.', '-', '@'".into()));
            }
            let mut roles = BTreeSet::new();
            for r in &u.roles {
                let role = match r.as_str() {
                    "read" => Role::Read,
                    "trade" => Role::Trade,
                    "operator" => Role::Operator,
                    other => return Err(bad(format!("unknown role {other:?} (read, trade, operator)"))),
                };
                roles.insert(role);
            }
            if roles.is_empty() {
                return Err(bad("no roles".into()));
            }
            let accounts = if u.accounts.iter().any(|a| a == "*") {
                Accounts::All
            } else {
                let mut set = BTreeSet::new();
                for a in &u.accounts {
                    set.insert(AccountId::new(a.clone()).map_err(|e| bad(format!("account {a:?}: {e}")))?);
                }
                Accounts::Only(set)
            };
            if roles.contains(&Role::Trade) && accounts == Accounts::Only(BTreeSet::new()) {
                return Err(bad("the trade role needs accounts (\"*\" for every account)".into()));
            }
            if let Some(hash) = &u.password {
                let parsed = PasswordHash::new(hash).map_err(|e| bad(format!("password is not a PHC hash ({e}); make one with `txtraderd hash-password`")))?;
                if !parsed.algorithm.as_str().starts_with("argon2") {
                    return Err(bad(format!("password hash is {}, not argon2", parsed.algorithm)));
                }
            }
            let mut tokens = Vec::new();
            for t in &u.tokens {
                let d = token_digest(t).ok_or_else(|| bad("a token is stored as \"sha256:\" and 64 hex digits; make one with `txtraderd new-token`".into()))?;
                if !tokens_seen.insert(d) {
                    return Err(bad("a token is given to two users".into()));
                }
                tokens.push(d);
            }
            if let Some(c) = &u.certificate {
                if c.is_empty() || !certs_seen.insert(c.clone()) {
                    return Err(bad(format!("certificate {c:?} is empty or given to two users")));
                }
            }
            if u.password.is_none() && tokens.is_empty() && u.certificate.is_none() {
                return Err(bad("no password, token or certificate: this user could never sign in".into()));
            }
            if u.requests_per_second == Some(0) {
                return Err(bad("requests_per_second must be at least 1 (leave it out for no limit)".into()));
            }
            let principal = Principal { name: name.clone(), roles, accounts, rate: u.requests_per_second };
            users.insert(name, User { principal, password_hash: u.password, tokens, certificate: u.certificate });
        }
        Ok(Self { users })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0rtlmWCDqqMXw2zFoeFPTMdFIJbi0a2IkZmqC1I7fjw";
    const TOKEN: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn parse(text: &str) -> Result<Users, UsersError> {
        Users::parse(text, "users.toml")
    }

    #[test]
    fn a_good_file() {
        let text = format!(
            "[users.alice]\npassword = \"{HASH}\"\nroles = [\"read\", \"trade\"]\naccounts = [\"A1\", \"A2\"]\ntokens = [\"{TOKEN}\"]\ncertificate = \"alice\"\nrequests_per_second = 20\n\n[users.ops]\npassword = \"{HASH}\"\nroles = [\"operator\", \"read\"]\n\n[users.bot]\ntokens = []\ncertificate = \"bot\"\nroles = [\"trade\"]\naccounts = [\"*\"]\n"
        );
        let u = parse(&text).expect("valid");
        let alice = &u.users["alice"];
        assert_eq!(alice.principal.roles, [Role::Read, Role::Trade].into());
        assert!(alice.principal.accounts.contains(&AccountId::new("A2").expect("id")));
        assert!(!alice.principal.accounts.contains(&AccountId::new("A3").expect("id")));
        assert_eq!(alice.principal.rate, Some(20));
        assert_eq!(alice.tokens.len(), 1);
        assert_eq!(u.users["bot"].principal.accounts, Accounts::All);
        assert_eq!(u.users["ops"].principal.rate, None);
    }

    #[test]
    fn every_mistake_is_named() {
        let cases = [
            ("[users.a]\nroles = [\"read\"]\npasword = \"x\"\n", "unknown field"),
            (&format!("[users.a]\npassword = \"{HASH}\"\nroles = [\"admin\"]\n"), "unknown role \"admin\""),
            (&format!("[users.a]\npassword = \"{HASH}\"\nroles = []\n"), "no roles"),
            (&format!("[users.a]\npassword = \"{HASH}\"\nroles = [\"trade\"]\n"), "the trade role needs accounts"),
            ("[users.a]\npassword = \"hunter2\"\nroles = [\"read\"]\n", "not a PHC hash"),
            ("[users.a]\npassword = \"$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\nroles = [\"read\"]\n", "not argon2"),
            ("[users.a]\ntokens = [\"abc\"]\nroles = [\"read\"]\n", "sha256:"),
            (&format!("[users.a]\ntokens = [\"{TOKEN}\"]\nroles = [\"read\"]\n[users.b]\ntokens = [\"{TOKEN}\"]\nroles = [\"read\"]\n"), "two users"),
            ("[users.a]\nroles = [\"read\"]\n", "could never sign in"),
            (&format!("[users.\"a b\"]\npassword = \"{HASH}\"\nroles = [\"read\"]\n"), "a name is"),
            (&format!("[users.a]\npassword = \"{HASH}\"\nroles = [\"read\"]\nrequests_per_second = 0\n"), "at least 1"),
            ("[users.a\n", "users.toml"),
        ];
        for (text, want) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn oversized_files_are_refused_unread() {
        let dir = tempfile::tempdir().expect("dir");
        let big = dir.path().join("users.toml");
        std::fs::write(&big, vec![b'#'; usize::try_from(MAX_FILE_BYTES).expect("fits") + 10]).expect("write");
        assert!(matches!(Users::load(&big), Err(UsersError::TooLarge { .. })));
        assert!(matches!(Users::load(&dir.path().join("none.toml")), Err(UsersError::Read { .. })));
    }
}
