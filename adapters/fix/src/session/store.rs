//! The session's durable store: one append-only file per session (SenderCompID, TargetCompID,
//! BeginString) holding every message sent (for resends), the numbers of the messages
//! received, the application messages received, and the adapter's own order records. Both
//! sequence numbers and the order book are what replaying the file gives, so a restart after
//! `kill -9` continues the session where it was.
//!
//! Each record is written with one `write` before the message it records goes out (the
//! kernel keeps it if the process dies); records of orders and order messages are also synced
//! to disk when `sync` is on. A record cut short by a crash is dropped at the next open. The
//! cost per message is constant; the file grows with the day and starts afresh at a sequence
//! reset.
//!
//! Without a data folder (the gateway runs without a journal) the store lives in memory and
//! the session resets its numbers at every logon.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &str = "txtrader-fix-store 1";

/// A record as replayed at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A message sent, with its number.
    Out(u64, Vec<u8>),
    /// A message received and processed; its bytes for application messages.
    In(u64, Option<Vec<u8>>),
    /// Both numbers reset: the next to receive, the next to send, when (Unix seconds).
    Reset(u64, u64, i64),
    /// The next number to receive, set by a gap fill or sequence reset.
    Expect(u64),
    /// One of the adapter's own records (JSON).
    Own(Vec<u8>),
}

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("FIX store {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a store file.
    #[error("FIX store {0}: not a txtrader FIX store (first line)")]
    Foreign(String),
    /// Another holder has it: a session cannot be held twice.
    #[error("FIX store {0} is in use by another adapter generation or process: a FIX session is held by one at a time (stop the other first; a new build of the adapter takes over at the next restart)")]
    InUse(String),
}

/// The store of one session.
#[derive(Debug)]
pub struct Store {
    file: Option<(File, PathBuf)>,
    /// Where each sent message is: its offset and length in the file, or its bytes in memory.
    sent: HashMap<u64, Sent>,
    next_in: u64,
    next_out: u64,
    created: i64,
    last_reset: i64,
    sync: bool,
    end: u64,
}

#[derive(Debug)]
enum Sent {
    At(u64, usize),
    Held(Vec<u8>),
}

impl Store {
    /// A store in memory (no data folder), started at `created_ms` (Unix milliseconds): numbers
    /// start at 1 and die with the process.
    pub fn in_memory(created_ms: i64) -> Self {
        Self { file: None, sent: HashMap::new(), next_in: 1, next_out: 1, created: created_ms, last_reset: created_ms.div_euclid(1000), sync: false, end: 0 }
    }

