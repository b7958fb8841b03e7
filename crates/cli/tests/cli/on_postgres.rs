//! The commands on PostgreSQL (`--features pg-tests`, a server at `HOOKLEDGER_TEST_PG`, as
//! store-pg's tests): `migrate` from SQLite, then `verify`, `digest`, `events` and `ledger`
//! print what they print on the SQLite file, and `replay` rebuilds its projections; what cannot
//! run says so, exits 2, and creates nothing. Two `serve` nodes share one database (one of them
//! killed midway), its minted tokens and its deliveries.

use std::path::{Path, PathBuf};

use crate::ledger_command::run as run_ok;
use crate::replay_command::write_workload;
use crate::{hookledger, stdout};

/// A database of its own on the test server, dropped with the value.
struct TestDb {
    url: String,
    name: String,
    base_url: String,
}

impl TestDb {
    fn create() -> TestDb {
        let base_url = std::env::var("HOOKLEDGER_TEST_PG").unwrap_or_else(|_| {
            panic!(
                "HOOKLEDGER_TEST_PG is not set: start a server with `export \
                 HOOKLEDGER_TEST_PG=$(scripts/pg-cluster start /tmp/pg)`"
            )
        });
        let name = format!("cli_{}", uuid_like());
        let mut admin = postgres::Client::connect(&base_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {base_url}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let url = match base_url.rfind('/') {
            Some(i) if i > "postgres://".len() => format!("{}/{name}", &base_url[..i]),
            _ => panic!("HOOKLEDGER_TEST_PG={base_url} names no database"),
        };
        TestDb {
            url,
            name,
            base_url,
        }
    }

    fn sql(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.base_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name));
        }
    }
}

/// A name no other test picks: the process id and a counter.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A temporary folder holding `ledger.db`, the mixed workload's first `n` requests.
fn ledger_file(n: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ledger.db");
    write_workload(&file, 0, n);
    (dir, file)
}

/// The `recorded_at` of the event at `seq` in the SQLite file `file`, as `events` prints it.
fn recorded_at(file: &Path, seq: u64) -> String {
    let after_seq = (seq - 1).to_string();
    let csv = run_ok(&[
        "events",
        "--db",
        path(file),
        "--after-seq",
        &after_seq,
        "--limit",
        "1",
        "--format",
        "csv",
    ]);
    let row = csv.lines().nth(1).expect("a row").to_owned();
    row.split(',').nth(8).expect("recorded_at").to_owned()
}

