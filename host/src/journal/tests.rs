//! The storage engine alone, with a record type of its own: the gateway's entries are
//! `gateway::entry`'s (and tested there).

use super::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A record: a line of text, or a checkpoint carrying a state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Note {
    Line(String),
    Checkpoint { state: String },
}

impl Record for Note {
    fn kind(&self) -> &'static str {
        match self {
            Self::Line(_) => "line",
            Self::Checkpoint { .. } => "checkpoint",
        }
    }

    fn is_checkpoint(&self) -> bool {
        matches!(self, Self::Checkpoint { .. })
    }

    fn encode(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }

    fn decode(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }
}

fn settings(dir: &Path) -> JournalSettings {
    JournalSettings { dir: dir.to_owned(), max_batch: 10_000 }
}

fn entry(n: u64) -> Note {
    Note::Line(format!("R{n}"))
}

fn open(dir: &Path) -> (Journal<Note>, Scan, Vec<(u64, Note)>) {
    let mut seen = Vec::new();
    let (j, scan) = Journal::open(&settings(dir), |seq, e| seen.push((seq, e))).expect("opens");
    (j, scan, seen)
}

fn wait_durable(j: &Journal<Note>, through: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while j.durable() < through {
        assert!(std::time::Instant::now() < deadline, "durable {} of {through}", j.durable());
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn write(dir: &Path, n: u64) {
    let (mut j, _, _) = open(dir);
    for i in 1..=n {
        j.append(entry(i));
        if i % 3 == 0 {
            j.flush();
        }
    }
    j.flush();
    wait_durable(&j, n);
    j.close();
}

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(FILE_NAME)).expect("raw")
}

#[test]
fn a_missing_folder_starts_empty_and_entries_come_back_in_order() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("a/b");
    let (j, scan, seen) = open(&dir);
    assert_eq!((scan.records, scan.last, seen.len()), (0, 0, 0));
    drop(j);
    write(&dir, 25);
    let (mut j, scan, seen) = open(&dir);
    assert_eq!((scan.records, scan.last), (25, 25));
    assert!(scan.truncated.is_none());
    assert_eq!(seen, (1..=25).map(|i| (i, entry(i))).collect::<Vec<_>>());
    // numbering continues
    assert_eq!(j.append(entry(26)), 26);
    j.flush();
    wait_durable(&j, 26);
    let info = j.info().recv().expect("answer").expect("info");
    assert_eq!((info.records, info.first, info.last), (26, 1, 26));
    assert!(info.bytes > 0);
}

#[test]
fn a_damaged_last_record_is_truncated_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), 10);
    raw(tmp.path()).execute("UPDATE records SET body = replace(body, 'R10', 'R99') WHERE seq = 10", []).expect("damage");
    let (j, scan, seen) = open(tmp.path());
    assert_eq!(seen.len(), 9);
    assert_eq!(scan.truncated, Some((10, 1, "checksum mismatch".to_owned())));
    assert_eq!(j.info().recv().expect("answer").expect("info").records, 9, "the damaged record is gone from disk");
    drop(j);
    let (_, scan, seen) = open(tmp.path());
    assert_eq!((seen.len(), scan.truncated), (9, None));
}

#[test]
fn a_damaged_record_with_good_ones_after_it_stops_the_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), 10);
    raw(tmp.path()).execute("UPDATE records SET body = '{\"line\":' WHERE seq = 5", []).expect("damage");
    let e = Journal::<Note>::open(&settings(tmp.path()), |_, _| {}).expect_err("refused");
    match &e {
        JournalError::Corrupt { seq, after, .. } => assert_eq!((*seq, *after), (5, 5)),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("txtraderd journal truncate 5"), "{e}");
    // nothing was dropped by the refusal; the operator's truncate then lets it start
    assert_eq!(raw(tmp.path()).query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0)).expect("n"), 10);
    assert_eq!(truncate(&settings(tmp.path()), 5).expect("truncate"), 6);
    let (_, scan, _) = open(tmp.path());
    assert_eq!(scan.last, 4);
}

