//! The `hookledger` binary as a user runs it: exit codes, stdout and stderr.

mod campaigns;
mod crash;
mod ledger_command;
#[cfg(feature = "pg-tests")]
mod on_postgres;
mod replay_command;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use domain::{Dedupe, Json, NewEvent, RawRequest, Source};
use store::{Durability, Store, Writer};

pub fn hookledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookledger"))
        .args(args)
        .env_remove("HOOKLEDGER_DB")
        .env_remove("HOOKLEDGER_CONFIG")
        .output()
        .expect("run hookledger")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A database with `n` events on two streams.
fn database_with_events(dir: &Path, n: u64) -> PathBuf {
    let path = dir.join("log.db");
    let store = Store::open(&path, Durability::Full).expect("open");
    let (writer, _thread) = Writer::spawn(&store, Default::default(), None).expect("writer");
    for i in 1..=n {
        let event = NewEvent {
            stream: format!("order:roms:{}", i % 2),
            event_type: if i % 2 == 0 {
                "roms.order_received".into()
            } else {
                "stripe.event_received".into()
            },
            type_version: 1,
            source: if i % 2 == 0 {
                Source::Roms
            } else {
                Source::Stripe
            },
            dedupe: Dedupe::Key(format!("k{i}")),
            payload: Json::object([
                ("n", Json::int(i as i64)),
                ("note", Json::str("a,\"quoted\"\nline")),
            ]),
            raw_request: RawRequest::default(),
        };
        writer
            .submit_blocking(move |ctx| ctx.append(&event).map(|_| ()))
            .expect("answered")
            .expect("appended");
    }
    path
}

#[test]
fn verify_prints_the_head_and_exits_0_on_an_intact_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_with_events(dir.path(), 5);
    let output = hookledger(&["verify", "--db", db.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.starts_with("ok: head seq 5 hash "), "{text}");
    let hash = text.trim().rsplit(' ').next().expect("hash").to_owned();
    let expect = format!("5:{hash}");
    let with_expect = hookledger(&[
        "verify",
        "--db",
        db.to_str().expect("utf-8"),
        "--expect",
        &expect,
    ]);
    assert_eq!(with_expect.status.code(), Some(0));
}

#[test]
fn verify_exits_1_naming_the_first_bad_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_with_events(dir.path(), 5);
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch(
        "DROP TRIGGER events_refuse_update; UPDATE events SET payload = '{\"n\":33}' WHERE seq = 3;",
    )
    .expect("tamper");
    drop(conn);
    let output = hookledger(&["verify", "--db", db.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("first bad seq 3"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn verify_against_a_recorded_head_detects_truncation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_with_events(dir.path(), 5);
    let head = stdout(&hookledger(&[
        "verify",
        "--db",
        db.to_str().expect("utf-8"),
    ]));
    let hash = head.trim().rsplit(' ').next().expect("hash").to_owned();
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch("DROP TRIGGER events_refuse_delete; DELETE FROM events WHERE seq > 3;")
        .expect("truncate");
    drop(conn);
    let plain = hookledger(&["verify", "--db", db.to_str().expect("utf-8")]);
    assert_eq!(
        plain.status.code(),
        Some(0),
        "a truncated chain is still a chain"
    );
    let expect = format!("5:{hash}");
    let checked = hookledger(&[
        "verify",
        "--db",
        db.to_str().expect("utf-8"),
        "--expect",
        &expect,
    ]);
    assert_eq!(checked.status.code(), Some(1));
    assert!(
        stdout(&checked).contains("first bad seq 4"),
        "{}",
        stdout(&checked)
    );
}

#[test]
fn digest_prints_64_hex_digits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_with_events(dir.path(), 2);
    let output = hookledger(&["digest", "--db", db.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0));
    let digest = stdout(&output).trim().to_owned();
    assert_eq!(digest.len(), 64);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn events_filter_and_export_as_json_ndjson_and_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_with_events(dir.path(), 6);
    let db = db.to_str().expect("utf-8");
    let json: serde_json::Value = serde_json::from_str(&stdout(&hookledger(&[
        "events", "--db", db, "--source", "roms",
    ])))
    .expect("json");
    assert_eq!(json["next_after_seq"], serde_json::Value::Null);
    let seqs: Vec<u64> = json["events"]
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, [2, 4, 6]);
    assert_eq!(json["events"][0]["payload"]["n"], 2);
    let ndjson = stdout(&hookledger(&[
        "events",
        "--db",
        db,
        "--format",
        "ndjson",
        "--after-seq",
        "4",
    ]));
    assert_eq!(ndjson.lines().count(), 2);
    let typed = stdout(&hookledger(&[
        "events",
        "--db",
        db,
        "--format",
        "ndjson",
        "--type",
        "stripe.event_received",
        "--limit",
        "2",
    ]));
    assert_eq!(typed.lines().count(), 2);
    let csv = stdout(&hookledger(&[
        "events",
        "--db",
        db,
        "--format",
        "csv",
        "--stream",
        "order:roms:1",
    ]));
    let mut lines = csv.lines();
    assert!(lines.next().expect("header").starts_with("seq,id,stream,"));
    assert!(
        csv.contains("\"{\"\"n\"\":1,\"\"note\"\":\"\"a,\\\"\"quoted\\\"\"\\nline\"\"}\""),
        "{csv}"
    );
    let empty = stdout(&hookledger(&[
        "events",
        "--db",
        db,
        "--since",
        "2999-01-01T00:00:00Z",
    ]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&empty).expect("json"),
        serde_json::json!({ "events": [], "next_after_seq": null })
    );
}