#[test]
fn migrate_copies_the_ledger_and_every_reading_command_agrees_with_the_sqlite_file() {
    let (dir, file) = ledger_file(400);
    let db = TestDb::create();
    let sqlite_digest = run_ok(&["digest", "--db", path(&file)]);
    let sqlite_head = run_ok(&["verify", "--db", path(&file)]);
    let auditor = run_ok(&["token", "create", "--role", "auditor", "--db", path(&file)]);

    let migrated = run_ok(&["migrate", "--from", path(&file), "--to", &db.url]);
    assert!(migrated.starts_with("migrated "), "{migrated}");
    assert!(migrated.contains(sqlite_digest.trim()), "{migrated}");
    assert!(migrated.contains(" 0 there already"), "{migrated}");
    assert!(
        migrated.trim_end().ends_with("; 1 of 1 tokens added"),
        "{migrated}"
    );
    // The token is there as its SHA-256, with its role.
    let stored: Vec<(String, String)> = db
        .sql()
        .query("SELECT token_sha256, role FROM tokens", &[])
        .expect("tokens")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        stored,
        vec![(
            store::ops::token_digest(auditor.trim()),
            "auditor".to_owned()
        )]
    );
    // The scratch files of the rebuild are gone; the source is as it was.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("migrate"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(run_ok(&["digest", "--db", path(&file)]), sqlite_digest);

    assert_eq!(run_ok(&["digest", "--db", &db.url]), sqlite_digest);
    assert_eq!(run_ok(&["verify", "--db", &db.url]), sqlite_head);
    let head = sqlite_head
        .trim()
        .rsplit(' ')
        .next()
        .expect("hash")
        .to_owned();
    let seq = sqlite_head
        .split_whitespace()
        .nth(3)
        .expect("seq")
        .to_owned();
    run_ok(&[
        "verify",
        "--db",
        &db.url,
        "--expect",
        &format!("{seq}:{head}"),
    ]);
    for args in [
        vec!["--format", "ndjson"],
        vec!["--format", "csv", "--source", "roms"],
        vec!["--type", "stripe.event_received", "--limit", "7"],
        vec![
            "--after-seq",
            "100",
            "--limit",
            "50",
            "--since",
            "2020-01-01T00:00:00Z",
        ],
    ] {
        let on = |db: &str| {
            let mut all = vec!["events", "--db", db];
            all.extend(&args);
            run_ok(&all)
        };
        assert_eq!(on(&db.url), on(path(&file)), "events {args:?}");
    }

    // The accountant's reports, every format, past states and filters.
    let middle = recorded_at(&file, 200);
    for args in [
        vec!["trial-balance"],
        vec!["trial-balance", "--format", "json"],
        vec!["trial-balance", "--format", "csv", "--as-of", "150"],
        vec!["trial-balance", "--as-of", &middle],
        vec!["journal", "--format", "ledger"],
        vec!["journal", "--format", "beancount"],
        vec![
            "journal",
            "--format",
            "json",
            "--account",
            "Assets:Receivables",
        ],
        vec!["journal", "--format", "csv", "--since", &middle],
        vec!["journal", "--until", &middle, "--account", "Income"],
        vec!["register", "--account", "Assets", "--format", "json"],
        vec![
            "register",
            "--account",
            "Assets:Receivables:Roms",
            "--since",
            &middle,
        ],
        vec![
            "register",
            "--account",
            "Assets:Cash",
            "--until",
            &middle,
            "--format",
            "csv",
        ],
    ] {
        let on = |db: &str| {
            let mut all = vec!["ledger", args[0], "--db", db];
            all.extend(&args[1..]);
            run_ok(&all)
        };
        let (pg, sqlite) = (on(&db.url), on(path(&file)));
        assert!(sqlite.len() > 100, "ledger {args:?}: {sqlite}");
        assert_eq!(pg, sqlite, "ledger {args:?}");
    }

    // replay: in place, projections damaged in PostgreSQL are rebuilt from its log; --into, a
    // past state of it is the SQLite file's past state.
    db.sql()
        .batch_execute("DELETE FROM proj_docs WHERE seq % 3 = 0; DELETE FROM proj_outbox;")
        .expect("damage the projections");
    assert_ne!(run_ok(&["digest", "--db", &db.url]), sqlite_digest);
    let replayed = run_ok(&["replay", "--db", &db.url]);
    assert!(
        replayed.trim().ends_with(sqlite_digest.trim()),
        "{replayed}"
    );
    assert_eq!(run_ok(&["digest", "--db", &db.url]), sqlite_digest);
    let past_of = |db: &str, into: &Path| {
        let text = run_ok(&[
            "replay",
            "--db",
            db,
            "--into",
            path(into),
            "--until-seq",
            "150",
        ]);
        text.trim().rsplit(' ').next().expect("digest").to_owned()
    };
    assert_eq!(
        past_of(&db.url, &dir.path().join("past-pg.db")),
        past_of(path(&file), &dir.path().join("past-sqlite.db"))
    );
    let scratch: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".hookledger-"))
        .collect();
    assert!(scratch.is_empty(), "{scratch:?}");

    // Again: nothing copied twice, the same digest proved.
    let again = run_ok(&["migrate", "--from", path(&file), "--to", &db.url]);
    assert!(again.contains("(0 copied, 400 there already)"), "{again}");
    assert!(again.contains(sqlite_digest.trim()), "{again}");

    // A change to one stored byte in PostgreSQL is caught by verify there.
    db.sql()
        .batch_execute(
            "ALTER TABLE events DISABLE TRIGGER events_refuse_update;
             UPDATE events SET payload = payload || ' ' WHERE seq = 42;",
        )
        .expect("tamper");
    let broken = hookledger(&["verify", "--db", &db.url]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stdout(&broken).starts_with("broken: first bad seq 42"),
        "{}",
        stdout(&broken)
    );
}

#[test]
fn migrate_resumes_a_copy_of_a_log_that_grew_and_refuses_another_log() {
    let (dir, file) = ledger_file(100);
    let db = TestDb::create();
    run_ok(&["migrate", "--from", path(&file), "--to", &db.url]);
    write_workload(&file, 100, 150);
    let grown = run_ok(&["migrate", "--from", path(&file), "--to", &db.url]);
    assert!(
        grown.contains("copied, 100 there already)") && !grown.contains("(0 copied"),
        "{grown}"
    );
    assert_eq!(
        run_ok(&["digest", "--db", &db.url]),
        run_ok(&["digest", "--db", path(&file)])
    );

    let other = dir.path().join("other.db");
    write_workload(&other, 1_000, 1_010);
    let refused = hookledger(&["migrate", "--from", path(&other), "--to", &db.url]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("not the source's"), "{stderr}");
    assert_eq!(
        run_ok(&["digest", "--db", &db.url]),
        run_ok(&["digest", "--db", path(&file)]),
        "the refused copy changed nothing"
    );
}

