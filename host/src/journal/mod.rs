//! The durable journal's storage engine: numbered, checksummed records, group-committed to one
//! SQLite file, read back in order, rotated at checkpoints.
//!
//! It knows records, not what they mean: each is a [`Record`] with a kind (stored beside the
//! body, for operators), a body (text), and whether it is a checkpoint. The gateway's records
//! and how they replay into its books are `gateway::entry`'s; the core appends one for every
//! change to its books and holds everything the change caused until this engine reports it
//! durable (the core's output gate). Dependencies point one way: the gateway uses the journal,
//! never the reverse.
//!
//! **Storage: SQLite** (through `rusqlite`, compiled in, so a fresh machine needs nothing).
//! Chosen over a log format of our own and over redb because its write-ahead log gives atomic,
//! checksummed commits with decades of power-loss testing behind them; because the journal is
//! one file an operator can open with the `sqlite3` shell (`SELECT seq, kind, body FROM records`);
//! and because archiving old records is an `ATTACH` and a `DELETE`, not file surgery. The
//! database runs in WAL mode with `synchronous=FULL` (a commit returns once its WAL frames are
//! fsynced) and `locking_mode=EXCLUSIVE` (a second txtraderd on the same folder is refused).
//!
//! **Group commit**: one writer thread owns the connection. It takes every batch waiting in its
//! queue, writes them in one transaction and commits once — one fsync for all of them — then
//! publishes the highest durable record number. While it syncs, the next batch gathers.
//!
//! **Integrity**: records are numbered without gaps and each carries a CRC-32 over its number,
//! kind and body, checked on reading along with the numbering. SQLite already discards a torn
//! commit (a partial write at the end of its WAL: reported as a warning here); the record
//! checksum catches damage below SQLite (a bad disk, a bad copy). Damage affecting only the
//! newest records is truncated away with a warning naming what was dropped; a damaged record
//! with good records after it stops the start, naming the record — it is never skipped.
//!
//! **Compaction by rotation**: the core appends a checkpoint record holding everything the
//! records so far built. The writer starts a fresh journal file with the checkpoint as its first
//! record and moves the old file, whole, to `archive/journal-FIRST-LAST.sqlite`: no row is
//! copied or deleted, so compaction costs the checkpoint's size, not the journal's. Each step
//! is a rename after an fsync, and an interrupted rotation is finished or undone at the next
//! open (see [`settle_rotation`]). Recovery reads the active file only; archive files are the
//! operator's (readable with `sqlite3`, deletable when no longer wanted).

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::watch;

/// The journal file's name inside the data folder.
pub const FILE_NAME: &str = "journal.sqlite";
/// The on-disk format this build writes and reads.
pub const FORMAT: i64 = 1;
/// A rotation's new file while it is being written.
const NEXT_FILE: &str = "journal.next.sqlite";
/// Where rotated-out journal files go, inside the data folder.
pub const ARCHIVE_DIR: &str = "archive";

/// What the journal stores.
///
/// Bodies are text (JSON for the gateway's records, readable with the `sqlite3` shell); the
/// kind is stored beside the body and must be what decoding the body gives back.
pub trait Record: Sized + Send + 'static {
    /// The short name stored beside the body (for operators: `SELECT kind, count(*) …`).
    fn kind(&self) -> &'static str;
    /// True for a checkpoint: everything the records before it built. A checkpoint starts a new
    /// journal file and the file before it moves to the archive.
    fn is_checkpoint(&self) -> bool;
    /// The body to store.
    ///
    /// # Errors
    /// When the record cannot be written as text (the journal then stops: nothing more is
    /// acknowledged).
    fn encode(&self) -> Result<String, String>;
    /// A stored body read back.
    ///
    /// # Errors
    /// Why the body is unreadable; the record counts as damaged.
    fn decode(body: &str) -> Result<Self, String>;
    /// A stored body the reader will pass over (see [`Brief`]): only what it needs of it. By
    /// default, all of it.
    ///
    /// # Errors
    /// As [`Record::decode`].
    fn decode_brief(body: &str) -> Result<Self, String> {
        Self::decode(body)
    }
}

