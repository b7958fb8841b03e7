//! The retry policy: which outcomes are final, and when the next attempt runs.
//!
//! By default seed 003's: after a failed first attempt, up to 3 retries, 1 s, 2 s and 3 s after
//! the previous attempt ended (4 attempts at most); a 2xx is delivered; a 4xx is final except
//! 408 and 429; 5xx, timeouts and connection errors are retried. `Retry-After` on a 429 or 503
//! is honoured (never retried sooner than it asks, capped at [`RETRY_AFTER_MAX`]). An exhausted
//! schedule makes the delivery dead.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The longest `Retry-After` honoured; a receiver asking for more is retried after this.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// Delays before each retry, and their jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before retry `n` (0-based), measured from the end of the previous attempt.
    pub delays: Vec<Duration>,
    /// Each delay is moved by up to this percentage either way, so that retries of many
    /// deliveries failing together spread out. 0 keeps the delays exact.
    pub jitter_percent: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3),
            ],
            jitter_percent: 0,
        }
    }
}

impl RetryPolicy {
    /// A longer schedule: `count` delays doubling from `base`, each capped at `max`.
    pub fn exponential(base: Duration, count: u32, max: Duration) -> RetryPolicy {
        let delays = (0..count)
            .map(|n| base.saturating_mul(2u32.saturating_pow(n)).min(max))
            .collect();
        RetryPolicy {
            delays,
            jitter_percent: 0,
        }
    }

    /// Attempts at most in one round (the first plus the retries).
    pub fn attempts_max(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// The delay before the next attempt after `round_attempts` failed attempts, or `None`
    /// when the schedule is exhausted. `key` (the delivery id) seeds the jitter, so that it is
    /// spread across deliveries yet reproducible.
    pub fn delay_after(
        &self,
        round_attempts: u32,
        key: &str,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let idx = usize::try_from(round_attempts.checked_sub(1)?).ok()?;
        let base = *self.delays.get(idx)?;
        let jittered = jitter(base, self.jitter_percent, key, round_attempts);
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(RETRY_AFTER_MAX)),
            None => jittered,
        })
    }
}

fn jitter(delay: Duration, percent: u32, key: &str, attempt: u32) -> Duration {
    if percent == 0 {
        return delay;
    }
    let digest = Sha256::digest(format!("{key}/{attempt}").as_bytes());
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest[..8]);
    // A fraction in [-1, 1).
    let unit = (u64::from_be_bytes(word) as f64 / u64::MAX as f64) * 2.0 - 1.0;
    let factor = 1.0 + unit * f64::from(percent.min(100)) / 100.0;
    delay.mul_f64(factor.max(0.0))
}

/// What one attempt's outcome means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth another attempt; the label is the `reason` of `webhook_retries_total`.
    Retry(&'static str),
    /// Final failure: no retry will help.
    Final,
}

/// Classifies an HTTP status.
pub fn classify_status(code: u16) -> Verdict {
    match code {
        200..=299 => Verdict::Delivered,
        408 => Verdict::Retry("http_408"),
        429 => Verdict::Retry("http_429"),
        500..=599 => Verdict::Retry("http_5xx"),
        // 1xx and 3xx (redirects are never followed) will not change by retrying; nor will 4xx.
        _ => Verdict::Final,
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_seed_003s_schedule() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.attempts_max(), 4);
        let delays: Vec<_> = (1..=4).map(|n| policy.delay_after(n, "d", None)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_secs(1)),
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(3)),
                None
            ]
        );
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy::default();
        let asked = Some(Duration::from_secs(30));
        assert_eq!(
            policy.delay_after(1, "d", asked),
            Some(Duration::from_secs(30))
        );
        let huge = Some(Duration::from_secs(86_400));
        assert_eq!(policy.delay_after(1, "d", huge), Some(RETRY_AFTER_MAX));
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
    }

    #[test]
    fn exponential_schedules_double_and_jitter_stays_in_bounds() {
        let mut policy =
            RetryPolicy::exponential(Duration::from_secs(5), 6, Duration::from_secs(60));
        assert_eq!(
            policy
                .delays
                .iter()
                .map(|d| d.as_secs())
                .collect::<Vec<_>>(),
            vec![5, 10, 20, 40, 60, 60]
        );
        policy.jitter_percent = 20;
        for n in 1..=6 {
            let base = policy.delays[n as usize - 1];
            let d = policy.delay_after(n, "some-delivery", None).expect("delay");
            assert!(d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2), "{d:?}");
        }
    }

    #[test]
    fn four_xx_is_final_except_408_and_429() {
        assert_eq!(classify_status(204), Verdict::Delivered);
        assert_eq!(classify_status(400), Verdict::Final);
        assert_eq!(classify_status(410), Verdict::Final);
        assert_eq!(classify_status(302), Verdict::Final);
        assert!(matches!(classify_status(408), Verdict::Retry(_)));
        assert!(matches!(classify_status(429), Verdict::Retry(_)));
        assert!(matches!(classify_status(503), Verdict::Retry(_)));
    }
}