#[test]
fn serve_without_an_admin_token_and_readers_of_an_empty_database_refuse_and_create_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::create();
    let with_password = db.url.replacen("://postgres@", "://postgres:s3cret@", 1);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookledger"))
        .args(["serve", "--db", &with_password])
        .current_dir(dir.path())
        .env_remove("HOOKLEDGER_DB")
        .env_remove("HOOKLEDGER_ADMIN_TOKEN")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("on PostgreSQL every node needs the same admin token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cret"),
        "the password is not printed: {stderr}"
    );
    let created: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    assert!(created.is_empty(), "{created:?}");

    // A database without a hookledger log: reading commands refuse it, and create no schema.
    for args in [
        vec!["verify", "--db", &db.url],
        vec!["digest", "--db", &db.url],
        vec!["events", "--db", &db.url],
        vec!["ledger", "journal", "--db", &db.url],
    ] {
        let output = hookledger(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no hookledger log"), "{stderr}");
    }
    let tables: i64 = db
        .sql()
        .query_one(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .expect("count")
        .get(0);
    assert_eq!(tables, 0);

    // migrate wants a URL and a file.
    let not_url = hookledger(&["migrate", "--from", "x.db", "--to", "other.db"]);
    assert_eq!(not_url.status.code(), Some(2));
    let missing = hookledger(&["migrate", "--from", "/nonexistent/x.db", "--to", &db.url]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database at"));
}

/// The digest at the end of a replay's one line.
fn replayed_digest(line: &str) -> String {
    assert!(
        line.starts_with("replayed ") && line.contains("events/s"),
        "{line}"
    );
    line.trim().rsplit(' ').next().expect("digest").to_owned()
}

/// The names in `dir` that a build leaves behind if it does not clean up.
fn scratch_left(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".hookledger-"))
        .collect()
}

#[test]
fn replay_into_a_new_postgresql_database_gives_the_file_s_digest_head_and_past_states() {
    let (dir, file) = ledger_file(300);
    let (file_digest, file_head) = (
        run_ok(&["digest", "--db", path(&file)]),
        run_ok(&["verify", "--db", path(&file)]),
    );

    // The whole log: the same digest and head as the file and as `--into file.db`.
    let db = TestDb::create();
    let into_pg = run_ok(&["replay", "--db", path(&file), "--into", &db.url]);
    let copy = dir.path().join("copy.db");
    let into_file = run_ok(&["replay", "--db", path(&file), "--into", path(&copy)]);
    assert_eq!(replayed_digest(&into_pg), file_digest.trim());
    assert_eq!(replayed_digest(&into_file), file_digest.trim());
    assert_eq!(run_ok(&["digest", "--db", &db.url]), file_digest);
    assert_eq!(run_ok(&["verify", "--db", &db.url]), file_head);
    assert_eq!(run_ok(&["verify", "--db", path(&copy)]), file_head);
    assert_eq!(
        run_ok(&[
            "ledger",
            "trial-balance",
            "--db",
            &db.url,
            "--format",
            "json"
        ]),
        run_ok(&[
            "ledger",
            "trial-balance",
            "--db",
            path(&file),
            "--format",
            "json"
        ])
    );
    // The source is as it was, and the scratch file is gone.
    assert_eq!(run_ok(&["digest", "--db", path(&file)]), file_digest);
    assert_eq!(run_ok(&["verify", "--db", path(&file)]), file_head);
    assert!(scratch_left(dir.path()).is_empty());

    // A past state, by seq and by time: the state of `--into past.db` with the same flag.
    let recorded_at_150 = recorded_at(&file, 150);
    for (flag, value) in [
        ("--until-seq", "150"),
        ("--as-of", recorded_at_150.as_str()),
    ] {
        let past_pg = TestDb::create();
        let past_file = dir.path().join(format!("past{}.db", flag.len()));
        let past_into =
            |into: &str| run_ok(&["replay", "--db", path(&file), flag, value, "--into", into]);
        let (on_pg, on_file) = (past_into(&past_pg.url), past_into(path(&past_file)));
        // "replayed N events (up to seq M)", then the time it took.
        let counts = |line: &str| line.split(" in ").next().expect("counts").to_owned();
        assert_eq!(counts(&on_pg), counts(&on_file), "{flag}");
        assert_eq!(replayed_digest(&on_pg), replayed_digest(&on_file), "{flag}");
        assert_ne!(replayed_digest(&on_pg), file_digest.trim(), "{flag}");
        assert_eq!(
            run_ok(&["digest", "--db", &past_pg.url]).trim(),
            replayed_digest(&on_file),
            "{flag}"
        );
        let past_head = run_ok(&["verify", "--db", &past_pg.url]);
        assert_eq!(
            past_head,
            run_ok(&["verify", "--db", path(&past_file)]),
            "{flag}"
        );
        if flag == "--until-seq" {
            assert!(on_pg.contains("(up to seq 150)"), "{on_pg}");
            assert!(past_head.starts_with("ok: head seq 150 "), "{past_head}");
        }
        assert_eq!(
            run_ok(&["ledger", "journal", "--db", &past_pg.url, "--format", "csv"]),
            run_ok(&[
                "ledger",
                "journal",
                "--db",
                path(&past_file),
                "--format",
                "csv"
            ]),
            "{flag}"
        );
    }
    assert!(scratch_left(dir.path()).is_empty());
}

