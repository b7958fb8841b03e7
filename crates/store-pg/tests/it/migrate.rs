use crate::TestDb;

#[test]
fn migrating_again_or_from_several_connections_at_once_applies_each_migration_once() {
    let db = TestDb::create();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut log = store_pg::PgLog::connect(&url).expect("connect");
                log.migrate().expect("migrate");
                log.migrate().expect("migrate again");
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    let versions: Vec<i64> = db
        .sql()
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .expect("versions")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        versions,
        (1..=store_pg::schema::SCHEMA_VERSION).collect::<Vec<_>>()
    );
}

#[test]
fn a_schema_newer_than_this_build_is_refused() {
    let db = TestDb::create();
    db.log();
    db.sql()
        .execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(store_pg::schema::SCHEMA_VERSION + 1)],
        )
        .expect("insert");
    let mut log = store_pg::PgLog::connect(&db.url).expect("connect");
    assert!(matches!(
        log.migrate(),
        Err(store_pg::PgStoreError::SchemaTooNew { .. })
    ));
}
