//! Integration tests of the event log through the real writer on a temporary database.

mod console;
mod crash;
mod log;
mod verify;
mod wal;

use domain::{Dedupe, Json, NewEvent, RawRequest, Source};
use store::{Durability, Store, Writer, WriterConfig};

pub struct TestLog {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub writer: Writer,
}

pub fn open_log(config: WriterConfig) -> TestLog {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("log.db"), Durability::Full).expect("open");
    let (writer, _thread) = Writer::spawn(&store, config, None).expect("writer");
    TestLog {
        _dir: dir,
        store,
        writer,
    }
}

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

/// Appends one event through the writer and returns what the append did.
pub async fn append(writer: &Writer, event: NewEvent) -> store::Appended {
    writer
        .submit(move |ctx| ctx.append(&event).map(|(appended, _)| appended))
        .await
        .expect("writer answered")
        .expect("append succeeded")
}