#[test]
fn replay_from_one_postgresql_database_into_another_gives_the_same_ledger_and_past_state() {
    let (dir, file) = ledger_file(200);
    let source = TestDb::create();
    run_ok(&["migrate", "--from", path(&file), "--to", &source.url]);
    let (source_digest, source_head) = (
        run_ok(&["digest", "--db", &source.url]),
        run_ok(&["verify", "--db", &source.url]),
    );

    let target = TestDb::create();
    let replayed = run_ok(&["replay", "--db", &source.url, "--into", &target.url]);
    assert_eq!(replayed_digest(&replayed), source_digest.trim());
    assert_eq!(run_ok(&["digest", "--db", &target.url]), source_digest);
    assert_eq!(run_ok(&["verify", "--db", &target.url]), source_head);
    assert_eq!(
        run_ok(&["events", "--db", &target.url, "--format", "ndjson"]),
        run_ok(&["events", "--db", &source.url, "--format", "ndjson"])
    );
    assert_eq!(run_ok(&["digest", "--db", &source.url]), source_digest);
    assert_eq!(run_ok(&["verify", "--db", &source.url]), source_head);

    let past = TestDb::create();
    let past_pg = run_ok(&[
        "replay",
        "--db",
        &source.url,
        "--until-seq",
        "120",
        "--into",
        &past.url,
    ]);
    let past_file = dir.path().join("past.db");
    let on_file = run_ok(&[
        "replay",
        "--db",
        path(&file),
        "--until-seq",
        "120",
        "--into",
        path(&past_file),
    ]);
    assert_eq!(replayed_digest(&past_pg), replayed_digest(&on_file));
    assert_eq!(
        run_ok(&["digest", "--db", &past.url]).trim(),
        replayed_digest(&on_file)
    );
    assert_eq!(
        run_ok(&["verify", "--db", &past.url]),
        run_ok(&["verify", "--db", path(&past_file)])
    );
    assert!(scratch_left(dir.path()).is_empty());
}

/// Every table's row count in the public schema, and the database's digest and head: what a
/// refused replay must leave as it was.
fn state_of(db: &TestDb) -> (Vec<(String, i64)>, String, String) {
    let mut sql = db.sql();
    let tables: Vec<String> = sql
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .expect("tables")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let counts = tables
        .into_iter()
        .map(|table| {
            let n: i64 = sql
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .expect("count")
                .get(0);
            (table, n)
        })
        .collect();
    (
        counts,
        run_ok(&["digest", "--db", &db.url]),
        run_ok(&["verify", "--db", &db.url]),
    )
}

