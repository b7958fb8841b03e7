//! Whatever the writer answered is in the log after the process is killed at a random moment.
//!
//! The test re-runs its own binary as a child (selected by an environment variable) that appends
//! from many tasks and prints a line per answered append; the parent kills it with SIGKILL while
//! it is busy, reopens the database and checks every answered append.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use store::log::{query_events, EventFilter};
use store::{Durability, Store, Writer, WriterConfig};

const CHILD_DB: &str = "HOOKLEDGER_TEST_CRASH_CHILD_DB";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_child_entry_point() {
    // Runs only as the child of the test below; as a test of its own it does nothing.
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let store = Store::open(&path, Durability::Full).expect("open");
    let (writer, _thread) = Writer::spawn(&store, WriterConfig::default(), None).expect("writer");
    let mut tasks = Vec::new();
    for task in 0..16 {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("{task}-{n}");
                let appended = crate::append(&writer, crate::event("s", "t", &key)).await;
                println!("acked {} {key}", appended.seq);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

#[test]
fn every_answered_append_survives_a_kill_of_the_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.db");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "crash::crash_child_entry_point",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            if let Some(rest) = line.strip_prefix("acked ") {
                let (seq, key) = rest.split_once(' ').expect("seq and key");
                acked.push((seq.parse::<u64>().expect("seq"), key.to_owned()));
            }
            if acked.len() >= 200 + round * 150 {
                break;
            }
        }
        child.kill().expect("kill");
        let _ = child.wait();
        let store = Store::open(&path, Durability::Full).expect("reopen");
        let events = store
            .read(|c| query_events(c, &EventFilter::default()))
            .expect("query");
        for (seq, key) in &acked {
            let stored = events
                .iter()
                .find(|e| e.seq == *seq)
                .expect("answered seq is stored");
            assert!(
                stored.payload.contains(&format!("\"key\":\"{key}\"")),
                "seq {seq} holds {key}"
            );
        }
        let report = store
            .read(|c| store::verify::verify(c, None, |_| {}))
            .expect("verify");
        assert!(
            matches!(report, store::VerifyReport::Intact { .. }),
            "{report:?}"
        );
    }
}
