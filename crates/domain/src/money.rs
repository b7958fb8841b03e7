//! Money as an integer count of the currency's minor unit.
//!
//! Amounts arrive as JSON number text (`99.99`) or numeric strings (`"99.99"`, as Shopify sends
//! them). They are parsed digit by digit into minor units, never through `f64`; an amount with more
//! decimals than the currency has (`0.001` USD) is refused rather than rounded.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// Why an amount or currency was refused. Handling: 400 with this text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("{0:?} is not a currency code (three letters, e.g. USD)")]
    BadCurrency(String),
    #[error("{0:?} is not a decimal amount")]
    NotANumber(String),
    #[error("{amount:?} has more decimals than {currency} allows ({exponent})")]
    TooPrecise {
        amount: String,
        currency: Currency,
        exponent: u32,
    },
    #[error("{0:?} is too large")]
    TooLarge(String),
}

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        match upper.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => {
                Ok(Currency([*a, *b, *c]))
            }
            _ => Err(MoneyError::BadCurrency(code.to_owned())),
        }
    }

    pub fn code(&self) -> &str {
        // The bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point in the currency's minor unit (ISO 4217).
    pub fn exponent(&self) -> u32 {
        match self.code() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount in minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a decimal in major units (`99.99`, `-5`, `1.5e2`) exactly into minor units.
    pub fn parse_major(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let minor = parse_decimal(text, currency.exponent()).map_err(|e| match e {
            DecimalError::Syntax => MoneyError::NotANumber(text.to_owned()),
            DecimalError::Overflow => MoneyError::TooLarge(text.to_owned()),
            DecimalError::TooPrecise => MoneyError::TooPrecise {
                amount: text.to_owned(),
                currency,
                exponent: currency.exponent(),
            },
        })?;
        Ok(Money { minor, currency })
    }

    /// The major-unit decimal text (`9999` USD → `"99.99"`), exact.
    pub fn major_text(&self) -> String {
        format_minor(self.minor, self.currency.exponent())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.major_text(), self.currency)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecimalError {
    Syntax,
    TooPrecise,
    Overflow,
}

/// Parses decimal text into an integer scaled by `10^exponent`, exactly.
///
/// Accepts JSON number syntax (with an optional exponent) and surrounding whitespace; refuses
/// digits that would be lost by the scaling (`TooPrecise`) and results beyond `i64` (`Overflow`).
pub fn parse_decimal(text: &str, exponent: u32) -> Result<i64, DecimalError> {
    let text = text.trim();
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exp_part) = match rest.find(['e', 'E']) {
        Some(idx) => (&rest[..idx], Some(&rest[idx + 1..])),
        None => (rest, None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(idx) => (&mantissa[..idx], &mantissa[idx + 1..]),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
        || (mantissa.contains('.') && frac_part.is_empty() && int_part.is_empty())
    {
        return Err(DecimalError::Syntax);
    }
    let exp10: i64 = match exp_part {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) || digits.len() > 4 {
                return Err(DecimalError::Syntax);
            }
            e.parse().map_err(|_| DecimalError::Syntax)?
        }
    };
    // The value is digits × 10^(exp10 - frac_len); we want it × 10^exponent.
    let digits: String = format!("{int_part}{frac_part}");
    let shift = exp10 - frac_part.len() as i64 + i64::from(exponent);
    let digits = digits.trim_start_matches('0');
    let magnitude: i128 = if digits.is_empty() {
        0
    } else if shift >= 0 {
        if digits.len() as i64 + shift > 20 {
            return Err(DecimalError::Overflow);
        }
        let base: i128 = digits.parse().map_err(|_| DecimalError::Overflow)?;
        base * 10i128.pow(shift as u32)
    } else {
        let cut = (-shift) as usize;
        if cut >= digits.len() {
            if digits.bytes().any(|b| b != b'0') {
                return Err(DecimalError::TooPrecise);
            }
            0
        } else {
            let (keep, dropped) = digits.split_at(digits.len() - cut);
            if dropped.bytes().any(|b| b != b'0') {
                return Err(DecimalError::TooPrecise);
            }
            if keep.len() > 20 {
                return Err(DecimalError::Overflow);
            }
            keep.parse().map_err(|_| DecimalError::Overflow)?
        }
    };
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| DecimalError::Overflow)
}

