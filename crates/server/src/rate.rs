//! The per-source request rate: one token bucket per inbound dialect, refilled at
//! `source_rate_per_second` and holding twice that, so short bursts pass and a flood from one
//! upstream (a retry storm, a loop) is answered 429 with `Retry-After` before its body is read,
//! while the other sources flow on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Every source's bucket.
#[derive(Debug)]
pub struct SourceRates {
    per_second: u32,
    buckets: Mutex<HashMap<&'static str, Bucket>>,
}

impl SourceRates {
    /// Buckets refilled at `per_second`; 0 lets everything through.
    pub fn new(per_second: u32) -> SourceRates {
        SourceRates {
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Takes a token for `source`, or says how long until one is there.
    pub fn take(&self, source: &'static str) -> Result<(), Duration> {
        self.take_at(source, Instant::now())
    }

    fn take_at(&self, source: &'static str, now: Instant) -> Result<(), Duration> {
        if self.per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_second);
        let capacity = 2.0 * rate;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_twice_the_rate_passes_then_one_source_waits_and_others_do_not() {
        let rates = SourceRates::new(10);
        let start = Instant::now();
        for _ in 0..20 {
            assert!(rates.take_at("roms", start).is_ok());
        }
        let wait = rates.take_at("roms", start).expect_err("the 21st waits");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(
            rates.take_at("stripe", start).is_ok(),
            "another source flows on"
        );
        assert!(rates
            .take_at("roms", start + Duration::from_millis(100))
            .is_ok());
        let unlimited = SourceRates::new(0);
        for _ in 0..10_000 {
            assert!(unlimited.take_at("roms", start).is_ok());
        }
    }
}