/// A refused replay: exit 1, one line on stderr that contains `reason`, nothing on stdout.
fn assert_refused(args: &[&str], reason: &str) {
    let output = hookledger(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(reason), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{args:?}");
}

#[test]
fn replay_into_postgresql_refuses_a_database_holding_events_the_source_itself_and_a_locked_one() {
    let (dir, file) = ledger_file(60);
    let other = dir.path().join("other.db");
    write_workload(&other, 1_000, 1_020);
    let db = TestDb::create();
    run_ok(&["migrate", "--from", path(&file), "--to", &db.url]);
    let before = state_of(&db);

    // A ledger already there: refused from a file (this log's or another's) and from itself.
    for source in [path(&other), path(&file)] {
        assert_refused(
            &["replay", "--db", source, "--into", &db.url],
            "holds events",
        );
        assert_refused(
            &[
                "replay",
                "--db",
                source,
                "--until-seq",
                "5",
                "--into",
                &db.url,
            ],
            "holds events",
        );
    }
    // The same database by another URL is the source, also when its log is empty.
    let same = format!("{}?application_name=another_url", db.url);
    assert_refused(
        &["replay", "--db", &db.url, "--into", &same],
        "is the source database",
    );
    assert_eq!(state_of(&db), before, "the refused replays changed nothing");
    assert!(scratch_left(dir.path()).is_empty());

    let empty_file = dir.path().join("empty.db");
    write_workload(&empty_file, 0, 0);
    let empty = TestDb::create();
    run_ok(&["migrate", "--from", path(&empty_file), "--to", &empty.url]);
    let empty_same = format!("{}?application_name=another_url", empty.url);
    assert_refused(
        &["replay", "--db", &empty.url, "--into", &empty_same],
        "is the source database",
    );

    // A database another replay is building (it holds the build lock).
    let busy = TestDb::create();
    let mut holder = busy.sql();
    let locked: bool = holder
        .query_one(
            "SELECT pg_try_advisory_lock($1)",
            &[&store_pg::BUILD_LOCK_KEY],
        )
        .expect("lock")
        .get(0);
    assert!(locked);
    assert_refused(
        &["replay", "--db", path(&file), "--into", &busy.url],
        "being built by another hookledger process",
    );
    drop(holder);
    let replayed = run_ok(&["replay", "--db", path(&file), "--into", &busy.url]);
    assert_eq!(replayed_digest(&replayed), before.1.trim());
}

/// A database with hookledger's empty tables, to which `sql` is done before a replay into it.
fn prepared_target(empty_file: &Path, sql: &str) -> TestDb {
    let db = TestDb::create();
    run_ok(&["migrate", "--from", path(empty_file), "--to", &db.url]);
    db.sql().batch_execute(sql).expect("prepare the target");
    db
}

/// A replay that fails: exit 1 and its message, returned (after the progress lines; the
/// server's own words may span lines).
fn replay_failing(source: &Path, into: &TestDb) -> String {
    let output = hookledger(&["replay", "--db", path(source), "--into", &into.url]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "{stderr}");
    let start = stderr.find("hookledger: ").expect("a message");
    assert!(!stderr[start + 1..].contains("hookledger: "), "{stderr}");
    stderr[start..].to_owned()
}

#[test]
fn a_replay_into_postgresql_that_fails_after_sending_rows_says_what_the_target_holds() {
    // More events than one chunk of the copy (5,000 rows).
    let (dir, file) = ledger_file(5_100);
    let head = run_ok(&["verify", "--db", path(&file)]);
    let n_events = head.split_whitespace().nth(3).expect("seq").to_owned();
    let empty_file = dir.path().join("empty.db");
    write_workload(&empty_file, 0, 0);
    let advice = "it is no ledger to use; drop it and replay into a new database";

    // The first chunk cannot be stored: nothing was, and it says so.
    let db = prepared_target(
        &empty_file,
        "ALTER TABLE events ADD CONSTRAINT small CHECK (seq < 10)",
    );
    let stderr = replay_failing(&file, &db);
    assert!(stderr.contains("violates check constraint"), "{stderr}");
    assert!(stderr.contains("holds no events"), "{stderr}");
    assert_eq!(
        run_ok(&["verify", "--db", &db.url]),
        "ok: the log is empty\n"
    );

    // The second chunk cannot be stored: the first is there.
    let db = prepared_target(
        &empty_file,
        "ALTER TABLE events ADD CONSTRAINT small CHECK (seq < 5050)",
    );
    let stderr = replay_failing(&file, &db);
    assert!(
        stderr.contains("now holds the first 5000 events of the log (the copy stopped there)"),
        "{stderr}"
    );
    assert!(stderr.contains(advice), "{stderr}");
    assert!(run_ok(&["verify", "--db", &db.url]).starts_with("ok: head seq 5000 "));

    // The projections cannot be written: the log is there, and verifies.
    let db = prepared_target(
        &empty_file,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'no documents here'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON proj_docs
             FOR EACH STATEMENT EXECUTE FUNCTION refuse();",
    );
    let stderr = replay_failing(&file, &db);
    assert!(stderr.contains("no documents here"), "{stderr}");
    assert!(
        stderr.contains(&format!("now holds the log up to seq {n_events}, verified")),
        "{stderr}"
    );
    assert!(stderr.contains(advice), "{stderr}");
    assert_eq!(run_ok(&["verify", "--db", &db.url]), head);
    assert!(scratch_left(dir.path()).is_empty());
}

/// `serve` as a node on the PostgreSQL database `url`, its own files in `dir`.
fn serve_node(url: &str, dir: &Path, port: u16) -> std::process::Child {
    serve_node_with(url, dir, port, &[])
}

/// [`serve_node`] with more environment variables.
fn serve_node_with(
    url: &str,
    dir: &Path,
    port: u16,
    env: &[(&str, String)],
) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_hookledger"))
        .args(["serve", "--db", url, "--bind", &format!("127.0.0.1:{port}")])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir)
        .env("HOOKLEDGER_ADMIN_TOKEN", "crash-test-token")
        .env("HOOKLEDGER_NODE_DIR", dir)
        .env_remove("HOOKLEDGER_DB")
        .env_remove("WEBHOOK_SECRET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "serve on PostgreSQL did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// A JSON field of a response body, as text.
fn field(body: &str, name: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
    match &value[name] {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[test]
fn two_serve_nodes_share_one_log_and_a_node_killed_midway_loses_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use crate::crash::{free_port, http};

    let db = TestDb::create();
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let ports = [free_port(), free_port()];
    let mut nodes = [
        serve_node(&db.url, dirs[0].path(), ports[0]),
        serve_node(&db.url, dirs[1].path(), ports[1]),
    ];
    // Four senders, each sending to both nodes in turn: a new order each time (checked below),
    // and every other time a status of one of five orders that every sender changes, so that
    // both nodes append to the same streams and must see each other's events.
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for sender in 0..4 {
        let (answered, stop) = (answered.clone(), stop.clone());
        senders.push(std::thread::spawn(move || {
            let statuses = ["pending", "processing", "shipped", "delivered"];
            for n in 0..5_000usize {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let port = ports[(sender + n) % 2];
                let order = format!("pg-{sender}-{n}");
                let body =
                    format!(r#"{{"order_number":"{order}","price":"1.00","status":"pending"}}"#);
                if let Some((200, _)) = http(port, "POST", "/api/v2/webhooks/orders", &body) {
                    answered.lock().expect("lock").push(order);
                }
                if n % 2 == 0 {
                    let shared = format!(
                        r#"{{"order_number":"shared-{}","price":"2.00","status":"{}"}}"#,
                        n % 5,
                        statuses[(n / 2 + sender) % 4]
                    );
                    let _ = http(port, "POST", "/api/v2/webhooks/orders", &shared);
                }
            }
        }));
    }
    let wait_for = |count: usize| {
        let started = std::time::Instant::now();
        while answered.lock().expect("lock").len() < count
            && started.elapsed() < std::time::Duration::from_secs(90)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    wait_for(200);
    nodes[0].kill().expect("SIGKILL node 0");
    let _ = nodes[0].wait();
    // Node 1 goes on alone (requests to node 0 fail to connect and are not counted).
    let before = answered.lock().expect("lock").len();
    wait_for(before + 100);
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        let _ = sender.join();
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(answered.len() >= 300, "only {} answered", answered.len());

    // One chain over both nodes' batches, and gapless: verify walks every seq from 1.
    let verified = run_ok(&["verify", "--db", &db.url]);
    let head: u64 = verified
        .split_whitespace()
        .nth(3)
        .and_then(|seq| seq.parse().ok())
        .unwrap_or_else(|| panic!("verify said {verified}"));
    let events = run_ok(&[
        "events", "--db", &db.url, "--format", "ndjson", "--limit", "1000000",
    ]);
    let seqs: Vec<u64> = events
        .lines()
        .map(|line| field(line, "seq").parse().expect("seq"))
        .collect();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "a gapless seq");
    let mut in_log = std::collections::HashSet::new();
    for line in events.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("event");
        if let Some(number) = event["payload"]["order_number"].as_str() {
            in_log.insert(number.to_owned());
        }
    }
    let missing: Vec<&String> = answered.iter().filter(|o| !in_log.contains(*o)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} requests answered 200 are not in the log: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(5)]
    );

    // The killed node comes back and follows the log; both nodes then hold PostgreSQL's state,
    // and so does the same log replayed on SQLite.
    nodes[0] = serve_node(&db.url, dirs[0].path(), ports[0]);
    let digest = run_ok(&["digest", "--db", &db.url]).trim().to_owned();
    for port in ports {
        // A node reads its working copy, which follows the others' writes within 200 ms.
        let started = std::time::Instant::now();
        let mut body = String::new();
        while started.elapsed() < std::time::Duration::from_secs(10) {
            let (status, answer) = http(port, "GET", "/api/digest", "").expect("digest");
            assert_eq!(status, 200, "{answer}");
            body = answer;
            if field(&body, "digest") == digest {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(field(&body, "digest"), digest, "node on port {port}");
        let (status, body) = http(port, "GET", "/api/verify", "").expect("verify");
        assert_eq!(status, 200, "{body}");
        assert_eq!(field(&body, "head_seq"), head.to_string());
    }
    let replayed_dir = tempfile::tempdir().expect("temp dir");
    let replayed = replayed_dir.path().join("replayed.db");
    let line = run_ok(&["replay", "--db", &db.url, "--into", path(&replayed)]);
    assert_eq!(replayed_digest(&line), digest, "{line}");
    // A token minted on one node (over HTTP, or with `token create`) is accepted by the other.
    let (status, answer) = http(
        ports[1],
        "POST",
        "/api/v1/tenant/tokens",
        r#"{"role":"auditor"}"#,
    )
    .expect("mint");
    assert_eq!(status, 201, "{answer}");
    let minted = field(&answer, "token");
    let created = hookledger(&["token", "create", "--role", "auditor", "--db", &db.url]);
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    for token in [minted, stdout(&created).trim().to_owned()] {
        let read = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("http://127.0.0.1:{}/api/events?limit=1", ports[0]))
            .output()
            .expect("curl");
        assert_eq!(
            String::from_utf8_lossy(&read.stdout),
            "200",
            "token {token}"
        );
    }

    // While nodes serve it, nothing may rebuild the database under them.
    let refused = hookledger(&["replay", "--db", &db.url]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("served or being built"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    for node in &mut nodes {
        node.kill().expect("kill");
        let _ = node.wait();
    }
}

/// A receiver of seed 003's callbacks on a free port: answers 200 after `delay`, and records
/// the `webhook-id` of every request (each arrival, so a delivery sent twice shows twice).
fn callback_sink(
    delay: std::time::Duration,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the sink");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let (mut id, mut length) = (None, 0usize);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            match name.to_ascii_lowercase().as_str() {
                                "webhook-id" => id = Some(value.trim().to_owned()),
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    std::thread::sleep(delay);
                    if let Some(id) = id {
                        record.lock().expect("lock").push(id);
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if reader.get_mut().write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// The customer deliveries in PostgreSQL by status.
fn customer_deliveries(db: &TestDb) -> Vec<(String, String)> {
    db.sql()
        .query(
            "SELECT id, status FROM deliveries WHERE endpoint = 'customer' ORDER BY id",
            &[],
        )
        .expect("deliveries")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// Waits until every customer delivery is delivered and there are `count`; returns their ids.
fn all_delivered(db: &TestDb, count: usize) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let deliveries = customer_deliveries(db);
        if deliveries.len() == count && deliveries.iter().all(|(_, s)| s == "delivered") {
            return deliveries.into_iter().map(|(id, _)| id).collect();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "not all delivered: {deliveries:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn two_nodes_deliver_each_callback_once_and_take_over_a_killed_node_s_leases() {
    use crate::crash::{free_port, http};

    let db = TestDb::create();
    let (sink_port, seen) = callback_sink(std::time::Duration::from_millis(150));
    let env = [
        (
            "CUSTOMER_WEBHOOK_URL",
            format!("http://127.0.0.1:{sink_port}/callbacks"),
        ),
        ("CUSTOMER_SERVER_SECRET", "vendor-secret".to_owned()),
        // A lease lasts the timeout plus 5 s: a killed node's deliveries are taken over soon.
        ("HOOKLEDGER_DELIVERY_TIMEOUT_MS", "1000".to_owned()),
        // The subscription below posts to the local sink.
        ("HOOKLEDGER_ALLOW_PRIVATE_URLS", "127.0.0.1".to_owned()),
    ];
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let ports = [free_port(), free_port()];
    let mut nodes = [
        serve_node_with(&db.url, dirs[0].path(), ports[0], &env),
        serve_node_with(&db.url, dirs[1].path(), ports[1], &env),
    ];
    let order = |n: usize| {
        let body = format!(r#"{{"order_number":"cb-{n}","price":"1.00","status":"pending"}}"#);
        let (status, answer) =
            http(ports[n % 2], "POST", "/api/v2/webhooks/orders", &body).expect("answer");
        assert_eq!(status, 200, "{answer}");
    };

    // Both nodes deliver (each order's first status is a callback): every one exactly once.
    for n in 0..30 {
        order(n);
    }
    let delivered = all_delivered(&db, 30);
    let arrivals = seen.lock().expect("lock").clone();
    let mut sorted = arrivals.clone();
    sorted.sort();
    assert_eq!(sorted, delivered, "each delivery arrived exactly once");
    // The delivery API of either node reads the state the nodes share.
    let (status, body) = http(
        ports[1],
        "GET",
        "/api/v1/tenant/webhooks/deliveries?limit=1000",
        "",
    )
    .expect("list");
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut ids: Vec<String> = listed["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, delivered);
    let (status, body) = http(
        ports[0],
        "GET",
        &format!("/api/v1/tenant/webhooks/deliveries/{}", delivered[0]),
        "",
    )
    .expect("one");
    assert_eq!(status, 200, "{body}");
    assert_eq!(field(&body, "status"), "delivered");
    assert!(body.contains("\"attempt_history\":[{"), "{body}");
    // So does the console: its deliveries page, and an order's history with its callback.
    let curl = |args: &[&str]| {
        let output = std::process::Command::new("curl")
            .arg("-s")
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let signed_in = curl(&[
        "-i",
        "-X",
        "POST",
        "-d",
        "token=crash-test-token",
        &format!("http://127.0.0.1:{}/console/sign-in", ports[0]),
    ]);
    let cookie = signed_in
        .lines()
        .find_map(|line| {
            let line = line.to_ascii_lowercase();
            let at = line.find("hookledger_session=")?;
            Some(line[at..].split(';').next().unwrap_or_default().to_owned())
        })
        .unwrap_or_else(|| panic!("no session cookie: {signed_in}"));
    let page = curl(&[
        "-H",
        &format!("Cookie: {cookie}"),
        &format!("http://127.0.0.1:{}/console/deliveries", ports[0]),
    ]);
    assert!(page.contains(&delivered[0]), "{page}");
    let order_page = curl(&[
        "-i",
        "-H",
        &format!("Cookie: {cookie}"),
        // The node that signed in: console sessions are each node's own.
        &format!("http://127.0.0.1:{}/console/orders/roms/cb-0", ports[0]),
    ]);
    let of_cb0: String = db
        .sql()
        .query_one(
            "SELECT d.id FROM deliveries d JOIN proj_outbox o ON o.id = d.outbox_id
             WHERE d.endpoint = 'customer' AND o.payload LIKE '%cb-0%' LIMIT 1",
            &[],
        )
        .expect("cb-0's callback")
        .get(0);
    assert!(order_page.contains(&of_cb0), "{order_page}");

    // Node 0 dies while deliveries are in flight: node 1 takes its leases over once they
    // lapse, and every callback arrives (those on the wire at the kill may arrive twice).
    for n in 30..60 {
        order(n);
    }
    let started = std::time::Instant::now();
    while seen.lock().expect("lock").len() < 34 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    nodes[0].kill().expect("SIGKILL node 0");
    let _ = nodes[0].wait();
    let delivered = all_delivered(&db, 60);
    let arrivals = seen.lock().expect("lock").clone();
    let distinct: std::collections::BTreeSet<&String> = arrivals.iter().collect();
    assert_eq!(
        distinct.into_iter().cloned().collect::<Vec<_>>(),
        delivered,
        "every delivery arrived"
    );
    assert!(
        arrivals.len() <= 60 + 4,
        "only deliveries in flight at the kill (4 leases per endpoint at most) arrive twice: {} \
         arrivals",
        arrivals.len()
    );

    // A subscription made on one node is every node's: listed by the other, sent to once per
    // event, rotated and deleted there.
    nodes[0] = serve_node_with(&db.url, dirs[0].path(), ports[0], &env);
    let (status, body) = http(
        ports[0],
        "POST",
        "/api/v1/tenant/webhooks/subscriptions",
        &format!(
            r#"{{"url":"http://127.0.0.1:{sink_port}/subscriber","event":"order.status_changed"}}"#
        ),
    )
    .expect("subscribe");
    assert_eq!(status, 201, "{body}");
    let subscription = field(&body, "id");
    let (status, body) =
        http(ports[1], "GET", "/api/v1/tenant/webhooks/subscriptions", "").expect("list");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&subscription), "{body}");
    seen.lock().expect("lock").clear();
    for n in 60..70 {
        order(n);
    }
    let started = std::time::Instant::now();
    let to_subscriber = loop {
        let rows: Vec<(String, String)> = db
            .sql()
            .query(
                "SELECT id, status FROM deliveries WHERE endpoint = $1 ORDER BY id",
                &[&subscription],
            )
            .expect("deliveries")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        if rows.len() == 10 && rows.iter().all(|(_, s)| s == "delivered") {
            break rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{rows:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let arrivals = seen.lock().expect("lock").clone();
    for id in &to_subscriber {
        assert_eq!(
            arrivals.iter().filter(|a| *a == id).count(),
            1,
            "{id} arrived once"
        );
    }
    // Redelivered from the first order's seq on: the ten are re-queued and sent again once.
    let first_seq: u64 = db
        .sql()
        .query_one(
            "SELECT MIN(seq) FROM deliveries WHERE endpoint = $1",
            &[&subscription],
        )
        .map(|row| row.get::<_, i64>(0))
        .expect("seq")
        .try_into()
        .expect("positive");
    let (status, body) = http(
        ports[1],
        "POST",
        &format!("/api/v1/tenant/webhooks/subscriptions/{subscription}/redeliver"),
        &format!(r#"{{"since_seq":{first_seq}}}"#),
    )
    .expect("redeliver");
    assert_eq!(status, 202, "{body}");
    assert_eq!(field(&body, "requeued"), "10", "{body}");
    let started = std::time::Instant::now();
    while to_subscriber.iter().any(|id| {
        seen.lock()
            .expect("lock")
            .iter()
            .filter(|a| *a == id)
            .count()
            < 2
    }) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "not all redelivered"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A delivered delivery is not retried (409); the subscription is rotated, then deleted.
    let (status, body) = http(
        ports[1],
        "POST",
        &format!(
            "/api/v1/tenant/webhooks/deliveries/{}/retry",
            to_subscriber[0]
        ),
        "",
    )
    .expect("retry");
    assert_eq!(status, 409, "{body}");
    let (status, body) = http(
        ports[1],
        "POST",
        &format!("/api/v1/tenant/webhooks/subscriptions/{subscription}/rotate-secret"),
        "{}",
    )
    .expect("rotate");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        ports[0],
        "DELETE",
        &format!("/api/v1/tenant/webhooks/subscriptions/{subscription}"),
        "",
    )
    .expect("delete");
    assert_eq!(status, 204, "{body}");
    let (_, body) =
        http(ports[1], "GET", "/api/v1/tenant/webhooks/subscriptions", "").expect("list");
    assert!(!body.contains(&subscription), "{body}");
    for node in &mut nodes {
        node.kill().expect("kill");
        let _ = node.wait();
    }
}

#[test]
fn a_working_copy_of_another_log_is_deleted_and_built_again_at_start() {
    use crate::crash::{free_port, http};

    let db = TestDb::create();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut node = serve_node(&db.url, dir.path(), port);
    for n in 0..3 {
        let body = format!(r#"{{"order_number":"old-{n}","price":"1.00","status":"pending"}}"#);
        let answer = http(port, "POST", "/api/v2/webhooks/orders", &body);
        assert!(matches!(answer, Some((200, _))), "{answer:?}");
    }
    node.kill().expect("kill");
    let _ = node.wait();
    // The database is made again under the same URL (restored from another backup, say): the
    // node's copy of three events belongs to another log.
    let mut admin = postgres::Client::connect(&db.base_url, postgres::NoTls).expect("connect");
    for statement in ["DROP DATABASE {} WITH (FORCE)", "CREATE DATABASE {}"] {
        admin
            .batch_execute(&statement.replace("{}", &db.name))
            .expect("make the database again");
    }
    let port = free_port();
    let mut node = serve_node(&db.url, dir.path(), port);
    let body = r#"{"order_number":"new-0","price":"1.00","status":"pending"}"#;
    let answer = http(port, "POST", "/api/v2/webhooks/orders", body);
    assert!(matches!(answer, Some((200, _))), "{answer:?}");
    let health = http(port, "GET", "/health", "").expect("health");
    // The copy holds the new log alone: one event, not the old log's three plus one.
    assert_eq!(field(&health.1, "events"), "1", "{}", health.1);
    assert_eq!(field(&health.1, "head_seq"), "1", "{}", health.1);
    node.kill().expect("kill");
    let _ = node.wait();
}