#[test]
fn bad_flags_and_settings_exit_2_with_one_line_naming_the_setting() {
    // Flags clap refuses: one line on stderr naming the flag, exit 2.
    for (args, names) in [
        (&["verify", "--nope"][..], "--nope"),
        (&["events", "--format", "xml"][..], "--format"),
        (&["token", "create"][..], "--role"),
        (&["token", "create", "--role", "root"][..], "--role"),
        (&["frobnicate"][..], "frobnicate"),
    ] {
        let output = hookledger(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_with_events(dir.path(), 1);
    let bad_expect = hookledger(&[
        "verify",
        "--db",
        db.to_str().expect("utf-8"),
        "--expect",
        "x",
    ]);
    assert_eq!(bad_expect.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_expect.stderr).contains("--expect"));
    let bad_env = Command::new(env!("CARGO_BIN_EXE_hookledger"))
        .args(["digest", "--db", db.to_str().expect("utf-8")])
        .env("HOOKLEDGER_DEFAULT_CURRENCY", "dollars")
        .output()
        .expect("run");
    assert_eq!(bad_env.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad_env.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("HOOKLEDGER_DEFAULT_CURRENCY"));
    let missing = hookledger(&["digest", "--db", "/nonexistent/x.db"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn help_explains_every_command() {
    let help = stdout(&hookledger(&["--help"]));
    for command in ["serve", "verify", "digest", "events", "token"] {
        assert!(help.contains(command), "{command} missing from --help");
    }
    let version = hookledger(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(stdout(&version).starts_with("hookledger "));
    let serve_help = stdout(&hookledger(&["serve", "--help"]));
    assert!(serve_help.contains("HOOKLEDGER_BIND"));
}

#[test]
fn events_into_a_reader_that_stops_early_is_quiet() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    // Well over a pipe's buffer, so that the writer meets the closed pipe.
    let db = database_with_events(dir.path(), 600);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookledger"))
        .args([
            "events",
            "--db",
            db.to_str().expect("utf-8"),
            "--format",
            "ndjson",
        ])
        .env_remove("HOOKLEDGER_DB")
        .env_remove("HOOKLEDGER_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    assert!(first.starts_with("{\"seq\":1,"), "{first}");
    // `| head -1`: the reader is gone.
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn token_create_prints_the_token_alone_on_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("t.db");
    let output = hookledger(&[
        "token",
        "create",
        "--db",
        db.to_str().expect("utf-8"),
        "--role",
        "auditor",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let token = stdout(&output);
    assert_eq!(token.lines().count(), 1);
    assert!(token.trim().len() >= 32);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "hookledger: created an auditor token; it is shown only now"
    );
}

#[test]
fn events_pages_carry_the_next_cursor_and_since_is_inclusive_until_exclusive() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_with_events(dir.path(), 5);
    let db = db.to_str().expect("utf-8");
    let page = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["events", "--db", db];
        all.extend_from_slice(args);
        serde_json::from_str(&stdout(&hookledger(&all))).expect("json")
    };
    let first = page(&["--limit", "2"]);
    assert_eq!(first["events"].as_array().expect("events").len(), 2);
    assert_eq!(first["next_after_seq"], 2);
    let last = page(&["--limit", "2", "--after-seq", "4"]);
    assert_eq!(last["events"].as_array().expect("events").len(), 1);
    assert_eq!(last["next_after_seq"], serde_json::Value::Null);
    let csv = hookledger(&["events", "--db", db, "--format", "csv", "--limit", "2"]);
    assert!(String::from_utf8_lossy(&csv.stderr).contains("next_after_seq: 2"));
    let third = first["events"][1]["recorded_at"]
        .as_str()
        .expect("time")
        .to_owned();
    let since = page(&["--since", &third]);
    assert_eq!(since["events"][0]["seq"], 2, "since is inclusive");
    let until = page(&["--until", &third]);
    let seqs: Vec<u64> = until["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(!seqs.contains(&2), "until is exclusive: {seqs:?}");
}
