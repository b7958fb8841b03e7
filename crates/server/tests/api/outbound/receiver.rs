//! A scripted webhook receiver on 127.0.0.1: it records every request (arrival time, headers,
//! body) and answers the n-th request with the n-th reply of its script (the last reply
//! repeats). Plain HTTP/1.1 over tokio, `Connection: close`, so the test controls everything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a request is answered.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with extra headers (`Retry-After`, …).
    With(u16, Vec<(&'static str, String)>),
    /// Waits, then answers with a status (a slow receiver).
    Slow(Duration, u16),
    /// Never answers (the connection stays open until the test ends).
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

pub struct Receiver {
    pub url: String,
    log: Arc<Mutex<Vec<Received>>>,
}

/// Starts a receiver answering with `script`, then its last reply forever.
pub async fn spawn_receiver(script: Vec<Reply>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/hooks",
        listener.local_addr().expect("addr").port()
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(script);
    let accept_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, accept_log.clone(), script.clone()));
        }
    });
    Receiver { url, log }
}

async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<Received>>>, script: Arc<Vec<Reply>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buffer[header_end..header_end + length]).into_owned();
    let index = {
        let mut log = log.lock().expect("log");
        log.push(Received {
            at: Instant::now(),
            path,
            headers,
            body,
        });
        log.len() - 1
    };
    let reply = script
        .get(index)
        .or(script.last())
        .cloned()
        .unwrap_or(Reply::Status(200));
    let (status, extra) = match reply {
        Reply::Status(code) => (code, Vec::new()),
        Reply::With(code, headers) => (code, headers),
        Reply::Slow(wait, code) => {
            tokio::time::sleep(wait).await;
            (code, Vec::new())
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
    };
    let answer = format!("{{\"received\":{index}}}");
    let mut response = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.len()
    );
    for (name, value) in extra {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&answer);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

impl Receiver {
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().expect("log").clone()
    }

    /// Waits until at least `n` requests arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests at {} within {within:?}, got {}",
                self.url,
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits `quiet` and asserts that exactly `n` requests arrived in all.
    pub async fn assert_total_after(&self, n: usize, quiet: Duration) -> Vec<Received> {
        tokio::time::sleep(quiet).await;
        let received = self.received();
        assert_eq!(received.len(), n, "requests at {}", self.url);
        received
    }
}