    /// Opens (or creates, at `now_ms`, Unix milliseconds) the store in `dir`, returning it and
    /// its records in order.
    ///
    /// # Errors
    /// [`StoreError`] when the folder or file cannot be used.
    pub fn open(dir: &Path, sync: bool, now_ms: i64) -> Result<(Self, Vec<Record>), StoreError> {
        let now = now_ms;
        let path = dir.join("session.store");
        let io = |source| StoreError::Io { path: path.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        // the kernel releases the lock when the holder closes the file or dies
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Err(StoreError::InUse(path.display().to_string())),
            Err(e) => return Err(io(std::io::Error::from(e))),
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut store = Self { file: None, sent: HashMap::new(), next_in: 1, next_out: 1, created: now, last_reset: i64::MIN, sync, end: 0 };
        if bytes.is_empty() {
            store.last_reset = now.div_euclid(1000);
            let head = format!("{MAGIC} created={now}\n");
            file.write_all(head.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            store.end = head.len() as u64;
            store.file = Some((file, path));
            return Ok((store, Vec::new()));
        }
        let (created, records, good) = parse(&bytes, &mut store).ok_or_else(|| StoreError::Foreign(path.display().to_string()))?;
        store.created = created;
        store.last_reset = store.last_reset.max(created.div_euclid(1000));
        if good < bytes.len() {
            // a record cut short by a crash
            file.set_len(good as u64).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        store.end = good as u64;
        store.file = Some((file, path));
        Ok((store, records))
    }

    /// When the store was started (Unix milliseconds): names the adapter's ids, so that ids of
    /// different stores never meet.
    pub fn created(&self) -> i64 {
        self.created
    }

    /// When the numbers were last reset (or the store started), Unix seconds.
    pub fn last_reset(&self) -> i64 {
        self.last_reset
    }

    /// Whether the numbers survive the process.
    pub fn durable(&self) -> bool {
        self.file.is_some()
    }

    /// The number the next incoming message should carry.
    pub fn next_in(&self) -> u64 {
        self.next_in
    }

    /// The number of the next message sent.
    pub fn next_out(&self) -> u64 {
        self.next_out
    }

    /// Records a message about to be sent with the next number, which it must carry.
    ///
    /// # Errors
    /// When it cannot be written: the message must not be sent.
    pub fn sent(&mut self, bytes: &[u8], sync: bool) -> Result<u64, StoreError> {
        let seq = self.next_out;
        let head = format!("O {seq} {}\n", bytes.len());
        let offset = self.end + head.len() as u64;
        self.append(&[head.as_bytes(), bytes, b"\n"], sync && self.sync)?;
        self.sent.insert(seq, if self.file.is_some() { Sent::At(offset, bytes.len()) } else { Sent::Held(bytes.to_vec()) });
        self.next_out = seq + 1;
        Ok(seq)
    }

    /// Records that message `seq` was received and processed (with its bytes, for an
    /// application message), so the next expected is `seq + 1`.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn received(&mut self, seq: u64, bytes: Option<&[u8]>) -> Result<(), StoreError> {
        let body = bytes.unwrap_or_default();
        let head = format!("I {seq} {}\n", body.len());
        self.append(&[head.as_bytes(), body, b"\n"], false)?;
        self.next_in = seq + 1;
        Ok(())
    }

    /// Sets the next expected incoming number (a gap fill or sequence reset).
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn expect(&mut self, next_in: u64) -> Result<(), StoreError> {
        let line = format!("E {next_in}\n");
        self.append(&[line.as_bytes()], false)?;
        self.next_in = next_in;
        Ok(())
    }

    /// Sets both numbers (a logon with ResetSeqNumFlag); messages sent before are forgotten.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn reset_to(&mut self, next_in: u64, next_out: u64, at: i64) -> Result<(), StoreError> {
        let line = format!("R {next_in} {next_out} {at}\n");
        self.append(&[line.as_bytes()], true)?;
        self.sent.clear();
        self.next_in = next_in;
        self.next_out = next_out;
        self.last_reset = at;
        Ok(())
    }

    /// Records one of the adapter's own records.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn own(&mut self, json: &[u8]) -> Result<(), StoreError> {
        let head = format!("J {}\n", json.len());
        self.append(&[head.as_bytes(), json, b"\n"], self.sync)
    }

    /// A message sent earlier, for a resend; `None` if it is not held (sent before a reset).
    pub fn message(&self, seq: u64) -> Option<Vec<u8>> {
        match self.sent.get(&seq)? {
            Sent::Held(b) => Some(b.clone()),
            Sent::At(offset, len) => {
                let (file, _) = self.file.as_ref()?;
                let mut buf = vec![0u8; *len];
                std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, *offset).ok()?;
                Some(buf)
            }
        }
    }

    fn append(&mut self, parts: &[&[u8]], sync: bool) -> Result<(), StoreError> {
        let Some((file, path)) = self.file.as_mut() else { return Ok(()) };
        let record = parts.concat();
        let io = |source| StoreError::Io { path: path.display().to_string(), source };
        file.write_all(&record).map_err(io)?;
        if sync {
            file.sync_data().map_err(io)?;
        }
        self.end += record.len() as u64;
        Ok(())
    }
}

/// Replays a store file: its creation time, its records, and how many bytes were whole.
fn parse(bytes: &[u8], store: &mut Store) -> Option<(i64, Vec<Record>, usize)> {
    let first = bytes.iter().position(|b| *b == b'\n')?;
    let head = std::str::from_utf8(&bytes[..first]).ok()?;
    let created = head.strip_prefix(MAGIC)?.trim().strip_prefix("created=")?.parse().ok()?;
    let mut at = first + 1;
    let mut records = Vec::new();
    while at < bytes.len() {
        let Some((record, next)) = one(bytes, at, store) else { break };
        if let Some(r) = record {
            records.push(r);
        }
        at = next;
    }
    Some((created, records, at))
}

