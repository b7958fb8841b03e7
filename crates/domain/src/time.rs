//! Time formats. hookledger stamps time once, in the writer, as UTC RFC 3339 with microseconds;
//! bodies shaped after a seed use that seed's millisecond form (`2023-12-04T10:30:00.000Z`).

use chrono::{DateTime, SecondsFormat, Utc};

/// The log's timestamp form: fixed width, so that text order is time order.
pub fn format_micros(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The seeds' timestamp form, milliseconds.
pub fn format_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time (any offset) into UTC.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Normalises an RFC 3339 time to the log's fixed-width form, so that it compares correctly
/// with stored `recorded_at` text.
pub fn normalize(text: &str) -> Option<String> {
    parse_rfc3339(text).map(format_micros)
}

/// Reformats a stored micro-second timestamp in the seeds' millisecond form.
pub fn micros_to_millis(text: &str) -> String {
    parse_rfc3339(text)
        .map(format_millis)
        .unwrap_or_else(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_fixed_width_utc() {
        let t = parse_rfc3339("2023-12-04T11:30:00+01:00").expect("valid");
        assert_eq!(format_micros(t), "2023-12-04T10:30:00.000000Z");
        assert_eq!(format_millis(t), "2023-12-04T10:30:00.000Z");
        assert_eq!(
            micros_to_millis("2023-12-04T10:30:00.123456Z"),
            "2023-12-04T10:30:00.123Z"
        );
    }
}
