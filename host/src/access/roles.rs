//! Who may do what: the three roles, the class each command belongs to, and the principal a
//! request runs as, with the one decision between them ([`Principal::may`]).
//!
//! - `read`: queries, market data subscriptions and the stream, without orders;
//! - `trade`: orders and cancels, on the user's accounts only;
//! - `operator`: adapters, strategies, risk limits and the kill switch, the journal, shutdown.
//!
//! A role does not include another: a trader who should also see the books has `read` too.

use std::collections::BTreeSet;
use std::fmt;
use txtrader_plugin_api::model::AccountId;

/// A role a user holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Queries and the stream.
    Read,
    /// Orders and cancels on the user's accounts.
    Trade,
    /// Running the gateway.
    Operator,
}

impl Role {
    /// The role's name in the users file and in refusals.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trade => "trade",
            Self::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a command needs: the role of its class (the command table names one per command).
pub type Class = Role;

/// The accounts a trader may trade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accounts {
    /// Every account (`"*"` in the users file; the legacy user).
    All,
    /// These only.
    Only(BTreeSet<AccountId>),
}

impl Accounts {
    /// Whether `account` is one of them.
    pub fn contains(&self, account: &AccountId) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(account),
        }
    }
}

/// Who a request runs as: a user of the users file, the legacy `TXTRADER_USERNAME` (every
/// role, every account), or the gateway itself (its strategies and internal work).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user's name (recorded on the orders it places).
    pub name: String,
    /// Its roles.
    pub roles: BTreeSet<Role>,
    /// The accounts it may trade.
    pub accounts: Accounts,
    /// Its request rate (requests per second; `None`: unlimited).
    pub rate: Option<u32>,
}

/// Why a request was refused: a `403` on HTTP, JSON-RPC code -32007, `.error: forbidden` on the
/// stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// The user lacks the command's role.
    #[error("user {user:?} lacks the {needs} role for {command}")]
    Role {
        /// The user.
        user: String,
        /// The command.
        command: String,
        /// The role it needs.
        needs: Role,
    },
    /// The user may not trade this account.
    #[error("user {user:?} may not trade account {account}")]
    Account {
        /// The user.
        user: String,
        /// The account.
        account: String,
    },
    /// The command acts on every account and the user may trade only some.
    #[error("user {user:?} may trade only some accounts; {command} acts on every account")]
    AllAccounts {
        /// The user.
        user: String,
        /// The command.
        command: String,
    },
}

impl Principal {
    /// Every role and every account: the legacy pair, and the gateway's own work.
    pub fn superuser(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            roles: [Role::Read, Role::Trade, Role::Operator].into_iter().collect(),
            accounts: Accounts::All,
            rate: None,
        }
    }

    /// Whether the principal may run a command of this class.
    ///
    /// # Errors
    /// [`Forbidden::Role`] naming the role missing.
    pub fn may(&self, command: &str, class: Class) -> Result<(), Forbidden> {
        if self.roles.contains(&class) {
            Ok(())
        } else {
            Err(Forbidden::Role { user: self.name.clone(), command: command.to_owned(), needs: class })
        }
    }

    /// Whether the principal may trade (place or cancel orders on) `account`.
    ///
    /// # Errors
    /// [`Forbidden`] naming the role or the account.
    pub fn may_trade(&self, command: &str, account: &AccountId) -> Result<(), Forbidden> {
        self.may(command, Role::Trade)?;
        if self.accounts.contains(account) {
            Ok(())
        } else {
            Err(Forbidden::Account { user: self.name.clone(), account: account.to_string() })
        }
    }

    /// Whether the principal may act on every account at once (a global cancel).
    ///
    /// # Errors
    /// [`Forbidden`] naming the role, or saying the user's accounts are limited.
    pub fn may_trade_all(&self, command: &str) -> Result<(), Forbidden> {
        self.may(command, Role::Trade)?;
        match self.accounts {
            Accounts::All => Ok(()),
            Accounts::Only(_) => Err(Forbidden::AllAccounts { user: self.name.clone(), command: command.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(s: &str) -> AccountId {
        AccountId::new(s).expect("account")
    }

    #[test]
    fn roles_and_accounts_decide() {
        let reader = Principal { name: "r".into(), roles: [Role::Read].into(), accounts: Accounts::All, rate: None };
        assert!(reader.may("query_orders", Role::Read).is_ok());
        let e = reader.may("market_order", Role::Trade).expect_err("no trade role");
        assert_eq!(e.to_string(), "user \"r\" lacks the trade role for market_order");
        let trader = Principal {
            name: "t".into(),
            roles: [Role::Trade].into(),
            accounts: Accounts::Only([account("A1")].into()),
            rate: Some(5),
        };
        assert!(trader.may_trade("market_order", &account("A1")).is_ok());
        assert_eq!(
            trader.may_trade("market_order", &account("A2")).expect_err("other account").to_string(),
            "user \"t\" may not trade account A2"
        );
        assert!(matches!(trader.may_trade_all("global_cancel"), Err(Forbidden::AllAccounts { .. })));
        assert!(trader.may("shutdown", Role::Operator).is_err());
        let root = Principal::superuser("legacy");
        assert!(root.may_trade_all("global_cancel").is_ok());
        assert!(root.may("shutdown", Role::Operator).is_ok());
    }
}
