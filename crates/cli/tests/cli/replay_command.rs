//! `hookledger replay` as an operator runs it: the live digest reached in place and `--into`,
//! a past state `--until-seq`/`--as-of`, the lock of a running `serve`, and a replay killed with
//! SIGKILL that resumes on the next run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use store::{Durability, Store, Writer};

use crate::{hookledger, stdout};

/// Writes the mixed workload's requests `from..to` into the database at `path`.
pub fn write_workload(path: &Path, from: u64, to: u64) {
    let store = Store::open(path, Durability::Normal).expect("open");
    let (writer, thread) = Writer::spawn(&store, Default::default(), None).expect("writer");
    replay::workload::run(&writer, from, to, 500).expect("workload");
    drop(writer);
    thread.join().expect("writer thread");
}

fn head_and_time(path: &Path) -> (u64, String) {
    let store = Store::open(path, Durability::Normal).expect("open");
    store
        .read(|conn| {
            let (_, head) = store::log::head(conn)?;
            let seq = head.map_or(0, |(seq, _)| seq);
            let event = store::log::read_event(conn, seq)?.expect("head event");
            Ok((seq, event.recorded_at))
        })
        .expect("head")
}

fn digest_of(db: &str) -> String {
    let output = hookledger(&["digest", "--db", db]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    stdout(&output).trim().to_owned()
}

/// The digest on the last line of a replay's stdout.
fn replayed_digest(output: &std::process::Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(output);
    let line = text.lines().last().expect("a final line");
    assert!(line.starts_with("replayed "), "{line}");
    assert!(line.contains("events/s"), "{line}");
    line.rsplit(' ').next().expect("digest").to_owned()
}

fn trial_balance_json(db: &str, as_of: Option<&str>) -> serde_json::Value {
    let mut args = vec!["ledger", "trial-balance", "--db", db, "--format", "json"];
    if let Some(as_of) = as_of {
        args.extend(["--as-of", as_of]);
    }
    let output = hookledger(&args);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_str(&stdout(&output)).expect("json")
}

#[test]
fn a_mixed_workload_replays_to_the_live_digest_in_place_into_and_as_of_a_midpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = dir.path().join("live.db");
    let db = live.to_str().expect("utf-8");
    write_workload(&live, 0, 90);
    let (mid_seq, mid_time) = head_and_time(&live);
    let mid_digest = digest_of(db);
    let mid_balance = trial_balance_json(db, None);
    // The writer stamps time in microseconds: keep the second half strictly later.
    std::thread::sleep(Duration::from_millis(5));
    write_workload(&live, 90, 180);
    let live_digest = digest_of(db);

    let in_place = hookledger(&["replay", "--db", db]);
    assert_eq!(replayed_digest(&in_place), live_digest);
    assert_eq!(digest_of(db), live_digest);

    let copy = dir.path().join("copy.db");
    let into = hookledger(&[
        "replay",
        "--db",
        db,
        "--into",
        copy.to_str().expect("utf-8"),
    ]);
    assert_eq!(replayed_digest(&into), live_digest);
    assert_eq!(
        stdout(&hookledger(&[
            "verify",
            "--db",
            copy.to_str().expect("utf-8")
        ])),
        stdout(&hookledger(&["verify", "--db", db])),
        "the copy's chain is the source's"
    );

    let mid_seq_text = mid_seq.to_string();
    for (flag, value, name) in [
        ("--until-seq", mid_seq_text.as_str(), "by-seq.db"),
        ("--as-of", mid_time.as_str(), "by-time.db"),
    ] {
        let path = dir.path().join(name);
        let past = path.to_str().expect("utf-8");
        let output = hookledger(&["replay", "--db", db, flag, value, "--into", past]);
        assert_eq!(replayed_digest(&output), mid_digest, "{flag} {value}");
        assert!(stdout(&output).contains(&format!("up to seq {mid_seq}")));
        assert_eq!(trial_balance_json(past, None), mid_balance, "{flag}");
        assert_eq!(trial_balance_json(db, Some(value)), mid_balance, "{flag}");
    }
}

#[test]
fn a_partial_replay_in_place_is_refused_and_a_served_database_is_locked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = dir.path().join("live.db");
    let db = live.to_str().expect("utf-8");
    write_workload(&live, 0, 6);
    let partial = hookledger(&["replay", "--db", db, "--until-seq", "3"]);
    assert_eq!(partial.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&partial.stderr).contains("--into"));
    let lock = server::app::lock_database(&live).expect("lock as serve does");
    let refused = hookledger(&["replay", "--db", db]);
    assert_eq!(refused.status.code(), Some(1));
    let reason = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        reason.contains("held by another hookledger process"),
        "{reason}"
    );
    drop(lock);
    assert_eq!(hookledger(&["replay", "--db", db]).status.code(), Some(0));
}

fn checkpoint_of(shadow: &Path) -> Option<u64> {
    let conn =
        rusqlite::Connection::open_with_flags(shadow, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    // The target is in rollback-journal mode while it is written: a reader waits for each
    // commit's lock.
    conn.busy_timeout(Duration::from_secs(5)).ok()?;
    conn.query_row(
        "SELECT value FROM proj_meta WHERE key = 'replay.applied_seq'",
        [],
        |row| row.get::<_, String>(0),
    )
    .ok()?
    .parse()
    .ok()
}

#[test]
fn a_replay_killed_mid_way_resumes_from_its_checkpoint_to_the_same_digest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live: PathBuf = dir.path().join("live.db");
    let db = live.to_str().expect("utf-8");
    write_workload(&live, 0, 6_000);
    let (head, _) = head_and_time(&live);
    let live_digest = digest_of(db);
    let shadow = replay::shadow_path(&live);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookledger"))
        .args(["replay", "--db", db, "--checkpoint-events", "50"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn replay");
    let deadline = Instant::now() + Duration::from_secs(120);
    let killed_after = loop {
        if let Some(seq) = checkpoint_of(&shadow).filter(|seq| *seq >= 100) {
            child.kill().expect("SIGKILL");
            break seq;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the replay ended before a checkpoint was seen"
        );
        assert!(
            Instant::now() < deadline,
            "no checkpoint within the deadline"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    child.wait().expect("reaped");
    let checkpoint = checkpoint_of(&shadow).expect("the shadow keeps its checkpoint");
    assert!(
        checkpoint >= killed_after && checkpoint < head,
        "{checkpoint} of {head}"
    );
    assert_eq!(digest_of(db), live_digest, "the live state is untouched");

    let resumed = hookledger(&["replay", "--db", db, "--checkpoint-events", "50"]);
    let stderr = String::from_utf8_lossy(&resumed.stderr).into_owned();
    assert!(
        stderr.contains("resumed an interrupted replay after seq"),
        "{stderr}"
    );
    assert_eq!(replayed_digest(&resumed), live_digest);
    let replayed: u64 = stdout(&resumed)
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("events replayed");
    assert!(
        replayed < head,
        "{replayed} of {head}: resumed, not restarted"
    );
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = shadow.clone().into_os_string();
        file.push(suffix);
        assert!(!PathBuf::from(&file).exists(), "{file:?} is left behind");
    }
}