#[test]
fn a_missing_record_is_damage_too() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), 10);
    raw(tmp.path()).execute("DELETE FROM records WHERE seq = 4", []).expect("delete");
    match Journal::<Note>::open(&settings(tmp.path()), |_, _| {}) {
        Err(JournalError::Corrupt { seq: 5, why, after: 5, .. }) => assert_eq!(why, "records 4 to 4 are missing"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_torn_wal_is_reported_and_the_last_whole_commit_is_kept() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (live, image) = (tmp.path().join("live"), tmp.path().join("image"));
    let (mut j, _, _) = open(&live);
    for i in 1..=5 {
        j.append(entry(i));
    }
    j.flush();
    wait_durable(&j, 5);
    j.append(Note::Line("A.B.C.D".into()));
    j.flush();
    wait_durable(&j, 6);
    // The files as a power cut would leave them: copied while the journal is open, the last
    // commit's final frame cut short.
    std::fs::create_dir_all(&image).expect("dir");
    std::fs::copy(live.join(FILE_NAME), image.join(FILE_NAME)).expect("db");
    let wal = std::fs::read(live.join(format!("{FILE_NAME}-wal"))).expect("wal exists while open");
    std::fs::write(image.join(format!("{FILE_NAME}-wal")), &wal[..wal.len() - 100]).expect("torn wal");
    let (_, scan, seen) = open(&image);
    assert!(scan.torn_wal_bytes.is_some(), "torn write reported");
    assert_eq!(seen, (1..=5).map(|i| (i, entry(i))).collect::<Vec<_>>(), "the torn commit is gone, the one before kept");
}

#[test]
fn a_second_process_on_the_same_journal_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_j, _, _) = open(tmp.path());
    match Journal::<Note>::open(&settings(tmp.path()), |_, _| {}) {
        Err(JournalError::Locked { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_newer_format_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), 1);
    raw(tmp.path()).execute("UPDATE meta SET value = '9' WHERE key = 'format'", []).expect("format");
    match Journal::<Note>::open(&settings(tmp.path()), |_, _| {}) {
        Err(JournalError::Format { found: 9, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn not_a_database_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join(FILE_NAME), b"this is not a database, just some text that is long enough").expect("junk");
    let e = Journal::<Note>::open(&settings(tmp.path()), |_, _| {}).expect_err("refused");
    assert!(e.to_string().contains("journal.sqlite"), "{e}");
}

fn checkpoint(seq: u64) -> Note {
    Note::Checkpoint { state: format!("everything before record {seq}") }
}

/// Records 1..=5, a checkpoint at 6, records 7 and 8: one rotation.
fn rotate(dir: &Path) {
    let (mut j, _, _) = open(dir);
    for i in 1..=5 {
        j.append(entry(i));
    }
    j.flush();
    wait_durable(&j, 5);
    // the checkpoint arrives in the middle of a batch
    j.append(entry(6));
    let cp = j.appended() + 1;
    j.append(checkpoint(cp));
    j.append(entry(8));
    j.append(entry(9));
    j.flush();
    wait_durable(&j, 9);
    j.close();
}

fn archive_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(ARCHIVE_DIR))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_checkpoint_starts_a_new_file_and_the_old_one_goes_whole_to_the_archive() {
    let tmp = tempfile::tempdir().expect("tmp");
    rotate(tmp.path());
    assert_eq!(archive_files(tmp.path()), ["journal-000000000001-000000000006.sqlite"], "one file, no WAL beside it");
    let old = Connection::open(tmp.path().join(ARCHIVE_DIR).join("journal-000000000001-000000000006.sqlite")).expect("archive opens");
    let n: (i64, i64, i64) = old.query_row("SELECT count(*), min(seq), max(seq) FROM records", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("n");
    assert_eq!(n, (6, 1, 6), "the archived file holds every record before the checkpoint");
    // the active file begins with the checkpoint and reads back from it
    let (mut j, scan, seen) = open(tmp.path());
    assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [7, 8, 9]);
    assert_eq!(seen[0].1, checkpoint(7));
    assert_eq!(scan.checkpoint, Some(7));
    assert_eq!(j.append(entry(10)), 10, "numbering continues");
    j.flush();
    wait_durable(&j, 10);
    let info = j.info().recv().expect("answer").expect("info");
    assert_eq!((info.records, info.first, info.last, info.archive_files), (4, 7, 10, 1));
    assert!(info.archive_bytes > 0);
    // the operator cannot truncate the checkpoint away, only what follows it
    drop(j);
    assert!(matches!(truncate(&settings(tmp.path()), 7), Err(JournalError::Checkpoint { seq: 7, .. })));
    assert_eq!(truncate(&settings(tmp.path()), 9).expect("truncate"), 2);
}

#[test]
fn a_rotation_cut_short_is_undone_or_finished_at_the_next_open() {
    // Cut before the old file was archived: the new file is dropped, the journal is whole.
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), 4);
    std::fs::copy(tmp.path().join(FILE_NAME), tmp.path().join(NEXT_FILE)).expect("half-made new file");
    let (_, scan, seen) = open(tmp.path());
    assert_eq!(seen.len(), 4);
    assert!(scan.rotation.as_deref().is_some_and(|r| r.contains("undone")), "{:?}", scan.rotation);
    assert!(!tmp.path().join(NEXT_FILE).exists());
    // Cut after the old file was archived: the new file becomes the journal.
    let tmp = tempfile::tempdir().expect("tmp");
    rotate(tmp.path());
    std::fs::rename(tmp.path().join(FILE_NAME), tmp.path().join(NEXT_FILE)).expect("as if not yet moved into place");
    let (_, scan, seen) = open(tmp.path());
    assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [7, 8, 9]);
    assert!(scan.rotation.as_deref().is_some_and(|r| r.contains("finished")), "{:?}", scan.rotation);
}

#[test]
fn a_journal_gone_while_the_archive_holds_files_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    rotate(tmp.path());
    std::fs::remove_file(tmp.path().join(FILE_NAME)).expect("lost");
    match Journal::<Note>::open(&settings(tmp.path()), |_, _| {}) {
        Err(e @ JournalError::Missing { archived: 1, .. }) => assert!(e.to_string().contains("archive"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_journal_that_does_not_begin_at_one_or_with_a_checkpoint_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), 6);
    raw(tmp.path()).execute("DELETE FROM records WHERE seq < 3", []).expect("lose the beginning");
    match Journal::<Note>::open(&settings(tmp.path()), |_, _| {}) {
        Err(JournalError::Checkpoint { seq: 3, why, .. }) => assert!(why.contains("records 1 to 2 are missing"), "{why}"),
        other => panic!("{other:?}"),
    }
    // a damaged checkpoint is refused the same way, never truncated to an empty journal
    let tmp = tempfile::tempdir().expect("tmp");
    rotate(tmp.path());
    raw(tmp.path()).execute("UPDATE records SET crc = crc + 1 WHERE seq = 7", []).expect("damage");
    assert!(matches!(Journal::<Note>::open(&settings(tmp.path()), |_, _| {}), Err(JournalError::Checkpoint { seq: 7, .. })));
}