/// Records of one kind, before a record number, that the reader of a journal will pass over:
/// they are read with [`Record::decode_brief`] (checksums are checked all the same).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Brief {
    /// The kind.
    pub kind: &'static str,
    /// Records numbered below this.
    pub before: u64,
}

impl Brief {
    fn applies(&self, seq: u64, kind: &str) -> bool {
        seq < self.before && kind == self.kind
    }
}

/// Where and how the journal is kept.
#[derive(Clone, Debug)]
pub struct JournalSettings {
    /// The data folder (`TXTRADER_DATA_DIR`).
    pub dir: PathBuf,
    /// At most this many records per commit.
    pub max_batch: usize,
}

impl JournalSettings {
    /// The journal file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }
}

/// Why the journal cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The data folder cannot be created.
    #[error("data folder {path}: {source}")]
    Dir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite refused (not a database, unreadable, locked…).
    #[error("journal {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// Another process holds the journal.
    #[error("journal {path} is in use by another process (is another txtraderd running on this data folder?)")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer build.
    #[error("journal {path} has format {found}; this build reads format {FORMAT}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: i64,
    },
    /// A damaged record with good records after it.
    #[error(
        "journal {path}: record {seq} is damaged ({why}) and {after} good records follow it; refusing to skip it. \
         Move the journal aside, or drop record {seq} and everything after it with `txtraderd journal truncate {seq}`"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The first damaged record.
        seq: u64,
        /// What is wrong with it.
        why: String,
        /// Good records after it.
        after: u64,
    },
    /// The checkpoint the active file begins with is damaged or missing.
    #[error(
        "journal {path}: its first record {seq} should be the checkpoint the records after it build on, and it is not usable ({why}); \
         the records before it are in the archive folder: restore the newest archive file as the journal to recover up to it"
    )]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// The first record's number.
        seq: u64,
        /// What is wrong with it.
        why: String,
    },
    /// The journal file is gone but rotated-out files are in the archive.
    #[error(
        "journal {path} is missing but {archived} rotated-out journal files are in {archive}; refusing to start with empty books. \
         Move the archive folder aside to start fresh"
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// The archive folder.
        archive: PathBuf,
        /// Files in it.
        archived: usize,
    },
}

/// What reading the journal found besides its entries.
#[derive(Debug, Default)]
pub struct Scan {
    /// Records read and handed over.
    pub records: u64,
    /// The last good record's number (0: none).
    pub last: u64,
    /// Damaged records at the end that were dropped: (first dropped, how many, why).
    pub truncated: Option<(u64, u64, String)>,
    /// A torn write at the end of SQLite's WAL, in bytes (SQLite discards it).
    pub torn_wal_bytes: Option<u64>,
    /// A rotation interrupted by a crash, and what was done about it.
    pub rotation: Option<String>,
    /// The record number of the checkpoint the file begins with (none: it begins at 1).
    pub checkpoint: Option<u64>,
}

/// The durable position, as the writer thread reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// Every record up to this number is on disk.
    pub through: u64,
    /// The writer stopped: nothing more will become durable.
    pub failed: Option<String>,
}

/// Size and archive facts, for the `journal` command.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JournalInfo {
    /// The journal file.
    pub path: String,
    /// Bytes on disk (database and WAL).
    pub bytes: u64,
    /// Records kept.
    pub records: u64,
    /// First and last record numbers kept.
    pub first: u64,
    /// Last record number.
    pub last: u64,
    /// Rotated-out files in the archive folder.
    pub archive_files: u64,
    /// Their size in bytes.
    pub archive_bytes: u64,
}

enum Msg<R> {
    Append(Vec<(u64, R)>),
    Info(mpsc::Sender<Result<JournalInfo, String>>),
    Stop,
}

/// The writer's handle: appends records, learns what is durable. Owned by one task (the
/// gateway core).
#[derive(Debug)]
pub struct Journal<R: Record> {
    tx: mpsc::Sender<Msg<R>>,
    durable: watch::Receiver<Durable>,
    appended: u64,
    pending: Vec<(u64, R)>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl<R> std::fmt::Debug for Msg<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Append(v) => write!(f, "Append({} records)", v.len()),
            Self::Info(_) => f.write_str("Info"),
            Self::Stop => f.write_str("Stop"),
        }
    }
}

