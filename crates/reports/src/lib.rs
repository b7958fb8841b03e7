//! The accountant's and the auditor's reports, rendered the same way for `hookledger` and the
//! HTTP API: the trial balance, the journal (JSON, CSV, a table, hledger/ledger's plain-text
//! journal, a beancount file), an account's register, and event exports.
//!
//! # Layout
//! - [`csv`]: spreadsheet-safe CSV cells.
//! - [`ledger`]: trial balance, journal and register in every format.
//! - [`events`]: the CSV form of log events.
//!
//! Rendering is pure: the data comes from `store::ledger` and `store::log`; amounts are integers
//! in minor units, shown as decimals in the currency's own exponent only where a format needs
//! decimals (`domain::money::format_minor`).

pub mod csv;
pub mod events;
pub mod ledger;

/// A point in the log's history: a `seq`, or an RFC 3339 time (inclusive: the events recorded at
/// or before it). `as_of` of the trial balance and `replay --as-of` take either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    Seq(u64),
    /// The log's fixed-width form of the time.
    Time(String),
}

impl AsOf {
    /// Parses `42` or `2024-01-10T14:30:00Z`; the error says what was expected.
    pub fn parse(text: &str) -> Result<AsOf, String> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            // A seq is at most SQLite's largest INTEGER (2^63 - 1).
            return text
                .parse::<i64>()
                .map(|seq| AsOf::Seq(seq.unsigned_abs()))
                .map_err(|_| format!("{text:?} is too large a seq"));
        }
        domain::time::normalize(text)
            .map(AsOf::Time)
            .ok_or_else(|| format!("{text:?} is neither a seq nor an RFC 3339 time"))
    }

    /// The last `seq` this point covers (0 before the first event).
    pub fn until_seq(&self, conn: &rusqlite::Connection) -> Result<u64, store::StoreError> {
        match self {
            AsOf::Seq(seq) => Ok(*seq),
            AsOf::Time(time) => store::log::seq_as_of(conn, time),
        }
    }
}

/// The decimal text of `minor` units of `currency` (`12000`, `USD` → `120.00`); an unknown code
/// is taken to have two decimals.
pub fn decimal(minor: i64, currency: &str) -> String {
    let exponent = domain::Currency::parse(currency).map_or(2, |c| c.exponent());
    domain::money::format_minor(minor, exponent)
}

#[cfg(test)]
mod tests {
    #[test]
    fn as_of_is_a_seq_or_a_time() {
        use super::AsOf;
        assert_eq!(AsOf::parse("42"), Ok(AsOf::Seq(42)));
        assert_eq!(
            AsOf::parse("2024-01-10T15:30:00+01:00"),
            Ok(AsOf::Time("2024-01-10T14:30:00.000000Z".into()))
        );
        assert!(AsOf::parse("yesterday").is_err());
        assert!(AsOf::parse("-1").is_err());
        assert!(AsOf::parse("9223372036854775808").is_err());
        assert_eq!(
            AsOf::parse("9223372036854775807"),
            Ok(AsOf::Seq(i64::MAX as u64))
        );
    }

    #[test]
    fn decimals_follow_the_currency_exponent() {
        assert_eq!(super::decimal(12000, "USD"), "120.00");
        assert_eq!(super::decimal(-5, "EUR"), "-0.05");
        assert_eq!(super::decimal(1500, "JPY"), "1500");
        assert_eq!(super::decimal(1500, "KWD"), "1.500");
    }
}
