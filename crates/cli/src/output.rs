//! Output helpers: CSV quoting, a progress bar that appears only on a terminal, replay's
//! progress (a bar on a terminal, plain periodic lines on stderr otherwise).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A progress bar over `total` items on stderr, hidden when stderr is not a terminal.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!("{what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// How often replay prints a progress line when stderr is not a terminal.
const PROGRESS_LINE_INTERVAL: Duration = Duration::from_secs(2);

/// Replay's progress on stderr.
pub struct ReplayProgress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Default for ReplayProgress {
    fn default() -> Self {
        ReplayProgress::new()
    }
}

impl ReplayProgress {
    pub fn new() -> ReplayProgress {
        let now = Instant::now();
        ReplayProgress {
            bar: None,
            started: now,
            last_line: now,
        }
    }

    /// Called after each checkpoint: `seq` of `until` applied.
    pub fn update(&mut self, seq: u64, until: u64) {
        if std::io::stderr().is_terminal() {
            let bar = self.bar.get_or_insert_with(|| progress(until, "replaying"));
            bar.set_length(until);
            bar.set_position(seq);
        } else if self.last_line.elapsed() >= PROGRESS_LINE_INTERVAL {
            self.last_line = Instant::now();
            let rate = seq as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            eprintln!("replay: seq {seq} of {until} ({rate:.0} events/s)");
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
