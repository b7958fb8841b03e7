//! Numbers that arrive from clients (path segments, query strings, JSON API bodies) and end in
//! SQL. SQLite's INTEGER is a signed 64-bit number, so a `u64` past `i64::MAX` cannot be bound
//! and used to surface as a 500 from the store; [`Seq`] refuses it where it is parsed, as a 400
//! naming the range.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// The largest `seq` the log can hold (SQLite's largest INTEGER).
pub const SEQ_MAX: u64 = i64::MAX as u64;

/// A `seq` (or a position in `seq` order) from a client: 0 ..= [`SEQ_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seq(u64);

/// Why a text is not a [`Seq`]; the message is the 400's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a seq (a whole number from 0 to {SEQ_MAX})")]
pub struct SeqError(String);

impl Seq {
    /// Checks a number against the range.
    pub fn new(value: u64) -> Result<Seq, SeqError> {
        if value > SEQ_MAX {
            return Err(SeqError(value.to_string()));
        }
        Ok(Seq(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for Seq {
    type Err = SeqError;

    fn from_str(text: &str) -> Result<Seq, SeqError> {
        let value: u64 = text.parse().map_err(|_| SeqError(text.to_owned()))?;
        Seq::new(value).map_err(|_| SeqError(text.to_owned()))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Seq {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Seq, D::Error> {
        let value = u64::deserialize(deserializer)?;
        Seq::new(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seq_is_a_whole_number_up_to_sqlites_largest_integer() {
        assert_eq!("0".parse::<Seq>().map(Seq::get), Ok(0));
        assert_eq!(
            "9223372036854775807".parse::<Seq>().map(Seq::get),
            Ok(SEQ_MAX)
        );
        for bad in [
            "9223372036854775808",
            "18446744073709551616",
            "-1",
            "1.5",
            "",
            "x",
        ] {
            assert!(bad.parse::<Seq>().is_err(), "{bad}");
        }
        let json: Result<Seq, _> = serde_json::from_str("9223372036854775808");
        assert!(json.is_err());
        let json: Result<Seq, _> = serde_json::from_str("42");
        assert_eq!(json.map(Seq::get).ok(), Some(42));
    }
}
