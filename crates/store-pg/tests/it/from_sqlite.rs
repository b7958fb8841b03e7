//! An SQLite database copied here (what `hookledger migrate` does): the log byte for byte and
//! resumable, refused when it would not chain; the projections with the same digest, whatever
//! the database's locale; the events read back with SQLite's filters.

use domain::NewEvent;
use store::log::{query_events, EventFilter};
use store::{Durability, Store, VerifyReport, Writer, WriterConfig};
use store_pg::{ImportReport, PgStoreError};

use crate::same_as_sqlite::workload;
use crate::TestDb;

/// An SQLite store holding `batches`, each appended as one writer job.
fn sqlite_store(batches: &[Vec<NewEvent>]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("log.db"), Durability::Normal).expect("open");
    append(&store, batches);
    (dir, store)
}

fn append(store: &Store, batches: &[Vec<NewEvent>]) {
    let (writer, thread) = Writer::spawn(store, WriterConfig::default(), None).expect("writer");
    for batch in batches {
        let batch = batch.clone();
        writer
            .submit_blocking(move |ctx| batch.iter().try_for_each(|e| ctx.append(e).map(|_| ())))
            .expect("the writer answered")
            .expect("append");
    }
    drop(writer);
    thread.join().expect("writer thread");
}

/// Every column of every row, as text, in `seq` order.
fn sqlite_rows(store: &Store) -> Vec<Vec<String>> {
    store
        .read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, id, stream, stream_version, type, type_version, source, tenant,
                 recorded_at, idempotency_key, payload, raw_request, hash_layout, prev_hash, hash
                 FROM events ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |row| {
                (0..15)
                    .map(|idx| {
                        Ok(match row.get_ref(idx)? {
                            rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                            other => other.as_str()?.to_owned(),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<String>>>()
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .expect("read SQLite")
}

fn pg_rows(db: &TestDb) -> Vec<Vec<String>> {
    db.sql()
        .query(
            "SELECT seq::text, id, stream, stream_version::text, type, type_version::text,
             source, tenant, recorded_at, idempotency_key, payload, raw_request,
             hash_layout::text, prev_hash, hash FROM events ORDER BY events.seq",
            &[],
        )
        .expect("read PostgreSQL")
        .iter()
        .map(|row| (0..15).map(|idx| row.get::<_, String>(idx)).collect())
        .collect()
}

/// Every column of every row equal (the first difference reported, not both tables).
fn assert_same_rows(db: &TestDb, store: &Store) {
    let (pg, sqlite) = (pg_rows(db), sqlite_rows(store));
    assert_eq!(pg.len(), sqlite.len(), "row counts");
    for (pg, sqlite) in pg.iter().zip(&sqlite) {
        assert_eq!(pg, sqlite, "seq {}", sqlite[0]);
    }
}

/// A writable connection to `store`'s file (its own connections read only).
fn sql(dir: &tempfile::TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("log.db")).expect("open SQLite")
}

fn import(log: &mut store_pg::PgLog, store: &Store) -> Result<ImportReport, PgStoreError> {
    store
        .read(|conn| Ok(log.import_sqlite_log(conn, |_| {})))
        .expect("read SQLite")
}

#[test]
fn an_sqlite_log_is_copied_byte_for_byte_and_verifies_to_the_same_head() {
    let (_dir, store) = sqlite_store(&workload());
    let db = TestDb::create();
    let mut log = db.log();
    let report = import(&mut log, &store).expect("import");
    let sqlite_head = store.read(store::log::head).expect("head").1;
    assert!(report.n_copied > 50);
    assert_eq!(report.n_already_present, 0);
    assert_eq!(report.head, sqlite_head);
    assert_same_rows(&db, &store);
    assert_eq!(
        log.verify(None, |_| {}).expect("verify"),
        VerifyReport::Intact { head: sqlite_head }
    );
    // The copy takes appends as the live log would: the next event chains to the copied head.
    let next = log
        .append_batch(&[crate::event("after", "t", "after-the-copy")])
        .expect("append");
    assert_eq!(next[0].seq, report.n_copied + 1);
    assert!(matches!(
        log.verify(None, |_| {}).expect("verify"),
        VerifyReport::Intact { .. }
    ));
}

#[test]
fn a_copy_resumes_from_a_prefix_and_copying_again_copies_nothing() {
    let batches = workload();
    let (first, rest) = batches.split_at(15);
    let (_dir, store) = sqlite_store(first);
    let db = TestDb::create();
    let mut log = db.log();
    let before = import(&mut log, &store).expect("import");
    append(&store, rest);
    let after = import(&mut log, &store).expect("import the rest");
    let (count, head) = store.read(store::log::head).expect("head");
    assert_eq!(after.n_already_present, before.n_copied);
    assert_eq!(after.n_already_present + after.n_copied, count);
    assert_eq!(after.head, head);
    let again = import(&mut log, &store).expect("import again");
    assert_eq!((again.n_copied, again.n_already_present), (0, count));
    assert_same_rows(&db, &store);
}

#[test]
fn a_target_holding_another_log_is_refused_and_keeps_its_rows() {
    let (_dir, store) = sqlite_store(&workload());
    let db = TestDb::create();
    let mut log = db.log();
    log.append_batch(&[crate::event("other", "t", "another log")])
        .expect("append");
    let refused = import(&mut log, &store);
    assert!(
        matches!(&refused, Err(PgStoreError::Refused(m)) if m.contains("not the source's")),
        "{refused:?}"
    );
    assert_eq!(crate::count(&db), 1);
}

#[test]
fn a_broken_source_copies_the_rows_before_its_first_bad_seq_and_none_after() {
    let (dir, store) = sqlite_store(&workload());
    sql(&dir)
        .execute_batch(
            "DROP TRIGGER events_refuse_update;
             UPDATE events SET payload = replace(payload, 'batch', 'BATCH') WHERE seq = 20;",
        )
        .expect("tamper");
    let db = TestDb::create();
    let mut log = db.log();
    let refused = import(&mut log, &store);
    assert!(
        matches!(&refused, Err(PgStoreError::Refused(m)) if m.contains("breaks at seq 20")),
        "{refused:?}"
    );
    // Chunks go in whole: nothing of the chunk holding seq 20 was sent.
    assert!(crate::count(&db) < 20);
    assert!(matches!(
        log.verify(None, |_| {}).expect("verify"),
        VerifyReport::Intact { .. }
    ));
}

/// Projection rows whose keys sort otherwise in an English collation than in byte order
/// (bytes: "10" < "9" < "A" < "B" < "Z" < "a" < "a-1" < "a_1" < "ä" < "é"), with journal
/// lines and outbox rows keyed by them.
fn fill_projections(conn: &rusqlite::Connection) {
    (|| -> rusqlite::Result<()> {
        let keys = ["a", "B", "é", "Z", "ä", "a-1", "a_1", "A", "10", "9"];
        for (n, key) in keys.iter().enumerate() {
            conn.execute(
                "INSERT INTO proj_docs (kind, key, body, seq) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    if n % 2 == 0 { "order" } else { "Order" },
                    key,
                    format!("{{\"n\":{n},\"note\":\"ünïcode\"}}"),
                    n as i64 + 1
                ],
            )?;
            conn.execute(
                "INSERT INTO proj_journal_lines (entry_id, line_no, seq, recorded_at,
                     account, currency, debit_minor, credit_minor, memo)
                     VALUES (?1, ?2, ?3, '2026-12-03T10:00:00.000000Z', ?4, 'EUR', ?5, 0, 'm')",
                rusqlite::params![key, (n % 2) as i64, 7, format!("Assets:{key}"), n as i64],
            )?;
            conn.execute(
                "INSERT INTO proj_outbox (id, seq, event, destination, stream, recorded_at,
                     payload) VALUES (?1, 3, 'order.updated', 'zapier', 's',
                     '2026-12-03T10:00:00.000000Z', '{}')",
                [key],
            )?;
        }
        conn.execute(
            "INSERT INTO proj_meta (key, value) VALUES ('applied_seq', '10')",
            [],
        )?;
        Ok(())
    })()
    .expect("fill the projections");
}

#[test]
fn copied_projections_have_the_same_digest_in_a_database_with_an_english_collation() {
    let (dir, store) = sqlite_store(&workload()[..3]);
    fill_projections(&sql(&dir));
    let sqlite_digest = store.read(store::projection::digest).expect("digest");
    let db = TestDb::create_with(
        "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' \
         LOCALE 'C.UTF-8'",
    );
    let mut log = db.log();
    let empty = log.digest().expect("digest");
    let (_empty_dir, empty_store) = sqlite_store(&[]);
    assert_eq!(
        empty,
        empty_store.read(store::projection::digest).expect("digest"),
        "no projections: the same digest too"
    );
    let counts = store
        .read(|conn| Ok(log.replace_projections_from_sqlite(conn)))
        .expect("read")
        .expect("copy");
    assert_eq!(
        counts,
        [
            ("proj_docs", 10),
            ("proj_journal_lines", 10),
            ("proj_outbox", 10),
            ("proj_meta", 1)
        ]
    );
    assert_eq!(log.digest().expect("digest"), sqlite_digest);
    // The database's own order is not byte order: the digest holds because the columns are
    // COLLATE "C".
    let english: Vec<String> = db
        .sql()
        .query(
            "SELECT key FROM proj_docs ORDER BY key COLLATE \"en-US-x-icu\"",
            &[],
        )
        .expect("order")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let bytes: Vec<String> = db
        .sql()
        .query("SELECT key FROM proj_docs ORDER BY key", &[])
        .expect("order")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_ne!(english, bytes);
    // Replacing again replaces: the same rows, not twice as many.
    store
        .read(|conn| Ok(log.replace_projections_from_sqlite(conn)))
        .expect("read")
        .expect("copy again");
    assert_eq!(log.digest().expect("digest"), sqlite_digest);
    // A change to one projected byte changes the digest.
    db.sql()
        .execute(
            "UPDATE proj_docs SET body = body || ' ' WHERE key = 'é'",
            &[],
        )
        .expect("change");
    assert_ne!(log.digest().expect("digest"), sqlite_digest);
}

#[test]
fn events_are_filtered_as_sqlite_filters_them() {
    let (_dir, store) = sqlite_store(&workload());
    let db = TestDb::create();
    let mut log = db.log();
    import(&mut log, &store).expect("import");
    let all = store
        .read(|c| query_events(c, &EventFilter::default()))
        .expect("query");
    let middle = &all[all.len() / 2].recorded_at;
    let filters = [
        EventFilter::default(),
        EventFilter {
            stream: Some("payment:stripe:ä".into()),
            ..Default::default()
        },
        EventFilter {
            source: Some("roms".into()),
            after_seq: 10,
            limit: Some(5),
            ..Default::default()
        },
        EventFilter {
            event_type: Some("test.happened".into()),
            since: Some(middle.clone()),
            ..Default::default()
        },
        EventFilter {
            until: Some(middle.clone()),
            until_seq: Some(30),
            ..Default::default()
        },
        EventFilter {
            stream: Some("no such stream".into()),
            ..Default::default()
        },
    ];
    for filter in filters {
        let expected = store
            .read(|c| query_events(c, &filter))
            .expect("query SQLite");
        let mut found = Vec::new();
        log.for_each_event(&filter, |event| {
            found.push(event);
            Ok::<(), PgStoreError>(())
        })
        .expect("query PostgreSQL");
        assert_eq!(found, expected, "{filter:?}");
    }
}

#[test]
fn the_log_copied_back_into_a_new_sqlite_file_is_the_original_byte_for_byte() {
    let (_dir, store) = sqlite_store(&workload());
    let db = TestDb::create();
    let mut log = db.log();
    import(&mut log, &store).expect("import");
    let back_dir = tempfile::tempdir().expect("temp dir");
    let back = back_dir.path().join("back.db");
    let n = log
        .export_log_to_sqlite(&back, None, |_| {})
        .expect("export");
    let back_store = Store::open(&back, Durability::Normal).expect("open");
    assert_eq!(n, store.read(store::log::head).expect("head").0);
    assert_eq!(sqlite_rows(&back_store), sqlite_rows(&store));
    // Up to a seq: that prefix.
    let prefix = back_dir.path().join("prefix.db");
    assert_eq!(
        log.export_log_to_sqlite(&prefix, Some(10), |_| {})
            .expect("export"),
        10
    );
    // Never over an existing file.
    assert!(matches!(
        log.export_log_to_sqlite(&back, None, |_| {}),
        Err(PgStoreError::Refused(_))
    ));
    // A changed byte in PostgreSQL stops the copy at that row.
    db.sql()
        .batch_execute(
            "ALTER TABLE events DISABLE TRIGGER events_refuse_update;
             UPDATE events SET stream = stream || 'x' WHERE seq = 7;",
        )
        .expect("tamper");
    let refused = log.export_log_to_sqlite(&back_dir.path().join("broken.db"), None, |_| {});
    assert!(
        matches!(&refused, Err(PgStoreError::Refused(m)) if m.contains("breaks at seq 7")),
        "{refused:?}"
    );
}
