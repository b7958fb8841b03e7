//! `hookledger serve` killed with SIGKILL while webhooks pour in: every request that was
//! answered 2xx is in the log after a restart, and the chain verifies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn serve(db: &std::path::Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_hookledger"))
        .args([
            "serve",
            "--db",
            db.to_str().expect("utf-8"),
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("HOOKLEDGER_ADMIN_TOKEN", "crash-test-token")
        .env_remove("WEBHOOK_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Sends one request over a fresh connection; returns the status code and body.
pub(crate) fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer crash-test-token\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    let body = rest.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Some((status, body))
}

#[test]
fn every_request_answered_2xx_survives_a_kill_of_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("crash.db");
    let port = free_port();
    let mut child = serve(&db, port);
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for sender in 0..8 {
        let answered = answered.clone();
        let stop = stop.clone();
        senders.push(std::thread::spawn(move || {
            for n in 0..10_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let order = format!("crash-{sender}-{n}");
                let body =
                    format!(r#"{{"order_number":"{order}","price":"1.00","status":"pending"}}"#);
                match http(port, "POST", "/api/v2/webhooks/orders", &body) {
                    Some((200, _)) => answered.lock().expect("lock").push(order),
                    Some(_) => {}
                    None => break,
                }
            }
        }));
    }
    let started = Instant::now();
    while answered.lock().expect("lock").len() < 300 && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL serve");
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        let _ = sender.join();
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(
        answered.len() >= 300,
        "only {} answered before the kill",
        answered.len()
    );

    let mut child = serve(&db, port);
    for order in &answered {
        let (status, body) =
            http(port, "GET", &format!("/api/orders/roms/{order}"), "").expect("answer");
        assert_eq!(
            status, 200,
            "order {order} was answered 2xx but is missing: {body}"
        );
    }
    let (status, body) = http(port, "GET", "/api/verify", "").expect("verify");
    assert_eq!(status, 200);
    assert!(body.contains("\"ok\":true"), "{body}");
    child.kill().expect("kill");
    let _ = child.wait();
}