impl<R: Record> Journal<R> {
    /// Opens (or creates) the journal, hands every good record to `each` in order, and starts
    /// the writer thread. Damage at the end is truncated (reported in the [`Scan`]).
    ///
    /// # Errors
    /// [`JournalError`] when the folder or file cannot be used, or a damaged record has good
    /// records after it.
    pub fn open(settings: &JournalSettings, each: impl FnMut(u64, R)) -> Result<(Self, Scan), JournalError> {
        Self::open_brief(settings, Brief::default(), each)
    }

    /// As [`Journal::open`], the records `brief` names read briefly.
    ///
    /// # Errors
    /// As [`Journal::open`].
    pub fn open_brief(settings: &JournalSettings, brief: Brief, each: impl FnMut(u64, R)) -> Result<(Self, Scan), JournalError> {
        std::fs::create_dir_all(&settings.dir).map_err(|source| JournalError::Dir { path: settings.dir.clone(), source })?;
        let path = settings.path();
        let rotation = settle_rotation(&settings.dir)?;
        let torn = torn_wal_bytes(&path);
        let mut store = Store::open(&path)?;
        let mut scan = store.scan(brief, each)?;
        scan.torn_wal_bytes = torn;
        scan.rotation = rotation;
        if let Some((first, _, _)) = &scan.truncated {
            store.truncate_from(*first)?;
        }
        let (durable_tx, durable) = watch::channel(Durable { through: scan.last, failed: None });
        let (tx, rx) = mpsc::channel();
        let max_batch = settings.max_batch.max(1);
        let thread = std::thread::Builder::new()
            .name("txtrader-journal".into())
            .spawn(move || writer(store, &rx, &durable_tx, max_batch))
            .map_err(|source| JournalError::Dir { path: settings.dir.clone(), source })?;
        Ok((Self { tx, durable, appended: scan.last, pending: Vec::new(), thread: Some(thread), path }, scan))
    }

    /// The record number of the `n`-th newest record of `kind` in the journal file, read before
    /// it is opened: a reader that keeps only the newest `n` of a kind can pass over the older
    /// ones cheaply. `None` when there are fewer, or the file cannot be read this way (the
    /// reader then keeps what it reads, as without the hint).
    pub fn nth_newest(settings: &JournalSettings, kind: &str, n: usize) -> Option<u64> {
        let path = settings.path();
        if n == 0 || !path.exists() {
            return None;
        }
        // read-write without creating: a WAL file cannot be opened read-only without its index
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).ok()?;
        let offset = i64::try_from(n - 1).ok()?;
        let seq: Option<i64> = conn
            .query_row("SELECT seq FROM records WHERE kind = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2", params![kind, offset], |r| r.get(0))
            .optional()
            .ok()?;
        seq.and_then(|s| u64::try_from(s).ok())
    }

    /// Appends a record (sent to the writer at the next [`Journal::flush`]); answers its
    /// record number.
    pub fn append(&mut self, record: R) -> u64 {
        self.appended += 1;
        self.pending.push((self.appended, record));
        self.appended
    }

    /// Hands the appended records to the writer.
    pub fn flush(&mut self) {
        if !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            if self.tx.send(Msg::Append(batch)).is_err() {
                tracing::error!("journal writer is gone; records cannot become durable");
            }
        }
    }

    /// The last record number appended.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// The last record number on disk.
    pub fn durable(&self) -> u64 {
        self.durable.borrow().through
    }

    /// Watches the durable position.
    pub fn watch(&self) -> watch::Receiver<Durable> {
        self.durable.clone()
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asks the writer for size facts (answered after what is queued before it is written).
    pub fn info(&self) -> mpsc::Receiver<Result<JournalInfo, String>> {
        let (tx, rx) = mpsc::channel();
        let _ = self.tx.send(Msg::Info(tx));
        rx
    }

    /// Writes what is pending and stops the writer.
    pub fn close(&mut self) {
        self.flush();
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<R: Record> Drop for Journal<R> {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer<R: Record>(mut store: Store, rx: &mpsc::Receiver<Msg<R>>, durable: &watch::Sender<Durable>, max_batch: usize) {
    let mut batch: Vec<(u64, R)> = Vec::new();
    let mut asks = Vec::new();
    'outer: loop {
        let mut stop = false;
        match rx.recv() {
            Ok(Msg::Append(v)) => batch.extend(v),
            Ok(Msg::Info(reply)) => asks.push(reply),
            Ok(Msg::Stop) | Err(_) => stop = true,
        }
        while !stop && batch.len() < max_batch {
            match rx.try_recv() {
                Ok(Msg::Append(v)) => batch.extend(v),
                Ok(Msg::Info(reply)) => asks.push(reply),
                Ok(Msg::Stop) => stop = true,
                Err(_) => break,
            }
        }
        if let Some(&(last, _)) = batch.last() {
            match store.write(&batch) {
                Ok(()) => {
                    durable.send_modify(|d| d.through = last);
                    batch.clear();
                }
                Err(e) => {
                    let why = format!("writing the journal failed: {e}");
                    tracing::error!("{why}");
                    durable.send_modify(|d| d.failed = Some(why));
                    break 'outer;
                }
            }
        }
        for reply in asks.drain(..) {
            let _ = reply.send(store.info().map_err(|e| e.to_string()));
        }
        if stop {
            break;
        }
    }
}

/// The bytes at the end of the WAL that do not make a whole frame: a write torn by a crash.
fn torn_wal_bytes(db: &Path) -> Option<u64> {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let bytes = std::fs::read(&wal).ok()?;
    if bytes.len() < 32 {
        return (!bytes.is_empty()).then_some(bytes.len() as u64);
    }
    let page = u64::from(u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]));
    let frame = 24 + if page == 1 { 65_536 } else { page };
    let rest = (bytes.len() as u64 - 32) % frame;
    (rest != 0).then_some(rest)
}

