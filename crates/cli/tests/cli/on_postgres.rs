//! The commands on PostgreSQL (`--features pg-tests`, a server at `HOOKLEDGER_TEST_PG`, as
//! store-pg's tests): `migrate` from SQLite, then `verify`, `digest`, `events` and `ledger`
//! print what they print on the SQLite file, and `replay` rebuilds its projections; the commands that do not run on PostgreSQL yet say so, exit 2,
//! and create nothing.

use std::path::Path;

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

#[test]
fn migrate_copies_the_ledger_and_every_reading_command_agrees_with_the_sqlite_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ledger.db");
    write_workload(&file, 0, 400);
    let db = TestDb::create();
    let sqlite_digest = run_ok(&["digest", "--db", path(&file)]);
    let sqlite_head = run_ok(&["verify", "--db", path(&file)]);

    let migrated = run_ok(&["migrate", "--from", path(&file), "--to", &db.url]);
    assert!(migrated.starts_with("migrated "), "{migrated}");
    assert!(migrated.contains(sqlite_digest.trim()), "{migrated}");
    assert!(migrated.contains(" 0 there already"), "{migrated}");
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
    let middle = {
        let csv = run_ok(&[
            "events",
            "--db",
            path(&file),
            "--after-seq",
            "199",
            "--limit",
            "1",
            "--format",
            "csv",
        ]);
        let row = csv.lines().nth(1).expect("a row").to_owned();
        row.split(',').nth(8).expect("recorded_at").to_owned()
    };
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
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ledger.db");
    write_workload(&file, 0, 100);
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
fn commands_that_do_not_run_on_postgresql_yet_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::create();
    let with_password = db.url.replacen("://postgres@", "://postgres:s3cret@", 1);
    for args in [
        vec!["serve", "--db", &with_password],
        vec!["token", "create", "--role", "admin", "--db", &with_password],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookledger"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("HOOKLEDGER_DB")
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("does not run on PostgreSQL yet"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("s3cret"),
            "the password is not printed: {stderr}"
        );
        assert!(stderr.contains("postgres:***@"), "{stderr}");
    }
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
