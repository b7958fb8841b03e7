//! Integration tests of the PostgreSQL log against a real server.
//!
//! They need the `pg-tests` feature and `HOOKLEDGER_TEST_PG`, the URL of a server whose user
//! may create databases (each test makes its own, so that tests run in parallel):
//!
//! ```sh
//! export HOOKLEDGER_TEST_PG=$(scripts/pg-cluster start /tmp/pg)
//! cargo test -p store-pg --features pg-tests
//! scripts/pg-cluster stop /tmp/pg
//! ```
#![cfg(feature = "pg-tests")]

mod append_only;
mod concurrency;
mod dedupe;
mod delivery;
mod from_sqlite;
mod migrate;
mod refusals;
mod same_as_sqlite;
mod shared_writer;
mod time;
mod verify;

use domain::{Dedupe, Json, NewEvent, RawRequest, Source};
use store_pg::PgLog;

/// A database of its own on the test server, dropped with the value.
pub struct TestDb {
    pub url: String,
    name: String,
    base_url: String,
}

impl TestDb {
    pub fn create() -> TestDb {
        TestDb::create_with("")
    }

    /// A database made with these `CREATE DATABASE` options (a locale, say).
    pub fn create_with(options: &str) -> TestDb {
        let base_url = std::env::var("HOOKLEDGER_TEST_PG").unwrap_or_else(|_| {
            panic!(
                "HOOKLEDGER_TEST_PG is not set: these tests need a PostgreSQL server. Start one \
                 with `export HOOKLEDGER_TEST_PG=$(scripts/pg-cluster start /tmp/pg)` (stop it \
                 with `scripts/pg-cluster stop /tmp/pg`)"
            )
        });
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = postgres::Client::connect(&base_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to HOOKLEDGER_TEST_PG={base_url}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name} {options}"))
            .expect("create the test database");
        TestDb {
            url: with_database(&base_url, &name),
            name,
            base_url,
        }
    }

    /// A migrated log on this database.
    pub fn log(&self) -> PgLog {
        let mut log = PgLog::connect(&self.url).expect("connect");
        log.migrate().expect("migrate");
        log
    }

    /// A plain connection (as the server's superuser, in these tests) for SQL of the test's own.
    pub fn sql(&self) -> postgres::Client {
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

/// `url` (`postgres://…/database?params`) with another database.
fn with_database(url: &str, database: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let (head, params) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let host_end = head[after_scheme..]
        .find('/')
        .map_or(head.len(), |i| after_scheme + i);
    format!("{}/{database}{params}", &head[..host_end])
}

/// An event deduplicated by its request key, as the store's own tests make them.
pub fn event(stream: &str, event_type: &str, key: &str) -> NewEvent {
    NewEvent {
        stream: stream.to_owned(),
        event_type: event_type.to_owned(),
        type_version: 1,
        source: Source::Roms,
        dedupe: Dedupe::Key(key.to_owned()),
        payload: Json::object([
            ("key", Json::str(key)),
            ("amount", Json::Number("1.50".into())),
        ]),
        raw_request: RawRequest {
            method: "POST".into(),
            path: "/test".into(),
            headers: Default::default(),
            body: format!("{{\"key\":\"{key}\"}}"),
        },
    }
}

/// An event deduplicated against its stream's last event.
pub fn status(stream: &str, digest: &str) -> NewEvent {
    let mut e = event(stream, "status", digest);
    e.dedupe = Dedupe::SameAsLast(digest.to_owned());
    e
}

/// The number of rows in `events`, counted by SQL.
pub fn count(db: &TestDb) -> i64 {
    db.sql()
        .query_one("SELECT COUNT(*) FROM events", &[])
        .expect("count")
        .get(0)
}

#[test]
fn with_database_replaces_only_the_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/hookledger", "t"),
        "postgres://postgres@127.0.0.1:5432/t"
    );
    assert_eq!(
        with_database("postgres://u@h:1/db?connect_timeout=5", "t"),
        "postgres://u@h:1/t?connect_timeout=5"
    );
    assert_eq!(with_database("postgres://u@h:1", "t"), "postgres://u@h:1/t");
}
