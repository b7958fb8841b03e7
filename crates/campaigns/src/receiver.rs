//! A loopback webhook receiver for the campaigns: threads on a std listener, answering 200
//! (or 500 for a share of first attempts, to exercise retries) and counting what arrived by
//! `webhook-id`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What arrived: the number of requests, the 2xx answers by `webhook-id`, and the ids whose
/// first request was failed on purpose.
#[derive(Debug, Default, Clone)]
pub struct Arrivals {
    pub requests: u64,
    pub answered_ok: HashMap<String, u64>,
    pub failed_once: HashSet<String>,
}

pub struct Receiver {
    pub url: String,
    arrivals: Arc<Mutex<Arrivals>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// Starts a receiver; `fail_first_percent` of webhook-ids get a 500 on their first request.
    pub fn start(fail_first_percent: u64) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://127.0.0.1:{}/hooks", listener.local_addr()?.port());
        listener.set_nonblocking(true)?;
        let arrivals = Arc::new(Mutex::new(Arrivals::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (accept_arrivals, accept_stop) = (arrivals.clone(), stop.clone());
        std::thread::spawn(move || {
            while !accept_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let arrivals = accept_arrivals.clone();
                        std::thread::spawn(move || serve(stream, &arrivals, fail_first_percent));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Receiver {
            url,
            arrivals,
            stop,
        })
    }

    pub fn arrivals(&self) -> Arrivals {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A stable pseudo-random choice per webhook-id (so the first request of an id fails, its retry
/// succeeds).
fn fails_first(id: &str, percent: u64) -> bool {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3)
    });
    hash % 100 < percent
}

fn serve(stream: TcpStream, arrivals: &Mutex<Arrivals>, fail_first_percent: u64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    let mut id = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "webhook-id" => id = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length.min(16 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let status = {
        let Ok(mut a) = arrivals.lock() else {
            return;
        };
        a.requests += 1;
        let first = !a.answered_ok.contains_key(&id) && !a.failed_once.contains(&id);
        if first && fails_first(&id, fail_first_percent) {
            a.failed_once.insert(id);
            500
        } else {
            *a.answered_ok.entry(id).or_insert(0) += 1;
            200
        }
    };
    let answer = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    let _ = writer.write_all(answer.as_bytes());
}