fn crc(seq: u64, kind: &str, body: &str) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(kind.as_bytes());
    h.update(&[0]);
    h.update(body.as_bytes());
    h.finalize()
}

/// Finishes or undoes a rotation a crash interrupted: a new file beside the journal is an
/// unfinished one (the journal still has every record: the new file goes); a new file without
/// the journal means the journal was already archived (the new file becomes the journal). A
/// journal missing while the archive holds files is refused.
fn settle_rotation(dir: &Path) -> Result<Option<String>, JournalError> {
    let (path, next) = (dir.join(FILE_NAME), dir.join(NEXT_FILE));
    let sync = |e| JournalError::Dir { path: dir.to_owned(), source: e };
    match (path.exists(), next.exists()) {
        (true, true) => {
            remove_db(&next).map_err(sync)?;
            Ok(Some(format!("an unfinished journal rotation was undone ({} removed; {} is whole)", next.display(), path.display())))
        }
        (false, true) => {
            std::fs::rename(&next, &path).map_err(sync)?;
            sync_dir(dir).map_err(sync)?;
            Ok(Some(format!("an interrupted journal rotation was finished ({} is the journal)", next.display())))
        }
        (false, false) => {
            let archive = dir.join(ARCHIVE_DIR);
            let archived = archived_files(&archive).len();
            if archived > 0 {
                return Err(JournalError::Missing { path, archive, archived });
            }
            Ok(None)
        }
        (true, false) => Ok(None),
    }
}

