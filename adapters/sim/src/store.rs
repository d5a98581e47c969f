//! The exchange's own books on disk, as a real broker keeps them: a SQLite file in the
//! instance's data folder (`exchange.sqlite`), one row per order, execution, account and
//! market, so that a restarted gateway finds the broker as it left it and reconciles against it.
//!
//! Every batch of changes is one transaction: a commit (one fsync of the write-ahead log, with
//! `synchronous=FULL`) covers everything the requests handled meanwhile changed, before anyone
//! hears of it. Nothing is ever rewritten whole: an order costs the rows it touches, whatever
//! the day's volume, and SQLite folds its log into the file as it goes. A restart reads the
//! counters, the open orders, the accounts and the markets; a snapshot reads the day's closed
//! orders and executions.
//!
//! `locking_mode=EXCLUSIVE`: a second process on the same folder is refused. During a hot swap
//! the running generation closes its store when it hands its state over, before the new one
//! opens it (two copies of SQLite in one process, the host's and a library's, must never have
//! the same file open at once).
//!
//! With durability off (`TXTRADER_SIM_DURABLE=0`, or no data folder) the same tables live in
//! memory.

use crate::engine::Changes;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// The store's file inside the instance's data folder.
pub const FILE_NAME: &str = "exchange.sqlite";
/// The file earlier versions rewrote whole at every change; read once and migrated.
pub const LEGACY_FILE: &str = "exchange.json";
/// The on-disk format this build writes and reads.
const FORMAT: &str = "2";

/// What a store held: the rows an exchange continues from.
#[derive(Debug, Default)]
pub struct Kept {
    /// The counters (JSON).
    pub meta: String,
    /// Open orders: (number, JSON).
    pub orders: Vec<(u64, String)>,
    /// Accounts: (account, JSON).
    pub accounts: Vec<(String, String)>,
    /// Markets: (symbol, JSON).
    pub markets: Vec<(String, String)>,
}

/// The exchange's store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

fn sql(path: Option<&Path>) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |e| match path {
        Some(p) => format!("{}: {e}", p.display()),
        None => format!("in-memory store: {e}"),
    }
}

impl Store {
    /// Opens (or creates) the store file.
    ///
    /// # Errors
    /// The file cannot be used (unreadable, another process holds it, a newer format).
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let err = sql(Some(path));
        let conn = Connection::open(path).map_err(&err)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(&err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                format!("{} is in use by another process", path.display())
            }
            _ => err(e),
        })?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(&err)?;
        Self::init(conn, Some(path.to_owned()))
    }

    /// A store in memory (durability off).
    ///
    /// # Errors
    /// SQLite could not set it up.
    pub fn memory() -> Result<Self, String> {
        let conn = Connection::open_in_memory().map_err(|e| format!("in-memory store: {e}"))?;
        conn.pragma_update(None, "synchronous", "OFF").map_err(|e| format!("in-memory store: {e}"))?;
        Self::init(conn, None)
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Self, String> {
        let named = path.clone();
        let err = sql(named.as_deref());
        conn.execute_batch(
            "BEGIN;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS orders (key INTEGER PRIMARY KEY, open INTEGER NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS open_orders ON orders (key) WHERE open = 1;
             CREATE TABLE IF NOT EXISTS executions (fill INTEGER PRIMARY KEY, ts INTEGER NOT NULL, body TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, body TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS markets (symbol TEXT PRIMARY KEY, body TEXT NOT NULL);
             INSERT OR IGNORE INTO meta (key, value) VALUES ('format', '2');
             COMMIT;",
        )
        .map_err(&err)?;
        let format: Option<String> = conn.query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0)).optional().map_err(&err)?;
        if format.as_deref() != Some(FORMAT) {
            return Err(format!("{}: format {} is not the one this build reads ({FORMAT})", path.as_ref().map_or_else(|| "store".into(), |p| p.display().to_string()), format.unwrap_or_default()));
        }
        Ok(Self { conn, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> String + '_ {
        sql(self.path.as_deref())
    }

    /// What the store holds for an exchange to continue from (`None`: it holds nothing yet).
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn kept(&self) -> Result<Option<Kept>, String> {
        let err = self.err();
        let meta: Option<String> = self.conn.query_row("SELECT value FROM meta WHERE key = 'counters'", [], |r| r.get(0)).optional().map_err(&err)?;
        let Some(meta) = meta else { return Ok(None) };
        let rows = |q: &str| -> Result<Vec<(String, String)>, String> {
            let mut stmt = self.conn.prepare(q).map_err(&err)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(&err)
        };
        let mut stmt = self.conn.prepare("SELECT key, body FROM orders WHERE open = 1 ORDER BY key").map_err(&err)?;
        let orders = stmt
            .query_map([], |r| Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?)))
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        Ok(Some(Kept { meta, orders, accounts: rows("SELECT id, body FROM accounts")?, markets: rows("SELECT symbol, body FROM markets")? }))
    }

    /// Stores a batch of changes in one transaction: on disk when this returns.
    ///
    /// # Errors
    /// The write failed (nothing of the batch is stored).
    pub fn commit(&mut self, c: &Changes) -> Result<(), String> {
        let path = self.path.clone();
        let err = sql(path.as_deref());
        let tx = self.conn.transaction().map_err(&err)?;
        {
            tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('counters', ?1)", params![c.meta]).map_err(&err)?;
            let mut orders = tx.prepare_cached("INSERT OR REPLACE INTO orders (key, open, ts, body) VALUES (?1, ?2, ?3, ?4)").map_err(&err)?;
            for o in &c.orders {
                orders.execute(params![i64::try_from(o.key).unwrap_or(i64::MAX), o.open, nanos(o.ts.0), o.body]).map_err(&err)?;
            }
            let mut execs = tx.prepare_cached("INSERT OR REPLACE INTO executions (fill, ts, body) VALUES (?1, ?2, ?3)").map_err(&err)?;
            for x in &c.executions {
                execs.execute(params![i64::try_from(x.fill).unwrap_or(i64::MAX), nanos(x.ts.0), x.body]).map_err(&err)?;
            }
            let mut accounts = tx.prepare_cached("INSERT OR REPLACE INTO accounts (id, body) VALUES (?1, ?2)").map_err(&err)?;
            for (id, body) in &c.accounts {
                accounts.execute(params![id, body]).map_err(&err)?;
            }
            let mut markets = tx.prepare_cached("INSERT OR REPLACE INTO markets (symbol, body) VALUES (?1, ?2)").map_err(&err)?;
            for (symbol, body) in &c.markets {
                markets.execute(params![symbol, body]).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// The closed orders and the executions since `since` (the day's), for a snapshot: order
    /// bodies and execution bodies, oldest first.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn history(&self, since: u64) -> Result<(Vec<String>, Vec<String>), String> {
        let err = self.err();
        let bodies = |q: &str| -> Result<Vec<String>, String> {
            let mut stmt = self.conn.prepare(q).map_err(&err)?;
            let rows = stmt.query_map(params![nanos(since)], |r| r.get(0)).map_err(&err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(&err)
        };
        Ok((
            bodies("SELECT body FROM orders WHERE open = 0 AND ts >= ?1 ORDER BY key")?,
            bodies("SELECT body FROM executions WHERE ts >= ?1 ORDER BY fill")?,
        ))
    }

    /// Closes the store, its log folded into the file.
    pub fn close(self) {
        let _ = self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
        drop(self.conn);
    }
}

fn nanos(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