/// Formats an integer scaled by `10^exponent` as decimal text (`-12345`, 2 → `"-123.45"`).
pub fn format_minor(minor: i64, exponent: u32) -> String {
    let negative = minor < 0;
    let magnitude = minor.unsigned_abs().to_string();
    let exponent = exponent as usize;
    let body = if exponent == 0 {
        magnitude
    } else {
        let padded = format!("{magnitude:0>width$}", width = exponent + 1);
        let (int_part, frac_part) = padded.split_at(padded.len() - exponent);
        format!("{int_part}.{frac_part}")
    };
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Result<i64, MoneyError> {
        Money::parse_major(text, Currency::USD).map(|m| m.minor)
    }

    #[test]
    fn decimals_parse_exactly_into_minor_units() {
        assert_eq!(usd("99.99"), Ok(9999));
        assert_eq!(usd("120.00"), Ok(12000));
        assert_eq!(usd("120"), Ok(12000));
        assert_eq!(usd("0.1"), Ok(10));
        assert_eq!(usd("-5.5"), Ok(-550));
        assert_eq!(usd("1.5e2"), Ok(15000));
        assert_eq!(usd("1E-2"), Ok(1));
        assert_eq!(usd("0.010"), Ok(1));
        assert_eq!(usd(" 7 "), Ok(700));
        assert_eq!(usd("0"), Ok(0));
        assert_eq!(usd(".5"), Ok(50));
    }

    #[test]
    fn too_many_decimals_are_refused_not_rounded() {
        assert!(matches!(usd("0.001"), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(usd("99.999"), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(usd("1e-3"), Err(MoneyError::TooPrecise { .. })));
    }

    #[test]
    fn garbage_and_overflow_are_refused() {
        for bad in [
            "", "-", "abc", "1.2.3", "1e", "0x10", "1,5", ".", "NaN", "Infinity",
        ] {
            assert!(matches!(usd(bad), Err(MoneyError::NotANumber(_))), "{bad}");
        }
        assert!(matches!(usd("1e400"), Err(MoneyError::TooLarge(_))));
        assert!(matches!(usd("1e99999"), Err(MoneyError::NotANumber(_))));
        assert!(matches!(
            usd("92233720368547758.08"),
            Err(MoneyError::TooLarge(_))
        ));
        assert!(matches!(usd("1e30"), Err(MoneyError::TooLarge(_))));
        assert_eq!(usd("92233720368547758.07"), Ok(i64::MAX));
    }

    #[test]
    fn zero_decimal_currencies_take_whole_numbers_only() {
        let jpy = Currency::parse("jpy").expect("valid");
        assert_eq!(Money::parse_major("500", jpy).map(|m| m.minor), Ok(500));
        assert!(Money::parse_major("500.5", jpy).is_err());
        assert_eq!(Money::new(500, jpy).major_text(), "500");
    }

    #[test]
    fn minor_units_format_back_to_major_text() {
        assert_eq!(format_minor(9999, 2), "99.99");
        assert_eq!(format_minor(5, 2), "0.05");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(-12345, 3), "-12.345");
        assert_eq!(format_minor(i64::MIN, 2), "-92233720368547758.08");
    }

    #[test]
    fn currency_codes_are_three_letters() {
        assert!(Currency::parse("EU").is_err());
        assert!(Currency::parse("EU1").is_err());
        assert_eq!(Currency::parse("eur").expect("valid").code(), "EUR");
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_is_identity(minor in proptest::num::i64::ANY, exponent in 0u32..4) {
            let text = format_minor(minor, exponent);
            proptest::prop_assert_eq!(parse_decimal(&text, exponent), Ok(minor));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}", exponent in 0u32..4) {
            let _ = parse_decimal(&text, exponent);
        }
    }
}