/// The rotated-out journal files in the archive folder.
fn archived_files(archive: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(archive)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("journal-") && n.ends_with(".sqlite")))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes a database file with its WAL and shared-memory files.
fn remove_db(path: &Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        match std::fs::remove_file(format!("{}{suffix}", path.display())) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Records decoded ahead of booking, in batches.
const SCAN_QUEUE: usize = 8;
const SCAN_BATCH: usize = 512;

/// One row as the reader found it.
struct Read<R> {
    seq: u64,
    kind: String,
    /// The record, or why it is damaged.
    record: Result<R, String>,
}

/// Reads the rows in order: checksum checked, body decoded.
fn read_records<R: Record>(conn: &mut Connection, path: &Path, brief: Brief, tx: &mpsc::SyncSender<Vec<Read<R>>>) -> Result<(), JournalError> {
    let err = |source| JournalError::Sqlite { path: path.to_owned(), source };
    let mut stmt = conn.prepare("SELECT seq, kind, body, crc FROM records ORDER BY seq").map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut batch = Vec::with_capacity(SCAN_BATCH);
    while let Some(row) = rows.next().map_err(err)? {
        let seq = u64::try_from(row.get::<_, i64>(0).map_err(err)?).unwrap_or(0);
        let kind: String = row.get(1).map_err(err)?;
        let body = row.get_ref(2).map_err(err)?.as_str().map_err(|e| err(e.into()))?;
        let stored = row.get::<_, i64>(3).map_err(err)?;
        let record = if u32::try_from(stored).ok() == Some(crc(seq, &kind, body)) {
            let decoded = if brief.applies(seq, &kind) { R::decode_brief(body) } else { R::decode(body) };
            match decoded {
                Ok(record) if record.kind() == kind => Ok(record),
                Ok(record) => Err(format!("kind {kind} does not match its body ({})", record.kind())),
                Err(e) => Err(format!("unreadable body: {e}")),
            }
        } else {
            Err("checksum mismatch".to_owned())
        };
        batch.push(Read { seq, kind, record });
        if batch.len() == SCAN_BATCH && tx.send(std::mem::replace(&mut batch, Vec::with_capacity(SCAN_BATCH))).is_err() {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch);
    }
    Ok(())
}

/// Takes the records in order: good ones are booked until the first damaged one; what follows
/// a damaged one tells whether it is a torn end (truncated) or damage inside (refused).
#[derive(Default)]
struct Checker {
    scan: Scan,
    bad: Option<(u64, String)>,
    bad_count: u64,
    good_after: u64,
    expect: Option<u64>,
    first: Option<u64>,
}

impl Checker {
    fn take<R: Record>(&mut self, read: Read<R>, each: &mut impl FnMut(u64, R)) {
        let Read { seq, kind, record } = read;
        self.first.get_or_insert(seq);
        let why = if self.expect.is_some_and(|e| e != seq) {
            Some(format!("records {} to {} are missing", self.expect.unwrap_or(0), seq.saturating_sub(1)))
        } else if self.expect.is_none() && seq != 1 && kind != "checkpoint" {
            Some(format!("records 1 to {} are missing and it is not a checkpoint", seq.saturating_sub(1)))
        } else {
            match record {
                Ok(record) => {
                    if self.bad.is_none() {
                        if record.is_checkpoint() {
                            self.scan.checkpoint = Some(seq);
                        }
                        each(seq, record);
                        self.scan.records += 1;
                        self.scan.last = seq;
                    }
                    None
                }
                Err(why) => Some(why),
            }
        };
        self.expect = Some(seq + 1);
        match (&self.bad, why) {
            (None, Some(why)) => {
                self.bad = Some((seq, why));
                self.bad_count = 1;
            }
            (Some(_), Some(_)) => self.bad_count += 1,
            (Some(_), None) => self.good_after += 1,
            (None, None) => {}
        }
    }

    fn finish(self, path: &Path) -> Result<Scan, JournalError> {
        let mut scan = self.scan;
        if let Some((seq, why)) = self.bad {
            if self.first == Some(seq) && seq != 1 {
                return Err(JournalError::Checkpoint { path: path.to_owned(), seq, why });
            }
            if self.good_after > 0 {
                return Err(JournalError::Corrupt { path: path.to_owned(), seq, why, after: self.good_after });
            }
            scan.truncated = Some((seq, self.bad_count, why));
        }
        Ok(scan)
    }
}

/// Makes a folder's entries (renames, new files) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The SQLite file.
struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    fn open(path: &Path) -> Result<Self, JournalError> {
        Self::open_with(path, "WAL")
    }

    /// Opens with the given SQLite journal mode: `WAL` for the journal; `OFF` for a rotation's
    /// new file, written once (a crash before it is complete discards it whole, see
    /// [`settle_rotation`]), so the checkpoint is written once instead of through the WAL.
    fn open_with(path: &Path, mode: &str) -> Result<Self, JournalError> {
        let err = |source| JournalError::Sqlite { path: path.to_owned(), source };
        let conn = Connection::open(path).map_err(err)?;
        let busy = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => JournalError::Locked { path: path.to_owned() },
            _ => err(e),
        };
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(err)?;
        conn.pragma_update(None, "journal_mode", mode).map_err(busy)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.execute_batch(
            "BEGIN EXCLUSIVE;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, crc INTEGER NOT NULL);
             INSERT OR IGNORE INTO meta (key, value) VALUES ('format', '1');
             COMMIT;",
        )
        .map_err(busy)?;
        let format: Option<String> = conn.query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0)).optional().map_err(err)?;
        let found = format.as_deref().and_then(|f| f.parse::<i64>().ok()).unwrap_or(0);
        if found != FORMAT {
            return Err(JournalError::Format { path: path.to_owned(), found });
        }
        Ok(Self { conn, path: path.to_owned() })
    }

    /// Reads every record in order, handing good ones to `each` until the first damaged one.
    ///
    /// Two threads: a reader steps through the rows, checks each checksum and decodes each body
    /// (the costly part of reading), and this thread books the records in order, so booking one
    /// overlaps decoding the next.
    fn scan<R: Record>(&mut self, brief: Brief, mut each: impl FnMut(u64, R)) -> Result<Scan, JournalError> {
        let path = self.path.clone();
        let conn = &mut self.conn;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Vec<Read<R>>>(SCAN_QUEUE);
            let reader = std::thread::Builder::new()
                .name("txtrader-journal-scan".into())
                .spawn_scoped(scope, move || read_records(conn, &path, brief, &tx))
                .map_err(|source| JournalError::Dir { path: self.path.clone(), source })?;
            let mut check = Checker::default();
            for batch in rx {
                for read in batch {
                    check.take(read, &mut each);
                }
            }
            reader.join().unwrap_or_else(|_| Err(JournalError::Corrupt { path: self.path.clone(), seq: 0, why: "the journal reader crashed".into(), after: 0 }))?;
            check.finish(&self.path)
        })
    }

    fn truncate_from(&mut self, seq: u64) -> Result<(), JournalError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.conn
            .execute("DELETE FROM records WHERE seq >= ?1", params![seq])
            .map(|_| ())
            .map_err(|source| JournalError::Sqlite { path: self.path.clone(), source })
    }

    /// Writes a batch; a checkpoint in it starts a new file (see [`Store::rotate`]).
    fn write<R: Record>(&mut self, batch: &[(u64, R)]) -> Result<(), String> {
        let mut rest = batch;
        while let Some(at) = rest.iter().position(|(_, r)| r.is_checkpoint()) {
            self.append(rest[..at].iter().map(|(s, e)| (*s, e)))?;
            self.rotate(&rest[at])?;
            rest = &rest[at + 1..];
        }
        self.append(rest.iter().map(|(s, e)| (*s, e)))
    }

    /// Starts a new journal file with the checkpoint as its first record and moves this one,
    /// whole, to the archive folder. Every step is durable before the next: the new file is
    /// committed and closed, this one is closed (its WAL merged into it) and renamed into the
    /// archive, the new one renamed into place, the folders synced.
    fn rotate<R: Record>(&mut self, (seq, checkpoint): &(u64, R)) -> Result<(), String> {
        let dir = self.path.parent().map(Path::to_owned).unwrap_or_default();
        let next = dir.join(NEXT_FILE);
        let io = |what: &str, e: std::io::Error| format!("journal rotation: {what}: {e}");
        remove_db(&next).map_err(|e| io("removing an old new file", e))?;
        let started = std::time::Instant::now();
        {
            let mut fresh = Self::open_with(&next, "OFF").map_err(|e| e.to_string())?;
            fresh.append([(*seq, checkpoint)])?;
            fresh.close()?;
            std::fs::File::open(&next).and_then(|f| f.sync_all()).map_err(|e| io("syncing the new file", e))?;
        }
        let written = started.elapsed();
        let first: Option<i64> = self.conn.query_row("SELECT min(seq) FROM records", [], |r| r.get(0)).map_err(|e| e.to_string())?;
        let archive = dir.join(ARCHIVE_DIR);
        std::fs::create_dir_all(&archive).map_err(|e| io("creating the archive folder", e))?;
        let name = format!("journal-{:012}-{:012}.sqlite", first.unwrap_or(0), seq.saturating_sub(1));
        let placeholder = Connection::open_in_memory().map_err(|e| e.to_string())?;
        let old = Self { conn: std::mem::replace(&mut self.conn, placeholder), path: self.path.clone() };
        // An archived file stands alone: its WAL merged, no WAL mode for readers to trip on.
        old.conn.pragma_update(None, "journal_mode", "DELETE").map_err(|e| format!("leaving WAL mode: {e}"))?;
        old.close()?;
        std::fs::rename(&self.path, archive.join(&name)).map_err(|e| io("archiving the old file", e))?;
        sync_dir(&archive).map_err(|e| io("syncing the archive folder", e))?;
        std::fs::rename(&next, &self.path).map_err(|e| io("moving the new file into place", e))?;
        sync_dir(&dir).map_err(|e| io("syncing the data folder", e))?;
        *self = Self::open(&self.path).map_err(|e| e.to_string())?;
        tracing::info!(
            checkpoint = seq,
            archived = %archive.join(&name).display(),
            checkpoint_ms = written.as_millis(),
            total_ms = started.elapsed().as_millis(),
            "journal rotated"
        );
        Ok(())
    }

    /// Closes the connection, making sure its WAL was merged into the database file (a file
    /// renamed without its WAL would lose the records in it).
    fn close(self) -> Result<(), String> {
        self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE").map_err(|e| format!("merging the WAL of {}: {e}", self.path.display()))?;
        let path = self.path.clone();
        self.conn.close().map_err(|(_, e)| format!("closing {}: {e}", path.display()))?;
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            return Err(format!("{} still has a WAL after closing", path.display()));
        }
        Ok(())
    }

    fn append<'a, R: Record>(&mut self, batch: impl IntoIterator<Item = (u64, &'a R)>) -> Result<(), String> {
        let mut batch = batch.into_iter().peekable();
        if batch.peek().is_none() {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(|e| e.to_string())?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO records (seq, kind, body, crc) VALUES (?1, ?2, ?3, ?4)")
                .map_err(|e| e.to_string())?;
            for (seq, record) in batch {
                let body = record.encode().map_err(|e| format!("record {seq}: {e}"))?;
                let kind = record.kind();
                let n = i64::try_from(seq).map_err(|e| e.to_string())?;
                insert.execute(params![n, kind, body, i64::from(crc(seq, kind, &body))]).map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())
    }

    fn info(&self) -> rusqlite::Result<JournalInfo> {
        let (records, first, last): (i64, Option<i64>, Option<i64>) =
            self.conn.query_row("SELECT count(*), min(seq), max(seq) FROM records", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let bytes = size(self.path.clone()) + size(PathBuf::from(format!("{}-wal", self.path.display())));
        let n = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        let archive: Vec<u64> = self
            .path
            .parent()
            .map(|d| archived_files(&d.join(ARCHIVE_DIR)).iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).collect())
            .unwrap_or_default();
        Ok(JournalInfo {
            path: self.path.display().to_string(),
            bytes,
            records: u64::try_from(records).unwrap_or(0),
            first: n(first),
            last: n(last),
            archive_files: archive.len() as u64,
            archive_bytes: archive.iter().sum(),
        })
    }
}

/// Drops record `seq` and everything after it (the operator's way past a damaged record).
///
/// # Errors
/// When the journal cannot be opened.
pub fn truncate(settings: &JournalSettings, seq: u64) -> Result<u64, JournalError> {
    settle_rotation(&settings.dir)?;
    let mut store = Store::open(&settings.path())?;
    let info = store.info().map_err(|source| JournalError::Sqlite { path: store.path.clone(), source })?;
    if info.first > 1 && seq <= info.first {
        // Everything after a checkpoint builds on it: dropping it would start from nothing.
        return Err(JournalError::Checkpoint {
            path: store.path.clone(),
            seq: info.first,
            why: format!("truncating from record {seq} would drop the checkpoint"),
        });
    }
    let before = info.records;
    store.truncate_from(seq)?;
    let after = store.info().map_err(|source| JournalError::Sqlite { path: store.path.clone(), source })?.records;
    Ok(before - after)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