/// One record at `at`: it (when replayed to the adapter), and where the next starts.
fn one(bytes: &[u8], at: usize, store: &mut Store) -> Option<(Option<Record>, usize)> {
    let eol = at + bytes[at..].iter().position(|b| *b == b'\n')?;
    let line = std::str::from_utf8(&bytes[at..eol]).ok()?;
    let mut words = line.split(' ');
    let kind = words.next()?;
    let mut num = || words.next().and_then(|w| w.parse::<u64>().ok());
    let payload = |len: usize| -> Option<(&[u8], usize)> {
        let start = eol + 1;
        let end = start.checked_add(len)?;
        (bytes.len() > end && bytes[end] == b'\n').then(|| (&bytes[start..end], end + 1))
    };
    match kind {
        "O" => {
            let (seq, len) = (num()?, usize::try_from(num()?).ok()?);
            let (body, next) = payload(len)?;
            store.sent.insert(seq, Sent::At((eol + 1) as u64, len));
            store.next_out = seq + 1;
            Some((Some(Record::Out(seq, body.to_vec())), next))
        }
        "I" => {
            let (seq, len) = (num()?, usize::try_from(num()?).ok()?);
            let (body, next) = payload(len)?;
            store.next_in = seq + 1;
            Some((Some(Record::In(seq, (len > 0).then(|| body.to_vec()))), next))
        }
        "R" => {
            let (next_in, next_out) = (num()?, num()?);
            let at = i64::try_from(num()?).ok()?;
            store.sent.clear();
            store.next_in = next_in;
            store.next_out = next_out;
            store.last_reset = at;
            Some((Some(Record::Reset(next_in, next_out, at)), eol + 1))
        }
        "E" => {
            let next_in = num()?;
            store.next_in = next_in;
            Some((Some(Record::Expect(next_in)), eol + 1))
        }
        "J" => {
            let len = usize::try_from(num()?).ok()?;
            let (body, next) = payload(len)?;
            Some((Some(Record::Own(body.to_vec())), next))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_messages_and_records_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut s, records) = Store::open(dir.path(), true, 1_700_000_000_000).expect("open");
        assert!(records.is_empty());
        assert_eq!((s.next_in(), s.next_out()), (1, 1));
        assert_eq!(s.sent(b"8=FIX.4.4\x01one", false).expect("sent"), 1);
        s.received(1, None).expect("in");
        s.own(br#"{"a":1}"#).expect("own");
        assert_eq!(s.sent(b"two\nwith a newline", true).expect("sent"), 2);
        s.received(2, Some(b"35=8\x01")).expect("in");
        drop(s);
        let (s, records) = Store::open(dir.path(), true, 1_800_000_000_000).expect("reopen");
        assert_eq!((s.created(), s.last_reset()), (1_700_000_000_000, 1_700_000_000));
        assert_eq!((s.next_in(), s.next_out()), (3, 3));
        assert_eq!(s.message(2).as_deref(), Some(b"two\nwith a newline".as_slice()));
        assert_eq!(records.len(), 5);
        assert_eq!(records[2], Record::Own(br#"{"a":1}"#.to_vec()));
        assert_eq!(records[4], Record::In(2, Some(b"35=8\x01".to_vec())));
    }

    #[test]
    fn a_record_cut_by_a_crash_is_dropped_and_writing_goes_on() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut s, _) = Store::open(dir.path(), false, 1).expect("open");
        s.sent(b"first", false).expect("sent");
        drop(s);
        let path = dir.path().join("session.store");
        let mut f = OpenOptions::new().append(true).open(&path).expect("file");
        f.write_all(b"O 2 100\npartial").expect("write");
        drop(f);
        let (mut s, records) = Store::open(dir.path(), false, 1).expect("reopen");
        assert_eq!(records, vec![Record::Out(1, b"first".to_vec())]);
        assert_eq!(s.next_out(), 2);
        s.sent(b"second", false).expect("sent");
        drop(s);
        let (s, records) = Store::open(dir.path(), false, 1).expect("reopen");
        assert_eq!(records.len(), 2);
        assert_eq!(s.message(2).as_deref(), Some(b"second".as_slice()));
    }

    #[test]
    fn a_reset_forgets_what_was_sent_before() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut s, _) = Store::open(dir.path(), false, 1).expect("open");
        s.sent(b"a", false).expect("sent");
        s.expect(7).expect("gap fill");
        s.reset_to(1, 1, 50).expect("reset");
        assert_eq!(s.message(1), None);
        drop(s);
        let (s, _) = Store::open(dir.path(), false, 1).expect("reopen");
        assert_eq!((s.next_in(), s.next_out(), s.message(1), s.last_reset()), (1, 1, None, 50));
    }

    #[test]
    fn a_store_has_one_holder_at_a_time() {
        let dir = tempfile::tempdir().expect("dir");
        let (held, _) = Store::open(dir.path(), false, 1).expect("open");
        assert!(matches!(Store::open(dir.path(), false, 1), Err(StoreError::InUse(_))));
        drop(held);
        assert!(Store::open(dir.path(), false, 1).is_ok(), "free once the holder lets go");
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("session.store"), b"something else\n").expect("write");
        assert!(matches!(Store::open(dir.path(), false, 1), Err(StoreError::Foreign(_))));
    }
}
